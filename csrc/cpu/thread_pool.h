// A fixed pool of worker threads for data-parallel loops over 64-bit ranges.
//
// Native entry points release the GIL and call parallel_for; the calling thread
// takes part in the work, and a parallel_for issued from inside a worker runs
// inline (no nested fan-out, no deadlock).
//
// Fork safety: the process-wide pool belongs to the process that built it. A
// fork child (torch DataLoader workers, multiprocessing "fork") has none of the
// parent's worker threads, so it abandons the inherited pool without touching
// its locks and lazily builds its own (pthread_atfork handler plus a pid check).
#pragma once

#include <condition_variable>
#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <thread>
#include <vector>

namespace fm {

class ThreadPool {
 public:
  explicit ThreadPool(int num_threads);
  ~ThreadPool();
  ThreadPool(const ThreadPool&) = delete;
  ThreadPool& operator=(const ThreadPool&) = delete;

  // Threads taking part in a loop: the workers plus the caller.
  int num_threads() const { return static_cast<int>(workers_.size()) + 1; }

  // Calls fn(begin, end) over [0, n) in chunks of at least `grain` items. The
  // first exception thrown by any chunk is rethrown here after all chunks end.
  void parallel_for(std::int64_t n, std::int64_t grain,
                    const std::function<void(std::int64_t, std::int64_t)>& fn);

 private:
  void worker_loop();

  std::vector<std::thread> workers_;
  std::deque<std::function<void()>> queue_;
  std::mutex mutex_;
  std::condition_variable cv_;
  bool stopping_ = false;
};

// The process-wide pool. Its size is set by set_num_threads (default:
// default_num_threads()) and the pool is rebuilt lazily when the size changes.
std::shared_ptr<ThreadPool> global_pool();
void set_num_threads(int n);
int get_num_threads();

// CPUs this process may use: the affinity mask, capped by the cgroup CPU quota
// (v2 cpu.max or v1 cfs quota), divided among the local ranks of a torchrun job
// (LOCAL_WORLD_SIZE), overridden by FASTMED_NUM_THREADS. Never below 1.
int default_num_threads();

// Runs fn over [0, n) on `threads` threads (<= 0: the global setting).
void parallel_for(std::int64_t n, std::int64_t grain, int threads,
                  const std::function<void(std::int64_t, std::int64_t)>& fn);

// Times the current process has dropped an inherited pool after a fork (tests).
int fork_resets();

}  // namespace fm

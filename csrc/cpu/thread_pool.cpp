#include "thread_pool.h"

#include <pthread.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <exception>
#include <memory>
#include <new>

namespace fm {
namespace {
thread_local bool t_in_worker = false;

std::mutex g_pool_mutex;
std::shared_ptr<ThreadPool> g_pool;
int g_num_threads = 0;  // 0: not yet chosen
pid_t g_pool_pid = 0;   // the process that built g_pool
std::atomic<int> g_fork_resets{0};

// A pool inherited through fork() owns threads that do not exist in the child:
// destroying it would join them (hang) and its mutexes may be held by a thread
// of the parent. The child parks it here, never destroyed.
alignas(std::shared_ptr<ThreadPool>) unsigned char g_abandoned[sizeof(std::shared_ptr<ThreadPool>)];

void abandon_inherited_pool() {
  if (!g_pool) return;
  ::new (static_cast<void*>(g_abandoned)) std::shared_ptr<ThreadPool>(std::move(g_pool));
  g_fork_resets.fetch_add(1);
}

// fork() from any thread: hold the pool lock across it, so the child never
// inherits it locked by a thread that does not exist there.
void atfork_prepare() { g_pool_mutex.lock(); }
void atfork_parent() { g_pool_mutex.unlock(); }
void atfork_child() {
  abandon_inherited_pool();
  g_pool_pid = 0;
  t_in_worker = false;
  g_pool_mutex.unlock();
}

struct AtForkRegistration {
  AtForkRegistration() { pthread_atfork(atfork_prepare, atfork_parent, atfork_child); }
};
const AtForkRegistration g_atfork_registration;

// One loop's shared state. Helpers hold it by shared_ptr, so a helper that
// finishes (or starts) after the caller returned touches only live memory.
struct LoopState {
  using Fn = std::function<void(std::int64_t, std::int64_t)>;
  LoopState(std::int64_t n_, std::int64_t chunks_, std::int64_t step_, const Fn* fn_)
      : n(n_), chunks(chunks_), step(step_), fn(fn_) {}

  const std::int64_t n, chunks, step;
  const Fn* fn;  // valid while done < chunks: the caller waits for that
  std::atomic<std::int64_t> next{0};
  std::atomic<std::int64_t> done{0};
  std::mutex mutex;
  std::condition_variable cv;
  std::exception_ptr error;  // guarded by mutex

  // Claims and runs chunks until none is left.
  void drain() {
    for (;;) {
      const std::int64_t c = next.fetch_add(1);
      if (c >= chunks) return;
      const std::int64_t b = c * step;
      const std::int64_t e = std::min(n, b + step);
      try {
        if (b < e) (*fn)(b, e);
      } catch (...) {
        std::lock_guard<std::mutex> lock(mutex);
        if (!error) error = std::current_exception();
      }
      if (done.fetch_add(1) + 1 == chunks) {
        std::lock_guard<std::mutex> lock(mutex);
        cv.notify_all();
      }
    }
  }
};
}  // namespace

ThreadPool::ThreadPool(int num_threads) {
  const int extra = std::max(0, num_threads - 1);
  workers_.reserve(static_cast<size_t>(extra));
  for (int i = 0; i < extra; ++i) workers_.emplace_back([this] { worker_loop(); });
}

ThreadPool::~ThreadPool() {
  {
    std::lock_guard<std::mutex> lock(mutex_);
    stopping_ = true;
  }
  cv_.notify_all();
  for (auto& w : workers_) w.join();
}

void ThreadPool::worker_loop() {
  t_in_worker = true;
  for (;;) {
    std::function<void()> task;
    {
      std::unique_lock<std::mutex> lock(mutex_);
      cv_.wait(lock, [this] { return stopping_ || !queue_.empty(); });
      if (stopping_ && queue_.empty()) return;
      task = std::move(queue_.front());
      queue_.pop_front();
    }
    task();
  }
}

void ThreadPool::parallel_for(std::int64_t n, std::int64_t grain,
                              const std::function<void(std::int64_t, std::int64_t)>& fn) {
  if (n <= 0) return;
  grain = std::max<std::int64_t>(1, grain);
  const std::int64_t max_chunks = (n + grain - 1) / grain;
  // A few chunks per thread balance uneven work without much queue traffic.
  const std::int64_t want =
      std::min<std::int64_t>(max_chunks, static_cast<std::int64_t>(num_threads()) * 4);
  if (want <= 1 || workers_.empty() || t_in_worker) {
    fn(0, n);
    return;
  }
  const std::int64_t step = (n + want - 1) / want;
  const std::int64_t chunks = (n + step - 1) / step;
  auto state = std::make_shared<LoopState>(n, chunks, step, &fn);
  const auto helpers = std::min<std::int64_t>(chunks - 1, static_cast<std::int64_t>(workers_.size()));
  {
    std::lock_guard<std::mutex> lock(mutex_);
    for (std::int64_t i = 0; i < helpers; ++i) queue_.emplace_back([state] { state->drain(); });
  }
  cv_.notify_all();
  const bool was_worker = t_in_worker;
  t_in_worker = true;  // nested loops inside fn run inline
  state->drain();
  t_in_worker = was_worker;
  // Wait for chunks, not helpers: a helper still queued behind another loop
  // finds nothing left to claim and never dereferences fn.
  std::unique_lock<std::mutex> lock(state->mutex);
  state->cv.wait(lock, [&] { return state->done.load() == chunks; });
  if (state->error) std::rethrow_exception(state->error);
}

std::shared_ptr<ThreadPool> global_pool() {
  std::lock_guard<std::mutex> lock(g_pool_mutex);
  const pid_t pid = ::getpid();
  if (g_pool && g_pool_pid != pid) abandon_inherited_pool();  // forked without the handler (raw clone)
  if (g_num_threads <= 0) g_num_threads = default_num_threads();
  // A resize builds a new pool; loops still running hold the old one alive.
  if (!g_pool || g_pool->num_threads() != g_num_threads) {
    g_pool = std::make_shared<ThreadPool>(g_num_threads);
    g_pool_pid = pid;
  }
  return g_pool;
}

void set_num_threads(int n) {
  std::lock_guard<std::mutex> lock(g_pool_mutex);
  g_num_threads = n <= 0 ? default_num_threads() : n;
}

int get_num_threads() {
  std::lock_guard<std::mutex> lock(g_pool_mutex);
  return g_num_threads <= 0 ? default_num_threads() : g_num_threads;
}

int fork_resets() { return g_fork_resets.load(); }

void parallel_for(std::int64_t n, std::int64_t grain, int threads,
                  const std::function<void(std::int64_t, std::int64_t)>& fn) {
  if (threads == 1 || n <= 1) {
    if (n > 0) fn(0, n);
    return;
  }
  std::shared_ptr<ThreadPool> holder = global_pool();
  ThreadPool& pool = *holder;
  if (threads <= 0 || threads >= pool.num_threads()) {
    pool.parallel_for(n, grain, fn);
    return;
  }
  // Fewer threads than the pool: cap the chunk count so at most `threads` run.
  const std::int64_t step = std::max<std::int64_t>(grain, (n + threads - 1) / threads);
  pool.parallel_for((n + step - 1) / step, 1, [&](std::int64_t cb, std::int64_t ce) {
    for (std::int64_t c = cb; c < ce; ++c) fn(c * step, std::min(n, (c + 1) * step));
  });
}

}  // namespace fm

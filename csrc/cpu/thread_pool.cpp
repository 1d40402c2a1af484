#include "thread_pool.h"

#include <algorithm>
#include <atomic>
#include <exception>
#include <memory>

namespace fm {
namespace {
thread_local bool t_in_worker = false;

int default_threads() {
  const unsigned hc = std::thread::hardware_concurrency();
  return hc == 0 ? 1 : static_cast<int>(hc);
}

std::mutex g_pool_mutex;
std::shared_ptr<ThreadPool> g_pool;
int g_num_threads = 0;  // 0: not yet chosen
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
  const std::int64_t chunks =
      std::min<std::int64_t>(max_chunks, static_cast<std::int64_t>(num_threads()) * 4);
  if (chunks <= 1 || workers_.empty() || t_in_worker) {
    fn(0, n);
    return;
  }
  const std::int64_t step = (n + chunks - 1) / chunks;
  std::atomic<std::int64_t> next{0};
  std::atomic<int> remaining{0};
  std::mutex done_mutex;
  std::condition_variable done_cv;
  std::exception_ptr error;
  std::mutex error_mutex;

  auto drain = [&] {
    for (;;) {
      const std::int64_t c = next.fetch_add(1);
      if (c >= chunks) break;
      const std::int64_t b = c * step;
      const std::int64_t e = std::min(n, b + step);
      if (b >= e) continue;
      try {
        fn(b, e);
      } catch (...) {
        std::lock_guard<std::mutex> lock(error_mutex);
        if (!error) error = std::current_exception();
      }
    }
  };
  const int helpers = static_cast<int>(std::min<std::int64_t>(chunks - 1, workers_.size()));
  remaining.store(helpers);
  {
    std::lock_guard<std::mutex> lock(mutex_);
    for (int i = 0; i < helpers; ++i) {
      queue_.emplace_back([&] {
        drain();
        if (remaining.fetch_sub(1) == 1) {
          std::lock_guard<std::mutex> dl(done_mutex);
          done_cv.notify_one();
        }
      });
    }
  }
  cv_.notify_all();
  const bool was_worker = t_in_worker;
  t_in_worker = true;  // nested loops inside fn run inline
  drain();
  t_in_worker = was_worker;
  {
    std::unique_lock<std::mutex> lock(done_mutex);
    done_cv.wait(lock, [&] { return remaining.load() == 0; });
  }
  if (error) std::rethrow_exception(error);
}

std::shared_ptr<ThreadPool> global_pool() {
  std::lock_guard<std::mutex> lock(g_pool_mutex);
  if (g_num_threads <= 0) g_num_threads = default_threads();
  // A resize builds a new pool; loops still running hold the old one alive.
  if (!g_pool || g_pool->num_threads() != g_num_threads) {
    g_pool = std::make_shared<ThreadPool>(g_num_threads);
  }
  return g_pool;
}

void set_num_threads(int n) {
  std::lock_guard<std::mutex> lock(g_pool_mutex);
  g_num_threads = n <= 0 ? default_threads() : n;
}

int get_num_threads() {
  std::lock_guard<std::mutex> lock(g_pool_mutex);
  return g_num_threads <= 0 ? default_threads() : g_num_threads;
}

void parallel_for(std::int64_t n, std::int64_t grain, int threads,
                  const std::function<void(std::int64_t, std::int64_t)>& fn) {
  std::shared_ptr<ThreadPool> holder = global_pool();
  ThreadPool& pool = *holder;
  if (threads <= 0 || threads >= pool.num_threads()) {
    pool.parallel_for(n, grain, fn);
    return;
  }
  if (threads == 1) {
    fn(0, n);
    return;
  }
  // Fewer threads than the pool: cap the chunk count so at most `threads` run.
  const std::int64_t step = std::max<std::int64_t>(grain, (n + threads - 1) / threads);
  pool.parallel_for((n + step - 1) / step, 1, [&](std::int64_t cb, std::int64_t ce) {
    for (std::int64_t c = cb; c < ce; ++c) fn(c * step, std::min(n, (c + 1) * step));
  });
}

}  // namespace fm

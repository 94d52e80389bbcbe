// A persistent thread pool for data-parallel loops. The calling thread takes
// part as worker 0, so a pool of size 1 runs everything inline. Workers spin
// briefly between jobs (decode issues ~100 short jobs per token, so waking a
// sleeping thread each time would cost more than the work), then sleep.
//
// A pool may be shared by several sessions in different threads: one job runs
// at a time, and a caller that finds the pool busy runs its loop on its own
// thread instead of waiting.
#pragma once

#include <algorithm>
#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <mutex>
#include <thread>
#include <vector>

#if defined(__x86_64__) || defined(_M_X64) || defined(__i386__)
#include <immintrin.h>
#define STRATA_CPU_RELAX() _mm_pause()
#else
#define STRATA_CPU_RELAX() std::this_thread::yield()
#endif

#include "strata/core/error.hpp"

namespace strata {

class ThreadPool {
 public:
  // n_threads counts the caller; 0 means one per hardware thread.
  explicit ThreadPool(int n_threads = 0) {
    if (n_threads <= 0) n_threads = int(std::max(1u, std::thread::hardware_concurrency()));
    check(n_threads <= 1024, "thread count ", n_threads, " is out of range [1, 1024]");
    size_ = n_threads;
    for (int i = 1; i < size_; ++i) workers_.emplace_back([this, i] { worker_loop(i); });
  }

  ThreadPool(const ThreadPool&) = delete;
  ThreadPool& operator=(const ThreadPool&) = delete;

  ~ThreadPool() {
    {
      std::lock_guard<std::mutex> lk(sleep_mu_);
      stop_.store(true, std::memory_order_release);
      generation_.fetch_add(1, std::memory_order_acq_rel);
    }
    sleep_cv_.notify_all();
    for (auto& t : workers_) t.join();
  }

  int size() const { return size_; }

  // Calls fn(begin, end) on disjoint contiguous ranges covering [0, n), one
  // range per thread (ranges are multiples of `grain` except the last), and
  // returns when all are done. fn must not throw.
  template <class F>
  void parallel_for(std::int64_t n, F&& fn, std::int64_t grain = 1) {
    if (n <= 0) return;
    grain = std::max<std::int64_t>(grain, 1);
    const std::int64_t chunks = (n + grain - 1) / grain;
    const int parts = int(std::min<std::int64_t>(size_, chunks));
    std::unique_lock<std::mutex> job_lock(job_mu_, std::try_to_lock);
    if (parts <= 1 || !job_lock.owns_lock()) {
      fn(std::int64_t(0), n);
      return;
    }
    Job job{&fn, &invoke<std::remove_reference_t<F>>, n, grain, chunks, parts};
    job_.store(&job, std::memory_order_release);
    // Every worker acknowledges every job (idle ones at once), so none can be
    // left holding a pointer to this stack frame's job after we return.
    pending_.store(size_ - 1, std::memory_order_release);
    {
      std::lock_guard<std::mutex> lk(sleep_mu_);
      generation_.fetch_add(1, std::memory_order_acq_rel);
    }
    sleep_cv_.notify_all();
    run_part(job, 0);
    while (pending_.load(std::memory_order_acquire) != 0) STRATA_CPU_RELAX();
    job_.store(nullptr, std::memory_order_release);
  }

 private:
  struct Job {
    void* fn;
    void (*call)(void*, std::int64_t, std::int64_t);
    std::int64_t n, grain, chunks;
    int parts;
  };

  template <class F>
  static void invoke(void* f, std::int64_t b, std::int64_t e) {
    (*static_cast<F*>(f))(b, e);
  }

  static void run_part(const Job& job, int part) {
    if (part >= job.parts) return;
    const std::int64_t c0 = job.chunks * part / job.parts;
    const std::int64_t c1 = job.chunks * (part + 1) / job.parts;
    const std::int64_t b = c0 * job.grain;
    const std::int64_t e = std::min(job.n, c1 * job.grain);
    if (b < e) job.call(job.fn, b, e);
  }

  void worker_loop(int index) {
    std::uint64_t seen = 0;
    for (;;) {
      // Spin for a while, then sleep until the generation changes.
      std::uint64_t g = generation_.load(std::memory_order_acquire);
      for (int spin = 0; g == seen && spin < kSpinIterations; ++spin) {
        STRATA_CPU_RELAX();
        g = generation_.load(std::memory_order_acquire);
      }
      if (g == seen) {
        std::unique_lock<std::mutex> lk(sleep_mu_);
        sleep_cv_.wait(lk, [&] { return generation_.load(std::memory_order_acquire) != seen; });
        g = generation_.load(std::memory_order_acquire);
      }
      seen = g;
      if (stop_.load(std::memory_order_acquire)) return;
      if (const Job* job = job_.load(std::memory_order_acquire)) {
        run_part(*job, index);
        pending_.fetch_sub(1, std::memory_order_acq_rel);
      }
    }
  }

  static constexpr int kSpinIterations = 1 << 14;

  int size_ = 1;
  std::vector<std::thread> workers_;
  std::mutex job_mu_;                 // one job at a time
  std::mutex sleep_mu_;
  std::condition_variable sleep_cv_;
  std::atomic<std::uint64_t> generation_{0};
  std::atomic<int> pending_{0};
  std::atomic<bool> stop_{false};
  std::atomic<const Job*> job_{nullptr};
};

}  // namespace strata

// A persistent thread pool for data-parallel loops. The calling thread takes
// part, so a pool of size 1 runs everything inline. Workers spin briefly
// between jobs (decode issues ~100 short jobs per token, so waking a
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
#include <exception>
#include <memory>
#include <mutex>
#include <thread>
#include <utility>
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
    for (int i = 1; i < size_; ++i) workers_.emplace_back([this] { worker_loop(); });
  }

  ThreadPool(const ThreadPool&) = delete;
  ThreadPool& operator=(const ThreadPool&) = delete;

  ~ThreadPool() {
    {
      std::lock_guard<std::mutex> lk(sleep_mu_);
      stop_ = true;
      job_.reset();
      generation_.fetch_add(1, std::memory_order_acq_rel);
    }
    sleep_cv_.notify_all();
    for (auto& t : workers_) t.join();
  }

  int size() const { return size_; }

  // Calls fn(begin, end) on disjoint contiguous ranges covering [0, n), at
  // most one range per thread (ranges are multiples of `grain` except the
  // last), and returns when all are done. fn must not throw.
  //
  // Ranges are claimed, not assigned: a worker the OS has not scheduled yet
  // (other processes on the machine) leaves its range to the threads that
  // are running, so an oversubscribed machine degrades to fewer threads
  // instead of waiting on a descheduled one.
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
    // The job is shared with workers by reference count: one that wakes late
    // may still look at it after we return, but finds no range left to run.
    auto job = std::make_shared<Job>();
    job->fn = &fn;
    job->call = &invoke<std::remove_reference_t<F>>;
    job->n = n;
    job->grain = grain;
    job->chunks = chunks;
    job->parts = parts;
    {
      std::lock_guard<std::mutex> lk(sleep_mu_);
      job_ = job;
      generation_.fetch_add(1, std::memory_order_acq_rel);
    }
    sleep_cv_.notify_all();
    job->work();
    for (int spin = 0; job->done.load(std::memory_order_acquire) != parts; ++spin) {
      if (spin < kSpinIterations) STRATA_CPU_RELAX();
      else std::this_thread::yield();
    }
  }

  // Calls fn(i) once for each i in [0, n), for jobs of unequal size: the
  // pool's threads claim one i at a time, in increasing order (list the
  // largest first). fn may throw: no i is claimed after that, the ones
  // running finish, and the exception of the smallest i that threw is
  // rethrown here (the one a loop running them in order would throw, if
  // each fn(i) fails or not independently of the others).
  template <class F>
  void for_each_task(std::int64_t n, F&& fn) {
    if (n <= 0) return;
    std::vector<std::exception_ptr> errors(static_cast<std::size_t>(n));
    std::atomic<std::int64_t> next{0};
    std::atomic<bool> failed{false};
    parallel_for(size_, [&](std::int64_t, std::int64_t) {
      for (std::int64_t i; !failed.load(std::memory_order_relaxed) && (i = next.fetch_add(1)) < n;) {
        try {
          fn(i);
        } catch (...) {
          errors[static_cast<std::size_t>(i)] = std::current_exception();
          failed.store(true, std::memory_order_relaxed);
        }
      }
    });
    for (auto& e : errors)
      if (e) std::rethrow_exception(std::move(e));
  }

 private:
  struct Job {
    void* fn = nullptr;
    void (*call)(void*, std::int64_t, std::int64_t) = nullptr;
    std::int64_t n = 0, grain = 1, chunks = 0;
    int parts = 0;
    std::atomic<int> next{0}, done{0};

    // Claims and runs ranges until none are left.
    void work() {
      for (int part; (part = next.fetch_add(1, std::memory_order_relaxed)) < parts;) {
        const std::int64_t c0 = chunks * part / parts, c1 = chunks * (part + 1) / parts;
        const std::int64_t b = c0 * grain, e = std::min(n, c1 * grain);
        if (b < e) call(fn, b, e);
        done.fetch_add(1, std::memory_order_acq_rel);
      }
    }
  };

  template <class F>
  static void invoke(void* f, std::int64_t b, std::int64_t e) {
    (*static_cast<F*>(f))(b, e);
  }

  void worker_loop() {
    std::uint64_t seen = 0;
    for (;;) {
      // Spin for a while, then sleep until the generation changes.
      std::uint64_t g = generation_.load(std::memory_order_acquire);
      for (int spin = 0; g == seen && spin < kSpinIterations; ++spin) {
        STRATA_CPU_RELAX();
        g = generation_.load(std::memory_order_acquire);
      }
      std::shared_ptr<Job> job;
      {
        std::unique_lock<std::mutex> lk(sleep_mu_);
        sleep_cv_.wait(lk, [&] { return generation_.load(std::memory_order_acquire) != seen; });
        seen = generation_.load(std::memory_order_acquire);
        if (stop_) return;
        job = job_;
      }
      if (job) job->work();
    }
  }

  static constexpr int kSpinIterations = 1 << 14;

  int size_ = 1;
  std::vector<std::thread> workers_;
  std::mutex job_mu_;                 // one job at a time
  std::mutex sleep_mu_;
  std::condition_variable sleep_cv_;
  std::atomic<std::uint64_t> generation_{0};
  bool stop_ = false;             // guarded by sleep_mu_
  std::shared_ptr<Job> job_;      // guarded by sleep_mu_: the latest job
};

}  // namespace strata

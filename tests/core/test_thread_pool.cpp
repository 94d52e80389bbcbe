#include <atomic>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include <catch2/catch.hpp>

#include "strata/core/thread_pool.hpp"

TEST_CASE("parallel_for visits every index exactly once", "[core][threads]") {
  for (int threads : {1, 2, 3, 8}) {
    strata::ThreadPool pool(threads);
    REQUIRE(pool.size() == threads);
    for (std::int64_t n : {0, 1, 5, 17, 1000, 4099}) {
      for (std::int64_t grain : {1, 4, 64}) {
        std::vector<std::atomic<int>> hits(static_cast<std::size_t>(n));
        pool.parallel_for(
            n,
            [&](std::int64_t b, std::int64_t e) {
              for (std::int64_t i = b; i < e; ++i) hits[std::size_t(i)]++;
            },
            grain);
        for (auto& h : hits) REQUIRE(h.load() == 1);
      }
    }
  }
}

TEST_CASE("parallel_for splits into grain-aligned ranges", "[core][threads]") {
  strata::ThreadPool pool(4);
  std::atomic<int> misaligned{0};
  pool.parallel_for(
      1000,
      [&](std::int64_t b, std::int64_t) {
        if (b % 16 != 0) misaligned++;
      },
      16);
  REQUIRE(misaligned.load() == 0);
}

TEST_CASE("a pool shared by several submitting threads stays correct", "[core][threads]") {
  strata::ThreadPool pool(2);
  std::atomic<std::int64_t> total{0};
  std::vector<std::thread> users;
  for (int u = 0; u < 4; ++u)
    users.emplace_back([&] {
      for (int rep = 0; rep < 200; ++rep)
        pool.parallel_for(100, [&](std::int64_t b, std::int64_t e) { total += e - b; });
    });
  for (auto& t : users) t.join();
  REQUIRE(total.load() == 4 * 200 * 100);
}

TEST_CASE("for_each_task runs each task once and rethrows the failure of the smallest index", "[core][threads]") {
  for (int threads : {1, 2, 4}) {
    strata::ThreadPool pool(threads);
    std::vector<std::atomic<int>> hits(50);
    pool.for_each_task(50, [&](std::int64_t i) { hits[std::size_t(i)]++; });
    for (auto& h : hits) REQUIRE(h.load() == 1);
    // Tasks are claimed in increasing order, so 7 has started whenever 30 has:
    // whichever throws first in time, 7's error is the one rethrown.
    REQUIRE_THROWS_WITH(pool.for_each_task(50,
                                           [&](std::int64_t i) {
                                             if (i == 7 || i == 30) throw std::runtime_error("task " + std::to_string(i));
                                           }),
                        "task 7");
    // Called from inside a job of the same pool (busy): runs inline, all of it.
    std::atomic<int> inner{0};
    pool.parallel_for(2, [&](std::int64_t b, std::int64_t e) {
      for (std::int64_t j = b; j < e; ++j) pool.for_each_task(10, [&](std::int64_t) { inner++; });
    });
    REQUIRE(inner.load() == 20);
  }
}

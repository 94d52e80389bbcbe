#include <atomic>
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

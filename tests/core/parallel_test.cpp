#include <catch2/catch.hpp>
#include <eigenrec/core/parallel.hpp>
#include <eigenrec/core/random.hpp>

#include <atomic>
#include <stdexcept>
#include <vector>

using namespace eigenrec;

TEST_CASE("parallelFor: every index exactly once, any thread count", "[core][parallel]") {
  for (int threads : {1, 2, 3, 8}) {
    for (Index chunk : {1, 7, 1000}) {
      std::vector<std::atomic<int>> hits(257);
      parallelFor(0, 257, chunk, threads, [&](Index b, Index e) {
        REQUIRE(b < e);
        REQUIRE(e - b <= chunk);
        for (Index i = b; i < e; ++i) hits[static_cast<std::size_t>(i)]++;
      });
      for (auto& h : hits) REQUIRE(h.load() == 1);
    }
  }
  int calls = 0;
  parallelFor(5, 5, 4, 2, [&](Index, Index) { ++calls; });
  CHECK(calls == 0);
}

TEST_CASE("parallelFor: per-chunk seeding gives thread-independent results", "[core][parallel]") {
  auto run = [](int threads) {
    std::vector<double> out(1000);
    const Index chunk = 64;
    parallelFor(0, 1000, chunk, threads, [&](Index b, Index e) {
      Rng rng = Rng::forShard(99, static_cast<std::uint64_t>(b / chunk));
      for (Index i = b; i < e; ++i) out[static_cast<std::size_t>(i)] = rng.uniform<double>();
    });
    return out;
  };
  const auto one = run(1);
  CHECK(run(2) == one);
  CHECK(run(5) == one);
}

TEST_CASE("parallelFor: exceptions reach the caller, lowest chunk first", "[core][parallel]") {
  for (int threads : {1, 2, 4}) {
    try {
      parallelFor(0, 100, 10, threads, [&](Index b, Index) {
        if (b == 30 || b == 70) throw std::runtime_error("chunk " + std::to_string(b));
      });
      FAIL("no exception");
    } catch (const std::runtime_error& e) {
      // With one thread chunk 30 fails first and stops the loop; with several threads
      // chunk 70 may fail too, but the lowest failing chunk is reported.
      CHECK(std::string(e.what()) == "chunk 30");
    }
  }
}

TEST_CASE("parallelFor / resolveThreads: bad arguments", "[core][parallel]") {
  CHECK_THROWS_AS(parallelFor(0, 10, 0, 1, [](Index, Index) {}), std::invalid_argument);
  CHECK_THROWS_AS(parallelFor(0, 10, 1, -1, [](Index, Index) {}), std::invalid_argument);
  CHECK(resolveThreads(0) >= 1);
  CHECK(resolveThreads(3) == 3);
  CHECK(chunkCount(0, 10, 3) == 4);
  CHECK(chunkCount(10, 0, 3) == 0);
}

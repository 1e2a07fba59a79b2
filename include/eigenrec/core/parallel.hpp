// eigenrec/core/parallel.hpp: opt-in multi-threading with deterministic work split.
//
// parallelFor cuts [begin, end) into chunks of a fixed size, chosen by the caller and
// independent of the thread count, and hands them to worker threads. Code that seeds an
// Rng per chunk (Rng::forShard(seed, chunkIndex)) and writes only its own outputs gets
// the same result with 1 thread or 64. threads == 1 runs everything inline on the
// calling thread, in order.
#ifndef EIGENREC_CORE_PARALLEL_HPP
#define EIGENREC_CORE_PARALLEL_HPP

#include <eigenrec/core/checks.hpp>
#include <eigenrec/core/types.hpp>

#include <algorithm>
#include <atomic>
#include <exception>
#include <mutex>
#include <thread>
#include <vector>

namespace eigenrec {

/// Number of threads to use for an option value: 0 means the hardware concurrency
/// (at least 1); negative values are rejected.
inline int resolveThreads(int threads, std::string_view where = "resolveThreads") {
  checkNonNegative(where, "threads", threads);
  if (threads == 0) {
    const unsigned hw = std::thread::hardware_concurrency();
    return hw == 0 ? 1 : static_cast<int>(hw);
  }
  return threads;
}

/// Number of chunks parallelFor makes of [begin, end) with the given chunk size.
inline Index chunkCount(Index begin, Index end, Index chunk) {
  return end <= begin ? 0 : (end - begin + chunk - 1) / chunk;
}

/// Calls body(chunkBegin, chunkEnd) for the chunks [begin + c*chunk, min(end, begin +
/// (c+1)*chunk)), c = 0, 1, ..., on up to `threads` threads (0 = hardware concurrency).
/// The chunk index of a call is (chunkBegin - begin) / chunk.
///
/// If a call throws, no new chunks start, every thread is joined and the exception of
/// the lowest-numbered failing chunk is rethrown to the caller.
template <typename Body>
void parallelFor(Index begin, Index end, Index chunk, int threads, Body&& body) {
  checkPositive("parallelFor", "chunk", chunk);
  const Index chunks = chunkCount(begin, end, chunk);
  if (chunks == 0) return;
  const int workers = static_cast<int>(std::min<Index>(resolveThreads(threads, "parallelFor"), chunks));
  auto run = [&](Index c) { body(begin + c * chunk, std::min(end, begin + (c + 1) * chunk)); };
  if (workers <= 1) {
    for (Index c = 0; c < chunks; ++c) run(c);
    return;
  }

  std::atomic<Index> next{0};
  std::atomic<bool> failed{false};
  std::mutex errorMutex;
  std::exception_ptr error;
  Index errorChunk = chunks;
  auto work = [&]() {
    while (!failed.load(std::memory_order_relaxed)) {
      const Index c = next.fetch_add(1, std::memory_order_relaxed);
      if (c >= chunks) return;
      try {
        run(c);
      } catch (...) {
        std::lock_guard<std::mutex> lock(errorMutex);
        if (c < errorChunk) {
          errorChunk = c;
          error = std::current_exception();
        }
        failed.store(true, std::memory_order_relaxed);
      }
    }
  };
  std::vector<std::thread> pool;
  pool.reserve(static_cast<std::size_t>(workers - 1));
  try {
    for (int t = 1; t < workers; ++t) pool.emplace_back(work);
  } catch (...) {
    // Could not start a thread: let the ones running finish, then report.
    failed.store(true);
    for (auto& thread : pool) thread.join();
    throw;
  }
  work();
  for (auto& thread : pool) thread.join();
  if (error) std::rethrow_exception(error);
}

}  // namespace eigenrec

#endif  // EIGENREC_CORE_PARALLEL_HPP

// Peak extra heap memory of scaled dot-product attention: every malloc / free of the
// process is counted (glibc's allocator is wrapped below), and the peak above the bytes
// live before the call is reported as the "extra_MiB" counter. The inputs and the
// output are allocated before the measurement starts.
//
//   build/release/bench/bench_attention_memory
// Targets of the issues: tiled forward at L = 16384, H = 8, d = 64 below 64 MiB (the
// (Lq, Lk) scores alone would take 8 GiB); ProbSparse forward at L = 16384 below 32 MiB.
#include <benchmark/benchmark.h>
#include <eigenrec/attention/prob_sparse.hpp>
#include <eigenrec/attention/scaled_dot_product.hpp>

#include <malloc.h>

#include <atomic>
#include <cstdlib>

extern "C" {
void* __libc_malloc(std::size_t);
void* __libc_calloc(std::size_t, std::size_t);
void* __libc_realloc(void*, std::size_t);
void* __libc_memalign(std::size_t, std::size_t);
void __libc_free(void*);
}

namespace {
std::atomic<long long> g_live{0};
std::atomic<long long> g_peak{0};

void track(void* p) {
  if (p == nullptr) return;
  const long long now = g_live.fetch_add(static_cast<long long>(malloc_usable_size(p))) +
                        static_cast<long long>(malloc_usable_size(p));
  long long peak = g_peak.load();
  while (now > peak && !g_peak.compare_exchange_weak(peak, now)) {
  }
}
void untrack(void* p) {
  if (p != nullptr) g_live.fetch_sub(static_cast<long long>(malloc_usable_size(p)));
}
}  // namespace

extern "C" {
void* malloc(std::size_t n) {
  void* p = __libc_malloc(n);
  track(p);
  return p;
}
void* calloc(std::size_t a, std::size_t b) {
  void* p = __libc_calloc(a, b);
  track(p);
  return p;
}
void* realloc(void* old, std::size_t n) {
  untrack(old);
  void* p = __libc_realloc(old, n);
  track(p != nullptr ? p : (n == 0 ? nullptr : old));
  return p;
}
void free(void* p) {
  untrack(p);
  __libc_free(p);
}
int posix_memalign(void** out, std::size_t align, std::size_t n) {
  void* p = __libc_memalign(align, n);
  if (p == nullptr) return 12;  // ENOMEM
  track(p);
  *out = p;
  return 0;
}
void* aligned_alloc(std::size_t align, std::size_t n) {
  void* p = __libc_memalign(align, n);
  track(p);
  return p;
}
void* memalign(std::size_t align, std::size_t n) {
  void* p = __libc_memalign(align, n);
  track(p);
  return p;
}
}

using namespace eigenrec;
using namespace eigenrec::attention;

namespace {

// args: L, backend (0 naive, 1 tiled), threads
void BM_SdpaForwardMemory(benchmark::State& state) {
  const Index L = state.range(0), d = 64, n = 8;
  Tensor3<float> q(d, L, n), k(d, L, n), v(d, L, n), out(d, L, n);
  q.setRandom();
  k.setRandom();
  v.setRandom();
  SdpaOptions<float> o;
  o.backend = state.range(1) == 0 ? SdpaBackend::naive : SdpaBackend::tiled;
  o.threads = static_cast<int>(state.range(2));
  o.checkFinite = false;
  double extra = 0;
  for (auto _ : state) {
    SdpaSaved<float> saved;  // the (L, n) log-sum-exp counts as extra memory
    const long long base = g_live.load();
    g_peak.store(base);
    scaledDotProductAttentionForward(q, k, v, o, out, saved);
    extra = static_cast<double>(g_peak.load() - base);
    benchmark::DoNotOptimize(out.data());
  }
  state.counters["extra_MiB"] = extra / (1024.0 * 1024.0);
  state.counters["scores_MiB"] = static_cast<double>(L) * L * n * 4.0 / (1024.0 * 1024.0);
}

// args: L, threads. ProbSparse (factor 5) with what its backward keeps (sample index,
// active queries, log-sum-exp) counted as extra memory.
void BM_ProbSparseForwardMemory(benchmark::State& state) {
  const Index L = state.range(0), d = 64, n = 8;
  Tensor3<float> q(d, L, n), k(d, L, n), v(d, L, n), out(d, L, n);
  q.setRandom();
  k.setRandom();
  v.setRandom();
  ProbSparseOptions<float> o;
  o.threads = static_cast<int>(state.range(1));
  o.checkFinite = false;
  double extra = 0;
  for (auto _ : state) {
    ProbSparseSaved<float> saved;
    const long long base = g_live.load();
    g_peak.store(base);
    probSparseAttentionForward(q, k, v, o, out, saved);
    extra = static_cast<double>(g_peak.load() - base);
    benchmark::DoNotOptimize(out.data());
  }
  state.counters["extra_MiB"] = extra / (1024.0 * 1024.0);
  state.counters["scores_MiB"] = static_cast<double>(L) * L * n * 4.0 / (1024.0 * 1024.0);
}

}  // namespace

BENCHMARK(BM_ProbSparseForwardMemory)->Args({4096, 1})->Args({16384, 1})->Args({16384, 2})->Iterations(1)->Unit(benchmark::kMillisecond)->UseRealTime();
BENCHMARK(BM_SdpaForwardMemory)
    ->Args({2048, 0, 1})
    ->Args({2048, 1, 1})
    ->Args({16384, 1, 2})
    ->Iterations(1)
    ->Unit(benchmark::kMillisecond)
    ->UseRealTime();

BENCHMARK_MAIN();

// Benchmarks of Informer's ProbSparse attention against full attention (our tiled
// FlashAttention-2 kernel) on the shape: batch 1, H = 8 heads, d = 64, factor 5,
// self-attention, float, one thread unless the row says otherwise. Counters: sampled
// and active score work in GFLOP/s of the flops ProbSparse actually needs,
// 2 L U d + 4 u L d per head.
//
//   cmake -S . -B build/release -DCMAKE_BUILD_TYPE=Release -DEIGENREC_NATIVE=ON -DEIGENREC_BUILD_BENCHMARKS=ON
//   cmake --build build/release --target bench_informer
//   build/release/bench/bench_informer
//   /usr/bin/python3 bench/compare/informer.py     (runs this and the PyTorch reference)
#include <benchmark/benchmark.h>
#include <support/random_data.hpp>
#include <eigenrec/attention/informer.hpp>
#include <eigenrec/attention/prob_sparse.hpp>
#include <eigenrec/attention/scaled_dot_product.hpp>

using namespace eigenrec;
using namespace eigenrec::attention;

namespace {

using eigenrec::bench::randomTensor;

constexpr Index kHeads = 8;
constexpr Index kDim = 64;
constexpr Index kFactor = 5;

double probSparseFlops(Index L) {
  const double u = static_cast<double>(probSparseCount(kFactor, L));
  return (2.0 * L * u * kDim + 4.0 * u * L * kDim) * kHeads;
}

// args: L, threads
void BM_ProbSparse(benchmark::State& state) {
  const Index L = state.range(0);
  const auto q = randomTensor(kDim, L, kHeads, 1), k = randomTensor(kDim, L, kHeads, 2), v = randomTensor(kDim, L, kHeads, 3);
  ProbSparseOptions<float> o;
  o.factor = kFactor;
  o.threads = static_cast<int>(state.range(1));
  o.checkFinite = false;
  Tensor3<float> out;
  ProbSparseSaved<float> saved;
  std::uint64_t seed = 0;
  for (auto _ : state) {
    o.seed = ++seed;  // a new key sample per call, as the reference draws one per forward
    probSparseAttentionForward(q, k, v, o, out, saved);
    benchmark::DoNotOptimize(out.data());
  }
  state.counters["GFLOP/s"] = benchmark::Counter(probSparseFlops(L) * 1e-9, benchmark::Counter::kIsIterationInvariantRate);
  state.counters["u"] = static_cast<double>(probSparseCount(kFactor, L));
}

void BM_ProbSparseBackward(benchmark::State& state) {
  const Index L = state.range(0);
  const auto q = randomTensor(kDim, L, kHeads, 1), k = randomTensor(kDim, L, kHeads, 2), v = randomTensor(kDim, L, kHeads, 3);
  const auto g = randomTensor(kDim, L, kHeads, 4);
  ProbSparseOptions<float> o;
  o.factor = kFactor;
  o.threads = static_cast<int>(state.range(1));
  o.checkFinite = false;
  Tensor3<float> out, dq, dk, dv;
  ProbSparseSaved<float> saved;
  probSparseAttentionForward(q, k, v, o, out, saved);
  for (auto _ : state) {
    probSparseAttentionBackward(q, k, v, g, saved, dq, dk, dv, o.threads);
    benchmark::DoNotOptimize(dq.data());
  }
}

// The full-attention peer in the same binary: the tiled kernel, no mask.
void BM_FullTiled(benchmark::State& state) {
  const Index L = state.range(0);
  const auto q = randomTensor(kDim, L, kHeads, 1), k = randomTensor(kDim, L, kHeads, 2), v = randomTensor(kDim, L, kHeads, 3);
  SdpaOptions<float> o;
  o.backend = SdpaBackend::tiled;
  o.threads = static_cast<int>(state.range(1));
  o.checkFinite = false;
  Tensor3<float> out;
  SdpaSaved<float> saved;
  for (auto _ : state) {
    scaledDotProductAttentionForward(q, k, v, o, out, saved);
    benchmark::DoNotOptimize(out.data());
  }
  state.counters["GFLOP/s"] = benchmark::Counter(4.0 * L * L * kDim * kHeads * 1e-9,
                                                 benchmark::Counter::kIsIterationInvariantRate);
}

// The Informer encoder of the reference defaults (d_model 512, 8 heads, d_ff 2048,
// 2 layers with distilling) on a batch of 32 series of 96 steps, evaluation mode.
void BM_InformerEncoder(benchmark::State& state) {
  const Index L = state.range(0), batch = state.range(1);
  InformerEncoderOptions<float> o;
  o.layer.modelDim = 512;
  o.layer.numHeads = 8;
  o.layer.ffDim = 2048;
  o.layer.attention.checkFinite = false;
  o.layers = 2;
  InformerEncoder<float> encoder(o, 1);
  // Evaluation needs running statistics: one training forward computes them.
  const auto x = randomTensor(512, L, batch, 5);
  Tensor3<float> y;
  encoder.forward(x, y);
  encoder.setTraining(false);
  for (auto _ : state) {
    encoder.forward(x, y);
    benchmark::DoNotOptimize(y.data());
  }
  state.counters["steps/s"] = benchmark::Counter(static_cast<double>(L * batch), benchmark::Counter::kIsIterationInvariantRate);
}

}  // namespace

BENCHMARK(BM_ProbSparse)->ArgsProduct({{1024, 2048, 4096, 8192, 16384}, {1}})->Unit(benchmark::kMillisecond);
BENCHMARK(BM_FullTiled)->ArgsProduct({{1024, 2048, 4096, 8192}, {1}})->Unit(benchmark::kMillisecond);
BENCHMARK(BM_ProbSparseBackward)->ArgsProduct({{1024, 4096}, {1}})->Unit(benchmark::kMillisecond);
BENCHMARK(BM_InformerEncoder)->Args({96, 32})->Unit(benchmark::kMillisecond);
BENCHMARK(BM_ProbSparse)->Name("Scaling/ProbSparse")->ArgsProduct({{4096}, {1, 2}})->Unit(benchmark::kMillisecond)->UseRealTime();

BENCHMARK_MAIN();

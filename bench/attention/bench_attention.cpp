// Benchmarks of the attention module: naive vs tiled scaled dot-product attention
// (forward, backward, causal, threads), MultiHeadAttention forward, and a plain GEMM of
// comparable size as the machine's reference. Counters: GFLOP/s (dense-equivalent flops
// actually needed: 4 L^2 d per problem for the forward, half of it causal).
//
//   cmake -S . -B build/release -DCMAKE_BUILD_TYPE=Release -DEIGENREC_NATIVE=ON -DEIGENREC_BUILD_BENCHMARKS=ON
//   cmake --build build/release --target bench_attention
//   build/release/bench/bench_attention --benchmark_filter=Tiled
//   /usr/bin/python3 bench/compare/attention.py        (runs this and PyTorch, prints ratios)
#include <benchmark/benchmark.h>
#include <support/random_data.hpp>
#include <eigenrec/attention/multi_head.hpp>
#include <eigenrec/attention/scaled_dot_product.hpp>

using namespace eigenrec;
using namespace eigenrec::attention;

namespace {

using eigenrec::bench::randomTensor;

constexpr Index kHeads = 8;
constexpr Index kDim = 64;

double attentionFlops(Index lq, Index lk, Index d, Index n, bool causal) {
  const double pairs = causal ? 0.5 * static_cast<double>(lq) * static_cast<double>(lk + 1) : static_cast<double>(lq) * lk;
  return 4.0 * pairs * static_cast<double>(d) * static_cast<double>(n);
}

// args: L, causal, threads
void sdpaForward(benchmark::State& state, SdpaBackend backend) {
  const Index L = state.range(0);
  const bool causal = state.range(1) != 0;
  const auto q = randomTensor(kDim, L, kHeads, 1), k = randomTensor(kDim, L, kHeads, 2), v = randomTensor(kDim, L, kHeads, 3);
  SdpaOptions<float> o;
  o.backend = backend;
  o.causal = causal ? Causal::topLeft : Causal::none;
  o.threads = static_cast<int>(state.range(2));
  o.checkFinite = false;
  Tensor3<float> out;
  SdpaSaved<float> saved;
  for (auto _ : state) {
    scaledDotProductAttentionForward(q, k, v, o, out, saved);
    benchmark::DoNotOptimize(out.data());
  }
  state.counters["GFLOP/s"] = benchmark::Counter(attentionFlops(L, L, kDim, kHeads, causal) * 1e-9,
                                                 benchmark::Counter::kIsIterationInvariantRate);
}

void BM_SdpaNaiveForward(benchmark::State& state) { sdpaForward(state, SdpaBackend::naive); }
void BM_SdpaTiledForward(benchmark::State& state) { sdpaForward(state, SdpaBackend::tiled); }

void sdpaBackward(benchmark::State& state, SdpaBackend backend) {
  const Index L = state.range(0);
  const bool causal = state.range(1) != 0;
  const auto q = randomTensor(kDim, L, kHeads, 1), k = randomTensor(kDim, L, kHeads, 2), v = randomTensor(kDim, L, kHeads, 3);
  const auto g = randomTensor(kDim, L, kHeads, 4);
  SdpaOptions<float> o;
  o.backend = backend;
  o.causal = causal ? Causal::topLeft : Causal::none;
  o.threads = static_cast<int>(state.range(2));
  o.checkFinite = false;
  Tensor3<float> out, dq, dk, dv;
  SdpaSaved<float> saved;
  scaledDotProductAttentionForward(q, k, v, o, out, saved);
  for (auto _ : state) {
    scaledDotProductAttentionBackward(q, k, v, out, g, o, saved, dq, dk, dv);
    benchmark::DoNotOptimize(dq.data());
  }
  state.counters["GFLOP/s"] = benchmark::Counter(2.5 * attentionFlops(L, L, kDim, kHeads, causal) * 1e-9,
                                                 benchmark::Counter::kIsIterationInvariantRate);
}

void BM_SdpaNaiveBackward(benchmark::State& state) { sdpaBackward(state, SdpaBackend::naive); }
void BM_SdpaTiledBackward(benchmark::State& state) { sdpaBackward(state, SdpaBackend::tiled); }

// args: L, threads. E = 512, H = 8, batch 1, eval mode, no weights.
void BM_MhaForward(benchmark::State& state) {
  const Index L = state.range(0);
  MultiHeadAttention<float>::Options o;
  o.embedDim = 512;
  o.numHeads = 8;
  o.threads = static_cast<int>(state.range(1));
  MultiHeadAttention<float> mha(o, 1);
  mha.setTraining(false);
  const auto x = randomTensor(512, L, 1, 5);
  Tensor3<float> y;
  for (auto _ : state) {
    mha.forward(x, y);
    benchmark::DoNotOptimize(y.data());
  }
  const double proj = 2.0 * 4.0 * 512.0 * 512.0 * static_cast<double>(L);
  state.counters["GFLOP/s"] = benchmark::Counter((proj + attentionFlops(L, L, 64, 8, false)) * 1e-9,
                                                 benchmark::Counter::kIsIterationInvariantRate);
}

// Reference GEMMs: the score product of one head at this L ((L, 64) x (64, L)) and
// the in-projection of MultiHeadAttention ((1536, 512) x (512, L)).
void BM_GemmScores(benchmark::State& state) {
  const Index L = state.range(0);
  const Matrix<float> a = Matrix<float>::Random(L, kDim), b = Matrix<float>::Random(kDim, L);
  Matrix<float> c(L, L);
  for (auto _ : state) {
    c.noalias() = a * b;
    benchmark::DoNotOptimize(c.data());
  }
  state.counters["GFLOP/s"] =
      benchmark::Counter(2.0 * L * L * kDim * 1e-9, benchmark::Counter::kIsIterationInvariantRate);
}

void BM_GemmProjection(benchmark::State& state) {
  const Index L = state.range(0);
  const Matrix<float> a = Matrix<float>::Random(1536, 512), b = Matrix<float>::Random(512, L);
  Matrix<float> c(1536, L);
  for (auto _ : state) {
    c.noalias() = a * b;
    benchmark::DoNotOptimize(c.data());
  }
  state.counters["GFLOP/s"] =
      benchmark::Counter(2.0 * 1536 * 512 * static_cast<double>(L) * 1e-9, benchmark::Counter::kIsIterationInvariantRate);
}

}  // namespace

// Single-thread rows report CPU time (this machine is shared, wall time is noisy); the
// "Scaling" rows compare 1 and 2 threads in wall time.
BENCHMARK(BM_SdpaNaiveForward)->ArgsProduct({{256, 1024, 2048, 4096}, {0, 1}, {1}})->Unit(benchmark::kMillisecond);
BENCHMARK(BM_SdpaTiledForward)->ArgsProduct({{256, 1024, 2048, 4096, 8192}, {0, 1}, {1}})->Unit(benchmark::kMillisecond);
BENCHMARK(BM_SdpaNaiveBackward)->ArgsProduct({{1024}, {0}, {1}})->Unit(benchmark::kMillisecond);
BENCHMARK(BM_SdpaTiledBackward)->ArgsProduct({{1024, 4096}, {0, 1}, {1}})->Unit(benchmark::kMillisecond);
BENCHMARK(BM_MhaForward)->ArgsProduct({{128, 1024, 4096}, {1}})->Unit(benchmark::kMillisecond);
BENCHMARK(BM_GemmScores)->Arg(1024)->Unit(benchmark::kMillisecond);
BENCHMARK(BM_GemmProjection)->Arg(1024)->Unit(benchmark::kMillisecond);
BENCHMARK(BM_SdpaTiledForward)->Name("Scaling/TiledForward")->ArgsProduct({{2048}, {0}, {1, 2}})->Unit(benchmark::kMillisecond)->UseRealTime();
BENCHMARK(BM_SdpaTiledBackward)->Name("Scaling/TiledBackward")->ArgsProduct({{2048}, {0}, {1, 2}})->Unit(benchmark::kMillisecond)->UseRealTime();

BENCHMARK_MAIN();

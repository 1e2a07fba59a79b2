// nn hot paths against the machine's GEMM rate, in one binary:
//   BM_Gemm                eigenrec::gemm C = A * B of the Linear's shapes (the reference:
//                          the kernel Linear calls)
//   BM_EigenGemm           the same product through Eigen's operator*
//   BM_LinearForward       y = W x + b
//   BM_LinearTrainStep     forward + backward (3 GEMMs: W x, dY x^T, W^T dY)
//   BM_MLPTrainStep        MLP forward + BCE loss + backward + Adam step (bench/compare/nn.py
//                          runs the same step in PyTorch)
//   BM_OptimizerStep       parameters updated per second
//   BM_EmbeddingUpdate     lookup + backward + lazy Adam step + zeroGrad on tables of
//                          100k and 10M rows: the cost follows the ids touched, not the table
// FLOP counters: GFLOPS = 2*m*k*n per GEMM.
#include <benchmark/benchmark.h>
#include <support/random_data.hpp>
#include <eigenrec/core/gemm.hpp>
#include <eigenrec/nn/embedding.hpp>
#include <eigenrec/nn/linear.hpp>
#include <eigenrec/nn/loss.hpp>
#include <eigenrec/nn/mlp.hpp>
#include <eigenrec/nn/optimizer.hpp>

using namespace eigenrec;
using namespace eigenrec::nn;

namespace {

using eigenrec::bench::randomMatrix;

void setFlops(benchmark::State& state, double flopsPerIteration) {
  state.counters["GFLOPS"] =
      benchmark::Counter(flopsPerIteration * 1e-9, benchmark::Counter::kIsIterationInvariantRate);
}

// args: batch, in, out
void linearShapes(benchmark::internal::Benchmark* b) {
  b->ArgNames({"batch", "in", "out"});
  for (int batch : {256, 1024})
    for (int width : {256, 512, 1024}) b->Args({batch, width, width});
}

void BM_Gemm(benchmark::State& state) {
  const Index n = state.range(0), in = state.range(1), out = state.range(2);
  const Matrix<float> w = randomMatrix(out, in, 1), x = randomMatrix(in, n, 2);
  Matrix<float> y(out, n);
  for (auto _ : state) {
    gemm<float>(Op::none, Op::none, 1.0f, w, x, 0.0f, y);
    benchmark::DoNotOptimize(y.data());
  }
  setFlops(state, 2.0 * double(out) * double(in) * double(n));
}

void BM_EigenGemm(benchmark::State& state) {
  const Index n = state.range(0), in = state.range(1), out = state.range(2);
  const Matrix<float> w = randomMatrix(out, in, 1), x = randomMatrix(in, n, 2);
  Matrix<float> y(out, n);
  for (auto _ : state) {
    y.noalias() = w * x;
    benchmark::DoNotOptimize(y.data());
  }
  setFlops(state, 2.0 * double(out) * double(in) * double(n));
}

void BM_LinearForward(benchmark::State& state) {
  const Index n = state.range(0), in = state.range(1), out = state.range(2);
  Linear<float> lin(in, out, 1);
  const Matrix<float> x = randomMatrix(in, n, 2);
  Matrix<float> y;
  for (auto _ : state) {
    lin.forward(x, y);
    benchmark::DoNotOptimize(y.data());
  }
  setFlops(state, 2.0 * double(out) * double(in) * double(n));
}

void BM_LinearTrainStep(benchmark::State& state) {
  const Index n = state.range(0), in = state.range(1), out = state.range(2);
  Linear<float> lin(in, out, 1);
  const Matrix<float> x = randomMatrix(in, n, 2), dy = randomMatrix(out, n, 3);
  Matrix<float> y, dx;
  for (auto _ : state) {
    lin.forward(x, y);
    lin.backward(dy, dx);
    benchmark::DoNotOptimize(dx.data());
  }
  setFlops(state, 6.0 * double(out) * double(in) * double(n));
}

// args: batch, in, hidden (two hidden layers), one logit out.
void BM_MLPTrainStep(benchmark::State& state) {
  const Index n = state.range(0), in = state.range(1), hidden = state.range(2);
  MLP<float> mlp(in, {hidden, hidden, 1}, 1);
  mlp.setInputGradientEnabled(false);  // the input is data, as in PyTorch (no requires_grad)
  Adam<float> adam(mlp.parameters(), Adam<float>::Options{1e-3});
  BCEWithLogitsLoss<float> loss;
  const Matrix<float> x = randomMatrix(in, n, 2);
  Matrix<float> labels = (randomMatrix(1, n, 3).array() > 0).cast<float>();
  Matrix<float> y, dx;
  for (auto _ : state) {
    adam.zeroGrad();
    mlp.forward(x, y);
    benchmark::DoNotOptimize(loss.forward(y, labels));
    mlp.backward(loss.backward(), dx);
    adam.step();
  }
  const double macs = double(in) * double(hidden) + double(hidden) * double(hidden) + double(hidden);
  setFlops(state, 6.0 * macs * double(n));
  state.SetItemsProcessed(state.iterations() * n);
}

template <typename Opt>
void BM_OptimizerStep(benchmark::State& state) {
  const Index size = state.range(0);
  Parameter<float> p(randomMatrix(size, 1024, 1));
  p.grad() = randomMatrix(size, 1024, 2);
  Opt opt(std::vector<Parameter<float>*>{&p}, typename Opt::Options{});
  for (auto _ : state) {
    opt.step();
    benchmark::DoNotOptimize(p.value().data());
  }
  state.SetItemsProcessed(state.iterations() * p.size());
}

// args: table rows, ids per batch, dim
void BM_EmbeddingUpdate(benchmark::State& state) {
  const Index rows = state.range(0), batch = state.range(1), dim = state.range(2);
  Embedding<float> emb(rows, dim, 1);
  Adam<float> adam(emb.parameters(), Adam<float>::Options{1e-3});
  Rng rng(5);
  std::vector<Index> ids(static_cast<std::size_t>(batch));
  const Matrix<float> grad = randomMatrix(dim, batch, 3);
  Matrix<float> out;
  for (auto _ : state) {
    for (auto& id : ids) id = rng.uniformIndex(rows);
    emb.forward(ids, out);
    emb.backward(grad);
    adam.step();
    adam.zeroGrad();
    benchmark::DoNotOptimize(out.data());
  }
  state.SetItemsProcessed(state.iterations() * batch);
}

}  // namespace

BENCHMARK(BM_Gemm)->Apply(linearShapes)->Unit(benchmark::kMicrosecond);
BENCHMARK(BM_EigenGemm)->Apply(linearShapes)->Unit(benchmark::kMicrosecond);
BENCHMARK(BM_LinearForward)->Apply(linearShapes)->Unit(benchmark::kMicrosecond);
BENCHMARK(BM_LinearTrainStep)->Apply(linearShapes)->Unit(benchmark::kMicrosecond);
BENCHMARK(BM_MLPTrainStep)
    ->ArgNames({"batch", "in", "hidden"})
    ->Args({256, 256, 512})
    ->Args({1024, 256, 512})
    ->Args({1024, 512, 1024})
    ->Unit(benchmark::kMicrosecond);
BENCHMARK_TEMPLATE(BM_OptimizerStep, SGD<float>)->Arg(1024)->ArgName("rows");
BENCHMARK_TEMPLATE(BM_OptimizerStep, Adagrad<float>)->Arg(1024)->ArgName("rows");
BENCHMARK_TEMPLATE(BM_OptimizerStep, Adam<float>)->Arg(1024)->ArgName("rows");
BENCHMARK_TEMPLATE(BM_OptimizerStep, RMSprop<float>)->Arg(1024)->ArgName("rows");
BENCHMARK_TEMPLATE(BM_OptimizerStep, Ftrl<float>)->Arg(1024)->ArgName("rows");
BENCHMARK(BM_EmbeddingUpdate)
    ->ArgNames({"rows", "ids", "dim"})
    ->Args({100000, 4096, 32})
    ->Args({10000000, 4096, 32})
    ->Unit(benchmark::kMicrosecond);

BENCHMARK_MAIN();

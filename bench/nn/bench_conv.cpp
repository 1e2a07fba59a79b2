// Conv1d forward and forward + backward against the GEMMs of the same shapes (eigenrec::gemm,
// which Conv1d calls), on Informer's distilling convolution (channels in = out, kernel 3,
// circular padding 1).
//
// Conv1d forward is one GEMM (out x k*in) * (k*in x L*B) plus the im2col copy and the
// bias; forward + backward adds dW = dY cols^T and dcols = W^T dY plus col2im. The peers
// run exactly those GEMMs (one, or all three) on preallocated matrices, so the ratio
// Conv1d / peer is the cost of the data movement around the GEMMs.
// BM_EigenGemmForward is the same product through Eigen's operator*, for reference.
// Counter FLOP/s: 2 * out * k*in * L*B per GEMM.
#include <benchmark/benchmark.h>
#include <support/random_data.hpp>
#include <eigenrec/core/gemm.hpp>
#include <eigenrec/core/random.hpp>
#include <eigenrec/nn/conv.hpp>

namespace {

using eigenrec::bench::randomMatrix;
using eigenrec::bench::randomTensor;

using eigenrec::Index;
using eigenrec::Op;

constexpr Index kKernel = 3;

double gemmFlops(Index channels, Index length, Index batch) {
  return 2.0 * static_cast<double>(channels) * static_cast<double>(kKernel * channels) *
         static_cast<double>(length * batch);
}

void setFlops(benchmark::State& state, double perIteration) {
  state.counters["FLOP/s"] =
      benchmark::Counter(perIteration * static_cast<double>(state.iterations()), benchmark::Counter::kIsRate);
}

template <typename Scalar>
eigenrec::nn::Conv1d<Scalar> distillingConv(Index channels) {
  typename eigenrec::nn::Conv1d<Scalar>::Options options;
  options.padding = 1;
  options.paddingMode = eigenrec::nn::PaddingMode::circular;
  return eigenrec::nn::Conv1d<Scalar>(channels, channels, kKernel, 1, options);
}

template <typename Scalar>
void BM_Conv1dForward(benchmark::State& state) {
  const Index channels = state.range(0), length = state.range(1), batch = state.range(2);
  auto conv = distillingConv<Scalar>(channels);
  const auto x = randomTensor<Scalar>(channels, length, batch, 2);
  eigenrec::Tensor3<Scalar> y;
  for (auto _ : state) {
    conv.forward(x, y);
    benchmark::DoNotOptimize(y.data());
    benchmark::ClobberMemory();
  }
  setFlops(state, gemmFlops(channels, length, batch));
}

template <typename Scalar>
void BM_Conv1dForwardBackward(benchmark::State& state) {
  const Index channels = state.range(0), length = state.range(1), batch = state.range(2);
  auto conv = distillingConv<Scalar>(channels);
  const auto x = randomTensor<Scalar>(channels, length, batch, 2);
  const auto g = randomTensor<Scalar>(channels, length, batch, 3);
  eigenrec::Tensor3<Scalar> y, dx;
  for (auto _ : state) {
    conv.forward(x, y);
    conv.backward(g, dx);
    benchmark::DoNotOptimize(dx.data());
    benchmark::ClobberMemory();
  }
  setFlops(state, 3 * gemmFlops(channels, length, batch));
}

// The forward GEMM alone: (out x k*in) * (k*in x L*B).
template <typename Scalar>
void BM_GemmForward(benchmark::State& state) {
  const Index channels = state.range(0), length = state.range(1), batch = state.range(2);
  const auto w = randomMatrix<Scalar>(channels, kKernel * channels, 1);
  const auto cols = randomMatrix<Scalar>(kKernel * channels, length * batch, 2);
  eigenrec::Matrix<Scalar> y(channels, length * batch);
  for (auto _ : state) {
    eigenrec::gemm<Scalar>(Op::none, Op::none, Scalar(1), w, cols, Scalar(0), y);
    benchmark::DoNotOptimize(y.data());
    benchmark::ClobberMemory();
  }
  setFlops(state, gemmFlops(channels, length, batch));
}

// The same product through Eigen's own operator*.
template <typename Scalar>
void BM_EigenGemmForward(benchmark::State& state) {
  const Index channels = state.range(0), length = state.range(1), batch = state.range(2);
  const auto w = randomMatrix<Scalar>(channels, kKernel * channels, 1);
  const auto cols = randomMatrix<Scalar>(kKernel * channels, length * batch, 2);
  eigenrec::Matrix<Scalar> y(channels, length * batch);
  for (auto _ : state) {
    y.noalias() = w * cols;
    benchmark::DoNotOptimize(y.data());
    benchmark::ClobberMemory();
  }
  setFlops(state, gemmFlops(channels, length, batch));
}

// The three GEMMs of forward + backward: Y = W C, dW += dY C^T, dC = W^T dY.
template <typename Scalar>
void BM_GemmForwardBackward(benchmark::State& state) {
  const Index channels = state.range(0), length = state.range(1), batch = state.range(2);
  const auto w = randomMatrix<Scalar>(channels, kKernel * channels, 1);
  const auto cols = randomMatrix<Scalar>(kKernel * channels, length * batch, 2);
  const auto dy = randomMatrix<Scalar>(channels, length * batch, 3);
  eigenrec::Matrix<Scalar> y(channels, length * batch), dcols(kKernel * channels, length * batch);
  eigenrec::Matrix<Scalar> dw = eigenrec::Matrix<Scalar>::Zero(channels, kKernel * channels);
  for (auto _ : state) {
    eigenrec::gemm<Scalar>(Op::none, Op::none, Scalar(1), w, cols, Scalar(0), y);
    eigenrec::gemm<Scalar>(Op::none, Op::transpose, Scalar(1), dy, cols, Scalar(1), dw);
    eigenrec::gemm<Scalar>(Op::transpose, Op::none, Scalar(1), w, dy, Scalar(0), dcols);
    benchmark::DoNotOptimize(y.data());
    benchmark::DoNotOptimize(dw.data());
    benchmark::DoNotOptimize(dcols.data());
    benchmark::ClobberMemory();
  }
  setFlops(state, 3 * gemmFlops(channels, length, batch));
}

void shapes(benchmark::internal::Benchmark* b) {
  b->ArgNames({"channels", "L", "B"});
  b->Args({512, 96, 32});
  b->Args({512, 1024, 8});
  b->Args({64, 96, 32});
  b->Unit(benchmark::kMillisecond);
}

void informerShape(benchmark::internal::Benchmark* b) {
  b->ArgNames({"channels", "L", "B"});
  b->Args({512, 96, 32});
  b->Unit(benchmark::kMillisecond);
}

}  // namespace

BENCHMARK_TEMPLATE(BM_Conv1dForward, float)->Apply(shapes);
BENCHMARK_TEMPLATE(BM_GemmForward, float)->Apply(shapes);
BENCHMARK_TEMPLATE(BM_EigenGemmForward, float)->Apply(shapes);
BENCHMARK_TEMPLATE(BM_Conv1dForwardBackward, float)->Apply(shapes);
BENCHMARK_TEMPLATE(BM_GemmForwardBackward, float)->Apply(shapes);
BENCHMARK_TEMPLATE(BM_Conv1dForward, double)->Apply(informerShape);
BENCHMARK_TEMPLATE(BM_GemmForward, double)->Apply(informerShape);

BENCHMARK_MAIN();

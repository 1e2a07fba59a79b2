// Column-wise softmax: eigenrec::softmax against a straightforward per-element loop.
// Items/s counts matrix coefficients.
#include <benchmark/benchmark.h>
#include <eigenrec/core/math.hpp>
#include <eigenrec/core/random.hpp>

#include <cmath>

namespace {

template <typename Scalar>
eigenrec::Matrix<Scalar> randomLogits(eigenrec::Index rows, eigenrec::Index cols) {
  eigenrec::Rng rng(1);
  eigenrec::Matrix<Scalar> x(rows, cols);
  for (eigenrec::Index i = 0; i < x.size(); ++i) x.data()[i] = rng.normal<Scalar>(0, 3);
  return x;
}

template <typename Scalar>
void BM_Softmax(benchmark::State& state) {
  const auto x = randomLogits<Scalar>(state.range(0), state.range(1));
  eigenrec::Matrix<Scalar> out;
  for (auto _ : state) {
    eigenrec::softmax(x, out);
    benchmark::DoNotOptimize(out.data());
    benchmark::ClobberMemory();
  }
  state.SetItemsProcessed(state.iterations() * x.size());
}

// The loop a user would write by hand: max, exp and sum, divide, one scalar at a time.
template <typename Scalar>
void BM_SoftmaxNaiveLoop(benchmark::State& state) {
  const auto x = randomLogits<Scalar>(state.range(0), state.range(1));
  eigenrec::Matrix<Scalar> out(x.rows(), x.cols());
  for (auto _ : state) {
    for (eigenrec::Index j = 0; j < x.cols(); ++j) {
      Scalar m = x(0, j);
      for (eigenrec::Index i = 1; i < x.rows(); ++i) m = std::max(m, x(i, j));
      Scalar s = 0;
      for (eigenrec::Index i = 0; i < x.rows(); ++i) {
        out(i, j) = std::exp(x(i, j) - m);
        s += out(i, j);
      }
      for (eigenrec::Index i = 0; i < x.rows(); ++i) out(i, j) /= s;
    }
    benchmark::DoNotOptimize(out.data());
    benchmark::ClobberMemory();
  }
  state.SetItemsProcessed(state.iterations() * x.size());
}

void shapes(benchmark::internal::Benchmark* b) {
  b->ArgNames({"classes", "n"});
  for (auto [rows, cols] : {std::pair{64, 1024}, {1024, 256}, {16384, 16}}) b->Args({rows, cols});
}

}  // namespace

BENCHMARK_TEMPLATE(BM_Softmax, float)->Apply(shapes);
BENCHMARK_TEMPLATE(BM_SoftmaxNaiveLoop, float)->Apply(shapes);
BENCHMARK_TEMPLATE(BM_Softmax, double)->Apply(shapes);
BENCHMARK_TEMPLATE(BM_SoftmaxNaiveLoop, double)->Apply(shapes);

BENCHMARK_MAIN();

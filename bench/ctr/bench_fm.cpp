// Per-example FM kernels: predict (O(k nnz) score) and an SGD step (libFM semantics),
// for k in {4, 8, 16, 32}, on examples of 39 entries from a 39,000-feature vocabulary.
// The peer in the same binary is libFM's layout and loop order written out plainly:
// V stored factor-major (v[f][j]) and the loops over factors outside, features inside
// (src/fm_core/fm_model.h, fm_sgd.h), in double as libFM.
//
//   bench_fm --benchmark_counters_tabular=true
#include <benchmark/benchmark.h>
#include <eigenrec/ctr/fm.hpp>
#include <eigenrec/ctr/synthetic.hpp>

#include <cmath>
#include <vector>

namespace {

using namespace eigenrec;

constexpr Index kFields = 39;
constexpr Index kPerField = 1000;
constexpr Index kExamples = 8192;

template <typename S>
const ctr::SparseBatch<S>& examples() {
  static const ctr::SparseBatch<S> batch = [] {
    ctr::SyntheticFfmOptions o;
    o.fields = kFields;
    o.featuresPerField = kPerField;
    return ctr::SyntheticFfm(o).generate<S>(kExamples, 1);
  }();
  return batch;
}

// libFM's fm_model::predict and fm_SGD, plainly.
struct PlainFm {
  Index n, k;
  double w0 = 0;
  std::vector<double> w, v, sum, sumSqr;  // v: [k][n]

  PlainFm(Index n_, Index k_)
      : n(n_), k(k_), w(static_cast<std::size_t>(n_), 0.0), v(static_cast<std::size_t>(n_ * k_)),
        sum(static_cast<std::size_t>(k_)), sumSqr(static_cast<std::size_t>(k_)) {
    Rng rng(1);
    for (auto& x : v) x = rng.normal<double>(0, 0.1);
  }

  double predict(const ctr::SparseExample<double>& x) {
    double result = w0;
    for (Index i = 0; i < x.size; ++i) result += w[static_cast<std::size_t>(x.features[i])] * x.values[i];
    for (Index f = 0; f < k; ++f) {
      double s = 0, s2 = 0;
      for (Index i = 0; i < x.size; ++i) {
        const double d = v[static_cast<std::size_t>(f * n + x.features[i])] * x.values[i];
        s += d;
        s2 += d * d;
      }
      sum[static_cast<std::size_t>(f)] = s;
      sumSqr[static_cast<std::size_t>(f)] = s2;
      result += 0.5 * (s * s - s2);
    }
    return result;
  }

  double step(const ctr::SparseExample<double>& x, double lr) {
    const double p = predict(x);
    const double y = x.label > 0 ? 1.0 : -1.0;
    const double mult = -y * (1.0 - 1.0 / (1.0 + std::exp(-y * p)));
    w0 -= lr * mult;
    for (Index i = 0; i < x.size; ++i) {
      double& wi = w[static_cast<std::size_t>(x.features[i])];
      wi -= lr * (mult * x.values[i]);
    }
    for (Index f = 0; f < k; ++f) {
      for (Index i = 0; i < x.size; ++i) {
        double& vf = v[static_cast<std::size_t>(f * n + x.features[i])];
        const double grad = sum[static_cast<std::size_t>(f)] * x.values[i] - vf * x.values[i] * x.values[i];
        vf -= lr * (mult * grad);
      }
    }
    return p;
  }
};

template <typename S>
ctr::FactorizationMachine<S> model(Index k) {
  ctr::FmOptions o;
  o.factors = k;
  o.solver = ctr::FmSolver::sgd;
  o.learningRate = 0.01;
  ctr::FactorizationMachine<S> m(o);
  m.initialize(kFields * kPerField);
  return m;
}

template <typename S>
void BM_FmPredict(benchmark::State& state) {
  const auto& batch = examples<S>();
  const auto m = model<S>(state.range(0));
  Index i = 0;
  for (auto _ : state) {
    benchmark::DoNotOptimize(m.score(batch.example(i)));
    i = (i + 1) % kExamples;
  }
  state.SetItemsProcessed(state.iterations());
}

template <typename S>
void BM_FmSgdStep(benchmark::State& state) {
  const auto& batch = examples<S>();
  auto m = model<S>(state.range(0));
  Index i = 0;
  for (auto _ : state) {
    benchmark::DoNotOptimize(m.trainExample(batch.example(i)));
    i = (i + 1) % kExamples;
  }
  state.SetItemsProcessed(state.iterations());
}

void BM_FmPredictPlain(benchmark::State& state) {
  const auto& batch = examples<double>();
  PlainFm m(kFields * kPerField, state.range(0));
  Index i = 0;
  for (auto _ : state) {
    benchmark::DoNotOptimize(m.predict(batch.example(i)));
    i = (i + 1) % kExamples;
  }
  state.SetItemsProcessed(state.iterations());
}

void BM_FmSgdStepPlain(benchmark::State& state) {
  const auto& batch = examples<double>();
  PlainFm m(kFields * kPerField, state.range(0));
  Index i = 0;
  for (auto _ : state) {
    benchmark::DoNotOptimize(m.step(batch.example(i), 0.01));
    i = (i + 1) % kExamples;
  }
  state.SetItemsProcessed(state.iterations());
}

}  // namespace

BENCHMARK_TEMPLATE(BM_FmPredict, float)->ArgName("k")->Arg(4)->Arg(8)->Arg(16)->Arg(32);
BENCHMARK_TEMPLATE(BM_FmPredict, double)->ArgName("k")->Arg(4)->Arg(8)->Arg(16)->Arg(32);
BENCHMARK(BM_FmPredictPlain)->ArgName("k")->Arg(4)->Arg(8)->Arg(16)->Arg(32);
BENCHMARK_TEMPLATE(BM_FmSgdStep, float)->ArgName("k")->Arg(4)->Arg(8)->Arg(16)->Arg(32);
BENCHMARK_TEMPLATE(BM_FmSgdStep, double)->ArgName("k")->Arg(4)->Arg(8)->Arg(16)->Arg(32);
BENCHMARK(BM_FmSgdStepPlain)->ArgName("k")->Arg(4)->Arg(8)->Arg(16)->Arg(32);

BENCHMARK_MAIN();

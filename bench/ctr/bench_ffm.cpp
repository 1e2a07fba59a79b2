// Per-example FFM kernels: predict (the logit) and update (prediction + libffm's AdaGrad
// step), for k in {4, 8, 16, 32}, on Criteo-shaped examples (39 fields, one feature
// each, from a 39,000-feature vocabulary: a 39 x 39,000 x 2k table that does not fit
// in cache). The peer in the same binary is libffm's portable loop written out plainly
// (its non-SSE build: [n][m][k] blocks with w and G interleaved per coordinate, scalar
// sums). Counters: examples/s and feature pairs/s.
//
//   bench_ffm --benchmark_counters_tabular=true
#include <benchmark/benchmark.h>
#include <eigenrec/ctr/ffm.hpp>
#include <eigenrec/ctr/synthetic.hpp>

#include <cmath>
#include <vector>

namespace {

using namespace eigenrec;

constexpr Index kFields = 39;
constexpr Index kPerField = 1000;
constexpr Index kExamples = 8192;

const ctr::SparseBatch<float>& examples() {
  static const ctr::SparseBatch<float> batch = [] {
    ctr::SyntheticFfmOptions o;
    o.fields = kFields;
    o.featuresPerField = kPerField;
    return ctr::SyntheticFfm(o).generate<float>(kExamples, 1);
  }();
  return batch;
}

// libffm's portable (non-SSE) model and loops.
struct PlainFfm {
  Index n, m, k;
  std::vector<float> W;  // [n][m][k] pairs (w, G)

  PlainFfm(Index n_, Index m_, Index k_) : n(n_), m(m_), k(k_), W(static_cast<std::size_t>(n_ * m_ * k_ * 2)) {
    Rng rng(1);
    const float coef = 1.0f / std::sqrt(float(k));
    for (std::size_t i = 0; i < W.size(); i += 2) {
      W[i] = coef * rng.uniform<float>();
      W[i + 1] = 1.0f;
    }
  }

  float wTx(const ctr::SparseExample<float>& x, float r, float kappa, float eta, float lambda, bool update) {
    const Index align0 = 2 * k, align1 = m * align0;
    float t = 0;
    for (Index a = 0; a < x.size; ++a) {
      const Index j1 = x.features[a], f1 = x.fields[a];
      const float v1 = x.values[a];
      if (j1 >= n || f1 >= m) continue;
      for (Index b = a + 1; b < x.size; ++b) {
        const Index j2 = x.features[b], f2 = x.fields[b];
        const float v2 = x.values[b];
        if (j2 >= n || f2 >= m) continue;
        float* w1 = W.data() + j1 * align1 + f2 * align0;
        float* w2 = W.data() + j2 * align1 + f1 * align0;
        const float v = v1 * v2 * r;
        if (update) {
          float* wg1 = w1 + 1;
          float* wg2 = w2 + 1;
          for (Index d = 0; d < align0; d += 2) {
            const float g1 = lambda * w1[d] + kappa * w2[d] * v;
            const float g2 = lambda * w2[d] + kappa * w1[d] * v;
            wg1[d] += g1 * g1;
            wg2[d] += g2 * g2;
            w1[d] -= eta / std::sqrt(wg1[d]) * g1;
            w2[d] -= eta / std::sqrt(wg2[d]) * g2;
          }
        } else {
          for (Index d = 0; d < align0; d += 2) t += w1[d] * w2[d] * v;
        }
      }
    }
    return t;
  }

  float step(const ctr::SparseExample<float>& x) {
    float norm = 0;
    for (Index e = 0; e < x.size; ++e) norm += x.values[e] * x.values[e];
    const float r = 1.0f / norm;
    const float t = wTx(x, r, 0, 0, 0, false);
    const float y = x.label > 0 ? 1.0f : -1.0f;
    const double expnyt = std::exp(-y * double(t));
    const auto kappa = static_cast<float>(-y * expnyt / (1 + expnyt));
    wTx(x, r, kappa, 0.2f, 2e-5f, true);
    return t;
  }
};

void counters(benchmark::State& state) {
  state.SetItemsProcessed(state.iterations());
  state.counters["pairs/s"] =
      benchmark::Counter(double(state.iterations()) * double(kFields * (kFields - 1) / 2), benchmark::Counter::kIsRate);
}

ctr::FieldAwareFM<float> model(Index k, bool rsqrt = false) {
  ctr::FfmOptions o;
  o.factors = k;
  o.approximateRsqrt = rsqrt;
  ctr::FieldAwareFM<float> m(o);
  m.initialize(kFields * kPerField, kFields);
  return m;
}

void BM_FfmPredict(benchmark::State& state) {
  const auto& batch = examples();
  const auto m = model(state.range(0));
  Index i = 0;
  for (auto _ : state) {
    benchmark::DoNotOptimize(m.score(batch.example(i)));
    i = (i + 1) % kExamples;
  }
  counters(state);
}

// range(1) = 1: libffm's SSE step with the approximate rsqrt.
void BM_FfmUpdate(benchmark::State& state) {
  const auto& batch = examples();
  auto m = model(state.range(0), state.range(1) != 0);
  Index i = 0;
  for (auto _ : state) {
    benchmark::DoNotOptimize(m.trainExample(batch.example(i)));
    i = (i + 1) % kExamples;
  }
  counters(state);
}

void BM_FfmPredictPlain(benchmark::State& state) {
  const auto& batch = examples();
  PlainFfm m(kFields * kPerField, kFields, state.range(0));
  Index i = 0;
  for (auto _ : state) {
    const auto x = batch.example(i);
    benchmark::DoNotOptimize(m.wTx(x, 1.0f / float(x.size), 0, 0, 0, false));
    i = (i + 1) % kExamples;
  }
  counters(state);
}

void BM_FfmUpdatePlain(benchmark::State& state) {
  const auto& batch = examples();
  PlainFfm m(kFields * kPerField, kFields, state.range(0));
  Index i = 0;
  for (auto _ : state) {
    benchmark::DoNotOptimize(m.step(batch.example(i)));
    i = (i + 1) % kExamples;
  }
  counters(state);
}

}  // namespace

BENCHMARK(BM_FfmPredict)->ArgName("k")->Arg(4)->Arg(8)->Arg(16)->Arg(32);
BENCHMARK(BM_FfmPredictPlain)->ArgName("k")->Arg(4)->Arg(8)->Arg(16)->Arg(32);
BENCHMARK(BM_FfmUpdate)->ArgNames({"k", "rsqrt"})->ArgsProduct({{4, 8, 16, 32}, {0, 1}});
BENCHMARK(BM_FfmUpdatePlain)->ArgName("k")->Arg(4)->Arg(8)->Arg(16)->Arg(32);

BENCHMARK_MAIN();

// Benchmarks of eigenrec/cf at MovieLens-100K scale (943 users, 1682 items, ~90k
// interactions, power-law item popularity), in one binary:
//   BM_SparseItemCFFit       the library: sparse row-wise products, top-K per row
//   BM_DenseItemCFFit        the straightforward path: dense R^T R with Eigen's GEMM,
//                            then top-K per row (what a NumPy/SciPy user writes)
//   BM_SparseUserCFFit       user-user similarities
//   BM_RecommendAll          top-10 for every user
//   BM_FitAndRecommendAll    fit + top-10 for every user (the ML-100K comparison unit)
// Arguments are the thread count.
#include <benchmark/benchmark.h>
#include <eigenrec/cf.hpp>
#include <eigenrec/core/random.hpp>

#include <algorithm>
#include <cmath>
#include <vector>

namespace {

using namespace eigenrec;
using namespace eigenrec::cf;

// 943 users with power-law activity (20..700 items) over 1682 items with Zipf-like
// popularity, ~90k distinct interactions: the shape of ml-100k's ua.base.
const InteractionMatrix<float>& ml100kLike() {
  static const InteractionMatrix<float> data = [] {
    const Index users = 943, items = 1682;
    Rng rng(2024);
    std::vector<double> weight(static_cast<std::size_t>(items));
    for (Index i = 0; i < items; ++i) weight[static_cast<std::size_t>(i)] = 1.0 / std::pow(1.0 + static_cast<double>(i), 0.9);
    const AliasTable table(weight);
    std::vector<Interaction> rec;
    for (Index u = 0; u < users; ++u) {
      const double x = 20.0 * std::pow(1.0 - rng.uniform<double>(), -1.0 / 1.3);
      const Index d = std::min<Index>(700, static_cast<Index>(x));
      std::vector<Index> seen;
      while (static_cast<Index>(seen.size()) < d) {
        const Index i = table.sample(rng);
        if (std::find(seen.begin(), seen.end(), i) == seen.end()) seen.push_back(i);
      }
      for (Index i : seen) rec.push_back({u, i, 1.0, 0});
    }
    return InteractionMatrix<float>::fromRecords(users, items, rec);
  }();
  return data;
}

SimilarityOptions options(Measure m, Index k, int threads) {
  SimilarityOptions o;
  o.measure = m;
  o.k = k;
  o.threads = threads;
  return o;
}

void BM_SparseItemCFFit(benchmark::State& state) {
  const auto& data = ml100kLike();
  const auto o = options(Measure::cosine, 40, static_cast<int>(state.range(0)));
  for (auto _ : state) {
    auto g = itemNeighbours(data, o);
    benchmark::DoNotOptimize(g.nonZeros());
  }
  state.counters["interactions/s"] =
      benchmark::Counter(static_cast<double>(data.nonZeros()), benchmark::Counter::kIsIterationInvariantRate);
}
BENCHMARK(BM_SparseItemCFFit)->Arg(1)->Arg(2)->Unit(benchmark::kMillisecond)->UseRealTime();

void BM_DenseItemCFFit(benchmark::State& state) {
  const auto& data = ml100kLike();
  const Index items = data.items(), K = 40;
  const Matrix<float> R = Matrix<float>(data.userItems());
  for (auto _ : state) {
    Matrix<float> C = R.transpose() * R;  // co-occurrence counts, items x items
    const Eigen::VectorXf n = C.diagonal();
    std::vector<std::pair<float, Index>> row;
    std::vector<Index> kept;
    for (Index i = 0; i < items; ++i) {
      row.clear();
      for (Index j = 0; j < items; ++j) {
        if (j != i && C(j, i) > 0) row.emplace_back(C(j, i) / std::sqrt(n(i) * n(j)), j);
      }
      const auto k = std::min<std::size_t>(row.size(), static_cast<std::size_t>(K));
      std::partial_sort(row.begin(), row.begin() + static_cast<std::ptrdiff_t>(k), row.end(),
                        [](const auto& a, const auto& b) { return a.first > b.first || (a.first == b.first && a.second < b.second); });
      kept.push_back(static_cast<Index>(k));
    }
    benchmark::DoNotOptimize(kept.data());
    kept.clear();
  }
  state.counters["interactions/s"] =
      benchmark::Counter(static_cast<double>(data.nonZeros()), benchmark::Counter::kIsIterationInvariantRate);
}
BENCHMARK(BM_DenseItemCFFit)->Unit(benchmark::kMillisecond)->UseRealTime();

void BM_SparseUserCFFit(benchmark::State& state) {
  const auto& data = ml100kLike();
  const auto o = options(Measure::inverseFrequency, 40, static_cast<int>(state.range(0)));
  for (auto _ : state) {
    auto g = userNeighbours(data, o);
    benchmark::DoNotOptimize(g.nonZeros());
  }
}
BENCHMARK(BM_SparseUserCFFit)->Arg(1)->Arg(2)->Unit(benchmark::kMillisecond)->UseRealTime();

void BM_RecommendAll(benchmark::State& state) {
  ItemCF<float> model(options(Measure::cosine, 40, 1));
  model.fit(ml100kLike());
  RecommendOptions ro;
  ro.threads = static_cast<int>(state.range(0));
  for (auto _ : state) {
    auto lists = model.recommendAll(10, ro);
    benchmark::DoNotOptimize(lists.data());
  }
  state.counters["users/s"] =
      benchmark::Counter(static_cast<double>(model.users()), benchmark::Counter::kIsIterationInvariantRate);
}
BENCHMARK(BM_RecommendAll)->Arg(1)->Arg(2)->Unit(benchmark::kMillisecond)->UseRealTime();

void BM_FitAndRecommendAll(benchmark::State& state) {
  const auto& data = ml100kLike();
  const int threads = static_cast<int>(state.range(0));
  RecommendOptions ro;
  ro.threads = threads;
  for (auto _ : state) {
    ItemCF<float> model(options(Measure::inverseFrequency, 40, threads));
    model.fit(data);
    auto lists = model.recommendAll(10, ro);
    benchmark::DoNotOptimize(lists.data());
  }
}
BENCHMARK(BM_FitAndRecommendAll)->Arg(1)->Arg(2)->Unit(benchmark::kMillisecond)->UseRealTime();

}  // namespace

BENCHMARK_MAIN();

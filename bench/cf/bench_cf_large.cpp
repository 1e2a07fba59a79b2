// Large-scale ItemCF: a generated power-law data set of 10M interactions (1M users,
// 100k items), fit with K = 50 and top-10 for 100k users, on 1 and 2 threads.
//
//   build/release/bench/bench_cf_large --benchmark_filter=BM_LargeItemCF
//
// Data: item popularity p(i) ~ 1 / (1 + i)^0.9 (alias sampling); user activity d_u from
// a Pareto tail (P(d > x) ~ x^-1.5, d >= 1, capped at 5000) scaled so that the sum is
// 10M;
// each user's items are distinct. Counters: fit and recommend seconds (wall, and
// processor time of all threads), neighbour pairs,
// model bytes (data in both orientations + graph), model bytes per interaction, and the
// process's peak resident set size (getrusage) per interaction.
//
// Environment: EIGENREC_CF_LARGE_INTERACTIONS overrides 10M (with users and items scaled
// by the same factor) for a quick run.
#include <benchmark/benchmark.h>
#include <eigenrec/cf.hpp>
#include <eigenrec/core/random.hpp>

#include <sys/resource.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdlib>
#include <iostream>
#include <numeric>
#include <string>
#include <vector>

namespace {

using namespace eigenrec;
using namespace eigenrec::cf;

double cpuSeconds() {  // user + system time of every thread of the process
  rusage r{};
  getrusage(RUSAGE_SELF, &r);
  return static_cast<double>(r.ru_utime.tv_sec + r.ru_stime.tv_sec) +
         1e-6 * static_cast<double>(r.ru_utime.tv_usec + r.ru_stime.tv_usec);
}

double peakRssBytes() {
  rusage r{};
  getrusage(RUSAGE_SELF, &r);
  return static_cast<double>(r.ru_maxrss) * 1024.0;  // Linux: kilobytes
}

struct Large {
  InteractionMatrix<float> data;
  double generateSeconds = 0;
};

InteractionMatrix<float> generate(Index users, Index items, Index target, std::uint64_t seed) {
  Rng rng(seed);
  std::vector<double> weight(static_cast<std::size_t>(items));
  for (Index i = 0; i < items; ++i) weight[static_cast<std::size_t>(i)] = 1.0 / std::pow(1.0 + static_cast<double>(i), 0.9);
  const AliasTable table(weight);
  const Index cap = std::min<Index>(5000, items / 4);
  std::vector<double> raw(static_cast<std::size_t>(users));
  for (auto& d : raw) d = std::min<double>(static_cast<double>(cap), std::pow(1.0 - rng.uniform<double>(), -1.0 / 1.5));
  // Scale the degrees so that, after rounding and clamping to [1, cap], they sum to the
  // target (a few fixed-point steps).
  auto degree = [&](double x, double scale) {
    return std::clamp<Index>(static_cast<Index>(std::llround(x * scale)), 1, cap);
  };
  double scale = static_cast<double>(target) / std::accumulate(raw.begin(), raw.end(), 0.0);
  for (int step = 0; step < 8; ++step) {
    double sum = 0;
    for (double x : raw) sum += static_cast<double>(degree(x, scale));
    scale *= static_cast<double>(target) / sum;
  }
  using StorageIndex = SparseRowMatrix<float>::StorageIndex;
  std::vector<StorageIndex> outer(static_cast<std::size_t>(users) + 1, 0);
  std::vector<StorageIndex> inner;
  inner.reserve(static_cast<std::size_t>(target) + static_cast<std::size_t>(users));
  std::vector<std::uint8_t> mark(static_cast<std::size_t>(items), 0);
  for (Index u = 0; u < users; ++u) {
    const Index d = degree(raw[static_cast<std::size_t>(u)], scale);
    const auto start = inner.size();
    while (static_cast<Index>(inner.size() - start) < d) {
      const Index i = table.sample(rng);
      if (!mark[static_cast<std::size_t>(i)]) {
        mark[static_cast<std::size_t>(i)] = 1;
        inner.push_back(i);
      }
    }
    std::sort(inner.begin() + static_cast<std::ptrdiff_t>(start), inner.end());
    for (auto p = start; p < inner.size(); ++p) mark[static_cast<std::size_t>(inner[p])] = 0;
    outer[static_cast<std::size_t>(u) + 1] = static_cast<StorageIndex>(inner.size());
  }
  SparseRowMatrix<float> m(users, items);
  m.resizeNonZeros(static_cast<Index>(inner.size()));
  std::copy(outer.begin(), outer.end(), m.outerIndexPtr());
  std::copy(inner.begin(), inner.end(), m.innerIndexPtr());
  std::fill(m.valuePtr(), m.valuePtr() + m.nonZeros(), 1.0f);
  std::vector<StorageIndex>().swap(inner);
  return InteractionMatrix<float>::fromSparse(std::move(m), Feedback::binary);
}

Large& large() {
  static Large l = [] {
    Index target = 10'000'000;
    if (const char* env = std::getenv("EIGENREC_CF_LARGE_INTERACTIONS")) target = std::atoll(env);
    const double f = static_cast<double>(target) / 1e7;
    const auto t0 = std::chrono::steady_clock::now();
    Large x;
    x.data = generate(static_cast<Index>(1'000'000 * f), static_cast<Index>(100'000 * f), target, 42);
    x.generateSeconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    double sq = 0;
    for (Index u = 0; u < x.data.users(); ++u) sq += std::pow(static_cast<double>(x.data.userCount(u)), 2.0);
    std::cerr << "generated " << x.data.users() << " users, " << x.data.items() << " items, " << x.data.nonZeros()
              << " interactions in " << x.generateSeconds << " s; max user " << [&] {
                   Index m = 0;
                   for (Index u = 0; u < x.data.users(); ++u) m = std::max(m, x.data.userCount(u));
                   return m;
                 }()
              << ", max item " << x.data.itemCount(0) << ", sum |N(u)|^2 = " << sq << "\n";
    return x;
  }();
  return l;
}

void BM_LargeItemCF(benchmark::State& state) {
  Large& l = large();
  const int threads = static_cast<int>(state.range(0));
  SimilarityOptions o;
  o.measure = Measure::cosine;
  o.k = 50;
  o.threads = threads;
  const Index sampleUsers = std::min<Index>(100'000, l.data.users());
  std::vector<Index> users(static_cast<std::size_t>(sampleUsers));
  for (Index k = 0; k < sampleUsers; ++k) users[static_cast<std::size_t>(k)] = k * (l.data.users() / sampleUsers);
  RecommendOptions ro;
  ro.threads = threads;
  double fitSeconds = 0, recommendSeconds = 0, fitCpu = 0, recommendCpu = 0, modelBytes = 0, pairs = 0;
  for (auto _ : state) {
    ItemCF<float> model(o);
    const auto t0 = std::chrono::steady_clock::now();
    const double c0 = cpuSeconds();
    model.fit(l.data);  // copies the data into the model (counted in the peak)
    const auto t1 = std::chrono::steady_clock::now();
    const double c1 = cpuSeconds();
    const auto lists = model.recommendAll(users, 10, ro);
    const auto t2 = std::chrono::steady_clock::now();
    const double c2 = cpuSeconds();
    benchmark::DoNotOptimize(lists.data());
    fitSeconds = std::chrono::duration<double>(t1 - t0).count();
    recommendSeconds = std::chrono::duration<double>(t2 - t1).count();
    fitCpu = c1 - c0;
    recommendCpu = c2 - c1;
    modelBytes = static_cast<double>(model.memoryBytes());
    pairs = static_cast<double>(model.neighbours().nonZeros());
  }
  const double nnz = static_cast<double>(l.data.nonZeros());
  state.counters["fit_s"] = fitSeconds;
  state.counters["top10_s"] = recommendSeconds;
  state.counters["fit_cpu_s"] = fitCpu;  // all threads
  state.counters["top10_cpu_s"] = recommendCpu;
  state.counters["pairs"] = pairs;
  state.counters["model_MB"] = modelBytes / 1e6;
  state.counters["model_B/interaction"] = modelBytes / nnz;
  state.counters["peak_rss_MB"] = peakRssBytes() / 1e6;
  state.counters["peak_rss_B/interaction"] = peakRssBytes() / nnz;
}
BENCHMARK(BM_LargeItemCF)->Arg(1)->Arg(2)->Iterations(1)->Unit(benchmark::kSecond)->UseRealTime();

}  // namespace

BENCHMARK_MAIN();

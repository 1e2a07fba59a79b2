// eigenrec/metrics/correlation.hpp: Pearson and Spearman correlation (word-similarity
// evaluation, rank agreement of recommenders).
#ifndef EIGENREC_METRICS_CORRELATION_HPP
#define EIGENREC_METRICS_CORRELATION_HPP

#include <eigenrec/core/checks.hpp>
#include <eigenrec/core/types.hpp>

#include <algorithm>
#include <cmath>
#include <limits>
#include <numeric>
#include <vector>

namespace eigenrec::metrics {

namespace detail {

// NaN has no rank (and would break the sort's strict weak ordering): reject it.
inline void checkNoNaN(const char* where, const char* argument, const std::vector<double>& x) {
  for (std::size_t i = 0; i < x.size(); ++i) {
    if (std::isnan(x[i])) throwInvalidArgument(where, argument, "[", i, "] is NaN (expected a number)");
  }
}

inline void checkFiniteValues(const char* where, const char* argument, const std::vector<double>& x) {
  for (std::size_t i = 0; i < x.size(); ++i) {
    if (!std::isfinite(x[i])) throwInvalidArgument(where, argument, "[", i, "] expected a finite number, got ", x[i]);
  }
}

}  // namespace detail

/// Average ranks (1-based; ties share their mean rank), as scipy.stats.rankdata.
/// +-inf rank as the smallest / largest values.
/// @throws std::invalid_argument if a value is NaN
inline std::vector<double> averageRanks(const std::vector<double>& x) {
  detail::checkNoNaN("averageRanks", "x", x);
  std::vector<std::size_t> order(x.size());
  std::iota(order.begin(), order.end(), 0);
  std::stable_sort(order.begin(), order.end(), [&](std::size_t a, std::size_t b) { return x[a] < x[b]; });
  std::vector<double> ranks(x.size());
  std::size_t i = 0;
  while (i < order.size()) {
    std::size_t j = i;
    while (j + 1 < order.size() && x[order[j + 1]] == x[order[i]]) ++j;
    const double r = 0.5 * static_cast<double>(i + j) + 1.0;
    for (std::size_t k = i; k <= j; ++k) ranks[order[k]] = r;
    i = j + 1;
  }
  return ranks;
}

/// Pearson correlation of two equally long samples (NaN if either is constant).
/// @throws std::invalid_argument on different sizes, fewer than 2 values, or a value that
///         is NaN or infinite
inline double pearson(const std::vector<double>& x, const std::vector<double>& y) {
  checkEqual("pearson", "y size", static_cast<Index>(x.size()), static_cast<Index>(y.size()));
  checkExpected(x.size() >= 2, "pearson", "sample size", ">= 2", x.size());
  detail::checkFiniteValues("pearson", "x", x);
  detail::checkFiniteValues("pearson", "y", y);
  const double n = static_cast<double>(x.size());
  const double mx = std::accumulate(x.begin(), x.end(), 0.0) / n, my = std::accumulate(y.begin(), y.end(), 0.0) / n;
  double sxy = 0, sxx = 0, syy = 0;
  for (std::size_t i = 0; i < x.size(); ++i) {
    sxy += (x[i] - mx) * (y[i] - my);
    sxx += (x[i] - mx) * (x[i] - mx);
    syy += (y[i] - my) * (y[i] - my);
  }
  if (sxx == 0 || syy == 0) return std::numeric_limits<double>::quiet_NaN();
  return sxy / std::sqrt(sxx * syy);
}

/// Spearman's rank correlation (Pearson of average ranks, as scipy.stats.spearmanr).
/// @throws std::invalid_argument on different sizes, fewer than 2 values, or a NaN
///         (+-inf are ranked)
inline double spearman(const std::vector<double>& x, const std::vector<double>& y) {
  checkEqual("spearman", "y size", static_cast<Index>(x.size()), static_cast<Index>(y.size()));
  checkExpected(x.size() >= 2, "spearman", "sample size", ">= 2", x.size());
  detail::checkNoNaN("spearman", "x", x);
  detail::checkNoNaN("spearman", "y", y);
  return pearson(averageRanks(x), averageRanks(y));
}

}  // namespace eigenrec::metrics

#endif  // EIGENREC_METRICS_CORRELATION_HPP

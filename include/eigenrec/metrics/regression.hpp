// eigenrec/metrics/regression.hpp: mean squared error, mean absolute error, RMSE.
#ifndef EIGENREC_METRICS_REGRESSION_HPP
#define EIGENREC_METRICS_REGRESSION_HPP

#include <eigenrec/core/checks.hpp>
#include <eigenrec/core/types.hpp>

#include <cmath>

namespace eigenrec::metrics {

namespace detail {
template <typename A, typename B, typename F>
double meanOfPairs(const char* where, const Eigen::DenseBase<A>& truth, const Eigen::DenseBase<B>& predicted, F f) {
  checkNotEmpty(where, "truth", truth.size());
  checkEqual(where, "predicted size", truth.size(), predicted.size());
  double total = 0;
  for (Index i = 0; i < truth.size(); ++i) {
    const double t = static_cast<double>(truth.derived().coeff(i));
    const double p = static_cast<double>(predicted.derived().coeff(i));
    if (std::isnan(t)) throwInvalidArgument(where, "truth[", i, "] is NaN");
    if (std::isnan(p)) throwInvalidArgument(where, "predicted[", i, "] is NaN");
    total += f(t - p);
  }
  return total / static_cast<double>(truth.size());
}
}  // namespace detail

/// Mean of (truth - predicted)^2 over n values.
template <typename A, typename B>
double meanSquaredError(const Eigen::DenseBase<A>& truth, const Eigen::DenseBase<B>& predicted) {
  return detail::meanOfPairs("meanSquaredError", truth, predicted, [](double d) { return d * d; });
}

/// Mean of |truth - predicted| over n values.
template <typename A, typename B>
double meanAbsoluteError(const Eigen::DenseBase<A>& truth, const Eigen::DenseBase<B>& predicted) {
  return detail::meanOfPairs("meanAbsoluteError", truth, predicted, [](double d) { return std::abs(d); });
}

/// Square root of the mean squared error.
template <typename A, typename B>
double rootMeanSquaredError(const Eigen::DenseBase<A>& truth, const Eigen::DenseBase<B>& predicted) {
  return std::sqrt(detail::meanOfPairs("rootMeanSquaredError", truth, predicted, [](double d) { return d * d; }));
}

}  // namespace eigenrec::metrics

#endif  // EIGENREC_METRICS_REGRESSION_HPP

// eigenrec/metrics/classification.hpp: ROC AUC and log loss for binary labels.
//
// Labels are 0/1 (or -1/+1): > 0 is positive, 0 or -1 negative; anything else is
// rejected. Results are double whatever the input scalar.
#ifndef EIGENREC_METRICS_CLASSIFICATION_HPP
#define EIGENREC_METRICS_CLASSIFICATION_HPP

#include <eigenrec/core/checks.hpp>
#include <eigenrec/core/types.hpp>

#include <algorithm>
#include <cmath>
#include <limits>
#include <numeric>
#include <vector>

namespace eigenrec::metrics {

namespace detail {

template <typename Derived>
bool isPositiveLabel(const char* where, const Eigen::DenseBase<Derived>& labels, Index i) {
  const double y = static_cast<double>(labels.derived().coeff(i));
  if (y == 1.0) return true;
  if (y == 0.0 || y == -1.0) return false;
  throwInvalidArgument(where, "labels[", i, "] expected 0, 1 or -1, got ", y);
}

}  // namespace detail

/// Area under the ROC curve, exact, with tied scores counted as half (the trapezoid over
/// tie groups; equals the average-rank Mann-Whitney statistic). Same value as
/// scikit-learn's roc_auc_score. `weights`, if given, are non-negative per-example
/// weights (scikit-learn's sample_weight).
///
/// @param labels  (n) binary labels
/// @param scores  (n) any real scores, higher = more positive
/// @throws std::invalid_argument on size mismatch, empty input, NaN, or a single class
template <typename LabelDerived, typename ScoreDerived>
double rocAuc(const Eigen::DenseBase<LabelDerived>& labels, const Eigen::DenseBase<ScoreDerived>& scores,
              const std::vector<double>& weights = {}) {
  const char* where = "rocAuc";
  checkNotEmpty(where, "labels", labels.size());
  checkEqual(where, "scores size", labels.size(), scores.size());
  if (!weights.empty()) checkEqual(where, "weights size", labels.size(), static_cast<Index>(weights.size()));
  const Index n = labels.size();
  std::vector<Index> order(static_cast<std::size_t>(n));
  for (Index i = 0; i < n; ++i) {
    const double s = static_cast<double>(scores.derived().coeff(i));
    if (std::isnan(s)) throwInvalidArgument(where, "scores[", i, "] is NaN");
    if (!weights.empty() && !(weights[static_cast<std::size_t>(i)] >= 0.0 &&
                              std::isfinite(weights[static_cast<std::size_t>(i)]))) {
      throwInvalidArgument(where, "weights[", i, "] expected finite and >= 0, got ", weights[static_cast<std::size_t>(i)]);
    }
    order[static_cast<std::size_t>(i)] = i;
  }
  std::sort(order.begin(), order.end(), [&](Index a, Index b) {
    return scores.derived().coeff(a) > scores.derived().coeff(b);
  });
  double tp = 0, fp = 0, area = 0;
  for (std::size_t g = 0; g < order.size();) {
    const auto groupScore = scores.derived().coeff(order[g]);
    const double tpBefore = tp, fpBefore = fp;
    for (; g < order.size() && scores.derived().coeff(order[g]) == groupScore; ++g) {
      const Index i = order[g];
      const double w = weights.empty() ? 1.0 : weights[static_cast<std::size_t>(i)];
      if (detail::isPositiveLabel(where, labels, i)) {
        tp += w;
      } else {
        fp += w;
      }
    }
    area += (fp - fpBefore) * (tp + tpBefore) * 0.5;
  }
  if (tp <= 0 || fp <= 0) {
    throwInvalidArgument(where, "labels expected both classes, got only ", tp > 0 ? "positives" : "negatives",
                         " (AUC is undefined)");
  }
  return area / (tp * fp);
}

/// Mean binary cross-entropy -[y log p + (1 - y) log(1 - p)] with p clipped to
/// [eps, 1 - eps], as scikit-learn's log_loss (whose default eps is the machine epsilon
/// of the prediction type, used here when eps < 0). Unlike scikit-learn, one class only
/// is allowed (a batch may hold only clicks).
///
/// @param labels         (n) binary labels
/// @param probabilities  (n) predicted P(y = 1), in [0, 1]
template <typename LabelDerived, typename ProbDerived>
double logLoss(const Eigen::DenseBase<LabelDerived>& labels, const Eigen::DenseBase<ProbDerived>& probabilities,
               double eps = -1.0, const std::vector<double>& weights = {}) {
  const char* where = "logLoss";
  using P = typename ProbDerived::Scalar;
  checkNotEmpty(where, "labels", labels.size());
  checkEqual(where, "probabilities size", labels.size(), probabilities.size());
  if (!weights.empty()) checkEqual(where, "weights size", labels.size(), static_cast<Index>(weights.size()));
  if (eps < 0) eps = static_cast<double>(std::numeric_limits<P>::epsilon());
  checkExpected(eps < 0.5, where, "eps", "< 0.5", eps);
  double total = 0, weightSum = 0;
  for (Index i = 0; i < labels.size(); ++i) {
    const double p = static_cast<double>(probabilities.derived().coeff(i));
    if (!(p >= 0.0 && p <= 1.0)) throwInvalidArgument(where, "probabilities[", i, "] expected in [0, 1], got ", p);
    const double w = weights.empty() ? 1.0 : weights[static_cast<std::size_t>(i)];
    if (!(w >= 0.0 && std::isfinite(w))) throwInvalidArgument(where, "weights[", i, "] expected finite and >= 0, got ", w);
    const double q = std::min(std::max(p, eps), 1.0 - eps);
    total += w * -(detail::isPositiveLabel(where, labels, i) ? std::log(q) : std::log1p(-q));
    weightSum += w;
  }
  checkExpected(weightSum > 0, where, "sum of weights", "> 0", weightSum);
  return total / weightSum;
}

}  // namespace eigenrec::metrics

#endif  // EIGENREC_METRICS_CLASSIFICATION_HPP

// eigenrec/metrics/ranking.hpp: top-K recommendation metrics and scikit-learn's NDCG.
//
// Lists are item ids (any non-negative integers). `recommended` is ranked best first and
// must not repeat an item; `relevant` is a set (repeats are ignored). Relevance is
// binary for the list metrics; ndcgScore takes graded relevance.
//
//   precision@K = hits / K               recall@K = hits / |relevant|
//   hit rate@K  = 1 if hits > 0          MRR@K    = 1 / rank of the first hit (0 if none)
//   NDCG@K      = sum_{hits at rank r <= K} 1/log2(r + 1)  /  sum_{r <= min(K, |relevant|)} 1/log2(r + 1)
//
// where hits counts the relevant items among the first K recommended (a list shorter than
// K is not padded: missing places are misses).
#ifndef EIGENREC_METRICS_RANKING_HPP
#define EIGENREC_METRICS_RANKING_HPP

#include <eigenrec/core/checks.hpp>
#include <eigenrec/core/types.hpp>

#include <algorithm>
#include <cmath>
#include <unordered_set>
#include <vector>

namespace eigenrec::metrics {

/// A ranked or unranked list of item ids.
using ItemList = std::vector<Index>;

/// The list metrics of one user at cut-off K.
struct ListMetrics {
  Index hits = 0;
  double precision = 0;
  double recall = 0;
  double hitRate = 0;
  double ndcg = 0;
  double reciprocalRank = 0;
};

/// All list metrics of one user's recommendations at cut-off k > 0.
/// @throws std::invalid_argument if k <= 0, relevant is empty, an id is negative, or
///         `recommended` repeats an item.
inline ListMetrics listMetrics(const ItemList& recommended, const ItemList& relevant, Index k) {
  const char* where = "listMetrics";
  checkPositive(where, "k", k);
  checkNotEmpty(where, "relevant", static_cast<Index>(relevant.size()));
  ItemList truth(relevant);
  std::sort(truth.begin(), truth.end());
  truth.erase(std::unique(truth.begin(), truth.end()), truth.end());
  if (truth.front() < 0) throwInvalidArgument(where, "relevant item ids expected >= 0, got ", truth.front());

  const auto cut = std::min<std::size_t>(recommended.size(), static_cast<std::size_t>(k));
  std::unordered_set<Index> seen;
  seen.reserve(cut * 2);
  ListMetrics m;
  double dcg = 0;
  for (std::size_t r = 0; r < cut; ++r) {
    const Index item = recommended[r];
    if (item < 0) throwInvalidArgument(where, "recommended[", r, "] expected an item id >= 0, got ", item);
    if (!seen.insert(item).second) throwInvalidArgument(where, "recommended repeats item ", item, " at rank ", r + 1);
    if (std::binary_search(truth.begin(), truth.end(), item)) {
      ++m.hits;
      dcg += 1.0 / std::log2(static_cast<double>(r) + 2.0);
      if (m.reciprocalRank == 0) m.reciprocalRank = 1.0 / static_cast<double>(r + 1);
    }
  }
  double idcg = 0;
  const auto ideal = std::min<std::size_t>(truth.size(), static_cast<std::size_t>(k));
  for (std::size_t r = 0; r < ideal; ++r) idcg += 1.0 / std::log2(static_cast<double>(r) + 2.0);
  m.precision = static_cast<double>(m.hits) / static_cast<double>(k);
  m.recall = static_cast<double>(m.hits) / static_cast<double>(truth.size());
  m.hitRate = m.hits > 0 ? 1.0 : 0.0;
  m.ndcg = dcg / idcg;
  return m;
}

inline double precisionAtK(const ItemList& recommended, const ItemList& relevant, Index k) {
  return listMetrics(recommended, relevant, k).precision;
}
inline double recallAtK(const ItemList& recommended, const ItemList& relevant, Index k) {
  return listMetrics(recommended, relevant, k).recall;
}
inline double hitRateAtK(const ItemList& recommended, const ItemList& relevant, Index k) {
  return listMetrics(recommended, relevant, k).hitRate;
}
inline double ndcgAtK(const ItemList& recommended, const ItemList& relevant, Index k) {
  return listMetrics(recommended, relevant, k).ndcg;
}
inline double reciprocalRankAtK(const ItemList& recommended, const ItemList& relevant, Index k) {
  return listMetrics(recommended, relevant, k).reciprocalRank;
}

/// Metrics of a whole evaluation at cut-off k: per-user means over the users with a
/// non-empty relevant set (others are skipped and counted), plus the micro averages of
/// "Recommender Systems Practice" (total hits / total recommended, total hits / total
/// relevant), which equal the means when every list has K items and every user the same
/// number of relevant items.
struct RankingReport {
  Index k = 0;
  Index users = 0;         ///< users evaluated
  Index skippedUsers = 0;  ///< users with no relevant items
  double precision = 0;
  double recall = 0;
  double hitRate = 0;
  double ndcg = 0;
  double mrr = 0;
  double microPrecision = 0;
  double microRecall = 0;
};

/// Evaluates recommended[u] against relevant[u] for every user u.
inline RankingReport evaluateRanking(const std::vector<ItemList>& recommended, const std::vector<ItemList>& relevant,
                                     Index k) {
  const char* where = "evaluateRanking";
  checkPositive(where, "k", k);
  checkEqual(where, "relevant size (users)", static_cast<Index>(recommended.size()),
             static_cast<Index>(relevant.size()));
  RankingReport report;
  report.k = k;
  double hits = 0, shown = 0, truthTotal = 0;
  for (std::size_t u = 0; u < recommended.size(); ++u) {
    if (relevant[u].empty()) {
      ++report.skippedUsers;
      continue;
    }
    const ListMetrics m = listMetrics(recommended[u], relevant[u], k);
    ++report.users;
    report.precision += m.precision;
    report.recall += m.recall;
    report.hitRate += m.hitRate;
    report.ndcg += m.ndcg;
    report.mrr += m.reciprocalRank;
    hits += static_cast<double>(m.hits);
    shown += static_cast<double>(std::min<std::size_t>(recommended[u].size(), static_cast<std::size_t>(k)));
    ItemList truth(relevant[u]);
    std::sort(truth.begin(), truth.end());
    truthTotal += static_cast<double>(std::unique(truth.begin(), truth.end()) - truth.begin());
  }
  checkExpected(report.users > 0, where, "relevant", "at least one user with relevant items", "none");
  const auto n = static_cast<double>(report.users);
  report.precision /= n;
  report.recall /= n;
  report.hitRate /= n;
  report.ndcg /= n;
  report.mrr /= n;
  report.microPrecision = shown > 0 ? hits / shown : 0.0;
  report.microRecall = hits / truthTotal;
  return report;
}

namespace detail {
// The cut-off of the list-wide metrics: k > 0, or k < 0 for whole lists. k = 0 would
// look at no item at all (a silent 0), so it is rejected as the @K metrics reject it.
inline void checkCutOff(const char* where, Index k) {
  if (k == 0) throwInvalidArgument(where, "k expected > 0 (or < 0 for whole lists), got 0");
}
}  // namespace detail

/// Catalogue coverage: distinct items among the first k of every list (all of each list
/// if k < 0), divided by the catalogue size. Ids must be in [0, catalogueSize).
/// @throws std::invalid_argument if k == 0, catalogueSize <= 0 or an id is out of range
inline double catalogueCoverage(const std::vector<ItemList>& recommended, Index catalogueSize, Index k = -1) {
  const char* where = "catalogueCoverage";
  detail::checkCutOff(where, k);
  checkPositive(where, "catalogueSize", catalogueSize);
  std::vector<bool> covered(static_cast<std::size_t>(catalogueSize), false);
  Index distinct = 0;
  for (const auto& list : recommended) {
    const auto cut = k < 0 ? list.size() : std::min<std::size_t>(list.size(), static_cast<std::size_t>(k));
    for (std::size_t r = 0; r < cut; ++r) {
      checkIndex(where, "recommended item", list[r], catalogueSize);
      if (!covered[static_cast<std::size_t>(list[r])]) {
        covered[static_cast<std::size_t>(list[r])] = true;
        ++distinct;
      }
    }
  }
  return static_cast<double>(distinct) / static_cast<double>(catalogueSize);
}

/// Mean popularity of the recommended items (first k of each list, all if k < 0):
/// the average of log(1 + popularity[item]) over every recommended item, as in
/// "Recommender Systems Practice" (logScale = false averages popularity[item] itself).
/// popularity[i] is usually the number of training interactions of item i.
/// @throws std::invalid_argument if k == 0, popularity is empty, an id is out of range, a
///         popularity is negative or NaN, or no item is recommended
inline double meanPopularity(const std::vector<ItemList>& recommended, const std::vector<double>& popularity,
                             Index k = -1, bool logScale = true) {
  const char* where = "meanPopularity";
  detail::checkCutOff(where, k);
  checkNotEmpty(where, "popularity", static_cast<Index>(popularity.size()));
  double total = 0;
  Index count = 0;
  for (const auto& list : recommended) {
    const auto cut = k < 0 ? list.size() : std::min<std::size_t>(list.size(), static_cast<std::size_t>(k));
    for (std::size_t r = 0; r < cut; ++r) {
      checkIndex(where, "recommended item", list[r], static_cast<Index>(popularity.size()));
      const double p = popularity[static_cast<std::size_t>(list[r])];
      if (!(p >= 0.0)) throwInvalidArgument(where, "popularity[", list[r], "] expected >= 0, got ", p);
      total += logScale ? std::log1p(p) : p;
      ++count;
    }
  }
  checkExpected(count > 0, where, "recommended", "at least one item", "none");
  return total / static_cast<double>(count);
}

/// Per-sample NDCG exactly as scikit-learn's ndcg_score (linear gains, 1/log2(rank + 1)
/// discounts, tied scores averaged over their group (McSherry & Najork 2008), samples
/// without any relevance scored 0).
///
/// @param relevance (labels, samples) non-negative graded relevance, one column per sample
/// @param scores    (labels, samples) predicted scores
/// @param k         cut-off; k <= 0 means all labels
template <typename RelDerived, typename ScoreDerived>
Vector<double> ndcgSampleScores(const Eigen::MatrixBase<RelDerived>& relevance,
                                const Eigen::MatrixBase<ScoreDerived>& scores, Index k = 0) {
  const char* where = "ndcgSampleScores";
  checkNotEmpty(where, "relevance", relevance.size());
  checkShape(where, "scores", scores, relevance.rows(), relevance.cols());
  checkAllFinite(where, "scores", scores);
  checkAllFinite(where, "relevance", relevance);
  checkExpected(relevance.minCoeff() >= 0, where, "relevance", "values >= 0", relevance.minCoeff());
  checkExpected(relevance.rows() > 1, where, "relevance rows (labels)", "> 1", relevance.rows());
  const Index labels = relevance.rows();
  const Index cut = (k <= 0 || k > labels) ? labels : k;
  std::vector<double> discountCumsum(static_cast<std::size_t>(labels));
  double acc = 0;
  for (Index r = 0; r < labels; ++r) {
    acc += r < cut ? 1.0 / std::log2(static_cast<double>(r) + 2.0) : 0.0;
    discountCumsum[static_cast<std::size_t>(r)] = acc;
  }
  Vector<double> result(relevance.cols());
  std::vector<Index> order(static_cast<std::size_t>(labels));
  std::vector<double> gains(static_cast<std::size_t>(labels));
  for (Index s = 0; s < relevance.cols(); ++s) {
    for (Index i = 0; i < labels; ++i) order[static_cast<std::size_t>(i)] = i;
    std::sort(order.begin(), order.end(), [&](Index a, Index b) { return scores(a, s) > scores(b, s); });
    // DCG with tie groups: each group's mean gain times the discounts of its ranks.
    double dcg = 0;
    for (std::size_t g = 0; g < order.size();) {
      const auto groupScore = scores(order[g], s);
      const std::size_t start = g;
      double gainSum = 0;
      for (; g < order.size() && scores(order[g], s) == groupScore; ++g) gainSum += static_cast<double>(relevance(order[g], s));
      const double before = start == 0 ? 0.0 : discountCumsum[start - 1];
      dcg += gainSum / static_cast<double>(g - start) * (discountCumsum[g - 1] - before);
    }
    for (Index i = 0; i < labels; ++i) gains[static_cast<std::size_t>(i)] = static_cast<double>(relevance(i, s));
    std::sort(gains.begin(), gains.end(), std::greater<double>());
    double idcg = 0;
    for (Index r = 0; r < cut; ++r) idcg += gains[static_cast<std::size_t>(r)] / std::log2(static_cast<double>(r) + 2.0);
    result(s) = idcg == 0 ? 0.0 : dcg / idcg;
  }
  return result;
}

/// Mean of ndcgSampleScores over the samples (scikit-learn's ndcg_score).
template <typename RelDerived, typename ScoreDerived>
double ndcgScore(const Eigen::MatrixBase<RelDerived>& relevance, const Eigen::MatrixBase<ScoreDerived>& scores,
                 Index k = 0) {
  return ndcgSampleScores(relevance, scores, k).mean();
}

}  // namespace eigenrec::metrics

#endif  // EIGENREC_METRICS_RANKING_HPP

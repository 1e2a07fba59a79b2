// eigenrec/cf/evaluation.hpp: offline evaluation of ItemCF / UserCF.
//
// Splits: randomSplit sends each record to the test set with probability testFraction
// (the M-fold protocol of "Recommender Systems Practice"); leaveLastOut moves each
// user's n latest records (by timestamp, ties: later record) to the test set. Both keep
// the id maps, so indices agree between train and test.
//
// Metrics come from eigenrec/metrics: per-user precision@N, recall@N, hit rate, NDCG and
// MRR averaged over the users with test items, catalogue coverage (distinct recommended
// items / items) and mean popularity (mean log(1 + |N(i)|) of the recommended items,
// |N(i)| counted in the training data), and RMSE / MAE for rating prediction.
#ifndef EIGENREC_CF_EVALUATION_HPP
#define EIGENREC_CF_EVALUATION_HPP

#include <eigenrec/cf/interactions.hpp>
#include <eigenrec/cf/neighbourhood.hpp>
#include <eigenrec/core/checks.hpp>
#include <eigenrec/core/random.hpp>
#include <eigenrec/metrics/ranking.hpp>
#include <eigenrec/metrics/regression.hpp>

#include <algorithm>
#include <cstdint>
#include <limits>
#include <numeric>
#include <utility>
#include <vector>

namespace eigenrec::cf {

/// A train / test split of a log (both keep the full id maps).
struct Split {
  InteractionLog train;
  InteractionLog test;
};

/// Each record goes to test with probability testFraction in (0, 1), drawn from
/// Rng(seed) in record order.
inline Split randomSplit(const InteractionLog& log, double testFraction, std::uint64_t seed) {
  const char* where = "randomSplit";
  checkExpected(testFraction > 0 && testFraction < 1, where, "testFraction", "in (0, 1)", testFraction);
  Split s{InteractionLog::sharingIds(log), InteractionLog::sharingIds(log)};
  Rng rng(seed);
  for (const Interaction& r : log.records()) (rng.bernoulli(testFraction) ? s.test : s.train).records().push_back(r);
  return s;
}

/// The n latest records of every user with more than n records go to test (by timestamp;
/// equal timestamps: the later record is the later one); users with <= n records stay
/// entirely in train.
inline Split leaveLastOut(const InteractionLog& log, Index n = 1) {
  const char* where = "leaveLastOut";
  checkPositive(where, "n", n);
  const auto& rec = log.records();
  std::vector<std::vector<std::size_t>> byUser(static_cast<std::size_t>(log.users().size()));
  for (std::size_t r = 0; r < rec.size(); ++r) byUser[static_cast<std::size_t>(rec[r].user)].push_back(r);
  std::vector<std::uint8_t> toTest(rec.size(), 0);
  for (auto& list : byUser) {
    if (static_cast<Index>(list.size()) <= n) continue;
    std::stable_sort(list.begin(), list.end(),
                     [&](std::size_t a, std::size_t b) { return rec[a].timestamp < rec[b].timestamp; });
    for (auto it = list.end() - n; it != list.end(); ++it) toTest[*it] = 1;
  }
  Split s{InteractionLog::sharingIds(log), InteractionLog::sharingIds(log)};
  for (std::size_t r = 0; r < rec.size(); ++r) (toTest[r] ? s.test : s.train).records().push_back(rec[r]);
  return s;
}

/// Per user (index 0..users-1), the distinct items of the test records with value >=
/// minValue, sorted. Users of the test log beyond `users` are ignored.
inline std::vector<metrics::ItemList> relevantItems(const InteractionLog& test, Index users,
                                                    double minValue = -std::numeric_limits<double>::infinity()) {
  checkNonNegative("relevantItems", "users", users);
  std::vector<metrics::ItemList> lists(static_cast<std::size_t>(users));
  for (const Interaction& r : test.records()) {
    if (r.user < users && r.value >= minValue) lists[static_cast<std::size_t>(r.user)].push_back(r.item);
  }
  for (auto& l : lists) {
    std::sort(l.begin(), l.end());
    l.erase(std::unique(l.begin(), l.end()), l.end());
  }
  return lists;
}

/// Result of a top-N evaluation.
struct TopNReport {
  metrics::RankingReport ranking;  ///< precision, recall, hit rate, NDCG, MRR (+ micro averages)
  double coverage = 0;             ///< distinct recommended items / model items
  double popularity = 0;           ///< mean log(1 + training popularity) of recommended items
  Index n = 0;
  Index fallbackItems = 0;         ///< recommended items that came from the popularity fallback
};

/// Recommends n items to every user with relevant items (relevant[u] non-empty,
/// u < model.users()) and scores the lists against relevant. Users beyond the model get
/// the cold-start answer (recommendFromItems({})).
/// @throws std::invalid_argument if no user has relevant items, or n <= 0.
template <typename Model>
TopNReport evaluateTopN(const Model& model, const std::vector<metrics::ItemList>& relevant, Index n,
                        const RecommendOptions& options = {}) {
  const char* where = "evaluateTopN";
  checkPositive(where, "n", n);
  std::vector<Index> users;
  for (std::size_t u = 0; u < relevant.size(); ++u) {
    if (!relevant[u].empty() && static_cast<Index>(u) < model.users()) users.push_back(static_cast<Index>(u));
  }
  const auto lists = model.recommendAll(users, n, options);
  std::vector<metrics::ItemList> recommended(relevant.size());
  TopNReport report;
  report.n = n;
  std::vector<metrics::ItemList> shown;
  shown.reserve(users.size());
  for (std::size_t k = 0; k < users.size(); ++k) {
    for (const auto& r : lists[k]) report.fallbackItems += r.fallback ? 1 : 0;
    recommended[static_cast<std::size_t>(users[k])] = itemsOf(lists[k]);
    shown.push_back(recommended[static_cast<std::size_t>(users[k])]);
  }
  for (std::size_t u = 0; u < relevant.size(); ++u) {
    if (!relevant[u].empty() && static_cast<Index>(u) >= model.users()) {
      recommended[u] = itemsOf(model.recommendFromItems({}, n, options));
      shown.push_back(recommended[u]);
    }
  }
  report.ranking = metrics::evaluateRanking(recommended, relevant, n);
  report.coverage = metrics::catalogueCoverage(shown, model.items(), n);
  std::vector<double> pop(model.popularity().begin(), model.popularity().end());
  report.popularity = metrics::meanPopularity(shown, pop, n);
  return report;
}

/// Result of a rating-prediction evaluation.
struct RatingReport {
  double rmse = 0;
  double mae = 0;
  Index count = 0;
  Index impossible = 0;  ///< predictions that fell back to the global mean
};

/// Predicts every test record (user and item known to the model; unknown ones are
/// predicted as the global mean and counted as impossible) and reports RMSE and MAE.
template <typename Model>
RatingReport evaluateRatings(const Model& model, const InteractionLog& test, const PredictOptions& options = {},
                             int threads = 1) {
  const char* where = "evaluateRatings";
  checkNotEmpty(where, "test", test.size());
  std::vector<std::pair<Index, Index>> pairs;
  std::vector<std::size_t> known;
  for (std::size_t r = 0; r < test.records().size(); ++r) {
    const Interaction& x = test.records()[r];
    if (x.user < model.users() && x.item < model.items()) {
      pairs.emplace_back(x.user, x.item);
      known.push_back(r);
    }
  }
  const auto predictions = model.predictAll(pairs, options, threads);
  Vector<double> truth(test.size()), predicted(test.size());
  predicted.setConstant(model.globalMean());
  RatingReport report;
  report.count = test.size();
  report.impossible = test.size() - static_cast<Index>(known.size());
  for (std::size_t r = 0; r < test.records().size(); ++r) truth(static_cast<Index>(r)) = test.records()[r].value;
  for (std::size_t k = 0; k < known.size(); ++k) {
    predicted(static_cast<Index>(known[k])) = predictions[k].value;
    if (!predictions[k].possible) ++report.impossible;
  }
  report.rmse = metrics::rootMeanSquaredError(truth, predicted);
  report.mae = metrics::meanAbsoluteError(truth, predicted);
  return report;
}

}  // namespace eigenrec::cf

#endif  // EIGENREC_CF_EVALUATION_HPP

// Evaluating a recommender and a click model with eigenrec/metrics.
#include <eigenrec/metrics.hpp>

#include <iomanip>
#include <iostream>

int main() {
  using namespace eigenrec;
  using namespace eigenrec::metrics;

  // A click model's predicted probabilities against what happened.
  Eigen::VectorXd clicked(8), predicted(8);
  clicked << 1, 0, 0, 1, 0, 1, 0, 0;
  predicted << 0.9, 0.2, 0.4, 0.7, 0.1, 0.4, 0.3, 0.05;
  std::cout << std::fixed << std::setprecision(4);
  std::cout << "click model:  AUC " << rocAuc(clicked, predicted) << "  logloss " << logLoss(clicked, predicted)
            << "\n";

  // Top-3 recommendations for four users, against the items they went on to like.
  const std::vector<ItemList> recommended = {{3, 7, 1}, {2, 5, 8}, {7, 3, 9}, {0, 1, 2}};
  const std::vector<ItemList> liked = {{7}, {4, 6}, {9, 3, 5}, {2}};
  const RankingReport report = evaluateRanking(recommended, liked, 3);
  std::cout << "recommender @3: precision " << report.precision << "  recall " << report.recall << "  hit rate "
            << report.hitRate << "  NDCG " << report.ndcg << "  MRR " << report.mrr << "\n";

  const std::vector<double> popularity = {120, 80, 60, 40, 30, 20, 10, 5, 3, 1};
  std::cout << "coverage " << catalogueCoverage(recommended, 10) << "  mean log-popularity "
            << meanPopularity(recommended, popularity) << "\n";
  return 0;
}

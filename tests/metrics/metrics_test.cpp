#include <catch2/catch.hpp>
#include <eigenrec/metrics.hpp>
#include <support/fixtures.hpp>

#include <cmath>
#include <limits>
#include <vector>

using namespace eigenrec;
using namespace eigenrec::metrics;
using eigenrec::test::Fixture;

namespace {
std::vector<double> toStd(const Eigen::VectorXd& v) { return std::vector<double>(v.data(), v.data() + v.size()); }
}  // namespace

TEMPLATE_TEST_CASE("rocAuc: parity with scikit-learn, ties and weights", "[metrics][auc]", float, double) {
  const Fixture f("metrics/sklearn_metrics.txt");
  for (const std::string c : {"auc_a", "auc_b", "auc_ties"}) {
    const Vector<TestType> y = f.vector<TestType>(c + "_y");
    const Vector<TestType> s = f.vector<TestType>(c + "_s");
    // float scores are rounded copies of the double ones; ties may change, hence 1e-6.
    CHECK(rocAuc(y, s) == Approx(f.scalar(c + "_auc")).epsilon(std::is_same_v<TestType, double> ? 1e-12 : 1e-6));
  }
  const Eigen::VectorXd w = f.vector("auc_ties_w");
  CHECK(rocAuc(f.vector("auc_ties_y"), f.vector("auc_ties_s"), toStd(w)) ==
        Approx(f.scalar("auc_ties_auc_weighted")).epsilon(1e-12));
}

TEST_CASE("rocAuc: hand-worked cases", "[metrics][auc]") {
  Eigen::VectorXd y(4), s(4);
  y << 0, 0, 1, 1;
  s << 0.1, 0.4, 0.35, 0.8;  // scikit-learn's documentation example
  CHECK(rocAuc(y, s) == Approx(0.75));
  s << 0.5, 0.5, 0.5, 0.5;  // all tied: 0.5
  CHECK(rocAuc(y, s) == Approx(0.5));
  y << -1, -1, 1, 1;  // -1/+1 labels
  s << 1, 2, 3, 4;
  CHECK(rocAuc(y, s) == 1.0);
}

TEST_CASE("rocAuc: bad input", "[metrics][auc]") {
  Eigen::VectorXd y(3), s(3);
  y << 1, 1, 1;
  s << 0.1, 0.2, 0.3;
  CHECK_THROWS_WITH(rocAuc(y, s), Catch::Contains("both classes"));
  y << 0, 1, 2;
  CHECK_THROWS_WITH(rocAuc(y, s), Catch::Contains("labels[2] expected 0, 1 or -1, got 2"));
  y << 0, std::nan(""), 1;
  CHECK_THROWS_AS(rocAuc(y, s), std::invalid_argument);
  y << 0, 1, 1;
  s(1) = std::nan("");
  CHECK_THROWS_WITH(rocAuc(y, s), Catch::Contains("scores[1] is NaN"));
  CHECK_THROWS_AS(rocAuc(y, Eigen::VectorXd(2)), std::invalid_argument);
  CHECK_THROWS_AS(rocAuc(Eigen::VectorXd(0), Eigen::VectorXd(0)), std::invalid_argument);
  s << 1, 2, 3;
  CHECK_THROWS_AS(rocAuc(y, s, {1.0, -1.0, 1.0}), std::invalid_argument);
  CHECK_THROWS_AS(rocAuc(y, s, {1.0}), std::invalid_argument);
}

TEST_CASE("logLoss: parity with scikit-learn including clipping and weights", "[metrics][logloss]") {
  const Fixture f("metrics/sklearn_metrics.txt");
  const Eigen::VectorXd y = f.vector("logloss_y"), p = f.vector("logloss_p");
  CHECK(logLoss(y, p) == Approx(f.scalar("logloss")).epsilon(1e-12));
  CHECK(logLoss(y, p, 1e-7) == Approx(f.scalar("logloss_eps1e-7")).epsilon(1e-12));
  CHECK(logLoss(y, p, -1, toStd(f.vector("logloss_w"))) == Approx(f.scalar("logloss_weighted")).epsilon(1e-12));
}

TEST_CASE("logLoss: one class is fine, bad input is not", "[metrics][logloss]") {
  Eigen::VectorXd y(2), p(2);
  y << 1, 1;
  p << 0.5, 0.25;
  CHECK(logLoss(y, p) == Approx((std::log(2.0) + std::log(4.0)) / 2));
  p << 0.5, 1.5;
  CHECK_THROWS_WITH(logLoss(y, p), Catch::Contains("probabilities[1] expected in [0, 1], got 1.5"));
  p << 0.5, std::nan("");
  CHECK_THROWS_AS(logLoss(y, p), std::invalid_argument);
  p << 0.5, 0.5;
  y << 1, 3;
  CHECK_THROWS_AS(logLoss(y, p), std::invalid_argument);
  y << 1, 0;
  CHECK_THROWS_AS(logLoss(y, p, 0.6), std::invalid_argument);
  CHECK_THROWS_AS(logLoss(y, p, -1, {0.0, 0.0}), std::invalid_argument);
}

TEMPLATE_TEST_CASE("logLoss and rocAuc: NaN or infinite labels are rejected", "[metrics][logloss]", float, double) {
  using S = TestType;
  Vector<S> y(3), p(3);
  p << S(0.2), S(0.7), S(0.9);
  for (const S bad : {std::numeric_limits<S>::quiet_NaN(), std::numeric_limits<S>::infinity(),
                      -std::numeric_limits<S>::infinity()}) {
    INFO(bad);
    y << S(0), bad, S(1);
    CHECK_THROWS_WITH(logLoss(y, p), Catch::Contains("logLoss: labels[1] expected 0, 1 or -1"));
    CHECK_THROWS_WITH(rocAuc(y, p), Catch::Contains("rocAuc: labels[1] expected 0, 1 or -1"));
    y << bad, S(0), S(1);  // also when it comes first, before any loss is summed
    CHECK_THROWS_AS(logLoss(y, p), std::invalid_argument);
  }
}

TEMPLATE_TEST_CASE("regression metrics: NaN truth or prediction is rejected", "[metrics][regression]", float,
                   double) {
  using S = TestType;
  Vector<S> t(3), p(3);
  t << S(1), S(2), S(3);
  p << S(1.5), S(2), S(2);
  CHECK(meanSquaredError(t, p) == Approx((0.25 + 0 + 1) / 3.0));
  Vector<S> badTruth = t, badPred = p;
  badTruth(2) = std::numeric_limits<S>::quiet_NaN();
  badPred(0) = std::numeric_limits<S>::quiet_NaN();
  CHECK_THROWS_WITH(meanSquaredError(badTruth, p), Catch::Contains("meanSquaredError: truth[2] is NaN"));
  CHECK_THROWS_WITH(meanAbsoluteError(badTruth, p), Catch::Contains("meanAbsoluteError: truth[2] is NaN"));
  CHECK_THROWS_WITH(rootMeanSquaredError(badTruth, p), Catch::Contains("rootMeanSquaredError: truth[2] is NaN"));
  CHECK_THROWS_WITH(meanSquaredError(t, badPred), Catch::Contains("meanSquaredError: predicted[0] is NaN"));
  CHECK_THROWS_WITH(meanAbsoluteError(t, badPred), Catch::Contains("meanAbsoluteError: predicted[0] is NaN"));
  CHECK_THROWS_WITH(rootMeanSquaredError(t, badPred), Catch::Contains("rootMeanSquaredError: predicted[0] is NaN"));
}

TEST_CASE("regression metrics: parity with scikit-learn", "[metrics][regression]") {
  const Fixture f("metrics/sklearn_metrics.txt");
  const Eigen::VectorXd t = f.vector("reg_t"), p = f.vector("reg_p");
  CHECK(meanSquaredError(t, p) == Approx(f.scalar("reg_mse")).epsilon(1e-12));
  CHECK(meanAbsoluteError(t, p) == Approx(f.scalar("reg_mae")).epsilon(1e-12));
  CHECK(rootMeanSquaredError(t, p) == Approx(std::sqrt(f.scalar("reg_mse"))).epsilon(1e-12));
  CHECK_THROWS_AS(meanSquaredError(t, Eigen::VectorXd(3)), std::invalid_argument);
  CHECK_THROWS_AS(meanAbsoluteError(Eigen::VectorXd(0), Eigen::VectorXd(0)), std::invalid_argument);
  Eigen::VectorXd bad = p;
  bad(4) = std::nan("");
  CHECK_THROWS_AS(rootMeanSquaredError(t, bad), std::invalid_argument);
}

TEST_CASE("ndcgScore: parity with scikit-learn (graded, ties, k)", "[metrics][ndcg]") {
  const Fixture f("metrics/sklearn_metrics.txt");
  const Eigen::MatrixXd rel = f.matrix("ndcg_rel"), score = f.matrix("ndcg_score");
  REQUIRE(rel.rows() == 12);  // labels
  REQUIRE(rel.cols() == 7);   // samples
  for (int k : {0, 1, 3, 5, 12}) {
    INFO("k = " << k);
    CHECK(ndcgScore(rel, score, k) == Approx(f.scalar("ndcg_k" + std::to_string(k))).epsilon(1e-12));
  }
  EIGENREC_REQUIRE_CLOSE(ndcgSampleScores(rel, score, 5), f.vector("ndcg_samples_k5"), 1e-12, 0.0);
  CHECK_THROWS_AS(ndcgScore(rel, Eigen::MatrixXd(3, 3)), std::invalid_argument);
  Eigen::MatrixXd negative = rel;
  negative(0, 0) = -1;
  CHECK_THROWS_AS(ndcgScore(negative, score), std::invalid_argument);
  CHECK_THROWS_AS(ndcgScore(Eigen::MatrixXd(1, 3), Eigen::MatrixXd(1, 3)), std::invalid_argument);
}

TEST_CASE("list metrics: worked by hand", "[metrics][ranking]") {
  // Relevant {2, 5, 9}; recommended [5, 1, 9, 4]; K = 3.
  const ItemList rec = {5, 1, 9, 4}, rel = {9, 2, 5, 5};
  const ListMetrics m = listMetrics(rec, rel, 3);
  CHECK(m.hits == 2);
  CHECK(m.precision == Approx(2.0 / 3));
  CHECK(m.recall == Approx(2.0 / 3));
  CHECK(m.hitRate == 1.0);
  CHECK(m.reciprocalRank == 1.0);
  const double dcg = 1.0 + 1.0 / std::log2(4.0);
  const double idcg = 1.0 + 1.0 / std::log2(3.0) + 1.0 / std::log2(4.0);
  CHECK(m.ndcg == Approx(dcg / idcg));
  CHECK(precisionAtK(rec, rel, 1) == 1.0);
  CHECK(recallAtK(rec, rel, 10) == Approx(2.0 / 3));
  CHECK(reciprocalRankAtK({1, 4, 9}, rel, 3) == Approx(1.0 / 3));
  CHECK(hitRateAtK({1, 4}, rel, 2) == 0.0);
  CHECK(ndcgAtK({}, rel, 5) == 0.0);
  // A short list is not padded: precision still divides by K.
  CHECK(precisionAtK({9}, rel, 4) == Approx(0.25));
}

TEST_CASE("list metrics: bad input", "[metrics][ranking]") {
  CHECK_THROWS_AS(listMetrics({1, 2}, {1}, 0), std::invalid_argument);
  CHECK_THROWS_AS(listMetrics({1, 2}, {1}, -3), std::invalid_argument);
  CHECK_THROWS_AS(listMetrics({1, 2}, {}, 2), std::invalid_argument);
  CHECK_THROWS_WITH(listMetrics({1, 1}, {1}, 2), Catch::Contains("repeats item 1 at rank 2"));
  CHECK_THROWS_AS(listMetrics({-1}, {1}, 2), std::invalid_argument);
  CHECK_THROWS_AS(listMetrics({1}, {-1}, 2), std::invalid_argument);
}

TEST_CASE("evaluateRanking, coverage and popularity", "[metrics][ranking]") {
  const std::vector<ItemList> rec = {{0, 1}, {2, 3}, {0, 4}};
  const std::vector<ItemList> rel = {{1}, {}, {5, 4, 0}};
  const RankingReport r = evaluateRanking(rec, rel, 2);
  CHECK(r.users == 2);
  CHECK(r.skippedUsers == 1);
  CHECK(r.precision == Approx((0.5 + 1.0) / 2));
  CHECK(r.recall == Approx((1.0 + 2.0 / 3) / 2));
  CHECK(r.hitRate == 1.0);
  CHECK(r.mrr == Approx((0.5 + 1.0) / 2));
  CHECK(r.microPrecision == Approx(3.0 / 4));
  CHECK(r.microRecall == Approx(3.0 / 4));
  CHECK_THROWS_AS(evaluateRanking(rec, {{1}}, 2), std::invalid_argument);
  CHECK_THROWS_AS(evaluateRanking(rec, {{}, {}, {}}, 2), std::invalid_argument);

  CHECK(catalogueCoverage(rec, 10) == Approx(0.5));
  CHECK(catalogueCoverage(rec, 10, 1) == Approx(0.2));
  CHECK_THROWS_AS(catalogueCoverage(rec, 4), std::invalid_argument);
  CHECK_THROWS_AS(catalogueCoverage(rec, 0), std::invalid_argument);

  const std::vector<double> pop = {9, 1, 0, 3, 7};
  CHECK(meanPopularity(rec, pop, 1) == Approx((std::log(10.0) + std::log(1.0) + std::log(10.0)) / 3));
  CHECK(meanPopularity(rec, pop, -1, false) == Approx((9 + 1 + 0 + 3 + 9 + 7) / 6.0));
  CHECK_THROWS_AS(meanPopularity({{5}}, pop), std::invalid_argument);
  CHECK_THROWS_AS(meanPopularity({{}}, pop), std::invalid_argument);
}

TEST_CASE("coverage and popularity: k = 0 is rejected, as the @K metrics do", "[metrics][ranking]") {
  const std::vector<ItemList> rec = {{0, 1}, {2, 3}, {0, 4}};
  const std::vector<double> pop = {9, 1, 0, 3, 7};
  // Every cut-off metric refuses k = 0 rather than scoring an empty list.
  CHECK_THROWS_WITH(listMetrics({0, 1}, {1}, 0), Catch::Contains("listMetrics: k expected > 0, got 0"));
  CHECK_THROWS_AS(evaluateRanking(rec, {{1}, {2}, {4}}, 0), std::invalid_argument);
  CHECK_THROWS_WITH(catalogueCoverage(rec, 10, 0), Catch::Contains("catalogueCoverage: k expected > 0"));
  CHECK_THROWS_WITH(meanPopularity(rec, pop, 0), Catch::Contains("meanPopularity: k expected > 0"));
  CHECK_THROWS_WITH(meanPopularity(rec, pop, 0, false), Catch::Contains("meanPopularity: k expected > 0"));
  // k < 0 keeps its documented meaning (whole lists), and k = 1 cuts every list.
  CHECK(catalogueCoverage(rec, 10, -1) == catalogueCoverage(rec, 10));
  CHECK(catalogueCoverage(rec, 10, -7) == Approx(0.5));
  CHECK(catalogueCoverage(rec, 10, 1) == Approx(0.2));
  CHECK(meanPopularity(rec, pop, -1, false) == meanPopularity(rec, pop, 100, false));
}

TEST_CASE("spearman: average ranks for ties, as scipy", "[metrics][correlation]") {
  // scipy.stats.spearmanr([1, 2, 2, 3], [1, 3, 2, 4]) = 0.9486832980505138 (ranks
  // [1, 2.5, 2.5, 4] vs [1, 3, 2, 4], Pearson worked by hand: 4.5 / sqrt(4.5 * 5)).
  CHECK(spearman({1, 2, 2, 3}, {1, 3, 2, 4}) == Approx(4.5 / std::sqrt(4.5 * 5.0)));
  CHECK(spearman({1, 2, 3}, {30, 20, 10}) == Approx(-1.0));
  CHECK(std::isnan(spearman({1, 1, 1}, {1, 2, 3})));
  CHECK_THROWS_AS(spearman({1}, {1}), std::invalid_argument);
  CHECK_THROWS_AS(spearman({1, 2}, {1}), std::invalid_argument);
}

TEST_CASE("pearson: worked by hand, constant samples, bad input", "[metrics][correlation]") {
  // x = 1,2,3,4 and y = 2,4,5,9: deviations (-1.5,-0.5,0.5,1.5) and (-3,-1,0,4), so
  // sxy = 11, sxx = 5, syy = 26.
  CHECK(pearson({1, 2, 3, 4}, {2, 4, 5, 9}) == Approx(11 / std::sqrt(5.0 * 26.0)));
  CHECK(std::isnan(pearson({2, 2}, {1, 3})));
  CHECK_THROWS_AS(pearson({1, 2, 3}, {1, 2}), std::invalid_argument);
  const auto r = averageRanks({10, 30, 20, 30});
  CHECK(r == std::vector<double>{1, 3.5, 2, 3.5});
}

TEST_CASE("correlations: NaN inputs are rejected, infinities only where they have no rank", "[metrics][correlation]") {
  const double nan = std::numeric_limits<double>::quiet_NaN(), inf = std::numeric_limits<double>::infinity();
  CHECK_THROWS_WITH(pearson({1, nan, 3}, {1, 2, 3}), Catch::Contains("pearson: x[1] expected a finite number"));
  CHECK_THROWS_WITH(pearson({1, 2, 3}, {1, 2, nan}), Catch::Contains("pearson: y[2] expected a finite number"));
  CHECK_THROWS_AS(pearson({1, 2, inf}, {1, 2, 3}), std::invalid_argument);
  CHECK_THROWS_WITH(spearman({nan, 2, 3}, {1, 2, 3}), Catch::Contains("spearman: x[0] is NaN"));
  CHECK_THROWS_WITH(spearman({1, 2, 3}, {3, nan, 1}), Catch::Contains("spearman: y[1] is NaN"));
  CHECK_THROWS_WITH(averageRanks({3, nan, 1}), Catch::Contains("averageRanks: x[1] is NaN"));
  // Many NaNs among many values: still a clear error, never an invalid ordering for the sort.
  std::vector<double> x(200), y(200);
  for (std::size_t i = 0; i < x.size(); ++i) {
    x[i] = i % 3 == 0 ? nan : static_cast<double>(i % 17);
    y[i] = static_cast<double>(i);
  }
  CHECK_THROWS_AS(spearman(x, y), std::invalid_argument);
  CHECK_THROWS_AS(averageRanks(x), std::invalid_argument);
  // Infinities are ordered, so they rank: Spearman is defined, as scipy's.
  CHECK(averageRanks({inf, -inf, 0}) == std::vector<double>{3, 1, 2});
  CHECK(spearman({-inf, 0, inf}, {1, 2, 3}) == Approx(1.0));
}

// Tests of the sparse top-K similarities: hand-computed values on the 4-user graph of
// "Recommender Systems Practice", a NumPy fixture, and a dense reference on random
// matrices (every measure, shrinkage, min support, normalisation, K pruning, threads).
#include <catch2/catch.hpp>
#include <eigenrec/cf.hpp>
#include <eigenrec/core/random.hpp>
#include <support/fixtures.hpp>

#include <algorithm>
#include <cmath>
#include <limits>
#include <map>
#include <string>
#include <vector>

using namespace eigenrec;
using namespace eigenrec::cf;
using eigenrec::test::Fixture;

namespace {

// The book's example: A{a,b,d}, B{a,c}, C{b,e}, D{c,d,e}.
template <typename Scalar>
InteractionMatrix<Scalar> bookGraph() {
  InteractionLog log;
  for (const char* p : {"Aa", "Ab", "Bc", "Ad", "Ba", "Ce", "Cb", "Dc", "Dd", "De"}) {
    log.add(std::string(1, p[0]), std::string(1, p[1]));
  }
  return InteractionMatrix<Scalar>::fromLog(log);
}

template <typename Scalar>
Matrix<double> denseGraph(const NeighbourGraph<Scalar>& g) {
  return Matrix<Scalar>(g.toSparse()).template cast<double>();
}

SimilarityOptions opts(Measure m, Index k = 100) {
  SimilarityOptions o;
  o.measure = m;
  o.k = k;
  return o;
}

// Straightforward dense reference: rows of R (entities x features) with mask M.
struct DenseRef {
  Matrix<double> sim;      // diagonal 0, 0 where no support
  Matrix<double> support;  // common features
};

DenseRef denseReference(const Matrix<double>& R, const Eigen::Matrix<bool, -1, -1>& M, const SimilarityOptions& o) {
  const Index n = R.rows(), f = R.cols();
  Vector<double> cnt(n), norm(n), fcnt(f), fmean(f);
  for (Index a = 0; a < n; ++a) {
    cnt(a) = 0;
    norm(a) = 0;
    for (Index j = 0; j < f; ++j) {
      if (M(a, j)) {
        cnt(a) += 1;
        norm(a) += R(a, j) * R(a, j);
      }
    }
    norm(a) = std::sqrt(norm(a));
  }
  for (Index j = 0; j < f; ++j) {
    fcnt(j) = 0;
    fmean(j) = 0;
    for (Index a = 0; a < n; ++a) {
      if (M(a, j)) {
        fcnt(j) += 1;
        fmean(j) += R(a, j);
      }
    }
    if (fcnt(j) > 0) fmean(j) /= fcnt(j);
  }
  DenseRef ref{Matrix<double>::Zero(n, n), Matrix<double>::Zero(n, n)};
  for (Index a = 0; a < n; ++a) {
    for (Index b = 0; b < n; ++b) {
      if (a == b) continue;
      std::vector<double> xa, xb, w;
      double dot = 0;
      for (Index j = 0; j < f; ++j) {
        if (M(a, j) && M(b, j)) {
          xa.push_back(R(a, j));
          xb.push_back(R(b, j));
          w.push_back(1.0 / std::log(1.0 + fcnt(j)));
        }
        if (M(a, j) && M(b, j)) dot += R(a, j) * R(b, j);
      }
      const double k = static_cast<double>(xa.size());
      if (k == 0) continue;
      double s = 0;
      switch (o.measure) {
        case Measure::cosine: s = k / std::sqrt(cnt(a) * cnt(b)); break;
        case Measure::weightedCosine: s = dot / (norm(a) * norm(b)); break;
        case Measure::jaccard: s = k / (cnt(a) + cnt(b) - k); break;
        case Measure::conditionalProbability: s = k / (cnt(a) * std::pow(cnt(b), o.alpha)); break;
        case Measure::inverseFrequency: {
          double t = 0;
          for (double x : w) t += x;
          s = t / std::sqrt(cnt(a) * cnt(b));
          break;
        }
        case Measure::coratedCosine:
        case Measure::adjustedCosine: {
          double ab = 0, aa = 0, bb = 0;
          std::size_t q = 0;
          for (Index j = 0; j < f; ++j) {
            if (!(M(a, j) && M(b, j))) continue;
            const double c = o.measure == Measure::adjustedCosine ? fmean(j) : 0.0;
            ab += (xa[q] - c) * (xb[q] - c);
            aa += (xa[q] - c) * (xa[q] - c);
            bb += (xb[q] - c) * (xb[q] - c);
            ++q;
          }
          s = aa * bb > 0 ? ab / std::sqrt(aa * bb) : 0.0;
          break;
        }
        case Measure::pearson: {
          double ma = 0, mb = 0;
          for (std::size_t q = 0; q < xa.size(); ++q) {
            ma += xa[q] / k;
            mb += xb[q] / k;
          }
          double ab = 0, aa = 0, bb = 0;
          for (std::size_t q = 0; q < xa.size(); ++q) {
            ab += (xa[q] - ma) * (xb[q] - mb);
            aa += (xa[q] - ma) * (xa[q] - ma);
            bb += (xb[q] - mb) * (xb[q] - mb);
          }
          s = (aa > 1e-12 && bb > 1e-12) ? ab / std::sqrt(aa * bb) : 0.0;
          break;
        }
        case Measure::msd: {
          double sq = 0;
          for (std::size_t q = 0; q < xa.size(); ++q) sq += (xa[q] - xb[q]) * (xa[q] - xb[q]);
          s = 1.0 / (sq / k + 1.0);
          break;
        }
      }
      if (o.shrinkage > 0) s *= k / (k + o.shrinkage);
      ref.sim(a, b) = s;
      ref.support(a, b) = k;
    }
  }
  return ref;
}

// Checks a graph against the dense reference: every kept value equals the reference,
// and each row holds the reference's top-K values (ties may pick other indices).
template <typename Scalar>
void checkAgainstReference(const NeighbourGraph<Scalar>& g, const DenseRef& ref, const SimilarityOptions& o, double tol) {
  REQUIRE(g.rows() == ref.sim.rows());
  for (Index a = 0; a < g.rows(); ++a) {
    std::vector<std::pair<double, Index>> expected;
    for (Index b = 0; b < ref.sim.rows(); ++b) {
      if (b != a && ref.support(a, b) >= static_cast<double>(std::max<Index>(o.minSupport, 1))) {
        expected.emplace_back(ref.sim(a, b), b);
      }
    }
    std::sort(expected.begin(), expected.end(), [](const auto& x, const auto& y) {
      return x.first > y.first || (x.first == y.first && x.second < y.second);
    });
    if (static_cast<Index>(expected.size()) > o.k) expected.resize(static_cast<std::size_t>(o.k));
    double top = expected.empty() ? 0.0 : expected.front().first;
    const bool norm = o.normalize && top > 0;
    const auto row = g.row(a);
    INFO("row " << a << " measure " << measureName(o.measure));
    REQUIRE(row.size == static_cast<Index>(expected.size()));
    for (Index p = 0; p < row.size; ++p) {
      const double want = norm ? expected[static_cast<std::size_t>(p)].first / top : expected[static_cast<std::size_t>(p)].first;
      CHECK(static_cast<double>(row.similarities[p]) == Approx(want).margin(tol).epsilon(tol));
      const double direct = ref.sim(a, row.neighbours[p]) / (norm ? top : 1.0);
      CHECK(static_cast<double>(row.similarities[p]) == Approx(direct).margin(tol).epsilon(tol));
      if (p > 0) CHECK(row.similarities[p] <= row.similarities[p - 1]);
    }
  }
}

const std::vector<Measure> kAllMeasures = {Measure::cosine,           Measure::weightedCosine, Measure::jaccard,
                                           Measure::conditionalProbability, Measure::inverseFrequency,
                                           Measure::coratedCosine,    Measure::adjustedCosine, Measure::pearson,
                                           Measure::msd};

}  // namespace

TEMPLATE_TEST_CASE("similarity: hand-computed values on the book's 4-user graph", "[cf][similarity]", float, double) {
  const auto data = bookGraph<TestType>();  // users A..D = 0..3, items a..e = 0..4
  const double tol = std::is_same_v<TestType, float> ? 1e-6 : 1e-12;
  const double r6 = 1.0 / std::sqrt(6.0);

  SECTION("UserCF cosine: w_AB = w_AC = 1/sqrt(6), w_AD = 1/3 (the book's numbers)") {
    const Matrix<double> w = denseGraph(userNeighbours(data, opts(Measure::cosine)));
    Matrix<double> e(4, 4);
    e << 0, r6, r6, 1.0 / 3, r6, 0, 0, r6, r6, 0, 0, r6, 1.0 / 3, r6, r6, 0;
    EIGENREC_REQUIRE_CLOSE(w, e, tol, tol);
  }
  SECTION("UserCF-IIF: every item has 2 users, so each common item weighs 1/ln 3") {
    const Matrix<double> w = denseGraph(userNeighbours(data, opts(Measure::inverseFrequency)));
    const double l3 = 1.0 / std::log(3.0);
    CHECK(w(0, 1) == Approx(l3 * r6).epsilon(tol));
    CHECK(w(0, 3) == Approx(l3 / 3).epsilon(tol));
    CHECK(w(1, 3) == Approx(l3 * r6).epsilon(tol));
    CHECK(w(1, 2) == 0);
  }
  SECTION("Jaccard and conditional probability (asymmetric)") {
    const Matrix<double> j = denseGraph(userNeighbours(data, opts(Measure::jaccard)));
    CHECK(j(0, 1) == Approx(1.0 / 4).epsilon(tol));  // |{a}| / |{a,b,c,d}|
    CHECK(j(0, 3) == Approx(1.0 / 5).epsilon(tol));  // |{d}| / |{a,b,c,d,e}|
    SimilarityOptions o = opts(Measure::conditionalProbability);
    o.alpha = 0.5;
    const Matrix<double> c = denseGraph(userNeighbours(data, o));
    CHECK(c(0, 1) == Approx(1.0 / (3 * std::sqrt(2.0))).epsilon(tol));  // n_AB / (|N(A)| |N(B)|^0.5)
    CHECK(c(1, 0) == Approx(1.0 / (2 * std::sqrt(3.0))).epsilon(tol));
    o.alpha = 0;  // plain conditional probability P(b | a)
    CHECK(denseGraph(userNeighbours(data, o))(1, 0) == Approx(0.5).epsilon(tol));
  }
  SECTION("ItemCF cosine and ItemCF-IUF: the pair seen by a 2-item user weighs more") {
    const Matrix<double> c = denseGraph(itemNeighbours(data, opts(Measure::cosine)));
    CHECK(c(0, 1) == Approx(0.5).epsilon(tol));  // a, b: user A; |N(a)| = |N(b)| = 2
    CHECK(c(0, 2) == Approx(0.5).epsilon(tol));  // a, c: user B
    CHECK(c(0, 4) == 0);
    const Matrix<double> iuf = denseGraph(itemNeighbours(data, opts(Measure::inverseFrequency)));
    CHECK(iuf(0, 1) == Approx(1.0 / std::log(4.0) / 2).epsilon(tol));  // via A, |N(A)| = 3
    CHECK(iuf(0, 2) == Approx(1.0 / std::log(3.0) / 2).epsilon(tol));  // via B, |N(B)| = 2
    CHECK(iuf(2, 0) == Approx(iuf(0, 2)).epsilon(tol));
  }
  SECTION("ItemCF-Norm divides each row by its maximum") {
    SimilarityOptions o = opts(Measure::inverseFrequency);
    o.normalize = true;
    const Matrix<double> n = denseGraph(itemNeighbours(data, o));
    // row a: neighbours b, d (via A: 1/(2 ln 4)) and c (via B: 1/(2 ln 3), the maximum)
    CHECK(n(0, 2) == Approx(1.0).epsilon(tol));
    CHECK(n(0, 1) == Approx(std::log(3.0) / std::log(4.0)).epsilon(tol));
    SimilarityOptions u = opts(Measure::cosine);
    u.normalize = true;
    const Matrix<double> un = denseGraph(userNeighbours(data, u));
    CHECK(un(0, 3) == Approx(std::sqrt(6.0) / 3).epsilon(tol));
  }
  SECTION("top-K keeps the K largest, ties broken by smaller index, sorted") {
    const auto g = userNeighbours(data, opts(Measure::cosine, 1));
    CHECK(g.row(0).size == 1);
    CHECK(g.row(0).neighbours[0] == 1);  // B and C tie at 1/sqrt(6): B has the smaller index
    const auto g2 = userNeighbours(data, opts(Measure::cosine, 2));
    CHECK(g2.row(3).neighbours[0] == 1);
    CHECK(g2.row(3).neighbours[1] == 2);
    CHECK(g2.nonZeros() == 8);  // A and D keep 2 of 3 candidates, B and C have exactly 2
  }
  SECTION("minimum support and shrinkage") {
    SimilarityOptions o = opts(Measure::cosine);
    o.minSupport = 2;
    CHECK(userNeighbours(data, o).nonZeros() == 0);  // every pair shares at most one item
    o.minSupport = 1;
    o.shrinkage = 3;
    CHECK(denseGraph(userNeighbours(data, o))(0, 3) == Approx(1.0 / 3 * 1.0 / 4).epsilon(tol));
  }
}

TEMPLATE_TEST_CASE("similarity: rating measures worked by hand", "[cf][similarity]", float, double) {
  //        i0 i1 i2 i3
  //   u0:   5  3  -  1
  //   u1:   4  -  -  1
  //   u2:   1  1  -  5
  //   u3:   -  1  5  4
  std::vector<Interaction> rec = {{0, 0, 5, 0}, {0, 1, 3, 0}, {0, 3, 1, 0}, {1, 0, 4, 0}, {1, 3, 1, 0},
                                  {2, 0, 1, 0}, {2, 1, 1, 0}, {2, 3, 5, 0}, {3, 1, 1, 0}, {3, 2, 5, 0},
                                  {3, 3, 4, 0}};
  BuildOptions b;
  b.feedback = Feedback::rating;
  const auto data = InteractionMatrix<TestType>::fromRecords(4, 4, rec, b);
  const double tol = std::is_same_v<TestType, float> ? 2e-6 : 1e-12;
  // u0, u2 co-rate i0, i1, i3: (5, 3, 1) and (1, 1, 5); means 3 and 7/3.
  const double num = 2 * (-4.0 / 3) + 0 + (-2) * (8.0 / 3);
  const double pearson = num / (std::sqrt(8.0) * std::sqrt(96.0 / 9));
  CHECK(denseGraph(userNeighbours(data, opts(Measure::pearson)))(0, 2) == Approx(pearson).epsilon(tol));
  CHECK(pearson == Approx(-0.8660254).epsilon(1e-6));
  // msd: squared differences 16, 4, 16 over 3 items -> 1 / (12 + 1).
  CHECK(denseGraph(userNeighbours(data, opts(Measure::msd)))(0, 2) == Approx(1.0 / 13).epsilon(tol));
  // Surprise's cosine over co-rated items: u0, u1 share i0, i3: (5,1).(4,1) / (|(5,1)| |(4,1)|).
  CHECK(denseGraph(userNeighbours(data, opts(Measure::coratedCosine)))(0, 1) ==
        Approx(21.0 / std::sqrt(26.0 * 17.0)).epsilon(tol));
  // weighted cosine uses the full vectors: u0.u1 = 21, |u0| = sqrt(35), |u1| = sqrt(17).
  CHECK(denseGraph(userNeighbours(data, opts(Measure::weightedCosine)))(0, 1) ==
        Approx(21.0 / std::sqrt(35.0 * 17.0)).epsilon(tol));
  // Adjusted cosine (ItemCF): centre by user means 3, 2.5, 7/3, 10/3; i0 and i3 co-rated by u0..u2.
  const double d0[3] = {2, 1.5, -4.0 / 3}, d3[3] = {-2, -1.5, 8.0 / 3};
  double ab = 0, aa = 0, bb = 0;
  for (int q = 0; q < 3; ++q) {
    ab += d0[q] * d3[q];
    aa += d0[q] * d0[q];
    bb += d3[q] * d3[q];
  }
  CHECK(denseGraph(itemNeighbours(data, opts(Measure::adjustedCosine)))(0, 3) ==
        Approx(ab / std::sqrt(aa * bb)).epsilon(tol));
  // Pearson with one common feature has zero variance: 0 (not NaN), as in Surprise.
  CHECK(denseGraph(userNeighbours(data, opts(Measure::pearson)))(1, 3) == 0);
}

TEMPLATE_TEST_CASE("similarity: parity with the NumPy reference for every measure", "[cf][similarity]", float,
                   double) {
  const Fixture f("cf/cf_reference.txt");
  const Matrix<double> R = f.matrix("ratings");
  std::vector<Interaction> rec;
  for (Index u = 0; u < R.rows(); ++u) {
    for (Index i = 0; i < R.cols(); ++i) {
      if (R(u, i) != 0) rec.push_back({u, i, R(u, i), 0});
    }
  }
  BuildOptions b;
  b.feedback = Feedback::rating;
  const auto data = InteractionMatrix<TestType>::fromRecords(R.rows(), R.cols(), rec, b);
  const double tol = std::is_same_v<TestType, float> ? 2e-6 : 1e-12;
  for (Measure m : kAllMeasures) {
    SimilarityOptions o = opts(m);
    o.alpha = f.scalar("alpha");
    INFO(measureName(m));
    const Matrix<double> users = denseGraph(userNeighbours(data, o));
    EIGENREC_REQUIRE_CLOSE(users, f.matrix(std::string("sim_") + measureName(m) + "_users"), tol, tol);
    const Matrix<double> items = denseGraph(itemNeighbours(data, o));
    EIGENREC_REQUIRE_CLOSE(items, f.matrix(std::string("sim_") + measureName(m) + "_items"), tol, tol);
  }
}

TEMPLATE_TEST_CASE("similarity: sparse top-K equals a dense reference on random matrices", "[cf][similarity]", float,
                   double) {
  Rng rng(7);
  const double tol = std::is_same_v<TestType, float> ? 5e-6 : 1e-11;
  for (int trial = 0; trial < 3; ++trial) {
    const Index users = 25 + trial * 7, items = 18 + trial * 5;
    Matrix<double> R = Matrix<double>::Zero(users, items);
    Eigen::Matrix<bool, -1, -1> M = Eigen::Matrix<bool, -1, -1>::Constant(users, items, false);
    std::vector<Interaction> rec;
    for (Index u = 0; u < users; ++u) {
      for (Index i = 0; i < items; ++i) {
        if (rng.bernoulli(0.25 + 0.05 * trial)) {
          M(u, i) = true;
          R(u, i) = trial == 2 ? static_cast<double>(1 + rng.uniformIndex(5)) : rng.uniform<double>(0.5, 3.0);
          R(u, i) = static_cast<double>(static_cast<TestType>(R(u, i)));
          rec.push_back({u, i, R(u, i), 0});
        }
      }
    }
    BuildOptions b;
    b.feedback = Feedback::rating;
    const auto data = InteractionMatrix<TestType>::fromRecords(users, items, rec, b);
    for (Measure m : kAllMeasures) {
      for (int variant = 0; variant < 3; ++variant) {
        SimilarityOptions o = opts(m, variant == 0 ? 1000 : 3 + variant);
        o.alpha = 0.7;
        o.shrinkage = variant == 2 ? 10.0 : 0.0;
        o.minSupport = variant == 2 ? 2 : 1;
        o.normalize = variant == 1;
        INFO("trial " << trial << " variant " << variant);
        // Pearson uses Surprise's one-pass formula n sum ab - sum a sum b, whose rounding
        // error grows when two co-rated vectors are nearly constant (continuous values);
        // the reference is two-pass. Integer ratings (trial 2) are exact.
        const double t = m == Measure::pearson && trial < 2 ? std::max(tol, 1e-8) : tol;
        checkAgainstReference(userNeighbours(data, o), denseReference(R, M, o), o, t);
        checkAgainstReference(itemNeighbours(data, o), denseReference(R.transpose(), M.transpose(), o), o, t);
      }
    }
  }
}

TEST_CASE("similarity: selectTop equals a full sort, with ties and non-candidates", "[cf][similarity]") {
  // The block bound of selectTop must never drop one of the k best: compare with sorting
  // every candidate, on scores with many ties (a few distinct values), -inf marks
  // (non-candidates) and both identity and explicit ids.
  Rng rng(5);
  std::vector<double> blockMax;
  std::vector<std::pair<double, Index>> got;
  for (int trial = 0; trial < 400; ++trial) {
    const auto m = static_cast<std::size_t>(rng.uniformIndex(trial < 200 ? 40 : 400));
    const Index levels = 1 + rng.uniformIndex(trial % 3 == 0 ? 3 : 50);
    const double holes = trial % 4 == 0 ? 0.0 : rng.uniform<double>(0.0, 0.9);
    std::vector<double> scores(m);
    std::vector<Index> ids(m);
    for (std::size_t i = 0; i < m; ++i) {
      scores[i] = rng.bernoulli(holes) ? -std::numeric_limits<double>::infinity()
                                       : static_cast<double>(rng.uniformIndex(levels)) - 3.0;
      ids[i] = static_cast<Index>(i);
    }
    const bool explicitIds = trial % 2 == 1;
    if (explicitIds) {
      for (std::size_t i = m; i > 1; --i) {
        std::swap(ids[i - 1], ids[static_cast<std::size_t>(rng.uniformIndex(static_cast<Index>(i)))]);
      }
    }
    const auto k = static_cast<std::size_t>(
        1 + rng.uniformIndex(static_cast<Index>(trial % 5 == 0 ? m + 3 : std::max<std::size_t>(m / 8, 1))));
    std::vector<std::pair<double, Index>> all;
    for (std::size_t i = 0; i < m; ++i) {
      if (scores[i] > -std::numeric_limits<double>::infinity()) all.emplace_back(scores[i], ids[i]);
    }
    std::sort(all.begin(), all.end(), cf::detail::ByScoreThenIndex());
    if (all.size() > k) all.resize(k);
    cf::detail::selectTop(scores.data(), explicitIds ? ids.data() : nullptr, m, k, blockMax, got);
    INFO("trial " << trial << " m " << m << " k " << k << " levels " << levels);
    REQUIRE(got == all);
  }
}

TEST_CASE("similarity: results do not depend on the thread count",
          "[cf][similarity][threads]") {
  Rng rng(11);
  std::vector<Interaction> rec;
  const Index users = 300, items = 120;
  for (Index u = 0; u < users; ++u) {
    const Index n = 1 + static_cast<Index>(rng.uniformIndex(25));
    for (Index j = 0; j < n; ++j) rec.push_back({u, static_cast<Index>(rng.uniformIndex(items)), 1.0 + rng.uniform<double>(), 0});
  }
  BuildOptions b;
  b.feedback = Feedback::weighted;
  const auto data = InteractionMatrix<float>::fromRecords(users, items, rec, b);
  for (Measure m : kAllMeasures) {
    SimilarityOptions o = opts(m, 10);
    o.shrinkage = m == Measure::jaccard ? 5.0 : 0.0;
    o.normalize = m == Measure::cosine;
    const auto one = itemNeighbours(data, o);
    const auto oneUsers = userNeighbours(data, o);
    for (int t : {2, 3, 0}) {
      INFO(measureName(m) << " threads " << t);
      o.threads = t;
      const auto many = itemNeighbours(data, o);
      CHECK(many.offsets() == one.offsets());
      CHECK(many.neighbours() == one.neighbours());
      CHECK(many.similarities() == one.similarities());
      CHECK(userNeighbours(data, o).similarities() == oneUsers.similarities());
      CHECK(userNeighbours(data, o).neighbours() == oneUsers.neighbours());
    }
  }
}

TEST_CASE("similarity: progress, options and bad input", "[cf][similarity]") {
  const auto data = bookGraph<float>();
  SimilarityOptions o;
  std::vector<Progress> reports;
  o.progress = [&](const Progress& p) { reports.push_back(p); };
  o.threads = 2;
  itemNeighbours(data, o);
  REQUIRE(!reports.empty());
  CHECK(reports.back().finished);
  CHECK(reports.back().done == 5);
  CHECK(reports.back().total == 5);

  CHECK(parseMeasure("iuf") == Measure::inverseFrequency);
  CHECK(parseMeasure("iif") == Measure::inverseFrequency);
  CHECK(parseMeasure("adjusted-cosine") == Measure::adjustedCosine);
  CHECK_THROWS_WITH(parseMeasure("cosinus"), Catch::Contains("got 'cosinus'"));

  SimilarityOptions bad;
  bad.k = 0;
  CHECK_THROWS_WITH(itemNeighbours(data, bad), "computeNeighbours: k expected > 0, got 0");
  bad = {};
  bad.alpha = 1.5;
  CHECK_THROWS_WITH(itemNeighbours(data, bad), Catch::Contains("alpha expected in [0, 1], got 1.5"));
  bad = {};
  bad.minSupport = 0;
  CHECK_THROWS_AS(itemNeighbours(data, bad), std::invalid_argument);
  bad = {};
  bad.shrinkage = -1;
  CHECK_THROWS_AS(itemNeighbours(data, bad), std::invalid_argument);
  bad = {};
  bad.threads = -1;
  CHECK_THROWS_AS(itemNeighbours(data, bad), std::invalid_argument);
  CHECK_THROWS_WITH(computeNeighbours(data.itemUsers(), data.itemUsers(), SimilarityOptions{}),
                    Catch::Contains("featuresByEntities expected the transpose"));

  // A graph with one row and no pairs, and the graph constructor's checks.
  const auto single = InteractionMatrix<float>::fromRecords(1, 1, {{0, 0, 1.0, 0}});
  CHECK(itemNeighbours(single, SimilarityOptions{}).nonZeros() == 0);
  CHECK_THROWS_AS(NeighbourGraph<float>({0, 1}, {0}, {0.5f}), std::invalid_argument);  // self loop
  CHECK_THROWS_AS(NeighbourGraph<float>({0, 2, 2}, {1, 1}, {0.5f, 0.4f}), std::invalid_argument);  // repeat
  CHECK_THROWS_AS(NeighbourGraph<float>({0, 1, 1}, {5}, {0.5f}), std::invalid_argument);  // out of range
  CHECK_THROWS_AS(NeighbourGraph<float>({0, 2, 1}, {1}, {0.5f}), std::invalid_argument);  // offsets
}

// Tests of ItemCF and UserCF: scores worked by hand, NumPy parity, explanations,
// filters and fallback, Surprise KNNBasic prediction, incremental updates, batch
// recommendation, save/load, evaluation and bad input.
#include <catch2/catch.hpp>
#include <eigenrec/cf.hpp>
#include <eigenrec/core/random.hpp>
#include <support/fixtures.hpp>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <sstream>
#include <string>
#include <vector>

using namespace eigenrec;
using namespace eigenrec::cf;
using eigenrec::test::Fixture;

namespace {

InteractionLog bookLog() {
  InteractionLog log;  // A{a,b,d}, B{a,c}, C{b,e}, D{c,d,e}
  for (const char* p : {"Aa", "Ab", "Bc", "Ad", "Ba", "Ce", "Cb", "Dc", "Dd", "De"}) {
    log.add(std::string(1, p[0]), std::string(1, p[1]));
  }
  return log;
}

SimilarityOptions opts(Measure m, Index k) {
  SimilarityOptions o;
  o.measure = m;
  o.k = k;
  return o;
}

std::vector<Index> itemList(const std::vector<Recommendation>& r) { return itemsOf(r); }

template <typename Scalar>
InteractionMatrix<Scalar> fromDense(const Matrix<double>& R, Feedback feedback) {
  std::vector<Interaction> rec;
  for (Index u = 0; u < R.rows(); ++u) {
    for (Index i = 0; i < R.cols(); ++i) {
      if (R(u, i) != 0) rec.push_back({u, i, R(u, i), 0});
    }
  }
  BuildOptions b;
  b.feedback = feedback;
  return InteractionMatrix<Scalar>::fromRecords(R.rows(), R.cols(), rec, b);
}

template <typename Model>
void checkExplanationsSum(const Model& model, Index user, Index n, double tol) {
  RecommendOptions ro;
  ro.explain = true;
  const auto recs = model.recommend(user, n, ro);
  const Vector<double> s = model.scores(user);
  for (const auto& r : recs) {
    double total = 0;
    for (const auto& c : r.explanation) {
      CHECK(c.contribution == Approx(c.similarity * c.value).epsilon(1e-12));
      total += c.contribution;
    }
    CHECK(total == Approx(r.score).margin(tol));
    CHECK(r.score == Approx(s(r.item)).margin(tol));
    const auto direct = model.explain(user, r.item);
    CHECK(direct.size() == r.explanation.size());
  }
}

}  // namespace

TEMPLATE_TEST_CASE("ItemCF and UserCF: scores worked by hand on the book's graph", "[cf][model]", float, double) {
  const auto data = InteractionMatrix<TestType>::fromLog(bookLog());
  const double tol = std::is_same_v<TestType, float> ? 1e-6 : 1e-12;
  const double r6 = 1.0 / std::sqrt(6.0);

  SECTION("UserCF: p(A, c) = w_AB + w_AD and p(A, e) = w_AC + w_AD (the book's 0.7416)") {
    UserCF<TestType> model(opts(Measure::cosine, 3));
    model.fit(data);
    const Vector<double> s = model.scores(model.userIndex("A"));
    CHECK(s(model.itemIndex("c")) == Approx(r6 + 1.0 / 3).epsilon(tol));
    CHECK(s(model.itemIndex("e")) == Approx(r6 + 1.0 / 3).epsilon(tol));
    const auto recs = model.recommend(model.userIndex("A"), 2);
    REQUIRE(recs.size() == 2);
    CHECK(model.itemName(recs[0].item) == "c");  // tie: smaller index first
    CHECK(model.itemName(recs[1].item) == "e");
    CHECK(!recs[0].fallback);
    checkExplanationsSum(model, 0, 5, tol);
    const auto why = model.explain(0, model.itemIndex("c"));
    REQUIRE(why.size() == 2);
    CHECK(model.userName(why[0].source) == "B");
    CHECK(why[0].similarity == Approx(r6).epsilon(tol));
    CHECK(model.userName(why[1].source) == "D");
    CHECK(why[1].contribution == Approx(1.0 / 3).epsilon(tol));
  }
  SECTION("UserCF with K = 1 uses only the nearest neighbour") {
    UserCF<TestType> model(opts(Measure::cosine, 1));
    model.fit(data);
    const Vector<double> s = model.scores(0);  // A's neighbour: B (1/sqrt(6), before C by index)
    CHECK(s(model.itemIndex("c")) == Approx(r6).epsilon(tol));
    CHECK(s(model.itemIndex("e")) == 0);
  }
  SECTION("ItemCF and ItemCF-IUF: p(A, c) = w_ac + w_dc") {
    ItemCF<TestType> model(opts(Measure::cosine, 10));
    model.fit(data);
    const Vector<double> s = model.scores(0);
    CHECK(s(model.itemIndex("c")) == Approx(1.0).epsilon(tol));
    CHECK(s(model.itemIndex("e")) == Approx(1.0).epsilon(tol));
    ItemCF<TestType> iuf(opts(Measure::inverseFrequency, 10));
    iuf.fit(data);
    const Vector<double> t = iuf.scores(iuf.userIndex("B"));  // B{a, c}
    // p(B, b) = w_ab (via A); p(B, d) = w_ad (via A) + w_cd (via D); p(B, e) = w_ce (via D)
    const double viaA = 1.0 / std::log(4.0) / 2, viaD = 1.0 / std::log(4.0) / 2;
    CHECK(t(iuf.itemIndex("b")) == Approx(viaA).epsilon(tol));
    CHECK(t(iuf.itemIndex("d")) == Approx(viaA + viaD).epsilon(tol));
    CHECK(t(iuf.itemIndex("e")) == Approx(viaD).epsilon(tol));
    checkExplanationsSum(iuf, 1, 5, tol);
    const auto why = iuf.explain(1, iuf.itemIndex("d"));
    REQUIRE(why.size() == 2);
    CHECK(iuf.itemName(why[0].source) == "a");
    CHECK(iuf.itemName(why[1].source) == "c");
  }
  SECTION("explicit ratings weight the sum: p(u, j) = sum w_ij r_ui") {
    InteractionLog log = bookLog();
    log.records()[0].value = 4;  // A rates a 4
    BuildOptions b;
    b.feedback = Feedback::rating;
    ItemCF<TestType> model(opts(Measure::cosine, 10));
    model.fit(InteractionMatrix<TestType>::fromLog(log, b));
    // p(A, c) = w_ac * 4 + w_dc * 1 = 0.5 * 4 + 0.5
    CHECK(model.scores(0)(model.itemIndex("c")) == Approx(2.5).epsilon(tol));
  }
}

TEST_CASE("ItemCF candidate neighbourhood: p(u, j) sums the user's items among S(j, K)", "[cf][model]") {
  NeighbourhoodOptions o = opts(Measure::cosine, 1);
  o.neighbourhood = ItemNeighbourhood::candidate;
  ItemCF<double> model(o);
  model.fit(InteractionMatrix<double>::fromLog(bookLog()));
  // Top-1 rows: a->b, b->a, c->a, d->a, e->b. B{a, c}: b and d have a as nearest item,
  // e has b (not B's), so p(B, b) = w_ba, p(B, d) = w_da, p(B, e) = 0.
  const Vector<double> s = model.scores(model.userIndex("B"));
  CHECK(s(model.itemIndex("b")) == Approx(0.5));
  CHECK(s(model.itemIndex("d")) == Approx(0.5));
  CHECK(s(model.itemIndex("e")) == 0);
  const auto why = model.explain(model.userIndex("B"), model.itemIndex("d"));
  REQUIRE(why.size() == 1);
  CHECK(model.itemName(why[0].source) == "a");
  // The default (user items) differs: B's items a, c add their own nearest (b; a).
  ItemCF<double> byItems(opts(Measure::cosine, 1));
  byItems.fit(InteractionMatrix<double>::fromLog(bookLog()));
  CHECK(byItems.scores(model.userIndex("B"))(model.itemIndex("d")) == 0);
  // Saved and loaded with its mode.
  std::stringstream ss;
  model.save(ss);
  ItemCF<double> loaded;
  loaded.load(ss);
  CHECK(loaded.options().neighbourhood == ItemNeighbourhood::candidate);
  CHECK(loaded.scores(1) == model.scores(1));
}

TEST_CASE("recommend: fallback fills N, seen items, allow and deny lists", "[cf][model]") {
  ItemCF<float> model(opts(Measure::cosine, 1));
  model.fit(InteractionMatrix<float>::fromLog(bookLog()));
  const Index B = model.userIndex("B");
  // Top-1 rows: a->b, b->a, c->a, d->a, e->b; B{a, c} reaches b only (a is seen).
  auto recs = model.recommend(B, 3);
  REQUIRE(recs.size() == 3);
  CHECK(model.itemName(recs[0].item) == "b");
  CHECK(!recs[0].fallback);
  CHECK(recs[0].score == Approx(0.5));
  CHECK(model.itemName(recs[1].item) == "d");  // popularity ties (2 each): smaller index
  CHECK(recs[1].fallback);
  CHECK(recs[1].score == 0);
  CHECK(model.itemName(recs[2].item) == "e");
  CHECK(model.recommend(B, 10).size() == 3);  // only 3 unseen items exist

  RecommendOptions noFallback;
  noFallback.fallback = false;
  CHECK(model.recommend(B, 3, noFallback).size() == 1);  // implicit's behaviour

  RecommendOptions withSeen;
  withSeen.excludeSeen = false;
  recs = model.recommend(B, 5, withSeen);
  CHECK(recs.size() == 5);
  CHECK(model.itemName(recs[0].item) == "a");  // c -> a scores 0.5, a -> b 0.5: a first by index

  RecommendOptions allow;
  allow.allowItems = {model.itemIndex("e"), model.itemIndex("d"), model.itemIndex("e")};
  recs = model.recommend(B, 3, allow);
  REQUIRE(recs.size() == 2);
  CHECK(model.itemName(recs[0].item) == "d");
  CHECK(model.itemName(recs[1].item) == "e");

  RecommendOptions deny;
  deny.denyItems = {model.itemIndex("d")};
  CHECK(itemList(model.recommend(B, 3, deny)) == std::vector<Index>{model.itemIndex("b"), model.itemIndex("e")});

  // Cold start: an empty history gets the popularity order.
  const auto cold = model.recommendFromItems({}, 2);
  REQUIRE(cold.size() == 2);
  CHECK(cold[0].fallback);
  CHECK(cold[0].item == 0);
  // A query user behaves like a stored user with the same history.
  const auto q = model.recommendFromItems({{model.itemIndex("c"), 1.0f}, {model.itemIndex("a"), 1.0f}}, 3);
  CHECK(itemList(q) == itemList(model.recommend(B, 3)));
}

TEMPLATE_TEST_CASE("ItemCF / UserCF scores match the NumPy reference", "[cf][model]", float, double) {
  const Fixture f("cf/cf_reference.txt");
  const auto data = fromDense<TestType>(f.matrix("weights"), Feedback::weighted);
  const double tol = std::is_same_v<TestType, float> ? 2e-5 : 1e-10;
  for (Index K : {2, 4}) {
    ItemCF<TestType> item(opts(Measure::weightedCosine, K));
    item.fit(data);
    UserCF<TestType> user(opts(Measure::weightedCosine, K));
    user.fit(data);
    NeighbourhoodOptions candidateOptions = opts(Measure::weightedCosine, K);
    candidateOptions.neighbourhood = ItemNeighbourhood::candidate;
    ItemCF<TestType> candidate(candidateOptions);
    candidate.fit(data);
    const Matrix<double> wantCandidate = f.matrix("scores_itemcf_candidate_k" + std::to_string(K));
    const Matrix<double> wantItem = f.matrix("scores_itemcf_k" + std::to_string(K));
    const Matrix<double> wantUser = f.matrix("scores_usercf_k" + std::to_string(K));
    for (Index u = 0; u < data.users(); ++u) {
      EIGENREC_REQUIRE_CLOSE(item.scores(u), wantItem.row(u).transpose(), tol, tol);
      EIGENREC_REQUIRE_CLOSE(user.scores(u), wantUser.row(u).transpose(), tol, tol);
      EIGENREC_REQUIRE_CLOSE(candidate.scores(u), wantCandidate.row(u).transpose(), tol, tol);
      checkExplanationsSum(candidate, u, 6, tol);
      checkExplanationsSum(item, u, 6, tol);
      checkExplanationsSum(user, u, 6, tol);
    }
  }
}

TEMPLATE_TEST_CASE("predict: Surprise KNNBasic rules match the NumPy re-implementation", "[cf][model][knn]", float,
                   double) {
  const Fixture f("cf/cf_reference.txt");
  const Matrix<double> R = f.matrix("ratings");
  const auto data = fromDense<TestType>(R, Feedback::rating);
  const double tol = std::is_same_v<TestType, float> ? 1e-5 : 1e-10;
  const std::pair<const char*, Measure> sims[] = {
      {"cosine", Measure::coratedCosine}, {"msd", Measure::msd}, {"pearson", Measure::pearson}};
  for (const auto& [name, measure] : sims) {
    ItemCF<TestType> item(opts(measure, 5));
    item.fit(data);
    UserCF<TestType> user(opts(measure, 5));
    user.fit(data);
    for (const auto& [k, minK] : {std::pair<Index, Index>{3, 1}, {40, 1}, {3, 2}}) {
      PredictOptions po;
      po.k = k;
      po.minK = minK;
      const std::string suffix = std::string("_") + name + "_k" + std::to_string(k) + "_m" + std::to_string(minK);
      const Matrix<double> wantItems = f.matrix("knn_items" + suffix);
      const Matrix<double> wantUsers = f.matrix("knn_users" + suffix);
      // Pairs whose answer depends on the order of (numerically) equal similarities.
      const Matrix<double> ambiguousItems = f.matrix("knn_items" + suffix + "_ambiguous");
      const Matrix<double> ambiguousUsers = f.matrix("knn_users" + suffix + "_ambiguous");
      CHECK(ambiguousItems.sum() + ambiguousUsers.sum() < 10);
      Index impossible = 0;
      for (Index u = 0; u < R.rows(); ++u) {
        for (Index i = 0; i < R.cols(); ++i) {
          if (R(u, i) != 0) continue;
          INFO(suffix << " u " << u << " i " << i);
          const Prediction pi = item.predict(u, i, po);
          if (ambiguousItems(u, i) == 0) CHECK(pi.value == Approx(wantItems(u, i)).margin(tol));
          if (ambiguousUsers(u, i) == 0) CHECK(user.predict(u, i, po).value == Approx(wantUsers(u, i)).margin(tol));
          if (!pi.possible) {
            CHECK(pi.value == Approx(item.globalMean()));
            ++impossible;
          }
        }
      }
      if (minK == 2) CHECK(impossible > 0);  // the fixture exercises the global-mean fallback
    }
  }
  // A rated pair counts itself with similarity 1 (Surprise's diagonal).
  ItemCF<TestType> item(opts(Measure::msd, 5));
  item.fit(data);
  PredictOptions one;
  one.k = 1;
  CHECK(item.predict(0, 0, one).value == Approx(R(0, 0)));
  // predictAll equals predict, in parallel.
  std::vector<std::pair<Index, Index>> pairs;
  for (Index u = 0; u < R.rows(); ++u) {
    for (Index i = 0; i < R.cols(); ++i) pairs.emplace_back(u, i);
  }
  const auto all = item.predictAll(pairs, {}, 2);
  for (std::size_t p = 0; p < pairs.size(); ++p) {
    CHECK(all[p].value == item.predict(pairs[p].first, pairs[p].second).value);
  }
  CHECK_THROWS_AS(item.predict(0, R.cols()), std::invalid_argument);
  PredictOptions bad;
  bad.k = 0;
  CHECK_THROWS_WITH(item.predict(0, 0, bad), "ItemCF::predict: k expected > 0, got 0");
}

TEST_CASE("incremental update: ItemCF changes the user's list at once, without refitting", "[cf][model][update]") {
  ItemCF<double> model(opts(Measure::cosine, 10));
  model.fit(InteractionMatrix<double>::fromLog(bookLog()));
  const Index B = model.userIndex("B"), e = model.itemIndex("e");
  const Vector<double> before = model.scores(B);
  const std::vector<double> graphBefore = model.neighbours().similarities();
  model.addInteraction(B, e);
  const Vector<double> after = model.scores(B);
  // The new score vector adds e's neighbour row.
  Vector<double> expected = before;
  const auto row = model.neighbours().row(e);
  for (Index p = 0; p < row.size; ++p) expected(row.neighbours[p]) += row.similarities[p];
  EIGENREC_REQUIRE_CLOSE(after, expected, 1e-12, 1e-12);
  CHECK(model.neighbours().similarities() == graphBefore);
  for (const auto& r : model.recommend(B, 5)) CHECK(r.item != e);  // now seen
  CHECK(model.popularity()[static_cast<std::size_t>(e)] == 3);
  CHECK(model.recommendFromItems({}, 1)[0].item == e);  // e is now the most popular
  model.addInteraction(B, e);  // binary: a repeat changes nothing
  CHECK(model.popularity()[static_cast<std::size_t>(e)] == 3);
  // New users by id.
  model.addInteraction("Z", "b");
  CHECK(model.users() == 5);
  const Index Z = model.userIndex("Z");
  CHECK(model.history(Z).size == 1);
  CHECK(itemList(model.recommend(Z, 2)) == itemList(model.recommendFromItems({{model.itemIndex("b"), 1.0}}, 2)));
  CHECK_THROWS_WITH(model.addInteraction("Z", "nope"), Catch::Contains("unknown item 'nope'"));
  CHECK_THROWS_WITH(model.addInteraction(model.users(), 0), Catch::Contains("must be added by id"));
  CHECK_THROWS_AS(model.addInteraction(0, 99), std::invalid_argument);
  CHECK_THROWS_AS(model.addInteraction(0, 0, std::nan("")), std::invalid_argument);
}

TEST_CASE("incremental update: UserCF recomputes the user's neighbours (equals a refit for cosine)",
          "[cf][model][update]") {
  InteractionLog log = bookLog();
  UserCF<double> model(opts(Measure::cosine, 2));
  model.fit(InteractionMatrix<double>::fromLog(log));
  const Index B = model.userIndex("B");
  model.addInteraction(B, model.itemIndex("e"));
  // Other users' histories and counts are unchanged, so B's cosine row equals a refit's.
  log.add("B", "e");
  UserCF<double> refit(opts(Measure::cosine, 2));
  refit.fit(InteractionMatrix<double>::fromLog(log));
  EIGENREC_REQUIRE_CLOSE(model.scores(B), refit.scores(B), 1e-12, 1e-12);
  checkExplanationsSum(model, B, 5, 1e-12);
  // Weighted models sum repeats, rating models replace.
  BuildOptions w;
  w.feedback = Feedback::weighted;
  ItemCF<double> weighted(opts(Measure::cosine, 5));
  weighted.fit(InteractionMatrix<double>::fromLog(bookLog(), w));
  weighted.addInteraction(0, 0, 2.5);
  CHECK(weighted.history(0).values[0] == 3.5);
  CHECK_THROWS_AS(weighted.addInteraction(0, 0, -1.0), std::invalid_argument);
}

TEST_CASE("recommendAll: same lists as recommend, for any thread count", "[cf][model][threads]") {
  Rng rng(5);
  std::vector<Interaction> rec;
  const Index users = 200, items = 80;
  for (Index u = 0; u < users; ++u) {
    const Index n = 1 + static_cast<Index>(rng.uniformIndex(20));
    for (Index j = 0; j < n; ++j) {
      const auto i = static_cast<Index>(std::min<double>(items - 1, std::floor(items * std::pow(rng.uniform<double>(), 2.0))));
      rec.push_back({u, i, 1.0, 0});
    }
  }
  const auto data = InteractionMatrix<float>::fromRecords(users, items, rec);
  ItemCF<float> item(opts(Measure::inverseFrequency, 10));
  item.fit(data);
  UserCF<float> user(opts(Measure::inverseFrequency, 10));
  user.fit(data);
  RecommendOptions one, two;
  two.threads = 2;
  two.explain = one.explain = true;
  const auto a = item.recommendAll(10, one);
  const auto b = item.recommendAll(10, two);
  const auto c = user.recommendAll(10, two);
  for (Index u = 0; u < users; ++u) {
    const auto single = item.recommend(u, 10, one);
    REQUIRE(a[static_cast<std::size_t>(u)].size() == 10);
    CHECK(itemList(a[static_cast<std::size_t>(u)]) == itemList(single));
    CHECK(itemList(b[static_cast<std::size_t>(u)]) == itemList(single));
    for (std::size_t k = 0; k < single.size(); ++k) CHECK(b[static_cast<std::size_t>(u)][k].score == single[k].score);
    CHECK(itemList(c[static_cast<std::size_t>(u)]) == itemList(user.recommend(u, 10)));
  }
  // Fitting with 2 threads gives the same model.
  SimilarityOptions o = opts(Measure::inverseFrequency, 10);
  o.threads = 2;
  ItemCF<float> item2(o);
  item2.fit(data);
  CHECK(item2.neighbours().similarities() == item.neighbours().similarities());
}

namespace {

/// The top n of scores() by brute force: positive scores, seen and denied items out,
/// larger score first, then smaller index.
template <typename Model>
std::vector<std::pair<double, Index>> bruteTopN(const Model& model, Index user, Index n, const std::vector<Index>& deny,
                                                bool excludeSeen) {
  const Vector<double> s = model.scores(user);
  std::vector<std::uint8_t> out(static_cast<std::size_t>(s.size()), 0);
  for (Index i : deny) out[static_cast<std::size_t>(i)] = 1;
  if (excludeSeen) {
    const auto h = model.history(user);
    for (Index p = 0; p < h.size; ++p) out[static_cast<std::size_t>(h.items[p])] = 1;
  }
  std::vector<std::pair<double, Index>> c;
  for (Index i = 0; i < s.size(); ++i) {
    if (s(i) > 0 && !out[static_cast<std::size_t>(i)]) c.emplace_back(s(i), i);
  }
  std::sort(c.begin(), c.end(), [](const auto& a, const auto& b) {
    return a.first > b.first || (a.first == b.first && a.second < b.second);
  });
  if (static_cast<Index>(c.size()) > n) c.resize(static_cast<std::size_t>(n));
  return c;
}

template <typename Model>
void checkSelection(const Model& model, Index users, Index n) {
  for (bool excludeSeen : {true, false}) {
    for (const std::vector<Index>& deny : {std::vector<Index>{}, std::vector<Index>{0, 1, 2, 5, 8}}) {
      RecommendOptions ro;
      ro.fallback = false;
      ro.excludeSeen = excludeSeen;
      ro.denyItems = deny;
      for (Index u = 0; u < users; ++u) {
        const auto expected = bruteTopN(model, u, n, deny, excludeSeen);
        const auto got = model.recommend(u, n, ro);
        REQUIRE(got.size() == expected.size());
        for (std::size_t r = 0; r < got.size(); ++r) {
          CHECK(got[r].item == expected[r].second);
          CHECK(got[r].score == expected[r].first);  // same sums in the same order: exact
        }
      }
    }
  }
}

}  // namespace

TEST_CASE("recommend: top-N equals a brute-force selection from scores(), dense and sparse accumulation",
          "[cf][model]") {
  // Power-law items (many equal scores) and users from 1 to 60 items: short histories
  // take the sparse accumulation, long ones the dense scan of all items.
  Rng rng(11);
  std::vector<Interaction> rec;
  const Index users = 120, items = 300;
  for (Index u = 0; u < users; ++u) {
    const Index n = u % 3 == 0 ? 40 + static_cast<Index>(rng.uniformIndex(20)) : 1 + static_cast<Index>(rng.uniformIndex(4));
    for (Index j = 0; j < n; ++j) {
      const auto i = static_cast<Index>(std::min<double>(items - 1, std::floor(items * std::pow(rng.uniform<double>(), 2.5))));
      rec.push_back({u, i, 1.0, 0});
    }
  }
  const auto binary = InteractionMatrix<double>::fromRecords(users, items, rec);
  BuildOptions weighted;
  weighted.feedback = Feedback::weighted;
  for (auto& r : rec) r.value = 1 + static_cast<double>(rng.uniformIndex(3));
  const auto counts = InteractionMatrix<double>::fromRecords(users, items, rec, weighted);
  for (const auto* data : {&binary, &counts}) {
    for (Index k : {3, 25}) {
      ItemCF<double> item(opts(Measure::cosine, k));
      item.fit(*data);
      checkSelection(item, users, 10);
      UserCF<double> user(opts(Measure::cosine, k));
      user.fit(*data);
      checkSelection(user, users, 10);
    }
  }
}

TEMPLATE_TEST_CASE("save / load: round trip and rejection of bad files", "[cf][model][io]", float, double) {
  BuildOptions b;
  b.feedback = Feedback::rating;
  InteractionLog log = bookLog();
  for (auto& r : log.records()) r.value = 1.0 + static_cast<double>(r.item % 4);
  SimilarityOptions o = opts(Measure::pearson, 3);
  o.shrinkage = 2;
  o.normalize = true;
  ItemCF<TestType> model(o);
  model.fit(InteractionMatrix<TestType>::fromLog(log, b));
  model.addInteraction("A", "e", TestType(5));
  model.addInteraction("new", "a", TestType(2));
  std::stringstream ss;
  model.save(ss);
  const std::string bytes = ss.str();

  ItemCF<TestType> loaded;
  std::istringstream is(bytes);
  loaded.load(is);
  CHECK(loaded.users() == model.users());
  CHECK(loaded.options().measure == Measure::pearson);
  CHECK(loaded.options().normalize);
  CHECK(loaded.options().shrinkage == 2);
  CHECK(loaded.neighbours().similarities() == model.neighbours().similarities());
  CHECK(loaded.userIndex("new") == model.userIndex("new"));
  CHECK(loaded.popularity() == model.popularity());
  for (Index u = 0; u < model.users(); ++u) {
    CHECK(loaded.scores(u) == model.scores(u));
    CHECK(itemList(loaded.recommend(u, 3)) == itemList(model.recommend(u, 3)));
    for (Index i = 0; i < model.items(); ++i) CHECK(loaded.predict(u, i).value == model.predict(u, i).value);
  }

  const std::string path = std::string("cf_model_test_") + scalarName<TestType>() + ".bin";
  model.save(path);
  ItemCF<TestType> fromFile;
  fromFile.load(path);
  CHECK(fromFile.scores(0) == model.scores(0));
  std::remove(path.c_str());

  UserCF<TestType> wrongKind;
  std::istringstream k(bytes);
  CHECK_THROWS_WITH(wrongKind.load(k), Catch::Contains("archive holds 'cf.ItemCF', expected 'cf.UserCF'"));
  for (std::size_t cut : {std::size_t(5), bytes.size() / 2, bytes.size() - 1}) {
    std::istringstream t(bytes.substr(0, cut));
    CHECK_THROWS_AS(loaded.load(t), FormatError);
  }
  std::string corrupt = bytes;
  corrupt[bytes.size() / 2] = static_cast<char>(corrupt[bytes.size() / 2] ^ 0x5a);
  std::istringstream c(corrupt);
  CHECK_THROWS_AS(loaded.load(c), FormatError);
  CHECK(loaded.scores(0) == model.scores(0));  // a failed load leaves the model as it was
  using Other = std::conditional_t<std::is_same_v<TestType, float>, double, float>;
  ItemCF<Other> other;
  std::istringstream s2(bytes);
  CHECK_THROWS_AS(other.load(s2), FormatError);
  CHECK_THROWS_AS(other.load(std::string("/nonexistent/model.bin")), IoError);
}

TEST_CASE("evaluation: top-N report uses the metrics module; ratings report", "[cf][model][evaluation]") {
  Rng rng(3);
  InteractionLog log;
  for (int u = 0; u < 60; ++u) {
    for (int j = 0; j < 15; ++j) {
      const int i = static_cast<int>(std::floor(40 * std::pow(rng.uniform<double>(), 1.5)));
      log.add("u" + std::to_string(u), "i" + std::to_string(i), 1.0 + static_cast<double>(rng.uniformIndex(5)), j);
    }
  }
  const Split split = leaveLastOut(log, 3);
  const auto train = InteractionMatrix<float>::fromLog(split.train);
  ItemCF<float> model(opts(Measure::cosine, 10));
  model.fit(train);
  const auto relevant = relevantItems(split.test, model.users());
  const TopNReport report = evaluateTopN(model, relevant, 5);
  // Recompute with the metrics module directly.
  std::vector<metrics::ItemList> lists(relevant.size());
  std::vector<metrics::ItemList> shown;
  for (Index u = 0; u < model.users(); ++u) {
    if (relevant[static_cast<std::size_t>(u)].empty()) continue;
    lists[static_cast<std::size_t>(u)] = itemList(model.recommend(u, 5));
    shown.push_back(lists[static_cast<std::size_t>(u)]);
  }
  const auto ranking = metrics::evaluateRanking(lists, relevant, 5);
  CHECK(report.ranking.precision == ranking.precision);
  CHECK(report.ranking.recall == ranking.recall);
  CHECK(report.ranking.ndcg == ranking.ndcg);
  CHECK(report.coverage == metrics::catalogueCoverage(shown, model.items(), 5));
  std::vector<double> pop(model.popularity().begin(), model.popularity().end());
  CHECK(report.popularity == metrics::meanPopularity(shown, pop, 5));
  CHECK(report.ranking.users == 60);

  BuildOptions b;
  b.feedback = Feedback::rating;
  ItemCF<float> rating(opts(Measure::msd, 10));
  rating.fit(InteractionMatrix<float>::fromLog(split.train, b));
  const RatingReport rr = evaluateRatings(rating, split.test);
  CHECK(rr.count == split.test.size());
  CHECK(rr.rmse >= rr.mae);
  CHECK(rr.rmse > 0);
  CHECK(rr.rmse < 3);
  CHECK_THROWS_AS(evaluateTopN(model, relevant, 0), std::invalid_argument);
  CHECK_THROWS_AS(evaluateTopN(model, std::vector<metrics::ItemList>(3), 5), std::invalid_argument);
}

TEST_CASE("models: bad input", "[cf][model]") {
  ItemCF<float> model;
  CHECK_THROWS_WITH(model.recommend(0, 1), "ItemCF::recommend: the model is not fitted (call fit or load first)");
  CHECK_THROWS_WITH(model.fit(InteractionMatrix<float>()), "ItemCF::fit: data expected at least one interaction, got none");
  SimilarityOptions bad;
  bad.k = -3;
  CHECK_THROWS_WITH(UserCF<float>(bad), "UserCF::constructor: k expected > 0, got -3");
  model.fit(InteractionMatrix<float>::fromLog(bookLog()));
  CHECK_THROWS_WITH(model.recommend(4, 1), "ItemCF::recommend: user expected an index in [0, 4), got 4");
  CHECK_THROWS_WITH(model.recommend(0, 0), "ItemCF::recommend: n expected > 0, got 0");
  CHECK_THROWS_WITH(model.userIndex("Q"), "ItemCF::userIndex: unknown user 'Q'");
  RecommendOptions ro;
  ro.allowItems = {7};
  CHECK_THROWS_WITH(model.recommend(0, 1, ro), Catch::Contains("allowItems item expected an index in [0, 5), got 7"));
  ro = {};
  ro.denyItems = {-1};
  CHECK_THROWS_AS(model.recommend(0, 1, ro), std::invalid_argument);
  ro = {};
  ro.threads = -1;
  CHECK_THROWS_AS(model.recommendAll(1, ro), std::invalid_argument);
  CHECK_THROWS_AS(model.recommendAll({0, 9}, 1), std::invalid_argument);
  CHECK_THROWS_AS(model.recommendFromItems({{9, 1.0f}}, 1), std::invalid_argument);
  CHECK_THROWS_AS(model.explain(0, 5), std::invalid_argument);
  // K larger than the number of items keeps every neighbour (no error, no out-of-range).
  ItemCF<float> big(opts(Measure::cosine, 1000));
  big.fit(InteractionMatrix<float>::fromLog(bookLog()));
  CHECK(big.neighbours().nonZeros() == 16);
}

// FieldAwareFM: libffm's score and AdaGrad step worked by hand, the update order
// against a scalar transcription of libffm's loop, gradients against central
// differences, training, auto-stop, threads, on-disk training, save / load, bad input.
#include <catch2/catch.hpp>
#include <eigenrec/ctr/ffm.hpp>
#include <eigenrec/ctr/fm.hpp>
#include <eigenrec/ctr/synthetic.hpp>
#include <support/temp_path.hpp>

#include <cmath>
#include <filesystem>
#include <sstream>
#include <string>

using namespace eigenrec;
using namespace eigenrec::ctr;

namespace {

template <typename S>
SparseBatch<S> oneExample(S label, std::vector<std::int32_t> fields, std::vector<std::int32_t> features,
                          std::vector<S> values) {
  SparseBatch<S> b;
  b.addExample(label, fields, features, values);
  return b;
}

template <typename S>
std::string saved(const FieldAwareFM<S>& model) {
  std::ostringstream os;
  model.save(os);
  return os.str();
}

// The hand example of the score tests: three fields, one feature each.
template <typename S>
FieldAwareFM<S> handModel(bool normalize, bool bias = false, bool linear = false) {
  FfmOptions o;
  o.factors = 2;
  o.normalize = normalize;
  o.useBias = bias;
  o.useLinear = linear;
  FieldAwareFM<S> model(o);
  model.initialize(3, 3);
  auto set = [&](Index j, Index f, double a, double b) { model.latent(j, f) << S(a), S(b); };
  set(0, 1, 0.1, 0.2);
  set(1, 0, 0.3, -0.4);
  set(0, 2, 0.5, 0.6);
  set(2, 0, -0.7, 0.8);
  set(1, 2, 0.9, -1.0);
  set(2, 1, 1.1, 1.2);
  model.bias() = S(0.3);
  model.linear() << S(0.5), S(-1), S(2);
  return model;
}

// libffm's loop (ffm.cpp, wTx with do_update), written out coordinate by coordinate on
// an [n][m][k] layout with separate accumulators, with the association of its SSE
// build (kappa * v first).
template <typename S>
struct ReferenceFfm {
  Index n, m, k;
  std::vector<S> w, G;
  S& W(Index j, Index f, Index d) { return w[static_cast<std::size_t>((j * m + f) * k + d)]; }
  S& A(Index j, Index f, Index d) { return G[static_cast<std::size_t>((j * m + f) * k + d)]; }

  explicit ReferenceFfm(const FieldAwareFM<S>& model)
      : n(model.numFeatures()), m(model.numFields()), k(model.factors()),
        w(static_cast<std::size_t>(n * m * k)), G(w.size()) {
    for (Index j = 0; j < n; ++j) {
      for (Index f = 0; f < m; ++f) {
        for (Index d = 0; d < k; ++d) {
          W(j, f, d) = model.latent(j, f)(d);
          A(j, f, d) = model.accumulator(j, f)(d);
        }
      }
    }
  }

#if defined(__SSE__)
  // libffm's SSE build (USESSE, its default), one coordinate at a time: both sides are
  // loaded, then w1, w2, G1, G2 stored in that order, with w -= eta * (rsqrt(G) * g).
  // rsqrt is the CPU's rsqrtss.
  void updateSse(const SparseExample<S>& x, S r, S kappa, S eta, S lambda) {
    static_assert(std::is_same_v<S, float>);
    auto rsqrt = [](float v) { return _mm_cvtss_f32(_mm_rsqrt_ss(_mm_set_ss(v))); };
    for (Index a = 0; a < x.size; ++a) {
      const Index j1 = x.features[a], f1 = x.fields[a];
      if (j1 >= n || f1 >= m) continue;
      for (Index b = a + 1; b < x.size; ++b) {
        const Index j2 = x.features[b], f2 = x.fields[b];
        if (j2 >= n || f2 >= m) continue;
        const S kv = kappa * (x.values[a] * x.values[b] * r);
        for (Index d = 0; d < k; ++d) {
          const S w1 = W(j1, f2, d), w2 = W(j2, f1, d), G1 = A(j1, f2, d), G2 = A(j2, f1, d);
          const S g1 = lambda * w1 + kv * w2;
          const S g2 = lambda * w2 + kv * w1;
          const S H1 = G1 + g1 * g1, H2 = G2 + g2 * g2;
          W(j1, f2, d) = w1 - eta * (rsqrt(H1) * g1);
          W(j2, f1, d) = w2 - eta * (rsqrt(H2) * g2);
          A(j1, f2, d) = H1;
          A(j2, f1, d) = H2;
        }
      }
    }
  }

#endif

  void update(const SparseExample<S>& x, S r, S kappa, S eta, S lambda) {
    for (Index a = 0; a < x.size; ++a) {
      const Index j1 = x.features[a], f1 = x.fields[a];
      if (j1 >= n || f1 >= m) continue;
      for (Index b = a + 1; b < x.size; ++b) {
        const Index j2 = x.features[b], f2 = x.fields[b];
        if (j2 >= n || f2 >= m) continue;
        const S v = x.values[a] * x.values[b] * r;
        const S kv = kappa * v;
        for (Index d = 0; d < k; ++d) {
          const S g1 = lambda * W(j1, f2, d) + kv * W(j2, f1, d);
          const S g2 = lambda * W(j2, f1, d) + kv * W(j1, f2, d);
          A(j1, f2, d) += g1 * g1;
          A(j2, f1, d) += g2 * g2;
          W(j1, f2, d) -= eta / std::sqrt(A(j1, f2, d)) * g1;
          W(j2, f1, d) -= eta / std::sqrt(A(j2, f1, d)) * g2;
        }
      }
    }
  }
};

template <typename S>
S kappaOf(S label, S t) {
  const double y = label > 0 ? 1.0 : -1.0;
  return static_cast<S>(-y * sigmoid(-y * static_cast<double>(t)));
}

template <typename S>
S normScale(const SparseExample<S>& x) {
  S norm = 0;
  for (Index e = 0; e < x.size; ++e) norm += x.values[e] * x.values[e];
  return S(1) / norm;
}

struct TempDir {
  std::filesystem::path path;
  TempDir() {
    static int made = 0;  // several per process; processTag() tells processes apart
    path = eigenrec::test::uniqueTempPath("eigenrec_ffm_", std::to_string(made++));
    std::filesystem::create_directories(path);
  }
  ~TempDir() {
    std::error_code ec;
    std::filesystem::remove_all(path, ec);
  }
  std::string file(const std::string& name) const { return (path / name).string(); }
};

}  // namespace

TEMPLATE_TEST_CASE("FFM score: hand-computed, with and without normalisation", "[ctr][ffm]", float, double) {
  using S = TestType;
  const auto batch = oneExample<S>(1, {0, 1, 2}, {0, 1, 2}, {S(1), S(2), S(0.5)});
  // Pairs: <w[0,1], w[1,0]> = 0.03 - 0.08 = -0.05, times x0 x1 = 2        -> -0.1
  //        <w[0,2], w[2,0]> = -0.35 + 0.48 = 0.13, times x0 x2 = 0.5      ->  0.065
  //        <w[1,2], w[2,1]> = 0.99 - 1.2 = -0.21,  times x1 x2 = 1        -> -0.21
  const double pairwise = -0.245;
  const double r = 1.0 / (1.0 + 4.0 + 0.25);
  const double tol = std::is_same_v<S, float> ? 1e-6 : 1e-14;
  CHECK(handModel<S>(false).score(batch.example(0)) == Approx(pairwise).margin(tol));
  CHECK(handModel<S>(true).score(batch.example(0)) == Approx(pairwise * r).margin(tol));
  CHECK(handModel<S>(true).predict(batch.example(0)) == Approx(1.0 / (1.0 + std::exp(-pairwise * r))).margin(tol));
  // Bias and linear terms: b + sqrt(r) * sum u_j x_j, sum u x = 0.5 - 2 + 1 = -0.5.
  CHECK(handModel<S>(true, true, true).score(batch.example(0)) ==
        Approx(0.3 - 0.5 * std::sqrt(r) + pairwise * r).margin(tol));
  CHECK(handModel<S>(false, true, true).score(batch.example(0)) == Approx(0.3 - 0.5 + pairwise).margin(tol));

  // An unseen feature (5) and an unseen field (7) are skipped in the pairs, as libffm,
  // but still count in the norm.
  const auto unseen = oneExample<S>(1, {0, 1, 1, 2, 7}, {0, 1, 5, 2, 0}, {S(1), S(2), S(3), S(0.5), S(1)});
  CHECK(handModel<S>(true).score(unseen.example(0)) == Approx(pairwise / (5.25 + 9.0 + 1.0)).margin(tol));
  CHECK(handModel<S>(false).score(unseen.example(0)) == Approx(pairwise).margin(tol));

  // Batch predictions equal the single ones, with 1 and 2 threads.
  SparseBatch<S> both = batch;
  both.append(unseen);
  const auto model = handModel<S>(true);
  const Vector<S> p1 = model.predict(both, 1), p2 = model.predict(both, 2);
  CHECK(p1(0) == model.predict(both.example(0)));
  CHECK(p1(1) == model.predict(both.example(1)));
  CHECK(p1 == p2);
  CHECK(model.scores(both)(1) == model.score(both.example(1)));
}

TEMPLATE_TEST_CASE("FFM AdaGrad step: accumulators start at 1", "[ctr][ffm]", float, double) {
  using S = TestType;
  FfmOptions o;
  o.factors = 1;
  o.normalize = false;
  o.learningRate = 0.2;
  o.lambda = 0.1;
  FieldAwareFM<S> model(o);
  model.initialize(2, 2);
  CHECK(model.accumulator(0, 1)(0) == S(1));
  CHECK(model.accumulator(1, 0)(0) == S(1));
  model.latent(0, 1)(0) = S(0.5);
  model.latent(1, 0)(0) = S(-0.25);
  const auto batch = oneExample<S>(1, {0, 1}, {0, 1}, {S(1), S(1)});
  const double a = 0.5, b = -0.25, phi = a * b;
  const double kappa = -1.0 / (1.0 + std::exp(phi));
  const double g1 = 0.1 * a + kappa * b, g2 = 0.1 * b + kappa * a;
  const double G1 = 1.0 + g1 * g1, G2 = 1.0 + g2 * g2;
  const double loss = model.trainExample(batch.example(0));
  const double tol = std::is_same_v<S, float> ? 2e-7 : 1e-15;
  CHECK(loss == Approx(std::log1p(std::exp(-phi))).margin(tol));
  CHECK(model.accumulator(0, 1)(0) == Approx(G1).margin(tol));
  CHECK(model.accumulator(1, 0)(0) == Approx(G2).margin(tol));
  CHECK(model.latent(0, 1)(0) == Approx(a - 0.2 * g1 / std::sqrt(G1)).margin(tol));
  CHECK(model.latent(1, 0)(0) == Approx(b - 0.2 * g2 / std::sqrt(G2)).margin(tol));
  // Untouched blocks do not move.
  CHECK(model.accumulator(0, 0)(0) == S(1));
  CHECK(model.accumulator(1, 1)(0) == S(1));

  // A different G0.
  o.initialAccumulator = 0.25;
  FieldAwareFM<S> other(o);
  other.initialize(2, 2);
  CHECK(other.accumulator(1, 1)(0) == S(0.25));
}

// Trains a few steps for each k and requires every coordinate to equal the reference's
// (ReferenceFfm::update or, with Rsqrt, ReferenceFfm::updateSse) given the model's logit.
template <typename S, bool Rsqrt>
void requireBitForBit(std::uint64_t seed) {
  // k = 3, 8, 13, 16, 32 cover the fixed-size kernels (kPad 4, 8, 16, 32) and 10 -> 12 the runtime one.
  for (const Index k : {Index(3), Index(8), Index(10), Index(13), Index(16), Index(32)}) {
    FfmOptions o;
    o.factors = k;
    o.lambda = 0.01;
    o.learningRate = 0.3;
    o.seed = seed + static_cast<std::uint64_t>(k);
    o.approximateRsqrt = Rsqrt;
    FieldAwareFM<S> model(o);
    model.initialize(6, 4);
    // Feature 2 twice in field 1 (both sides of a pair are one block), a field shared by
    // two entries (a vector updated twice in one example), unseen feature 9 and field 5.
    SparseBatch<S> batch;
    batch.addExample(1, {0, 1, 1, 2, 3, 5, 1}, {0, 2, 2, 4, 5, 1, 9}, {S(1), S(0.5), S(2), S(-1), S(1.5), S(1), S(1)});
    batch.addExample(0, {3, 0, 2}, {1, 3, 0}, {S(1), S(1), S(0.25)});
    for (int round = 0; round < 3; ++round) {
      for (Index i = 0; i < batch.size(); ++i) {
        const auto x = batch.example(i);
        ReferenceFfm<S> ref(model);
        const S t = model.score(x);
        if constexpr (Rsqrt) {
          ref.updateSse(x, normScale(x), kappaOf(x.label, t), S(0.3), S(0.01));
        } else {
          ref.update(x, normScale(x), kappaOf(x.label, t), S(0.3), S(0.01));
        }
        model.trainExample(x);
        for (Index j = 0; j < 6; ++j) {
          for (Index f = 0; f < 4; ++f) {
            for (Index d = 0; d < k; ++d) {
              REQUIRE(model.latent(j, f)(d) == ref.W(j, f, d));
              REQUIRE(model.accumulator(j, f)(d) == ref.A(j, f, d));
            }
          }
        }
      }
    }
  }
}

TEMPLATE_TEST_CASE("FFM update: libffm's order, bit for bit given the logit", "[ctr][ffm]", float, double) {
  requireBitForBit<TestType, false>(7);
}

#if defined(__SSE__)
TEST_CASE("FFM update with approximateRsqrt: libffm's SSE step, bit for bit given the logit", "[ctr][ffm]") {
  requireBitForBit<float, true>(3);
}
#endif

TEST_CASE("FFM approximateRsqrt: trains as the exact step does; double keeps the exact step", "[ctr][ffm][train]") {
  SyntheticFfmOptions so;
  so.fields = 6;
  so.featuresPerField = 8;
  so.factors = 2;
  so.logitScale = 2.0;
  const SyntheticFfm truth(so);
  const auto train = truth.generate<float>(4000, 21);
  const auto valid = truth.generate<float>(2000, 22);
  FfmOptions o;
  o.factors = 8;
  o.epochs = 4;
  FieldAwareFM<float> exact(o);
  o.approximateRsqrt = true;
  FieldAwareFM<float> approx(o);
  const TrainingHistory a = exact.fit(train, &valid);
  const TrainingHistory b = approx.fit(train, &valid);
  REQUIRE(a.epochs.size() == b.epochs.size());
  for (std::size_t e = 0; e < a.epochs.size(); ++e) {
    CAPTURE(e, a.epochs[e].trainLoss, b.epochs[e].trainLoss, a.epochs[e].validLoss, b.epochs[e].validLoss);
    CHECK(std::abs(a.epochs[e].trainLoss - b.epochs[e].trainLoss) < 2e-3);
    CHECK(std::abs(a.epochs[e].validLoss - b.epochs[e].validLoss) < 2e-3);
  }
#if defined(__SSE__)
  CHECK(saved(exact) != saved(approx));  // the option is not ignored
#endif
  const auto trainD = truth.generate<double>(500, 23);
  FieldAwareFM<double> approxD(o);
  o.approximateRsqrt = false;
  FieldAwareFM<double> exactD(o);
  approxD.fit(trainD);
  exactD.fit(trainD);
  CHECK(saved(approxD) == saved(exactD));
}

TEST_CASE("FFM gradients match central differences", "[ctr][ffm][gradcheck]") {
  // One AdaGrad step with lambda = 0 moves each coordinate by eta g / sqrt(1 + g^2)
  // (every latent vector of this example is in exactly one pair: all fields differ), so
  // g can be read back from the step and compared with dL/dtheta of
  // L = log(1 + exp(-y phi)) by central differences.
  FfmOptions o;
  o.factors = 3;
  o.lambda = 0;
  o.linearLambda = 0;
  o.learningRate = 0.05;
  o.useBias = true;
  o.useLinear = true;
  o.seed = 3;
  FieldAwareFM<double> model(o);
  model.initialize(5, 4);
  model.bias() = 0.2;
  model.linear() << 0.3, -0.2, 0.1, 0.4, -0.5;
  for (const double label : {1.0, 0.0}) {
    const auto batch = oneExample<double>(label, {0, 1, 2, 3}, {4, 1, 0, 3}, {1.0, 0.7, -1.3, 0.4});
    const auto x = batch.example(0);
    auto loss = [&](const FieldAwareFM<double>& m) {
      const double y = label > 0 ? 1.0 : -1.0;
      return std::log1p(std::exp(-y * m.score(x)));
    };
    auto readBack = [&](double before, double after, double G0) {
      const double ratio = (before - after) / o.learningRate;  // g / sqrt(G0 + g^2)
      return ratio * std::sqrt(G0 / (1.0 - ratio * ratio));
    };
    FieldAwareFM<double> stepped = model;
    stepped.trainExample(x);
    const double h = 1e-6;
    int checked = 0;
    for (Index a = 0; a < x.size; ++a) {
      for (Index b = 0; b < x.size; ++b) {
        if (a == b) continue;
        const Index j = x.features[a], f = x.fields[b];
        for (Index d = 0; d < 3; ++d) {
          FieldAwareFM<double> plus = model, minus = model;
          plus.latent(j, f)(d) += h;
          minus.latent(j, f)(d) -= h;
          const double numeric = (loss(plus) - loss(minus)) / (2 * h);
          const double analytic = readBack(model.latent(j, f)(d), stepped.latent(j, f)(d), 1.0);
          CHECK(analytic == Approx(numeric).margin(1e-8));
          ++checked;
        }
      }
      FieldAwareFM<double> plus = model, minus = model;
      plus.linear()(x.features[a]) += h;
      minus.linear()(x.features[a]) -= h;
      CHECK(readBack(model.linear()(x.features[a]), stepped.linear()(x.features[a]), 1.0) ==
            Approx((loss(plus) - loss(minus)) / (2 * h)).margin(1e-8));
    }
    CHECK(checked == 36);
    FieldAwareFM<double> plus = model, minus = model;
    plus.bias() += h;
    minus.bias() -= h;
    CHECK(readBack(model.bias(), stepped.bias(), 1.0) == Approx((loss(plus) - loss(minus)) / (2 * h)).margin(1e-8));
  }
}

TEST_CASE("FFM training: learns, is reproducible, Hogwild runs", "[ctr][ffm][train]") {
  SyntheticFfmOptions so;
  so.fields = 6;
  so.featuresPerField = 8;
  so.factors = 2;
  so.logitScale = 2.0;
  so.bias = -0.5;
  const SyntheticFfm truth(so);
  std::vector<double> pValid;
  const auto train = truth.generate<float>(6000, 11);
  const auto valid = truth.generate<float>(3000, 12, &pValid);
  const double bayes = SyntheticFfm::bayesLogLoss(pValid);
  double positives = 0;
  for (const float y : valid.labels()) positives += y;
  const double rate = positives / double(valid.size());
  const double constant = -(rate * std::log(rate) + (1 - rate) * std::log(1 - rate));

  FfmOptions o;
  o.factors = 4;
  o.epochs = 6;
  o.seed = 5;
  FieldAwareFM<float> model(o);
  const TrainingHistory h = model.fit(train, &valid);
  REQUIRE(h.epochs.size() == 6);
  CHECK(h.bestEpoch == 6);
  CHECK_FALSE(h.stoppedEarly);
  CHECK(h.epochs.back().trainLoss < h.epochs.front().trainLoss);
  // Far below the best constant prediction and close to the Bayes logloss.
  CHECK(h.epochs.back().validLoss < constant - 0.1);
  CHECK(h.epochs.back().validLoss < bayes + 0.05);
  CHECK(model.logLoss(valid) == Approx(h.epochs.back().validLoss).epsilon(1e-12));
  CHECK(model.numFeatures() == train.numFeatures());
  CHECK(model.numFields() == 6);

  // Same seed, one thread: the same bytes. Another seed: different.
  FieldAwareFM<float> again(o);
  again.fit(train, &valid);
  CHECK(saved(again) == saved(model));
  o.seed = 6;
  FieldAwareFM<float> other(o);
  other.fit(train, &valid);
  CHECK(saved(other) != saved(model));

  // Hogwild with two threads: nondeterministic, but as good.
  o.threads = 2;
  FieldAwareFM<float> hogwild(o);
  const auto hh = hogwild.fit(train, &valid);
  CHECK(std::isfinite(hh.epochs.back().validLoss));
  CHECK(hh.epochs.back().validLoss < h.epochs.back().validLoss + 0.02);

  // Callbacks see every epoch; warm start continues instead of restarting.
  int calls = 0;
  std::int64_t reported = 0;
  o.threads = 1;
  o.epochs = 2;
  o.onEpoch = [&](const EpochStats& s) { calls += s.epoch; };
  o.progress = [&](const Progress& p) {
    if (p.finished) reported += p.done;
  };
  o.warmStart = true;
  FieldAwareFM<float> warm(o);
  warm.fit(train);
  warm.fit(train);
  CHECK(calls == 6);
  CHECK(reported == 4 * train.size());
  CHECK(warm.logLoss(valid) < constant);
}

TEST_CASE("FFM auto-stop keeps the model of the best epoch", "[ctr][ffm][train]") {
  SyntheticFfmOptions so;
  so.fields = 5;
  so.featuresPerField = 60;
  so.factors = 2;
  const SyntheticFfm truth(so);
  const auto train = truth.generate<float>(600, 1);
  const auto valid = truth.generate<float>(600, 2);
  FfmOptions o;
  o.factors = 8;
  o.epochs = 40;
  o.learningRate = 0.5;
  o.lambda = 0;
  o.autoStop = true;
  FieldAwareFM<float> model(o);
  const TrainingHistory h = model.fit(train, &valid);
  REQUIRE(h.stoppedEarly);
  REQUIRE(h.bestEpoch >= 1);
  CHECK(static_cast<int>(h.epochs.size()) == h.bestEpoch + 1);
  CHECK(h.epochs.back().validLoss > h.epochs[static_cast<std::size_t>(h.bestEpoch - 1)].validLoss);
  CHECK(model.logLoss(valid) == h.epochs[static_cast<std::size_t>(h.bestEpoch - 1)].validLoss);

  o.validate();
  FieldAwareFM<float> noValidation(o);
  CHECK_THROWS_WITH(noValidation.fit(train), Catch::Contains("autoStop needs a validation set"));
}

TEST_CASE("FFM on-disk training equals in-memory training", "[ctr][ffm][cache]") {
  TempDir dir;
  SyntheticFfmOptions so;
  so.fields = 4;
  so.featuresPerField = 10;
  const SyntheticFfm truth(so);
  io::writeSparse(dir.file("tr.ffm"), truth.generate<float>(500, 3), io::SparseFormat::libffm);
  io::SparseReadOptions ro;
  ro.format = io::SparseFormat::libffm;
  const auto train = io::readSparse<float>(dir.file("tr.ffm"), ro);
  auto cache = io::SparseCache<float>::build(dir.file("tr.ffm"), dir.file("tr.bin"), ro, 300);
  REQUIRE(cache.numBlocks() == 7);
  FfmOptions o;
  o.epochs = 3;
  o.shuffle = false;
  FieldAwareFM<float> mem(o), disk(o);
  mem.fit(train, &train);
  const auto h = disk.fit(cache, &cache);
  CHECK(saved(mem) == saved(disk));
  CHECK(h.epochs.size() == 3);
  // With shuffling, blocks and examples are visited in random order; still learns.
  o.shuffle = true;
  FieldAwareFM<float> shuffled(o);
  const auto hs = shuffled.fit(cache, &cache);
  CHECK(hs.epochs.back().validLoss < hs.epochs.front().validLoss);
}

TEMPLATE_TEST_CASE("FFM save / load round trip and rejection of bad files", "[ctr][ffm][serialize]", float, double) {
  using S = TestType;
  TempDir dir;
  SyntheticFfmOptions so;
  so.fields = 4;
  so.featuresPerField = 5;
  const SyntheticFfm truth(so);
  const auto data = truth.generate<S>(200, 1);
  FfmOptions o;
  o.factors = 5;
  o.epochs = 2;
  o.useBias = true;
  o.useLinear = true;
  o.normalize = false;
  FieldAwareFM<S> model(o);
  model.fit(data);
  const std::string path = dir.file("model.ffm");
  model.save(path);
  CHECK(std::distance(std::filesystem::directory_iterator(dir.path), std::filesystem::directory_iterator()) == 1);

  FieldAwareFM<S> loaded;
  loaded.load(path);
  CHECK(loaded.factors() == 5);
  CHECK_FALSE(loaded.normalized());
  CHECK(loaded.hasBias());
  CHECK(loaded.hasLinear());
  CHECK(loaded.predict(data) == model.predict(data));
  CHECK(saved(loaded) == saved(model));
  // Training continues from the loaded accumulators exactly as from the original.
  FieldAwareFM<S> a = model, b = loaded;
  a.trainExample(data.example(3));
  b.trainExample(data.example(3));
  CHECK(saved(a) == saved(b));

  // Truncated, corrupted or foreign files are rejected and leave the model unchanged.
  const std::string bytes = saved(model);
  const Vector<S> before = loaded.predict(data);
  std::istringstream truncated(bytes.substr(0, bytes.size() - 9));
  CHECK_THROWS_AS(loaded.load(truncated), FormatError);
  std::string corrupted = bytes;
  corrupted[bytes.size() / 2] = static_cast<char>(corrupted[bytes.size() / 2] ^ 1);
  std::istringstream corruptedIn(corrupted);
  CHECK_THROWS_WITH(loaded.load(corruptedIn, "m.bin"), Catch::Contains("m.bin"));
  std::ostringstream fm;
  FmOptions fo;
  fo.solver = FmSolver::sgd;
  fo.iterations = 1;
  FactorizationMachine<S> other(fo);
  other.fit(data);
  other.save(fm);
  std::istringstream foreign(fm.str());
  CHECK_THROWS_WITH(loaded.load(foreign), Catch::Contains("expected 'ctr.FieldAwareFM'"));
  CHECK(loaded.predict(data) == before);
  CHECK_THROWS_AS(loaded.load(dir.file("missing")), IoError);
}

TEST_CASE("FFM bad input", "[ctr][ffm][errors]") {
  FfmOptions o;
  o.factors = 0;
  CHECK_THROWS_WITH(FieldAwareFM<float>(o), Catch::Contains("factors expected in [1, 4096], got 0"));
  o = FfmOptions{};
  o.learningRate = -1;
  CHECK_THROWS_AS(FieldAwareFM<float>(o), std::invalid_argument);
  o = FfmOptions{};
  o.lambda = std::numeric_limits<double>::quiet_NaN();
  CHECK_THROWS_AS(FieldAwareFM<float>(o), std::invalid_argument);
  o = FfmOptions{};
  o.threads = -2;
  CHECK_THROWS_AS(FieldAwareFM<float>(o), std::invalid_argument);

  FieldAwareFM<float> model;
  const auto x = oneExample<float>(1, {0}, {0}, {1.0f});
  CHECK_THROWS_WITH(model.score(x.example(0)), Catch::Contains("not initialised"));
  CHECK_THROWS_AS(model.predict(x), std::invalid_argument);
  CHECK_THROWS_AS(model.save(std::cout), std::invalid_argument);
  CHECK_THROWS_AS(model.fit(SparseBatch<float>()), std::invalid_argument);
  SparseBatch<float> emptyExamples;
  emptyExamples.startExample(1);
  CHECK_THROWS_WITH(model.fit(emptyExamples), Catch::Contains("at least one feature"));
  CHECK_THROWS_AS(model.initialize(0, 3), std::invalid_argument);
  model.initialize(2, 2);
  CHECK_THROWS_WITH(model.latent(2, 0), Catch::Contains("feature expected an index in [0, 2), got 2"));
  CHECK_THROWS_AS(model.accumulator(0, -1), std::invalid_argument);
  // A learning rate so large that the loss overflows is reported, not propagated.
  o = FfmOptions{};
  o.learningRate = 1e30;
  o.normalize = false;
  FieldAwareFM<float> diverging(o);
  SparseBatch<float> big;
  for (int i = 0; i < 50; ++i) big.addExample(float(i % 2), {0, 1}, {0, 1}, {1.0f, 1.0f});
  CHECK_THROWS_AS(diverging.fit(big), NumericalError);
}

// scaledDotProductAttention: PyTorch parity of both backends over every mask kind,
// agreement of the tiled and naive paths, gradient checks, dropout, fully masked rows,
// bad input.
#include <catch2/catch.hpp>
#include <eigenrec/attention/scaled_dot_product.hpp>
#include <eigenrec/nn/gradcheck.hpp>

#include "attention_test_util.hpp"

#include <limits>
#include <string>
#include <vector>

using namespace eigenrec;
using namespace eigenrec::attention;
using eigenrec::test::Fixture;
using eigenrec::test::fixtureMask3;
using eigenrec::test::fixtureTensor3;
using eigenrec::test::randomTensor3;

namespace {

const Fixture& sdpaFixture() {
  static const Fixture f("attention/sdpa.txt");
  return f;
}

template <typename S>
struct SdpaCase {
  Tensor3<S> q, k, v, out, weights, r, dq, dk, dv;
  Tensor<bool, 3> allowed, keyAllowed;
  Tensor3<S> bias;
  SdpaOptions<S> options;

  SdpaCase(const Fixture& f, int c) {
    const std::string p = "sdpa" + std::to_string(c) + "_";
    q = fixtureTensor3<S>(f, p + "q");
    k = fixtureTensor3<S>(f, p + "k");
    v = fixtureTensor3<S>(f, p + "v");
    out = fixtureTensor3<S>(f, p + "out");
    weights = fixtureTensor3<S>(f, p + "weights");
    r = fixtureTensor3<S>(f, p + "r");
    dq = fixtureTensor3<S>(f, p + "dq");
    dk = fixtureTensor3<S>(f, p + "dk");
    dv = fixtureTensor3<S>(f, p + "dv");
    const double scale = f.scalar(p + "scale");
    if (scale > 0) options.scale = scale;
    options.causal = static_cast<Causal>(static_cast<int>(f.scalar(p + "causal")));
    if (f.has(p + "allowed")) {
      allowed = fixtureMask3(f, p + "allowed");
      options.allowed = allowed;
    }
    if (f.has(p + "key_allowed")) {
      keyAllowed = fixtureMask3(f, p + "key_allowed");
      options.keyAllowed = keyAllowed;
    }
    if (f.has(p + "bias")) {
      bias = fixtureTensor3<S>(f, p + "bias");
      options.bias = bias;
    }
  }
};

struct BackendRun {
  const char* name;
  SdpaBackend backend;
  Index blockQ, blockK;
  int threads;
};

const std::vector<BackendRun>& backendRuns() {
  static const std::vector<BackendRun> runs = {{"naive", SdpaBackend::naive, 0, 0, 1},
                                               {"tiled", SdpaBackend::tiled, 0, 0, 1},
                                               {"tiled 3x5 blocks", SdpaBackend::tiled, 3, 5, 1},
                                               {"tiled 16x8 blocks, 2 threads", SdpaBackend::tiled, 16, 8, 2}};
  return runs;
}

}  // namespace

TEMPLATE_TEST_CASE("SDPA: PyTorch parity of output, weights and gradients for both backends", "[attention][sdpa]",
                   float, double) {
  using S = TestType;
  const auto& f = sdpaFixture();
  const int cases = static_cast<int>(f.scalar("sdpa_cases"));
  REQUIRE(cases >= 16);
  for (int c = 0; c < cases; ++c) {
    SdpaCase<S> tc(f, c);
    for (const auto& run : backendRuns()) {
      INFO("case " << c << ", " << run.name);
      SdpaOptions<S> o = tc.options;
      o.backend = run.backend;
      o.blockQ = run.blockQ;
      o.blockK = run.blockK;
      o.threads = run.threads;
      o.needWeights = run.backend == SdpaBackend::naive;
      Tensor3<S> out, weights, dq, dk, dv;
      SdpaSaved<S> saved;
      scaledDotProductAttentionForward(tc.q, tc.k, tc.v, o, out, saved, &weights);
      CHECK(saved.backend == run.backend);
      EIGENREC_REQUIRE_ATTN(S, out, tc.out);
      if (o.needWeights) EIGENREC_REQUIRE_ATTN(S, weights, tc.weights);
      scaledDotProductAttentionBackward(tc.q, tc.k, tc.v, out, tc.r, o, saved, dq, dk, dv);
      EIGENREC_REQUIRE_ATTN(S, dq, tc.dq);
      EIGENREC_REQUIRE_ATTN(S, dk, tc.dk);
      EIGENREC_REQUIRE_ATTN(S, dv, tc.dv);
    }
  }
}

TEMPLATE_TEST_CASE("SDPA: tiled and naive agree on random shapes, masks and dropout", "[attention][sdpa]", float,
                   double) {
  using S = TestType;
  Rng rng(77);
  const double tol = std::is_same_v<S, float> ? 2e-5 : 1e-12;
  for (int trial = 0; trial < 12; ++trial) {
    const Index dk = 1 + rng.uniformIndex(40), dv = 1 + rng.uniformIndex(40);
    const Index lq = 1 + rng.uniformIndex(90), lk = 1 + rng.uniformIndex(90);
    const Index batch = 1 + rng.uniformIndex(2), heads = 1 + rng.uniformIndex(3), n = batch * heads;
    const auto q = randomTensor3<S>(dk, lq, n, rng, 2.0);
    const auto k = randomTensor3<S>(dk, lk, n, rng, 2.0);
    const auto v = randomTensor3<S>(dv, lk, n, rng);
    const auto g = randomTensor3<S>(dv, lq, n, rng);
    Tensor<bool, 3> allowed(lk, lq, trial % 2 == 0 ? Index(1) : n);
    for (Index i = 0; i < allowed.size(); ++i) allowed.data()[i] = rng.uniform<double>() > 0.2;
    BoolMatrix keyAllowed(lk, batch);
    for (Index i = 0; i < keyAllowed.size(); ++i) keyAllowed.data()[i] = rng.uniform<double>() > 0.1;
    Tensor3<S> bias = randomTensor3<S>(lk, lq, 1, rng);

    SdpaOptions<S> o;
    o.causal = static_cast<Causal>(trial % 3);
    if (trial % 4 == 1) o.allowed = allowed;
    if (trial % 4 == 2) o.keyAllowed = keyAllowed;
    if (trial % 4 == 3) o.bias = bias;
    if (trial % 2 == 1) {
      o.dropout = 0.3;
      o.training = true;
      o.seed = 1000 + static_cast<std::uint64_t>(trial);
    }
    o.blockQ = 1 + rng.uniformIndex(70);
    o.blockK = 1 + rng.uniformIndex(70);
    INFO("trial " << trial << " dk " << dk << " dv " << dv << " lq " << lq << " lk " << lk << " n " << n << " blocks "
                  << o.blockQ << "x" << o.blockK);

    Tensor3<S> outN, outT, dqN, dkN, dvN, dqT, dkT, dvT;
    SdpaSaved<S> sN, sT;
    o.backend = SdpaBackend::naive;
    scaledDotProductAttentionForward(q, k, v, o, outN, sN);
    scaledDotProductAttentionBackward(q, k, v, outN, g, o, sN, dqN, dkN, dvN);
    o.backend = SdpaBackend::tiled;
    scaledDotProductAttentionForward(q, k, v, o, outT, sT);
    scaledDotProductAttentionBackward(q, k, v, outT, g, o, sT, dqT, dkT, dvT);
    using test::flat;
    EIGENREC_REQUIRE_CLOSE(flat(outT), flat(outN), tol, tol);
    EIGENREC_REQUIRE_CLOSE(sT.logSumExp, sN.logSumExp, tol, tol);
    EIGENREC_REQUIRE_CLOSE(flat(dqT), flat(dqN), tol, tol);
    EIGENREC_REQUIRE_CLOSE(flat(dkT), flat(dkN), tol, tol);
    EIGENREC_REQUIRE_CLOSE(flat(dvT), flat(dvN), tol, tol);
  }
}

TEST_CASE("SDPA: gradcheck in double for both backends, with masks and dropout", "[attention][sdpa][gradcheck]") {
  Rng rng(5);
  const Index dk = 5, dv = 3, lq = 6, lk = 7, n = 4;
  auto q = randomTensor3<double>(dk, lq, n, rng);
  auto k = randomTensor3<double>(dk, lk, n, rng);
  auto v = randomTensor3<double>(dv, lk, n, rng);
  const auto proj = randomTensor3<double>(dv, lq, n, rng);
  BoolMatrix keyAllowed = BoolMatrix::Constant(lk, 2, true);
  keyAllowed(lk - 1, 1) = false;
  Tensor3<double> bias = randomTensor3<double>(lk, lq, n, rng);
  bias(2, 3, 1) = -std::numeric_limits<double>::infinity();
  Tensor<bool, 3> allowed(lk, lq, 1);
  allowed.setConstant(true);
  for (Index t = 0; t < lk; ++t) allowed(t, 2, 0) = false;  // query 2 fully masked

  for (SdpaBackend backend : {SdpaBackend::naive, SdpaBackend::tiled}) {
    for (int variant = 0; variant < 3; ++variant) {
      SdpaOptions<double> o;
      o.backend = backend;
      o.blockQ = 4;
      o.blockK = 3;
      if (variant == 0) {
        o.causal = Causal::bottomRight;
        o.keyAllowed = keyAllowed;
      } else if (variant == 1) {
        o.bias = bias;
        o.allowed = allowed;
        o.scale = 0.7;
      } else {
        o.causal = Causal::topLeft;
        o.dropout = 0.25;
        o.training = true;
        o.seed = 99;
      }
      INFO(backendName(backend) << " variant " << variant);
      Tensor3<double> out, dq, dkk, dvv;
      SdpaSaved<double> saved;
      scaledDotProductAttentionForward(q, k, v, o, out, saved);
      scaledDotProductAttentionBackward(q, k, v, out, proj, o, saved, dq, dkk, dvv);
      std::vector<nn::GradVariable> vars = {{"q", q.data(), dq.data(), q.size()},
                                            {"k", k.data(), dkk.data(), k.size()},
                                            {"v", v.data(), dvv.data(), v.size()}};
      const auto report = nn::checkGradients(vars, [&]() {
        const auto y = scaledDotProductAttention(q, k, v, o).output;
        double s = 0;
        for (Index i = 0; i < y.size(); ++i) s += y.data()[i] * proj.data()[i];
        return s;
      });
      INFO(report.summary());
      CHECK(report.ok);
      if (variant == 1) {
        // the fully masked query: zero output and no gradient
        for (Index i = 0; i < n; ++i) {
          for (Index e = 0; e < dv; ++e) CHECK(out(e, 2, i) == 0.0);
          for (Index e = 0; e < dk; ++e) CHECK(dq(e, 2, i) == 0.0);
        }
      }
    }
  }
}

TEMPLATE_TEST_CASE("SDPA: fully masked rows give zeros, never NaN", "[attention][sdpa]", float, double) {
  using S = TestType;
  Rng rng(8);
  const Index d = 4, lq = 5, lk = 6, n = 2;
  const auto q = randomTensor3<S>(d, lq, n, rng);
  const auto k = randomTensor3<S>(d, lk, n, rng);
  const auto v = randomTensor3<S>(d, lk, n, rng);
  const auto g = randomTensor3<S>(d, lq, n, rng);
  BoolMatrix keyAllowed = BoolMatrix::Constant(lk, n, true);
  keyAllowed.col(1).setConstant(false);  // problem 1: every key padded
  Tensor3<S> bias(lk, lq, 1);
  bias.setZero();
  for (Index t = 0; t < lk; ++t) bias(t, 0, 0) = -std::numeric_limits<S>::infinity();  // query 0: bias -inf
  for (SdpaBackend backend : {SdpaBackend::naive, SdpaBackend::tiled}) {
    INFO(backendName(backend));
    SdpaOptions<S> o;
    o.backend = backend;
    o.keyAllowed = keyAllowed;
    o.bias = bias;
    o.needWeights = backend == SdpaBackend::naive;
    Tensor3<S> out, w, dq, dk, dv;
    SdpaSaved<S> saved;
    scaledDotProductAttentionForward(q, k, v, o, out, saved, &w);
    scaledDotProductAttentionBackward(q, k, v, out, g, o, saved, dq, dk, dv);
    for (Index t = 0; t < out.size(); ++t) REQUIRE(std::isfinite(out.data()[t]));
    for (Index t = 0; t < dq.size(); ++t) REQUIRE(std::isfinite(dq.data()[t]));
    for (Index t = 0; t < dk.size(); ++t) REQUIRE(std::isfinite(dk.data()[t]));
    for (Index e = 0; e < d; ++e) {
      CHECK(out(e, 0, 0) == S(0));
      CHECK(dq(e, 0, 0) == S(0));
      for (Index t = 0; t < lq; ++t) CHECK(out(e, t, 1) == S(0));
      for (Index t = 0; t < lq; ++t) CHECK(dq(e, t, 1) == S(0));
      for (Index t = 0; t < lk; ++t) CHECK(dk(e, t, 1) == S(0));
      for (Index t = 0; t < lk; ++t) CHECK(dv(e, t, 1) == S(0));
    }
    CHECK(std::isinf(saved.logSumExp(0, 0)));
    if (o.needWeights) {
      for (Index t = 0; t < lk; ++t) CHECK(w(t, 0, 0) == S(0));
    }
    // a live query still has weights summing to 1
    CHECK(std::isfinite(saved.logSumExp(1, 0)));
  }
}

TEST_CASE("SDPA: dropout is seeded, training only, and drops about p of the weights", "[attention][sdpa]") {
  Rng rng(3);
  const Index d = 8, lq = 40, lk = 50, n = 3;
  const auto q = randomTensor3<double>(d, lq, n, rng);
  const auto k = randomTensor3<double>(d, lk, n, rng);
  const auto v = randomTensor3<double>(d, lk, n, rng);
  SdpaOptions<double> o;
  o.dropout = 0.3;
  o.needWeights = true;
  o.seed = 4;
  const auto eval = scaledDotProductAttention(q, k, v, o);
  o.training = true;
  const auto a = scaledDotProductAttention(q, k, v, o);
  const auto b = scaledDotProductAttention(q, k, v, o);
  o.seed = 5;
  const auto c = scaledDotProductAttention(q, k, v, o);
  Index zeros = 0;
  for (Index i = 0; i < a.weights.size(); ++i) {
    if (a.weights.data()[i] == 0.0) {
      ++zeros;
    } else {
      // kept weights are scaled by 1 / (1 - p)
      REQUIRE(a.weights.data()[i] == Approx(eval.weights.data()[i] / 0.7).epsilon(1e-12));
    }
  }
  const double frac = static_cast<double>(zeros) / static_cast<double>(a.weights.size());
  CHECK(frac == Approx(0.3).margin(0.02));
  CHECK(test::flat(a.weights) == test::flat(b.weights));
  CHECK(test::flat(a.weights) != test::flat(c.weights));
  // eval mode: no dropout, rows sum to one
  for (Index i = 0; i < n; ++i) {
    for (Index t = 0; t < lq; ++t) {
      double s = 0;
      for (Index j = 0; j < lk; ++j) s += eval.weights(j, t, i);
      CHECK(s == Approx(1.0).epsilon(1e-12));
    }
  }
  // threads do not change the result
  o.backend = SdpaBackend::tiled;
  o.needWeights = false;
  o.blockQ = 8;
  o.blockK = 16;
  const auto t1 = scaledDotProductAttention(q, k, v, o);
  o.threads = 2;
  const auto t2 = scaledDotProductAttention(q, k, v, o);
  CHECK(test::flat(t1.output) == test::flat(t2.output));
}

TEST_CASE("SDPA: causal alignments, Lq != Lk", "[attention][sdpa]") {
  // Hand-checkable: with equal keys the weights are uniform over the allowed keys.
  const Index lq = 2, lk = 4;
  Tensor3<double> q(1, lq, 1), k(1, lk, 1), v(1, lk, 1);
  q.setZero();
  k.setZero();
  for (Index j = 0; j < lk; ++j) v(0, j, 0) = static_cast<double>(j);
  SdpaOptions<double> o;
  o.causal = Causal::topLeft;  // query 0 sees key 0, query 1 keys 0..1
  for (auto backend : {SdpaBackend::naive, SdpaBackend::tiled}) {
    o.backend = backend;
    o.causal = Causal::topLeft;
    auto y = scaledDotProductAttention(q, k, v, o).output;
    CHECK(y(0, 0, 0) == Approx(0.0));
    CHECK(y(0, 1, 0) == Approx(0.5));
    o.causal = Causal::bottomRight;  // query 0 sees keys 0..2, query 1 keys 0..3
    y = scaledDotProductAttention(q, k, v, o).output;
    CHECK(y(0, 0, 0) == Approx(1.0));
    CHECK(y(0, 1, 0) == Approx(1.5));
  }
  CHECK(causalAllowed(2, 4, Causal::bottomRight) == (BoolMatrix(4, 2) << 1, 1, 1, 1, 1, 1, 0, 1).finished());
  CHECK(causalAllowed(2, 4, Causal::topLeft) == (BoolMatrix(4, 2) << 1, 1, 0, 1, 0, 0, 0, 0).finished());
  const BoolMatrix blocked = (BoolMatrix(2, 2) << true, false, false, true).finished();
  CHECK(allowedFromBlocked(blocked) == (BoolMatrix(2, 2) << false, true, true, false).finished());
  const BoolMatrix kp = keyAllowedFromLengths(Eigen::Vector2i(2, 0), 3);
  CHECK(kp == (BoolMatrix(3, 2) << true, false, true, false, false, false).finished());
  CHECK_THROWS_AS(keyAllowedFromLengths(Eigen::Vector2i(4, 0), 3), std::invalid_argument);
}

TEST_CASE("SDPA: bad input", "[attention][sdpa]") {
  Rng rng(1);
  const auto q = randomTensor3<float>(4, 3, 2, rng);
  const auto k = randomTensor3<float>(4, 5, 2, rng);
  const auto v = randomTensor3<float>(6, 5, 2, rng);
  using O = SdpaOptions<float>;
  CHECK_NOTHROW(scaledDotProductAttention(q, k, v));
  CHECK_THROWS_WITH(scaledDotProductAttention(q, randomTensor3<float>(3, 5, 2, rng), v),
                    "scaledDotProductAttention: key dim expected 4, got 3");
  CHECK_THROWS_WITH(scaledDotProductAttention(q, randomTensor3<float>(4, 5, 3, rng), v),
                    "scaledDotProductAttention: key n expected 2, got 3");
  CHECK_THROWS_WITH(scaledDotProductAttention(q, k, randomTensor3<float>(6, 4, 2, rng)),
                    "scaledDotProductAttention: value length expected 5, got 4");
  CHECK_THROWS_WITH(scaledDotProductAttention(q, k, randomTensor3<float>(6, 5, 1, rng)),
                    "scaledDotProductAttention: value n expected 2, got 1");
  BoolMatrix wrong(3, 5);  // (Lq, Lk): the PyTorch orientation, not eigenrec's
  wrong.setConstant(true);
  O o;
  o.allowed = wrong;
  CHECK_THROWS_WITH(scaledDotProductAttention(q, k, v, o),
                    "scaledDotProductAttention: allowed expected (5, 3, 1) or (5, 3, 2), got (3, 5, 1)");
  Tensor<bool, 3> perN(5, 3, 3);
  perN.setConstant(true);
  o = O();
  o.allowed = perN;
  CHECK_THROWS_AS(scaledDotProductAttention(q, k, v, o), std::invalid_argument);
  BoolMatrix kp(5, 3);
  kp.setConstant(true);
  o = O();
  o.keyAllowed = kp;  // batch 3 does not divide n = 2
  CHECK_THROWS_AS(scaledDotProductAttention(q, k, v, o), std::invalid_argument);
  BoolMatrix kpShort(4, 2);
  kpShort.setConstant(true);
  o.keyAllowed = kpShort;
  CHECK_THROWS_AS(scaledDotProductAttention(q, k, v, o), std::invalid_argument);
  Tensor3<float> bias(5, 3, 1);
  bias.setZero();
  bias(1, 1, 0) = std::numeric_limits<float>::quiet_NaN();
  o = O();
  o.bias = bias;
  CHECK_THROWS_AS(scaledDotProductAttention(q, k, v, o), std::invalid_argument);
  bias(1, 1, 0) = std::numeric_limits<float>::infinity();
  CHECK_THROWS_AS(scaledDotProductAttention(q, k, v, o), std::invalid_argument);
  o = O();
  o.dropout = 1.0;
  CHECK_THROWS_AS(scaledDotProductAttention(q, k, v, o), std::invalid_argument);
  o.dropout = -0.1;
  CHECK_THROWS_AS(scaledDotProductAttention(q, k, v, o), std::invalid_argument);
  o = O();
  o.scale = std::numeric_limits<double>::infinity();
  CHECK_THROWS_AS(scaledDotProductAttention(q, k, v, o), std::invalid_argument);
  o = O();
  o.threads = -1;
  CHECK_THROWS_AS(scaledDotProductAttention(q, k, v, o), std::invalid_argument);
  o = O();
  o.blockQ = -4;
  CHECK_THROWS_AS(scaledDotProductAttention(q, k, v, o), std::invalid_argument);
  o = O();
  o.needWeights = true;
  o.backend = SdpaBackend::tiled;
  CHECK_THROWS_WITH(scaledDotProductAttention(q, k, v, o),
                    Catch::Contains("backend tiled cannot return the attention weights"));
  // needWeights without a place to put them
  o = O();
  o.needWeights = true;
  Tensor3<float> out;
  SdpaSaved<float> saved;
  CHECK_THROWS_AS(scaledDotProductAttentionForward(q, k, v, o, out, saved), std::invalid_argument);
  // NaN in the inputs (checkFinite)
  auto qn = q;
  qn(1, 2, 1) = std::numeric_limits<float>::quiet_NaN();
  o = O();
  o.checkFinite = true;
  CHECK_THROWS_WITH(scaledDotProductAttention(qn, k, v, o),
                    Catch::Contains("query expected finite values, got nan at (1, 2, 1)"));
  // backward without forward, or with the wrong gradient shape
  Tensor3<float> dq, dk, dv;
  o = O();
  CHECK_THROWS_WITH(scaledDotProductAttentionBackward(q, k, v, out, out, o, saved, dq, dk, dv),
                    Catch::Contains("run the forward pass first"));
  scaledDotProductAttentionForward(q, k, v, o, out, saved);
  CHECK_THROWS_AS(scaledDotProductAttentionBackward(q, k, v, out, randomTensor3<float>(6, 3, 1, rng), o, saved, dq, dk, dv),
                  std::invalid_argument);
  CHECK_THROWS_AS(scaledDotProductAttentionBackward(q, k, randomTensor3<float>(6, 5, 2, rng), out,
                                                    randomTensor3<float>(6, 4, 2, rng), o, saved, dq, dk, dv),
                  std::invalid_argument);
  CHECK_THROWS_AS(scaledDotProductAttentionBackward(q, randomTensor3<float>(4, 6, 2, rng), v, out, out, o, saved, dq, dk,
                                                    dv),
                  std::invalid_argument);
  // zero-size problems are fine: no queries, or no keys (every query fully masked)
  const auto empty = scaledDotProductAttention(randomTensor3<float>(4, 0, 2, rng), k, v);
  CHECK(empty.output.dimension(1) == 0);
  for (auto backend : {SdpaBackend::naive, SdpaBackend::tiled}) {
    o.backend = backend;
    const auto noKeys =
        scaledDotProductAttention(q, randomTensor3<float>(4, 0, 2, rng), randomTensor3<float>(6, 0, 2, rng), o);
    CHECK(test::flat(noKeys.output).isZero());
  }
  CHECK_THROWS_AS(scaledDotProductAttention(randomTensor3<float>(0, 3, 2, rng), randomTensor3<float>(0, 5, 2, rng), v),
                  std::invalid_argument);
}

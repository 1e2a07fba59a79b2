// Tests of LayerNorm, BatchNorm1d, Conv1d, MaxPool1d and AvgPool1d: shapes, edge cases,
// bad input, gradient checks, buffer save/load and parity with PyTorch 1.13 through
// tests/fixtures/nn/conv_norm.txt (written by make_conv_norm.py).
#include <catch2/catch.hpp>
#include <eigenrec/nn/conv.hpp>
#include <eigenrec/nn/gradcheck.hpp>
#include <eigenrec/nn/normalization.hpp>
#include <eigenrec/nn/pooling.hpp>
#include <support/fixtures.hpp>

#include <cmath>
#include <limits>
#include <sstream>
#include <string>
#include <type_traits>
#include <vector>

using namespace eigenrec;
using namespace eigenrec::nn;
using eigenrec::test::Fixture;

namespace {

// Parity tolerances: inputs are float32-exact, references are float64.
template <typename S>
constexpr double kRtol = std::is_same_v<S, float> ? 1e-5 : 1e-10;
template <typename S>
constexpr double kAtol = std::is_same_v<S, float> ? 1e-6 : 1e-12;

const Fixture& fixture() {
  static const Fixture f("nn/conv_norm.txt");
  return f;
}

template <typename S>
Tensor3<S> tensorOf(const std::string& name) {
  const auto& r = fixture().record(name);
  REQUIRE(r.dims.size() == 3);
  Tensor3<S> t(r.dims[0], r.dims[1], r.dims[2]);
  for (Index i = 0; i < t.size(); ++i) t.data()[i] = static_cast<S>(r.values[static_cast<std::size_t>(i)]);
  return t;
}

template <typename S>
Matrix<S> matrixOf(const std::string& name) {
  return fixture().matrix<S>(name);
}

Index cfg(const std::string& c, Index i) { return static_cast<Index>(std::llround(fixture().vector(c + "_cfg")(i))); }
double cfgValue(const std::string& c, Index i) { return fixture().vector(c + "_cfg")(i); }

template <typename S>
Matrix<S> flat(const Tensor3<S>& t) {
  return flatMatrix(t);
}

template <typename S>
void requireTensorClose(const Tensor3<S>& a, const Tensor3<S>& b) {
  REQUIRE(a.dimension(0) == b.dimension(0));
  REQUIRE(a.dimension(1) == b.dimension(1));
  REQUIRE(a.dimension(2) == b.dimension(2));
  EIGENREC_REQUIRE_CLOSE(flat(a), flat(b), kRtol<S>, kAtol<S>);
}

template <typename S = double>
Tensor3<S> randomTensor(Index d0, Index d1, Index d2, std::uint64_t seed) {
  Rng rng(seed);
  Tensor3<S> t(d0, d1, d2);
  for (Index i = 0; i < t.size(); ++i) t.data()[i] = rng.normal<S>();
  return t;
}

template <typename S = double>
Matrix<S> randomMatrix(Index rows, Index cols, std::uint64_t seed, double scale = 1.0, double shift = 0.0) {
  Rng rng(seed);
  Matrix<S> m(rows, cols);
  for (Index i = 0; i < m.size(); ++i) m.data()[i] = static_cast<S>(shift + scale * rng.normal<double>());
  return m;
}

// Gradient check of a tensor module (Conv1d, pools): loss = sum(R .* forward(x)) for a
// fixed random R; the input gradient and every parameter gradient are checked.
template <typename M>
GradCheckReport gradcheckTensor(M& module, Tensor3<double> x, std::uint64_t seed = 7) {
  Tensor3<double> y = module.forward(x);
  const Tensor3<double> r = randomTensor(y.dimension(0), y.dimension(1), y.dimension(2), seed);
  module.zeroGrad();
  module.forward(x, y);
  const Tensor3<double> dx = module.backward(r);
  std::vector<Matrix<double>> analytic;
  std::vector<GradVariable> variables{{"input", x.data(), dx.data(), x.size()}};
  const auto params = module.namedParameters();
  analytic.reserve(params.size());
  for (const auto& p : params) {
    analytic.push_back(p.parameter->denseGrad());
    variables.push_back({p.name, p.parameter->value().data(), analytic.back().data(), p.parameter->size()});
  }
  Tensor3<double> out;
  return checkGradients(variables, [&]() {
    module.forward(x, out);
    return (flatMatrix(out).array() * flatMatrix(r).array()).sum();
  });
}

// PyTorch's Conv1d weight [out, in, k] (as read from the fixture) at (o, c, k).
template <typename S>
S torchWeight(const Matrix<S>& w, Index in, Index kernel, Index o, Index c, Index k) {
  return w.data()[(o * in + c) * kernel + k];
}

}  // namespace

// =======================================================================================
// LayerNorm

TEMPLATE_TEST_CASE("LayerNorm: parity with PyTorch (affine, no affine, zero and constant columns)", "[nn][layernorm]",
                   float, double) {
  using S = TestType;
  for (const std::string c : {"ln_a", "ln_b", "ln_c", "ln_zero"}) {
    INFO(c);
    const bool affine = cfg(c, 2) == 1;
    LayerNorm<S> ln(cfg(c, 0), {cfgValue(c, 1), affine});
    if (affine) {
      ln.weight().value() = matrixOf<S>(c + "_w");
      ln.bias().value() = matrixOf<S>(c + "_b");
    }
    const Matrix<S> x = matrixOf<S>(c + "_x");  // (features, n), or the flat view of (F, L, B)
    const Matrix<S> y = ln.forward(x);
    EIGENREC_REQUIRE_CLOSE(y, matrixOf<S>(c + "_y"), kRtol<S>, kAtol<S>);
    const Matrix<S> dx = ln.backward(matrixOf<S>(c + "_g"));
    EIGENREC_REQUIRE_CLOSE(dx, matrixOf<S>(c + "_dx"), kRtol<S>, kAtol<S>);
    if (affine) {
      EIGENREC_REQUIRE_CLOSE(ln.weight().grad(), matrixOf<S>(c + "_dw"), kRtol<S>, kAtol<S>);
      EIGENREC_REQUIRE_CLOSE(ln.bias().grad(), matrixOf<S>(c + "_db"), kRtol<S>, kAtol<S>);
    }
  }
}

TEST_CASE("LayerNorm: hand-worked column, parameters and edge shapes", "[nn][layernorm]") {
  LayerNorm<double> ln(2, {0.0 + 1e-5, true});
  Matrix<double> x(2, 1);
  x << 1, 3;  // mean 2, biased var 1 -> xhat = -+1 / sqrt(1 + 1e-5)
  const double s = 1.0 / std::sqrt(1.0 + 1e-5);
  ln.weight().value() << 2, 3;
  ln.bias().value() << 0.5, -1;
  const Matrix<double> y = ln.forward(x);
  CHECK(y(0, 0) == Approx(-2 * s + 0.5).epsilon(1e-14));
  CHECK(y(1, 0) == Approx(3 * s - 1).epsilon(1e-14));

  const auto params = ln.namedParameters();
  REQUIRE(params.size() == 2);
  CHECK(params[0].name == "weight");
  CHECK(params[1].name == "bias");
  CHECK(LayerNorm<float>(4).weight().value() == Matrix<float>::Ones(4, 1));
  CHECK(LayerNorm<float>(4).bias().value() == Matrix<float>::Zero(4, 1));
  CHECK(LayerNorm<float>(4, {1e-5, false}).namedParameters().empty());

  // Zero columns; one feature (the output is the bias, the input gradient 0).
  LayerNorm<float> wide(3);
  CHECK(wide.forward(Matrix<float>(3, 0)).cols() == 0);
  LayerNorm<double> one(1);
  one.bias().value()(0, 0) = 0.25;
  const Matrix<double> y1 = one.forward(randomMatrix(1, 4, 3));
  CHECK((y1.array() == 0.25).all());
  CHECK(one.backward(Matrix<double>::Ones(1, 4)).isZero());
}

TEST_CASE("LayerNorm: gradcheck (affine, no affine, batch of 1, all-zero input)", "[nn][layernorm][gradcheck]") {
  LayerNorm<double> affine(6);
  affine.weight().value() = randomMatrix(6, 1, 1, 0.5, 1.0);
  affine.bias().value() = randomMatrix(6, 1, 2);
  for (const Matrix<double>& x :
       {randomMatrix(6, 5, 3, 2.0, 0.5), randomMatrix(6, 1, 4), Matrix<double>(Matrix<double>::Zero(6, 3))}) {
    const auto report = gradcheckLayer(affine, x);
    INFO(report.summary());
    CHECK(report.ok);
  }
  LayerNorm<double> plain(4, {1e-3, false});
  const auto report = gradcheckLayer(plain, randomMatrix(4, 7, 5));
  INFO(report.summary());
  CHECK(report.ok);
}

TEST_CASE("LayerNorm: bad input", "[nn][layernorm]") {
  CHECK_THROWS_WITH(LayerNorm<float>(0), Catch::Contains("LayerNorm: features expected > 0, got 0"));
  CHECK_THROWS_AS(LayerNorm<float>(3, {0.0, true}), std::invalid_argument);
  CHECK_THROWS_AS(LayerNorm<float>(3, {-1.0, true}), std::invalid_argument);
  CHECK_THROWS_AS(LayerNorm<float>(3, {std::nan(""), true}), std::invalid_argument);
  LayerNorm<float> ln(3);
  CHECK_THROWS_WITH(ln.forward(Matrix<float>::Zero(4, 2)),
                    Catch::Contains("LayerNorm::forward: input expected 3 rows, got 4 rows"));
  CHECK_THROWS_AS(ln.backward(Matrix<float>::Zero(3, 2)), std::invalid_argument);  // before forward
  ln.forward(Matrix<float>::Zero(3, 2));
  CHECK_THROWS_WITH(ln.backward(Matrix<float>::Zero(3, 5)), Catch::Contains("LayerNorm::backward: gradOutput"));
  LayerNorm<float> plain(3, {1e-5, false});
  CHECK_THROWS_WITH(plain.weight(), Catch::Contains("without elementwise affine"));
  CHECK_THROWS_AS(plain.bias(), std::invalid_argument);
}

// =======================================================================================
// BatchNorm1d

TEMPLATE_TEST_CASE("BatchNorm1d: parity with PyTorch over two training steps and evaluation", "[nn][batchnorm]", float,
                   double) {
  using S = TestType;
  for (const std::string c : {"bn_a", "bn_b", "bn_c", "bn_d"}) {
    INFO(c);
    typename BatchNorm1d<S>::Options o;
    o.eps = cfgValue(c, 1);
    o.cumulativeAverage = cfgValue(c, 2) < 0;
    if (!o.cumulativeAverage) o.momentum = cfgValue(c, 2);
    o.affine = cfg(c, 3) == 1;
    o.trackRunningStats = cfg(c, 4) == 1;
    BatchNorm1d<S> bn(cfg(c, 0), o);
    if (o.affine) {
      bn.weight().value() = matrixOf<S>(c + "_w");
      bn.bias().value() = matrixOf<S>(c + "_b");
    }
    for (const std::string step : {"1", "2", "3"}) {
      INFO("step " << step);
      bn.setTraining(step != "3");
      bn.zeroGrad();
      const Matrix<S> y = bn.forward(matrixOf<S>(c + "_x" + step));  // (C, n) or flat (C, L * B)
      EIGENREC_REQUIRE_CLOSE(y, matrixOf<S>(c + "_y" + step), kRtol<S>, kAtol<S>);
      const Matrix<S> dx = bn.backward(matrixOf<S>(c + "_g" + step));
      double atol = kAtol<S>;
      if (std::is_same_v<S, float> && step != "3" && c == "bn_c") {
        // Two columns per channel: the output barely depends on x, and dx is a
        // cancellation of terms of size |rstd w g| down to O(eps / var) (PyTorch's own
        // float32 dx is 4e-3 relative off its float64 one here). Float is held to 1e-5
        // of the size of those terms instead.
        const Matrix<double> xd = matrixOf<double>(c + "_x" + step), gd = matrixOf<double>(c + "_g" + step);
        const Matrix<double> wd = matrixOf<double>(c + "_w");
        const Eigen::ArrayXd var = (xd.colwise() - xd.rowwise().mean()).rowwise().squaredNorm().array() / 2.0;
        const Eigen::ArrayXd scale = wd.col(0).array() / (var + cfgValue(c, 1)).sqrt();
        atol = 1e-5 * (gd.array().colwise() * scale).abs().maxCoeff();
      }
      EIGENREC_REQUIRE_CLOSE(dx, matrixOf<S>(c + "_dx" + step), kRtol<S>, atol);
      if (o.affine) {
        EIGENREC_REQUIRE_CLOSE(bn.weight().grad(), matrixOf<S>(c + "_dw" + step), kRtol<S>, kAtol<S>);
        EIGENREC_REQUIRE_CLOSE(bn.bias().grad(), matrixOf<S>(c + "_db" + step), kRtol<S>, kAtol<S>);
      }
      if (o.trackRunningStats && step == "2") {
        EIGENREC_REQUIRE_CLOSE(bn.runningMean(), matrixOf<S>(c + "_rm"), kRtol<S>, kAtol<S>);
        EIGENREC_REQUIRE_CLOSE(bn.runningVar(), matrixOf<S>(c + "_rv"), kRtol<S>, kAtol<S>);
        CHECK(bn.numBatchesTracked() == std::llround(fixture().scalar(c + "_nbt")));
      }
    }
  }
}

TEST_CASE("BatchNorm1d: running statistics by hand, buffers and parameters", "[nn][batchnorm]") {
  BatchNorm1d<double> bn(1, {1e-5, 0.5, false, true, true});
  Matrix<double> x(1, 4);
  x << 1, 2, 3, 6;  // mean 3, biased var 3.5, unbiased 14/3
  const Matrix<double> y = bn.forward(x);
  CHECK(y(0, 0) == Approx(-2 / std::sqrt(3.5 + 1e-5)).epsilon(1e-14));
  CHECK(bn.runningMean()(0, 0) == Approx(0.5 * 0 + 0.5 * 3).epsilon(1e-14));
  CHECK(bn.runningVar()(0, 0) == Approx(0.5 * 1 + 0.5 * 14.0 / 3).epsilon(1e-14));
  CHECK(bn.numBatchesTracked() == 1);

  const auto buffers = bn.namedBuffers();
  REQUIRE(buffers.size() == 3);
  CHECK(buffers[0].name == "running_mean");
  CHECK(buffers[1].name == "running_var");
  CHECK(buffers[2].name == "num_batches_tracked");
  CHECK((*buffers[2].buffer)(0, 0) == 1.0);
  const auto params = bn.namedParameters();
  REQUIRE(params.size() == 2);
  CHECK(params[0].name == "weight");
  CHECK(params[1].name == "bias");

  // Evaluation uses the running statistics: (x - 1.5) / sqrt(2.8333 + eps).
  bn.setTraining(false);
  const Matrix<double> ye = bn.forward(x);
  CHECK(ye(0, 3) == Approx((6 - 1.5) / std::sqrt(0.5 + 7.0 / 3 + 1e-5)).epsilon(1e-14));
  // A single column is fine in evaluation mode.
  CHECK(bn.forward(Matrix<double>::Constant(1, 1, 1.5))(0, 0) == Approx(0).margin(1e-15));

  // momentum 0 keeps the initial statistics, momentum 1 keeps the last batch.
  BatchNorm1d<double> frozen(1, {1e-5, 0.0, false, false, true});
  frozen.forward(x);
  CHECK(frozen.runningMean()(0, 0) == 0.0);
  CHECK(frozen.runningVar()(0, 0) == 1.0);
  BatchNorm1d<double> last(1, {1e-5, 1.0, false, false, true});
  last.forward(x);
  CHECK(last.runningMean()(0, 0) == Approx(3).epsilon(1e-14));

  // Without tracking: no buffers; evaluation uses the batch statistics.
  BatchNorm1d<double> untracked(1, {1e-5, 0.1, false, false, false});
  CHECK(untracked.namedBuffers().empty());
  CHECK(untracked.namedParameters().empty());
  untracked.setTraining(false);
  CHECK(untracked.hasRunningStats());
  CHECK(untracked.forward(x)(0, 0) == Approx(-2 / std::sqrt(3.5 + 1e-5)).epsilon(1e-14));
}

TEST_CASE("BatchNorm1d: evaluation needs computed, loaded or set running statistics", "[nn][batchnorm]") {
  BatchNorm1d<float> bn(3);
  bn.setTraining(false);
  CHECK_FALSE(bn.hasRunningStats());
  CHECK_THROWS_AS(bn.forward(Matrix<float>::Ones(3, 4)), std::invalid_argument);
  CHECK_THROWS_WITH(
      bn.forward(Matrix<float>::Ones(3, 4)),
      Catch::Contains("BatchNorm1d::forward") && Catch::Contains("running statistics were never computed or loaded"));

  // setRunningStats makes them valid.
  Matrix<float> mean(3, 1), var(3, 1);
  mean << 1, 2, 3;
  var << 4, 1, 0;
  bn.setRunningStats(mean, var, 7);
  CHECK(bn.hasRunningStats());
  CHECK(bn.numBatchesTracked() == 7);
  const Matrix<float> y = bn.forward(Matrix<float>::Constant(3, 2, 3));
  CHECK(y(0, 0) == Approx(2 / std::sqrt(4 + 1e-5)));
  CHECK(y(1, 1) == Approx(1 / std::sqrt(1 + 1e-5)));
  CHECK(y(2, 0) == Approx(0).margin(1e-6));
  bn.resetRunningStats();
  CHECK_THROWS_WITH(bn.forward(Matrix<float>::Ones(3, 4)), Catch::Contains("never computed or loaded"));

  // A training step makes them valid.
  bn.setTraining(true);
  bn.forward(randomMatrix<float>(3, 4, 8));
  bn.setTraining(false);
  CHECK_NOTHROW(bn.forward(Matrix<float>::Ones(3, 4)));

  // Bad statistics.
  BatchNorm1d<float> other(3);
  CHECK_THROWS_WITH(other.setRunningStats(mean, Matrix<float>::Ones(2, 1)),
                    Catch::Contains("BatchNorm1d::setRunningStats: var expected shape (3, 1), got (2, 1)"));
  var(1) = -1;
  CHECK_THROWS_WITH(other.setRunningStats(mean, var), Catch::Contains("var expected values >= 0"));
  var(1) = std::nanf("");
  CHECK_THROWS_AS(other.setRunningStats(mean, var), std::invalid_argument);
  CHECK_FALSE(other.hasRunningStats());
}

TEST_CASE("BatchNorm1d: save/load round trip of the running statistics", "[nn][batchnorm][serialize]") {
  BatchNorm1d<double> trained(4, {1e-5, 0.2, false, true, true});
  trained.weight().value() = randomMatrix(4, 1, 1, 0.5, 1.0);
  trained.bias().value() = randomMatrix(4, 1, 2);
  trained.forward(randomMatrix(4, 8, 3, 2.0, 1.0));
  trained.forward(randomMatrix(4, 5, 4, 1.0, -1.0));
  std::stringstream archive;
  saveState(archive, trained);
  const std::string bytes = archive.str();

  BatchNorm1d<double> loaded(4, {1e-5, 0.2, false, true, true});
  loaded.setTraining(false);
  const Matrix<double> probe = randomMatrix(4, 3, 5);
  CHECK_THROWS_WITH(loaded.forward(probe), Catch::Contains("never computed or loaded"));

  // Truncated or mismatched archives are rejected and change nothing.
  std::stringstream truncated(bytes.substr(0, bytes.size() / 2));
  CHECK_THROWS_AS(loadState(truncated, loaded), std::invalid_argument);
  CHECK_FALSE(loaded.hasRunningStats());
  BatchNorm1d<double> wrongShape(5);
  std::stringstream again(bytes);
  CHECK_THROWS_AS(loadState(again, wrongShape), std::invalid_argument);
  BatchNorm1d<double> untracked(4, {1e-5, 0.1, false, true, false});
  std::stringstream third(bytes);
  CHECK_THROWS_AS(loadState(third, untracked), std::invalid_argument);

  std::stringstream good(bytes);
  loadState(good, loaded);
  CHECK(loaded.hasRunningStats());
  CHECK(loaded.numBatchesTracked() == 2);
  CHECK(loaded.runningMean() == trained.runningMean());
  CHECK(loaded.runningVar() == trained.runningVar());
  CHECK(loaded.weight().value() == trained.weight().value());
  trained.setTraining(false);
  CHECK(loaded.forward(probe) == trained.forward(probe));
  // Training continues counting from the loaded counter.
  loaded.setTraining(true);
  loaded.forward(probe);
  CHECK(loaded.numBatchesTracked() == 3);
}

TEST_CASE("BatchNorm1d: gradcheck in training and evaluation mode", "[nn][batchnorm][gradcheck]") {
  BatchNorm1d<double> bn(5);
  bn.weight().value() = randomMatrix(5, 1, 1, 0.5, 1.0);
  bn.bias().value() = randomMatrix(5, 1, 2);
  for (const Index n : {2, 3, 9}) {
    const auto report = gradcheckLayer(bn, randomMatrix(5, n, static_cast<std::uint64_t>(10 + n), 1.5, 0.3));
    INFO("training, n = " << n << ": " << report.summary());
    CHECK(report.ok);
  }
  bn.setTraining(false);
  for (const Index n : {1, 6}) {
    const auto report = gradcheckLayer(bn, randomMatrix(5, n, static_cast<std::uint64_t>(20 + n)));
    INFO("evaluation, n = " << n << ": " << report.summary());
    CHECK(report.ok);
  }
  BatchNorm1d<double> plain(3, {1e-3, 0.1, false, false, true});
  const auto report = gradcheckLayer(plain, randomMatrix(3, 4, 30));
  INFO(report.summary());
  CHECK(report.ok);
}

TEST_CASE("BatchNorm1d: bad input", "[nn][batchnorm]") {
  CHECK_THROWS_WITH(BatchNorm1d<float>(0), Catch::Contains("BatchNorm1d: channels expected > 0, got 0"));
  CHECK_THROWS_WITH(BatchNorm1d<float>(3, {1e-5, 1.5, false, true, true}),
                    Catch::Contains("BatchNorm1d: momentum expected in [0, 1], got 1.5"));
  CHECK_THROWS_AS(BatchNorm1d<float>(3, {1e-5, -0.1, false, true, true}), std::invalid_argument);
  CHECK_THROWS_AS(BatchNorm1d<float>(3, {0.0, 0.1, false, true, true}), std::invalid_argument);
  BatchNorm1d<float> bn(3);
  CHECK_THROWS_WITH(bn.forward(Matrix<float>::Ones(3, 1)),
                    Catch::Contains("BatchNorm1d::forward") && Catch::Contains("more than 1 value per channel"));
  CHECK(bn.numBatchesTracked() == 0);
  CHECK_THROWS_AS(bn.forward(Matrix<float>::Ones(3, 0)), std::invalid_argument);
  CHECK_THROWS_WITH(bn.forward(Matrix<float>::Ones(2, 4)),
                    Catch::Contains("BatchNorm1d::forward: input expected 3 rows, got 2 rows"));
  bn.forward(randomMatrix<float>(3, 4, 8));
  CHECK_THROWS_WITH(bn.backward(Matrix<float>::Ones(3, 5)), Catch::Contains("BatchNorm1d::backward: gradOutput"));
  BatchNorm1d<float> untracked(3, {1e-5, 0.1, false, false, false});
  untracked.setTraining(false);
  CHECK_THROWS_WITH(untracked.forward(Matrix<float>::Ones(3, 1)), Catch::Contains("more than 1 value per channel"));
  CHECK_THROWS_WITH(untracked.runningMean(), Catch::Contains("trackRunningStats = false"));
  CHECK_THROWS_AS(untracked.setRunningStats(Matrix<float>::Zero(3, 1), Matrix<float>::Ones(3, 1)),
                  std::invalid_argument);
  CHECK_THROWS_AS(untracked.weight(), std::invalid_argument);
}

// =======================================================================================
// Conv1d

TEMPLATE_TEST_CASE("Conv1d: parity with PyTorch (zero and circular padding, stride, dilation, kernel 1, length 1)",
                   "[nn][conv]", float, double) {
  using S = TestType;
  for (const std::string c : {"conv_a", "conv_b", "conv_c", "conv_d", "conv_e", "conv_f", "conv_g", "conv_h"}) {
    INFO(c);
    typename Conv1d<S>::Options o;
    o.stride = cfg(c, 3);
    o.padding = cfg(c, 4);
    o.dilation = cfg(c, 5);
    o.paddingMode = cfg(c, 6) == 1 ? PaddingMode::circular : PaddingMode::zeros;
    o.bias = cfg(c, 7) == 1;
    const Index in = cfg(c, 0), outC = cfg(c, 1), k = cfg(c, 2);
    Conv1d<S> conv(in, outC, k, 99, o);
    const Matrix<S> wTorch = matrixOf<S>(c + "_w");  // the bytes of [out, in, k]
    conv.setWeightFromTorch(wTorch.data());
    for (Index o2 = 0; o2 < outC; ++o2)
      for (Index ch = 0; ch < in; ++ch)
        for (Index t = 0; t < k; ++t)
          REQUIRE(conv.weight().value()(o2, t * in + ch) == torchWeight(wTorch, in, k, o2, ch, t));
    if (o.bias) conv.bias().value() = matrixOf<S>(c + "_b");

    const Tensor3<S> x = tensorOf<S>(c + "_x");
    const Tensor3<S> y = conv.forward(x);
    CHECK(y.dimension(1) == conv.outputLength(x.dimension(1)));
    requireTensorClose(y, tensorOf<S>(c + "_y"));
    const Tensor3<S> dx = conv.backward(tensorOf<S>(c + "_g"));
    requireTensorClose(dx, tensorOf<S>(c + "_dx"));

    Matrix<S> dwTorch(wTorch.rows(), wTorch.cols());
    const Matrix<S>& dw = conv.weight().grad();
    for (Index o2 = 0; o2 < outC; ++o2)
      for (Index ch = 0; ch < in; ++ch)
        for (Index t = 0; t < k; ++t) dwTorch.data()[(o2 * in + ch) * k + t] = dw(o2, t * in + ch);
    EIGENREC_REQUIRE_CLOSE(dwTorch, matrixOf<S>(c + "_dw"), kRtol<S>, kAtol<S>);
    if (o.bias) EIGENREC_REQUIRE_CLOSE(conv.bias().grad(), matrixOf<S>(c + "_db"), kRtol<S>, kAtol<S>);

    // The weight goes back to PyTorch's layout unchanged.
    Matrix<S> back(wTorch.rows(), wTorch.cols());
    conv.copyWeightToTorch(back.data());
    CHECK(back == wTorch);
  }
}

TEST_CASE("Conv1d: output lengths, circular boundaries and initialisation", "[nn][conv]") {
  using O = Conv1d<double>::Options;
  // floor((L + 2p - d(k-1) - 1) / s) + 1
  CHECK(Conv1d<double>(1, 1, 3).outputLength(10) == 8);
  CHECK(Conv1d<double>(1, 1, 3, 0, O{1, 1, 1, PaddingMode::circular, true}).outputLength(96) == 96);
  CHECK(Conv1d<double>(1, 1, 3, 0, O{2, 2, 2, PaddingMode::zeros, true}).outputLength(9) == 5);
  CHECK(Conv1d<double>(1, 1, 4, 0, O{3, 0, 1, PaddingMode::zeros, true}).outputLength(10) == 3);
  CHECK(Conv1d<double>(1, 1, 5, 0, O{1, 0, 1, PaddingMode::zeros, true}).outputLength(5) == 1);

  // Circular padding reads the other end: with weight taps (a, b, c) and padding 1,
  // y[0] = a x[L-1] + b x[0] + c x[1] and y[L-1] = a x[L-2] + b x[L-1] + c x[0].
  Conv1d<double> circ(1, 1, 3, 0, O{1, 1, 1, PaddingMode::circular, false});
  const double taps[3] = {1.0, 10.0, 100.0};
  circ.setWeightFromTorch(taps);
  Tensor3<double> x(1, 4, 1);
  x.setValues({{{1}, {2}, {3}, {4}}});
  const Tensor3<double> y = circ.forward(x);
  REQUIRE(y.dimension(1) == 4);
  CHECK(y(0, 0, 0) == 4 + 10 * 1 + 100 * 2);
  CHECK(y(0, 1, 0) == 1 + 10 * 2 + 100 * 3);
  CHECK(y(0, 3, 0) == 3 + 10 * 4 + 100 * 1);
  // Padding = length: every position is wrapped once on each side.
  Conv1d<double> wrapAll(1, 1, 3, 0, O{1, 2, 1, PaddingMode::circular, false});
  wrapAll.setWeightFromTorch(taps);
  Tensor3<double> x2(1, 2, 1);
  x2.setValues({{{1}, {2}}});  // padded: 1 2 | 1 2 | 1 2
  const Tensor3<double> y2 = wrapAll.forward(x2);
  REQUIRE(y2.dimension(1) == 4);
  CHECK(y2(0, 0, 0) == 1 + 10 * 2 + 100 * 1);
  CHECK(y2(0, 3, 0) == 2 + 10 * 1 + 100 * 2);
  // Zero padding at the same place.
  Conv1d<double> zero(1, 1, 3, 0, O{1, 1, 1, PaddingMode::zeros, false});
  zero.setWeightFromTorch(taps);
  const Tensor3<double> yz = zero.forward(x);
  CHECK(yz(0, 0, 0) == 10 * 1 + 100 * 2);
  CHECK(yz(0, 3, 0) == 3 + 10 * 4);

  // Kernel 1 with an identity weight copies the input.
  Conv1d<float> pointwise(3, 3, 1, 0, Conv1d<float>::Options{1, 0, 1, PaddingMode::zeros, false});
  pointwise.weight().value().setIdentity();
  const Tensor3<float> xs = randomTensor<float>(3, 5, 2, 9);
  CHECK(flat(pointwise.forward(xs)) == flat(xs));

  // PyTorch's default init bounds, seeded.
  Conv1d<double> a(8, 6, 3, 42), b(8, 6, 3, 42), c(8, 6, 3, 43);
  const double bound = 1 / std::sqrt(24.0);
  CHECK(a.weight().value().cwiseAbs().maxCoeff() <= bound);
  CHECK(a.weight().value().cwiseAbs().maxCoeff() > 0.8 * bound);
  CHECK(a.bias().value().cwiseAbs().maxCoeff() <= bound);
  CHECK(a.weight().value() == b.weight().value());
  CHECK(a.bias().value() == b.bias().value());
  CHECK(a.weight().value() != c.weight().value());
  Rng rng(42);
  Conv1d<double> d(8, 6, 3, rng);
  CHECK(d.weight().value() == a.weight().value());
  CHECK(a.weight().rows() == 6);
  CHECK(a.weight().cols() == 24);
  const auto params = a.namedParameters();
  REQUIRE(params.size() == 2);
  CHECK(params[0].name == "weight");
  CHECK(params[1].name == "bias");
  CHECK(Conv1d<double>(2, 2, 2, 0, O{1, 0, 1, PaddingMode::zeros, false}).namedParameters().size() == 1);

  // Gradients accumulate over backward calls; zeroGrad clears them.
  Conv1d<double> acc(2, 3, 3, 5, O{1, 1, 1, PaddingMode::zeros, true});
  const Tensor3<double> xa = randomTensor(2, 6, 2, 1), ga = randomTensor(3, 6, 2, 2);
  acc.forward(xa);
  acc.backward(ga);
  const Matrix<double> once = acc.weight().grad();
  acc.forward(xa);
  acc.backward(ga);
  EIGENREC_REQUIRE_CLOSE(acc.weight().grad(), (2 * once).eval(), 1e-14, 1e-14);
  acc.zeroGrad();
  CHECK(acc.weight().grad().isZero());
}

TEST_CASE("Conv1d: gradcheck (padding modes, stride, dilation, batch 1, length 1, kernel 1)", "[nn][conv][gradcheck]") {
  using O = Conv1d<double>::Options;
  struct Case {
    Index in, out, k, length, batch;
    O options;
  };
  const std::vector<Case> cases = {
      {3, 4, 3, 7, 2, O{1, 1, 1, PaddingMode::zeros, true}},
      {2, 3, 3, 9, 3, O{2, 2, 2, PaddingMode::zeros, false}},
      {3, 3, 3, 6, 2, O{1, 1, 1, PaddingMode::circular, true}},
      {2, 2, 5, 3, 2, O{2, 3, 1, PaddingMode::circular, true}},  // circular padding = length
      {2, 2, 3, 4, 1, O{1, 4, 2, PaddingMode::circular, true}},  // dilated wrap-around, batch 1
      {3, 2, 3, 1, 1, O{1, 1, 1, PaddingMode::zeros, true}},     // length 1
      {3, 2, 3, 1, 2, O{1, 1, 1, PaddingMode::circular, true}},
      {4, 3, 1, 5, 2, O{1, 0, 1, PaddingMode::zeros, true}},  // kernel 1
  };
  std::uint64_t seed = 100;
  for (const auto& c : cases) {
    Conv1d<double> conv(c.in, c.out, c.k, seed++, c.options);
    const auto report = gradcheckTensor(conv, randomTensor(c.in, c.length, c.batch, seed++));
    INFO("in " << c.in << " out " << c.out << " k " << c.k << " L " << c.length << " B " << c.batch << " mode "
               << paddingModeName(c.options.paddingMode) << ": " << report.summary());
    CHECK(report.ok);
  }
}

TEST_CASE("Conv1d: bad input", "[nn][conv]") {
  using O = Conv1d<float>::Options;
  CHECK_THROWS_WITH(Conv1d<float>(0, 2, 3), Catch::Contains("Conv1d: inChannels expected > 0, got 0"));
  CHECK_THROWS_AS(Conv1d<float>(2, 0, 3), std::invalid_argument);
  CHECK_THROWS_WITH(Conv1d<float>(2, 2, 0), Catch::Contains("Conv1d: kernelSize expected > 0, got 0"));
  CHECK_THROWS_WITH(Conv1d<float>(2, 2, 3, 0, O{0, 0, 1, PaddingMode::zeros, true}),
                    Catch::Contains("Conv1d: stride expected > 0, got 0"));
  CHECK_THROWS_WITH(Conv1d<float>(2, 2, 3, 0, O{1, -1, 1, PaddingMode::zeros, true}),
                    Catch::Contains("Conv1d: padding expected >= 0, got -1"));
  CHECK_THROWS_AS(Conv1d<float>(2, 2, 3, 0, O{1, 0, 0, PaddingMode::zeros, true}), std::invalid_argument);

  Conv1d<float> conv(2, 3, 3, 0, O{1, 1, 1, PaddingMode::zeros, true});
  CHECK_THROWS_WITH(conv.backward(Tensor3<float>(3, 4, 1)), Catch::Contains("Conv1d::backward: called before forward"));
  CHECK_THROWS_WITH(conv.forward(Tensor3<float>(3, 4, 1)),
                    Catch::Contains("Conv1d::forward: input channels (dimension 0) expected 2, got 3"));
  CHECK_THROWS_AS(conv.forward(Tensor3<float>(2, 0, 1)), std::invalid_argument);
  CHECK_THROWS_AS(conv.forward(Tensor3<float>(2, 4, 0)), std::invalid_argument);
  Conv1d<float> big(2, 3, 5, 0, O{1, 1, 1, PaddingMode::zeros, true});
  CHECK_THROWS_WITH(big.forward(Tensor3<float>(2, 2, 1)), Catch::Contains("Conv1d::forward: kernel span") &&
                                                              Catch::Contains("<= padded input length 4, got 5"));
  CHECK_THROWS_AS(Conv1d<float>(2, 3, 3, 0, O{1, 0, 2, PaddingMode::zeros, true}).outputLength(4),
                  std::invalid_argument);  // dilated span 5 > 4
  Conv1d<float> circular(2, 3, 5, 0, O{1, 3, 1, PaddingMode::circular, true});
  CHECK_THROWS_WITH(circular.forward(Tensor3<float>(2, 2, 1)),
                    Catch::Contains("Conv1d::forward: circular padding expected <= input length 2, got 3"));
  CHECK_NOTHROW(circular.forward(Tensor3<float>(2, 3, 1).setZero()));

  const Tensor3<float> x = randomTensor<float>(2, 4, 2, 1);
  conv.forward(x);
  CHECK_THROWS_WITH(conv.backward(Tensor3<float>(3, 5, 2)),
                    Catch::Contains("Conv1d::backward: gradOutput expected dimensions (3, 4, 2), got (3, 5, 2)"));
  // A failed forward leaves the cached state of the last good one.
  CHECK_THROWS_AS(conv.forward(Tensor3<float>(2, 0, 3)), std::invalid_argument);
  Tensor3<float> g(3, 4, 2);
  g.setZero();
  const Tensor3<float> dx = conv.backward(g);
  CHECK((dx.dimension(0) == 2 && dx.dimension(1) == 4 && dx.dimension(2) == 2));
  CHECK_THROWS_WITH(conv.setWeightFromTorch(nullptr), Catch::Contains("data is null"));
  Conv1d<float> noBias(2, 2, 1, 0, O{1, 0, 1, PaddingMode::zeros, false});
  CHECK_THROWS_WITH(noBias.bias(), Catch::Contains("without bias"));
}

// =======================================================================================
// Pooling

TEMPLATE_TEST_CASE("MaxPool1d / AvgPool1d: parity with PyTorch (padding, dilation, ceil_mode, ties)", "[nn][pool]",
                   float, double) {
  using S = TestType;
  for (const std::string c : {"max_a", "max_b", "max_c", "max_d", "max_ties", "max_e", "avg_a", "avg_b", "avg_c",
                              "avg_d", "avg_e", "avg_f"}) {
    INFO(c);
    const Tensor3<S> x = tensorOf<S>(c + "_x");
    Tensor3<S> y, dx;
    if (cfg(c, 0) == 0) {
      MaxPool1d<S> pool(cfg(c, 1), {cfg(c, 2), cfg(c, 3), cfg(c, 4), cfg(c, 5) == 1});
      y = pool.forward(x);
      CHECK(y.dimension(1) == pool.outputLength(x.dimension(1)));
      dx = pool.backward(tensorOf<S>(c + "_g"));
    } else {
      AvgPool1d<S> pool(cfg(c, 1), {cfg(c, 2), cfg(c, 3), cfg(c, 5) == 1, cfg(c, 6) == 1});
      y = pool.forward(x);
      CHECK(y.dimension(1) == pool.outputLength(x.dimension(1)));
      dx = pool.backward(tensorOf<S>(c + "_g"));
    }
    requireTensorClose(y, tensorOf<S>(c + "_y"));
    requireTensorClose(dx, tensorOf<S>(c + "_dx"));
  }
}

TEST_CASE("MaxPool1d / AvgPool1d: hand-worked windows, ties, ceil_mode and lengths", "[nn][pool]") {
  using MO = MaxPool1d<double>::Options;
  using AO = AvgPool1d<double>::Options;
  Tensor3<double> x(1, 5, 1);
  x.setValues({{{1}, {3}, {3}, {-2}, {5}}});

  // kernel 2, stride 2 (default), floor: windows [0, 2), [2, 4); the 5th position is dropped.
  MaxPool1d<double> floorPool(2);
  const Tensor3<double> yf = floorPool.forward(x);
  REQUIRE(yf.dimension(1) == 2);
  CHECK(yf(0, 0, 0) == 3);
  CHECK(yf(0, 1, 0) == 3);
  // ceil_mode adds the partial window [4, 5).
  MaxPool1d<double> ceilPool(2, MO{0, 0, 1, true});
  const Tensor3<double> yc = ceilPool.forward(x);
  REQUIRE(yc.dimension(1) == 3);
  CHECK(yc(0, 2, 0) == 5);
  // Ties go to the first maximum: window [1, 4) of kernel 3, stride 1.
  MaxPool1d<double> ties(3, MO{1, 0, 1, false});
  ties.forward(x);
  CHECK(ties.indices()(0, 0) == 1);
  CHECK(ties.indices()(0, 1) == 1);
  Tensor3<double> g(1, 3, 1);
  g.setValues({{{1}, {10}, {100}}});
  const Tensor3<double> dx = ties.backward(g);
  CHECK(dx(0, 1, 0) == 11);
  CHECK(dx(0, 2, 0) == 0);
  CHECK(dx(0, 4, 0) == 100);
  // Padding is -inf for max: a window over the padding and an all-negative input.
  Tensor3<double> neg(1, 2, 1);
  neg.setValues({{{-4}, {-7}}});
  MaxPool1d<double> padded(3, MO{2, 1, 1, false});
  const Tensor3<double> yp = padded.forward(neg);
  REQUIRE(yp.dimension(1) == 1);
  CHECK(yp(0, 0, 0) == -4);

  // Average, kernel 3, stride 2, padding 1, ceil_mode on length 5: windows start at -1,
  // 1, 3; the last one [3, 6) is clipped to the padded end 6 -> size 3, 2 input values.
  AvgPool1d<double> avgInclude(3, AO{2, 1, true, true});
  const Tensor3<double> ya = avgInclude.forward(x);
  REQUIRE(ya.dimension(1) == 3);
  CHECK(ya(0, 0, 0) == Approx((0 + 1 + 3) / 3.0));
  CHECK(ya(0, 2, 0) == Approx((-2 + 5 + 0) / 3.0));
  AvgPool1d<double> avgExclude(3, AO{2, 1, true, false});
  const Tensor3<double> ye = avgExclude.forward(x);
  CHECK(ye(0, 0, 0) == Approx((1 + 3) / 2.0));
  CHECK(ye(0, 2, 0) == Approx((-2 + 5) / 2.0));
  // Length 6, kernel 3, stride 2, padding 1, ceil: the last window [5, 8) hangs past the
  // padded end 7, so even with count_include_pad its divisor is 2.
  Tensor3<double> x6(1, 6, 1);
  x6.setValues({{{1}, {2}, {3}, {4}, {5}, {6}}});
  const Tensor3<double> y6 = avgInclude.forward(x6);
  REQUIRE(y6.dimension(1) == 4);
  CHECK(y6(0, 3, 0) == Approx(6 / 2.0));

  // Output lengths.
  CHECK(MaxPool1d<double>(3, MO{2, 1, 1, false}).outputLength(96) == 48);  // Informer: ceil(L / 2)
  for (Index length = 1; length <= 17; ++length) {
    CHECK(MaxPool1d<double>(3, MO{2, 1, 1, false}).outputLength(length) == (length + 1) / 2);
  }
  CHECK(MaxPool1d<double>(3, MO{2, 0, 1, true}).outputLength(8) == 4);
  CHECK(MaxPool1d<double>(3, MO{2, 0, 1, false}).outputLength(8) == 3);
  CHECK(MaxPool1d<double>(2, MO{2, 1, 1, true}).outputLength(4) == 3);  // last window must start inside
  CHECK(MaxPool1d<double>(3, MO{0, 0, 1, false}).options().stride == 3);

  // A length-1 sequence with padding.
  const Tensor3<double> one = randomTensor(2, 1, 3, 4);
  MaxPool1d<double> onePool(3, MO{2, 1, 1, false});
  CHECK(flat(onePool.forward(one)) == flat(one));
  AvgPool1d<double> oneAvg(3, AO{2, 1, false, false});
  CHECK(flat(oneAvg.forward(one)) == flat(one));
}

TEST_CASE("MaxPool1d / AvgPool1d: gradcheck", "[nn][pool][gradcheck]") {
  using MO = MaxPool1d<double>::Options;
  using AO = AvgPool1d<double>::Options;
  std::uint64_t seed = 200;
  for (const auto& o : {MO{2, 1, 1, false}, MO{1, 1, 2, false}, MO{2, 0, 1, true}, MO{0, 0, 1, true}}) {
    MaxPool1d<double> pool(3, o);
    for (const auto& [length, batch] :
         {std::pair<Index, Index>{7, 2}, {o.padding > 0 && o.dilation == 1 ? 1 : 3, 1}, {8, 1}}) {
      const auto report = gradcheckTensor(pool, randomTensor(3, length, batch, seed++));
      INFO("max stride " << o.stride << " padding " << o.padding << " dilation " << o.dilation << " ceil " << o.ceilMode
                         << " L " << length << ": " << report.summary());
      CHECK(report.ok);
    }
  }
  for (const auto& o : {AO{2, 1, false, true}, AO{2, 1, true, false}, AO{3, 1, true, true}, AO{0, 0, false, true}}) {
    AvgPool1d<double> pool(3, o);
    for (const auto& [length, batch] : {std::pair<Index, Index>{7, 2}, {o.padding > 0 ? 1 : 3, 1}, {8, 1}}) {
      const auto report = gradcheckTensor(pool, randomTensor(3, length, batch, seed++));
      INFO("avg stride " << o.stride << " padding " << o.padding << " ceil " << o.ceilMode << " include pad "
                         << o.countIncludePad << " L " << length << ": " << report.summary());
      CHECK(report.ok);
    }
  }
}

TEST_CASE("MaxPool1d / AvgPool1d: bad input", "[nn][pool]") {
  using MO = MaxPool1d<float>::Options;
  using AO = AvgPool1d<float>::Options;
  CHECK_THROWS_WITH(MaxPool1d<float>(0), Catch::Contains("MaxPool1d: kernelSize expected > 0, got 0"));
  CHECK_THROWS_WITH(MaxPool1d<float>(3, MO{2, 2, 1, false}),
                    Catch::Contains("MaxPool1d: padding expected <= kernelSize / 2 = 1, got 2"));
  CHECK_THROWS_AS(MaxPool1d<float>(3, MO{-1, 0, 1, false}), std::invalid_argument);
  CHECK_THROWS_AS(MaxPool1d<float>(3, MO{1, -1, 1, false}), std::invalid_argument);
  CHECK_THROWS_AS(MaxPool1d<float>(3, MO{1, 0, 0, false}), std::invalid_argument);
  CHECK_THROWS_WITH(AvgPool1d<float>(2, AO{1, 2, false, true}),
                    Catch::Contains("AvgPool1d: padding expected <= kernelSize / 2 = 1, got 2"));
  CHECK_THROWS_AS(AvgPool1d<float>(-1), std::invalid_argument);

  MaxPool1d<float> pool(3);
  AvgPool1d<float> avg(3);
  CHECK_THROWS_WITH(pool.forward(Tensor3<float>(2, 2, 1).setZero()),
                    Catch::Contains("MaxPool1d::forward: input length 2 is too short for kernel 3"));
  CHECK_THROWS_WITH(avg.forward(Tensor3<float>(2, 2, 1).setZero()),
                    Catch::Contains("AvgPool1d::forward: input length 2 is too short"));
  CHECK_THROWS_AS(MaxPool1d<float>(2, MO{1, 0, 3, false}).outputLength(3), std::invalid_argument);  // span 4
  CHECK_THROWS_AS(pool.forward(Tensor3<float>(0, 4, 1)), std::invalid_argument);
  CHECK_THROWS_AS(pool.forward(Tensor3<float>(2, 0, 1)), std::invalid_argument);
  CHECK_THROWS_AS(avg.forward(Tensor3<float>(2, 4, 0)), std::invalid_argument);
  CHECK_THROWS_WITH(pool.backward(Tensor3<float>(2, 1, 1)),
                    Catch::Contains("MaxPool1d::backward: called before forward"));
  CHECK_THROWS_WITH(avg.backward(Tensor3<float>(2, 1, 1)),
                    Catch::Contains("AvgPool1d::backward: called before forward"));
  const Tensor3<float> x = randomTensor<float>(2, 6, 2, 5);
  pool.forward(x);
  avg.forward(x);
  CHECK_THROWS_WITH(pool.backward(Tensor3<float>(2, 3, 2)),
                    Catch::Contains("MaxPool1d::backward: gradOutput expected dimensions (2, 2, 2), got (2, 3, 2)"));
  CHECK_THROWS_AS(avg.backward(Tensor3<float>(2, 2, 1)), std::invalid_argument);
}

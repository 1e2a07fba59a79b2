// Parameter initialisers (nn/init.hpp): bounds, sample moments against the
// distributions' formulas, gains, seeding and draw order, targets that are blocks or
// maps, bad arguments.
//
// Moment checks allow 5 standard errors of the statistic for the sample size used:
//   mean:     sigma / sqrt(n)
//   variance: sqrt((mu4 - sigma^4) / n), mu4 the fourth central moment
//             (uniform on [-b, b]: mu4 = b^4 / 5; normal: mu4 = 3 sigma^4).
#include <catch2/catch.hpp>
#include <eigenrec/nn/init.hpp>

#include <cmath>
#include <limits>
#include <vector>

using namespace eigenrec;
using namespace eigenrec::nn;

namespace {

struct Moments {
  double mean = 0, variance = 0, minimum = 0, maximum = 0, maxAbs = 0;
  double n = 0;
};

template <typename Derived>
Moments momentsOf(const Eigen::MatrixBase<Derived>& m) {
  Moments r;
  r.n = static_cast<double>(m.size());
  const Eigen::ArrayXd x = m.template cast<double>().reshaped().array();
  r.mean = x.mean();
  r.variance = (x - r.mean).square().sum() / (r.n - 1);
  r.minimum = x.minCoeff();
  r.maximum = x.maxCoeff();
  r.maxAbs = x.abs().maxCoeff();
  return r;
}

// Sample of a zero-mean uniform on [-bound, bound]: moments and range. Draws are made in
// double and rounded to S, which may round onto the far side of the bound by one ulp.
template <typename S>
void checkUniform(const Moments& m, double bound) {
  INFO("bound " << bound << ", mean " << m.mean << ", variance " << m.variance << ", max |w| " << m.maxAbs);
  CHECK(m.maxAbs <= static_cast<double>(static_cast<S>(bound)) * (1 + std::numeric_limits<S>::epsilon()));
  // With n draws, P(max |w| < (1 - 1e-3) bound) = (1 - 1e-3)^n: the range is reached.
  CHECK(m.maxAbs > (1 - 1e-3) * bound);
  const double var = bound * bound / 3, mu4 = std::pow(bound, 4) / 5;
  CHECK(std::abs(m.mean) < 5 * std::sqrt(var / m.n));
  CHECK(std::abs(m.variance - var) < 5 * std::sqrt((mu4 - var * var) / m.n));
}

// Sample of N(mean, stddev^2).
void checkNormal(const Moments& m, double mean, double stddev) {
  INFO("expected N(" << mean << ", " << stddev << "^2), got mean " << m.mean << ", variance " << m.variance);
  const double var = stddev * stddev;
  CHECK(std::abs(m.mean - mean) < 5 * stddev / std::sqrt(m.n));
  CHECK(std::abs(m.variance - var) < 5 * var * std::sqrt(2 / m.n));
}

double phi(double x) { return std::exp(-0.5 * x * x) / std::sqrt(2 * 3.14159265358979323846); }
double Phi(double x) { return 0.5 * std::erfc(-x / std::sqrt(2.0)); }

}  // namespace

TEST_CASE("init::gain: torch.nn.init.calculate_gain", "[nn][init]") {
  using init::Nonlinearity;
  CHECK(init::gain(Nonlinearity::linear) == 1.0);
  CHECK(init::gain(Nonlinearity::sigmoid) == 1.0);
  CHECK(init::gain(Nonlinearity::tanh) == Approx(5.0 / 3));
  CHECK(init::gain(Nonlinearity::relu) == Approx(std::sqrt(2.0)));
  CHECK(init::gain(Nonlinearity::leakyRelu) == Approx(std::sqrt(2.0 / (1 + 0.01 * 0.01))));
  CHECK(init::gain(Nonlinearity::leakyRelu, 0.2) == Approx(std::sqrt(2.0 / 1.04)));
  CHECK(init::gain(Nonlinearity::selu) == 0.75);
}

TEMPLATE_TEST_CASE("init::constant / zeros fill matrices, blocks and maps", "[nn][init]", float, double) {
  using S = TestType;
  Matrix<S> m = Matrix<S>::Constant(3, 4, S(9));
  init::constant(m, 0.25);
  CHECK((m.array() == S(0.25)).all());
  init::zeros(m);
  CHECK(m.isZero(0));
  // A block: only its coefficients change.
  m.setConstant(S(9));
  init::constant(m.block(1, 1, 2, 2), -1.5);
  CHECK(m.block(1, 1, 2, 2).isConstant(S(-1.5), 0));
  CHECK(m.col(0).isConstant(S(9), 0));
  CHECK(m.row(0).isConstant(S(9), 0));
  CHECK(m(1, 3) == S(9));
  init::zeros(m.col(3));
  CHECK(m.col(3).isZero(0));
  CHECK(m(2, 2) == S(-1.5));
  // A map over external storage.
  std::vector<S> storage(6, S(3));
  Eigen::Map<Matrix<S>> map(storage.data(), 2, 3);
  init::constant(map, 2.0);
  CHECK(storage == std::vector<S>(6, S(2)));
  init::zeros(map);
  CHECK(storage == std::vector<S>(6, S(0)));
  // Empty targets are fine.
  Matrix<S> empty(0, 5);
  init::constant(empty, 1.0);
  init::zeros(empty);
  CHECK(empty.size() == 0);
}

TEMPLATE_TEST_CASE("init::uniform / xavierUniform / kaimingUniform: bounds and moments", "[nn][init]", float,
                   double) {
  using S = TestType;
  Rng rng(17);
  Matrix<S> w(200, 250);  // n = 50000

  init::uniform(w, -0.5, 1.5, rng);
  const Moments u = momentsOf(w);
  CHECK(u.minimum >= -0.5);
  CHECK(u.maximum <= 1.5);  // < 1.5 in double; rounding to float may reach 1.5
  CHECK(std::abs(u.mean - 0.5) < 5 * std::sqrt(1.0 / 3 / u.n));  // U(-0.5, 1.5): variance 4 / 12

  // Xavier: bound g sqrt(6 / (fanIn + fanOut)).
  init::xavierUniform(w, 30, 70, rng);
  checkUniform<S>(momentsOf(w), std::sqrt(6.0 / 100));
  init::xavierUniform(w, 30, 70, rng, 5.0 / 3);
  checkUniform<S>(momentsOf(w), 5.0 / 3 * std::sqrt(6.0 / 100));
  init::xavierUniform(w, 0, 8, rng);  // one fan may be 0
  checkUniform<S>(momentsOf(w), std::sqrt(6.0 / 8));

  // Kaiming: bound gain sqrt(3 / fan). The default (leaky relu, slope sqrt(5)) is
  // PyTorch's Linear init, 1 / sqrt(fan).
  init::kaimingUniform(w, 64, rng);
  checkUniform<S>(momentsOf(w), 1.0 / 8);
  init::kaimingUniform(w, 50, rng, init::Nonlinearity::relu);
  checkUniform<S>(momentsOf(w), std::sqrt(6.0 / 50));
  init::kaimingUniform(w, 1, rng, init::Nonlinearity::linear);
  checkUniform<S>(momentsOf(w), std::sqrt(3.0));
}

TEMPLATE_TEST_CASE("init::normal / xavierNormal / kaimingNormal: moments", "[nn][init]", float, double) {
  using S = TestType;
  Rng rng(23);
  Matrix<S> w(250, 200);  // n = 50000

  init::normal(w, 1.5, 0.3, rng);
  checkNormal(momentsOf(w), 1.5, 0.3);
  init::normal(w, -2.0, 0.0, rng);  // stddev 0: a constant
  CHECK((w.array() == S(-2)).all());

  init::xavierNormal(w, 40, 60, rng);
  checkNormal(momentsOf(w), 0.0, std::sqrt(2.0 / 100));
  init::xavierNormal(w, 40, 60, rng, 2.0);
  checkNormal(momentsOf(w), 0.0, 2.0 * std::sqrt(2.0 / 100));

  init::kaimingNormal(w, 32, rng);  // relu: sqrt(2 / fan)
  checkNormal(momentsOf(w), 0.0, std::sqrt(2.0 / 32));
  init::kaimingNormal(w, 32, rng, init::Nonlinearity::tanh);
  checkNormal(momentsOf(w), 0.0, 5.0 / 3 / std::sqrt(32.0));
  init::kaimingNormal(w, 32, rng, init::Nonlinearity::leakyRelu, 0.2);
  checkNormal(momentsOf(w), 0.0, std::sqrt(2.0 / 1.04) / std::sqrt(32.0));
}

TEMPLATE_TEST_CASE("init::truncatedNormal: inside the bounds, truncated-normal moments", "[nn][init]", float, double) {
  using S = TestType;
  Rng rng(31);
  Matrix<S> w(250, 200);  // n = 50000
  struct Case {
    double mean, stddev, a, b;
  };
  // torch.nn.init.trunc_normal_'s default (N(0, 1) on [-2, 2]), an asymmetric interval,
  // a one-sided tail, and an interval far from the mean.
  for (const Case c : {Case{0, 1, -2, 2}, Case{0.5, 2, -1, 3}, Case{0, 0.02, 0, 0.04}, Case{0, 1, 1.5, 4}}) {
    INFO("N(" << c.mean << ", " << c.stddev << "^2) on [" << c.a << ", " << c.b << "]");
    init::truncatedNormal(w, c.mean, c.stddev, c.a, c.b, rng);
    const Moments m = momentsOf(w);
    CHECK(m.minimum >= static_cast<double>(static_cast<S>(c.a)));
    CHECK(m.maximum <= static_cast<double>(static_cast<S>(c.b)));
    // Moments of the truncated normal with alpha = (a - mu) / sigma, beta = (b - mu) / sigma.
    const double alpha = (c.a - c.mean) / c.stddev, beta = (c.b - c.mean) / c.stddev;
    const double z = Phi(beta) - Phi(alpha);
    const double d = (phi(alpha) - phi(beta)) / z;
    const double mean = c.mean + c.stddev * d;
    const double var = c.stddev * c.stddev * (1 + (alpha * phi(alpha) - beta * phi(beta)) / z - d * d);
    // The distribution is bounded, so its fourth central moment is at most
    // (b - a)^2 var; that bounds the standard error of the sample variance.
    const double mu4Bound = (c.b - c.a) * (c.b - c.a) * var;
    INFO("mean " << m.mean << " (expected " << mean << "), variance " << m.variance << " (expected " << var << ")");
    CHECK(std::abs(m.mean - mean) < 5 * std::sqrt(var / m.n));
    CHECK(std::abs(m.variance - var) < 5 * std::sqrt(mu4Bound / m.n));
  }
}

TEMPLATE_TEST_CASE("init: a seed gives the same weights, in column-major draw order", "[nn][init]", float, double) {
  using S = TestType;
  auto fill = [](auto&& target, int which, std::uint64_t seed) {
    Rng rng(seed);
    switch (which) {
      case 0: init::uniform(target, -1, 1, rng); break;
      case 1: init::normal(target, 0, 1, rng); break;
      case 2: init::truncatedNormal(target, 0, 1, -2, 2, rng); break;
      case 3: init::xavierUniform(target, 3, 4, rng); break;
      case 4: init::xavierNormal(target, 3, 4, rng); break;
      case 5: init::kaimingUniform(target, 3, rng); break;
      default: init::kaimingNormal(target, 3, rng); break;
    }
  };
  for (int which = 0; which < 7; ++which) {
    INFO("initialiser " << which);
    Matrix<S> a(3, 4), b(3, 4), c(3, 4);
    fill(a, which, 99);
    fill(b, which, 99);
    fill(c, which, 100);
    CHECK(a == b);
    CHECK(a != c);
    // Values are drawn in double and rounded, so a float target holds the double draws.
    Matrix<double> d(3, 4);
    fill(d, which, 99);
    CHECK(a == d.cast<S>());
    // Column-major order whatever the target: a block of a larger matrix, or a
    // row-major map, gets the same values at the same (row, column) positions.
    Matrix<S> big = Matrix<S>::Constant(5, 6, S(7));
    fill(big.block(1, 2, 3, 4), which, 99);
    CHECK(big.block(1, 2, 3, 4) == a);
    CHECK(big.col(0).isConstant(S(7), 0));
    CHECK(big.row(4).isConstant(S(7), 0));
    std::vector<S> storage(12);
    Eigen::Map<Eigen::Matrix<S, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>> rowMajor(storage.data(), 3, 4);
    fill(rowMajor, which, 99);
    CHECK(Matrix<S>(rowMajor) == a);
    // Drawing continues the engine's stream: two 3x2 halves from one engine are one 3x4.
    if (which == 0) {
      Matrix<S> halves(3, 4);
      Rng rng(99);
      init::uniform(halves.leftCols(2), -1, 1, rng);
      init::uniform(halves.rightCols(2), -1, 1, rng);
      CHECK(halves == a);
    }
  }
}

TEST_CASE("init: bad arguments are rejected and leave the target untouched", "[nn][init]") {
  Rng rng(1);
  Matrix<double> w = Matrix<double>::Constant(2, 3, 4.0);
  const double nan = std::numeric_limits<double>::quiet_NaN(), inf = std::numeric_limits<double>::infinity();
  using Catch::Contains;

  CHECK_THROWS_WITH(init::uniform(w, 1, -1, rng), Contains("init::uniform: bounds expected lo <= hi, got 1 > -1"));
  CHECK_THROWS_AS(init::uniform(w, nan, 1, rng), std::invalid_argument);
  CHECK_THROWS_AS(init::uniform(w, 0, nan, rng), std::invalid_argument);
  CHECK_THROWS_WITH(init::uniform(w, -inf, 1, rng), Contains("init::uniform: lo expected a finite number"));
  CHECK_THROWS_WITH(init::uniform(w, 0, inf, rng), Contains("init::uniform: hi expected a finite number"));

  CHECK_THROWS_WITH(init::normal(w, 0, -1, rng), Contains("init::normal: stddev expected finite and >= 0, got -1"));
  CHECK_THROWS_AS(init::normal(w, 0, nan, rng), std::invalid_argument);
  CHECK_THROWS_AS(init::normal(w, 0, inf, rng), std::invalid_argument);
  CHECK_THROWS_WITH(init::normal(w, nan, 1, rng), Contains("init::normal: mean expected a finite number"));
  CHECK_THROWS_AS(init::normal(w, inf, 1, rng), std::invalid_argument);

  CHECK_THROWS_WITH(init::truncatedNormal(w, 0, 0, -2, 2, rng),
                    Contains("init::truncatedNormal: stddev expected finite and > 0, got 0"));
  CHECK_THROWS_AS(init::truncatedNormal(w, 0, -1, -2, 2, rng), std::invalid_argument);
  CHECK_THROWS_AS(init::truncatedNormal(w, 0, inf, -2, 2, rng), std::invalid_argument);
  CHECK_THROWS_WITH(init::truncatedNormal(w, 0, 1, 2, -2, rng),
                    Contains("init::truncatedNormal: bounds expected a < b, got 2 >= -2"));
  CHECK_THROWS_AS(init::truncatedNormal(w, 0, 1, 1, 1, rng), std::invalid_argument);
  CHECK_THROWS_AS(init::truncatedNormal(w, 0, 1, nan, 2, rng), std::invalid_argument);
  CHECK_THROWS_AS(init::truncatedNormal(w, nan, 1, -2, 2, rng), std::invalid_argument);

  CHECK_THROWS_WITH(init::xavierUniform(w, 0, 0, rng), Contains("init::xavierUniform: fanIn + fanOut expected > 0"));
  CHECK_THROWS_WITH(init::xavierUniform(w, -4, 10, rng), Contains("init::xavierUniform: fanIn expected >= 0, got -4"));
  CHECK_THROWS_WITH(init::xavierNormal(w, 10, -4, rng), Contains("init::xavierNormal: fanOut expected >= 0, got -4"));
  CHECK_THROWS_AS(init::xavierNormal(w, 0, 0, rng), std::invalid_argument);
  CHECK_THROWS_WITH(init::kaimingUniform(w, 0, rng), Contains("init::kaimingUniform: fan expected > 0, got 0"));
  CHECK_THROWS_AS(init::kaimingUniform(w, -3, rng), std::invalid_argument);
  CHECK_THROWS_WITH(init::kaimingNormal(w, 0, rng), Contains("init::kaimingNormal: fan expected > 0, got 0"));

  CHECK((w.array() == 4.0).all());
  // The engine was not advanced by the rejected calls either.
  Rng fresh(1);
  CHECK(rng() == fresh());
}

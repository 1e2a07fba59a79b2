#include <catch2/catch.hpp>
#include <eigenrec/core/math.hpp>
#include <support/fixtures.hpp>

#include <cmath>
#include <limits>

using namespace eigenrec;

TEMPLATE_TEST_CASE("sigmoid, logSigmoid, softplus: stable at the extremes", "[core][math]", float, double) {
  using S = TestType;
  for (S x : {S(-50), S(-3), S(-0.5), S(0), S(0.5), S(3), S(50)}) {
    const long double xl = x;
    const long double ref = 1.0L / (1.0L + std::exp(-xl));
    CHECK(sigmoid(x) == Approx(static_cast<double>(ref)).epsilon(10 * std::numeric_limits<S>::epsilon()));
    // log(sigmoid(x)) = -log1p(exp(-x)), evaluated in long double.
    const long double logRef = -std::log1p(std::exp(-xl));
    CHECK(logSigmoid(x) == Approx(static_cast<double>(logRef)).epsilon(10 * std::numeric_limits<S>::epsilon()));
    CHECK(softplus(x) == Approx(static_cast<double>(std::log1p(std::exp(xl)))).epsilon(10 * std::numeric_limits<S>::epsilon()));
  }
  // Where the naive formulas overflow or lose everything.
  CHECK(sigmoid(S(-1000)) == S(0));
  CHECK(sigmoid(S(1000)) == S(1));
  CHECK(logSigmoid(S(-1000)) == S(-1000));
  CHECK(logSigmoid(S(1000)) == S(0));
  CHECK(softplus(S(1000)) == S(1000));
  CHECK(softplus(S(-1000)) == S(0));
  CHECK(std::isfinite(logSigmoid(S(-90))));
  Eigen::Array<S, 3, 1> a(S(-1000), S(0), S(1000));
  const Eigen::Array<S, 3, 1> sa = sigmoid(a);
  CHECK(sa(1) == S(0.5));
  CHECK(softplus(a)(2) == S(1000));
  CHECK(logSigmoid(a)(0) == S(-1000));
}

TEMPLATE_TEST_CASE("softmax: matches the definition column by column", "[core][math]", float, double) {
  using S = TestType;
  Matrix<S> x(4, 3);
  x << 1, -2, 300, 2, 0, 301, 3, 5, 299, -1, 1, 300;
  const Matrix<S> p = softmax(x);
  for (Index j = 0; j < x.cols(); ++j) {
    long double z = 0;
    for (Index i = 0; i < x.rows(); ++i) z += std::exp(static_cast<long double>(x(i, j) - x.col(j).maxCoeff()));
    for (Index i = 0; i < x.rows(); ++i) {
      const long double ref = std::exp(static_cast<long double>(x(i, j) - x.col(j).maxCoeff())) / z;
      CHECK(p(i, j) == Approx(static_cast<double>(ref)).epsilon(8 * std::numeric_limits<S>::epsilon()));
    }
  }
  const RowVector<S> lse = logSumExp(x);
  CHECK(lse(2) == Approx(static_cast<double>(301 + std::log1p(std::exp(-1.0L) + std::exp(-2.0L) + std::exp(-1.0L))))
                      .epsilon(8 * std::numeric_limits<S>::epsilon()));
  const Matrix<S> lp = logSoftmax(x);
  EIGENREC_REQUIRE_CLOSE(lp.array().exp().matrix(), p, 1e-5, 1e-7);
  // Out-parameter overload gives the same.
  Matrix<S> out;
  softmax(x, out);
  CHECK(out == p);
}

TEMPLATE_TEST_CASE("softmax: masks, -inf and fully masked columns are well defined", "[core][math]", float,
                   double) {
  using S = TestType;
  const S inf = std::numeric_limits<S>::infinity();
  Matrix<S> x(3, 4);
  x << 1, 2, -inf, 0, 2, 2, -inf, 0, 3, 2, -inf, 0;
  BoolMatrix allowed = BoolMatrix::Constant(3, 4, true);
  allowed(2, 0) = false;               // column 0: two allowed entries
  allowed.col(3).setConstant(false);   // column 3: fully masked
  const Matrix<S> p = softmax(x, allowed);
  CHECK(p(2, 0) == S(0));
  CHECK(p(0, 0) == Approx(1 / (1 + std::exp(1.0))));
  CHECK(p.col(1).sum() == Approx(1.0));
  CHECK(p.col(2).isZero());  // all -inf: treated as fully masked
  CHECK(p.col(3).isZero());
  CHECK_FALSE(hasNonFinite(p));
  const RowVector<S> lse = logSumExp(x, allowed);
  CHECK(lse(2) == -inf);
  CHECK(lse(3) == -inf);
  CHECK(lse(0) == Approx(2 + std::log1p(std::exp(-1.0))));
  const Matrix<S> lp = logSoftmax(x, allowed);
  CHECK(lp(2, 0) == -inf);
  CHECK(lp.col(3).array().isInf().all());
  // Unmasked overloads agree on -inf columns.
  const Matrix<S> q = softmax(x);
  CHECK(q.col(2).isZero());
  CHECK(logSumExp(x)(2) == -inf);
  CHECK(logSoftmax(x).col(2).array().isInf().all());
  // Empty input: nothing to do, nothing breaks.
  Matrix<S> empty(0, 3);
  CHECK(softmax(empty).cols() == 3);
  CHECK(logSumExp(empty)(0) == -inf);
}

TEST_CASE("softmax: mask of the wrong shape is rejected", "[core][math]") {
  Eigen::MatrixXd x = Eigen::MatrixXd::Zero(3, 2);
  BoolMatrix bad = BoolMatrix::Constant(2, 3, true);
  CHECK_THROWS_AS(softmax(x, bad), std::invalid_argument);
  CHECK_THROWS_AS(logSumExp(x, bad), std::invalid_argument);
  CHECK_THROWS_AS(logSoftmax(x, bad), std::invalid_argument);
}

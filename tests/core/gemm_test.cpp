#include <catch2/catch.hpp>
#include <eigenrec/core/gemm.hpp>
#include <eigenrec/core/random.hpp>

#include <cmath>
#include <functional>
#include <limits>
#include <stdexcept>
#include <string>
#include <vector>

using namespace eigenrec;

namespace {

template <typename S>
Matrix<S> randomMatrix(Index rows, Index cols, Rng& rng) {
  Matrix<S> m(rows, cols);
  for (Index j = 0; j < cols; ++j) {
    for (Index i = 0; i < rows; ++i) m(i, j) = static_cast<S>(rng.uniform() * 2.0 - 1.0);
  }
  return m;
}

// One way of computing c = alpha op(a) op(b) + beta c.
template <typename S>
using ConstRef = Eigen::Ref<const Matrix<S>>;
template <typename S>
using GemmFn = std::function<void(bool, bool, S, const ConstRef<S>&, const ConstRef<S>&, S, Eigen::Ref<Matrix<S>>)>;

// Checks fn against the product worked in long double, entry by entry, within the
// classical error bound of a float dot product of length k: |error| <= gamma_{k+2}
// (|alpha| sum_p |a_ip b_pj| + |beta c_ij|), gamma_n = n u / (1 - n u).
template <typename S>
void checkAgainstDefinition(const GemmFn<S>& fn, Index m, Index n, Index k, S alpha, S beta, bool ta, bool tb,
                            bool strided, std::uint64_t seed) {
  CAPTURE(m, n, k, alpha, beta, ta, tb, strided);
  Rng rng(seed);
  // Operands as stored; with `strided`, views into larger matrices (outer stride > rows).
  const Index pad = strided ? 3 : 0;
  const Matrix<S> aBig = randomMatrix<S>((ta ? k : m) + pad, (ta ? m : k) + 1, rng);
  const Matrix<S> bBig = randomMatrix<S>((tb ? n : k) + pad, (tb ? k : n) + 1, rng);
  const ConstRef<S> a = aBig.topLeftCorner(ta ? k : m, ta ? m : k);
  const ConstRef<S> b = bBig.topLeftCorner(tb ? n : k, tb ? k : n);
  Matrix<S> cBig = randomMatrix<S>(m + pad, n + 1, rng);
  if (beta == S(0)) cBig.setConstant(std::numeric_limits<S>::quiet_NaN());  // must not be read
  const Matrix<S> cBefore = cBig;
  const Matrix<S> c0 = cBig.topLeftCorner(m, n);
  fn(ta, tb, alpha, a, b, beta, cBig.topLeftCorner(m, n));

  const long double u = std::numeric_limits<S>::epsilon() / 2;
  const long double gamma = (k + 2) * u / (1 - (k + 2) * u);
  Index bad = 0;
  for (Index j = 0; j < n; ++j) {
    for (Index i = 0; i < m; ++i) {
      long double exact = 0, magnitude = 0;
      for (Index p = 0; p < k; ++p) {
        const long double x = ta ? a(p, i) : a(i, p), y = tb ? b(j, p) : b(p, j);
        exact += x * y;
        magnitude += std::fabs(x * y);
      }
      const long double cOld = beta == S(0) ? 0.0L : static_cast<long double>(c0(i, j));
      const long double want = alpha * exact + (beta == S(0) ? 0.0L : beta * cOld);
      const long double bound = gamma * (std::fabs(alpha) * magnitude + std::fabs(beta * cOld)) + 1e-30L;
      const long double got = cBig(i, j);
      if (!(std::fabs(got - want) <= bound)) {
        if (bad++ < 3) FAIL_CHECK("c(" << i << ", " << j << ") = " << double(got) << ", want " << double(want));
      }
    }
  }
  CHECK(bad == 0);
  // Nothing outside the m x n view was touched (NaN == NaN counts as unchanged).
  const auto same = [](S x, S y) { return x == y || (std::isnan(x) && std::isnan(y)); };
  bool outsideKept = true;
  for (Index j = 0; j < cBig.cols(); ++j) {
    for (Index i = 0; i < cBig.rows(); ++i) {
      if ((i >= m || j >= n) && !same(cBig(i, j), cBefore(i, j))) outsideKept = false;
    }
  }
  CHECK(outsideKept);
}

struct Shape {
  Index m, n, k;
};

// Shapes around every boundary of the blocking: micro-tile edges (MR 16/32, NR 6/12),
// the depth block (384), the row block (192), the column block (3072), and thin sides.
const std::vector<Shape> kShapes = {{1, 1, 1},     {3, 2, 5},     {16, 6, 16},    {17, 7, 17},  {32, 12, 16},
                                    {33, 13, 31},  {64, 24, 100}, {47, 11, 385},  {200, 30, 40}, {31, 5, 800},
                                    {193, 13, 390}, {16, 3080, 16}, {100, 1, 64}, {1, 100, 64}, {64, 64, 1}};

template <typename S>
void checkAllShapes(const GemmFn<S>& fn) {
  std::uint64_t seed = 1;
  for (const Shape& s : kShapes) {
    for (int t = 0; t < 4; ++t) {
      const bool ta = (t & 1) != 0, tb = (t & 2) != 0;
      checkAgainstDefinition<S>(fn, s.m, s.n, s.k, S(1), S(0), ta, tb, false, seed++);
      checkAgainstDefinition<S>(fn, s.m, s.n, s.k, S(-1.5), S(1), ta, tb, true, seed++);
      checkAgainstDefinition<S>(fn, s.m, s.n, s.k, S(0.5), S(-0.25), ta, tb, true, seed++);
    }
  }
}

template <typename S>
GemmFn<S> publicGemm() {
  return [](bool ta, bool tb, S alpha, const ConstRef<S>& a, const ConstRef<S>& b, S beta, Eigen::Ref<Matrix<S>> c) {
    gemm<S>(ta ? Op::transpose : Op::none, tb ? Op::transpose : Op::none, alpha, a, b, beta, c);
  };
}

}  // namespace

TEMPLATE_TEST_CASE("gemm: every shape and transpose within float rounding of the definition", "[core][gemm]",
                   float, double) {
  checkAllShapes<TestType>(publicGemm<TestType>());
}

TEST_CASE("gemm: Eigen's path, the fallback of double and thin products", "[core][gemm]") {
  checkAllShapes<float>([](bool ta, bool tb, float alpha, const ConstRef<float>& a, const ConstRef<float>& b,
                           float beta, Eigen::Ref<Matrix<float>> c) {
    detail::gemmEigen<float>(ta, tb, alpha, a, b, beta, c);
  });
}

#ifdef EIGENREC_GEMM_KERNELS
namespace {
template <class K>
void checkKernel() {
  checkAllShapes<float>([](bool ta, bool tb, float alpha, const ConstRef<float>& a, const ConstRef<float>& b,
                           float beta, Eigen::Ref<Matrix<float>> c) {
    const Index m = c.rows(), n = c.cols(), k = ta ? a.rows() : a.cols();
    if (m == 0 || n == 0 || k == 0) return;
    detail::sgemm::run<K>(ta, tb, m, n, k, alpha, a.data(), a.outerStride(), b.data(), b.outerStride(), beta,
                          c.data(), c.outerStride());
  });
}
}  // namespace

TEST_CASE("gemm: the AVX-512 kernel on every shape (when the CPU has it)", "[core][gemm]") {
  if (detail::gemmKernel() != detail::GemmKernel::avx512) {
    WARN("this CPU has no AVX-512F: kernel not exercised");
    return;
  }
  checkKernel<detail::sgemm::Avx512>();
}

TEST_CASE("gemm: the AVX2 kernel on every shape (when the CPU has it)", "[core][gemm]") {
  if (detail::gemmKernel() == detail::GemmKernel::eigen) {
    WARN("this CPU has no AVX2 + FMA: kernel not exercised");
    return;
  }
  checkKernel<detail::sgemm::Avx2>();
}
#endif

TEST_CASE("gemm: operands with an outer stride (blocks of larger matrices)", "[core][gemm]") {
  Rng rng(7);
  const Matrix<float> aBig = randomMatrix<float>(70, 50, rng), bBig = randomMatrix<float>(60, 60, rng);
  Matrix<float> cBig = Matrix<float>::Constant(80, 45, 3.0f);
  // op(a) = a.block (65 x 48), op(b) = b.block^T (48 x 33).
  const auto aView = aBig.block(2, 1, 65, 48);
  const auto bView = bBig.block(5, 3, 33, 48);
  gemm<float>(Op::none, Op::transpose, 1.0f, aView, bView, 0.0f, cBig.block(4, 2, 65, 33));
  const Matrix<double> want = aView.cast<double>() * bView.cast<double>().transpose();
  const Matrix<double> got = cBig.block(4, 2, 65, 33).cast<double>();
  CHECK((got - want).cwiseAbs().maxCoeff() < 1e-4);
  // Outside the block c is untouched.
  Matrix<float> outside = cBig;
  outside.block(4, 2, 65, 33).setConstant(3.0f);
  CHECK((outside.array() == 3.0f).all());
}

TEST_CASE("gemm: gemmKernelName names the dispatched kernel", "[core][gemm]") {
  const std::string name = gemmKernelName();
  const std::string want = detail::gemmKernel() == detail::GemmKernel::avx512 ? "avx512"
                           : detail::gemmKernel() == detail::GemmKernel::avx2 ? "avx2"
                                                                               : "eigen";
  CHECK(name == want);
#ifndef EIGENREC_GEMM_KERNELS
  CHECK(name == "eigen");
#endif
}

TEST_CASE("gemm: k = 0 and alpha = 0 scale c by beta without reading a and b", "[core][gemm]") {
  Matrix<float> a(4, 0), b(0, 3);
  Matrix<float> c = Matrix<float>::Constant(4, 3, 2.0f);
  gemm<float>(Op::none, Op::none, 1.0f, a, b, 0.5f, c);
  CHECK((c.array() == 1.0f).all());
  Matrix<float> nanA = Matrix<float>::Constant(40, 30, std::numeric_limits<float>::quiet_NaN());
  Matrix<float> nanB = Matrix<float>::Constant(30, 20, std::numeric_limits<float>::quiet_NaN());
  Matrix<float> c2 = Matrix<float>::Constant(40, 20, 4.0f);
  gemm<float>(Op::none, Op::none, 0.0f, nanA, nanB, 0.25f, c2);
  CHECK((c2.array() == 1.0f).all());
  gemm<float>(Op::none, Op::none, 0.0f, nanA, nanB, 0.0f, c2);
  CHECK((c2.array() == 0.0f).all());
}

TEST_CASE("gemm: mismatched shapes throw, naming the shapes", "[core][gemm]") {
  Matrix<float> a(4, 5), b(6, 3), c(4, 3);
  a.setOnes();
  b.setOnes();
  try {
    gemm<float>(Op::none, Op::none, 1.0f, a, b, 0.0f, c);
    FAIL("no exception");
  } catch (const std::invalid_argument& e) {
    CHECK(std::string(e.what()) == "gemm: op(a) is 4x5, op(b) is 6x3 and c is 4x3");
  }
  Matrix<float> b2(5, 3), cWrong(3, 3);
  b2.setOnes();
  CHECK_THROWS_AS(gemm<float>(Op::none, Op::none, 1.0f, a, b2, 0.0f, cWrong), std::invalid_argument);
  Matrix<float> c3(5, 2);
  CHECK_NOTHROW(gemm<float>(Op::transpose, Op::none, 1.0f, a, Matrix<float>::Ones(4, 2), 0.0f, c3));
  CHECK((c3.array() == 4.0f).all());
}

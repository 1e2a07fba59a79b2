// eigenrec/core/math.hpp: numerically stable elementwise functions and column-wise
// softmax, log-softmax and log-sum-exp.
//
// Column-wise means per item: for a (classes, n) matrix each of the n columns is one
// distribution. Masks are "allowed" masks of the same shape: true = takes part,
// false = blocked. A column with no allowed entry (or whose entries are all -inf) is
// fully masked: softmax gives a zero column, log-sum-exp gives -inf and log-softmax
// gives -inf everywhere in it; none of them produce NaN. Inputs must not contain NaN
// or +inf.
#ifndef EIGENREC_CORE_MATH_HPP
#define EIGENREC_CORE_MATH_HPP

#include <eigenrec/core/checks.hpp>
#include <eigenrec/core/types.hpp>

#include <cmath>
#include <limits>
#include <type_traits>

namespace eigenrec {

/// 1 / (1 + exp(-x)) without overflow for any x.
template <typename Scalar, std::enable_if_t<std::is_floating_point_v<Scalar>, int> = 0>
Scalar sigmoid(Scalar x) {
  if (x >= Scalar(0)) {
    return Scalar(1) / (Scalar(1) + std::exp(-x));
  }
  const Scalar e = std::exp(x);
  return e / (Scalar(1) + e);
}

/// log(sigmoid(x)) = -softplus(-x), accurate for large |x|.
template <typename Scalar, std::enable_if_t<std::is_floating_point_v<Scalar>, int> = 0>
Scalar logSigmoid(Scalar x) {
  return x >= Scalar(0) ? -std::log1p(std::exp(-x)) : x - std::log1p(std::exp(x));
}

/// log(1 + exp(x)), accurate for large |x|.
template <typename Scalar, std::enable_if_t<std::is_floating_point_v<Scalar>, int> = 0>
Scalar softplus(Scalar x) {
  return x > Scalar(0) ? x + std::log1p(std::exp(-x)) : std::log1p(std::exp(x));
}

/// Elementwise stable sigmoid of a matrix or array expression.
template <typename Derived>
typename Derived::PlainObject sigmoid(const Eigen::DenseBase<Derived>& x) {
  using Scalar = typename Derived::Scalar;
  return x.derived().unaryExpr([](Scalar v) { return sigmoid(v); });
}

/// Elementwise log-sigmoid.
template <typename Derived>
typename Derived::PlainObject logSigmoid(const Eigen::DenseBase<Derived>& x) {
  using Scalar = typename Derived::Scalar;
  return x.derived().unaryExpr([](Scalar v) { return logSigmoid(v); });
}

/// Elementwise softplus.
template <typename Derived>
typename Derived::PlainObject softplus(const Eigen::DenseBase<Derived>& x) {
  using Scalar = typename Derived::Scalar;
  return x.derived().unaryExpr([](Scalar v) { return softplus(v); });
}

namespace detail {

// Shared kernel of the column-wise functions: for each column, its max over the allowed
// entries and the sum of exp(x - max) over them. A fully masked column gets
// max = -inf and sum = 0.
template <typename Derived>
void columnMaxAndSum(const Eigen::MatrixBase<Derived>& x, const BoolMatrix* allowed,
                     RowVector<typename Derived::Scalar>& colMax, RowVector<typename Derived::Scalar>& colSum) {
  using Scalar = typename Derived::Scalar;
  const Scalar negInf = -std::numeric_limits<Scalar>::infinity();
  const Index rows = x.rows(), cols = x.cols();
  colMax.resize(cols);
  colSum.resize(cols);
  for (Index j = 0; j < cols; ++j) {
    Scalar m = negInf;
    if (allowed) {
      for (Index i = 0; i < rows; ++i) {
        if ((*allowed)(i, j) && x(i, j) > m) m = x(i, j);
      }
    } else if (rows > 0) {
      m = x.col(j).maxCoeff();
    }
    colMax(j) = m;
    if (m == negInf) {
      colSum(j) = Scalar(0);
      continue;
    }
    if (allowed) {
      Scalar s(0);
      for (Index i = 0; i < rows; ++i) {
        if ((*allowed)(i, j)) s += std::exp(x(i, j) - m);
      }
      colSum(j) = s;
    } else {
      colSum(j) = (x.col(j).array() - m).exp().sum();
    }
  }
}

template <typename Derived>
void checkMask(const char* where, const Eigen::MatrixBase<Derived>& x, const BoolMatrix& allowed) {
  checkShape(where, "allowed", allowed, x.rows(), x.cols());
}

}  // namespace detail

/// Column-wise softmax into `out` (resized to x's shape).
template <typename Derived>
void softmax(const Eigen::MatrixBase<Derived>& x, Matrix<typename Derived::Scalar>& out) {
  using Scalar = typename Derived::Scalar;
  RowVector<Scalar> m, s;
  detail::columnMaxAndSum(x, nullptr, m, s);
  out.resize(x.rows(), x.cols());
  for (Index j = 0; j < x.cols(); ++j) {
    if (s(j) == Scalar(0)) {
      out.col(j).setZero();
    } else {
      out.col(j) = (x.col(j).array() - m(j)).exp() / s(j);
    }
  }
}

/// Column-wise softmax restricted to the allowed entries; blocked entries get 0.
template <typename Derived>
void softmax(const Eigen::MatrixBase<Derived>& x, const BoolMatrix& allowed, Matrix<typename Derived::Scalar>& out) {
  using Scalar = typename Derived::Scalar;
  detail::checkMask("softmax", x, allowed);
  RowVector<Scalar> m, s;
  detail::columnMaxAndSum(x, &allowed, m, s);
  out.resize(x.rows(), x.cols());
  for (Index j = 0; j < x.cols(); ++j) {
    for (Index i = 0; i < x.rows(); ++i) {
      out(i, j) = (allowed(i, j) && s(j) > Scalar(0)) ? std::exp(x(i, j) - m(j)) / s(j) : Scalar(0);
    }
  }
}

/// Column-wise softmax, shape (classes, n) -> (classes, n).
template <typename Derived>
Matrix<typename Derived::Scalar> softmax(const Eigen::MatrixBase<Derived>& x) {
  Matrix<typename Derived::Scalar> out;
  softmax(x, out);
  return out;
}

/// Masked column-wise softmax, shape (classes, n) -> (classes, n).
template <typename Derived>
Matrix<typename Derived::Scalar> softmax(const Eigen::MatrixBase<Derived>& x, const BoolMatrix& allowed) {
  Matrix<typename Derived::Scalar> out;
  softmax(x, allowed, out);
  return out;
}

/// Column-wise log-sum-exp, shape (classes, n) -> (1, n). Fully masked columns: -inf.
template <typename Derived>
RowVector<typename Derived::Scalar> logSumExp(const Eigen::MatrixBase<Derived>& x) {
  using Scalar = typename Derived::Scalar;
  RowVector<Scalar> m, s;
  detail::columnMaxAndSum(x, nullptr, m, s);
  RowVector<Scalar> out(x.cols());
  for (Index j = 0; j < x.cols(); ++j) out(j) = s(j) > Scalar(0) ? m(j) + std::log(s(j)) : m(j);
  return out;
}

/// Masked column-wise log-sum-exp over the allowed entries, shape (1, n).
template <typename Derived>
RowVector<typename Derived::Scalar> logSumExp(const Eigen::MatrixBase<Derived>& x, const BoolMatrix& allowed) {
  using Scalar = typename Derived::Scalar;
  detail::checkMask("logSumExp", x, allowed);
  RowVector<Scalar> m, s;
  detail::columnMaxAndSum(x, &allowed, m, s);
  RowVector<Scalar> out(x.cols());
  for (Index j = 0; j < x.cols(); ++j) out(j) = s(j) > Scalar(0) ? m(j) + std::log(s(j)) : m(j);
  return out;
}

/// Column-wise log-softmax, shape (classes, n) -> (classes, n).
template <typename Derived>
Matrix<typename Derived::Scalar> logSoftmax(const Eigen::MatrixBase<Derived>& x) {
  using Scalar = typename Derived::Scalar;
  const RowVector<Scalar> lse = logSumExp(x);
  Matrix<Scalar> out(x.rows(), x.cols());
  const Scalar negInf = -std::numeric_limits<Scalar>::infinity();
  for (Index j = 0; j < x.cols(); ++j) {
    if (lse(j) == negInf) {
      out.col(j).setConstant(negInf);
    } else {
      out.col(j) = x.col(j).array() - lse(j);
    }
  }
  return out;
}

/// Masked column-wise log-softmax; blocked entries are -inf.
template <typename Derived>
Matrix<typename Derived::Scalar> logSoftmax(const Eigen::MatrixBase<Derived>& x, const BoolMatrix& allowed) {
  using Scalar = typename Derived::Scalar;
  const RowVector<Scalar> lse = logSumExp(x, allowed);
  const Scalar negInf = -std::numeric_limits<Scalar>::infinity();
  Matrix<Scalar> out(x.rows(), x.cols());
  for (Index j = 0; j < x.cols(); ++j) {
    for (Index i = 0; i < x.rows(); ++i) {
      out(i, j) = (allowed(i, j) && lse(j) != negInf) ? x(i, j) - lse(j) : negInf;
    }
  }
  return out;
}

}  // namespace eigenrec

#endif  // EIGENREC_CORE_MATH_HPP

// eigenrec/nn/loss.hpp: losses with their gradients.
//
// Each loss has forward(...) -> Scalar, which caches what the gradient needs, and
// backward() -> the gradient of that loss with respect to its (first) input. Columns
// are examples. The default reduction is the mean over examples, as PyTorch's. A loss
// that comes out NaN or infinite throws NumericalError instead of returning it.
#ifndef EIGENREC_NN_LOSS_HPP
#define EIGENREC_NN_LOSS_HPP

#include <eigenrec/core/checks.hpp>
#include <eigenrec/core/gemm.hpp>
#include <eigenrec/core/math.hpp>
#include <eigenrec/core/types.hpp>

#include <cmath>
#include <limits>
#include <string>
#include <vector>

namespace eigenrec::nn {

enum class Reduction { mean, sum };

namespace detail {
template <typename Scalar>
Scalar finiteLoss(const char* where, Scalar loss) {
  if (!std::isfinite(loss)) {
    throw NumericalError(eigenrec::detail::concat(where, ": loss is ", loss, " (non-finite inputs?)"));
  }
  return loss;
}
}  // namespace detail

/// Binary cross-entropy on logits, computed stably:
///   l = max(x, 0) - x y + log(1 + exp(-|x|)),  dl/dx = sigmoid(x) - y
/// (PyTorch's BCEWithLogitsLoss). Logits and targets have any shape (rows, n), targets
/// in [0, 1]. Optional weights: same shape, or (1, n) per example (broadcast over rows).
/// The mean divides by the number of entries (as PyTorch, whatever the weights).
template <typename Scalar = float>
class BCEWithLogitsLoss {
 public:
  using MatrixType = Matrix<Scalar>;
  using ConstRef = Eigen::Ref<const MatrixType>;

  explicit BCEWithLogitsLoss(Reduction reduction = Reduction::mean) : m_reduction(reduction) {}

  Scalar forward(const ConstRef& logits, const ConstRef& targets) { return compute(logits, targets, nullptr); }
  Scalar forward(const ConstRef& logits, const ConstRef& targets, const ConstRef& weights) {
    return compute(logits, targets, &weights);
  }

  /// dL/dlogits of the last forward, shape of the logits.
  const MatrixType& backward() const { return m_grad; }

 private:
  Scalar compute(const ConstRef& x, const ConstRef& y, const ConstRef* w) {
    const char* where = "BCEWithLogitsLoss::forward";
    checkNotEmpty(where, "logits", x.size());
    checkShape(where, "targets", y, x.rows(), x.cols());
    if (w) {
      checkExpected((w->rows() == x.rows() || w->rows() == 1) && w->cols() == x.cols(), where, "weights",
                    eigenrec::detail::concat("shape (", x.rows(), ", ", x.cols(), ") or (1, ", x.cols(), ")"),
                    eigenrec::detail::concat("(", w->rows(), ", ", w->cols(), ")"));
    }
    const Scalar norm = m_reduction == Reduction::mean ? Scalar(1) / Scalar(x.size()) : Scalar(1);
    m_grad.resize(x.rows(), x.cols());
    Scalar total(0);
    for (Index j = 0; j < x.cols(); ++j) {
      for (Index i = 0; i < x.rows(); ++i) {
        const Scalar xi = x(i, j), yi = y(i, j);
        const Scalar wi = w ? (*w)(w->rows() == 1 ? 0 : i, j) : Scalar(1);
        total += wi * (std::max(xi, Scalar(0)) - xi * yi + std::log1p(std::exp(-std::abs(xi))));
        m_grad(i, j) = wi * (sigmoid(xi) - yi) * norm;
      }
    }
    return detail::finiteLoss(where, total * norm);
  }

  Reduction m_reduction;
  MatrixType m_grad;
};

/// Softmax cross-entropy over the classes of each column (PyTorch's CrossEntropyLoss):
/// logits (classes, n) with either class ids (n; ids equal to ignoreIndex are skipped
/// and excluded from the mean) or soft targets (classes, n), each column a
/// distribution. Label smoothing e mixes the target with the uniform distribution:
/// t' = (1 - e) t + e / classes.
template <typename Scalar = float>
class CrossEntropyLoss {
 public:
  using MatrixType = Matrix<Scalar>;
  using ConstRef = Eigen::Ref<const MatrixType>;

  struct Options {
    Reduction reduction = Reduction::mean;
    Index ignoreIndex = -100;    ///< PyTorch's default
    double labelSmoothing = 0;   ///< in [0, 1]
  };

  CrossEntropyLoss() : CrossEntropyLoss(Options{}) {}
  explicit CrossEntropyLoss(Options options) : m_options(options) {
    checkBetween("CrossEntropyLoss", "labelSmoothing", options.labelSmoothing, 0.0, 1.0);
  }

  /// Hard targets: one class id per column.
  Scalar forward(const ConstRef& logits, const std::vector<Index>& targets) {
    const char* where = "CrossEntropyLoss::forward";
    checkNotEmpty(where, "logits", logits.size());
    checkEqual(where, "targets size", logits.cols(), static_cast<Index>(targets.size()));
    const Index classes = logits.rows();
    const MatrixType logp = logSoftmax(logits);
    const Scalar eps = static_cast<Scalar>(m_options.labelSmoothing);
    m_grad.resize(classes, logits.cols());
    Scalar total(0);
    Index counted = 0;
    for (Index j = 0; j < logits.cols(); ++j) {
      const Index t = targets[static_cast<std::size_t>(j)];
      if (t == m_options.ignoreIndex) {
        m_grad.col(j).setZero();
        continue;
      }
      checkIndex(where, "target", t, classes);
      ++counted;
      total += -(Scalar(1) - eps) * logp(t, j) - eps / Scalar(classes) * logp.col(j).sum();
      m_grad.col(j) = logp.col(j).array().exp();
      m_grad.col(j).array() -= eps / Scalar(classes);
      m_grad(t, j) -= Scalar(1) - eps;
    }
    return finish(where, total, counted);
  }

  /// Soft targets (classes, n).
  Scalar forward(const ConstRef& logits, const ConstRef& targets) {
    const char* where = "CrossEntropyLoss::forward";
    checkNotEmpty(where, "logits", logits.size());
    checkShape(where, "targets", targets, logits.rows(), logits.cols());
    const Index classes = logits.rows();
    const Scalar eps = static_cast<Scalar>(m_options.labelSmoothing);
    const MatrixType logp = logSoftmax(logits);
    const MatrixType t = ((Scalar(1) - eps) * targets.array() + eps / Scalar(classes)).matrix();
    const Scalar total = -(t.array() * logp.array()).sum();
    // d/dx of -sum t log softmax(x) = softmax(x) * sum(t) - t.
    m_grad = (logp.array().exp().rowwise() * t.colwise().sum().array() - t.array()).matrix();
    return finish(where, total, logits.cols());
  }

  /// dL/dlogits of the last forward (classes, n).
  const MatrixType& backward() const { return m_grad; }

 private:
  Scalar finish(const char* where, Scalar total, Index count) {
    if (m_options.reduction == Reduction::sum) return detail::finiteLoss(where, total);
    // PyTorch: mean over non-ignored targets; all ignored gives NaN there, 0 here.
    if (count == 0) {
      m_grad.setZero();
      return Scalar(0);
    }
    m_grad /= Scalar(count);
    return detail::finiteLoss(where, total / Scalar(count));
  }

  Options m_options;
  MatrixType m_grad;
};

/// Mean squared error (x - y)^2 over all entries (PyTorch's MSELoss).
template <typename Scalar = float>
class MSELoss {
 public:
  using MatrixType = Matrix<Scalar>;
  using ConstRef = Eigen::Ref<const MatrixType>;

  explicit MSELoss(Reduction reduction = Reduction::mean) : m_reduction(reduction) {}

  Scalar forward(const ConstRef& input, const ConstRef& target) {
    const char* where = "MSELoss::forward";
    checkNotEmpty(where, "input", input.size());
    checkShape(where, "target", target, input.rows(), input.cols());
    const Scalar norm = m_reduction == Reduction::mean ? Scalar(1) / Scalar(input.size()) : Scalar(1);
    m_grad = (Scalar(2) * norm) * (input - target);
    return detail::finiteLoss(where, (input - target).squaredNorm() * norm);
  }

  const MatrixType& backward() const { return m_grad; }

 private:
  Reduction m_reduction;
  MatrixType m_grad;
};

/// Huber loss with threshold delta (PyTorch's HuberLoss): 0.5 d^2 for |d| < delta,
/// delta (|d| - 0.5 delta) otherwise, d = x - y.
template <typename Scalar = float>
class HuberLoss {
 public:
  using MatrixType = Matrix<Scalar>;
  using ConstRef = Eigen::Ref<const MatrixType>;

  explicit HuberLoss(double delta = 1.0, Reduction reduction = Reduction::mean)
      : m_delta(static_cast<Scalar>(delta)), m_reduction(reduction) {
    checkPositive("HuberLoss", "delta", delta);
  }

  Scalar forward(const ConstRef& input, const ConstRef& target) {
    const char* where = "HuberLoss::forward";
    checkNotEmpty(where, "input", input.size());
    checkShape(where, "target", target, input.rows(), input.cols());
    const Scalar norm = m_reduction == Reduction::mean ? Scalar(1) / Scalar(input.size()) : Scalar(1);
    const auto d = (input - target).array();
    const auto small = d.abs() < m_delta;
    const Scalar total = small.select(Scalar(0.5) * d.square(), m_delta * (d.abs() - Scalar(0.5) * m_delta)).sum();
    m_grad = (norm * small.select(d, m_delta * d.sign())).matrix();
    return detail::finiteLoss(where, total * norm);
  }

  const MatrixType& backward() const { return m_grad; }

 private:
  Scalar m_delta;
  Reduction m_reduction;
  MatrixType m_grad;
};

/// Sampled / in-batch softmax for retrieval (Yi et al. 2019; TensorFlow Recommenders'
/// Retrieval task), with the logQ correction.
///
/// For queries Q (d, n) and candidates C (d, m), the logits of query i are
///   s_ij = <q_i, c_j> / temperature - logQ_j
/// (temperature first, then the correction, in TFRS's order), and the loss is the
/// softmax cross-entropy of each query against its positive candidate positives[i]:
///   L = (1/n) sum_i w_i (logsumexp_j s_ij - s_i,pos(i))       (Reduction::mean)
/// In-batch softmax is C = the batch's item embeddings with positives = 0..n-1; sampled
/// softmax appends sampled negatives to C. logQ_j = log of the probability that
/// candidate j is sampled (e.g. from the streaming frequency estimator); leave it empty
/// for no correction. With candidate ids given, candidates other than the positive that
/// carry the positive's id ("accidental hits") are removed from that query's softmax.
template <typename Scalar = float>
class SampledSoftmaxLoss {
 public:
  using MatrixType = Matrix<Scalar>;
  using ConstRef = Eigen::Ref<const MatrixType>;

  struct Options {
    double temperature = 1.0;
    Reduction reduction = Reduction::mean;
  };

  SampledSoftmaxLoss() : SampledSoftmaxLoss(Options{}) {}
  explicit SampledSoftmaxLoss(Options options) : m_options(options) {
    checkPositive("SampledSoftmaxLoss", "temperature", options.temperature);
  }

  /// queries (d, n), candidates (d, m), positives (n) column indices into candidates,
  /// logQ empty or (m), candidateIds empty or (m), weights empty or (n).
  Scalar forward(const ConstRef& queries, const ConstRef& candidates, const std::vector<Index>& positives,
                 const Vector<Scalar>& logQ = {}, const std::vector<std::int64_t>& candidateIds = {},
                 const std::vector<Scalar>& weights = {}) {
    const char* where = "SampledSoftmaxLoss::forward";
    const Index n = queries.cols(), m = candidates.cols();
    checkNotEmpty(where, "queries", n);
    checkNotEmpty(where, "candidates", m);
    checkRows(where, "candidates", candidates, queries.rows());
    checkEqual(where, "positives size", n, static_cast<Index>(positives.size()));
    if (logQ.size() > 0) {
      checkEqual(where, "logQ size", m, logQ.size());
      checkAllFinite(where, "logQ", logQ);
    }
    if (!candidateIds.empty()) checkEqual(where, "candidateIds size", m, static_cast<Index>(candidateIds.size()));
    if (!weights.empty()) checkEqual(where, "weights size", n, static_cast<Index>(weights.size()));
    for (Index i = 0; i < n; ++i) checkIndex(where, "positive", positives[static_cast<std::size_t>(i)], m);

    const Scalar invTemp = Scalar(1.0 / m_options.temperature);
    m_logits.resize(m, n);
    gemm<Scalar>(Op::transpose, Op::none, invTemp, candidates, queries, Scalar(0), m_logits);  // (m, n)
    if (logQ.size() > 0) m_logits.colwise() -= logQ;
    BoolMatrix allowed;
    const bool masked = !candidateIds.empty();
    if (masked) {
      allowed.setConstant(m, n, true);
      for (Index i = 0; i < n; ++i) {
        const Index pos = positives[static_cast<std::size_t>(i)];
        const auto id = candidateIds[static_cast<std::size_t>(pos)];
        for (Index j = 0; j < m; ++j) {
          if (j != pos && candidateIds[static_cast<std::size_t>(j)] == id) allowed(j, i) = false;
        }
      }
    }
    const RowVector<Scalar> lse = masked ? logSumExp(m_logits, allowed) : logSumExp(m_logits);
    const Scalar norm = m_options.reduction == Reduction::mean ? Scalar(1) / Scalar(n) : Scalar(1);
    // dL/ds = w_i (softmax - onehot) * norm; blocked entries 0.
    m_gradLogits.resize(m, n);
    Scalar total(0);
    for (Index i = 0; i < n; ++i) {
      const Index pos = positives[static_cast<std::size_t>(i)];
      const Scalar w = weights.empty() ? Scalar(1) : weights[static_cast<std::size_t>(i)];
      total += w * (lse(i) - m_logits(pos, i));
      m_gradLogits.col(i) = (m_logits.col(i).array() - lse(i)).exp() * (w * norm);
      if (masked) {
        for (Index j = 0; j < m; ++j) {
          if (!allowed(j, i)) m_gradLogits(j, i) = Scalar(0);
        }
      }
      m_gradLogits(pos, i) -= w * norm;
    }
    m_queries = queries;
    m_candidates = candidates;
    return detail::finiteLoss(where, total * norm);
  }

  /// The corrected logits s (m, n) of the last forward.
  const MatrixType& logits() const { return m_logits; }

  /// Gradients of the last forward with respect to queries (d, n) and candidates (d, m).
  void backward(MatrixType& gradQueries, MatrixType& gradCandidates) const {
    const Scalar invTemp = Scalar(1.0 / m_options.temperature);
    gradQueries.resize(m_candidates.rows(), m_gradLogits.cols());
    gemm<Scalar>(Op::none, Op::none, invTemp, m_candidates, m_gradLogits, Scalar(0), gradQueries);
    gradCandidates.resize(m_queries.rows(), m_gradLogits.rows());
    gemm<Scalar>(Op::none, Op::transpose, invTemp, m_queries, m_gradLogits, Scalar(0), gradCandidates);
  }

 private:
  Options m_options;
  MatrixType m_logits, m_gradLogits, m_queries, m_candidates;
};

}  // namespace eigenrec::nn

#endif  // EIGENREC_NN_LOSS_HPP

// eigenrec/ctr/synthetic.hpp: click data drawn from a known field-aware FM, for
// examples, tests and benchmarks whose achievable loss must be known.
//
// Each example has one categorical feature per field (value 1). Field f owns the
// global feature ids [f * F, (f + 1) * F) (F = featuresPerField); within a field the
// id is floor(F * u^skew), u ~ U[0, 1), so low ids are frequent (skew = 1: uniform).
// The true logit is
//   phi(x) = bias + (1/m) sum_{f1 < f2} <W[j_f1, f2], W[j_f2, f1]>
// (a libffm-normalised FFM, r = 1/m) with W ~ N(0, sigma^2), sigma chosen so that the
// pairwise part has standard deviation logitScale; the label is a Bernoulli draw with
// P(1) = sigmoid(phi). The mean binary entropy of those probabilities is the Bayes
// logloss: no model can do better in expectation.
#ifndef EIGENREC_CTR_SYNTHETIC_HPP
#define EIGENREC_CTR_SYNTHETIC_HPP

#include <eigenrec/core/checks.hpp>
#include <eigenrec/core/math.hpp>
#include <eigenrec/core/random.hpp>
#include <eigenrec/core/types.hpp>
#include <eigenrec/ctr/sparse_batch.hpp>

#include <cmath>
#include <cstdint>
#include <vector>

namespace eigenrec::ctr {

struct SyntheticFfmOptions {
  Index fields = 39;              ///< m
  Index featuresPerField = 1000;  ///< F
  Index factors = 4;              ///< latent dimension of the true model
  double skew = 2.0;              ///< >= 1; larger = more skewed feature frequencies
  double logitScale = 1.5;        ///< standard deviation of the pairwise logit
  double bias = -1.0;             ///< global bias of the true logit (sets the click rate)
  std::uint64_t seed = 42;        ///< draws the true model

  void validate(std::string_view where = "SyntheticFfmOptions") const {
    checkBetween(where, "fields", fields, Index(2), Index(1000));
    checkBetween(where, "featuresPerField", featuresPerField, Index(1), Index(1) << 24);
    checkBetween(where, "fields * featuresPerField", fields * featuresPerField, Index(2), Index(1) << 30);
    checkBetween(where, "factors", factors, Index(1), Index(256));
    checkExpected(std::isfinite(skew) && skew >= 1.0, where, "skew", "finite and >= 1", skew);
    checkExpected(std::isfinite(logitScale) && logitScale >= 0.0, where, "logitScale", "finite and >= 0", logitScale);
    checkFinite(where, "bias", bias);
  }
};

/// A known FFM that generates labelled examples (see the file comment).
class SyntheticFfm {
 public:
  explicit SyntheticFfm(SyntheticFfmOptions options = {}) : m_options(options) {
    m_options.validate("SyntheticFfm");
    const Index m = m_options.fields, k = m_options.factors;
    const double pairs = double(m) * double(m - 1) / 2.0;
    const double sigma2 = m_options.logitScale * double(m) / std::sqrt(pairs * double(k));
    const double sigma = std::sqrt(sigma2);
    Rng rng(m_options.seed);
    m_W.resize(k, numFeatures() * m);
    for (Index c = 0; c < m_W.cols(); ++c) {
      for (Index d = 0; d < k; ++d) m_W(d, c) = rng.normal<double>(0.0, sigma);
    }
  }

  const SyntheticFfmOptions& options() const noexcept { return m_options; }
  Index numFeatures() const noexcept { return m_options.fields * m_options.featuresPerField; }
  Index numFields() const noexcept { return m_options.fields; }

  /// True latent vector of feature j against field f: (k).
  Eigen::Ref<const Vector<double>> latent(Index feature, Index field) const {
    return m_W.col(feature * m_options.fields + field);
  }

  /// True click probability of an example generated here (one feature per field, in
  /// field order).
  template <typename Scalar>
  double probability(const SparseExample<Scalar>& x) const {
    return sigmoid(logit(x));
  }

  template <typename Scalar>
  double logit(const SparseExample<Scalar>& x) const {
    double t = 0;
    for (Index a = 0; a < x.size; ++a) {
      for (Index b = a + 1; b < x.size; ++b) {
        t += pairDot(x.features[a], x.fields[b], x.features[b], x.fields[a]) * double(x.values[a]) *
             double(x.values[b]);
      }
    }
    return m_options.bias + t / double(m_options.fields);
  }

  /// Appends `count` examples to `out`, drawn with `rng`; their true probabilities are
  /// appended to `trueProbabilities` if given. The batch's shape is set to the model's.
  template <typename Scalar>
  void generate(Index count, Rng& rng, SparseBatch<Scalar>& out, std::vector<double>* trueProbabilities = nullptr) const {
    checkNonNegative("SyntheticFfm::generate", "count", count);
    const Index m = m_options.fields, F = m_options.featuresPerField;
    out.reserve(out.size() + count, out.nnz() + count * m);
    std::vector<std::int32_t> ids(static_cast<std::size_t>(m));
    for (Index i = 0; i < count; ++i) {
      for (Index f = 0; f < m; ++f) {
        const double u = rng.uniform<double>();
        const auto local = std::min<Index>(F - 1, static_cast<Index>(double(F) * std::pow(u, m_options.skew)));
        ids[static_cast<std::size_t>(f)] = static_cast<std::int32_t>(f * F + local);
      }
      double t = 0;
      for (Index a = 0; a < m; ++a) {
        for (Index b = a + 1; b < m; ++b) {
          t += pairDot(ids[static_cast<std::size_t>(a)], b, ids[static_cast<std::size_t>(b)], a);
        }
      }
      const double p = sigmoid(m_options.bias + t / double(m));
      out.startExample(rng.uniform<double>() < p ? Scalar(1) : Scalar(0));
      for (Index f = 0; f < m; ++f) out.pushUnchecked(static_cast<std::int32_t>(f), ids[static_cast<std::size_t>(f)], Scalar(1));
      if (trueProbabilities) trueProbabilities->push_back(p);
    }
    out.setShape(std::max(out.numFeatures(), numFeatures()), std::max(out.numFields(), numFields()));
  }

  /// `count` examples drawn with a generator seeded by `seed`.
  template <typename Scalar = float>
  SparseBatch<Scalar> generate(Index count, std::uint64_t seed, std::vector<double>* trueProbabilities = nullptr) const {
    Rng rng(seed);
    SparseBatch<Scalar> out;
    generate(count, rng, out, trueProbabilities);
    return out;
  }

  /// Mean binary entropy of probabilities p (the Bayes logloss of labels drawn from them).
  static double bayesLogLoss(const std::vector<double>& p) {
    checkNotEmpty("SyntheticFfm::bayesLogLoss", "p", static_cast<Index>(p.size()));
    double total = 0;
    for (const double q : p) {
      if (q > 0.0) total -= q * std::log(q);
      if (q < 1.0) total -= (1.0 - q) * std::log1p(-q);
    }
    return total / static_cast<double>(p.size());
  }

 private:
  // <W[j1, f1], W[j2, f2]> (a plain loop: k is small).
  double pairDot(Index j1, Index f1, Index j2, Index f2) const {
    const double* a = m_W.data() + (j1 * m_options.fields + f1) * m_W.rows();
    const double* b = m_W.data() + (j2 * m_options.fields + f2) * m_W.rows();
    double t = 0;
    for (Index d = 0; d < m_W.rows(); ++d) t += a[d] * b[d];
    return t;
  }

  SyntheticFfmOptions m_options;
  Matrix<double> m_W;  // (k, n * m), column j * m + f
};

}  // namespace eigenrec::ctr

#endif  // EIGENREC_CTR_SYNTHETIC_HPP

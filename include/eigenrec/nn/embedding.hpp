// eigenrec/nn/embedding.hpp: lookup tables with sparse (touched-columns-only) gradients.
#ifndef EIGENREC_NN_EMBEDDING_HPP
#define EIGENREC_NN_EMBEDDING_HPP

#include <eigenrec/core/memory.hpp>
#include <eigenrec/core/random.hpp>
#include <eigenrec/nn/init.hpp>
#include <eigenrec/nn/module.hpp>

#include <string>
#include <vector>

namespace eigenrec::nn {

/// Embedding table: ids -> vectors.
///
/// Parameter "weight" is the table, shape (dim, vocab): the vector of id i is column i
/// (PyTorch's nn.Embedding weight [vocab, dim] holds the same bytes). Its gradient is
/// column-sparse: backward touches only the columns of the ids seen, and optimizers
/// update only those, so a step costs O(ids * dim) whatever the vocabulary size.
/// Initialisation N(0, 1) as PyTorch; the padding id's column is zero and never
/// receives gradient.
template <typename Scalar = float>
class Embedding : public Module<Scalar> {
 public:
  using MatrixType = Matrix<Scalar>;

  struct Options {
    Index paddingIndex = -1;  ///< id whose vector stays zero and gets no gradient; -1 = none
  };

  Embedding(Index vocab, Index dim, Rng& rng, Options options = {}) { init(vocab, dim, rng, options); }
  explicit Embedding(Index vocab, Index dim, std::uint64_t seed = 0, Options options = {}) {
    Rng rng(seed);
    init(vocab, dim, rng, options);
  }

  Index vocabSize() const noexcept { return m_weight.cols(); }
  Index dim() const noexcept { return m_weight.rows(); }
  Parameter<Scalar>& weight() noexcept { return m_weight; }

  /// Looks up `ids` (n ids in [0, vocab)) into output (dim, n).
  void forward(const std::vector<Index>& ids, MatrixType& output) {
    const auto n = static_cast<Index>(ids.size());
    output.resize(dim(), n);
    for (Index j = 0; j < n; ++j) {
      const Index id = ids[static_cast<std::size_t>(j)];
      checkIndex("Embedding::forward", "id", id, vocabSize());
      output.col(j) = m_weight.value().col(id);
    }
    m_ids = ids;
  }
  MatrixType forward(const std::vector<Index>& ids) {
    MatrixType out;
    forward(ids, out);
    return out;
  }

  /// Adds gradOutput (dim, n) of the last forward to the rows of the ids it looked up.
  void backward(const Eigen::Ref<const MatrixType>& gradOutput) {
    checkShape("Embedding::backward", "gradOutput", gradOutput, dim(), static_cast<Index>(m_ids.size()));
    if (m_weight.frozen()) return;
    for (std::size_t j = 0; j < m_ids.size(); ++j) {
      if (m_ids[j] == m_padding) continue;
      m_weight.accumulateColumn(m_ids[j], gradOutput.col(static_cast<Index>(j)));
    }
  }

  void collectParameters(const std::string& prefix, std::vector<NamedParameter<Scalar>>& out) override {
    out.push_back({prefix + "weight", &m_weight});
  }

 private:
  void init(Index vocab, Index dim, Rng& rng, Options options) {
    checkPositive("Embedding", "vocab", vocab);
    checkPositive("Embedding", "dim", dim);
    if (options.paddingIndex != -1) checkIndex("Embedding", "paddingIndex", options.paddingIndex, vocab);
    m_padding = options.paddingIndex;
    MatrixType w(dim, vocab);
    adviseHugePages(w);  // rows looked up at random
    init::normal(w, 0.0, 1.0, rng);
    if (m_padding >= 0) w.col(m_padding).setZero();
    m_weight = Parameter<Scalar>(std::move(w), Parameter<Scalar>::GradKind::sparseColumns);
  }

  Parameter<Scalar> m_weight;
  Index m_padding = -1;
  std::vector<Index> m_ids;
};

/// Pooling of an EmbeddingBag.
enum class BagMode { sum, mean };

/// Bags of ids -> one pooled vector per bag: sum or mean of the bag's embeddings,
/// optionally weighted per id (sum mode, as PyTorch's per_sample_weights).
///
/// Bags are given CSR-style: ids (all bags concatenated) and offsets of size bags + 1
/// with offsets[0] = 0 and offsets[bags] = ids.size() (PyTorch's offsets with
/// include_last_offset=True). An empty bag gives a zero vector. Output (dim, bags).
/// Parameter "weight" (dim, vocab) with a column-sparse gradient, as Embedding.
template <typename Scalar = float>
class EmbeddingBag : public Module<Scalar> {
 public:
  using MatrixType = Matrix<Scalar>;

  struct Options {
    BagMode mode = BagMode::mean;  ///< PyTorch's default
    Index paddingIndex = -1;       ///< id excluded from the pooling (and from the mean's count)
  };

  EmbeddingBag(Index vocab, Index dim, Rng& rng, Options options = {}) { init(vocab, dim, rng, options); }
  explicit EmbeddingBag(Index vocab, Index dim, std::uint64_t seed = 0, Options options = {}) {
    Rng rng(seed);
    init(vocab, dim, rng, options);
  }

  Index vocabSize() const noexcept { return m_weight.cols(); }
  Index dim() const noexcept { return m_weight.rows(); }
  BagMode mode() const noexcept { return m_options.mode; }
  Parameter<Scalar>& weight() noexcept { return m_weight; }

  /// ids: all bags' ids; offsets: bags + 1 boundaries; weights: empty or one per id
  /// (sum mode only). Output (dim, bags).
  void forward(const std::vector<Index>& ids, const std::vector<Index>& offsets, MatrixType& output,
               const std::vector<Scalar>& weights = {}) {
    const char* where = "EmbeddingBag::forward";
    checkExpected(!offsets.empty(), where, "offsets", "bags + 1 entries", "an empty list");
    checkExpected(offsets.front() == 0, where, "offsets[0]", 0, offsets.front());
    checkEqual(where, "offsets.back() (number of ids)", static_cast<Index>(ids.size()), offsets.back());
    if (!weights.empty()) {
      checkArgument(m_options.mode == BagMode::sum, where, "per-id weights need mode sum (as PyTorch)");
      checkEqual(where, "weights size", static_cast<Index>(ids.size()), static_cast<Index>(weights.size()));
    }
    const auto bags = static_cast<Index>(offsets.size()) - 1;
    output.setZero(dim(), bags);
    m_scale.assign(ids.size(), Scalar(1));
    for (Index b = 0; b < bags; ++b) {
      const Index begin = offsets[static_cast<std::size_t>(b)], end = offsets[static_cast<std::size_t>(b) + 1];
      checkExpected(begin <= end, where, "offsets", "non-decreasing",
                    eigenrec::detail::concat("offsets[", b, "] = ", begin, " > offsets[", b + 1, "] = ", end));
      Index count = 0;
      for (Index k = begin; k < end; ++k) {
        const Index id = ids[static_cast<std::size_t>(k)];
        checkIndex(where, "id", id, vocabSize());
        if (id != m_options.paddingIndex) ++count;
      }
      const Scalar meanScale = (m_options.mode == BagMode::mean && count > 0) ? Scalar(1) / Scalar(count) : Scalar(1);
      for (Index k = begin; k < end; ++k) {
        const auto kk = static_cast<std::size_t>(k);
        const Index id = ids[kk];
        if (id == m_options.paddingIndex) {
          m_scale[kk] = Scalar(0);
          continue;
        }
        m_scale[kk] = (weights.empty() ? Scalar(1) : weights[kk]) * meanScale;
        output.col(b) += m_scale[kk] * m_weight.value().col(id);
      }
    }
    m_ids = ids;
    m_offsets = offsets;
  }
  MatrixType forward(const std::vector<Index>& ids, const std::vector<Index>& offsets,
                     const std::vector<Scalar>& weights = {}) {
    MatrixType out;
    forward(ids, offsets, out, weights);
    return out;
  }

  /// Distributes gradOutput (dim, bags) of the last forward to the ids' columns.
  void backward(const Eigen::Ref<const MatrixType>& gradOutput) {
    const auto bags = static_cast<Index>(m_offsets.size()) - 1;
    checkShape("EmbeddingBag::backward", "gradOutput", gradOutput, dim(), bags);
    if (m_weight.frozen()) return;
    for (Index b = 0; b < bags; ++b) {
      for (Index k = m_offsets[static_cast<std::size_t>(b)]; k < m_offsets[static_cast<std::size_t>(b) + 1]; ++k) {
        const auto kk = static_cast<std::size_t>(k);
        if (m_ids[kk] == m_options.paddingIndex) continue;
        m_weight.gradColumn(m_ids[kk]) += m_scale[kk] * gradOutput.col(b);
      }
    }
  }

  void collectParameters(const std::string& prefix, std::vector<NamedParameter<Scalar>>& out) override {
    out.push_back({prefix + "weight", &m_weight});
  }

 private:
  void init(Index vocab, Index dim, Rng& rng, Options options) {
    checkPositive("EmbeddingBag", "vocab", vocab);
    checkPositive("EmbeddingBag", "dim", dim);
    if (options.paddingIndex != -1) checkIndex("EmbeddingBag", "paddingIndex", options.paddingIndex, vocab);
    m_options = options;
    MatrixType w(dim, vocab);
    adviseHugePages(w);  // rows looked up at random
    init::normal(w, 0.0, 1.0, rng);
    if (options.paddingIndex >= 0) w.col(options.paddingIndex).setZero();
    m_weight = Parameter<Scalar>(std::move(w), Parameter<Scalar>::GradKind::sparseColumns);
  }

  Parameter<Scalar> m_weight;
  Options m_options;
  std::vector<Index> m_ids, m_offsets;
  std::vector<Scalar> m_scale;  // per id: weight * (1 / count for mean), 0 for padding
};

}  // namespace eigenrec::nn

#endif  // EIGENREC_NN_EMBEDDING_HPP

// eigenrec/text/tfidf.hpp: scikit-learn's TfidfTransformer and TfidfVectorizer.
//
//   tf(t, d)   = count(t, d)                    (binary: 1 if present)
//              = 1 + ln(count(t, d))            (sublinearTf, for count > 0)
//   idf(t)     = ln((1 + n) / (1 + df(t))) + 1  (smoothIdf, default)
//              = ln(n / df(t)) + 1              (smoothIdf = false)
//   w(t, d)    = tf(t, d) * idf(t)              (tf only when useIdf = false)
//   row d      = w(., d) / ||w(., d)||          (Norm::l2 default, l1, none; a zero row stays zero)
// n = number of fitting documents, df(t) = fitting documents that contain t, ln = natural
// logarithm. Computed in double, then stored as Scalar.
#ifndef EIGENREC_TEXT_TFIDF_HPP
#define EIGENREC_TEXT_TFIDF_HPP

#include <eigenrec/core/checks.hpp>
#include <eigenrec/core/parallel.hpp>
#include <eigenrec/core/serialize.hpp>
#include <eigenrec/core/types.hpp>
#include <eigenrec/text/count_vectorizer.hpp>

#include <algorithm>
#include <array>
#include <cmath>
#include <cstdint>
#include <istream>
#include <ostream>
#include <string>
#include <vector>

namespace eigenrec::text {

/// Row normalisation of a weighted document-term matrix (scikit-learn's `norm`).
enum class Norm {
  none,  ///< None
  l1,    ///< "l1": divide each row by the sum of its absolute values
  l2     ///< "l2": divide each row by its Euclidean norm
};

/// Weighting options of TfidfTransformer (scikit-learn's parameters of the same names).
struct TfidfOptions {
  Norm norm = Norm::l2;      ///< norm
  bool useIdf = true;        ///< use_idf
  bool smoothIdf = true;     ///< smooth_idf
  bool sublinearTf = false;  ///< sublinear_tf
};

namespace detail {

/// Replaces values[k] (k < n) by weight(k, values[k]) (computed in double), then
/// divides them by their l1 / l2 norm (a row of norm 0 stays as it is): the arithmetic
/// of every weighting, whether applied to a whole matrix or to each row as it is made.
template <typename Scalar, typename Weight>
void weighRow(Scalar* values, std::size_t n, Norm norm, Weight&& weight) {
  // The weights in double until the division: one rounding to Scalar.
  double stack[256];
  std::vector<double> heap;
  double* row = stack;
  if (n > 256) {
    heap.resize(n);
    row = heap.data();
  }
  double sum = 0;
  for (std::size_t k = 0; k < n; ++k) {
    const double v = weight(k, static_cast<double>(values[k]));
    row[k] = v;
    sum += norm == Norm::l2 ? v * v : std::abs(v);
  }
  if (norm == Norm::none || sum == 0) {
    for (std::size_t k = 0; k < n; ++k) values[k] = static_cast<Scalar>(row[k]);
    return;
  }
  if (norm == Norm::l2) sum = std::sqrt(sum);
  for (std::size_t k = 0; k < n; ++k) values[k] = static_cast<Scalar>(row[k] / sum);
}

/// The counts as a compressed matrix of Scalar values (same structure).
template <typename Scalar>
SparseRowMatrix<Scalar> countsAs(const CountMatrix& counts) {
  SparseRowMatrix<Scalar> m(counts.rows(), counts.cols());
  detail::resizeNonZerosForWriting(m, counts.nonZeros());
  std::copy(counts.outerIndexPtr(), counts.outerIndexPtr() + counts.rows() + 1, m.outerIndexPtr());
  std::copy(counts.innerIndexPtr(), counts.innerIndexPtr() + counts.nonZeros(), m.innerIndexPtr());
  for (Index k = 0; k < counts.nonZeros(); ++k) m.valuePtr()[k] = static_cast<Scalar>(counts.valuePtr()[k]);
  return m;
}

inline void checkCounts(std::string_view where, const CountMatrix& counts) {
  checkArgument(counts.isCompressed(), where, "counts expected a compressed matrix, got an uncompressed one");
  for (Index i = 0; i < counts.nonZeros(); ++i) {
    if (counts.valuePtr()[i] < 0) throwInvalidArgument(where, "counts expected values >= 0, got ", counts.valuePtr()[i]);
  }
}

}  // namespace detail

/// scikit-learn's TfidfTransformer: turns counts (documents, terms) into tf-idf weights.
template <typename Scalar = float>
class TfidfTransformer {
  EIGENREC_STATIC_ASSERT_SCALAR(Scalar);

 public:
  explicit TfidfTransformer(TfidfOptions options = {}) : m_options(options) {
    for (std::size_t c = 1; c < m_sublinear.size(); ++c) m_sublinear[c] = std::log(static_cast<double>(c)) + 1.0;
  }

  const TfidfOptions& options() const noexcept { return m_options; }

  /// Learns the idf from a count matrix, shape (documents, terms).
  TfidfTransformer& fit(const CountMatrix& counts) {
    detail::checkCounts("TfidfTransformer::fit", counts);
    checkArgument(counts.rows() > 0, "TfidfTransformer::fit", "counts expected at least one document, got 0");
    std::vector<std::int64_t> df(static_cast<std::size_t>(counts.cols()), 0);
    for (Index i = 0; i < counts.nonZeros(); ++i) {
      if (counts.valuePtr()[i] != 0) ++df[static_cast<std::size_t>(counts.innerIndexPtr()[i])];
    }
    return fitDocumentFrequency(df, counts.rows());
  }

  /// Learns the idf from document frequencies (terms) of `documents` documents.
  TfidfTransformer& fitDocumentFrequency(const std::vector<std::int64_t>& df, std::int64_t documents,
                                         const std::vector<std::string>* terms = nullptr) {
    constexpr std::string_view where = "TfidfTransformer::fit";
    checkPositive(where, "documents", documents);
    m_idf.assign(df.size(), 1.0);
    m_features = static_cast<Index>(df.size());
    if (!m_options.useIdf) return *this;
    const double smooth = m_options.smoothIdf ? 1.0 : 0.0;
    const double n = static_cast<double>(documents) + smooth;
    // Most terms share a small document frequency: one log per distinct value of those
    // (the same expression, so the same bits).
    std::vector<double> memo(static_cast<std::size_t>(std::min<std::int64_t>(documents, 4095)) + 1, 0.0);
    for (std::size_t t = 0; t < df.size(); ++t) {
      if (df[t] < 0 || df[t] > documents) {
        throwInvalidArgument(where, "document frequency of term ", t, " expected in [0, ", documents, "], got ", df[t]);
      }
      if (df[t] == 0 && !m_options.smoothIdf) {
        throwInvalidArgument(where, "smoothIdf = false and term ", terms ? "'" + (*terms)[t] + "'" : std::to_string(t),
                             " occurs in no document: its idf would be infinite");
      }
      const auto f = static_cast<std::size_t>(df[t]);
      if (f < memo.size()) {
        if (memo[f] == 0) memo[f] = std::log(n / (static_cast<double>(f) + smooth)) + 1.0;  // an idf is >= 1
        m_idf[t] = memo[f];
      } else {
        m_idf[t] = std::log(n / (static_cast<double>(df[t]) + smooth)) + 1.0;
      }
    }
    return *this;
  }

  bool fitted() const noexcept { return m_features > 0; }

  /// The idf weights, shape (terms); all ones when useIdf = false.
  Vector<Scalar> idf() const {
    Vector<Scalar> v(m_features);
    for (Index t = 0; t < m_features; ++t) v(t) = static_cast<Scalar>(m_idf[static_cast<std::size_t>(t)]);
    return v;
  }
  const std::vector<double>& idfDouble() const noexcept { return m_idf; }

  /// Tf-idf weights of counts (documents, terms) -> (documents, terms).
  SparseRowMatrix<Scalar> transform(const CountMatrix& counts, int threads = 1) const {
    constexpr std::string_view where = "TfidfTransformer::transform";
    checkArgument(fitted(), where, "the transformer is not fitted");
    detail::checkCounts(where, counts);
    SparseRowMatrix<Scalar> m = detail::countsAs<Scalar>(counts);
    weighInPlace(m, threads);
    return m;
  }

  /// In place: `counts` (documents, terms) holds counts as Scalar values (exact up to
  /// 2^24 for float) and becomes the tf-idf weights. What the vectorizer uses, without a
  /// second matrix.
  void weighInPlace(SparseRowMatrix<Scalar>& counts, int threads = 1) const {
    constexpr std::string_view where = "TfidfTransformer::weighInPlace";
    checkArgument(fitted(), where, "the transformer is not fitted");
    checkArgument(counts.isCompressed(), where, "counts expected a compressed matrix, got an uncompressed one");
    checkExpected(counts.cols() == m_features, where, "counts", eigenrec::detail::concat(m_features, " columns"),
                  eigenrec::detail::concat(counts.cols(), " columns"));
    for (Index k = 0; k < counts.nonZeros(); ++k) {
      if (!(counts.valuePtr()[k] >= 0) || !std::isfinite(static_cast<double>(counts.valuePtr()[k]))) {
        throwInvalidArgument(where, "counts expected finite values >= 0, got ", counts.valuePtr()[k]);
      }
    }
    detail::weighRows<Scalar>(counts, rowWeighting(), threads);
  }

  /// The weighting of one row of counts (columns ascending) in place, as weighInPlace
  /// does to each row: for CountVectorizer::fitTransformAs, which calls it as it writes
  /// each row. Refers to this transformer, which must outlive it.
  RowWeighting<Scalar> rowWeighting() const {
    return [this](const std::int64_t* columns, Scalar* values, std::size_t n) {
      detail::weighRow(values, n, m_options.norm, [&](std::size_t k, double v) { return weight(columns[k], v); });
    };
  }

  void writeState(ArchiveWriter& w) const {
    w.writeValue("norm", static_cast<std::int32_t>(m_options.norm));
    w.writeValue("useIdf", static_cast<std::int32_t>(m_options.useIdf));
    w.writeValue("smoothIdf", static_cast<std::int32_t>(m_options.smoothIdf));
    w.writeValue("sublinearTf", static_cast<std::int32_t>(m_options.sublinearTf));
    w.writeVector("idf", m_idf);
  }

  static TfidfTransformer readState(ArchiveReader& r, const std::string& source) {
    auto flag = [&](std::string_view name, int count) {
      const auto v = r.readValue<std::int32_t>(name);
      if (v < 0 || v >= count) {
        throw FormatError(source.empty() ? "<archive>" : source, 0, 0,
                          eigenrec::detail::concat("entry '", name, "': invalid value ", v));
      }
      return v;
    };
    TfidfOptions o;
    o.norm = static_cast<Norm>(flag("norm", 3));
    o.useIdf = flag("useIdf", 2) != 0;
    o.smoothIdf = flag("smoothIdf", 2) != 0;
    o.sublinearTf = flag("sublinearTf", 2) != 0;
    TfidfTransformer t(o);
    t.m_idf = r.readVector<double>("idf");
    for (double v : t.m_idf) {
      if (!std::isfinite(v)) throw FormatError(source.empty() ? "<archive>" : source, 0, 0, "non-finite idf");
    }
    t.m_features = static_cast<Index>(t.m_idf.size());
    return t;
  }

 private:
  // tf (sublinear or not) times idf of one count.
  double weight(std::int64_t column, double v) const {
    if (m_options.sublinearTf && v != 0) {
      // Counts are small integers: their 1 + ln(count) from the table (the same bits).
      if (v >= 1 && v < static_cast<double>(m_sublinear.size()) && static_cast<double>(static_cast<std::size_t>(v)) == v) {
        v = m_sublinear[static_cast<std::size_t>(v)];
      } else {
        v = std::log(v) + 1.0;
      }
    }
    if (m_options.useIdf) v *= m_idf[static_cast<std::size_t>(column)];
    return v;
  }

  TfidfOptions m_options;
  std::vector<double> m_idf;
  Index m_features = 0;
  std::array<double, 64> m_sublinear{};  // [c] = 1 + ln(c), for c >= 1
};

/// Options of TfidfVectorizer: CountVectorizer's plus the weighting.
struct TfidfVectorizerOptions : CountVectorizerOptions {
  Norm norm = Norm::l2;      ///< norm
  bool useIdf = true;        ///< use_idf
  bool smoothIdf = true;     ///< smooth_idf
  bool sublinearTf = false;  ///< sublinear_tf

  TfidfOptions weighting() const { return {norm, useIdf, smoothIdf, sublinearTf}; }
};

/// scikit-learn's TfidfVectorizer: CountVectorizer followed by TfidfTransformer.
///
///   TfidfVectorizer<double> tfidf;                      // sklearn's defaults
///   SparseRowMatrix<double> X = tfidf.fitTransform(docs);  // (documents, terms), rows l2-normalised
///   tfidf.vocabulary(), tfidf.idf()
template <typename Scalar = float>
class TfidfVectorizer {
  EIGENREC_STATIC_ASSERT_SCALAR(Scalar);

 public:
  static constexpr const char* kArchiveKind = "text.TfidfVectorizer";
  static constexpr std::uint32_t kArchiveVersion = 1;

  explicit TfidfVectorizer(TfidfVectorizerOptions options = {})
      : m_options(std::move(options)),
        m_counter(static_cast<const CountVectorizerOptions&>(m_options)),
        m_weights(m_options.weighting()) {}

  const TfidfVectorizerOptions& options() const noexcept { return m_options; }

  /// Learns vocabulary and idf; returns the tf-idf matrix (documents, terms).
  template <typename Range>
  SparseRowMatrix<Scalar> fitTransform(const Range& documents) {
    TfidfTransformer<Scalar> weights(m_options.weighting());
    SparseRowMatrix<Scalar> m = m_counter.template fitTransformAs<Scalar>(documents, weighsRows(weights));
    m_weights = std::move(weights);
    return m;
  }

  /// fitTransform on a file with one document per line (streamed).
  SparseRowMatrix<Scalar> fitTransformFile(const std::string& path) {
    TfidfTransformer<Scalar> weights(m_options.weighting());
    SparseRowMatrix<Scalar> m = m_counter.template fitTransformFileAs<Scalar>(path, weighsRows(weights));
    m_weights = std::move(weights);
    return m;
  }

  template <typename Range>
  TfidfVectorizer& fit(const Range& documents) {
    m_counter.fit(documents);
    fitWeights();
    return *this;
  }
  TfidfVectorizer& fitFile(const std::string& path) {
    m_counter.fitFile(path);
    fitWeights();
    return *this;
  }

  /// Tf-idf of new documents with the fitted vocabulary and idf, (documents, terms).
  template <typename Range>
  SparseRowMatrix<Scalar> transform(const Range& documents) const {
    checkArgument(fitted(), "TfidfVectorizer::transform", "the vectorizer is not fitted");
    return m_counter.template transformAs<Scalar>(documents, m_weights.rowWeighting());
  }
  SparseRowMatrix<Scalar> transformFile(const std::string& path) const {
    checkArgument(fitted(), "TfidfVectorizer::transformFile", "the vectorizer is not fitted");
    return m_counter.template transformFileAs<Scalar>(path, m_weights.rowWeighting());
  }

  bool fitted() const noexcept { return m_counter.fitted() && m_weights.fitted(); }
  const std::vector<std::string>& vocabulary() const noexcept { return m_counter.vocabulary(); }
  Index numFeatures() const noexcept { return m_counter.numFeatures(); }
  Index column(std::string_view term) const { return m_counter.column(term); }
  /// The idf weights, shape (terms).
  Vector<Scalar> idf() const { return m_weights.idf(); }
  const CountVectorizer& counter() const noexcept { return m_counter; }
  const TfidfTransformer<Scalar>& transformer() const noexcept { return m_weights; }

  void save(std::ostream& os) const {
    checkArgument(fitted(), "TfidfVectorizer::save", "the vectorizer is not fitted");
    ArchiveWriter w(os, kArchiveKind, kArchiveVersion);
    m_counter.writeState(w);
    m_weights.writeState(w);
    w.finish();
  }
  void saveFile(const std::string& path) const {
    saveFileAtomically(path, [&](std::ostream& os) { save(os); });
  }

  static TfidfVectorizer load(std::istream& is, const std::string& source = "") {
    ArchiveReader r(is, kArchiveKind, kArchiveVersion, source);
    CountVectorizer counter = CountVectorizer::readState(r, source);
    TfidfTransformer<Scalar> weights = TfidfTransformer<Scalar>::readState(r, source);
    r.finish();
    if (weights.idfDouble().size() != counter.vocabulary().size()) {
      throw FormatError(source.empty() ? "<archive>" : source, 0, 0, "idf and vocabulary sizes differ");
    }
    TfidfVectorizerOptions o;
    static_cast<CountVectorizerOptions&>(o) = counter.options();
    o.norm = weights.options().norm;
    o.useIdf = weights.options().useIdf;
    o.smoothIdf = weights.options().smoothIdf;
    o.sublinearTf = weights.options().sublinearTf;
    TfidfVectorizer v(o);
    v.m_counter = std::move(counter);
    v.m_weights = std::move(weights);
    return v;
  }
  static TfidfVectorizer loadFile(const std::string& path) {
    return eigenrec::loadFile(path, [&](std::istream& is) { return load(is, path); });
  }

 private:
  void fitWeights() {
    m_weights = TfidfTransformer<Scalar>(m_options.weighting());
    m_weights.fitDocumentFrequency(m_counter.documentFrequency(), m_counter.numDocuments(), &m_counter.vocabulary());
  }

  // The counter's row weighting for a fit: fits `weights` once the vocabulary is known,
  // then weighs each row as it is written (no second pass over the matrix).
  static MakeRowWeighting<Scalar> weighsRows(TfidfTransformer<Scalar>& weights) {
    return [&weights](const std::vector<std::int64_t>& df, std::int64_t documents, const std::vector<std::string>& terms) {
      weights.fitDocumentFrequency(df, documents, &terms);
      return weights.rowWeighting();
    };
  }

  TfidfVectorizerOptions m_options;
  CountVectorizer m_counter;
  TfidfTransformer<Scalar> m_weights;
};

}  // namespace eigenrec::text

#endif  // EIGENREC_TEXT_TFIDF_HPP

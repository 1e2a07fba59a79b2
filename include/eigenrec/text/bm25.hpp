// eigenrec/text/bm25.hpp: Okapi BM25 document weights (the weighting users ask
// scikit-learn for; its PR #7075 was closed).
//
//   w(t, d) = idf(t) * tf(t, d) * (k1 + 1) / (tf(t, d) + k1 * (1 - b + b * |d| / avgdl))
//   idf(t)  = ln(1 + (n - df(t) + 0.5) / (df(t) + 0.5))   (Bm25Idf::lucene, default; always > 0)
//           = ln((n - df(t) + 0.5) / (df(t) + 0.5))       (Bm25Idf::robertsonSparckJones;
//                                                          negative when df(t) > n / 2)
// tf = count of t in d (binary: 1), |d| = the document's count of vocabulary terms (its
// row sum), avgdl = mean |d| over the fitting documents, n = fitting documents, df(t) =
// fitting documents containing t. Lucene 8+'s BM25Similarity scores are these weights
// divided by (k1 + 1) and use a lossy 1-byte length; the ranking is the same. Optional
// row normalisation as TF-IDF (Norm::none by default). A query's score against the
// documents is the dot product of its binary (or count) vector with these rows.
#ifndef EIGENREC_TEXT_BM25_HPP
#define EIGENREC_TEXT_BM25_HPP

#include <eigenrec/core/checks.hpp>
#include <eigenrec/core/parallel.hpp>
#include <eigenrec/core/serialize.hpp>
#include <eigenrec/core/types.hpp>
#include <eigenrec/text/count_vectorizer.hpp>
#include <eigenrec/text/tfidf.hpp>

#include <cmath>
#include <cstdint>
#include <istream>
#include <ostream>
#include <string>
#include <vector>

namespace eigenrec::text {

/// The idf of BM25.
enum class Bm25Idf {
  lucene,               ///< ln(1 + (n - df + 0.5) / (df + 0.5)), Lucene's BM25Similarity
  robertsonSparckJones  ///< ln((n - df + 0.5) / (df + 0.5)), the classic Okapi form
};

/// Options of Bm25Vectorizer: CountVectorizer's plus BM25's parameters.
struct Bm25VectorizerOptions : CountVectorizerOptions {
  double k1 = 1.2;               ///< term-frequency saturation, >= 0
  double b = 0.75;               ///< length normalisation in [0, 1]
  Bm25Idf idf = Bm25Idf::lucene; ///< idf variant
  Norm norm = Norm::none;        ///< optional row normalisation after weighting

  void validate(std::string_view where) const {
    CountVectorizerOptions::validate(where);
    checkFinite(where, "k1", k1);
    checkNonNegative(where, "k1", k1);
    checkBetween(where, "b", b, 0.0, 1.0);
  }
};

/// BM25 weights of documents: (documents, terms), CSR.
template <typename Scalar = float>
class Bm25Vectorizer {
  EIGENREC_STATIC_ASSERT_SCALAR(Scalar);

 public:
  static constexpr const char* kArchiveKind = "text.Bm25Vectorizer";
  static constexpr std::uint32_t kArchiveVersion = 1;

  explicit Bm25Vectorizer(Bm25VectorizerOptions options = {})
      : m_options(validated(std::move(options))), m_counter(static_cast<const CountVectorizerOptions&>(m_options)) {}

  const Bm25VectorizerOptions& options() const noexcept { return m_options; }

  template <typename Range>
  SparseRowMatrix<Scalar> fitTransform(const Range& documents) {
    SparseRowMatrix<Scalar> m = m_counter.template fitTransformAs<Scalar>(documents);
    fitWeights(m);
    weighInPlace(m);
    return m;
  }
  SparseRowMatrix<Scalar> fitTransformFile(const std::string& path) {
    SparseRowMatrix<Scalar> m = m_counter.template fitTransformFileAs<Scalar>(path);
    fitWeights(m);
    weighInPlace(m);
    return m;
  }
  template <typename Range>
  Bm25Vectorizer& fit(const Range& documents) {
    fitTransform(documents);
    return *this;
  }
  Bm25Vectorizer& fitFile(const std::string& path) {
    fitTransformFile(path);
    return *this;
  }

  template <typename Range>
  SparseRowMatrix<Scalar> transform(const Range& documents) const {
    checkArgument(fitted(), "Bm25Vectorizer::transform", "the vectorizer is not fitted");
    return m_counter.template transformAs<Scalar>(documents, rowWeighting());
  }
  SparseRowMatrix<Scalar> transformFile(const std::string& path) const {
    checkArgument(fitted(), "Bm25Vectorizer::transformFile", "the vectorizer is not fitted");
    return m_counter.template transformFileAs<Scalar>(path, rowWeighting());
  }

  /// BM25 weights of a count matrix (documents, terms) with the fitted idf and avgdl.
  SparseRowMatrix<Scalar> weigh(const CountMatrix& counts) const {
    constexpr std::string_view where = "Bm25Vectorizer::weigh";
    checkArgument(fitted(), where, "the vectorizer is not fitted");
    detail::checkCounts(where, counts);
    checkExpected(counts.cols() == numFeatures(), where, "counts", eigenrec::detail::concat(numFeatures(), " columns"),
                  eigenrec::detail::concat(counts.cols(), " columns"));
    SparseRowMatrix<Scalar> m = detail::countsAs<Scalar>(counts);
    weighInPlace(m);
    return m;
  }

  bool fitted() const noexcept { return m_counter.fitted() && !m_idf.empty(); }
  const std::vector<std::string>& vocabulary() const noexcept { return m_counter.vocabulary(); }
  Index numFeatures() const noexcept { return m_counter.numFeatures(); }
  Index column(std::string_view term) const { return m_counter.column(term); }
  const CountVectorizer& counter() const noexcept { return m_counter; }

  /// idf(t), shape (terms).
  Vector<Scalar> idf() const {
    Vector<Scalar> v(static_cast<Index>(m_idf.size()));
    for (Index t = 0; t < v.size(); ++t) v(t) = static_cast<Scalar>(m_idf[static_cast<std::size_t>(t)]);
    return v;
  }
  /// Mean document length (vocabulary terms per fitting document).
  double averageLength() const noexcept { return m_avgLength; }

  void save(std::ostream& os) const {
    checkArgument(fitted(), "Bm25Vectorizer::save", "the vectorizer is not fitted");
    ArchiveWriter w(os, kArchiveKind, kArchiveVersion);
    m_counter.writeState(w);
    w.writeValue("k1", m_options.k1);
    w.writeValue("b", m_options.b);
    w.writeValue("idfVariant", static_cast<std::int32_t>(m_options.idf));
    w.writeValue("norm", static_cast<std::int32_t>(m_options.norm));
    w.writeVector("idf", m_idf);
    w.writeValue("averageLength", m_avgLength);
    w.finish();
  }
  void saveFile(const std::string& path) const {
    saveFileAtomically(path, [&](std::ostream& os) { save(os); });
  }

  static Bm25Vectorizer load(std::istream& is, const std::string& source = "") {
    const std::string name = source.empty() ? "<archive>" : source;
    ArchiveReader r(is, kArchiveKind, kArchiveVersion, source);
    CountVectorizer counter = CountVectorizer::readState(r, source);
    Bm25VectorizerOptions o;
    static_cast<CountVectorizerOptions&>(o) = counter.options();
    o.k1 = r.readValue<double>("k1");
    o.b = r.readValue<double>("b");
    const auto variant = r.readValue<std::int32_t>("idfVariant");
    const auto norm = r.readValue<std::int32_t>("norm");
    std::vector<double> idf = r.readVector<double>("idf");
    const double avg = r.readValue<double>("averageLength");
    r.finish();
    if (variant < 0 || variant > 1) throw FormatError(name, 0, 0, "invalid BM25 idf variant");
    if (norm < 0 || norm > 2) throw FormatError(name, 0, 0, "invalid norm");
    if (idf.size() != counter.vocabulary().size()) throw FormatError(name, 0, 0, "idf and vocabulary sizes differ");
    if (!std::isfinite(avg) || avg < 0) throw FormatError(name, 0, 0, "invalid average length");
    o.idf = static_cast<Bm25Idf>(variant);
    o.norm = static_cast<Norm>(norm);
    Bm25Vectorizer v = [&]() {
      try {
        return Bm25Vectorizer(o);
      } catch (const std::invalid_argument& e) {
        throw FormatError(name, 0, 0, eigenrec::detail::concat("invalid options: ", e.what()));
      }
    }();
    v.m_counter = std::move(counter);
    v.m_idf = std::move(idf);
    v.m_avgLength = avg;
    return v;
  }
  static Bm25Vectorizer loadFile(const std::string& path) {
    return eigenrec::loadFile(path, [&](std::istream& is) { return load(is, path); });
  }

 private:
  static Bm25VectorizerOptions validated(Bm25VectorizerOptions o) {
    o.validate("Bm25Vectorizer");
    return o;
  }

  // The BM25 weighting of one row of counts (its columns ascending), in place: what
  // transform applies to each row as it is written, and weighInPlace to every row.
  RowWeighting<Scalar> rowWeighting() const {
    return [this](const std::int64_t* columns, Scalar* values, std::size_t n) {
      const double k1 = m_options.k1, b = m_options.b;
      double length = 0;
      for (std::size_t k = 0; k < n; ++k) length += static_cast<double>(values[k]);
      const double relative = m_avgLength > 0 ? length / m_avgLength : 1.0;
      const double K = k1 * (1.0 - b + b * relative);  // K(d) = k1 (1 - b + b |d| / avgdl)
      detail::weighRow(values, n, m_options.norm, [&](std::size_t k, double tf) {
        return m_idf[static_cast<std::size_t>(columns[k])] * tf * (k1 + 1.0) / (tf + K);
      });
    };
  }

  // counts (documents, terms) as Scalar values -> BM25 weights.
  void weighInPlace(SparseRowMatrix<Scalar>& counts) const {
    detail::weighRows<Scalar>(counts, rowWeighting(), m_options.threads);
  }

  void fitWeights(const SparseRowMatrix<Scalar>& counts) {
    const auto& df = m_counter.documentFrequency();
    const auto n = static_cast<double>(m_counter.numDocuments());
    m_idf.resize(df.size());
    for (std::size_t t = 0; t < df.size(); ++t) {
      const double ratio = (n - static_cast<double>(df[t]) + 0.5) / (static_cast<double>(df[t]) + 0.5);
      m_idf[t] = m_options.idf == Bm25Idf::lucene ? std::log1p(ratio) : std::log(ratio);
    }
    double total = 0;
    for (Index i = 0; i < counts.nonZeros(); ++i) total += static_cast<double>(counts.valuePtr()[i]);
    m_avgLength = counts.rows() > 0 ? total / static_cast<double>(counts.rows()) : 0.0;
  }

  Bm25VectorizerOptions m_options;
  CountVectorizer m_counter;
  std::vector<double> m_idf;
  double m_avgLength = 0;
};

}  // namespace eigenrec::text

#endif  // EIGENREC_TEXT_BM25_HPP

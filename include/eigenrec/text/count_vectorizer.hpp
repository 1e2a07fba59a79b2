// eigenrec/text/count_vectorizer.hpp: scikit-learn's CountVectorizer — a vocabulary of
// word or character n-grams and the (documents, terms) matrix of their counts.
#ifndef EIGENREC_TEXT_COUNT_VECTORIZER_HPP
#define EIGENREC_TEXT_COUNT_VECTORIZER_HPP

#include <eigenrec/core/checks.hpp>
#include <eigenrec/core/parallel.hpp>
#include <eigenrec/core/progress.hpp>
#include <eigenrec/core/serialize.hpp>
#include <eigenrec/core/types.hpp>
#include <eigenrec/text/analyzer.hpp>
#include <eigenrec/text/detail/counting.hpp>
#include <eigenrec/text/detail/documents.hpp>

#include <algorithm>
#include <cassert>
#include <cmath>
#include <cstdint>
#include <functional>
#include <istream>
#include <limits>
#include <memory>
#include <mutex>
#include <numeric>
#include <ostream>
#include <string>
#include <string_view>
#include <unordered_set>
#include <vector>

namespace eigenrec::text {

/// A document-frequency threshold (scikit-learn's min_df / max_df): an absolute number of
/// documents (an int in scikit-learn) or a proportion of the documents (a float).
struct DocumentFrequency {
  bool isProportion = false;
  double value = 1;

  static DocumentFrequency count(std::int64_t documents) { return {false, static_cast<double>(documents)}; }
  static DocumentFrequency proportion(double fraction) { return {true, fraction}; }

  /// The threshold as a number of documents for a corpus of n documents (n * value for
  /// a proportion, as scikit-learn, without rounding).
  double documents(std::int64_t n) const { return isProportion ? value * static_cast<double>(n) : value; }
};

/// Options of CountVectorizer: the analysis (AnalyzerOptions) and the vocabulary.
struct CountVectorizerOptions : AnalyzerOptions {
  DocumentFrequency minDf = DocumentFrequency::count(1);         ///< min_df
  DocumentFrequency maxDf = DocumentFrequency::proportion(1.0);  ///< max_df
  std::int64_t maxFeatures = 0;          ///< max_features (0 = no limit): the most frequent terms
  std::vector<std::string> vocabulary;   ///< vocabulary: fixed terms in column order (empty = learn)
  bool binary = false;                   ///< binary: every non-zero count becomes 1
  int threads = 1;                       ///< threads for analysis and counting (0 = all cores)
  ProgressCallback progress;             ///< reports bytes (files) or documents (memory)

  void validate(std::string_view where) const {
    AnalyzerOptions::validate(where);
    auto checkFrequency = [&](const DocumentFrequency& f, std::string_view name) {
      if (f.isProportion) {
        checkBetween(where, name, f.value, 0.0, 1.0);
      } else {
        checkExpected(f.value >= 0 && std::floor(f.value) == f.value, where, name, "a document count >= 0",
                      f.value);
      }
    };
    checkFrequency(minDf, "minDf");
    checkFrequency(maxDf, "maxDf");
    checkNonNegative(where, "maxFeatures", maxFeatures);
    checkNonNegative(where, "threads", threads);
    std::unordered_set<std::string_view> seen;
    for (const auto& term : vocabulary) {
      if (!seen.insert(term).second) throwInvalidArgument(where, "vocabulary: duplicate term '", term, "'");
    }
  }
};

namespace detail {

inline void writeStringList(ArchiveWriter& w, std::string_view name, const std::vector<std::string>& list) {
  std::vector<std::int64_t> lengths;
  lengths.reserve(list.size());
  std::string blob;
  for (const auto& s : list) {
    lengths.push_back(static_cast<std::int64_t>(s.size()));
    blob += s;
  }
  w.writeVector(eigenrec::detail::concat(name, ".lengths"), lengths);
  w.writeString(eigenrec::detail::concat(name, ".bytes"), blob);
}

inline std::vector<std::string> readStringList(ArchiveReader& r, std::string_view name, const std::string& source) {
  const auto lengths = r.readVector<std::int64_t>(eigenrec::detail::concat(name, ".lengths"));
  const std::string blob = r.readString(eigenrec::detail::concat(name, ".bytes"));
  std::vector<std::string> list;
  list.reserve(lengths.size());
  std::size_t at = 0;
  for (const auto n : lengths) {
    if (n < 0 || static_cast<std::size_t>(n) > blob.size() - at) {
      throw FormatError(source, 0, 0, eigenrec::detail::concat("entry '", name, "': string lengths exceed the data"));
    }
    list.emplace_back(blob, at, static_cast<std::size_t>(n));
    at += static_cast<std::size_t>(n);
  }
  if (at != blob.size()) throw FormatError(source, 0, 0, eigenrec::detail::concat("entry '", name, "': extra bytes"));
  return list;
}

template <typename Range>
std::vector<std::string_view> documentViews(const Range& documents) {
  std::vector<std::string_view> views;
  for (const auto& d : documents) views.emplace_back(d);
  return views;
}

}  // namespace detail

/// A weighting of each row of counts, in place, as the vectorizer writes it:
/// (columns, values, n), values[k] the count of column columns[k] as Value, columns
/// ascending (detail::RowWeighting).
template <typename Value>
using RowWeighting = detail::RowWeighting<Value>;
/// Makes a fit's RowWeighting once its vocabulary is known, from (document frequency
/// per term, number of documents, terms), all in column order.
template <typename Value>
using MakeRowWeighting = detail::MakeRowWeighting<Value>;

/// scikit-learn's CountVectorizer over UTF-8 documents.
///
///   CountVectorizerOptions o;  o.ngramRange = {1, 2};  o.minDf = DocumentFrequency::count(2);
///   CountVectorizer cv(o);
///   CountMatrix X = cv.fitTransform(docs);    // (documents, terms), int64 counts
///   cv.vocabulary()[j]                         // the term of column j (sorted, as sklearn)
///
/// Documents are any range of strings (std::string, std::string_view, const char*), or a
/// file with one document per line (the *File methods, streamed). Results never depend
/// on `threads`. Not thread-safe for concurrent fit; const methods may run concurrently.
class CountVectorizer {
 public:
  static constexpr const char* kArchiveKind = "text.CountVectorizer";
  static constexpr std::uint32_t kArchiveVersion = 1;

  explicit CountVectorizer(CountVectorizerOptions options = {}) : m_options(std::move(options)) {
    m_options.validate("CountVectorizer");
    m_analyzer = Analyzer(static_cast<const AnalyzerOptions&>(m_options));
    if (!m_options.vocabulary.empty()) setVocabulary(m_options.vocabulary, false);
  }

  const CountVectorizerOptions& options() const noexcept { return m_options; }
  const Analyzer& analyzer() const noexcept { return m_analyzer; }

  /// Learns the vocabulary (or uses the fixed one) and returns the counts, shape
  /// (documents, terms). Throws std::invalid_argument on an empty corpus, an empty
  /// vocabulary, min_df above max_df, or pruning that removes every term.
  template <typename Range>
  CountMatrix fitTransform(const Range& documents) {
    return fitTransformAs<std::int64_t>(documents);
  }

  /// fitTransform on a file with one document per line (streamed; FormatError names the
  /// line of a bad document).
  CountMatrix fitTransformFile(const std::string& path) { return fitTransformFileAs<std::int64_t>(path); }

  /// fitTransform with the counts stored as Value (e.g. double, to weigh them in place).
  /// With `weighting`, each row is weighed as soon as it is written (while it is in
  /// cache): weighting(df, documents, vocabulary) is called once the vocabulary is
  /// known and returns the function applied to every row (see RowWeighting); this is
  /// how TfidfVectorizer weighs without a second pass over the matrix.
  template <typename Value, typename Range>
  CsrMatrix<Value> fitTransformAs(const Range& documents, const MakeRowWeighting<Value>& weighting = {}) {
    detail::MemoryDocuments source(detail::documentViews(documents));
    return fitSource<Value>(source, 0, "CountVectorizer::fitTransform", weighting);
  }
  template <typename Value>
  CsrMatrix<Value> fitTransformFileAs(const std::string& path, const MakeRowWeighting<Value>& weighting = {}) {
    detail::FileDocuments source(path, m_options.maxDocumentBytes);
    return fitSource<Value>(source, source.fileSize(), "CountVectorizer::fitTransformFile", weighting);
  }

  template <typename Range>
  CountVectorizer& fit(const Range& documents) {
    fitTransform(documents);
    return *this;
  }

  CountVectorizer& fitFile(const std::string& path) {
    fitTransformFile(path);
    return *this;
  }

  /// Counts of new documents over the fitted vocabulary, shape (documents, terms).
  template <typename Range>
  CountMatrix transform(const Range& documents) const {
    return transformAs<std::int64_t>(documents);
  }
  CountMatrix transformFile(const std::string& path) const { return transformFileAs<std::int64_t>(path); }

  /// transform with the counts stored as Value. With `weighting`, each row is weighed
  /// as soon as it is written (see RowWeighting): how TfidfVectorizer::transform weighs.
  template <typename Value, typename Range>
  CsrMatrix<Value> transformAs(const Range& documents, const RowWeighting<Value>& weighting = {}) const {
    checkFitted("CountVectorizer::transform");
    detail::MemoryDocuments source(detail::documentViews(documents));
    return countFixed<Value>(source, 0, "CountVectorizer::transform", weighting);
  }
  template <typename Value>
  CsrMatrix<Value> transformFileAs(const std::string& path, const RowWeighting<Value>& weighting = {}) const {
    checkFitted("CountVectorizer::transformFile");
    detail::FileDocuments source(path, m_options.maxDocumentBytes);
    return countFixed<Value>(source, source.fileSize(), "CountVectorizer::transformFile", weighting);
  }

  bool fitted() const noexcept { return !m_vocabulary.empty(); }

  /// The terms in column order (scikit-learn's get_feature_names_out()).
  const std::vector<std::string>& vocabulary() const noexcept { return m_vocabulary; }
  Index numFeatures() const noexcept { return static_cast<Index>(m_vocabulary.size()); }

  /// Column of `term`, or -1.
  Index column(std::string_view term) const {
    const auto it = std::lower_bound(m_sorted.begin(), m_sorted.end(), term, [&](std::uint32_t c, std::string_view t) {
      return std::string_view(m_vocabulary[c]) < t;
    });
    return (it != m_sorted.end() && m_vocabulary[*it] == term) ? static_cast<Index>(*it) : -1;
  }

  /// Number of fitting documents that contain each term, shape (terms).
  const std::vector<std::int64_t>& documentFrequency() const noexcept { return m_df; }
  /// Number of documents seen by the last fit.
  std::int64_t numDocuments() const noexcept { return m_documents; }

  /// Writes the fitted vectorizer (options except tokenFilter / threads / progress,
  /// vocabulary, document frequencies).
  void save(std::ostream& os) const {
    checkFitted("CountVectorizer::save");
    ArchiveWriter w(os, kArchiveKind, kArchiveVersion);
    writeState(w);
    w.finish();
  }
  void saveFile(const std::string& path) const {
    saveFileAtomically(path, [&](std::ostream& os) { save(os); });
  }

  /// Reads a vectorizer written by save(); throws FormatError on a wrong or damaged file.
  static CountVectorizer load(std::istream& is, const std::string& source = "") {
    ArchiveReader r(is, kArchiveKind, kArchiveVersion, source);
    CountVectorizer v = readState(r, source);
    r.finish();
    return v;
  }
  static CountVectorizer loadFile(const std::string& path) {
    return eigenrec::loadFile(path, [&](std::istream& is) { return load(is, path); });
  }

  /// Serialization building blocks for the vectorizers built on this one.
  void writeState(ArchiveWriter& w) const {
    const auto& o = m_options;
    w.writeValue("analyzer", static_cast<std::int32_t>(o.analyzer));
    w.writeValue("lowercase", static_cast<std::int32_t>(o.lowercase));
    w.writeValue("stripAccents", static_cast<std::int32_t>(o.stripAccents));
    w.writeValue("decodeError", static_cast<std::int32_t>(o.decodeError));
    w.writeValue("ngramMin", static_cast<std::int32_t>(o.ngramRange.first));
    w.writeValue("ngramMax", static_cast<std::int32_t>(o.ngramRange.second));
    w.writeValue("minTokenLength", static_cast<std::int32_t>(o.minTokenLength));
    w.writeValue("maxDocumentBytes", static_cast<std::int64_t>(o.maxDocumentBytes));
    detail::writeStringList(w, "stopWords", o.stopWords);
    w.writeValue("minDf.isProportion", static_cast<std::int32_t>(o.minDf.isProportion));
    w.writeValue("minDf.value", o.minDf.value);
    w.writeValue("maxDf.isProportion", static_cast<std::int32_t>(o.maxDf.isProportion));
    w.writeValue("maxDf.value", o.maxDf.value);
    w.writeValue("maxFeatures", static_cast<std::int64_t>(o.maxFeatures));
    w.writeValue("binary", static_cast<std::int32_t>(o.binary));
    w.writeValue("fixedVocabulary", static_cast<std::int32_t>(!o.vocabulary.empty()));
    detail::writeStringList(w, "vocabulary", m_vocabulary);
    w.writeVector("documentFrequency", m_df);
    w.writeValue("documents", static_cast<std::int64_t>(m_documents));
  }

  static CountVectorizer readState(ArchiveReader& r, const std::string& source) {
    auto fail = [&](const std::string& message) { throw FormatError(source.empty() ? "<archive>" : source, 0, 0, message); };
    auto readEnum = [&](std::string_view name, int count) {
      const auto v = r.readValue<std::int32_t>(name);
      if (v < 0 || v >= count) fail(eigenrec::detail::concat("entry '", name, "': invalid value ", v));
      return v;
    };
    CountVectorizerOptions o;
    o.analyzer = static_cast<AnalyzerKind>(readEnum("analyzer", 3));
    o.lowercase = readEnum("lowercase", 2) != 0;
    o.stripAccents = static_cast<StripAccents>(readEnum("stripAccents", 3));
    o.decodeError = static_cast<DecodeError>(readEnum("decodeError", 3));
    o.ngramRange.first = r.readValue<std::int32_t>("ngramMin");
    o.ngramRange.second = r.readValue<std::int32_t>("ngramMax");
    o.minTokenLength = r.readValue<std::int32_t>("minTokenLength");
    o.maxDocumentBytes = r.readValue<std::int64_t>("maxDocumentBytes");
    o.stopWords = detail::readStringList(r, "stopWords", source);
    o.minDf.isProportion = readEnum("minDf.isProportion", 2) != 0;
    o.minDf.value = r.readValue<double>("minDf.value");
    o.maxDf.isProportion = readEnum("maxDf.isProportion", 2) != 0;
    o.maxDf.value = r.readValue<double>("maxDf.value");
    o.maxFeatures = r.readValue<std::int64_t>("maxFeatures");
    o.binary = readEnum("binary", 2) != 0;
    const bool fixed = readEnum("fixedVocabulary", 2) != 0;
    std::vector<std::string> vocabulary = detail::readStringList(r, "vocabulary", source);
    std::vector<std::int64_t> df = r.readVector<std::int64_t>("documentFrequency");
    const auto documents = r.readValue<std::int64_t>("documents");
    if (vocabulary.empty()) fail("empty vocabulary");
    if (df.size() != vocabulary.size()) fail("documentFrequency and vocabulary sizes differ");
    if (documents < 0) fail("negative document count");
    for (const auto f : df) {
      if (f < 0 || f > documents) fail("document frequency outside [0, documents]");
    }
    if (fixed) o.vocabulary = vocabulary;
    CountVectorizer v;
    try {
      v = CountVectorizer(o);
    } catch (const std::invalid_argument& e) {
      fail(eigenrec::detail::concat("invalid options: ", e.what()));
    }
    try {
      v.setVocabulary(std::move(vocabulary), false);
    } catch (const std::invalid_argument& e) {
      fail(eigenrec::detail::concat("invalid vocabulary: ", e.what()));
    }
    v.m_df = std::move(df);
    v.m_documents = documents;
    return v;
  }

 private:
  void checkFitted(std::string_view where) const {
    checkArgument(fitted(), where, "the vectorizer is not fitted (call fit first or give a vocabulary)");
  }

  // `learned`: the vocabulary of a fit, sorted and distinct by construction; any other
  // (given, loaded) is checked for duplicates and put in term order by m_sorted.
  void setVocabulary(std::vector<std::string> vocabulary, bool learned) {
    m_vocabulary = std::move(vocabulary);
    m_sorted.resize(m_vocabulary.size());
    std::iota(m_sorted.begin(), m_sorted.end(), 0u);
    assert(!learned || std::adjacent_find(m_vocabulary.begin(), m_vocabulary.end(), std::greater_equal<>()) ==
                           m_vocabulary.end());
    if (!learned) {
      if (!std::is_sorted(m_vocabulary.begin(), m_vocabulary.end())) {
        std::sort(m_sorted.begin(), m_sorted.end(),
                  [&](std::uint32_t a, std::uint32_t b) { return m_vocabulary[a] < m_vocabulary[b]; });
      }
      for (std::size_t i = 1; i < m_sorted.size(); ++i) {
        if (m_vocabulary[m_sorted[i]] == m_vocabulary[m_sorted[i - 1]]) {
          throwInvalidArgument("CountVectorizer", "vocabulary: duplicate term '", m_vocabulary[m_sorted[i]], "'");
        }
      }
    }
    m_lookup.reset();
    m_pending.reset();
  }

  // The n-gram lookup of transform, built once on first use (thread-safe).
  const detail::Lookup& lookup() const {
    std::lock_guard<std::mutex> lock(*m_lookupMutex);
    if (!m_lookup) {
      m_lookup = m_pending ? std::make_shared<const detail::Lookup>(m_analyzer, m_pending->units, m_pending->packing,
                                                                    m_pending->columnKeys)
                           : std::make_shared<const detail::Lookup>(m_analyzer, m_vocabulary);
    }
    return *m_lookup;
  }

  template <typename Value, typename Source>
  CsrMatrix<Value> countFixed(Source& source, std::int64_t totalBytes, std::string_view where,
                              const RowWeighting<Value>& weighting = {}) const {
    return detail::countWithLookup<Value>(m_analyzer, lookup(), numFeatures(), source, m_options.threads, where,
                                          m_options.progress, totalBytes, m_options.binary, weighting);
  }

  // Eigen 3.4's SparseMatrix has no move constructor: a matrix leaves a function by
  // NRVO of one named result (filled by swap), never by std::move, which would copy it.
  template <typename Value, typename Source>
  CsrMatrix<Value> fitSource(Source& source, std::int64_t totalBytes, std::string_view where,
                             const MakeRowWeighting<Value>& weighting) {
    CsrMatrix<Value> result;
    if (!m_options.vocabulary.empty()) {
      CsrMatrix<Value> m = countFixed<Value>(source, totalBytes, where);
      checkArgument(m.rows() > 0, where, "no documents");
      std::vector<std::int64_t> df(m_vocabulary.size(), 0);
      for (Index i = 0; i < m.nonZeros(); ++i) ++df[static_cast<std::size_t>(m.innerIndexPtr()[i])];
      if (weighting) detail::weighRows<Value>(m, weighting(df, m.rows(), m_vocabulary), m_options.threads);
      m_documents = m.rows();
      m_df = std::move(df);
      result.swap(m);
      return result;
    }
    detail::Analysis analysis =
        detail::analyzeAll(m_analyzer, source, m_options.threads, where, m_options.progress, totalBytes);
    std::vector<detail::Chunk>& chunks = analysis.chunks;
    std::int64_t documents = 0;
    for (const auto& c : chunks) documents += static_cast<std::int64_t>(c.docEnds.size());
    checkArgument(documents > 0, where, "no documents (empty corpus)");
    std::vector<std::string> units = detail::rankUnits(m_analyzer, analysis, m_options.threads);
    detail::Selection selection;
    selection.maxDocCount = m_options.maxDf.documents(documents);
    selection.minDocCount = m_options.minDf.documents(documents);
    if (selection.maxDocCount < selection.minDocCount) {
      throwInvalidArgument(where, "maxDf corresponds to fewer documents than minDf (", selection.maxDocCount, " < ",
                           selection.minDocCount, " of ", documents, " documents)");
    }
    selection.maxFeatures = m_options.maxFeatures;
    selection.binary = m_options.binary;
    detail::FitCounts<Value> fit =
        detail::countAndSelect<Value>(m_analyzer, chunks, units, selection, m_options.threads, where, weighting);
    checkArgument(fit.seenFeatures > 0, where,
                  "empty vocabulary; perhaps the documents are empty or only contain stop words");
    if (fit.vocabulary.empty()) {
      throwInvalidArgument(where, "after pruning, no terms remain; try a lower minDf or a higher maxDf");
    }
    m_documents = documents;
    m_df = std::move(fit.documentFrequency);
    setVocabulary(std::move(fit.vocabulary), true);
    // The transform lookup is built on first use, from the fit's packed keys (or from the
    // vocabulary, which the units became).
    if (!units.empty()) {
      auto pending = std::make_shared<PendingLookup>();
      pending->units = std::move(units);
      pending->packing = fit.packing;
      pending->columnKeys = std::move(fit.columnKeys);
      m_pending = std::move(pending);
    }
    result.swap(fit.counts);  // binary: the counts are 1 already
    return result;
  }

  CountVectorizerOptions m_options;
  Analyzer m_analyzer;
  std::vector<std::string> m_vocabulary;
  std::vector<std::uint32_t> m_sorted;  // columns in term order (identity for a learned vocabulary)
  std::vector<std::int64_t> m_df;
  std::int64_t m_documents = 0;
  struct PendingLookup {
    std::vector<std::string> units;
    detail::KeyPacking packing;
    std::vector<std::uint64_t> columnKeys;
  };
  std::shared_ptr<const PendingLookup> m_pending;
  mutable std::shared_ptr<const detail::Lookup> m_lookup;
  mutable std::shared_ptr<std::mutex> m_lookupMutex = std::make_shared<std::mutex>();
};

}  // namespace eigenrec::text

#endif  // EIGENREC_TEXT_COUNT_VECTORIZER_HPP

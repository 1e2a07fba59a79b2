// eigenrec/io/libsvm.hpp: sparse labelled examples (SparseBatch) and the text formats
// CTR data comes in: libsvm / libFM ("label index:value ...") and libffm ("label
// field:feature:value ..."), read whole or streamed in blocks, with feature hashing and
// an on-disk binary cache (SparseCache) for data larger than memory.
//
// A SparseBatch stores n examples in compressed sparse row form: example i owns the
// entries [offset(i), offset(i+1)) of three parallel arrays (field, feature, value),
// plus a label and an optional weight. Feature indices are global (not per field), as
// in libffm; the field of a libsvm entry is 0, or its position in the line when
// SparseReadOptions::fieldsFromPosition is set (frappe, Criteo: one feature per field).
// Every CTR model of eigenrec (FM, FFM, Wide&Deep, DeepFM, DCN, MMoE) reads this type.
//
// Text format details (both formats):
//   - leading / trailing blanks and a trailing '\r' are ignored; empty lines and lines
//     starting with '#' are skipped; a token starting with '#' ends the line (comment);
//   - the label is any finite number (0/1, -1/+1, or a real target); models decide what
//     it means (classification: label > 0 is a click);
//   - libsvm "qid:<n>" tokens (ranking files) are skipped;
//   - indices and fields are non-negative integers < 2^31; values are finite numbers;
//   - with hashBuckets > 0 the feature token may be any string without blanks; it is
//     hashed (with its field, in libffm files) into [0, hashBuckets).
// Errors are FormatError "file:line:column: ..." naming the offending token.
#ifndef EIGENREC_IO_LIBSVM_HPP
#define EIGENREC_IO_LIBSVM_HPP

#include <eigenrec/core/checks.hpp>
#include <eigenrec/core/serialize.hpp>
#include <eigenrec/core/types.hpp>
#include <eigenrec/io/line_reader.hpp>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <istream>
#include <limits>
#include <memory>
#include <ostream>
#include <string>
#include <string_view>
#include <vector>

namespace eigenrec::io {

/// One example of a SparseBatch, viewed in place: `size` entries (fields[e],
/// features[e], values[e]), e = 0..size-1. Valid while the batch is unchanged.
template <typename Scalar>
struct SparseExample {
  Scalar label;
  Scalar weight;
  Index size;
  const std::int32_t* fields;
  const std::int32_t* features;
  const Scalar* values;
};

/// n labelled sparse examples in CSR form (see the file comment). Shape bookkeeping:
/// numFeatures() / numFields() are one more than the largest feature / field stored,
/// or larger if set with setShape() (e.g. the size of a hashed space).
template <typename Scalar = float>
class SparseBatch {
  EIGENREC_STATIC_ASSERT_SCALAR(Scalar);

 public:
  using Example = SparseExample<Scalar>;

  SparseBatch() = default;

  /// Number of examples n.
  Index size() const noexcept { return static_cast<Index>(m_labels.size()); }
  bool empty() const noexcept { return m_labels.empty(); }
  /// Number of stored entries (sum of the examples' sizes).
  Index nnz() const noexcept { return static_cast<Index>(m_features.size()); }
  Index numFeatures() const noexcept { return m_numFeatures; }
  Index numFields() const noexcept { return m_numFields; }

  /// Widens the feature / field space (never below what is stored).
  void setShape(Index numFeatures, Index numFields) {
    const char* where = "SparseBatch::setShape";
    checkExpected(numFeatures >= m_maxFeature + 1, where, "numFeatures", eigenrec::detail::concat(">= ", m_maxFeature + 1),
                  numFeatures);
    checkExpected(numFields >= m_maxField + 1, where, "numFields", eigenrec::detail::concat(">= ", m_maxField + 1), numFields);
    checkExpected(numFeatures <= kMaxIndex, where, "numFeatures", eigenrec::detail::concat("<= ", kMaxIndex), numFeatures);
    checkExpected(numFields <= kMaxIndex, where, "numFields", eigenrec::detail::concat("<= ", kMaxIndex), numFields);
    m_numFeatures = numFeatures;
    m_numFields = numFields;
  }

  void reserve(Index examples, Index entries) {
    m_labels.reserve(static_cast<std::size_t>(examples));
    m_offsets.reserve(static_cast<std::size_t>(examples) + 1);
    m_fields.reserve(static_cast<std::size_t>(entries));
    m_features.reserve(static_cast<std::size_t>(entries));
    m_values.reserve(static_cast<std::size_t>(entries));
  }

  /// Removes every example; keeps the shape set by setShape() only if `keepShape`.
  void clear(bool keepShape = false) {
    m_labels.clear();
    m_weights.clear();
    m_weighted = false;
    m_offsets.assign(1, 0);
    m_fields.clear();
    m_features.clear();
    m_values.clear();
    m_maxFeature = -1;
    m_maxField = -1;
    if (!keepShape) {
      m_numFeatures = 0;
      m_numFields = 0;
    }
  }

  /// Starts a new example; its entries follow with push(). weight must be finite, >= 0.
  void startExample(Scalar label, Scalar weight = Scalar(1)) {
    const char* where = "SparseBatch::startExample";
    checkFinite(where, "label", label);
    checkExpected(std::isfinite(weight) && weight >= Scalar(0), where, "weight", "finite and >= 0", weight);
    if (weight != Scalar(1) && !m_weighted) {
      m_weights.assign(m_labels.size(), Scalar(1));
      m_weighted = true;
    }
    m_labels.push_back(label);
    if (m_weighted) m_weights.push_back(weight);
    m_offsets.push_back(m_offsets.back());
  }

  /// Appends entry (field, feature, value) to the last example.
  void push(Index field, Index feature, Scalar value) {
    const char* where = "SparseBatch::push";
    checkArgument(!m_labels.empty(), where, "no example started (call startExample first)");
    checkHalfOpen(where, "field", field, Index(0), kMaxIndex + 1);
    checkHalfOpen(where, "feature", feature, Index(0), kMaxIndex + 1);
    checkFinite(where, "value", value);
    pushUnchecked(static_cast<std::int32_t>(field), static_cast<std::int32_t>(feature), value);
  }

  /// Appends a whole example from parallel arrays of equal length.
  void addExample(Scalar label, const std::vector<std::int32_t>& fields, const std::vector<std::int32_t>& features,
                  const std::vector<Scalar>& values, Scalar weight = Scalar(1)) {
    const char* where = "SparseBatch::addExample";
    checkEqual(where, "fields size", static_cast<Index>(features.size()), static_cast<Index>(fields.size()));
    checkEqual(where, "values size", static_cast<Index>(features.size()), static_cast<Index>(values.size()));
    startExample(label, weight);
    for (std::size_t e = 0; e < features.size(); ++e) push(fields[e], features[e], values[e]);
  }

  /// Appends every example of `other` (shapes are merged).
  void append(const SparseBatch& other) {
    for (Index i = 0; i < other.size(); ++i) {
      const Example x = other.example(i);
      startExample(x.label, x.weight);
      for (Index e = 0; e < x.size; ++e) pushUnchecked(x.fields[e], x.features[e], x.values[e]);
    }
    m_numFeatures = std::max(m_numFeatures, other.m_numFeatures);
    m_numFields = std::max(m_numFields, other.m_numFields);
  }

  /// The examples at `indices` (in that order), same shape.
  SparseBatch select(const std::vector<Index>& indices) const {
    SparseBatch out;
    for (const Index i : indices) {
      checkIndex("SparseBatch::select", "index", i, size());
      const Example x = example(i);
      out.startExample(x.label, x.weight);
      for (Index e = 0; e < x.size; ++e) out.pushUnchecked(x.fields[e], x.features[e], x.values[e]);
    }
    out.m_numFeatures = std::max(out.m_numFeatures, m_numFeatures);
    out.m_numFields = std::max(out.m_numFields, m_numFields);
    return out;
  }

  /// Examples [begin, end), same shape.
  SparseBatch slice(Index begin, Index end) const {
    checkExpected(begin >= 0 && begin <= end && end <= size(), "SparseBatch::slice", "range",
                  eigenrec::detail::concat("0 <= begin <= end <= ", size()), eigenrec::detail::concat("[", begin, ", ", end, ")"));
    std::vector<Index> idx(static_cast<std::size_t>(end - begin));
    for (Index i = begin; i < end; ++i) idx[static_cast<std::size_t>(i - begin)] = i;
    return select(idx);
  }

  /// Example i in place.
  Example example(Index i) const {
    eigen_assert(i >= 0 && i < size());
    const auto b = m_offsets[static_cast<std::size_t>(i)];
    const auto e = m_offsets[static_cast<std::size_t>(i) + 1];
    return Example{m_labels[static_cast<std::size_t>(i)], weight(i), static_cast<Index>(e - b),
                   m_fields.data() + b, m_features.data() + b, m_values.data() + b};
  }

  Scalar label(Index i) const { return m_labels[static_cast<std::size_t>(i)]; }
  Scalar weight(Index i) const { return m_weighted ? m_weights[static_cast<std::size_t>(i)] : Scalar(1); }
  bool hasWeights() const noexcept { return m_weighted; }

  /// Replaces the labels: (n) finite values.
  void setLabels(const std::vector<Scalar>& labels) {
    checkEqual("SparseBatch::setLabels", "labels size", size(), static_cast<Index>(labels.size()));
    for (std::size_t i = 0; i < labels.size(); ++i) checkFinite("SparseBatch::setLabels", "label", labels[i]);
    m_labels = labels;
  }

  /// Sets per-example weights: (n) finite values >= 0; an empty vector removes them.
  void setWeights(const std::vector<Scalar>& weights) {
    const char* where = "SparseBatch::setWeights";
    if (!weights.empty()) checkEqual(where, "weights size", size(), static_cast<Index>(weights.size()));
    for (const Scalar w : weights) checkExpected(std::isfinite(w) && w >= Scalar(0), where, "weight", "finite and >= 0", w);
    m_weights = weights;
    m_weighted = !weights.empty();
  }

  const std::vector<Scalar>& labels() const noexcept { return m_labels; }
  /// Empty when every weight is 1.
  const std::vector<Scalar>& weights() const noexcept { return m_weights; }
  /// (n + 1) row pointers.
  const std::vector<std::int64_t>& offsets() const noexcept { return m_offsets; }
  const std::vector<std::int32_t>& fields() const noexcept { return m_fields; }
  const std::vector<std::int32_t>& features() const noexcept { return m_features; }
  const std::vector<Scalar>& values() const noexcept { return m_values; }

  /// Labels as an (n) vector.
  Vector<Scalar> labelVector() const {
    return Eigen::Map<const Vector<Scalar>>(m_labels.data(), size());
  }

  /// Labels mapped to {0, 1} (label > 0 -> 1), the convention of the metrics module.
  Vector<Scalar> binaryLabels() const {
    Vector<Scalar> y(size());
    for (Index i = 0; i < size(); ++i) y(i) = m_labels[static_cast<std::size_t>(i)] > Scalar(0) ? Scalar(1) : Scalar(0);
    return y;
  }

  /// Smallest / largest label (NaN when empty).
  Scalar minLabel() const {
    return m_labels.empty() ? std::numeric_limits<Scalar>::quiet_NaN() : *std::min_element(m_labels.begin(), m_labels.end());
  }
  Scalar maxLabel() const {
    return m_labels.empty() ? std::numeric_limits<Scalar>::quiet_NaN() : *std::max_element(m_labels.begin(), m_labels.end());
  }

  /// The design matrix, features first: shape (numFeatures, n), column i = example i.
  /// Duplicate features of one example are summed (fields are dropped).
  SparseColMatrix<Scalar> toSparseMatrix() const {
    SparseColMatrix<Scalar> x(numFeatures(), size());
    std::vector<Eigen::Triplet<Scalar, std::int64_t>> triplets;
    triplets.reserve(m_features.size());
    for (Index i = 0; i < size(); ++i) {
      for (auto e = m_offsets[static_cast<std::size_t>(i)]; e < m_offsets[static_cast<std::size_t>(i) + 1]; ++e) {
        triplets.emplace_back(m_features[static_cast<std::size_t>(e)], i, m_values[static_cast<std::size_t>(e)]);
      }
    }
    x.setFromTriplets(triplets.begin(), triplets.end());
    return x;
  }

  /// Number of entries whose feature >= numFeatures or field >= numFields: what a
  /// model of that shape skips ("unseen" features or fields of a test file).
  Index countOutside(Index numFeatures, Index numFields) const {
    Index count = 0;
    for (std::size_t e = 0; e < m_features.size(); ++e) {
      if (m_features[e] >= numFeatures || m_fields[e] >= numFields) ++count;
    }
    return count;
  }

  /// Adds an entry without checks (the caller guarantees 0 <= field, feature < 2^31 and
  /// a finite value). Used by readers and the binary cache.
  void pushUnchecked(std::int32_t field, std::int32_t feature, Scalar value) {
    m_fields.push_back(field);
    m_features.push_back(feature);
    m_values.push_back(value);
    m_offsets.back() = static_cast<std::int64_t>(m_features.size());
    if (feature > m_maxFeature) {
      m_maxFeature = feature;
      m_numFeatures = std::max<Index>(m_numFeatures, Index(feature) + 1);
    }
    if (field > m_maxField) {
      m_maxField = field;
      m_numFields = std::max<Index>(m_numFields, Index(field) + 1);
    }
  }

  /// Largest index a field or feature may have (int32).
  static constexpr Index kMaxIndex = std::numeric_limits<std::int32_t>::max() - 1;

 private:
  template <typename S>
  friend class SparseCache;

  std::vector<Scalar> m_labels;
  std::vector<Scalar> m_weights;
  bool m_weighted = false;
  std::vector<std::int64_t> m_offsets{0};
  std::vector<std::int32_t> m_fields;
  std::vector<std::int32_t> m_features;
  std::vector<Scalar> m_values;
  Index m_numFeatures = 0;
  Index m_numFields = 0;
  Index m_maxFeature = -1;
  Index m_maxField = -1;
};

/// The two text layouts. libFM reads the libsvm layout (0-based indices); eigenrec does
/// not shift indices, so 1-based libsvm files simply leave feature 0 unused.
enum class SparseFormat { libsvm, libffm };

inline const char* formatName(SparseFormat f) { return f == SparseFormat::libffm ? "libffm" : "libsvm"; }

/// How text lines become examples.
struct SparseReadOptions {
  /// Layout of each line.
  SparseFormat format = SparseFormat::libsvm;
  /// libsvm only: the field of an entry is its 0-based position among the line's
  /// entries (one feature per field, as in frappe or Criteo); otherwise field 0.
  bool fieldsFromPosition = false;
  /// > 0: hash every feature token (and, for libffm, its field) into [0, hashBuckets);
  /// tokens may then be arbitrary strings. 0: tokens must be integers.
  std::int64_t hashBuckets = 0;

  void validate(std::string_view where = "SparseReadOptions") const {
    checkBetween(where, "hashBuckets", hashBuckets, std::int64_t(0),
                 static_cast<std::int64_t>(SparseBatch<float>::kMaxIndex) + 1);
    checkArgument(!(fieldsFromPosition && format == SparseFormat::libffm), where,
                  "fieldsFromPosition applies to libsvm files only (libffm lines name their fields)");
  }
};

namespace detail {

using eigenrec::detail::concat;

inline std::uint64_t fnv1a(std::string_view bytes, std::uint64_t h = 0xCBF29CE484222325ULL) {
  for (const char c : bytes) {
    h ^= static_cast<unsigned char>(c);
    h *= 0x100000001B3ULL;
  }
  return h;
}

inline std::uint64_t mix64(std::uint64_t z) {
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
  return z ^ (z >> 31);
}


}  // namespace detail

/// Bucket of a hashed feature token: FNV-1a of the token bytes, seeded with the field
/// (pass field = -1 for libsvm files), finalised by the splitmix64 mixer, modulo buckets.
inline std::int64_t hashFeature(std::string_view token, std::int64_t field, std::int64_t buckets) {
  const std::uint64_t seed = detail::mix64(static_cast<std::uint64_t>(field) + 0x9E3779B97F4A7C15ULL);
  return static_cast<std::int64_t>(detail::mix64(detail::fnv1a(token, 0xCBF29CE484222325ULL ^ seed)) %
                                   static_cast<std::uint64_t>(buckets));
}

/// Streams examples out of a libsvm / libFM / libffm text file (or stream), in blocks
/// of a bounded number of examples so files larger than memory can be processed.
template <typename Scalar = float>
class SparseReader {
  EIGENREC_STATIC_ASSERT_SCALAR(Scalar);

 public:
  /// Opens `path`; throws IoError if it cannot be read.
  SparseReader(const std::string& path, SparseReadOptions options) : m_reader(path), m_options(options) {
    m_options.validate("SparseReader");
  }

  /// Reads from `is`; `source` names it in error messages.
  SparseReader(std::istream& is, std::string source, SparseReadOptions options)
      : m_reader(is, std::move(source)), m_options(options) {
    m_options.validate("SparseReader");
  }

  /// Appends up to `maxExamples` examples to `batch` (which is not cleared). Returns the
  /// number appended; 0 means the input is exhausted.
  Index readBlock(SparseBatch<Scalar>& batch, Index maxExamples) {
    checkPositive("SparseReader::readBlock", "maxExamples", maxExamples);
    Index count = 0;
    std::string_view line;
    while (count < maxExamples && m_reader.next(line)) {
      if (parseLine(line, batch)) ++count;
    }
    m_examples += count;
    return count;
  }

  /// Every remaining example. With `allowEmpty` false an input without examples is a
  /// FormatError.
  SparseBatch<Scalar> readAll(bool allowEmpty = false) {
    SparseBatch<Scalar> batch;
    while (readBlock(batch, Index(1) << 20) > 0) {
    }
    if (batch.empty() && !allowEmpty) throw FormatError(m_reader.source(), 0, 0, "no examples (empty input)");
    if (m_options.hashBuckets > 0) batch.setShape(std::max(batch.numFeatures(), m_options.hashBuckets), batch.numFields());
    return batch;
  }

  /// Examples read so far.
  Index examplesRead() const noexcept { return m_examples; }
  /// 1-based number of the last line read.
  std::int64_t lineNumber() const noexcept { return m_reader.lineNumber(); }
  const std::string& source() const noexcept { return m_reader.source(); }
  const SparseReadOptions& options() const noexcept { return m_options; }

 private:
  // Parses one line into `batch`; false for blank and comment lines.
  bool parseLine(std::string_view line, SparseBatch<Scalar>& batch) {
    std::size_t i = 0;
    auto skipBlanks = [&]() {
      while (i < line.size() && isSpace(line[i])) ++i;
    };
    auto nextToken = [&]() {
      skipBlanks();
      const std::size_t start = i;
      while (i < line.size() && !isSpace(line[i])) ++i;
      return line.substr(start, i - start);
    };
    std::string_view token = nextToken();
    if (token.empty() || token.front() == '#') return false;
    const double label = parseDouble(m_reader, token, "label");
    batch.startExample(static_cast<Scalar>(label));
    std::int64_t position = 0;
    while (true) {
      token = nextToken();
      if (token.empty() || token.front() == '#') break;
      if (m_options.format == SparseFormat::libsvm) {
        parseLibsvmEntry(token, position, batch);
      } else {
        parseLibffmEntry(token, batch);
      }
    }
    return true;
  }

  std::int32_t parseIndex(std::string_view token, std::string_view what) const {
    const std::int64_t v = parseInt(m_reader, token, what);
    if (v < 0) m_reader.fail(m_reader.columnOf(token), eigenrec::detail::concat(what, " expected >= 0, got ", v));
    if (v > SparseBatch<Scalar>::kMaxIndex) {
      m_reader.fail(m_reader.columnOf(token),
                    eigenrec::detail::concat(what, " expected <= ", SparseBatch<Scalar>::kMaxIndex, ", got ", v,
                                   " (use hashBuckets for larger spaces)"));
    }
    return static_cast<std::int32_t>(v);
  }

  Scalar parseValue(std::string_view token) const {
    const double v = parseDouble(m_reader, token, "value");
    const auto s = static_cast<Scalar>(v);
    if (!std::isfinite(s)) {
      m_reader.fail(m_reader.columnOf(token), eigenrec::detail::concat("value ", quoteToken(token), " overflows ", scalarName<Scalar>()));
    }
    return s;
  }

  std::int32_t featureOf(std::string_view token, std::int64_t field) const {
    if (m_options.hashBuckets > 0) {
      if (token.empty()) m_reader.fail(m_reader.columnOf(token), "feature expected a non-empty token");
      return static_cast<std::int32_t>(hashFeature(token, field, m_options.hashBuckets));
    }
    return parseIndex(token, "feature");
  }

  void parseLibsvmEntry(std::string_view token, std::int64_t& position, SparseBatch<Scalar>& batch) {
    const std::size_t colon = token.rfind(':');
    if (colon == std::string_view::npos) {
      m_reader.fail(m_reader.columnOf(token), eigenrec::detail::concat("expected index:value, got ", quoteToken(token)));
    }
    const std::string_view key = token.substr(0, colon);
    if (key == "qid") return;
    const std::int64_t field = m_options.fieldsFromPosition ? position : 0;
    if (field > SparseBatch<Scalar>::kMaxIndex) m_reader.fail(m_reader.columnOf(token), "too many entries in one line");
    const std::int32_t feature = featureOf(key, -1);
    const Scalar value = parseValue(token.substr(colon + 1));
    batch.pushUnchecked(static_cast<std::int32_t>(field), feature, value);
    ++position;
  }

  void parseLibffmEntry(std::string_view token, SparseBatch<Scalar>& batch) {
    const std::size_t first = token.find(':');
    const std::size_t last = token.rfind(':');
    if (first == std::string_view::npos || first == last) {
      m_reader.fail(m_reader.columnOf(token), eigenrec::detail::concat("expected field:feature:value, got ", quoteToken(token)));
    }
    const std::int32_t field = parseIndex(token.substr(0, first), "field");
    const std::string_view featureToken = token.substr(first + 1, last - first - 1);
    if (m_options.hashBuckets == 0 && featureToken.find(':') != std::string_view::npos) {
      m_reader.fail(m_reader.columnOf(token), eigenrec::detail::concat("expected field:feature:value, got ", quoteToken(token)));
    }
    const std::int32_t feature = featureOf(featureToken, field);
    const Scalar value = parseValue(token.substr(last + 1));
    batch.pushUnchecked(field, feature, value);
  }

  LineReader m_reader;
  SparseReadOptions m_options;
  Index m_examples = 0;
};

/// Reads a whole text file. Throws FormatError on a malformed line or an empty file
/// (unless allowEmpty), IoError if the file cannot be read.
template <typename Scalar = float>
SparseBatch<Scalar> readSparse(const std::string& path, SparseReadOptions options, bool allowEmpty = false) {
  SparseReader<Scalar> reader(path, options);
  return reader.readAll(allowEmpty);
}

/// libsvm / libFM file ("label index:value ...").
template <typename Scalar = float>
SparseBatch<Scalar> readLibsvm(const std::string& path, bool fieldsFromPosition = false,
                               std::int64_t hashBuckets = 0) {
  SparseReadOptions o;
  o.format = SparseFormat::libsvm;
  o.fieldsFromPosition = fieldsFromPosition;
  o.hashBuckets = hashBuckets;
  return readSparse<Scalar>(path, o);
}

/// libffm file ("label field:feature:value ...").
template <typename Scalar = float>
SparseBatch<Scalar> readLibffm(const std::string& path, std::int64_t hashBuckets = 0) {
  SparseReadOptions o;
  o.format = SparseFormat::libffm;
  o.hashBuckets = hashBuckets;
  return readSparse<Scalar>(path, o);
}

/// Writes examples [begin, end) of `batch` as text (labels and values with enough
/// digits to read back exactly). libsvm output drops the fields.
template <typename Scalar>
void writeSparse(std::ostream& os, const SparseBatch<Scalar>& batch, SparseFormat format, Index begin = 0,
                 Index end = -1) {
  if (end < 0) end = batch.size();
  checkExpected(begin >= 0 && begin <= end && end <= batch.size(), "writeSparse", "range",
                eigenrec::detail::concat("0 <= begin <= end <= ", batch.size()), eigenrec::detail::concat("[", begin, ", ", end, ")"));
  const auto old = os.precision(std::numeric_limits<Scalar>::max_digits10);
  for (Index i = begin; i < end; ++i) {
    const auto x = batch.example(i);
    os << x.label;
    for (Index e = 0; e < x.size; ++e) {
      os << ' ';
      if (format == SparseFormat::libffm) os << x.fields[e] << ':';
      os << x.features[e] << ':' << x.values[e];
    }
    os << '\n';
  }
  os.precision(old);
  if (!os) throw IoError("writeSparse: write failed");
}

/// Writes a whole batch to `path` atomically.
template <typename Scalar>
void writeSparse(const std::string& path, const SparseBatch<Scalar>& batch, SparseFormat format) {
  saveFileAtomically(path, [&](std::ostream& os) { writeSparse(os, batch, format); });
}

// ---------------------------------------------------------------------------------------
// Binary cache

namespace detail {

// Identity of a text file for cache staleness: size, modification time and a hash of
// its first and last 64 KiB (libffm hashes the whole file; this reads at most 128 KiB).
struct TextFingerprint {
  std::uint64_t size = 0;
  std::int64_t mtime = 0;
  std::uint64_t hash = 0;
  bool operator==(const TextFingerprint& o) const { return size == o.size && mtime == o.mtime && hash == o.hash; }
};

inline TextFingerprint fingerprintFile(const std::string& path) {
  namespace fs = std::filesystem;
  std::error_code ec;
  TextFingerprint fp;
  fp.size = static_cast<std::uint64_t>(fs::file_size(path, ec));
  if (ec) throw IoError(concat("cannot stat '", path, "': ", ec.message()));
  fp.mtime = static_cast<std::int64_t>(fs::last_write_time(path, ec).time_since_epoch().count());
  if (ec) throw IoError(concat("cannot stat '", path, "': ", ec.message()));
  std::ifstream in(path, std::ios::binary);
  if (!in) throw IoError(concat("cannot open '", path, "' for reading"));
  const std::uint64_t window = 64 * 1024;
  std::string buffer(static_cast<std::size_t>(std::min(window, fp.size)), '\0');
  in.read(buffer.data(), static_cast<std::streamsize>(buffer.size()));
  std::uint64_t h = fnv1a(buffer);
  if (fp.size > window) {
    const std::uint64_t tail = std::min(window, fp.size - window);
    in.seekg(static_cast<std::streamoff>(fp.size - tail));
    buffer.assign(static_cast<std::size_t>(tail), '\0');
    in.read(buffer.data(), static_cast<std::streamsize>(buffer.size()));
    h = fnv1a(buffer, h);
  }
  if (!in) throw IoError(concat("read error in '", path, "'"));
  fp.hash = h;
  return fp;
}

inline std::uint64_t optionsHash(const SparseReadOptions& o, std::size_t scalarSize) {
  std::uint64_t h = mix64(static_cast<std::uint64_t>(o.format == SparseFormat::libffm ? 2 : 1));
  h = mix64(h ^ static_cast<std::uint64_t>(o.fieldsFromPosition ? 7 : 3));
  h = mix64(h ^ static_cast<std::uint64_t>(o.hashBuckets));
  return mix64(h ^ static_cast<std::uint64_t>(scalarSize));
}

struct SparseCacheHeader {
  char magic[8];
  std::uint32_t version;
  std::uint32_t scalarSize;
  std::uint64_t textSize;
  std::int64_t textMtime;
  std::uint64_t textHash;
  std::uint64_t optionsHash;
  std::int64_t examples;
  std::int64_t nnz;
  std::int64_t numFeatures;
  std::int64_t numFields;
  double minLabel;
  double maxLabel;
  std::int64_t blocks;
  std::uint64_t indexOffset;
  std::uint64_t checksum;  // of every field above
};

inline std::uint64_t headerChecksum(const SparseCacheHeader& h) {
  const std::string_view bytes(reinterpret_cast<const char*>(&h), offsetof(SparseCacheHeader, checksum));
  return mix64(fnv1a(bytes));
}

}  // namespace detail

/// An on-disk binary copy of a text file, split into blocks of about `blockEntries`
/// entries, that training reads block by block (libffm's `--on-disk`). Build it with
/// SparseCache::build (atomic write) or openOrBuild, which reuses a cache whose text
/// file and reader options have not changed. Each block carries a checksum; a truncated
/// or corrupted cache is rejected with FormatError.
///
/// File layout (little-endian): header (magic "ERSPCACH", version, scalar size, text
/// fingerprint, options hash, counts, label range, block count, index offset, header
/// checksum); blocks (n, nnz, weight flag, labels, [weights], offsets (n+1 x i64),
/// fields (i32), features (i32), values, checksum); block index (i64 offsets).
template <typename Scalar = float>
class SparseCache {
  EIGENREC_STATIC_ASSERT_SCALAR(Scalar);

 public:
  static constexpr std::uint32_t kVersion = 1;

  /// Opens an existing cache file.
  explicit SparseCache(const std::string& cachePath) : m_path(cachePath) { open(); }

  /// Converts `textPath` into a cache at `cachePath` (written atomically) and opens it.
  /// Throws FormatError on malformed text or an empty file.
  static SparseCache build(const std::string& textPath, const std::string& cachePath, SparseReadOptions options,
                           Index blockEntries = Index(1) << 22) {
    const char* where = "SparseCache::build";
    options.validate(where);
    checkPositive(where, "blockEntries", blockEntries);
    const detail::TextFingerprint fp = detail::fingerprintFile(textPath);
    saveFileAtomically(cachePath, [&](std::ostream& os) {
      detail::SparseCacheHeader h{};
      std::memcpy(h.magic, "ERSPCACH", 8);
      h.version = kVersion;
      h.scalarSize = sizeof(Scalar);
      h.textSize = fp.size;
      h.textMtime = fp.mtime;
      h.textHash = fp.hash;
      h.optionsHash = detail::optionsHash(options, sizeof(Scalar));
      h.minLabel = std::numeric_limits<double>::infinity();
      h.maxLabel = -std::numeric_limits<double>::infinity();
      writeRaw(os, &h, sizeof(h));
      std::vector<std::int64_t> index;
      SparseReader<Scalar> reader(textPath, options);
      SparseBatch<Scalar> block;
      std::uint64_t position = sizeof(h);
      while (true) {
        block.clear();
        // Lines until the block holds about blockEntries entries.
        while (block.nnz() < blockEntries && reader.readBlock(block, 1) > 0) {
        }
        if (block.empty()) break;
        index.push_back(static_cast<std::int64_t>(position));
        position += writeBlock(os, block);
        h.examples += block.size();
        h.nnz += block.nnz();
        h.numFeatures = std::max<std::int64_t>(h.numFeatures, block.numFeatures());
        h.numFields = std::max<std::int64_t>(h.numFields, block.numFields());
        h.minLabel = std::min<double>(h.minLabel, block.minLabel());
        h.maxLabel = std::max<double>(h.maxLabel, block.maxLabel());
      }
      if (h.examples == 0) throw FormatError(textPath, 0, 0, "no examples (empty input)");
      if (options.hashBuckets > 0) h.numFeatures = std::max<std::int64_t>(h.numFeatures, options.hashBuckets);
      h.blocks = static_cast<std::int64_t>(index.size());
      h.indexOffset = position;
      writeRaw(os, index.data(), index.size() * sizeof(std::int64_t));
      h.checksum = detail::headerChecksum(h);
      os.seekp(0);
      writeRaw(os, &h, sizeof(h));
    });
    return SparseCache(cachePath);
  }

  /// True if `cachePath` is a readable cache of `textPath` as it is now, built with the
  /// same options and scalar type.
  static bool isCurrent(const std::string& textPath, const std::string& cachePath, const SparseReadOptions& options) {
    std::ifstream in(cachePath, std::ios::binary);
    if (!in) return false;
    detail::SparseCacheHeader h{};
    if (!in.read(reinterpret_cast<char*>(&h), sizeof(h))) return false;
    if (std::memcmp(h.magic, "ERSPCACH", 8) != 0 || h.version != kVersion || h.scalarSize != sizeof(Scalar) ||
        h.checksum != detail::headerChecksum(h)) {
      return false;
    }
    const detail::TextFingerprint fp = detail::fingerprintFile(textPath);
    return h.textSize == fp.size && h.textMtime == fp.mtime && h.textHash == fp.hash &&
           h.optionsHash == detail::optionsHash(options, sizeof(Scalar));
  }

  /// Opens the cache if it is current, else (re)builds it. `rebuilt`, if given, tells
  /// which happened.
  static SparseCache openOrBuild(const std::string& textPath, const std::string& cachePath,
                                 const SparseReadOptions& options, Index blockEntries = Index(1) << 22,
                                 bool* rebuilt = nullptr) {
    const bool current = isCurrent(textPath, cachePath, options);
    if (rebuilt) *rebuilt = !current;
    if (current) return SparseCache(cachePath);
    return build(textPath, cachePath, options, blockEntries);
  }

  SparseCache(SparseCache&&) noexcept = default;
  SparseCache& operator=(SparseCache&&) noexcept = default;

  Index numBlocks() const noexcept { return static_cast<Index>(m_index.size()); }
  Index numExamples() const noexcept { return m_header.examples; }
  Index nnz() const noexcept { return m_header.nnz; }
  Index numFeatures() const noexcept { return m_header.numFeatures; }
  Index numFields() const noexcept { return m_header.numFields; }
  double minLabel() const noexcept { return m_header.minLabel; }
  double maxLabel() const noexcept { return m_header.maxLabel; }
  const std::string& path() const noexcept { return m_path; }

  /// Loads block b into `out` (replacing its content); the batch gets the cache's
  /// shape (numFeatures, numFields).
  void readBlock(Index b, SparseBatch<Scalar>& out) {
    checkIndex("SparseCache::readBlock", "block", b, numBlocks());
    m_in->clear();
    m_in->seekg(static_cast<std::streamoff>(m_index[static_cast<std::size_t>(b)]));
    eigenrec::detail::Checksum64 sum;
    auto read = [&](void* data, std::size_t bytes, const char* what) {
      if (bytes > 0 && !m_in->read(static_cast<char*>(data), static_cast<std::streamsize>(bytes))) {
        fail(eigenrec::detail::concat("truncated in block ", b, " while reading ", what));
      }
      sum.update(data, bytes);
    };
    std::int64_t counts[2];
    std::uint8_t weighted = 0;
    read(counts, sizeof(counts), "counts");
    read(&weighted, 1, "weight flag");
    const std::int64_t n = counts[0], nnz = counts[1];
    if (n <= 0 || nnz < 0 || n > m_header.examples || nnz > m_header.nnz || weighted > 1) {
      fail(eigenrec::detail::concat("corrupted header of block ", b));
    }
    out.clear();
    out.m_labels.resize(static_cast<std::size_t>(n));
    read(out.m_labels.data(), sizeof(Scalar) * static_cast<std::size_t>(n), "labels");
    if (weighted) {
      out.m_weighted = true;
      out.m_weights.resize(static_cast<std::size_t>(n));
      read(out.m_weights.data(), sizeof(Scalar) * static_cast<std::size_t>(n), "weights");
    }
    out.m_offsets.resize(static_cast<std::size_t>(n) + 1);
    read(out.m_offsets.data(), sizeof(std::int64_t) * (static_cast<std::size_t>(n) + 1), "offsets");
    out.m_fields.resize(static_cast<std::size_t>(nnz));
    read(out.m_fields.data(), sizeof(std::int32_t) * static_cast<std::size_t>(nnz), "fields");
    out.m_features.resize(static_cast<std::size_t>(nnz));
    read(out.m_features.data(), sizeof(std::int32_t) * static_cast<std::size_t>(nnz), "features");
    out.m_values.resize(static_cast<std::size_t>(nnz));
    read(out.m_values.data(), sizeof(Scalar) * static_cast<std::size_t>(nnz), "values");
    std::uint64_t stored = 0;
    if (!m_in->read(reinterpret_cast<char*>(&stored), sizeof(stored))) fail(eigenrec::detail::concat("truncated in block ", b));
    if (stored != sum.digest()) fail(eigenrec::detail::concat("checksum mismatch in block ", b, ": the cache is corrupted"));
    // Structure checks (a checksum collision must still not lead to out-of-bounds reads).
    if (out.m_offsets.front() != 0 || out.m_offsets.back() != nnz) fail(eigenrec::detail::concat("bad offsets in block ", b));
    for (std::size_t i = 0; i + 1 < out.m_offsets.size(); ++i) {
      if (out.m_offsets[i] > out.m_offsets[i + 1]) fail(eigenrec::detail::concat("bad offsets in block ", b));
    }
    for (std::size_t e = 0; e < out.m_features.size(); ++e) {
      if (out.m_features[e] < 0 || out.m_features[e] >= m_header.numFeatures || out.m_fields[e] < 0 ||
          out.m_fields[e] >= m_header.numFields) {
        fail(eigenrec::detail::concat("entry out of range in block ", b));
      }
      out.m_maxFeature = std::max<Index>(out.m_maxFeature, out.m_features[e]);
      out.m_maxField = std::max<Index>(out.m_maxField, out.m_fields[e]);
    }
    out.m_numFeatures = m_header.numFeatures;
    out.m_numFields = m_header.numFields;
  }

  /// Every example, in file order (for data that fits in memory).
  SparseBatch<Scalar> readAll() {
    SparseBatch<Scalar> all, block;
    for (Index b = 0; b < numBlocks(); ++b) {
      readBlock(b, block);
      all.append(block);
    }
    all.setShape(numFeatures(), numFields());
    return all;
  }

 private:
  [[noreturn]] void fail(const std::string& message) const { throw FormatError(m_path, 0, 0, message); }

  static void writeRaw(std::ostream& os, const void* data, std::size_t bytes) {
    os.write(static_cast<const char*>(data), static_cast<std::streamsize>(bytes));
    if (!os) throw IoError("SparseCache: write failed");
  }

  static std::uint64_t writeBlock(std::ostream& os, const SparseBatch<Scalar>& block) {
    eigenrec::detail::Checksum64 sum;
    std::uint64_t bytes = 0;
    auto put = [&](const void* data, std::size_t size) {
      writeRaw(os, data, size);
      sum.update(data, size);
      bytes += size;
    };
    const std::int64_t counts[2] = {block.size(), block.nnz()};
    const std::uint8_t weighted = block.hasWeights() ? 1 : 0;
    put(counts, sizeof(counts));
    put(&weighted, 1);
    put(block.labels().data(), sizeof(Scalar) * block.labels().size());
    if (weighted) put(block.weights().data(), sizeof(Scalar) * block.weights().size());
    put(block.offsets().data(), sizeof(std::int64_t) * block.offsets().size());
    put(block.fields().data(), sizeof(std::int32_t) * block.fields().size());
    put(block.features().data(), sizeof(std::int32_t) * block.features().size());
    put(block.values().data(), sizeof(Scalar) * block.values().size());
    const std::uint64_t digest = sum.digest();
    writeRaw(os, &digest, sizeof(digest));
    return bytes + sizeof(digest);
  }

  void open() {
    m_in = std::make_unique<std::ifstream>(m_path, std::ios::binary);
    if (!*m_in) throw IoError(eigenrec::detail::concat("cannot open '", m_path, "' for reading"));
    m_in->seekg(0, std::ios::end);
    const auto fileSize = static_cast<std::uint64_t>(m_in->tellg());
    m_in->seekg(0);
    if (!m_in->read(reinterpret_cast<char*>(&m_header), sizeof(m_header))) fail("truncated: header missing");
    if (std::memcmp(m_header.magic, "ERSPCACH", 8) != 0) fail("not an eigenrec sparse cache (bad magic)");
    if (m_header.version != kVersion) {
      fail(eigenrec::detail::concat("cache version ", m_header.version, " is not supported (this build reads ", kVersion, ")"));
    }
    if (m_header.checksum != detail::headerChecksum(m_header)) fail("header checksum mismatch: the cache is corrupted");
    if (m_header.scalarSize != sizeof(Scalar)) {
      fail(eigenrec::detail::concat("cache holds ", m_header.scalarSize == 4 ? "f32" : "f64", " values, expected ",
                          scalarName<Scalar>()));
    }
    if (m_header.blocks <= 0 || m_header.examples <= 0 ||
        m_header.indexOffset + sizeof(std::int64_t) * static_cast<std::uint64_t>(m_header.blocks) > fileSize) {
      fail("truncated or corrupted: block index out of the file");
    }
    m_index.resize(static_cast<std::size_t>(m_header.blocks));
    m_in->seekg(static_cast<std::streamoff>(m_header.indexOffset));
    if (!m_in->read(reinterpret_cast<char*>(m_index.data()),
                    static_cast<std::streamsize>(sizeof(std::int64_t) * m_index.size()))) {
      fail("truncated: block index");
    }
    for (const auto offset : m_index) {
      if (offset < static_cast<std::int64_t>(sizeof(m_header)) || static_cast<std::uint64_t>(offset) >= m_header.indexOffset) {
        fail("corrupted block index");
      }
    }
  }

  std::string m_path;
  std::unique_ptr<std::ifstream> m_in;
  detail::SparseCacheHeader m_header{};
  std::vector<std::int64_t> m_index;
};

}  // namespace eigenrec::io

#endif  // EIGENREC_IO_LIBSVM_HPP

// eigenrec/io/matrix_market.hpp: Matrix Market coordinate files for sparse matrices
// (the NIST exchange format that scipy.io.mmread/mmwrite, Julia and MATLAB read).
//
//   %%MatrixMarket matrix coordinate real general
//   % optional comment lines
//   <rows> <cols> <entries>
//   <row> <col> <value>          one per entry, 1-based indices
//
// The writer emits `coordinate real general` (or `integer` for integer scalars), entries
// row by row, values in the shortest form that reads back to the same number. The
// reader accepts fields real / double / integer / pattern (value 1) and symmetries
// general / symmetric / skew-symmetric (the other triangle is filled in), sums
// duplicate entries, and throws FormatError "file:line:column: ..." on anything else.
#ifndef EIGENREC_IO_MATRIX_MARKET_HPP
#define EIGENREC_IO_MATRIX_MARKET_HPP

#include <eigenrec/core/checks.hpp>
#include <eigenrec/core/serialize.hpp>
#include <eigenrec/core/types.hpp>
#include <eigenrec/io/line_reader.hpp>

#include <algorithm>
#include <cctype>
#include <charconv>
#include <cmath>
#include <cstdint>
#include <fstream>
#include <istream>
#include <limits>
#include <ostream>
#include <string>
#include <string_view>
#include <tuple>
#include <type_traits>
#include <vector>

namespace eigenrec::io {

/// The header of a Matrix Market coordinate file.
struct MatrixMarketHeader {
  std::string field = "real";        ///< real, double, integer or pattern
  std::string symmetry = "general";  ///< general, symmetric or skew-symmetric
  Index rows = 0, cols = 0;
  std::int64_t entries = 0;          ///< entry lines in the file
};

namespace detail {

template <typename T>
void appendNumber(std::string& out, T value) {
  char buffer[64];
  const auto result = std::to_chars(buffer, buffer + sizeof(buffer), value);
  out.append(buffer, result.ptr);
}

inline std::string lowerAscii(std::string_view s) {
  std::string out(s);
  for (auto& c : out) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return out;
}

}  // namespace detail

/// Writes a sparse matrix (any Eigen sparse type; shape (rows, cols)) in coordinate
/// format. `comment` lines (split at '\n') follow the banner, each prefixed by '%'.
/// Throws std::invalid_argument for a non-finite value, IoError if the stream fails.
template <typename Derived>
void writeMatrixMarket(std::ostream& os, const Eigen::SparseMatrixBase<Derived>& matrix,
                       const std::string& comment = "") {
  using Scalar = typename Derived::Scalar;
  static_assert(std::is_arithmetic_v<Scalar>, "writeMatrixMarket: real or integer scalars only");
  const auto& m = matrix.derived();
  std::string out = std::is_integral_v<Scalar> ? "%%MatrixMarket matrix coordinate integer general\n"
                                               : "%%MatrixMarket matrix coordinate real general\n";
  std::size_t start = 0;
  while (!comment.empty() && start <= comment.size()) {
    const std::size_t nl = comment.find('\n', start);
    out += '%';
    out.append(comment, start, nl == std::string::npos ? std::string::npos : nl - start);
    out += '\n';
    if (nl == std::string::npos) break;
    start = nl + 1;
  }
  std::int64_t nnz = 0;
  for (Index k = 0; k < m.outerSize(); ++k) {
    for (typename Derived::InnerIterator it(m, k); it; ++it) ++nnz;
  }
  detail::appendNumber(out, static_cast<std::int64_t>(m.rows()));
  out += ' ';
  detail::appendNumber(out, static_cast<std::int64_t>(m.cols()));
  out += ' ';
  detail::appendNumber(out, nnz);
  out += '\n';
  auto flush = [&]() {
    os.write(out.data(), static_cast<std::streamsize>(out.size()));
    if (!os) throw IoError("writeMatrixMarket: write failed");
    out.clear();
  };
  // Entries ordered by row, then column, whatever the storage order.
  std::vector<std::tuple<Index, Index, Scalar>> entries;
  const bool rowMajor = Derived::IsRowMajor;
  if (!rowMajor) entries.reserve(static_cast<std::size_t>(nnz));
  for (Index k = 0; k < m.outerSize(); ++k) {
    for (typename Derived::InnerIterator it(m, k); it; ++it) {
      if constexpr (!std::is_integral_v<Scalar>) {
        if (!std::isfinite(it.value())) {
          throwInvalidArgument("writeMatrixMarket", "matrix expected finite values, got ", it.value(), " at (",
                               it.row(), ", ", it.col(), ")");
        }
      }
      if (!rowMajor) {
        entries.emplace_back(it.row(), it.col(), it.value());
        continue;
      }
      detail::appendNumber(out, static_cast<std::int64_t>(it.row() + 1));
      out += ' ';
      detail::appendNumber(out, static_cast<std::int64_t>(it.col() + 1));
      out += ' ';
      detail::appendNumber(out, it.value());
      out += '\n';
      if (out.size() > (std::size_t{1} << 20)) flush();
    }
  }
  if (!rowMajor) {
    std::sort(entries.begin(), entries.end(), [](const auto& a, const auto& b) {
      return std::get<0>(a) != std::get<0>(b) ? std::get<0>(a) < std::get<0>(b) : std::get<1>(a) < std::get<1>(b);
    });
    for (const auto& [i, j, v] : entries) {
      detail::appendNumber(out, static_cast<std::int64_t>(i + 1));
      out += ' ';
      detail::appendNumber(out, static_cast<std::int64_t>(j + 1));
      out += ' ';
      detail::appendNumber(out, v);
      out += '\n';
      if (out.size() > (std::size_t{1} << 20)) flush();
    }
  }
  flush();
}

/// writeMatrixMarket to a file, written atomically (temporary file, then rename).
template <typename Derived>
void writeMatrixMarketFile(const std::string& path, const Eigen::SparseMatrixBase<Derived>& matrix,
                           const std::string& comment = "") {
  saveFileAtomically(path, [&](std::ostream& os) { writeMatrixMarket(os, matrix, comment); });
}

/// Reads the banner and size line of a coordinate file; `reader` is left before the
/// first entry.
inline MatrixMarketHeader readMatrixMarketHeader(LineReader& reader) {
  std::string_view line;
  if (!reader.next(line)) throw FormatError(reader.source(), 1, 0, "empty file: expected a %%MatrixMarket banner");
  std::vector<std::string_view> words;
  forEachToken(line, ' ', [&](std::string_view t) { words.push_back(t); });
  if (words.empty() || detail::lowerAscii(words[0]) != "%%matrixmarket") {
    reader.fail(1, "expected the banner '%%MatrixMarket matrix coordinate <field> <symmetry>'");
  }
  if (words.size() != 5) reader.fail(1, "the banner needs 5 words: %%MatrixMarket matrix coordinate <field> <symmetry>");
  if (detail::lowerAscii(words[1]) != "matrix") reader.fail(reader.columnOf(words[1]), "object expected 'matrix', got " + quoteToken(words[1]));
  const std::string format = detail::lowerAscii(words[2]);
  if (format != "coordinate") {
    reader.fail(reader.columnOf(words[2]),
                "format expected 'coordinate' (sparse), got " + quoteToken(words[2]) + " (dense 'array' files are not supported)");
  }
  MatrixMarketHeader header;
  header.field = detail::lowerAscii(words[3]);
  if (header.field != "real" && header.field != "double" && header.field != "integer" && header.field != "pattern") {
    reader.fail(reader.columnOf(words[3]), "field expected real, double, integer or pattern, got " + quoteToken(words[3]));
  }
  header.symmetry = detail::lowerAscii(words[4]);
  if (header.symmetry != "general" && header.symmetry != "symmetric" && header.symmetry != "skew-symmetric") {
    reader.fail(reader.columnOf(words[4]),
                "symmetry expected general, symmetric or skew-symmetric, got " + quoteToken(words[4]));
  }
  while (true) {
    if (!reader.next(line)) throw FormatError(reader.source(), reader.lineNumber() + 1, 0, "missing size line 'rows cols entries'");
    std::size_t first = 0;
    while (first < line.size() && isSpace(line[first])) ++first;
    if (first == line.size() || line[first] == '%') continue;
    break;
  }
  std::vector<std::string_view> size;
  forEachToken(line, ' ', [&](std::string_view t) { size.push_back(t); });
  if (size.size() != 3) reader.fail(1, "size line expected 'rows cols entries', got " + quoteToken(line));
  header.rows = parseInt(reader, size[0], "rows");
  header.cols = parseInt(reader, size[1], "cols");
  header.entries = parseInt(reader, size[2], "entries");
  if (header.rows < 0) reader.fail(reader.columnOf(size[0]), "rows expected >= 0");
  if (header.cols < 0) reader.fail(reader.columnOf(size[1]), "cols expected >= 0");
  if (header.entries < 0) reader.fail(reader.columnOf(size[2]), "entries expected >= 0");
  if (header.symmetry != "general" && header.rows != header.cols) {
    reader.fail(1, eigenrec::detail::concat(header.symmetry, " matrix must be square, got ", header.rows, " x ", header.cols));
  }
  return header;
}

/// Reads a coordinate Matrix Market file into a CSR matrix (rows, cols). `source` names
/// the input in errors.
template <typename Scalar = double>
SparseRowMatrix<Scalar> readMatrixMarket(std::istream& is, const std::string& source = "<stream>") {
  LineReader reader(is, source);
  const MatrixMarketHeader header = readMatrixMarketHeader(reader);
  const bool pattern = header.field == "pattern";
  const bool integer = header.field == "integer";
  const std::size_t expectedWords = pattern ? 2 : 3;
  std::vector<Eigen::Triplet<Scalar, std::int64_t>> triplets;
  triplets.reserve(static_cast<std::size_t>(std::min<std::int64_t>(header.entries, std::int64_t{1} << 26)));
  std::int64_t seen = 0;
  std::string_view line;
  std::vector<std::string_view> words;
  while (reader.next(line)) {
    words.clear();
    forEachToken(line, ' ', [&](std::string_view t) { words.push_back(t); });
    if (words.empty() || words[0][0] == '%') continue;
    if (seen == header.entries) reader.fail(1, eigenrec::detail::concat("more entries than the ", header.entries, " declared"));
    if (words.size() != expectedWords) {
      reader.fail(1, eigenrec::detail::concat("entry expected ", expectedWords, " fields (", pattern ? "row col" : "row col value",
                                    "), got ", words.size()));
    }
    const std::int64_t i = parseInt(reader, words[0], "row");
    const std::int64_t j = parseInt(reader, words[1], "col");
    if (i < 1 || i > header.rows) {
      reader.fail(reader.columnOf(words[0]), eigenrec::detail::concat("row expected in [1, ", header.rows, "], got ", i));
    }
    if (j < 1 || j > header.cols) {
      reader.fail(reader.columnOf(words[1]), eigenrec::detail::concat("col expected in [1, ", header.cols, "], got ", j));
    }
    double value = 1.0;
    if (!pattern) {
      value = integer ? static_cast<double>(parseInt(reader, words[2], "value")) : parseDouble(reader, words[2], "value");
    }
    if (header.symmetry == "skew-symmetric" && i == j && value != 0) {
      reader.fail(reader.columnOf(words[0]), "skew-symmetric matrix with a non-zero diagonal entry");
    }
    triplets.emplace_back(i - 1, j - 1, static_cast<Scalar>(value));
    if (header.symmetry != "general" && i != j) {
      triplets.emplace_back(j - 1, i - 1, static_cast<Scalar>(header.symmetry == "symmetric" ? value : -value));
    }
    ++seen;
  }
  if (seen != header.entries) {
    throw FormatError(source, reader.lineNumber(), 0,
                      eigenrec::detail::concat("expected ", header.entries, " entries, the file ends after ", seen));
  }
  SparseRowMatrix<Scalar> m(header.rows, header.cols);
  m.setFromTriplets(triplets.begin(), triplets.end());
  m.makeCompressed();
  return m;
}

/// readMatrixMarket from a file; IoError if it cannot be opened.
template <typename Scalar = double>
SparseRowMatrix<Scalar> readMatrixMarketFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw IoError(eigenrec::detail::concat("cannot open '", path, "' for reading"));
  return readMatrixMarket<Scalar>(in, path);
}

}  // namespace eigenrec::io

#endif  // EIGENREC_IO_MATRIX_MARKET_HPP

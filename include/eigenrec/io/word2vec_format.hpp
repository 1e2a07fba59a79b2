// eigenrec/io/word2vec_format.hpp: word vectors in word2vec.c's text and binary
// formats, the formats gensim's KeyedVectors.load_word2vec_format / save_word2vec_format
// read and write.
//
//   text:    "V D\n", then per word "word v1 v2 ... vD\n"
//   binary:  "V D\n", then per word "word " + D little-endian float32 + "\n"
//
// Vectors are a (D, V) matrix, one column per word. Readers check everything the header
// promises (word count, dimension, no trailing data), reject NaN / inf, repeated words,
// words over the length limit and non-UTF-8 words, and report file:line (text) or the
// record number (binary). Writers refuse words that the format cannot hold (empty, or
// containing whitespace), and the save* functions write to a temporary file that is
// renamed over the target only when complete.
#ifndef EIGENREC_IO_WORD2VEC_FORMAT_HPP
#define EIGENREC_IO_WORD2VEC_FORMAT_HPP

#include <eigenrec/core/checks.hpp>
#include <eigenrec/core/serialize.hpp>
#include <eigenrec/core/types.hpp>
#include <eigenrec/core/utf8.hpp>
#include <eigenrec/io/line_reader.hpp>

#include <algorithm>
#include <charconv>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <fstream>
#include <sstream>
#include <istream>
#include <ostream>
#include <string>
#include <string_view>
#include <unordered_set>
#include <vector>

namespace eigenrec::io {

/// Which of the two encodings a file uses.
enum class Word2VecEncoding { text, binary, detect };

/// Options of the word2vec readers and writers.
struct Word2VecFormatOptions {
  /// Longest word in bytes (word2vec.c's MAX_STRING is 100); 0 = no limit.
  std::size_t maxWordBytes = 100;
  /// Reject words that are not valid UTF-8.
  bool validateUtf8 = true;
  /// Read only the first `limit` words (gensim's `limit`); 0 = all.
  Index limit = 0;
};

/// Words and their vectors: vectors.col(i) belongs to words[i]. Shape (dim, V).
template <typename Scalar = float>
struct Word2VecVectors {
  std::vector<std::string> words;
  Matrix<Scalar> vectors;
};

namespace detail {

/// Why `word` cannot be stored, or "" if it can.
inline std::string word2vecWordProblem(std::string_view word, const Word2VecFormatOptions& options) {
  if (word.empty()) return "empty word";
  for (char c : word) {
    if (c == ' ' || c == '\t' || c == '\n' || c == '\r') return "word contains whitespace";
  }
  if (options.maxWordBytes > 0 && word.size() > options.maxWordBytes) {
    return eigenrec::detail::concat("word of ", word.size(), " bytes is longer than the limit of ",
                                    options.maxWordBytes);
  }
  if (options.validateUtf8 && !isValidUtf8(word)) return "word is not valid UTF-8";
  return "";
}

template <typename Scalar>
bool parseScalar(std::string_view token, Scalar& value) {
  const char* first = token.data();
  const char* last = token.data() + token.size();
  if (first != last && *first == '+') ++first;
  const auto [ptr, ec] = std::from_chars(first, last, value);
  return !token.empty() && ec == std::errc() && ptr == last && std::isfinite(value);
}

template <typename Scalar>
void appendShortest(std::string& out, Scalar v) {
  char buf[64];
  const auto [ptr, ec] = std::to_chars(buf, buf + sizeof(buf), v);
  (void)ec;
  out.append(buf, ptr);
}

}  // namespace detail

/// Writes `words` and their vectors (dim, V) in word2vec.c's text or binary format.
/// Text numbers are written in the shortest form that reads back to the same float, so
/// a text round trip is exact. Throws std::invalid_argument for a word the format cannot
/// hold or a non-finite value, IoError when the stream fails.
template <typename Derived>
void writeWord2Vec(std::ostream& os, const std::vector<std::string>& words, const Eigen::MatrixBase<Derived>& vectors,
                   bool binary, const Word2VecFormatOptions& options = {}) {
  const char* where = "writeWord2Vec";
  checkCols(where, "vectors", vectors, static_cast<Index>(words.size()));
  checkExpected(vectors.rows() > 0, where, "vectors", "at least 1 row", vectors.rows());
  for (std::size_t i = 0; i < words.size(); ++i) {
    const std::string problem = detail::word2vecWordProblem(words[i], options);
    if (!problem.empty()) throwInvalidArgument(where, "words[", i, "]: ", problem);
  }
  checkAllFinite(where, "vectors", vectors);
  const Matrix<float> v = vectors.template cast<float>();
  os << words.size() << ' ' << v.rows() << '\n';
  std::string line;
  for (std::size_t i = 0; i < words.size(); ++i) {
    line.clear();
    line += words[i];
    line += ' ';
    if (binary) {
      line.append(reinterpret_cast<const char*>(v.col(static_cast<Index>(i)).data()),
                  sizeof(float) * static_cast<std::size_t>(v.rows()));
    } else {
      for (Index r = 0; r < v.rows(); ++r) {
        if (r > 0) line += ' ';
        detail::appendShortest(line, v(r, static_cast<Index>(i)));
      }
    }
    line += '\n';
    os.write(line.data(), static_cast<std::streamsize>(line.size()));
  }
  if (!os) throw IoError("writeWord2Vec: write failed");
}

/// writeWord2Vec into `path`, atomically (an existing file is replaced only on success).
template <typename Derived>
void saveWord2Vec(const std::string& path, const std::vector<std::string>& words,
                  const Eigen::MatrixBase<Derived>& vectors, bool binary, const Word2VecFormatOptions& options = {}) {
  saveFileAtomically(path, [&](std::ostream& os) { writeWord2Vec(os, words, vectors, binary, options); });
}

namespace detail {

template <typename Scalar>
void readWord2VecHeader(LineReader& reader, Index& count, Index& dim) {
  std::string_view line;
  if (!reader.next(line)) reader.fail(0, "empty file: expected a header 'word_count dimension'");
  std::string_view fields[3];
  int n = 0;
  forEachToken(line, ' ', [&](std::string_view t) {
    if (n < 3) fields[n] = t;
    ++n;
  });
  if (n != 2) reader.fail(0, eigenrec::detail::concat("header expected 'word_count dimension', got ", n, " fields"));
  count = parseInt(reader, fields[0], "word count");
  dim = parseInt(reader, fields[1], "dimension");
  if (count < 0) reader.fail(reader.columnOf(fields[0]), "word count expected >= 0");
  if (dim <= 0) reader.fail(reader.columnOf(fields[1]), "dimension expected > 0");
  if (dim > (Index(1) << 24)) reader.fail(reader.columnOf(fields[1]), "implausible dimension");
}

template <typename Scalar>
Word2VecVectors<Scalar> readWord2VecText(std::istream& is, const std::string& source,
                                         const Word2VecFormatOptions& options) {
  LineReader reader(is, source);
  Index count = 0, dim = 0;
  readWord2VecHeader<Scalar>(reader, count, dim);
  const Index keep = options.limit > 0 ? std::min(options.limit, count) : count;
  Word2VecVectors<Scalar> out;
  out.vectors.resize(dim, keep);
  out.words.reserve(static_cast<std::size_t>(keep));
  std::unordered_set<std::string> seen;
  std::string_view line;
  Index i = 0;
  while (i < keep && reader.next(line)) {
    Index field = -1;
    std::string_view word;
    forEachToken(line, ' ', [&](std::string_view t) {
      if (field < 0) {
        word = t;
      } else if (field < dim) {
        Scalar value;
        if (!parseScalar(t, value)) {
          reader.fail(reader.columnOf(t), eigenrec::detail::concat("component ", field + 1, " of '", word,
                                                                   "' expected a finite number, got ",
                                                                   quoteToken(t)));
        }
        out.vectors(field, i) = value;
      }
      ++field;
    });
    if (field < 0) reader.fail(0, eigenrec::detail::concat("empty line where word ", i + 1, " of ", count,
                                                           " was expected"));
    if (field != dim) {
      reader.fail(0, eigenrec::detail::concat("word '", word, "' has ", field, " components, the header says ", dim));
    }
    const std::string problem = word2vecWordProblem(word, options);
    if (!problem.empty()) reader.fail(1, problem);
    if (!seen.emplace(word).second) reader.fail(1, eigenrec::detail::concat("word '", word, "' appears twice"));
    out.words.emplace_back(word);
    ++i;
  }
  if (i < keep) {
    reader.fail(0, eigenrec::detail::concat("file ends after ", i, " words, the header says ", count));
  }
  if (keep == count) {
    while (reader.next(line)) {
      bool blank = true;
      for (char c : line) blank &= isSpace(c);
      if (!blank) reader.fail(0, eigenrec::detail::concat("more words than the header's ", count));
    }
  }
  return out;
}

template <typename Scalar>
Word2VecVectors<Scalar> readWord2VecBinary(std::istream& is, const std::string& source,
                                           const Word2VecFormatOptions& options) {
  // The header is one text line.
  std::string header;
  if (!std::getline(is, header)) throw FormatError(source, 1, 0, "empty file: expected a header");
  std::istringstream hs(header);
  LineReader reader(hs, source);
  Index count = 0, dim = 0;
  readWord2VecHeader<Scalar>(reader, count, dim);
  const Index keep = options.limit > 0 ? std::min(options.limit, count) : count;
  Word2VecVectors<Scalar> out;
  out.vectors.resize(dim, keep);
  out.words.reserve(static_cast<std::size_t>(keep));
  std::unordered_set<std::string> seen;
  std::vector<float> buffer(static_cast<std::size_t>(dim));
  const std::size_t limit = options.maxWordBytes > 0 ? options.maxWordBytes : std::size_t(1) << 20;
  auto fail = [&](Index record, const std::string& message) {
    throw FormatError(source, 0, 0, eigenrec::detail::concat("record ", record + 1, ": ", message));
  };
  std::string word;
  for (Index i = 0; i < keep; ++i) {
    word.clear();
    int ch;
    // Skip the newline that ends the previous record (gensim and word2vec.c write one).
    while ((ch = is.get()) == '\n') {
    }
    for (;;) {
      if (ch == std::char_traits<char>::eof()) {
        fail(i, eigenrec::detail::concat("file ends after ", i, " words, the header says ", count));
      }
      if (ch == ' ') break;
      word += static_cast<char>(ch);
      if (word.size() > limit) fail(i, eigenrec::detail::concat("word longer than the limit of ", limit, " bytes"));
      ch = is.get();
    }
    const std::string problem = word2vecWordProblem(word, options);
    if (!problem.empty()) fail(i, problem);
    if (!is.read(reinterpret_cast<char*>(buffer.data()), static_cast<std::streamsize>(sizeof(float) * buffer.size()))) {
      fail(i, eigenrec::detail::concat("truncated inside the vector of '", word, "'"));
    }
    for (Index r = 0; r < dim; ++r) {
      const float value = buffer[static_cast<std::size_t>(r)];
      if (!std::isfinite(value)) fail(i, eigenrec::detail::concat("non-finite component ", r + 1, " of '", word, "'"));
      out.vectors(r, i) = static_cast<Scalar>(value);
    }
    if (!seen.emplace(word).second) fail(i, eigenrec::detail::concat("word '", word, "' appears twice"));
    out.words.push_back(word);
  }
  if (keep == count) {
    int ch;
    while ((ch = is.get()) != std::char_traits<char>::eof()) {
      if (ch != '\n') fail(count, eigenrec::detail::concat("more data after the header's ", count, " words"));
    }
  }
  return out;
}

}  // namespace detail

/// Reads word vectors in the given encoding (text or binary; not detect) from a stream.
template <typename Scalar = float>
Word2VecVectors<Scalar> readWord2Vec(std::istream& is, Word2VecEncoding encoding, const std::string& source = "<stream>",
                                     const Word2VecFormatOptions& options = {}) {
  EIGENREC_STATIC_ASSERT_SCALAR(Scalar);
  checkNonNegative("readWord2Vec", "options.limit", options.limit);
  checkArgument(encoding != Word2VecEncoding::detect, "readWord2Vec",
                "encoding detect needs a file (use loadWord2Vec)");
  return encoding == Word2VecEncoding::binary ? detail::readWord2VecBinary<Scalar>(is, source, options)
                                              : detail::readWord2VecText<Scalar>(is, source, options);
}

/// Guesses the encoding of a word2vec file: binary when the bytes after the first word
/// are not printable text (a binary float32 vector of 4 or more components is
/// practically never all printable).
inline Word2VecEncoding detectWord2VecEncoding(const std::string& path) {
  std::ifstream is(path, std::ios::binary);
  if (!is) throw IoError(eigenrec::detail::concat("cannot open '", path, "' for reading"));
  std::string header;
  std::getline(is, header);
  char buf[4096];
  is.read(buf, sizeof(buf));
  const auto n = static_cast<std::size_t>(is.gcount());
  std::size_t i = 0;
  while (i < n && buf[i] != ' ') ++i;  // the first word
  for (++i; i < n && i < 400; ++i) {
    const auto c = static_cast<unsigned char>(buf[i]);
    if (c == '\n') break;
    if (c < 0x20 && c != '\t' && c != '\r') return Word2VecEncoding::binary;
    if (c >= 0x7F) return Word2VecEncoding::binary;
  }
  return Word2VecEncoding::text;
}

/// Reads a word2vec file; Word2VecEncoding::detect guesses the encoding.
template <typename Scalar = float>
Word2VecVectors<Scalar> loadWord2Vec(const std::string& path, Word2VecEncoding encoding = Word2VecEncoding::detect,
                                     const Word2VecFormatOptions& options = {}) {
  if (encoding == Word2VecEncoding::detect) encoding = detectWord2VecEncoding(path);
  return loadFile(path, [&](std::istream& is) { return readWord2Vec<Scalar>(is, encoding, path, options); });
}

}  // namespace eigenrec::io

#endif  // EIGENREC_IO_WORD2VEC_FORMAT_HPP

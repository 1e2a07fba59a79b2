// eigenrec/text/vocabulary_file.hpp: a vocabulary as a text file, one term per line in
// column order — what `eigenrec-tfidf --vocab` writes and `--fixed-vocab` reads, and
// what CountVectorizerOptions::vocabulary (scikit-learn's `vocabulary=`) takes.
//
//   text::writeVocabularyFile("vocab.txt", tv.vocabulary());
//   TfidfVectorizerOptions o;
//   o.vocabulary = text::readVocabularyFile("vocab.txt");  // the same columns, in order
//
// The format is strict, so that a damaged file is reported instead of silently shifting
// columns: every line is one term, taken byte for byte (leading and trailing spaces are
// part of it, as in char_wb n-grams); "\r\n" line ends are accepted and a last line
// without '\n' counts. An empty line, invalid UTF-8, a duplicate term or a file without
// terms is a FormatError naming the file and line.
#ifndef EIGENREC_TEXT_VOCABULARY_FILE_HPP
#define EIGENREC_TEXT_VOCABULARY_FILE_HPP

#include <eigenrec/core/checks.hpp>
#include <eigenrec/core/serialize.hpp>
#include <eigenrec/core/utf8.hpp>
#include <eigenrec/io/line_reader.hpp>

#include <cstdint>
#include <istream>
#include <ostream>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

namespace eigenrec::text {

/// Writes `terms` one per line ('\n' after each).
/// @throws std::invalid_argument for a term that a line cannot hold: empty, or containing
///         '\n' or '\r' (possible with character n-grams of raw in-memory text).
inline void writeVocabulary(std::ostream& os, const std::vector<std::string>& terms) {
  const char* where = "writeVocabulary";
  for (std::size_t j = 0; j < terms.size(); ++j) {
    const std::string& t = terms[j];
    if (t.empty()) throwInvalidArgument(where, "term ", j, " is empty");
    if (t.find_first_of("\r\n") != std::string::npos) {
      throwInvalidArgument(where, "term ", j, " contains a line break and cannot be written one per line");
    }
  }
  for (const auto& t : terms) os << t << '\n';
  if (!os) throw IoError("writeVocabulary: write failed");
}

/// The same into `path`, atomically (a temporary file renamed on success).
inline void writeVocabularyFile(const std::string& path, const std::vector<std::string>& terms) {
  saveFileAtomically(path, [&](std::ostream& os) { writeVocabulary(os, terms); });
}

/// Reads a vocabulary written by writeVocabulary; `source` names the input in errors.
/// @throws FormatError ("source:line:column: ...") for an empty line, invalid UTF-8, a
///         duplicate term, or no terms at all; IoError if reading fails.
inline std::vector<std::string> readVocabulary(std::istream& is, const std::string& source) {
  io::LineReader reader(is, source);
  std::vector<std::string> terms;
  std::unordered_map<std::string, std::int64_t> lineOf;
  std::string_view line;
  while (reader.next(line)) {
    if (line.empty()) reader.fail(1, "empty term (a vocabulary has one term per line, no blank lines)");
    const std::size_t bad = firstInvalidUtf8(line);
    if (bad != std::string_view::npos) {
      reader.fail(static_cast<std::int64_t>(bad) + 1,
                  eigenrec::detail::concat("invalid UTF-8 byte 0x", std::hex,
                                           static_cast<unsigned>(static_cast<unsigned char>(line[bad]))));
    }
    const auto [it, inserted] = lineOf.emplace(std::string(line), reader.lineNumber());
    if (!inserted) {
      reader.fail(1, eigenrec::detail::concat("duplicate term '", line, "' (first on line ", it->second, ")"));
    }
    terms.emplace_back(line);
  }
  if (terms.empty()) throw FormatError(source, 0, 0, "no terms (empty vocabulary file)");
  return terms;
}

/// The same from the file `path`.
/// @throws IoError if it cannot be opened; FormatError as readVocabulary.
inline std::vector<std::string> readVocabularyFile(const std::string& path) {
  return loadFile(path, [&](std::istream& is) { return readVocabulary(is, path); });
}

}  // namespace eigenrec::text

#endif  // EIGENREC_TEXT_VOCABULARY_FILE_HPP

// eigenrec/io/line_reader.hpp: line-oriented text input with exact error locations,
// shared by every text format reader (libsvm / libffm, u.data, word2vec text vectors,
// vocabularies, documents).
//
// LineReader yields lines without their '\n' or "\r\n" and keeps the 1-based line
// number; the parse helpers convert whole tokens and throw FormatError
// ("file:line:column: ...") naming the offending token, never returning a partial or
// silently wrong value.
#ifndef EIGENREC_IO_LINE_READER_HPP
#define EIGENREC_IO_LINE_READER_HPP

#include <eigenrec/core/checks.hpp>

#include <charconv>
#include <cmath>
#include <cstdint>
#include <fstream>
#include <istream>
#include <limits>
#include <memory>
#include <string>
#include <string_view>
#include <system_error>

namespace eigenrec::io {

/// Reads a stream line by line, tracking the line number for error messages.
class LineReader {
 public:
  /// Reads from `is`; `source` names it in errors (a file name, or "<memory>").
  LineReader(std::istream& is, std::string source) : m_is(&is), m_source(std::move(source)) {}

  /// Opens `path` for reading; throws IoError if it cannot be opened.
  explicit LineReader(const std::string& path)
      : m_owned(std::make_unique<std::ifstream>(path, std::ios::binary)), m_is(m_owned.get()), m_source(path) {
    if (!*m_owned) throw IoError(eigenrec::detail::concat("cannot open '", path, "' for reading"));
  }

  /// Next line (without the line ending) into `line`; false at end of input. The view is
  /// valid until the next call.
  bool next(std::string_view& line) {
    if (!std::getline(*m_is, m_buffer)) {
      if (m_is->bad()) throw IoError(eigenrec::detail::concat(m_source, ": read error after line ", m_line));
      return false;
    }
    ++m_line;
    if (!m_buffer.empty() && m_buffer.back() == '\r') m_buffer.pop_back();
    line = m_buffer;
    return true;
  }

  /// 1-based number of the line last returned by next() (0 before the first).
  std::int64_t lineNumber() const noexcept { return m_line; }
  const std::string& source() const noexcept { return m_source; }

  /// Throws FormatError at the current line; `column` is 1-based (0 = whole line).
  [[noreturn]] void fail(std::int64_t column, const std::string& message) const {
    throw FormatError(m_source, m_line, column, message);
  }

  /// Column (1-based) of `token`, which must be a view into the current line.
  std::int64_t columnOf(std::string_view token) const noexcept {
    return static_cast<std::int64_t>(token.data() - m_buffer.data()) + 1;
  }

 private:
  std::unique_ptr<std::ifstream> m_owned;
  std::istream* m_is;
  std::string m_source;
  std::string m_buffer;
  std::int64_t m_line = 0;
};

/// True for the separators of whitespace-separated formats: space, tab, \r, \v, \f.
inline bool isSpace(char c) noexcept { return c == ' ' || c == '\t' || c == '\r' || c == '\v' || c == '\f'; }

/// Splits `text` at runs of whitespace (or at each `delimiter` if it is not ' ') and calls
/// f(token) for each token. With a delimiter, empty fields are passed on as empty views.
template <typename F>
void forEachToken(std::string_view text, char delimiter, F&& f) {
  if (delimiter == ' ') {
    std::size_t i = 0;
    while (i < text.size()) {
      while (i < text.size() && isSpace(text[i])) ++i;
      const std::size_t start = i;
      while (i < text.size() && !isSpace(text[i])) ++i;
      if (i > start) f(text.substr(start, i - start));
    }
  } else {
    std::size_t start = 0;
    while (true) {
      const std::size_t end = text.find(delimiter, start);
      f(text.substr(start, end == std::string_view::npos ? std::string_view::npos : end - start));
      if (end == std::string_view::npos) break;
      start = end + 1;
    }
  }
}

/// Shortens a token for an error message.
inline std::string quoteToken(std::string_view token) {
  std::string s(token.substr(0, 40));
  if (token.size() > 40) s += "...";
  return "'" + s + "'";
}

/// The whole token as a signed 64-bit integer, or FormatError at the token's column.
inline std::int64_t parseInt(const LineReader& reader, std::string_view token, std::string_view what) {
  std::int64_t value = 0;
  const char* first = token.data();
  const char* last = token.data() + token.size();
  if (!token.empty() && *first == '+') ++first;
  const auto [ptr, ec] = std::from_chars(first, last, value);
  if (token.empty() || ec != std::errc() || ptr != last) {
    reader.fail(reader.columnOf(token),
                eigenrec::detail::concat(what, " expected an integer, got ", quoteToken(token),
                               ec == std::errc::result_out_of_range ? " (out of range)" : ""));
  }
  return value;
}

/// The whole token as a finite double, or FormatError at the token's column. NaN and
/// infinity are rejected.
inline double parseDouble(const LineReader& reader, std::string_view token, std::string_view what) {
  double value = 0;
  const char* first = token.data();
  const char* last = token.data() + token.size();
  if (!token.empty() && *first == '+') ++first;
  const auto [ptr, ec] = std::from_chars(first, last, value);
  if (token.empty() || ec != std::errc() || ptr != last || !std::isfinite(value)) {
    reader.fail(reader.columnOf(token), eigenrec::detail::concat(what, " expected a finite number, got ", quoteToken(token)));
  }
  return value;
}

}  // namespace eigenrec::io

#endif  // EIGENREC_IO_LINE_READER_HPP

// eigenrec/cf/reader.hpp: reads MovieLens u.data-style interaction files.
//
// One record per line, fields separated by a delimiter: by default
//   user <TAB> item <TAB> rating <TAB> timestamp      (MovieLens 100K u.data)
// Other layouts are set through ReaderOptions: "::" (MovieLens 1M), "," (CSV, with a
// header line to skip), any column order, no value column (every record counts 1) and no
// timestamp column. Ids are kept as strings, so "u17", "42" and UUIDs all work. Empty
// lines and lines starting with '#' are skipped. Every malformed line throws FormatError
// "file:line:column: ..." naming the field.
#ifndef EIGENREC_CF_READER_HPP
#define EIGENREC_CF_READER_HPP

#include <eigenrec/cf/interactions.hpp>
#include <eigenrec/core/checks.hpp>
#include <eigenrec/io/line_reader.hpp>

#include <algorithm>
#include <fstream>
#include <istream>
#include <string>
#include <string_view>
#include <vector>

namespace eigenrec::cf {

/// Layout of an interaction file.
struct ReaderOptions {
  /// Field separator: "auto" (per line: tab if the line has one, else "::" if present,
  /// else ',' if present, else runs of spaces), "whitespace" (runs of spaces and tabs),
  /// or a literal separator such as "\t", ",", ";" or "::".
  std::string delimiter = "auto";
  int userColumn = 0;       ///< 0-based column of the user id
  int itemColumn = 1;       ///< 0-based column of the item id
  int valueColumn = 2;      ///< column of the rating / weight; -1: every record has value 1
  int timestampColumn = 3;  ///< column of an integer timestamp; -1: none (timestamps are 0)
  Index skipLines = 0;      ///< header lines to skip at the start
  bool skipComments = true; ///< skip lines whose first character is '#'

  void validate(std::string_view where) const {
    checkNonNegative(where, "userColumn", userColumn);
    checkNonNegative(where, "itemColumn", itemColumn);
    checkExpected(valueColumn >= -1, where, "valueColumn", ">= -1", valueColumn);
    checkExpected(timestampColumn >= -1, where, "timestampColumn", ">= -1", timestampColumn);
    checkNonNegative(where, "skipLines", skipLines);
    checkArgument(!delimiter.empty(), where, "delimiter expected non-empty (\"auto\", \"whitespace\" or a separator)");
    std::vector<int> used = {userColumn, itemColumn};
    if (valueColumn >= 0) used.push_back(valueColumn);
    if (timestampColumn >= 0) used.push_back(timestampColumn);
    std::sort(used.begin(), used.end());
    checkArgument(std::adjacent_find(used.begin(), used.end()) == used.end(), where,
                  "user, item, value and timestamp columns expected distinct");
  }
};

namespace detail {

/// Splits `line` into fields by `delimiter` (see ReaderOptions::delimiter).
inline void splitFields(std::string_view line, std::string_view delimiter, std::vector<std::string_view>& fields) {
  fields.clear();
  std::string_view sep = delimiter;
  if (delimiter == "auto") {
    if (line.find('\t') != std::string_view::npos) {
      sep = "\t";
    } else if (line.find("::") != std::string_view::npos) {
      sep = "::";
    } else if (line.find(',') != std::string_view::npos) {
      sep = ",";
    } else {
      sep = "whitespace";
    }
  }
  if (sep == "whitespace" || sep == " ") {
    io::forEachToken(line, ' ', [&](std::string_view t) { fields.push_back(t); });
    return;
  }
  std::size_t start = 0;
  while (true) {
    const std::size_t end = line.find(sep, start);
    fields.push_back(line.substr(start, end == std::string_view::npos ? std::string_view::npos : end - start));
    if (end == std::string_view::npos) break;
    start = end + sep.size();
  }
}

inline std::string_view trimField(std::string_view s) {
  while (!s.empty() && io::isSpace(s.front())) s.remove_prefix(1);
  while (!s.empty() && io::isSpace(s.back())) s.remove_suffix(1);
  return s;
}

}  // namespace detail

/// Reads records from `is` into `log` (appending; its id maps grow with new ids).
/// `source` names the stream in errors.
/// @throws FormatError for a line with too few fields, an empty id, a value that is not
///         a finite number or a timestamp that is not an integer.
inline void readInteractions(std::istream& is, const std::string& source, const ReaderOptions& options,
                             InteractionLog& log) {
  options.validate("readInteractions");
  io::LineReader reader(is, source);
  const int needed = 1 + std::max({options.userColumn, options.itemColumn, options.valueColumn,
                                   options.timestampColumn});
  std::vector<std::string_view> fields;
  std::string_view line;
  while (reader.next(line)) {
    if (reader.lineNumber() <= options.skipLines) continue;
    if (detail::trimField(line).empty()) continue;
    if (options.skipComments && line.front() == '#') continue;
    detail::splitFields(line, options.delimiter, fields);
    if (static_cast<int>(fields.size()) < needed) {
      reader.fail(0, eigenrec::detail::concat("expected at least ", needed, " fields (user, item",
                                    options.valueColumn >= 0 ? ", value" : "",
                                    options.timestampColumn >= 0 ? ", timestamp" : "", "), got ", fields.size()));
    }
    const auto field = [&](int column) { return detail::trimField(fields[static_cast<std::size_t>(column)]); };
    const std::string_view user = field(options.userColumn);
    const std::string_view item = field(options.itemColumn);
    if (user.empty()) reader.fail(reader.columnOf(fields[static_cast<std::size_t>(options.userColumn)]), "empty user id");
    if (item.empty()) reader.fail(reader.columnOf(fields[static_cast<std::size_t>(options.itemColumn)]), "empty item id");
    const double value = options.valueColumn >= 0 ? io::parseDouble(reader, field(options.valueColumn), "value") : 1.0;
    const std::int64_t timestamp =
        options.timestampColumn >= 0 ? io::parseInt(reader, field(options.timestampColumn), "timestamp") : 0;
    log.add(user, item, value, timestamp);
  }
}

/// Reads the file at `path` into `log` (appending). Throws IoError if it cannot be opened.
inline void readInteractions(const std::string& path, const ReaderOptions& options, InteractionLog& log) {
  options.validate("readInteractions");
  std::ifstream is(path, std::ios::binary);
  if (!is) throw IoError(eigenrec::detail::concat("cannot open '", path, "' for reading"));
  readInteractions(is, path, options, log);
}

/// Reads the file at `path` into a new log.
inline InteractionLog readInteractions(const std::string& path, const ReaderOptions& options = {}) {
  InteractionLog log;
  readInteractions(path, options, log);
  return log;
}

}  // namespace eigenrec::cf

#endif  // EIGENREC_CF_READER_HPP

#include <catch2/catch.hpp>
#include <eigenrec/io/line_reader.hpp>

#include <sstream>
#include <vector>

using namespace eigenrec;
using namespace eigenrec::io;

TEST_CASE("LineReader: LF and CRLF endings, line numbers", "[io][line_reader]") {
  std::istringstream in("first line\r\nsecond\n\nlast without newline");
  LineReader reader(in, "mem.txt");
  std::string_view line;
  std::vector<std::string> lines;
  while (reader.next(line)) lines.emplace_back(line);
  REQUIRE(lines.size() == 4);
  CHECK(lines[0] == "first line");
  CHECK(lines[2].empty());
  CHECK(lines[3] == "last without newline");
  CHECK(reader.lineNumber() == 4);
}

TEST_CASE("forEachToken: whitespace runs and delimiters", "[io][line_reader]") {
  std::vector<std::string> tokens;
  forEachToken("  a\t bb  c \r", ' ', [&](std::string_view t) { tokens.emplace_back(t); });
  CHECK(tokens == std::vector<std::string>{"a", "bb", "c"});
  tokens.clear();
  forEachToken("1,,3", ',', [&](std::string_view t) { tokens.emplace_back(t); });
  CHECK(tokens == std::vector<std::string>{"1", "", "3"});
  tokens.clear();
  forEachToken("", ' ', [&](std::string_view t) { tokens.emplace_back(t); });
  CHECK(tokens.empty());
}

TEST_CASE("parseInt / parseDouble: whole tokens only, errors with file:line:column", "[io][line_reader]") {
  std::istringstream in("1 2:0.5 +7 -3e2\nx 1.5e999 12abc nan 99999999999999999999");
  LineReader reader(in, "data.libsvm");
  std::string_view line;
  REQUIRE(reader.next(line));
  std::vector<std::string_view> t;
  forEachToken(line, ' ', [&](std::string_view s) { t.push_back(s); });
  CHECK(parseInt(reader, t[0], "label") == 1);
  CHECK(parseInt(reader, t[2], "index") == 7);
  CHECK(parseDouble(reader, t[3], "value") == -300.0);
  CHECK(parseDouble(reader, t[1].substr(2), "value") == 0.5);
  CHECK_THROWS_WITH(parseInt(reader, t[1], "index"), "data.libsvm:1:3: index expected an integer, got '2:0.5'");

  REQUIRE(reader.next(line));
  t.clear();
  forEachToken(line, ' ', [&](std::string_view s) { t.push_back(s); });
  CHECK_THROWS_WITH(parseDouble(reader, t[0], "label"), "data.libsvm:2:1: label expected a finite number, got 'x'");
  CHECK_THROWS_AS(parseDouble(reader, t[1], "value"), FormatError);
  CHECK_THROWS_WITH(parseInt(reader, t[2], "index"), Catch::Contains(":2:11:"));
  CHECK_THROWS_AS(parseDouble(reader, t[3], "value"), FormatError);
  CHECK_THROWS_WITH(parseInt(reader, t[4], "index"), Catch::Contains("out of range"));
  CHECK_THROWS_AS(parseInt(reader, std::string_view(line.data(), 0), "index"), FormatError);
}

TEST_CASE("LineReader: missing file is an IoError", "[io][line_reader]") {
  CHECK_THROWS_AS(LineReader(std::string("/nonexistent/eigenrec/file.txt")), IoError);
}

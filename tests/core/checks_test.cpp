#include <catch2/catch.hpp>
#include <eigenrec/core/checks.hpp>

#include <functional>
#include <string>

using namespace eigenrec;

namespace {
std::string messageOf(const std::function<void()>& f) {
  try {
    f();
  } catch (const std::exception& e) {
    return e.what();
  }
  return "";
}
}  // namespace

TEST_CASE("checks: messages name function, argument, expected and actual", "[core][checks]") {
  CHECK(messageOf([] { checkEqual("Layer::forward", "input rows", 64, 63); }) ==
        "Layer::forward: input rows expected 64, got 63");
  CHECK(messageOf([] { checkPositive("Adam", "lr", -0.5); }) == "Adam: lr expected > 0, got -0.5");
  CHECK(messageOf([] { checkBetween("SGD", "momentum", 1.5, 0.0, 1.0); }) ==
        "SGD: momentum expected in [0, 1], got 1.5");
  CHECK(messageOf([] { checkHalfOpen("SGD", "momentum", 1.0, 0.0, 1.0); }) ==
        "SGD: momentum expected in [0, 1), got 1");
  CHECK(messageOf([] { checkIndex("Embedding", "id", 10, 10); }) ==
        "Embedding: id expected an index in [0, 10), got 10");
  Eigen::MatrixXd m(2, 3);
  CHECK(messageOf([&] { checkShape("f", "x", m, 3, 2); }) == "f: x expected shape (3, 2), got (2, 3)");
  CHECK(messageOf([&] { checkRows("f", "x", m, 4); }) == "f: x expected 4 rows, got 2 rows");
  CHECK(messageOf([&] { checkCols("f", "x", m, 4); }) == "f: x expected 4 columns, got 3 columns");
  CHECK(messageOf([] { checkNotEmpty("f", "data", 0); }) == "f: data expected a non-empty input, got size 0");
}

TEST_CASE("checks: pass quietly on good input, NaN always fails", "[core][checks]") {
  Eigen::MatrixXd m = Eigen::MatrixXd::Ones(2, 3);
  CHECK_NOTHROW(checkShape("f", "x", m, 2, 3));
  CHECK_NOTHROW(checkPositive("f", "x", 1e-30));
  CHECK_NOTHROW(checkAllFinite("f", "x", m));
  CHECK_THROWS_AS(checkPositive("f", "x", std::nan("")), std::invalid_argument);
  CHECK_THROWS_AS(checkNonNegative("f", "x", std::nan("")), std::invalid_argument);
  CHECK_THROWS_AS(checkBetween("f", "x", std::nan(""), 0.0, 1.0), std::invalid_argument);
  CHECK_THROWS_AS(checkFinite("f", "x", INFINITY), std::invalid_argument);
  CHECK_FALSE(hasNonFinite(m));
  m(1, 2) = std::nan("");
  CHECK(hasNonFinite(m));
  CHECK(messageOf([&] { checkAllFinite("f", "grad", m); }) == "f: grad expected finite values, got nan at (1, 2)");
}

TEST_CASE("FormatError: location prefix and accessors", "[core][checks]") {
  const FormatError e("data.txt", 12, 5, "bad token");
  CHECK(std::string(e.what()) == "data.txt:12:5: bad token");
  CHECK(e.line() == 12);
  CHECK(e.column() == 5);
  CHECK(e.message() == "bad token");
  CHECK(std::string(FormatError("f", 3, 0, "m").what()) == "f:3: m");
  CHECK(std::string(FormatError("", 0, 0, "m").what()) == "<stream>: m");
  // Malformed input is bad input: catchable as std::invalid_argument.
  CHECK_THROWS_AS(throw FormatError("a", 1, 1, "x"), std::invalid_argument);
}

#include <eigenrec/core/utf8.hpp>

TEST_CASE("utf8: decoding, maximal subparts, validation, encoding", "[core][utf8]") {
  using eigenrec::decodeUtf8;
  const std::string euro = "\xE2\x82\xAC";  // U+20AC
  auto d = decodeUtf8(euro, 0);
  CHECK(d.valid);
  CHECK(d.codePoint == 0x20AC);
  CHECK(d.length == 3);
  d = decodeUtf8("\xF0\x9F\x98\x80", 0);  // U+1F600
  CHECK((d.valid && d.codePoint == 0x1F600 && d.length == 4));
  // Ill-formed: overlong, surrogate, above U+10FFFF, truncated, stray continuation.
  for (const std::string bad : {"\xC0\xAF", "\xE0\x80\xAF", "\xED\xA0\x80", "\xF4\x90\x80\x80", "\xF5", "\x80"}) {
    INFO(bad.size());
    CHECK_FALSE(decodeUtf8(bad, 0).valid);
    CHECK(decodeUtf8(bad, 0).length == 1);
    CHECK(decodeUtf8(bad, 0).codePoint == eigenrec::kReplacementCharacter);
  }
  // A truncated 3-byte sequence is one maximal subpart of 2 bytes.
  d = decodeUtf8("\xE2\x82" "A", 0);
  CHECK((!d.valid && d.length == 2));
  CHECK(eigenrec::firstInvalidUtf8("ab\xE2\x82\xAC" "c\xFF") == 6);
  CHECK(eigenrec::isValidUtf8("plain ascii and \xC3\xA9"));
  CHECK_FALSE(eigenrec::isValidUtf8("\xC3"));
  std::string out;
  for (char32_t c : {U'a', U'\u00E9', U'\u20AC', U'\U0001F600'}) eigenrec::appendUtf8(out, c);
  CHECK(out == "a\xC3\xA9\xE2\x82\xAC\xF0\x9F\x98\x80");
  CHECK(eigenrec::isValidUtf8(out));
}

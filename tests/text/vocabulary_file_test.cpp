// Vocabulary files (one term per line): round trip into a fixed vocabulary, and every
// malformed file reported with its line.
#include <catch2/catch.hpp>
#include <eigenrec/text/count_vectorizer.hpp>
#include <eigenrec/text/vocabulary_file.hpp>
#include <support/temp_path.hpp>

#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

using namespace eigenrec;
using namespace eigenrec::text;
using Catch::Contains;

namespace {

std::vector<std::string> readFrom(const std::string& content) {
  std::istringstream is(content);
  return readVocabulary(is, "v.txt");
}

}  // namespace

TEST_CASE("vocabulary file: round trip gives the same columns as the fit", "[text][vocabulary]") {
  const std::vector<std::string> docs = {"the cat sat on the mat", "a dog, a cat", "\xc3\xa9t\xc3\xa9 caf\xc3\xa9"};
  // char_wb terms start and end with spaces: a line keeps them.
  CountVectorizerOptions o;
  o.analyzer = AnalyzerKind::characterWordBounded;
  o.ngramRange = {2, 3};
  CountVectorizer fitted(o);
  const CountMatrix counts = fitted.fitTransform(docs);
  REQUIRE(fitted.column(" c") >= 0);

  const std::string path = eigenrec::test::uniqueTempPath("eigenrec_vocab_", "v.txt").string();
  writeVocabularyFile(path, fitted.vocabulary());
  const std::vector<std::string> terms = readVocabularyFile(path);
  std::filesystem::remove(path);
  CHECK(terms == fitted.vocabulary());

  // As a fixed vocabulary (scikit-learn's vocabulary=): the same matrix, column for column.
  CountVectorizerOptions fixedOptions = o;
  fixedOptions.vocabulary = terms;
  CountVectorizer fixed(fixedOptions);
  const CountMatrix again = fixed.fitTransform(docs);
  CHECK(fixed.vocabulary() == fitted.vocabulary());
  CHECK(Eigen::Matrix<std::int64_t, Eigen::Dynamic, Eigen::Dynamic>(again) ==
        Eigen::Matrix<std::int64_t, Eigen::Dynamic, Eigen::Dynamic>(counts));
}

TEST_CASE("vocabulary file: line ends and the last line", "[text][vocabulary]") {
  CHECK(readFrom("b\r\na\r\n") == std::vector<std::string>{"b", "a"});  // order kept, \r removed
  CHECK(readFrom("x y\n z") == std::vector<std::string>{"x y", " z"});  // no final '\n', spaces kept
}

TEST_CASE("vocabulary file: malformed files name the line", "[text][vocabulary]") {
  CHECK_THROWS_WITH(readFrom("a\n\nb\n"), Contains("v.txt:2:1: empty term"));
  CHECK_THROWS_WITH(readFrom("a\nb\na\n"), Contains("v.txt:3:1: duplicate term 'a' (first on line 1)"));
  CHECK_THROWS_WITH(readFrom("ok\nab\xff\n"), Contains("v.txt:2:3: invalid UTF-8 byte 0xff"));
  CHECK_THROWS_WITH(readFrom(""), Contains("v.txt: no terms"));
  CHECK_THROWS_AS(readFrom("a\n\nb\n"), FormatError);
  CHECK_THROWS_WITH(readVocabularyFile("/nonexistent/eigenrec/vocab.txt"),
                    Contains("cannot open '/nonexistent/eigenrec/vocab.txt'"));
}

TEST_CASE("vocabulary file: terms a line cannot hold are refused, and nothing is written", "[text][vocabulary]") {
  std::ostringstream os;
  CHECK_THROWS_WITH(writeVocabulary(os, {"a", "b\nc"}), Contains("term 1 contains a line break"));
  CHECK_THROWS_WITH(writeVocabulary(os, {"a", "b\r"}), Contains("term 1 contains a line break"));
  CHECK_THROWS_WITH(writeVocabulary(os, {""}), Contains("term 0 is empty"));
  CHECK(os.str().empty());
  const std::string path = eigenrec::test::uniqueTempPath("eigenrec_vocab_", "bad.txt").string();
  CHECK_THROWS(writeVocabularyFile(path, {"x\ny"}));
  CHECK_FALSE(std::filesystem::exists(path));
}

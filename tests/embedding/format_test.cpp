// word2vec.c text / binary vector files, and the queries and evaluators on word vectors
// (checked against gensim's KeyedVectors through committed fixtures).
#include <catch2/catch.hpp>
#include <eigenrec/embedding/word_vectors.hpp>
#include <eigenrec/core/random.hpp>
#include <eigenrec/io/word2vec_format.hpp>
#include <support/fixtures.hpp>
#include <support/temp_path.hpp>

#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

using namespace eigenrec;
using namespace eigenrec::embedding;

namespace {

std::string fixturePath(const std::string& name) { return std::string(EIGENREC_FIXTURES_DIR) + "/embedding/" + name; }

std::string tempPath(const std::string& name) {
  return eigenrec::test::uniqueTempPath("eigenrec_fmt_", name).string();  // per process: suites may run at once
}

}  // namespace

TEMPLATE_TEST_CASE("word2vec text and binary formats round trip exactly", "[embedding][format]", float, double) {
  Rng rng(4);
  const std::vector<std::string> words = {"</s>", "the", "caf\xC3\xA9", "x", "a-b"};
  Matrix<TestType> vectors(7, 5);
  for (Index i = 0; i < vectors.size(); ++i) vectors.data()[i] = rng.normal<TestType>() * TestType(0.3);
  vectors(0, 0) = TestType(1e-30);
  vectors(1, 1) = TestType(-12345.678);
  const Matrix<float> asFloat = vectors.template cast<float>();
  for (const bool binary : {false, true}) {
    std::stringstream s;
    io::writeWord2Vec(s, words, vectors, binary);
    const auto back =
        io::readWord2Vec<TestType>(s, binary ? io::Word2VecEncoding::binary : io::Word2VecEncoding::text);
    CHECK(back.words == words);
    // Files hold float32; the round trip is exact at float precision.
    CHECK(back.vectors.template cast<float>() == asFloat);
  }
  // Layout: header, then "word v1 ... vD\n" / "word " + raw float32 + "\n".
  std::stringstream text;
  io::writeWord2Vec(text, {"a", "b"}, Matrix<TestType>::Identity(2, 2), false);
  CHECK(text.str() == "2 2\na 1 0\nb 0 1\n");
  std::stringstream bin;
  io::writeWord2Vec(bin, {"a"}, Matrix<TestType>::Constant(2, 1, TestType(1.5)), true);
  const std::string b = bin.str();
  REQUIRE(b.size() == 4 + 2 + 8 + 1);
  CHECK(b.substr(0, 6) == "1 2\na ");
  float v[2];
  std::memcpy(v, b.data() + 6, 8);
  CHECK(v[0] == 1.5f);
  CHECK(v[1] == 1.5f);
  CHECK(b.back() == '\n');
}

TEST_CASE("word2vec files: save atomically, detect the encoding, limit", "[embedding][format]") {
  const std::vector<std::string> words = {"one", "two", "three"};
  Matrix<float> vectors(4, 3);
  vectors.setRandom();
  for (const bool binary : {false, true}) {
    const std::string path = tempPath(binary ? "v.bin" : "v.txt");
    io::saveWord2Vec(path, words, vectors, binary);
    CHECK(io::detectWord2VecEncoding(path) == (binary ? io::Word2VecEncoding::binary : io::Word2VecEncoding::text));
    const auto back = io::loadWord2Vec(path);
    CHECK(back.words == words);
    CHECK(back.vectors == vectors);
    io::Word2VecFormatOptions limit;
    limit.limit = 2;
    const auto head = io::loadWord2Vec(path, io::Word2VecEncoding::detect, limit);
    CHECK(head.words.size() == 2);
    CHECK(head.vectors == vectors.leftCols(2));
    // A failed save leaves the existing file as it was.
    CHECK_THROWS_AS(io::saveWord2Vec(path, {"bad word", "x", "y"}, vectors, binary), std::invalid_argument);
    CHECK(io::loadWord2Vec(path).words == words);
    std::filesystem::remove(path);
  }
  CHECK_THROWS_AS(io::loadWord2Vec(tempPath("missing.bin")), IoError);
}

TEST_CASE("word2vec files: malformed input is a FormatError with its location", "[embedding][format]") {
  auto readText = [](const std::string& s) {
    std::istringstream is(s);
    return io::readWord2Vec<float>(is, io::Word2VecEncoding::text, "v.txt");
  };
  auto readBinary = [](const std::string& s) {
    std::istringstream is(s);
    return io::readWord2Vec<float>(is, io::Word2VecEncoding::binary, "v.bin");
  };
  CHECK_THROWS_WITH(readText(""), Catch::Contains("v.txt") && Catch::Contains("empty file"));
  CHECK_THROWS_WITH(readText("2\n"), Catch::Contains("v.txt:1") && Catch::Contains("header"));
  CHECK_THROWS_WITH(readText("x 2\n"), Catch::Contains("v.txt:1:1") && Catch::Contains("word count"));
  CHECK_THROWS_WITH(readText("1 0\n"), Catch::Contains("dimension expected > 0"));
  CHECK_THROWS_WITH(readText("2 2\na 1 2\nb 1\n"), Catch::Contains("v.txt:3") && Catch::Contains("1 components"));
  CHECK_THROWS_WITH(readText("2 2\na 1 2\nb 1 2 3\n"), Catch::Contains("v.txt:3") && Catch::Contains("3 components"));
  CHECK_THROWS_WITH(readText("2 2\na 1 2\nb 1 zz\n"), Catch::Contains("v.txt:3:5") && Catch::Contains("'zz'"));
  CHECK_THROWS_WITH(readText("2 2\na 1 2\nb 1 nan\n"), Catch::Contains("v.txt:3:5"));
  CHECK_THROWS_WITH(readText("3 2\na 1 2\nb 1 2\n"), Catch::Contains("ends after 2 words, the header says 3"));
  CHECK_THROWS_WITH(readText("1 2\na 1 2\nb 1 2\n"), Catch::Contains("v.txt:3") && Catch::Contains("more words"));
  CHECK_THROWS_WITH(readText("2 2\na 1 2\na 3 4\n"), Catch::Contains("v.txt:3") && Catch::Contains("twice"));
  CHECK_THROWS_WITH(readText("1 2\n" + std::string(101, 'w') + " 1 2\n"), Catch::Contains("longer than the limit"));
  CHECK_THROWS_WITH(readText("1 2\nbad\xFFword 1 2\n"), Catch::Contains("v.txt:2") && Catch::Contains("UTF-8"));
  CHECK(readText("1 2\na 1 2 \n\n").words.size() == 1);  // word2vec.c's trailing space, blank line

  std::string good = "2 1\na ";
  const float one = 1.0f, nan = std::nanf("");
  good.append(reinterpret_cast<const char*>(&one), 4);
  good += "\nb ";
  good.append(reinterpret_cast<const char*>(&one), 4);
  good += "\n";
  CHECK(readBinary(good).words.size() == 2);
  CHECK_THROWS_WITH(readBinary(good.substr(0, good.size() - 3)),
                    Catch::Contains("v.bin") && Catch::Contains("record 2") && Catch::Contains("truncated"));
  CHECK_THROWS_WITH(readBinary("3" + good.substr(1)), Catch::Contains("record 3") && Catch::Contains("file ends"));
  CHECK_THROWS_WITH(readBinary(good + "c "), Catch::Contains("more data"));
  std::string bad = "1 1\nz ";
  bad.append(reinterpret_cast<const char*>(&nan), 4);
  CHECK_THROWS_WITH(readBinary(bad), Catch::Contains("record 1") && Catch::Contains("non-finite"));
  CHECK_THROWS_WITH(readBinary("1 1\n" + std::string(200, 'q')), Catch::Contains("longer than the limit"));

  std::ostringstream os;
  CHECK_THROWS_WITH(io::writeWord2Vec(os, {"a", ""}, Matrix<float>::Zero(2, 2), false),
                    Catch::Contains("words[1]: empty word"));
  CHECK_THROWS_WITH(io::writeWord2Vec(os, {"a"}, Matrix<float>::Zero(2, 2), false),
                    Catch::Contains("vectors expected 1 columns, got 2 columns"));
  Matrix<float> inf = Matrix<float>::Zero(2, 1);
  inf(1, 0) = INFINITY;
  CHECK_THROWS_AS(io::writeWord2Vec(os, {"a"}, inf, true), std::invalid_argument);
}

TEST_CASE("WordVectors: most similar and analogy by hand", "[embedding][queries]") {
  Matrix<double> v(2, 5);
  // king (1, 1), queen (1, -1)... man (1, 0.9), woman (1, -0.9) -> queen = king - man + woman.
  v << 1, 1, 1, 1, -1,  //
      1, -1, 0.9, -0.9, 0;
  WordVectors<double> wv({"king", "queen", "man", "woman", "other"}, v);
  const auto a = wv.analogy("man", "king", "woman", 2);
  REQUIRE(a.size() == 2);
  CHECK(a[0].word == "queen");
  const auto n = wv.mostSimilar("king", 1);
  CHECK(n[0].word == "man");
  CHECK(n[0].score == Approx((1 + 0.9) / (std::sqrt(2.0) * std::sqrt(1.81))));
  CHECK(wv.similarity("king", "queen") == Approx(0.0).margin(1e-12));
  CHECK(wv.mostSimilar("king", 10).size() == 4);
  CHECK(wv.mostSimilar("king", 10, 2).size() == 1);  // restricted to the first 2 words
  CHECK_THROWS_WITH(wv.mostSimilar("nobody"), Catch::Contains("unknown word 'nobody'"));
  CHECK_THROWS_AS(wv.mostSimilar("king", 0), std::invalid_argument);
  CHECK_THROWS_AS(WordVectors<double>({"a", "a"}, Matrix<double>::Ones(2, 2)), std::invalid_argument);
}

TEST_CASE("Evaluators match gensim's evaluate_word_analogies / evaluate_word_pairs", "[embedding][queries]") {
  const test::Fixture fx("embedding/gensim_eval.txt");
  const auto wv = WordVectors<float>::loadWord2Vec(fixturePath("eval_vectors.txt"));
  AnalogyOptions options;
  options.restrict = static_cast<Index>(fx.scalar("analogy_restrict"));
  const auto report = evaluateAnalogiesFile(wv, fixturePath("eval_questions.txt"), options);
  REQUIRE(report.sections.size() == 3);
  for (const auto& s : report.sections) {
    INFO(s.name);
    CHECK(s.correct == static_cast<std::int64_t>(fx.scalar("analogy_" + s.name + "_correct")));
    CHECK(s.seen == static_cast<std::int64_t>(fx.scalar("analogy_" + s.name + "_seen")));
  }
  CHECK(report.overall.correct == static_cast<std::int64_t>(fx.scalar("analogy_Total_accuracy_correct")));
  CHECK(report.overall.seen == static_cast<std::int64_t>(fx.scalar("analogy_Total_accuracy_seen")));
  CHECK(report.overall.total == 11);
  CHECK(report.semantic.seen == 6);
  CHECK(report.syntactic.seen == 3);

  const auto pairs = evaluateSimilarityFile(wv, fixturePath("eval_pairs.txt"));
  CHECK(pairs.pairs == 32);
  CHECK(pairs.spearman == Approx(fx.scalar("pairs_spearman")).epsilon(1e-5));
  CHECK(pairs.pearson == Approx(fx.scalar("pairs_pearson")).epsilon(1e-5));
  CHECK(100.0 * pairs.oovRatio() == Approx(fx.scalar("pairs_oov_percent")));

  std::istringstream badQuestions(": s\na b c\n");
  CHECK_THROWS_WITH(evaluateAnalogies(wv, badQuestions, "q.txt"), Catch::Contains("q.txt:2") && Catch::Contains("4 words"));
  std::istringstream badPairs("a\tb\tnot-a-number\n");
  CHECK_THROWS_WITH(evaluateSimilarity(wv, badPairs, "p.txt"), Catch::Contains("p.txt:1:5"));
}

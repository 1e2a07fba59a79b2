// Tokenizer, vocabulary, and word2vec.c's tables (sigmoid, unigram^0.75, Huffman,
// subsampling, learning rate).
#include <catch2/catch.hpp>
#include <eigenrec/embedding/corpus.hpp>
#include <eigenrec/embedding/tables.hpp>
#include <eigenrec/embedding/vocabulary.hpp>
#include <support/temp_path.hpp>

#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <map>
#include <sstream>
#include <string>
#include <vector>

using namespace eigenrec;
using namespace eigenrec::embedding;

namespace {

std::vector<std::string> allTokens(const TextCorpus& corpus, std::int64_t begin, std::int64_t end,
                                   TokenizerOptions options = {}) {
  TokenReader reader(corpus, begin, end, options);
  std::vector<std::string> out;
  std::string_view w;
  while (reader.next(w)) out.emplace_back(w);
  return out;
}

std::string tempPath(const std::string& name) {
  return eigenrec::test::uniqueTempPath("eigenrec_embedding_", name).string();  // per process: suites may run at once
}

}  // namespace

TEST_CASE("TokenReader: word2vec.c's ReadWord rules", "[embedding][corpus]") {
  const auto corpus = TextCorpus::fromString("a b\tc\n\nd\r\ne  f\rg\n");
  // '\r' is dropped, inside a word too ("f\rg" -> "fg"); each '\n' yields </s>.
  const std::vector<std::string> want = {"a", "b", "c", "</s>", "</s>", "d", "</s>", "e", "fg", "</s>"};
  CHECK(allTokens(corpus, 0, corpus.sizeBytes()) == want);
}

TEST_CASE("TokenReader: shards partition the words, file and memory agree", "[embedding][corpus]") {
  std::string text;
  for (int i = 0; i < 3000; ++i) text += "word" + std::to_string(i % 97) + (i % 13 == 0 ? "\n" : " ");
  const auto memory = TextCorpus::fromString(text);
  const std::string path = tempPath("shards.txt");
  {
    std::ofstream f(path, std::ios::binary);
    f << text;
  }
  const auto file = TextCorpus::fromFile(path);
  const auto whole = allTokens(memory, 0, memory.sizeBytes());
  CHECK(allTokens(file, 0, file.sizeBytes()) == whole);
  for (int shards : {2, 3, 7}) {
    std::vector<std::string> joined;
    for (int s = 0; s < shards; ++s) {
      const auto [b, e] = file.shardRange(s, shards);
      const auto part = allTokens(file, b, e);
      joined.insert(joined.end(), part.begin(), part.end());
    }
    CHECK(joined == whole);
  }
  std::filesystem::remove(path);
}

TEST_CASE("TokenReader: long words and bad UTF-8 are errors with line and column", "[embedding][corpus]") {
  const auto corpus = TextCorpus::fromString("ok fine\nthis " + std::string(120, 'x') + " more\n");
  CHECK_THROWS_WITH(allTokens(corpus, 0, corpus.sizeBytes()),
                    Catch::Contains("<memory>:2:6") && Catch::Contains("longer than the limit of 100"));
  TokenizerOptions truncate;
  truncate.truncateLongWords = true;
  const auto cut = allTokens(corpus, 0, corpus.sizeBytes(), truncate);
  REQUIRE(cut.size() == 7);
  CHECK(cut[4] == std::string(100, 'x'));

  const auto bad = TextCorpus::fromString("good\nalso caf\xC3\xA9 bad\xFF\n");
  CHECK_THROWS_AS(allTokens(bad, 0, bad.sizeBytes()), FormatError);
  CHECK_THROWS_WITH(allTokens(bad, 0, bad.sizeBytes()), Catch::Contains("<memory>:2:15") && Catch::Contains("UTF-8"));
  TokenizerOptions lax;
  lax.validateUtf8 = false;
  CHECK(allTokens(bad, 0, bad.sizeBytes(), lax).size() == 6);
  CHECK_THROWS_AS(TextCorpus::fromFile(tempPath("does_not_exist.txt")), IoError);
}

TEST_CASE("Vocabulary: counts, </s> first, sorted by count, min-count", "[embedding][vocabulary]") {
  // c x4, a x3, b x3 (b first seen after a), d x1; two newlines.
  const auto corpus = TextCorpus::fromString("b a c c\na b d c\nc a b\n");
  VocabularyOptions options;
  options.minCount = 2;
  const auto v = Vocabulary::build(corpus, options);
  REQUIRE(v.size() == 4);
  CHECK(v.word(0) == "</s>");
  CHECK(v.count(0) == 3);
  CHECK(v.word(1) == "c");
  CHECK(v.count(1) == 4);
  // Ties keep the order of first appearance: b before a.
  CHECK(v.word(2) == "b");
  CHECK(v.word(3) == "a");
  CHECK(v.count(2) == 3);
  CHECK(v.count(3) == 3);
  CHECK(v.find("d") == -1);
  CHECK(v.find("a") == 3);
  CHECK(v.trainWords() == 3 + 4 + 3 + 3);
  CHECK(v.corpusWords() == 14);

  options.maxSize = 3;
  const auto small = Vocabulary::build(corpus, options);
  CHECK(small.size() == 3);
  CHECK(small.word(2) == "b");

  options.minCount = 10;
  options.maxSize = 0;
  CHECK_THROWS_WITH(Vocabulary::build(corpus, options), Catch::Contains("minCount = 10"));
  options.minCount = 0;
  CHECK_THROWS_WITH(Vocabulary::build(corpus, options), Catch::Contains("minCount expected > 0, got 0"));
}

TEST_CASE("Vocabulary: pruning while counting follows ReduceVocab", "[embedding][vocabulary]") {
  // 1500 distinct singletons and 'x' x 5: pruning above 1000 entries drops the
  // singletons seen so far (count <= 1) but keeps x.
  std::string text;
  for (int i = 0; i < 1500; ++i) {
    text += "u" + std::to_string(i) + " ";
    if (i % 300 == 0) text += "x ";
  }
  VocabularyOptions options;
  options.minCount = 1;
  options.pruneAbove = 1000;
  const auto v = Vocabulary::build(TextCorpus::fromString(text), options);
  CHECK(v.word(1) == "x");
  CHECK(v.count(1) == 5);
  CHECK(v.size() < 1000);
}

namespace {

// About 400 kB of text: Zipf-like words (many ties among the rare ones, first seen all
// over the corpus), tabs, '\r', multi-byte UTF-8 and lines of every length.
std::string shardedText() {
  std::string text;
  std::uint64_t state = 12345;
  const auto next = [&]() {
    state = state * 6364136223846793005ULL + 1442695040888963407ULL;
    return static_cast<std::uint32_t>(state >> 33);
  };
  const char* separators[] = {" ", " ", " ", "\t", "\r\n", "\n", "  "};
  while (text.size() < 400000) {
    const std::uint32_t r = next() % 1000;
    const std::uint32_t id = r < 500 ? r % 20 : (r < 900 ? next() % 2000 : next() % 30000);
    text += (id % 7 == 0) ? "\xc3\xa9t\xc3\xa9" : "w";
    text += std::to_string(id);
    text += separators[next() % 7];
  }
  return text;
}

void requireSameVocabulary(const Vocabulary& a, const Vocabulary& b) {
  REQUIRE(a.size() == b.size());
  CHECK(a.corpusWords() == b.corpusWords());
  bool same = true;
  for (Index i = 0; i < a.size(); ++i) same = same && a.word(i) == b.word(i) && a.count(i) == b.count(i);
  CHECK(same);
}

}  // namespace

TEST_CASE("Vocabulary: counting in parallel shards gives the serial vocabulary", "[embedding][vocabulary]") {
  const std::string text = shardedText();
  VocabularyOptions options;
  options.minCount = 1;
  const auto corpus = TextCorpus::fromString(text);
  const auto serial = Vocabulary::build(corpus, options, 1);
  REQUIRE(serial.size() > 5000);
  CHECK(serial.corpusWords() > 50000);
  for (int threads : {2, 3, 4, 7}) {
    INFO("threads " << threads);
    requireSameVocabulary(serial, Vocabulary::build(corpus, options, threads));
  }
  // From a file (the streamed reader), with the usual min-count.
  const std::string path = tempPath("vocab_shards.txt");
  {
    std::ofstream os(path, std::ios::binary);
    os << text;
  }
  options.minCount = 5;
  const auto file = TextCorpus::fromFile(path);
  requireSameVocabulary(Vocabulary::build(file, options, 1), Vocabulary::build(file, options, 3));
  std::filesystem::remove(path);

  // More distinct words than pruneAbove: pruning depends on the order of the words, so
  // the result must still be the serial pass's.
  options.minCount = 1;
  options.pruneAbove = 1000;
  const auto pruned = Vocabulary::build(corpus, options, 1);
  CHECK(pruned.size() < 1000);
  requireSameVocabulary(pruned, Vocabulary::build(corpus, options, 4));

  // Bad text far from the start: the same error, with its line, as the serial pass.
  std::string bad = text;
  bad.insert(bad.size() * 3 / 4, " ab\xff ");
  const auto badCorpus = TextCorpus::fromString(bad, "bad.txt");
  std::string serialError, parallelError;
  try {
    Vocabulary::build(badCorpus, options, 1);
  } catch (const FormatError& e) {
    serialError = e.what();
  }
  try {
    Vocabulary::build(badCorpus, options, 4);
  } catch (const FormatError& e) {
    parallelError = e.what();
  }
  CHECK_THAT(serialError, Catch::Contains("bad.txt:") && Catch::Contains("UTF-8"));
  CHECK(parallelError == serialError);

  CHECK_THROWS_WITH(Vocabulary::build(corpus, options, -1), Catch::Contains("threads expected >= 0, got -1"));
}

TEST_CASE("Vocabulary: word2vec.c vocabulary file round trip and errors", "[embedding][vocabulary]") {
  const auto v = Vocabulary::fromCounts({{"the", 10}, {"cat", 3}, {"</s>", 4}, {"sat", 3}, {"mat", 1}});
  // The default minCount = 5 keeps only "the" (and </s>, whatever its count).
  CHECK(v.size() == 2);
  std::ostringstream os;
  v.save(os);
  CHECK(os.str() == "</s> 4\nthe 10\n");

  VocabularyOptions keepAll;
  keepAll.minCount = 1;
  const auto all = Vocabulary::fromCounts({{"the", 10}, {"cat", 3}, {"</s>", 4}, {"sat", 3}, {"mat", 1}}, keepAll);
  std::ostringstream out;
  all.save(out);
  CHECK(out.str() == "</s> 4\nthe 10\ncat 3\nsat 3\nmat 1\n");
  std::istringstream in(out.str());
  const auto back = Vocabulary::load(in, "v.txt", keepAll);
  CHECK(back.words() == all.words());
  CHECK(back.counts() == all.counts());
  // Reading applies min-count and sorts, as -read-vocab does.
  std::istringstream unsorted("</s> 0\nlow 2\nhigh 9\nmid 5\n");
  VocabularyOptions min3;
  min3.minCount = 3;
  const auto sorted = Vocabulary::load(unsorted, "v.txt", min3);
  CHECK(sorted.words() == std::vector<std::string>{"</s>", "high", "mid"});

  std::istringstream badCount("</s> 0\nword x1\n");
  CHECK_THROWS_WITH(Vocabulary::load(badCount, "v.txt"), Catch::Contains("v.txt:2:6") && Catch::Contains("count"));
  std::istringstream badFields("</s> 0\nword 3 extra\n");
  CHECK_THROWS_WITH(Vocabulary::load(badFields, "v.txt"), Catch::Contains("v.txt:2") && Catch::Contains("3 fields"));
  std::istringstream repeated("</s> 0\nword 3\nword 4\n");
  CHECK_THROWS_WITH(Vocabulary::load(repeated, "v.txt"), Catch::Contains("v.txt:3:1") && Catch::Contains("twice"));
  std::istringstream negative("</s> 0\nword -3\n");
  CHECK_THROWS_AS(Vocabulary::load(negative, "v.txt"), FormatError);
  CHECK_THROWS_AS(Vocabulary::fromCounts({{"a", 1}, {"a", 2}}, keepAll), std::invalid_argument);
  CHECK_THROWS_AS(Vocabulary::fromCounts({{"", 1}}, keepAll), std::invalid_argument);
}

TEMPLATE_TEST_CASE("ExpTable: word2vec.c's table and its integer factor 83", "[embedding][tables]", float, double) {
  const ExpTable<TestType> t;
  STATIC_REQUIRE(ExpTable<TestType>::kIndexFactor == 83);
  // Entry i is sigma((2i/1000 - 1) * 6).
  for (int i : {0, 1, 250, 500, 999}) {
    const double x = (2.0 * i / 1000.0 - 1.0) * 6.0;
    CHECK(static_cast<double>(t[i]) == Approx(1.0 / (1.0 + std::exp(-x))).epsilon(1e-6));
  }
  // The lookup index is (int)((f + 6) * 83): f = 0 reads entry 498 (not 500), so the
  // value is sigma(-0.024), slightly below one half; f just below 6 reads entry 995.
  CHECK(ExpTable<TestType>::index(TestType(0)) == 498);
  CHECK(ExpTable<TestType>::index(TestType(5.999)) == 995);
  CHECK(t.lookup(TestType(0)) < TestType(0.5));
  CHECK(static_cast<double>(t.lookup(TestType(0))) == Approx(1.0 / (1.0 + std::exp(0.024))).epsilon(1e-6));
  // Negative sampling saturation; hierarchical softmax skips at |f| >= 6.
  const TestType a = TestType(0.1);
  CHECK(t.negativeGradient(TestType(7), 1, a) == TestType(0));
  CHECK(t.negativeGradient(TestType(7), 0, a) == -a);
  CHECK(t.negativeGradient(TestType(-7), 1, a) == a);
  CHECK(t.negativeGradient(TestType(-7), 0, a) == TestType(0));
  CHECK(t.hierarchicalGradient(TestType(6), 0, a) == TestType(0));
  CHECK(t.hierarchicalGradient(TestType(-6.5), 1, a) == TestType(0));
  CHECK(t.negativeGradient(TestType(0), 1, a) == (TestType(1) - t[498]) * a);
}

TEST_CASE("UnigramTable: draws follow count^0.75 (chi-square)", "[embedding][tables]") {
  // </s> has count 2 here: its slots are redirected to a uniform word by the sampler,
  // so the expected frequency of word i >= 1 is p_i + p_0 / (V - 1).
  const std::vector<std::int64_t> counts = {2, 400, 250, 120, 60, 30, 12, 6, 5, 5};
  const std::int64_t size = 1000000;
  const UnigramTable table(counts, size);
  double total = 0;
  for (auto c : counts) total += std::pow(static_cast<double>(c), 0.75);
  const auto v = static_cast<Index>(counts.size());
  // Slot for slot word2vec.c's table: a direct transcription of its fill loop.
  auto bruteForce = [](const std::vector<std::int64_t>& c, std::int64_t n) {
    double sum = 0;
    for (auto x : c) sum += std::pow(static_cast<double>(x), 0.75);
    std::vector<std::int32_t> t(static_cast<std::size_t>(n));
    std::int64_t i = 0;
    double d1 = std::pow(static_cast<double>(c[0]), 0.75) / sum;
    for (std::int64_t a = 0; a < n; ++a) {
      t[static_cast<std::size_t>(a)] = static_cast<std::int32_t>(i);
      if (a / static_cast<double>(n) > d1) {
        ++i;
        if (i < static_cast<std::int64_t>(c.size())) d1 += std::pow(static_cast<double>(c[static_cast<std::size_t>(i)]), 0.75) / sum;
      }
      if (i >= static_cast<std::int64_t>(c.size())) i = static_cast<std::int64_t>(c.size()) - 1;
    }
    return t;
  };
  std::vector<std::int64_t> many = {0};
  for (int k = 1; k < 3000; ++k) many.push_back(100000 / k + 1);
  for (const auto& [c, n] : std::vector<std::pair<std::vector<std::int64_t>, std::int64_t>>{
           {counts, size}, {counts, 7}, {many, 1000}, {many, 12345}, {many, 1 << 20}}) {
    const UnigramTable t(c, n);
    const auto expect = bruteForce(c, n);
    std::int64_t mismatches = 0;
    for (std::int64_t a = 0; a < n; ++a) mismatches += t[a] != expect[static_cast<std::size_t>(a)];
    CHECK(mismatches == 0);
  }
  // The runs match the shares to within a slot or two per word.
  for (std::size_t i = 0; i < counts.size(); ++i) {
    const double expect = std::pow(static_cast<double>(counts[i]), 0.75) / total * static_cast<double>(size);
    CHECK(std::abs(static_cast<double>(table.slots(static_cast<Index>(i))) - expect) <= 2.0);
  }
  // Draws through word2vec.c's sampler (LCG, >> 16, </s> redirect).
  const int n = 200000;
  std::vector<double> observed(counts.size(), 0);
  std::uint64_t state = 0;
  for (int k = 0; k < n; ++k) {
    state = state * 25214903917ULL + 11;
    std::int32_t t = table[static_cast<std::int64_t>((state >> 16) % static_cast<std::uint64_t>(size))];
    if (t == 0) t = static_cast<std::int32_t>(state % static_cast<std::uint64_t>(v - 1) + 1);
    observed[static_cast<std::size_t>(t)] += 1;
  }
  CHECK(observed[0] == 0);
  const double p0 = std::pow(2.0, 0.75) / total;
  double chi2 = 0;
  for (std::size_t i = 1; i < counts.size(); ++i) {
    const double p = std::pow(static_cast<double>(counts[i]), 0.75) / total + p0 / static_cast<double>(v - 1);
    const double e = p * n;
    chi2 += (observed[i] - e) * (observed[i] - e) / e;
  }
  // 8 degrees of freedom: the 0.999 quantile is 26.12.
  CHECK(chi2 < 26.12);
  // A wrong exponent is rejected by the same statistic.
  double chi2Unigram = 0;
  double raw = 0;
  for (auto c : counts) raw += static_cast<double>(c);
  for (std::size_t i = 1; i < counts.size(); ++i) {
    const double e = static_cast<double>(counts[i]) / raw * n;
    chi2Unigram += (observed[i] - e) * (observed[i] - e) / e;
  }
  CHECK(chi2Unigram > 1000);
  CHECK_THROWS_AS(UnigramTable({0, 0}, 10), std::invalid_argument);
  CHECK_THROWS_AS(UnigramTable(counts, 0), std::invalid_argument);
}

TEST_CASE("HuffmanTree: codes for a known distribution", "[embedding][tables]") {
  // Counts 0 (</s>), 10, 6, 4, 3, 2 (V = 6). word2vec.c scans the leaves from the end
  // (the smallest counts), so </s> with count 0 at index 0 is merged late. Worked by
  // hand (min2 of each merge gets bit 1; a leaf goes first only if strictly smaller):
  //   node6 = {5 (2), 4 (3)} = 5;  node7 = {3 (4), node6 (5)} = 9;
  //   node8 = {2 (6), node7 (9)} = 15;  node9 = {1 (10), 0 (0)} = 10;
  //   node10 = {node8 (15), node9 (10)} = 25, the root.
  const HuffmanTree tree({0, 10, 6, 4, 3, 2});
  CHECK(tree.codeString(0) == "11");
  CHECK(tree.codeString(1) == "10");
  CHECK(tree.codeString(2) == "00");
  CHECK(tree.codeString(3) == "010");
  CHECK(tree.codeString(4) == "0111");
  CHECK(tree.codeString(5) == "0110");
  // Points are the inner nodes on the path from the root, as node - V.
  CHECK(tree.point(4)[0] == 4);
  CHECK(tree.point(4)[1] == 2);
  CHECK(tree.point(4)[2] == 1);
  CHECK(tree.point(4)[3] == 0);
  CHECK(tree.point(0)[0] == 4);
  CHECK(tree.point(0)[1] == 3);
  CHECK(tree.maxLength() == 4);
  double kraft = 0;
  for (Index w = 0; w < tree.size(); ++w) kraft += std::pow(2.0, -tree.length(w));
  CHECK(kraft == Approx(1.0));
  CHECK_THROWS_AS(HuffmanTree({5}), std::invalid_argument);
}

TEST_CASE("subsampleKeep: word2vec.c's formula, not the paper's", "[embedding][tables]") {
  // ran = (sqrt(c / (s T)) + 1) (s T) / c.
  const std::int64_t T = 1000000;
  const double s = 1e-3;
  for (std::int64_t c : {5, 1000, 10000, 100000}) {
    const double st = s * T;
    const double expect = (std::sqrt(c / st) + 1) * st / c;
    CHECK(static_cast<double>(subsampleKeep<float>(c, 1e-3f, T)) == Approx(expect).epsilon(1e-6));
    CHECK(subsampleKeep<double>(c, 1e-3, T) == Approx(expect).epsilon(1e-12));
  }
  // At frequency f = 4 s, word2vec.c keeps (sqrt(4) + 1) / 4 = 0.75 of the
  // occurrences; the paper's 1 - sqrt(s / f) discards 0.5, i.e. keeps 0.5.
  CHECK(subsampleKeep<double>(4000, 1e-3, T) == Approx(0.75));
  CHECK(subsampleKeep<double>(4000, 0.0, T) == 1.0);
}

TEMPLATE_TEST_CASE("learningRate: linear decay with word2vec.c's floor", "[embedding][tables]", float, double) {
  const TestType start = TestType(0.025);
  CHECK(learningRate<TestType>(start, 0, 1000) == start);
  CHECK(static_cast<double>(learningRate<TestType>(start, 500, 999)) == Approx(0.0125).epsilon(1e-6));
  CHECK(static_cast<double>(learningRate<TestType>(start, 250, 999)) == Approx(0.01875).epsilon(1e-6));
  // Floor at start * 1e-4.
  CHECK(static_cast<double>(learningRate<TestType>(start, 1000, 999)) == Approx(0.025e-4).epsilon(1e-5));
  CHECK(static_cast<double>(learningRate<TestType>(start, 5000, 999)) == Approx(0.025e-4).epsilon(1e-5));
}

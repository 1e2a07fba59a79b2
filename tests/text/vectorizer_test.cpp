// The text module beyond scikit-learn parity: bad input, BM25 worked by hand, files
// streamed line by line, save / load, and the Matrix Market reader / writer.
#include <catch2/catch.hpp>
#include <eigenrec/io/matrix_market.hpp>
#include <eigenrec/text.hpp>
#include <support/temp_path.hpp>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <map>
#include <set>
#include <sstream>
#include <string>
#include <vector>

using namespace eigenrec;
using namespace eigenrec::text;
using Catch::Contains;

namespace {

const std::vector<std::string> kGuide = {"This is the first document.", "This document is the second document.",
                                         "And this is the third one.", "Is this the first document?"};

// A scratch file removed at the end of the test.
struct TempFile {
  std::string path;
  // Unique per process (suites may run at once); each test uses its own name.
  explicit TempFile(const std::string& name, const std::string& content = "")
      : path(eigenrec::test::uniqueTempPath("eigenrec_text_", name).string()) {
    std::ofstream(path, std::ios::binary) << content;
  }
  ~TempFile() {
    std::error_code ignored;
    std::filesystem::remove(path, ignored);
  }
};

template <typename A, typename B>
bool sameSparse(const A& a, const B& b) {
  return a.rows() == b.rows() && a.cols() == b.cols() && Eigen::MatrixXd(a.template cast<double>()) ==
                                                             Eigen::MatrixXd(b.template cast<double>());
}

}  // namespace

// ---------------------------------------------------------------------------------------
// Analyzer

TEST_CASE("Analyzer: scikit-learn's default token rule", "[text][analyzer]") {
  const Analyzer a;
  CHECK(a.analyze("Hello, World! a I x_1 42 -- don't") ==
        std::vector<std::string>{"hello", "world", "x_1", "42", "don"});
  CHECK(a.analyze("").empty());
  CHECK(a.analyze("   \t ").empty());
  AnalyzerOptions o;
  o.minTokenLength = 1;
  CHECK(Analyzer(o).analyze("a I x") == std::vector<std::string>{"a", "i", "x"});
  o.minTokenLength = 4;
  CHECK(Analyzer(o).analyze("one three seven") == std::vector<std::string>{"three", "seven"});
}

TEST_CASE("Analyzer: stop words and a custom token filter act before n-grams", "[text][analyzer]") {
  AnalyzerOptions o;
  o.ngramRange = {1, 2};
  o.stopWords = {"the", "of"};
  o.tokenFilter = [](std::string_view t) { return t.find_first_of("0123456789") == std::string_view::npos; };
  const Analyzer a(o);
  // "the" and "2024" are removed, so "price" and "oil" become neighbours.
  CHECK(a.analyze("The price of 2024 oil") == std::vector<std::string>{"price", "oil", "price oil"});
  CHECK(a.keepToken("oil"));
  CHECK_FALSE(a.keepToken("the"));
  CHECK_FALSE(a.keepToken("x1"));
  CHECK(a.tokenize("The price") == std::vector<std::string>{"the", "price"});
}

TEST_CASE("Analyzer: Unicode lowercasing, final sigma, accents", "[text][analyzer]") {
  const Analyzer a;
  // Python: "ΣΑΣ ΟΔΥΣΣΕΥΣ".lower() == "σας οδυσσευς" (final sigma at the word end).
  CHECK(a.analyze("ΣΑΣ ΟΔΥΣΣΕΥΣ") == std::vector<std::string>{"σας", "οδυσσευς"});
  AnalyzerOptions o;
  o.stripAccents = StripAccents::unicode;
  CHECK(Analyzer(o).analyze("Crème Brûlée naïve") == std::vector<std::string>{"creme", "brulee", "naive"});
  CHECK(Analyzer(o).preprocess("ﬁ Å") == "fi a");
  o.stripAccents = StripAccents::ascii;
  CHECK(Analyzer(o).analyze("Ελλάδα café") == std::vector<std::string>{"cafe"});
}

TEST_CASE("Analyzer: invalid UTF-8 follows the DecodeError rule", "[text][analyzer][bad-input]") {
  const std::string bad = std::string("ab\xff") + "cd";
  const Analyzer strict;
  REQUIRE_THROWS_AS(strict.analyze(bad), InvalidUtf8);
  try {
    strict.analyze(bad);
  } catch (const InvalidUtf8& e) {
    CHECK(e.offset() == 2);
    CHECK(e.byte() == 0xFF);
    CHECK_THAT(e.what(), Contains("0xFF at offset 2"));
  }
  AnalyzerOptions o;
  o.decodeError = DecodeError::replace;  // U+FFFD separates
  CHECK(Analyzer(o).analyze(bad) == std::vector<std::string>{"ab", "cd"});
  o.decodeError = DecodeError::ignore;  // the bytes vanish, the text joins up
  CHECK(Analyzer(o).analyze(bad) == std::vector<std::string>{"abcd"});
  // A truncated 4-byte sequence is one replacement character (maximal subpart).
  o.decodeError = DecodeError::replace;
  o.analyzer = AnalyzerKind::character;
  CHECK(Analyzer(o).analyze("a\xF0\x9F\x98" "b") == std::vector<std::string>{"a", "\xEF\xBF\xBD", "b"});
}

TEST_CASE("Analyzer: bad options and over-long documents", "[text][analyzer][bad-input]") {
  AnalyzerOptions o;
  o.ngramRange = {2, 1};
  CHECK_THROWS_WITH(Analyzer(o), Contains("Analyzer: ngramRange expected 1 <= min_n <= max_n, got (2, 1)"));
  o.ngramRange = {0, 1};
  CHECK_THROWS_AS(Analyzer(o), std::invalid_argument);
  o = AnalyzerOptions();
  o.minTokenLength = 0;
  CHECK_THROWS_WITH(Analyzer(o), Contains("minTokenLength"));
  o = AnalyzerOptions();
  o.stopWords = {""};
  CHECK_THROWS_WITH(Analyzer(o), Contains("empty stop word"));
  o = AnalyzerOptions();
  o.maxDocumentBytes = 10;
  CHECK_THROWS_AS(Analyzer(o).analyze("this document is longer than ten bytes"), DocumentTooLong);
  CHECK(Analyzer(o).analyze("short doc").size() == 2);
}

// ---------------------------------------------------------------------------------------
// Vectorizers: bad input

TEST_CASE("CountVectorizer: empty corpora, empty vocabularies, pruning", "[text][bad-input]") {
  CountVectorizer cv;
  CHECK_THROWS_WITH(cv.fitTransform(std::vector<std::string>{}), Contains("no documents"));
  CHECK_THROWS_WITH(cv.fitTransform(std::vector<std::string>{"", " ", "!"}), Contains("empty vocabulary"));
  CountVectorizerOptions o;
  o.stopWords = englishStopWords();
  CHECK_THROWS_WITH(CountVectorizer(o).fitTransform(std::vector<std::string>{"the and of", "it is"}),
                    Contains("empty vocabulary"));
  o = CountVectorizerOptions();
  o.minDf = DocumentFrequency::count(3);
  o.maxDf = DocumentFrequency::count(2);
  CHECK_THROWS_WITH(CountVectorizer(o).fitTransform(kGuide), Contains("maxDf corresponds to fewer documents than minDf"));
  o = CountVectorizerOptions();
  o.minDf = DocumentFrequency::count(5);  // more than the 4 documents
  o.maxDf = DocumentFrequency::count(10);
  CHECK_THROWS_WITH(CountVectorizer(o).fitTransform(kGuide), Contains("no terms remain"));
  o = CountVectorizerOptions();
  o.minDf = DocumentFrequency::count(0);
  o.maxDf = DocumentFrequency::proportion(0.2);  // 0.8 documents: every term is in at least one
  CHECK_THROWS_WITH(CountVectorizer(o).fitTransform(kGuide), Contains("no terms remain"));
  CHECK_THROWS_WITH(CountVectorizer().transform(kGuide), Contains("not fitted"));
  CHECK_FALSE(CountVectorizer().fitted());
}

TEST_CASE("CountVectorizer: option validation", "[text][bad-input]") {
  CountVectorizerOptions o;
  o.minDf = DocumentFrequency::proportion(1.5);
  CHECK_THROWS_WITH(CountVectorizer(o), Contains("minDf expected in [0, 1], got 1.5"));
  o = CountVectorizerOptions();
  o.maxDf = DocumentFrequency::count(-1);
  CHECK_THROWS_WITH(CountVectorizer(o), Contains("maxDf expected a document count >= 0"));
  o = CountVectorizerOptions();
  o.maxFeatures = -3;
  CHECK_THROWS_WITH(CountVectorizer(o), Contains("maxFeatures expected >= 0"));
  o = CountVectorizerOptions();
  o.threads = -1;
  CHECK_THROWS_AS(CountVectorizer(o), std::invalid_argument);
  o = CountVectorizerOptions();
  o.vocabulary = {"a", "b", "a"};
  CHECK_THROWS_WITH(CountVectorizer(o), Contains("duplicate term 'a'"));
  Bm25VectorizerOptions b;
  b.b = 1.5;
  CHECK_THROWS_WITH(Bm25Vectorizer<double>(b), Contains("Bm25Vectorizer: b expected in [0, 1]"));
  b = Bm25VectorizerOptions();
  b.k1 = -1;
  CHECK_THROWS_WITH(Bm25Vectorizer<double>(b), Contains("k1 expected >= 0"));
}

TEST_CASE("CountVectorizer: invalid UTF-8 names the document", "[text][bad-input]") {
  const std::vector<std::string> docs = {"fine", "also fine", "bro\xC3ken"};
  CHECK_THROWS_WITH(CountVectorizer().fitTransform(docs),
                    Contains("CountVectorizer::fitTransform: document 2: invalid UTF-8: byte 0xC3 at offset 3"));
  CountVectorizer fitted;
  fitted.fit(kGuide);
  CHECK_THROWS_WITH(fitted.transform(docs), Contains("CountVectorizer::transform: document 2"));
  CountVectorizerOptions o;
  o.decodeError = DecodeError::replace;
  CHECK(CountVectorizer(o).fit(docs).vocabulary() == std::vector<std::string>{"also", "bro", "fine", "ken"});
}

TEST_CASE("TfidfVectorizer: smoothIdf = false with a term in no document", "[text][bad-input]") {
  TfidfVectorizerOptions o;
  o.vocabulary = {"document", "zebra"};
  o.smoothIdf = false;
  CHECK_THROWS_WITH(TfidfVectorizer<double>(o).fit(kGuide), Contains("'zebra' occurs in no document"));
  o.smoothIdf = true;  // smoothing keeps it finite: ln(5 / 1) + 1
  TfidfVectorizer<double> v(o);
  v.fit(kGuide);
  CHECK(v.idf()(1) == Approx(std::log(5.0) + 1.0).epsilon(1e-15));
}

// ---------------------------------------------------------------------------------------
// Vocabulary access, fixed vocabularies, the transformer on its own

TEST_CASE("CountVectorizer: a row weighting sees each row's counts once, learned or fixed vocabulary", "[text]") {
  // The weighting made from the fit's document frequencies is applied to every row as it
  // is written: here each value becomes count * 10 + df, checked against the plain counts.
  for (const bool fixed : {false, true}) {
    INFO((fixed ? "fixed" : "learned") << " vocabulary");
    CountVectorizerOptions options;
    if (fixed) options.vocabulary = {"document", "first", "is", "the", "this", "zebra"};
    CountVectorizer plain(options), weighted(options);
    const CountMatrix counts = plain.fitTransform(kGuide);
    int made = 0;
    std::vector<std::int64_t> seenDf;
    std::int64_t seenDocuments = 0;
    const MakeRowWeighting<double> make = [&](const std::vector<std::int64_t>& df, std::int64_t documents,
                                              const std::vector<std::string>& terms) {
      ++made;
      seenDf = df;
      seenDocuments = documents;
      CHECK(terms == plain.vocabulary());
      return RowWeighting<double>([df](const std::int64_t* columns, double* values, std::size_t n) {
        for (std::size_t k = 0; k < n; ++k) {
          if (k > 0) CHECK(columns[k - 1] < columns[k]);
          values[k] = values[k] * 10 + static_cast<double>(df[static_cast<std::size_t>(columns[k])]);
        }
      });
    };
    const CsrMatrix<double> m = weighted.fitTransformAs<double>(kGuide, make);
    CHECK(made == 1);
    CHECK(seenDf == plain.documentFrequency());
    CHECK(seenDocuments == 4);
    REQUIRE(m.nonZeros() == counts.nonZeros());
    for (Index i = 0; i < m.nonZeros(); ++i) {
      const auto column = static_cast<std::size_t>(counts.innerIndexPtr()[i]);
      CHECK(m.innerIndexPtr()[i] == counts.innerIndexPtr()[i]);
      CHECK(m.valuePtr()[i] == static_cast<double>(counts.valuePtr()[i] * 10 + plain.documentFrequency()[column]));
    }
    // A weighting that throws fails the fit, which leaves the vectorizer unfitted.
    CountVectorizer failing(options);
    const MakeRowWeighting<double> bad = [](const std::vector<std::int64_t>&, std::int64_t,
                                            const std::vector<std::string>&) -> RowWeighting<double> {
      throw std::invalid_argument("no weighting for these counts");
    };
    CHECK_THROWS_WITH(failing.fitTransformAs<double>(kGuide, bad), Contains("no weighting"));
    CHECK(failing.numDocuments() == 0);
  }
}

TEST_CASE("CountVectorizer: column lookup and fixed vocabularies in the given order", "[text]") {
  CountVectorizer cv;
  const CountMatrix X = cv.fitTransform(kGuide);
  CHECK(cv.numFeatures() == 9);
  CHECK(cv.column("document") == 1);
  CHECK(cv.column("zebra") == -1);
  CHECK(X.coeff(1, cv.column("document")) == 2);
  CHECK(cv.documentFrequency()[static_cast<std::size_t>(cv.column("this"))] == 4);
  CHECK(cv.numDocuments() == 4);

  CountVectorizerOptions o;
  o.vocabulary = {"this", "document", "first", "missing", "the first"};
  o.ngramRange = {1, 2};
  CountVectorizer fixed(o);
  CHECK(fixed.fitted());  // a fixed vocabulary needs no fit
  const CountMatrix F = fixed.transform(kGuide);
  CHECK(F.cols() == 5);
  CHECK(fixed.column("first") == 2);
  CHECK(fixed.column("the first") == 4);
  CHECK(F.coeff(1, 1) == 2);  // "document" twice in document 1
  CHECK(F.coeff(0, 4) == 1);
  CHECK(F.coeff(0, 3) == 0);
}

TEMPLATE_TEST_CASE("TfidfTransformer on counts equals TfidfVectorizer", "[text]", float, double) {
  CountVectorizer cv;
  const CountMatrix counts = cv.fitTransform(kGuide);
  TfidfTransformer<TestType> t;
  t.fit(counts);
  TfidfVectorizer<TestType> v;
  const SparseRowMatrix<TestType> expected = v.fitTransform(kGuide);
  CHECK(sameSparse(t.transform(counts), expected));
  // scikit-learn's user guide: idf of "this" (in all 4 documents) is 1, of "and" ln(5/2) + 1.
  CHECK(t.idf()(cv.column("this")) == Approx(1.0));
  CHECK(t.idf()(cv.column("and")) == Approx(std::log(2.5) + 1.0));
  CountMatrix wrong(2, 3);
  CHECK_THROWS_WITH(t.transform(wrong), Contains("counts expected 9 columns, got 3 columns"));
  CHECK_THROWS_WITH(TfidfTransformer<TestType>().transform(counts), Contains("not fitted"));
}

TEST_CASE("TfidfTransformer: sublinear tf times idf worked by hand, small and large counts", "[text]") {
  // Counts below and above the table of 1 + ln(count), and a fractional value given to
  // weighInPlace: every weight is (1 + ln(count)) * (ln((n + 1) / (df + 1)) + 1) exactly.
  const std::vector<std::vector<std::int64_t>> rows = {{1, 2, 63}, {64, 1000, 0}, {0, 0, 5}, {7, 0, 0}};
  CountMatrix counts(4, 3);
  for (Index i = 0; i < 4; ++i) {
    for (Index j = 0; j < 3; ++j) {
      if (rows[i][j] != 0) counts.insert(i, j) = rows[i][j];
    }
  }
  counts.makeCompressed();
  TfidfTransformer<double> t({Norm::none, true, true, true});
  t.fit(counts);
  const std::vector<double> df = {3, 2, 2};
  auto expected = [&](double count, Index j) {
    return (std::log(count) + 1.0) * (std::log(5.0 / (df[static_cast<std::size_t>(j)] + 1.0)) + 1.0);
  };
  const SparseRowMatrix<double> w = t.transform(counts);
  for (Index i = 0; i < 4; ++i) {
    for (Index j = 0; j < 3; ++j) {
      const auto c = static_cast<double>(rows[i][j]);
      CHECK(w.coeff(i, j) == (c == 0 ? 0.0 : expected(c, j)));
    }
  }
  SparseRowMatrix<double> fractional = counts.cast<double>();
  fractional.coeffRef(0, 1) = 2.5;
  t.weighInPlace(fractional);
  CHECK(fractional.coeff(0, 1) == expected(2.5, 1));
  CHECK(fractional.coeff(0, 0) == expected(1.0, 0));
}

// ---------------------------------------------------------------------------------------
// BM25, worked by hand

TEMPLATE_TEST_CASE("Bm25Vectorizer: weights worked by hand", "[text][bm25]", float, double) {
  // counts: d0 {aa: 2, bb: 1}, d1 {bb: 1, cc: 1}, d2 {aa: 1}; n = 3, df = (2, 2, 1),
  // lengths 3, 2, 1, avgdl = 2, k1 = 1.2, b = 0.75.
  const std::vector<std::string> docs = {"aa bb aa", "bb cc", "aa"};
  Bm25Vectorizer<TestType> bm25;
  const SparseRowMatrix<TestType> W = bm25.fitTransform(docs);
  REQUIRE(bm25.vocabulary() == std::vector<std::string>{"aa", "bb", "cc"});
  const double idfAB = std::log(1.6), idfC = std::log(8.0 / 3.0);  // ln(1 + (3 - df + .5) / (df + .5))
  CHECK(bm25.averageLength() == Approx(2.0));
  CHECK(bm25.idf()(0) == Approx(idfAB));
  CHECK(bm25.idf()(2) == Approx(idfC));
  // d0: K = 1.2 (0.25 + 0.75 * 3 / 2) = 1.65
  CHECK(W.coeff(0, 0) == Approx(idfAB * 2 * 2.2 / (2 + 1.65)));
  CHECK(W.coeff(0, 1) == Approx(idfAB * 2.2 / (1 + 1.65)));
  // d1: K = 1.2, so w = idf
  CHECK(W.coeff(1, 1) == Approx(idfAB));
  CHECK(W.coeff(1, 2) == Approx(idfC));
  // d2: K = 1.2 (0.25 + 0.75 / 2) = 0.75
  CHECK(W.coeff(2, 0) == Approx(idfAB * 2.2 / 1.75));
  CHECK(W.nonZeros() == 5);

  Bm25VectorizerOptions o;
  o.idf = Bm25Idf::robertsonSparckJones;
  o.b = 0;
  o.k1 = 2;
  Bm25Vectorizer<TestType> rsj(o);
  const SparseRowMatrix<TestType> R = rsj.fitTransform(docs);
  CHECK(rsj.idf()(0) == Approx(std::log(0.6)));  // negative: "aa" is in 2 of 3 documents
  CHECK(R.coeff(0, 0) == Approx(std::log(0.6) * 2 * 3 / (2 + 2)));
  CHECK(R.coeff(1, 2) == Approx(std::log(2.5 / 1.5) * 3 / (1 + 2)));
  // A new document: its own length against the fitted avgdl.
  const SparseRowMatrix<TestType> Q = bm25.transform(std::vector<std::string>{"cc cc cc zz"});
  CHECK(Q.coeff(0, 2) == Approx(idfC * 3 * 2.2 / (3 + 1.2 * (0.25 + 0.75 * 3 / 2.0))));
  // transform weighs rows as it writes them, fitTransform after counting: the same numbers.
  CHECK(sameSparse(bm25.transform(docs), W));
}

// ---------------------------------------------------------------------------------------
// Files

TEST_CASE("Files: one document per line, CRLF, last line without newline", "[text][file]") {
  const std::vector<std::string> lines = {"This is the first document.", "", "Second   document,  second line",
                                          "Third: the end"};
  TempFile file("lines", "This is the first document.\r\n\nSecond   document,  second line\nThird: the end");
  TfidfVectorizer<double> fromFile;
  const SparseRowMatrix<double> A = fromFile.fitTransformFile(file.path);
  TfidfVectorizer<double> fromMemory;
  const SparseRowMatrix<double> B = fromMemory.fitTransform(lines);
  REQUIRE(fromFile.vocabulary() == fromMemory.vocabulary());
  CHECK(A.rows() == 4);
  CHECK(sameSparse(A, B));
  CHECK(sameSparse(fromFile.transformFile(file.path), B));
  CHECK(sameSparse(fromMemory.transformFile(file.path), B));
}

TEST_CASE("Files: lines split across read blocks", "[text][file]") {
  std::string content;
  std::vector<std::string> expected;
  for (int i = 0; i < 50; ++i) {
    std::string line(static_cast<std::size_t>(i % 13), 'a' + static_cast<char>(i % 26));
    expected.push_back(line);
    content += line + (i % 3 == 0 ? "\r\n" : "\n");
  }
  TempFile file("blocks", content);
  for (const bool map : {true, false}) {
  for (std::size_t block : {std::size_t{1}, std::size_t{7}, std::size_t{64}, std::size_t{1} << 20}) {
    INFO((map ? "mapped" : "read") << ", blocks of " << block << " bytes");
    text::detail::FileDocuments source(file.path, 1000, block, map);
    CHECK(source.mapped() == (map && EIGENREC_TEXT_MAPPED_FILES));
    text::detail::DocumentBlock b[2];
    std::vector<std::string> got;
    std::int64_t nextLine = 1;
    int k = 0;
    std::vector<std::string> previousCopy;
    while (source.next(b[k])) {
      CHECK(b[k].firstLine == nextLine);
      for (auto d : b[k].docs) got.emplace_back(d);
      nextLine += static_cast<std::int64_t>(b[k].docs.size());
      // The previous block's views stay valid while the next one is read (read-ahead).
      std::vector<std::string> previousNow(b[1 - k].docs.begin(), b[1 - k].docs.end());
      CHECK(previousNow == previousCopy);
      previousCopy.assign(b[k].docs.begin(), b[k].docs.end());
      k = 1 - k;
    }
    CHECK(got == expected);
  }
  }
}

TEST_CASE("Files: a mapped file read in blocks, the pages of finished blocks released", "[text][file]") {
  // Megabytes in blocks of 64 KiB: whole pages of the blocks two behind are dropped from
  // the process as it goes; every line still arrives, the same as read into buffers.
  std::string content;
  for (int i = 0; i < 60000; ++i) content += "line " + std::to_string(i) + std::string(static_cast<std::size_t>(i % 70), 'x') + "\n";
  content += "last line, no newline";
  TempFile file("mapped", content);
  const auto lines = [&](bool map) {
    text::detail::FileDocuments source(file.path, 1 << 20, std::size_t{64} << 10, map);
    text::detail::DocumentBlock block;
    std::vector<std::string> got;
    std::size_t blocks = 0;
    while (source.next(block)) {
      ++blocks;
      for (auto d : block.docs) got.emplace_back(d);
    }
    CHECK(blocks > 40);
    CHECK(source.bytesRead() == static_cast<std::int64_t>(content.size()));
    return got;
  };
  const std::vector<std::string> mapped = lines(true), read = lines(false);
  REQUIRE(mapped.size() == 60001);
  CHECK(mapped.back() == "last line, no newline");
  CHECK(mapped == read);
}

TEST_CASE("Files: bad lines are FormatErrors with file:line:column", "[text][file][bad-input]") {
  TempFile file("bad", "good line\nanother good one\nbad \xFF byte here\n");
  try {
    TfidfVectorizer<double>().fitTransformFile(file.path);
    FAIL("expected a FormatError");
  } catch (const FormatError& e) {
    CHECK(e.source() == file.path);
    CHECK(e.line() == 3);
    CHECK(e.column() == 5);
    CHECK_THAT(e.message(), Contains("invalid UTF-8 byte 0xff"));
  }
  TfidfVectorizerOptions o;
  o.maxDocumentBytes = 12;
  TempFile longLine("long", "short\nthis line is far too long\nshort\n");
  try {
    TfidfVectorizer<double>(o).fitTransformFile(longLine.path);
    FAIL("expected a FormatError");
  } catch (const FormatError& e) {
    CHECK(e.line() == 2);
    CHECK_THAT(e.message(), Contains("maxDocumentBytes = 12"));
  }
  TempFile noNewline("nonl", std::string(100, 'x'));
  CHECK_THROWS_AS(TfidfVectorizer<double>(o).fitTransformFile(noNewline.path), FormatError);
  CHECK_THROWS_AS(TfidfVectorizer<double>().fitTransformFile("/nonexistent/eigenrec/docs.txt"), IoError);
  TempFile empty("empty", "");
  CHECK_THROWS_WITH(TfidfVectorizer<double>().fitTransformFile(empty.path), Contains("no documents"));
}

namespace {

// About `bytes` of lines: Zipf-like words, some accented, 0 to about 60 words a line.
std::string zipfLines(std::size_t bytes) {
  std::string text;
  std::uint64_t state = 42;
  const auto next = [&]() {
    state = state * 6364136223846793005ULL + 1442695040888963407ULL;
    return static_cast<std::uint32_t>(state >> 33);
  };
  while (text.size() < bytes) {
    const std::uint32_t words = next() % 60;
    for (std::uint32_t w = 0; w < words; ++w) {
      const std::uint32_t r = next() % 100;
      const std::uint32_t id = r < 60 ? next() % 50 : (r < 95 ? next() % 5000 : next() % 200000);
      text += (id % 11 == 0) ? "\xc3\xa9t\xc3\xa9" : "w";
      text += std::to_string(id);
      text += ' ';
    }
    text += '\n';
  }
  return text;
}

}  // namespace

TEST_CASE("StringTable: ids and strings survive releaseLookup", "[text][tables]") {
  namespace td = eigenrec::text::detail;
  td::StringTable t;
  t.reserve(10);
  std::vector<std::string> words;
  for (int i = 0; i < 300; ++i) words.push_back("word" + std::to_string(i) + (i % 3 == 0 ? "-a-longer-tail" : ""));
  bool inserted = false;
  for (const auto& w : words) t.findOrInsert(w, td::hashBytes(w.data(), w.size()), inserted);
  t.releaseLookup();
  REQUIRE(t.size() == words.size());
  for (std::uint32_t id = 0; id < words.size(); ++id) CHECK(t.at(id) == words[id]);
  CHECK(t.find(words[7], td::hashBytes(words[7].data(), words[7].size())) == 7);
  CHECK(t.find("absent", td::hashBytes("absent", 6)) == -1);
  // A later insertion rebuilds the lookup: old ids stay, the new word comes next.
  CHECK(t.findOrInsert(words[42], td::hashBytes(words[42].data(), words[42].size()), inserted) == 42);
  CHECK_FALSE(inserted);
  CHECK(t.findOrInsert("new", td::hashBytes("new", 3), inserted) == 300);
  CHECK(inserted);
  CHECK(t.at(300) == "new");
}

TEST_CASE("StringTable: states live in the slots and survive rehashing; equal 16-byte heads", "[text][tables]") {
  namespace td = eigenrec::text::detail;
  // Strings of every length from 1 to 40 bytes sharing long heads: the slot compares 16
  // bytes and the length, longer strings are compared in full.
  std::vector<std::string> words;
  for (int i = 0; i < 2000; ++i) {
    std::string w = std::string("0123456789abcdefghijklmnopqrstuvwxyz0123").substr(0, static_cast<std::size_t>(1 + i % 40));
    w[w.size() - 1] = static_cast<char>('A' + (i / 40) % 26);
    if (i / 1040 > 0) w += "!";
    words.push_back(w);
  }
  std::sort(words.begin(), words.end());
  words.erase(std::unique(words.begin(), words.end()), words.end());
  REQUIRE(words.size() > 1000);
  td::StringTable t;  // 64 slots: grows (rehashes) several times below
  bool inserted = false;
  for (std::uint32_t i = 0; i < words.size(); ++i) {
    std::string padded = words[i] + std::string(td::kTokenPadding, '\x7F');
    const td::StringTable::Entry e = t.findOrInsert(words[i], td::PaddedKey(padded.data(), words[i].size()), inserted);
    REQUIRE(inserted);
    REQUIRE(e.id == i);
    CHECK(e.state->lastDoc == 0);
    CHECK(e.state->lastPos == 0);
    *e.state = td::StringTable::State{i + 1, 3 * i};
  }
  for (std::uint32_t i = 0; i < words.size(); ++i) {
    std::string padded = words[i] + std::string(td::kTokenPadding, '\x01');
    const td::StringTable::Entry e = t.findOrInsert(words[i], td::PaddedKey(padded.data(), words[i].size()), inserted);
    CHECK_FALSE(inserted);
    CHECK(e.id == i);
    CHECK(e.state->lastDoc == i + 1);
    CHECK(e.state->lastPos == 3 * i);
    CHECK(t.find(words[i], td::hashBytes(words[i].data(), words[i].size())) == i);
  }
  std::size_t states = 0;
  t.forEachState([&](td::StringTable::State& s) {
    ++states;
    s.lastDoc = 0;
  });
  CHECK(states == words.size());
  for (const auto& w : words) {
    std::string padded = w + std::string(td::kTokenPadding, '\0');
    CHECK(t.findOrInsert(w, td::PaddedKey(padded.data(), w.size()), inserted).state->lastDoc == 0);
  }
  CHECK(t.find("0123456789abcdef?", td::hashBytes("0123456789abcdef?", 17)) == -1);
}

TEST_CASE("PaddedKey: the hash, prefix and second word of hashBytes / readSmall, whatever follows the string", "[text][tables]") {
  namespace td = eigenrec::text::detail;
  // The token loops hash with whole-word loads past the token's end (the analyzer pads
  // its buffers): the bytes there must not change the key, for every length.
  const std::string text = "abcdefghijklmnopqrstuvwxyz0123456789ABCDEFGHIJ";
  for (std::size_t n = 1; n + td::kTokenPadding <= text.size(); ++n) {
    INFO("length " << n);
    std::string padded = text.substr(0, n) + std::string(td::kTokenPadding, '\xAB');
    const td::PaddedKey key(padded.data(), n);
    const std::string exact = text.substr(0, n);  // nothing readable after it but the terminator
    CHECK(key.hash == td::hashBytes(exact.data(), n));
    CHECK(key.prefix == td::readSmall(exact.data(), std::min<std::size_t>(n, 8)));
    CHECK(key.second == (n <= 8 ? 0 : td::readSmall(exact.data() + 8, std::min<std::size_t>(n - 8, 8))));
    const td::PaddedKey other(text.data(), n);  // followed by the rest of the text instead
    CHECK(other.hash == key.hash);
    CHECK(other.prefix == key.prefix);
    CHECK(other.second == key.second);
  }
  // readSmall is the bytes zero-extended, least significant first.
  CHECK(td::readSmall("\x01\x02\x03", 3) == 0x030201u);
  CHECK(td::readSmall("\x01\x02\x03\x04\x05\x06\x07", 7) == 0x07060504030201u);
}

TEST_CASE("hashBytes: short strings of every length differ, long ones hash every byte", "[text][tables]") {
  namespace td = eigenrec::text::detail;
  // Strings of up to 8 bytes hash with one folded multiply: a string and its prefixes,
  // and strings differing in any one byte, get different hashes (and so different low bits
  // for nearly all of them, which pick the slot).
  std::vector<std::uint64_t> hashes;
  const std::string base = "abcdefghijklmnopqrst";
  for (std::size_t n = 0; n <= base.size(); ++n) {
    hashes.push_back(td::hashBytes(base.data(), n));
    for (std::size_t i = 0; i < n; ++i) {
      std::string changed = base.substr(0, n);
      changed[i] = static_cast<char>(changed[i] ^ 0x20);
      hashes.push_back(td::hashBytes(changed.data(), n));
    }
  }
  std::vector<std::uint64_t> sorted = hashes;
  std::sort(sorted.begin(), sorted.end());
  CHECK(std::adjacent_find(sorted.begin(), sorted.end()) == sorted.end());
  std::set<std::uint64_t> lowBits;
  for (const std::uint64_t h : hashes) lowBits.insert(h & 0xFFFF);
  CHECK(lowBits.size() >= hashes.size() - 3);
}


TEST_CASE("KeyTable: keys survive releaseLookup; the next table reuses the slot memory", "[text][tables]") {
  namespace td = eigenrec::text::detail;
  bool inserted = false;
  td::KeyTable first(2, 1000);
  for (std::uint64_t i = 1; i <= 1000; ++i) {
    const std::uint64_t key[2] = {i, i * 7};
    REQUIRE(first.findOrInsert(key, td::hashKey(key, 2), inserted) == i - 1);
  }
  std::vector<std::uint64_t> slots = first.releaseLookup();
  REQUIRE(first.size() == 1000);
  CHECK(first.key(41)[0] == 42);
  CHECK(first.key(41)[1] == 42 * 7);
  // The handed-over memory still holds the first table's slots: the new table must not
  // see them as entries.
  const std::uint64_t* memory = slots.data();
  td::KeyTable second(2, 500, std::move(slots));
  const std::uint64_t present[2] = {5, 35};
  CHECK(second.find(present, td::hashKey(present, 2)) == -1);
  CHECK(second.findOrInsert(present, td::hashKey(present, 2), inserted) == 0);
  CHECK(inserted);
  CHECK(second.find(present, td::hashKey(present, 2)) == 0);
  CHECK(second.memoryBytes() >= 8 * 3 * 64);
  // Large enough: the same pages, no new allocation.
  CHECK(second.releaseLookup().data() == memory);
}

TEST_CASE("FitCounts moves its matrix without copying it", "[text][tables]") {
  eigenrec::text::detail::FitCounts<double> a;
  a.counts.resize(3, 4);
  a.counts.insert(1, 2) = 5.0;
  a.counts.makeCompressed();
  a.vocabulary = {"a", "b", "c", "d"};
  const double* values = a.counts.valuePtr();
  eigenrec::text::detail::FitCounts<double> b(std::move(a));
  CHECK(b.counts.valuePtr() == values);
  CHECK(b.counts.coeff(1, 2) == 5.0);
  CHECK(b.vocabulary.size() == 4);
  eigenrec::text::detail::FitCounts<double> c;
  c = std::move(b);
  CHECK(c.counts.valuePtr() == values);
}
TEST_CASE("Chunk pipeline: blocks read ahead give the serial result; the first bad line wins", "[text][file][threads]") {
  // Blocks of 64 KiB (the reader's default is 4 MiB): about 20 blocks of one chunk each,
  // so that threads go on with the next block while the previous ones finish.
  namespace td = eigenrec::text::detail;
  std::string text = zipfLines(std::size_t{5} << 18);
  TempFile file("blocks", text);
  const Analyzer analyzer;
  const auto analyze = [&](const std::string& path, int threads) {
    td::FileDocuments source(path, std::int64_t{1} << 20, std::size_t{64} << 10);
    td::Analysis analysis = td::analyzeAll(analyzer, source, threads, "test", {}, 0);
    // A unit table per worker, shared by the chunks it took in turn.
    CHECK(analysis.tables.size() <= static_cast<std::size_t>(threads));
    std::vector<std::string> units = td::rankUnits(analyzer, analysis, threads);
    return std::make_pair(std::move(units), std::move(analysis.chunks));
  };
  const auto serial = analyze(file.path, 1);
  REQUIRE(serial.second.size() >= 18);
  REQUIRE(serial.first.size() > 10000);
  CHECK(std::is_sorted(serial.first.begin(), serial.first.end()));
  for (int threads : {2, 3}) {
    INFO("threads " << threads);
    const auto parallel = analyze(file.path, threads);
    CHECK(parallel.first == serial.first);  // the units merged in parts give the same ranks
    REQUIRE(parallel.second.size() == serial.second.size());
    bool same = true;
    for (std::size_t c = 0; c < serial.second.size(); ++c) {
      const td::Chunk& a = serial.second[c];
      const td::Chunk& b = parallel.second[c];
      same = same && a.firstDoc == b.firstDoc && a.stream == b.stream && a.docEnds == b.docEnds && a.counts == b.counts;
    }
    CHECK(same);
  }
  // Counting and selection over those chunks (unigrams, and the n-gram groups): the same
  // vocabulary, frequencies and matrix, entry by entry, on every thread count, and with
  // the file read into buffers (2 threads: other block boundaries, the same result).
  for (int maxN : {1, 2}) {
    INFO("ngram (1, " << maxN << ")");
    AnalyzerOptions options;
    options.ngramRange = {1, maxN};
    const Analyzer ngrams(options);
    const auto fit = [&](int threads) {
      td::FileDocuments source(file.path, std::int64_t{1} << 20, std::size_t{64} << 10, threads != 2);
      td::Analysis analysis = td::analyzeAll(ngrams, source, threads, "test", {}, 0);
      std::vector<std::string> units = td::rankUnits(ngrams, analysis, threads);
      td::Selection selection;
      selection.maxDocCount = 1e18;
      selection.minDocCount = 2;
      return td::countAndSelect<double>(ngrams, analysis.chunks, units, selection, threads, "test");
    };
    const td::FitCounts<double> one = fit(1);
    REQUIRE(one.counts.nonZeros() > 10000);
    for (int threads : {2, 3}) {
      INFO("threads " << threads);
      const td::FitCounts<double> many = fit(threads);
      CHECK(many.vocabulary == one.vocabulary);
      CHECK(many.documentFrequency == one.documentFrequency);
      REQUIRE(many.counts.rows() == one.counts.rows());
      REQUIRE(many.counts.nonZeros() == one.counts.nonZeros());
      CHECK(std::equal(one.counts.outerIndexPtr(), one.counts.outerIndexPtr() + one.counts.rows() + 1,
                       many.counts.outerIndexPtr()));
      CHECK(std::equal(one.counts.innerIndexPtr(), one.counts.innerIndexPtr() + one.counts.nonZeros(),
                       many.counts.innerIndexPtr()));
      CHECK(std::equal(one.counts.valuePtr(), one.counts.valuePtr() + one.counts.nonZeros(), many.counts.valuePtr()));
    }
  }
  // transform's pipeline: counts of the fitted vocabulary, as fitTransform gave them.
  CountVectorizer fitted;
  const CountMatrix X = fitted.fitTransformFile(file.path);
  const td::Lookup lookup(analyzer, fitted.vocabulary());
  for (int threads : {1, 3}) {
    td::FileDocuments source(file.path, std::int64_t{1} << 20, std::size_t{64} << 10);
    const auto T = td::countWithLookup<std::int64_t>(analyzer, lookup, static_cast<Index>(fitted.vocabulary().size()),
                                                      source, threads, "test", {}, 0);
    CHECK(sameSparse(T, X));
  }

  // Two bad lines, about a third and two thirds into the file: every thread count
  // reports the first, with its line and column.
  const std::size_t first = text.find('\n', text.size() / 3) + 1;
  const std::size_t later = text.find('\n', 2 * text.size() / 3) + 1;
  const auto firstLine = 1 + std::count(text.begin(), text.begin() + static_cast<std::ptrdiff_t>(first), '\n');
  text.insert(later, "ok \xFF\n");
  text.insert(first, "fine w1 \xC3\n");
  TempFile bad("blocks_bad", text);
  for (int threads : {1, 2, 3}) {
    INFO("threads " << threads);
    try {
      analyze(bad.path, threads);
      FAIL("expected a FormatError");
    } catch (const FormatError& e) {
      CHECK(e.line() == firstLine);
      CHECK(e.column() == 9);
    }
  }
}

namespace {

// A small LCG for the generated corpora below.
struct Lcg {
  std::uint64_t state;
  std::uint32_t operator()() {
    state = state * 6364136223846793005ULL + 1442695040888963407ULL;
    return static_cast<std::uint32_t>(state >> 33);
  }
};

// Checks each row of `m` against plain counting: expected[d] maps a term to its count in
// document d, `columns` maps the vocabulary's terms to their columns (other terms are
// not in the matrix). Reports the first row that differs.
void checkRows(const CountMatrix& m, const std::vector<std::map<std::string, std::int64_t>>& expected,
               const std::map<std::string, std::int64_t>& columns) {
  REQUIRE(m.rows() == static_cast<Index>(expected.size()));
  bool same = true;
  for (std::size_t d = 0; d < expected.size() && same; ++d) {
    std::vector<std::pair<std::int64_t, std::int64_t>> want, got;
    for (const auto& [term, count] : expected[d]) {
      const auto it = columns.find(term);
      if (it != columns.end()) want.emplace_back(it->second, count);
    }
    std::sort(want.begin(), want.end());
    for (CountMatrix::InnerIterator it(m, static_cast<Index>(d)); it; ++it) got.emplace_back(it.col(), it.value());
    if (got != want) {
      same = false;
      INFO("document " << d << ": " << got.size() << " entries, expected " << want.size());
      CHECK(got == want);
    }
  }
  CHECK(same);
}

}  // namespace

TEST_CASE("rankUnits: worker tables merged in byte order, streams renumbered to ranks", "[text][tables][threads]") {
  namespace td = eigenrec::text::detail;
  // Units that share 8-byte prefixes, of lengths around 8 (where the sort and the merge
  // decide by length) and beyond 16, spread over three tables that overlap, plus one
  // empty table: the ranks must be those of the sorted union, for any thread count.
  std::vector<std::string> pool;
  for (const char* stem : {"abcdefgh", "abcdefg", "abcdefghij", "zz", "\xC3\xA9t\xC3\xA9", "a", "ab"}) {
    for (const char* tail : {"", "a", "b", "ab", "0123456789abcdef", "0123456789abcdefg", "~"}) pool.push_back(std::string(stem) + tail);
  }
  for (int i = 0; i < 3000; ++i) pool.push_back("w" + std::to_string(i * 7919 % 10007));
  std::sort(pool.begin(), pool.end());
  pool.erase(std::unique(pool.begin(), pool.end()), pool.end());
  for (int threads : {1, 2, 3}) {
    INFO("threads " << threads);
    td::Analysis analysis;
    std::vector<std::vector<std::string>> streams;  // the strings each chunk's stream names
    Lcg next{static_cast<std::uint64_t>(threads)};
    for (std::size_t t = 0; t < 4; ++t) {
      analysis.tables.push_back(std::make_unique<td::UnitTable>());
      if (t == 3) continue;  // an empty table
      for (int c = 0; c < 2; ++c) {
        td::Chunk chunk;
        chunk.table = t;
        std::vector<std::string> names;
        for (int k = 0; k < 400; ++k) {
          const std::string& u = pool[next() % pool.size()];
          bool inserted = false;
          chunk.stream.push_back(analysis.tables[t]->strings.findOrInsert(u, td::hashBytes(u.data(), u.size()), inserted));
          names.push_back(u);
        }
        chunk.docEnds.push_back(static_cast<std::uint32_t>(chunk.stream.size()));
        analysis.chunks.push_back(std::move(chunk));
        streams.push_back(std::move(names));
      }
    }
    std::set<std::string> all;
    for (const auto& names : streams) all.insert(names.begin(), names.end());
    const std::vector<std::string> units = td::rankUnits(Analyzer(), analysis, threads);
    CHECK(units == std::vector<std::string>(all.begin(), all.end()));
    REQUIRE(analysis.chunks.size() == streams.size());
    for (std::size_t c = 0; c < streams.size(); ++c) {
      for (std::size_t k = 0; k < streams[c].size(); ++k) {
        REQUIRE(analysis.chunks[c].stream[k] < units.size());
        CHECK(units[analysis.chunks[c].stream[k]] == streams[c][k]);
      }
    }
  }
}

TEST_CASE("CountVectorizer: rows of every length, in a large vocabulary, against plain counting", "[text]") {
  // Rows are put in column order by bitmaps, or by sorting when a row is short next to
  // the vocabulary (80000 terms: rows of up to 4 distinct terms); both against std::map.
  Lcg next{7};
  std::vector<std::string> docs;
  for (int d = 0; d < 30000; ++d) {
    std::string doc;
    const std::uint32_t words = d < 80000 / 4 ? 4 : next() % 200;
    for (std::uint32_t w = 0; w < words; ++w) {
      const std::uint32_t id = d < 80000 / 4 ? static_cast<std::uint32_t>(4 * d) + w : next() % 80000;
      doc += "t" + std::to_string(id) + (w % 3 == 0 ? " t" + std::to_string(id) + " " : " ");
    }
    docs.push_back(std::move(doc));
  }
  const Analyzer analyzer;
  std::map<std::string, std::int64_t> columns;
  std::vector<std::map<std::string, std::int64_t>> expected(docs.size());
  for (std::size_t d = 0; d < docs.size(); ++d) {
    for (const auto& t : analyzer.tokenize(docs[d])) {
      ++expected[d][t];
      columns[t] = 0;
    }
  }
  std::int64_t c = 0;
  for (auto& [term, column] : columns) column = c++;
  CountVectorizer vectorizer;
  const CountMatrix m = vectorizer.fitTransform(docs);
  REQUIRE(vectorizer.numFeatures() == static_cast<Index>(columns.size()));
  REQUIRE(columns.size() == 80000);
  checkRows(m, expected, columns);
  // transform puts its rows in order the same two ways, with repeated terms counted.
  checkRows(vectorizer.transform(docs), expected, columns);
  CountVectorizerOptions twoThreads;
  twoThreads.threads = 2;
  CountVectorizer parallel(twoThreads);
  parallel.fit(docs);
  checkRows(parallel.transform(docs), expected, columns);
}

TEST_CASE("CountVectorizer: n-gram rows assembled from many groups, against plain counting", "[text]") {
  // Enough n-grams for dozens of count groups and chunks of more than one row batch;
  // min_df = 2 prunes most bigrams, so pruned entries are dropped on the way.
  Lcg next{11};
  std::vector<std::string> docs;
  for (int d = 0; d < 6000; ++d) {
    std::string doc;
    const std::uint32_t words = next() % 200;
    for (std::uint32_t w = 0; w < words; ++w) doc += "t" + std::to_string(next() % (next() % 2 ? 50 : 20000)) + " ";
    docs.push_back(std::move(doc));
  }
  const Analyzer analyzer;
  std::vector<std::map<std::string, std::int64_t>> expected(docs.size());
  std::map<std::string, std::int64_t> df;
  for (std::size_t d = 0; d < docs.size(); ++d) {
    const auto tokens = analyzer.tokenize(docs[d]);
    for (std::size_t i = 0; i < tokens.size(); ++i) {
      ++expected[d][tokens[i]];
      if (i + 1 < tokens.size()) ++expected[d][tokens[i] + " " + tokens[i + 1]];
    }
    for (const auto& [term, count] : expected[d]) ++df[term];
  }
  std::map<std::string, std::int64_t> columns;
  for (const auto& [term, n] : df) {
    if (n >= 2) columns.emplace(term, 0);
  }
  std::int64_t c = 0;
  for (auto& [term, column] : columns) column = c++;
  CountVectorizerOptions options;
  options.ngramRange = {1, 2};
  options.minDf = DocumentFrequency::count(2);
  CountVectorizer vectorizer(options);
  const CountMatrix m = vectorizer.fitTransform(docs);
  REQUIRE(vectorizer.numFeatures() == static_cast<Index>(columns.size()));
  CHECK(vectorizer.vocabulary().front() == columns.begin()->first);
  checkRows(m, expected, columns);
}

TEST_CASE("Progress is reported while counting a file", "[text][file]") {
  TempFile file("progress", "one two\nthree four\n");
  TfidfVectorizerOptions o;
  std::vector<Progress> reports;
  o.progress = [&](const Progress& p) { reports.push_back(p); };
  TfidfVectorizer<double>(o).fitTransformFile(file.path);
  REQUIRE_FALSE(reports.empty());
  CHECK(reports.back().finished);
  CHECK(reports.back().done == reports.back().total);
  CHECK(reports.back().unit == "bytes");
}

// ---------------------------------------------------------------------------------------
// Save / load

TEMPLATE_TEST_CASE("Save / load round trips give the same transform", "[text][serialize]", float, double) {
  TfidfVectorizerOptions o;
  o.ngramRange = {1, 2};
  o.sublinearTf = true;
  o.norm = Norm::l1;
  o.stopWords = {"is"};
  o.stripAccents = StripAccents::unicode;
  TfidfVectorizer<TestType> v(o);
  v.fit(kGuide);
  std::stringstream buffer;
  v.save(buffer);
  const auto loaded = TfidfVectorizer<TestType>::load(buffer, "mem");
  CHECK(loaded.vocabulary() == v.vocabulary());
  CHECK(loaded.options().ngramRange == o.ngramRange);
  CHECK(loaded.options().stripAccents == StripAccents::unicode);
  CHECK(loaded.options().norm == Norm::l1);
  const std::vector<std::string> fresh = {"The first document is here", "Crème document"};
  CHECK(sameSparse(loaded.transform(fresh), v.transform(fresh)));

  Bm25Vectorizer<TestType> bm25;
  bm25.fit(kGuide);
  TempFile file("bm25");
  bm25.saveFile(file.path);
  const auto bm25Loaded = Bm25Vectorizer<TestType>::loadFile(file.path);
  CHECK(bm25Loaded.averageLength() == bm25.averageLength());
  CHECK(sameSparse(bm25Loaded.transform(fresh), bm25.transform(fresh)));

  CountVectorizerOptions co;
  co.vocabulary = {"zeta", "alpha", "first"};
  CountVectorizer counter(co);
  counter.fit(kGuide);
  std::stringstream cbuffer;
  counter.save(cbuffer);
  const CountVectorizer counterLoaded = CountVectorizer::load(cbuffer);
  CHECK(counterLoaded.vocabulary() == co.vocabulary);
  CHECK(counterLoaded.column("alpha") == 1);
  CHECK(sameSparse(counterLoaded.transform(kGuide), counter.transform(kGuide)));
}

TEST_CASE("Load rejects wrong, truncated and corrupted archives", "[text][serialize][bad-input]") {
  TfidfVectorizer<double> v;
  v.fit(kGuide);
  std::stringstream buffer;
  v.save(buffer);
  const std::string bytes = buffer.str();
  {
    std::istringstream in(bytes.substr(0, bytes.size() / 2));
    CHECK_THROWS_AS(TfidfVectorizer<double>::load(in, "half"), FormatError);
  }
  {
    std::string corrupted = bytes;
    corrupted[corrupted.size() / 2] ^= 0x20;
    std::istringstream in(corrupted);
    CHECK_THROWS_AS(TfidfVectorizer<double>::load(in, "flipped"), FormatError);
  }
  {
    std::istringstream in(bytes);
    CHECK_THROWS_WITH(Bm25Vectorizer<double>::load(in, "kind"), Contains("expected 'text.Bm25Vectorizer'"));
  }
  {
    std::istringstream in("not an archive at all");
    CHECK_THROWS_AS(CountVectorizer::load(in), FormatError);
  }
  std::stringstream out;
  CHECK_THROWS_WITH(TfidfVectorizer<double>().save(out), Contains("not fitted"));
  CHECK_THROWS_AS(TfidfVectorizer<double>::loadFile("/nonexistent/eigenrec/model.bin"), IoError);
}

// ---------------------------------------------------------------------------------------
// Matrix Market

TEST_CASE("Matrix Market: write then read gives the same matrix", "[text][io][matrix_market]") {
  SparseRowMatrix<double> m(3, 4);
  m.insert(0, 1) = 0.1;
  m.insert(0, 3) = -2.5e-300;
  m.insert(2, 0) = 1.0 / 3.0;
  m.makeCompressed();
  std::stringstream s;
  io::writeMatrixMarket(s, m, "made by a test\nsecond comment line");
  const std::string text = s.str();
  CHECK(text.rfind("%%MatrixMarket matrix coordinate real general\n%made by a test\n%second comment line\n3 4 3\n1 2 0.1\n", 0) == 0);
  const SparseRowMatrix<double> back = io::readMatrixMarket<double>(s, "mem.mtx");
  CHECK(sameSparse(back, m));
  CHECK(back.coeff(2, 0) == 1.0 / 3.0);  // shortest round-trip digits are exact

  SparseColMatrix<float> c = m.cast<float>();
  std::stringstream cs;
  io::writeMatrixMarket(cs, c);
  CHECK(cs.str().find("\n1 2 0.1\n1 4 -0\n3 1 0.33333334\n") != std::string::npos);  // float digits
  CountMatrix counts(2, 2);
  counts.insert(1, 1) = 7;
  std::stringstream is;
  io::writeMatrixMarket(is, counts);
  CHECK(is.str() == "%%MatrixMarket matrix coordinate integer general\n2 2 1\n2 2 7\n");
}

TEST_CASE("Matrix Market: symmetric, pattern and duplicates", "[text][io][matrix_market]") {
  std::istringstream sym("%%MatrixMarket matrix coordinate real symmetric\n% c\n\n3 3 2\n2 1 5\n3 3 1.5\n");
  const auto m = io::readMatrixMarket<double>(sym);
  CHECK(m.coeff(1, 0) == 5);
  CHECK(m.coeff(0, 1) == 5);
  CHECK(m.coeff(2, 2) == 1.5);
  CHECK(m.nonZeros() == 3);
  std::istringstream pattern("%%matrixmarket MATRIX Coordinate pattern general\n2 2 3\n1 1\n2 1\n1 1\n");
  const auto p = io::readMatrixMarket<float>(pattern);
  CHECK(p.coeff(0, 0) == 2.0f);  // duplicates are summed
  CHECK(p.coeff(1, 0) == 1.0f);
  std::istringstream skew("%%MatrixMarket matrix coordinate integer skew-symmetric\n2 2 1\n2 1 3\n");
  const auto k = io::readMatrixMarket<double>(skew);
  CHECK(k.coeff(0, 1) == -3);
}

TEST_CASE("Matrix Market: malformed files throw FormatError with the line", "[text][io][matrix_market][bad-input]") {
  auto fails = [](const std::string& text, const std::string& fragment) {
    std::istringstream in(text);
    CHECK_THROWS_WITH(io::readMatrixMarket<double>(in, "x.mtx"), Contains(fragment));
  };
  fails("", "x.mtx:1: empty file");
  fails("hello\n1 1 0\n", "x.mtx:1:1: expected the banner");
  fails("%%MatrixMarket matrix array real general\n2 2\n", "dense 'array' files are not supported");
  fails("%%MatrixMarket matrix coordinate complex general\n", "field expected real, double, integer or pattern");
  fails("%%MatrixMarket matrix coordinate real hermitian\n", "symmetry expected general");
  fails("%%MatrixMarket matrix coordinate real general\n", "missing size line");
  fails("%%MatrixMarket matrix coordinate real general\n2 2\n", "x.mtx:2:1: size line expected");
  fails("%%MatrixMarket matrix coordinate real general\n2 x 1\n", "x.mtx:2:3: cols expected an integer, got 'x'");
  fails("%%MatrixMarket matrix coordinate real general\n2 2 1\n3 1 1.0\n", "x.mtx:3:1: row expected in [1, 2], got 3");
  fails("%%MatrixMarket matrix coordinate real general\n2 2 1\n1 0 1.0\n", "x.mtx:3:3: col expected in [1, 2], got 0");
  fails("%%MatrixMarket matrix coordinate real general\n2 2 1\n1 1 nan\n", "x.mtx:3:5: value expected a finite number");
  fails("%%MatrixMarket matrix coordinate real general\n2 2 1\n1 1\n", "entry expected 3 fields");
  fails("%%MatrixMarket matrix coordinate real general\n2 2 2\n1 1 1\n", "expected 2 entries, the file ends after 1");
  fails("%%MatrixMarket matrix coordinate real general\n2 2 1\n1 1 1\n2 2 2\n", "x.mtx:4:1: more entries than the 1 declared");
  fails("%%MatrixMarket matrix coordinate real symmetric\n2 3 0\n", "must be square");
  fails("%%MatrixMarket matrix coordinate integer general\n1 1 1\n1 1 2.5\n", "value expected an integer");
  CHECK_THROWS_AS(io::readMatrixMarketFile<double>("/nonexistent/eigenrec/m.mtx"), IoError);
  SparseRowMatrix<double> bad(1, 1);
  bad.insert(0, 0) = std::nan("");
  std::stringstream out;
  CHECK_THROWS_WITH(io::writeMatrixMarket(out, bad), Contains("writeMatrixMarket: matrix expected finite values"));
}

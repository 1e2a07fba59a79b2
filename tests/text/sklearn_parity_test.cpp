// Parity with scikit-learn 1.2: vocabularies, counts, idf and tf-idf matrices, and the
// analyzer's token lists, from tests/fixtures/text/sklearn_text.txt (written by
// make_sklearn_text.py).
#include <catch2/catch.hpp>

#include <algorithm>
#include <eigenrec/text.hpp>

#include <cmath>
#include <fstream>
#include <map>
#include <sstream>
#include <string>
#include <vector>

using namespace eigenrec;
using namespace eigenrec::text;

namespace {

std::string unhex(const std::string& h) {
  if (h == "-") return "";
  std::string out;
  for (std::size_t i = 0; i + 1 < h.size(); i += 2) out.push_back(static_cast<char>(std::stoi(h.substr(i, 2), nullptr, 16)));
  return out;
}

struct Triplets {
  Index rows = 0, cols = 0;
  std::vector<std::tuple<Index, Index, double>> entries;
};

struct Case {
  std::string name;
  std::map<std::string, std::string> options;
  std::string fitCorpus, transformCorpus;
  std::vector<std::string> vocabulary;
  std::vector<double> idf;
  bool hasIdf = false, hasCounts = false, hasTransform = false;
  Triplets counts, tfidf, transform;
};

struct AnalyzeCase {
  std::string name;
  std::map<std::string, std::string> options;
  std::string corpus;
  std::vector<std::vector<std::string>> tokens;
};

struct SklearnFixture {
  std::map<std::string, std::vector<std::string>> corpora;
  std::vector<Case> cases;
  std::vector<AnalyzeCase> analyses;
  std::vector<std::string> stopWords;

  SklearnFixture() {
    const std::string path = std::string(EIGENREC_FIXTURES_DIR) + "/text/sklearn_text.txt";
    std::ifstream in(path);
    if (!in) throw std::runtime_error("cannot open " + path);
    std::string line;
    auto next = [&]() {
      if (!std::getline(in, line)) throw std::runtime_error("truncated fixture " + path);
      return line;
    };
    auto options = [&](std::map<std::string, std::string>& out) {
      std::istringstream ss(next());
      std::string word;
      ss >> word;  // "options"
      while (ss >> word) {
        const auto eq = word.find('=');
        out[word.substr(0, eq)] = word.substr(eq + 1);
      }
    };
    auto sparse = [&](std::istringstream& head, Triplets& t) {
      std::size_t nnz = 0;
      head >> t.rows >> t.cols >> nnz;
      for (std::size_t k = 0; k < nnz; ++k) {
        std::istringstream ss(next());
        Index i, j;
        double v;
        ss >> i >> j >> v;
        t.entries.emplace_back(i, j, v);
      }
    };
    while (std::getline(in, line)) {
      if (line.empty() || line[0] == '#') continue;
      std::istringstream head(line);
      std::string tag;
      head >> tag;
      if (tag == "corpus") {
        std::string name;
        std::size_t n;
        head >> name >> n;
        auto& docs = corpora[name];
        for (std::size_t i = 0; i < n; ++i) docs.push_back(unhex(next()));
      } else if (tag == "case") {
        Case c;
        head >> c.name;
        options(c.options);
        {
          std::istringstream ss(next());
          std::string w;
          ss >> w >> c.fitCorpus >> w >> c.transformCorpus;
        }
        while (true) {
          std::istringstream h(next());
          std::string t;
          h >> t;
          if (t == "end") break;
          if (t == "vocab") {
            std::size_t n;
            h >> n;
            for (std::size_t i = 0; i < n; ++i) c.vocabulary.push_back(unhex(next()));
          } else if (t == "idf") {
            std::size_t n;
            h >> n;
            std::istringstream values(next());
            c.idf.resize(n);
            for (auto& v : c.idf) values >> v;
            c.hasIdf = true;
          } else if (t == "counts") {
            sparse(h, c.counts);
            c.hasCounts = true;
          } else if (t == "tfidf") {
            sparse(h, c.tfidf);
          } else if (t == "transform") {
            sparse(h, c.transform);
            c.hasTransform = true;
          }
        }
        cases.push_back(std::move(c));
      } else if (tag == "analyze") {
        AnalyzeCase a;
        head >> a.name;
        options(a.options);
        {
          std::istringstream ss(next());
          std::string w;
          ss >> w >> a.corpus;
        }
        while (true) {
          std::istringstream h(next());
          std::string t;
          h >> t;
          if (t == "end") break;
          std::size_t n;
          h >> n;
          std::vector<std::string> tokens;
          for (std::size_t i = 0; i < n; ++i) tokens.push_back(unhex(next()));
          a.tokens.push_back(std::move(tokens));
        }
        analyses.push_back(std::move(a));
      } else if (tag == "stopwords") {
        std::size_t n;
        head >> n;
        for (std::size_t i = 0; i < n; ++i) stopWords.push_back(unhex(next()));
      }
    }
  }
};

const SklearnFixture& fixture() {
  static const SklearnFixture f;
  return f;
}

DocumentFrequency frequency(const std::string& v) {
  const std::string value = v.substr(2);
  return v[0] == 'i' ? DocumentFrequency::count(std::stoll(value)) : DocumentFrequency::proportion(std::stod(value));
}

// The option line of the fixture -> eigenrec's options (the names are scikit-learn's).
TfidfVectorizerOptions toOptions(const std::map<std::string, std::string>& options) {
  TfidfVectorizerOptions o;
  for (const auto& [key, value] : options) {
    if (key == "analyzer") {
      o.analyzer = value == "word" ? AnalyzerKind::word
                   : value == "char" ? AnalyzerKind::character
                                     : AnalyzerKind::characterWordBounded;
    } else if (key == "ngram") {
      o.ngramRange = {std::stoi(value.substr(0, value.find(','))), std::stoi(value.substr(value.find(',') + 1))};
    } else if (key == "min_df") {
      o.minDf = frequency(value);
    } else if (key == "max_df") {
      o.maxDf = frequency(value);
    } else if (key == "max_features") {
      o.maxFeatures = std::stoll(value);
    } else if (key == "binary") {
      o.binary = value == "1";
    } else if (key == "use_idf") {
      o.useIdf = value == "1";
    } else if (key == "smooth_idf") {
      o.smoothIdf = value == "1";
    } else if (key == "sublinear_tf") {
      o.sublinearTf = value == "1";
    } else if (key == "lowercase") {
      o.lowercase = value == "1";
    } else if (key == "norm") {
      o.norm = value == "l2" ? Norm::l2 : value == "l1" ? Norm::l1 : Norm::none;
    } else if (key == "stop_words") {
      // scikit-learn's stop_words="english" list, recorded by the generator, given as a
      // user list (eigenrec's built-in list is its own).
      o.stopWords = fixture().stopWords;
    } else if (key == "strip_accents") {
      o.stripAccents = value == "ascii" ? StripAccents::ascii : value == "unicode" ? StripAccents::unicode : StripAccents::none;
    } else if (key == "token_len") {
      o.minTokenLength = std::stoi(value);
    } else if (key == "decode_error") {
      o.decodeError = value == "replace" ? DecodeError::replace : value == "ignore" ? DecodeError::ignore : DecodeError::strict;
    } else if (key == "vocabulary") {
      std::size_t start = 0;
      while (true) {
        const auto bar = value.find('|', start);
        o.vocabulary.push_back(unhex(value.substr(start, bar == std::string::npos ? std::string::npos : bar - start)));
        if (bar == std::string::npos) break;
        start = bar + 1;
      }
    } else {
      FAIL("unknown fixture option " << key);
    }
  }
  return o;
}

template <typename Matrix>
void requireMatches(const Matrix& m, const Triplets& expected, double tolerance) {
  REQUIRE(m.rows() == expected.rows);
  REQUIRE(m.cols() == expected.cols);
  REQUIRE(m.isCompressed());
  REQUIRE(static_cast<std::size_t>(m.nonZeros()) == expected.entries.size());
  std::size_t k = 0;
  double worst = 0;
  for (Index i = 0; i < m.rows(); ++i) {
    for (typename Matrix::InnerIterator it(m, i); it; ++it, ++k) {
      const auto& [ei, ej, ev] = expected.entries[k];
      REQUIRE(it.row() == ei);
      REQUIRE(it.col() == ej);
      worst = std::max(worst, std::abs(static_cast<double>(it.value()) - ev) / (1.0 + std::abs(ev)));
    }
  }
  INFO("worst |a - b| / (1 + |b|) = " << worst);
  REQUIRE(worst <= tolerance);
}

}  // namespace

TEST_CASE("TfidfVectorizer / CountVectorizer match scikit-learn 1.2 on every fixture case (double)",
          "[text][sklearn]") {
  const auto& f = fixture();
  REQUIRE(f.cases.size() >= 60);
  for (const auto& c : f.cases) {
    DYNAMIC_SECTION(c.name) {
      const auto options = toOptions(c.options);
      const auto& docs = f.corpora.at(c.fitCorpus);
      TfidfVectorizer<double> tfidf(options);
      const SparseRowMatrix<double> X = tfidf.fitTransform(docs);
      REQUIRE(tfidf.vocabulary() == c.vocabulary);
      requireMatches(X, c.tfidf, 1e-12);
      if (c.hasIdf) {
        const Eigen::VectorXd idf = tfidf.idf();
        REQUIRE(idf.size() == static_cast<Index>(c.idf.size()));
        for (Index t = 0; t < idf.size(); ++t) REQUIRE(std::abs(idf(t) - c.idf[static_cast<std::size_t>(t)]) <= 1e-12 * c.idf[static_cast<std::size_t>(t)]);
      }
      if (c.hasCounts) {
        CountVectorizer counter(options);
        const CountMatrix C = counter.fitTransform(docs);
        REQUIRE(counter.vocabulary() == c.vocabulary);
        requireMatches(C, c.counts, 0.0);
      }
      if (c.hasTransform) {
        requireMatches(tfidf.transform(f.corpora.at(c.transformCorpus)), c.transform, 1e-12);
      }
      // Refitting through transform gives the fit_transform numbers too.
      requireMatches(tfidf.transform(docs), c.tfidf, 1e-12);
    }
  }
}

TEST_CASE("TfidfVectorizer<float> matches scikit-learn within float precision", "[text][sklearn]") {
  const auto& f = fixture();
  for (const auto& c : f.cases) {
    if (c.name.rfind("grid_english", 0) != 0 && c.name != "unicode_char_wb_2_5" && c.name != "reuters_setting") continue;
    DYNAMIC_SECTION(c.name) {
      TfidfVectorizer<float> tfidf(toOptions(c.options));
      const SparseRowMatrix<float> X = tfidf.fitTransform(f.corpora.at(c.fitCorpus));
      REQUIRE(tfidf.vocabulary() == c.vocabulary);
      requireMatches(X, c.tfidf, 2e-6);
    }
  }
}

TEST_CASE("Results do not depend on the thread count", "[text][sklearn][threads]") {
  const auto& f = fixture();
  for (const auto& c : f.cases) {
    if (c.name != "reuters_setting" && c.name != "unicode_char_wb_2_5" && c.name != "max_features_bigram") continue;
    DYNAMIC_SECTION(c.name) {
      auto options = toOptions(c.options);
      TfidfVectorizer<double> one(options);
      const SparseRowMatrix<double> X1 = one.fitTransform(f.corpora.at(c.fitCorpus));
      for (int threads : {2, 3, 0}) {
        options.threads = threads;
        TfidfVectorizer<double> many(options);
        const SparseRowMatrix<double> Xn = many.fitTransform(f.corpora.at(c.fitCorpus));
        REQUIRE(many.vocabulary() == one.vocabulary());
        REQUIRE(Xn.nonZeros() == X1.nonZeros());
        for (Index k = 0; k < X1.nonZeros(); ++k) {
          REQUIRE(Xn.innerIndexPtr()[k] == X1.innerIndexPtr()[k]);
          REQUIRE(Xn.valuePtr()[k] == X1.valuePtr()[k]);  // bit-identical
        }
      }
    }
  }
}

TEST_CASE("Analyzer token lists match scikit-learn's build_analyzer()", "[text][sklearn][analyzer]") {
  const auto& f = fixture();
  REQUIRE(f.analyses.size() >= 10);
  for (const auto& a : f.analyses) {
    DYNAMIC_SECTION(a.name) {
      const Analyzer analyzer(static_cast<const AnalyzerOptions&>(toOptions(a.options)));
      const auto& docs = f.corpora.at(a.corpus);
      REQUIRE(docs.size() == a.tokens.size());
      for (std::size_t d = 0; d < docs.size(); ++d) {
        INFO("document " << d);
        CHECK(analyzer.analyze(docs[d]) == a.tokens[d]);
      }
    }
  }
}

TEST_CASE("englishStopWords: sorted, unique, lowercase, the usual function words", "[text]") {
  const auto words = englishStopWords();
  REQUIRE(words.size() > 250);
  CHECK(std::is_sorted(words.begin(), words.end()));
  CHECK(std::adjacent_find(words.begin(), words.end()) == words.end());
  for (const auto& w : words) {
    INFO(w);
    CHECK(std::all_of(w.begin(), w.end(), [](char c) { return c >= 'a' && c <= 'z'; }));
  }
  for (const char* w : {"the", "and", "of", "is", "which", "themselves", "would", "between"}) {
    CHECK(std::binary_search(words.begin(), words.end(), std::string(w)));
  }
  for (const char* w : {"market", "price", "computer", "system", "bill", "fire"}) {  // content words stay
    CHECK_FALSE(std::binary_search(words.begin(), words.end(), std::string(w)));
  }
}

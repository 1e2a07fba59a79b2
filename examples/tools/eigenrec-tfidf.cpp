// eigenrec-tfidf: fit TF-IDF (scikit-learn's numbers) or BM25 on a file with one
// document per line; write the matrix (Matrix Market) and the vocabulary.
//
//   eigenrec-tfidf --input docs.txt --mtx out.mtx --vocab vocab.txt [options]
//
// Run with --help for the options.
#include <eigenrec/io/matrix_market.hpp>
#include <eigenrec/text.hpp>

#include <algorithm>
#include <chrono>
#include <ctime>
#include <cstdlib>
#include <fstream>
#include <iomanip>
#include <iostream>
#include <string>
#include <vector>

namespace {

const char* const kUsage = R"(usage: eigenrec-tfidf --input FILE [--mtx FILE] [--vocab FILE] [options]

Fits TF-IDF (scikit-learn's TfidfVectorizer, same vocabulary and values) or BM25 on FILE,
one document per line (UTF-8), and writes the (documents x terms) matrix in Matrix Market
coordinate format (1-based; rows = documents in input order, columns = vocabulary order)
and the vocabulary, one term per line in column order.

input / output
  --input FILE          documents, one per line (required)
  --mtx FILE            write the weighted matrix here
  --vocab FILE          write the vocabulary here
  --fixed-vocab FILE    [vocabulary] use these terms, one per line, as the columns (as written
                        by --vocab); --min-df, --max-df and --max-features are then ignored
  --save FILE           save the fitted vectorizer (load it with TfidfVectorizer::loadFile)
  --top-terms K         print each document's K highest-weighted terms to stdout
analysis (scikit-learn's names in brackets)
  --analyzer word|char|char_wb   [analyzer] default word
  --ngram MIN,MAX       [ngram_range] default 1,1
  --min-df N|F          [min_df] an integer is a document count, a number with '.' a proportion
  --max-df N|F          [max_df] default 1.0
  --max-features N      [max_features] keep the N most frequent terms
  --stop-words english|FILE      [stop_words] built-in English list or one word per line
  --strip-accents ascii|unicode  [strip_accents]
  --no-lowercase        [lowercase=False]
  --min-token-length N  2 = scikit-learn's token_pattern, 1 keeps one-character tokens
  --decode-error strict|replace|ignore  [decode_error] default strict
  --binary              [binary]
weighting
  --norm l2|l1|none     [norm] default l2 (BM25: none)
  --no-idf              [use_idf=False]
  --no-smooth-idf       [smooth_idf=False]
  --sublinear-tf        [sublinear_tf]
  --bm25                BM25 weights instead of TF-IDF
  --k1 X, --b X         BM25 parameters (default 1.2, 0.75)
  --bm25-idf lucene|rsj BM25 idf variant (default lucene)
other
  --threads N           threads for counting (0 = all cores; results do not depend on it)
  --quiet               no progress line
  --timing              print the time of each step to stderr
  --help
)";

[[noreturn]] void usageError(const std::string& message) {
  std::cerr << "eigenrec-tfidf: " << message << "\n(run eigenrec-tfidf --help for the options)\n";
  std::exit(2);
}

long long parseInteger(const std::string& flag, const std::string& value) {
  try {
    std::size_t used = 0;
    const long long v = std::stoll(value, &used);
    if (used == value.size()) return v;
  } catch (const std::exception&) {
  }
  usageError(flag + " expects an integer, got '" + value + "'");
}

double parseReal(const std::string& flag, const std::string& value) {
  try {
    std::size_t used = 0;
    const double v = std::stod(value, &used);
    if (used == value.size()) return v;
  } catch (const std::exception&) {
  }
  usageError(flag + " expects a number, got '" + value + "'");
}

eigenrec::text::DocumentFrequency parseFrequency(const std::string& flag, const std::string& value) {
  if (value.find_first_of(".eE") != std::string::npos) {
    return eigenrec::text::DocumentFrequency::proportion(parseReal(flag, value));
  }
  return eigenrec::text::DocumentFrequency::count(parseInteger(flag, value));
}

// Wall time and process CPU time (all threads) of each step, for --timing.
struct Timer {
  bool enabled = false;
  std::chrono::steady_clock::time_point start = std::chrono::steady_clock::now();
  std::clock_t cpuStart = std::clock();
  void lap(const char* what) {
    const auto now = std::chrono::steady_clock::now();
    const std::clock_t cpu = std::clock();
    if (enabled) {
      std::cerr << "eigenrec-tfidf: " << what << " " << std::fixed << std::setprecision(4)
                << std::chrono::duration<double>(now - start).count() << " s (cpu "
                << static_cast<double>(cpu - cpuStart) / CLOCKS_PER_SEC << " s)\n";
    }
    start = now;
    cpuStart = cpu;
  }
};

template <typename Vectorizer>
int run(Vectorizer& vectorizer, const std::string& input, const std::string& mtx, const std::string& vocab,
        const std::string& save, long long topTerms, Timer& timer) {
  timer.lap("start");
  const eigenrec::SparseRowMatrix<double> X = vectorizer.fitTransformFile(input);
  timer.lap("fitTransform");
  const auto& terms = vectorizer.vocabulary();
  std::cerr << "eigenrec-tfidf: " << X.rows() << " documents, " << X.cols() << " terms, " << X.nonZeros()
            << " non-zeros\n";
  if (!mtx.empty()) {
    eigenrec::io::writeMatrixMarketFile(mtx, X, " written by eigenrec-tfidf from " + input);
    timer.lap("write matrix");
  }
  if (!vocab.empty()) {
    eigenrec::text::writeVocabularyFile(vocab, terms);
    timer.lap("write vocabulary");
  }
  if (!save.empty()) {
    vectorizer.saveFile(save);
    timer.lap("save");
  }
  if (topTerms > 0) {
    std::vector<std::pair<double, eigenrec::Index>> row;
    std::cout << std::setprecision(4) << std::fixed;
    for (eigenrec::Index i = 0; i < X.rows(); ++i) {
      row.clear();
      for (eigenrec::SparseRowMatrix<double>::InnerIterator it(X, i); it; ++it) row.emplace_back(it.value(), it.col());
      const auto k = std::min<std::size_t>(row.size(), static_cast<std::size_t>(topTerms));
      std::partial_sort(row.begin(), row.begin() + static_cast<std::ptrdiff_t>(k), row.end(),
                        [](const auto& a, const auto& b) { return a.first != b.first ? a.first > b.first : a.second < b.second; });
      std::cout << (i + 1);
      for (std::size_t j = 0; j < k; ++j) std::cout << '\t' << terms[static_cast<std::size_t>(row[j].second)] << ' ' << row[j].first;
      std::cout << '\n';
    }
  }
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  using namespace eigenrec::text;
  std::vector<std::string> args(argv + 1, argv + argc);
  std::string input, mtx, vocab, fixedVocab, save;
  long long topTerms = 0;
  bool bm25 = false, quiet = false, normGiven = false;
  Bm25VectorizerOptions b;
  TfidfVectorizerOptions o;
  Timer timer;
  for (std::size_t i = 0; i < args.size(); ++i) {
    const std::string& flag = args[i];
    auto value = [&]() -> std::string {
      if (i + 1 >= args.size()) usageError(flag + " needs a value");
      return args[++i];
    };
    if (flag == "--help" || flag == "-h") {
      std::cout << kUsage;
      return 0;
    } else if (flag == "--input") {
      input = value();
    } else if (flag == "--mtx") {
      mtx = value();
    } else if (flag == "--vocab") {
      vocab = value();
    } else if (flag == "--fixed-vocab") {
      fixedVocab = value();
    } else if (flag == "--save") {
      save = value();
    } else if (flag == "--top-terms") {
      topTerms = parseInteger(flag, value());
      if (topTerms < 1) usageError("--top-terms expects K >= 1");
    } else if (flag == "--analyzer") {
      const std::string v = value();
      if (v == "word") o.analyzer = AnalyzerKind::word;
      else if (v == "char") o.analyzer = AnalyzerKind::character;
      else if (v == "char_wb") o.analyzer = AnalyzerKind::characterWordBounded;
      else usageError("--analyzer expects word, char or char_wb, got '" + v + "'");
    } else if (flag == "--ngram") {
      const std::string v = value();
      const auto comma = v.find(',');
      if (comma == std::string::npos) usageError("--ngram expects MIN,MAX, got '" + v + "'");
      o.ngramRange = {static_cast<int>(parseInteger(flag, v.substr(0, comma))),
                      static_cast<int>(parseInteger(flag, v.substr(comma + 1)))};
    } else if (flag == "--min-df") {
      o.minDf = parseFrequency(flag, value());
    } else if (flag == "--max-df") {
      o.maxDf = parseFrequency(flag, value());
    } else if (flag == "--max-features") {
      o.maxFeatures = parseInteger(flag, value());
    } else if (flag == "--stop-words") {
      const std::string v = value();
      if (v == "english") {
        o.stopWords = englishStopWords();
      } else {
        std::ifstream in(v);
        if (!in) usageError("cannot read the stop-word file '" + v + "'");
        std::string word;
        while (std::getline(in, word)) {
          if (!word.empty() && word.back() == '\r') word.pop_back();
          if (!word.empty()) o.stopWords.push_back(word);
        }
      }
    } else if (flag == "--strip-accents") {
      const std::string v = value();
      if (v == "ascii") o.stripAccents = StripAccents::ascii;
      else if (v == "unicode") o.stripAccents = StripAccents::unicode;
      else usageError("--strip-accents expects ascii or unicode, got '" + v + "'");
    } else if (flag == "--no-lowercase") {
      o.lowercase = false;
    } else if (flag == "--min-token-length") {
      o.minTokenLength = static_cast<int>(parseInteger(flag, value()));
    } else if (flag == "--decode-error") {
      const std::string v = value();
      if (v == "strict") o.decodeError = DecodeError::strict;
      else if (v == "replace") o.decodeError = DecodeError::replace;
      else if (v == "ignore") o.decodeError = DecodeError::ignore;
      else usageError("--decode-error expects strict, replace or ignore, got '" + v + "'");
    } else if (flag == "--binary") {
      o.binary = true;
    } else if (flag == "--norm") {
      const std::string v = value();
      normGiven = true;
      if (v == "l2") o.norm = Norm::l2;
      else if (v == "l1") o.norm = Norm::l1;
      else if (v == "none") o.norm = Norm::none;
      else usageError("--norm expects l2, l1 or none, got '" + v + "'");
    } else if (flag == "--no-idf") {
      o.useIdf = false;
    } else if (flag == "--no-smooth-idf") {
      o.smoothIdf = false;
    } else if (flag == "--sublinear-tf") {
      o.sublinearTf = true;
    } else if (flag == "--bm25") {
      bm25 = true;
    } else if (flag == "--k1") {
      b.k1 = parseReal(flag, value());
    } else if (flag == "--b") {
      b.b = parseReal(flag, value());
    } else if (flag == "--bm25-idf") {
      const std::string v = value();
      if (v == "lucene") b.idf = Bm25Idf::lucene;
      else if (v == "rsj") b.idf = Bm25Idf::robertsonSparckJones;
      else usageError("--bm25-idf expects lucene or rsj, got '" + v + "'");
    } else if (flag == "--threads") {
      o.threads = static_cast<int>(parseInteger(flag, value()));
    } else if (flag == "--quiet") {
      quiet = true;
    } else if (flag == "--timing") {
      timer.enabled = true;
    } else {
      usageError("unknown option '" + flag + "'");
    }
  }
  if (input.empty()) usageError("--input FILE is required");
  if (!quiet) o.progress = eigenrec::ProgressLine();
  try {
    if (!fixedVocab.empty()) o.vocabulary = readVocabularyFile(fixedVocab);
    if (bm25) {
      static_cast<CountVectorizerOptions&>(b) = static_cast<const CountVectorizerOptions&>(o);
      b.norm = normGiven ? o.norm : Norm::none;
      Bm25Vectorizer<double> vectorizer(b);
      return run(vectorizer, input, mtx, vocab, save, topTerms, timer);
    }
    TfidfVectorizer<double> vectorizer(o);
    return run(vectorizer, input, mtx, vocab, save, topTerms, timer);
  } catch (const std::exception& e) {
    std::cerr << "eigenrec-tfidf: error: " << e.what() << "\n";
    return 1;
  }
}

// The text module: tokenizer throughput (ASCII and mixed UTF-8), TfidfVectorizer
// fit-transform and transform, each against the straightforward C++ a user would write
// (std::isalnum tokens, std::unordered_map vocabulary, per-document std::map counts).
// Bytes/s count document bytes; items/s count documents. The corpus is synthetic
// (Zipf-distributed words, generated with eigenrec::Rng), so the program needs no data.
#include <benchmark/benchmark.h>
#include <eigenrec/core/random.hpp>
#include <eigenrec/text.hpp>

#include <algorithm>
#include <cctype>
#include <cmath>
#include <map>
#include <string>
#include <unordered_map>
#include <vector>

namespace {

using namespace eigenrec;
using namespace eigenrec::text;

// Documents of Zipf(1.1)-distributed words over a vocabulary of made-up words; with
// `mixed`, a third of the words carry accented / Greek / Cyrillic / CJK letters.
std::vector<std::string> corpus(std::size_t documents, bool mixed) {
  Rng rng(42);
  const char* ascii = "etaoinshrdlucmfwypvbgkjqxz";
  const char* extra[] = {"é", "ü", "ß", "ç", "λ", "Σ", "ж", "я", "漢", "字", "ñ", "ø"};
  std::vector<std::string> words;
  for (int w = 0; w < 20000; ++w) {
    std::string s;
    const int length = 2 + static_cast<int>(rng.uniformInt(8));
    for (int k = 0; k < length; ++k) {
      if (mixed && w % 3 == 0 && k % 2 == 1) {
        s += extra[rng.uniformInt(12)];
      } else {
        s += ascii[rng.uniformInt(26)];
      }
    }
    if (w % 7 == 0) s[0] = static_cast<char>(std::toupper(static_cast<unsigned char>(s[0])));
    words.push_back(s);
  }
  std::vector<double> weights(words.size());
  for (std::size_t i = 0; i < weights.size(); ++i) weights[i] = 1.0 / std::pow(static_cast<double>(i + 1), 1.1);
  AliasTable table(weights);
  std::vector<std::string> docs;
  for (std::size_t d = 0; d < documents; ++d) {
    std::string doc;
    const int length = 20 + static_cast<int>(rng.uniformInt(200));
    for (int k = 0; k < length; ++k) {
      doc += words[static_cast<std::size_t>(table.sample(rng))];
      doc += (k % 11 == 10) ? ". " : " ";
    }
    docs.push_back(std::move(doc));
  }
  return docs;
}

const std::vector<std::string>& asciiCorpus() {
  static const auto docs = corpus(4000, false);
  return docs;
}
const std::vector<std::string>& mixedCorpus() {
  static const auto docs = corpus(4000, true);
  return docs;
}

std::int64_t bytesOf(const std::vector<std::string>& docs) {
  std::int64_t n = 0;
  for (const auto& d : docs) n += static_cast<std::int64_t>(d.size());
  return n;
}

void BM_Tokenize(benchmark::State& state) {
  const auto& docs = state.range(0) ? mixedCorpus() : asciiCorpus();
  const Analyzer analyzer;
  std::string buffer;
  std::size_t tokens = 0;
  for (auto _ : state) {
    for (const auto& d : docs) analyzer.forEachToken(d, buffer, [&](std::string_view t) { tokens += t.size(); });
    benchmark::DoNotOptimize(tokens);
  }
  state.SetBytesProcessed(state.iterations() * bytesOf(docs));
  state.SetLabel(state.range(0) ? "mixed UTF-8" : "ASCII");
}

// What one writes by hand: ASCII-only isalnum / tolower, a std::string per token.
void BM_TokenizeNaive(benchmark::State& state) {
  const auto& docs = state.range(0) ? mixedCorpus() : asciiCorpus();
  std::size_t tokens = 0;
  for (auto _ : state) {
    for (const auto& d : docs) {
      std::string token;
      for (const char ch : d) {
        const auto c = static_cast<unsigned char>(ch);
        if (std::isalnum(c) || c == '_') {
          token += static_cast<char>(std::tolower(c));
        } else {
          if (token.size() >= 2) tokens += token.size();
          token.clear();
        }
      }
      if (token.size() >= 2) tokens += token.size();
    }
    benchmark::DoNotOptimize(tokens);
  }
  state.SetBytesProcessed(state.iterations() * bytesOf(docs));
  state.SetLabel(state.range(0) ? "mixed UTF-8 (not Unicode-aware)" : "ASCII");
}

void BM_TfidfFitTransform(benchmark::State& state) {
  const auto& docs = asciiCorpus();
  TfidfVectorizerOptions o;
  o.ngramRange = {1, static_cast<int>(state.range(0))};
  o.threads = static_cast<int>(state.range(1));
  for (auto _ : state) {
    TfidfVectorizer<double> v(o);
    auto X = v.fitTransform(docs);
    benchmark::DoNotOptimize(X.valuePtr());
  }
  state.SetItemsProcessed(state.iterations() * static_cast<std::int64_t>(docs.size()));
  state.SetBytesProcessed(state.iterations() * bytesOf(docs));
}

// The straightforward implementation: unordered_map vocabulary, std::map per document,
// then sorting the vocabulary and tf-idf with l2 norm (unigrams only).
void BM_TfidfFitTransformNaive(benchmark::State& state) {
  const auto& docs = asciiCorpus();
  for (auto _ : state) {
    std::unordered_map<std::string, std::int64_t> vocabulary;
    std::vector<std::map<std::int64_t, std::int64_t>> rows(docs.size());
    for (std::size_t d = 0; d < docs.size(); ++d) {
      std::string token;
      auto flush = [&]() {
        if (token.size() >= 2) {
          const auto id = vocabulary.emplace(token, static_cast<std::int64_t>(vocabulary.size())).first->second;
          ++rows[d][id];
        }
        token.clear();
      };
      for (const char ch : docs[d]) {
        const auto c = static_cast<unsigned char>(ch);
        if (std::isalnum(c) || c == '_') token += static_cast<char>(std::tolower(c));
        else flush();
      }
      flush();
    }
    std::vector<std::pair<std::string, std::int64_t>> terms(vocabulary.begin(), vocabulary.end());
    std::sort(terms.begin(), terms.end());
    std::vector<std::int64_t> column(terms.size()), df(terms.size(), 0);
    for (std::size_t c = 0; c < terms.size(); ++c) column[static_cast<std::size_t>(terms[c].second)] = static_cast<std::int64_t>(c);
    std::vector<Eigen::Triplet<double, std::int64_t>> triplets;
    for (std::size_t d = 0; d < rows.size(); ++d) {
      for (const auto& [id, count] : rows[d]) {
        ++df[static_cast<std::size_t>(column[static_cast<std::size_t>(id)])];
        triplets.emplace_back(static_cast<std::int64_t>(d), column[static_cast<std::size_t>(id)], static_cast<double>(count));
      }
    }
    SparseRowMatrix<double> X(static_cast<Index>(docs.size()), static_cast<Index>(terms.size()));
    X.setFromTriplets(triplets.begin(), triplets.end());
    const double n = static_cast<double>(docs.size()) + 1;
    for (Index i = 0; i < X.rows(); ++i) {
      double sum = 0;
      for (SparseRowMatrix<double>::InnerIterator it(X, i); it; ++it) {
        it.valueRef() *= std::log(n / (static_cast<double>(df[static_cast<std::size_t>(it.col())]) + 1)) + 1;
        sum += it.value() * it.value();
      }
      for (SparseRowMatrix<double>::InnerIterator it(X, i); it; ++it) it.valueRef() /= std::sqrt(sum);
    }
    benchmark::DoNotOptimize(X.valuePtr());
  }
  state.SetItemsProcessed(state.iterations() * static_cast<std::int64_t>(docs.size()));
  state.SetBytesProcessed(state.iterations() * bytesOf(docs));
}

void BM_TfidfTransform(benchmark::State& state) {
  const auto& docs = asciiCorpus();
  TfidfVectorizerOptions o;
  o.ngramRange = {1, static_cast<int>(state.range(0))};
  o.threads = static_cast<int>(state.range(1));
  TfidfVectorizer<double> v(o);
  v.fit(docs);
  v.transform(std::vector<std::string>{"warm up the lookup"});
  for (auto _ : state) {
    auto X = v.transform(docs);
    benchmark::DoNotOptimize(X.valuePtr());
  }
  state.SetItemsProcessed(state.iterations() * static_cast<std::int64_t>(docs.size()));
  state.SetBytesProcessed(state.iterations() * bytesOf(docs));
}

}  // namespace

BENCHMARK(BM_Tokenize)->ArgName("mixed")->Arg(0)->Arg(1);
BENCHMARK(BM_TokenizeNaive)->ArgName("mixed")->Arg(0)->Arg(1);
BENCHMARK(BM_TfidfFitTransform)->ArgNames({"max_n", "threads"})->Args({1, 1})->Args({1, 2})->Args({2, 1})->Args({2, 2})->UseRealTime()->Unit(benchmark::kMillisecond);
BENCHMARK(BM_TfidfFitTransformNaive)->Unit(benchmark::kMillisecond);
BENCHMARK(BM_TfidfTransform)->ArgNames({"max_n", "threads"})->Args({1, 1})->Args({1, 2})->Args({2, 1})->UseRealTime()->Unit(benchmark::kMillisecond);

BENCHMARK_MAIN();

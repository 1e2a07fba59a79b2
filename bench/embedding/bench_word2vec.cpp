// word2vec training throughput (words/s, one thread) on a generated Zipf corpus, for
// each update rule, vector size and negative count: the minibatched skip-gram update
// (shared negatives, small matrix products) against per-pair SGD, vectorised and
// word2vec.c-exact, in the same binary. The BM_Inner* benchmarks isolate the inner
// update: no subsampling, so every word of the corpus is one trained window, and they
// report the time per window for each window size, negative count and vector size.
//
//   build/release/bench/bench_word2vec --benchmark_counters_tabular=true
#include <benchmark/benchmark.h>
#include <eigenrec/embedding.hpp>

#include <cmath>
#include <string>

namespace {

using namespace eigenrec;
using namespace eigenrec::embedding;

const TextCorpus& zipfCorpus() {
  static const TextCorpus corpus = [] {
    // 300k words over a 20k-word Zipf(1) vocabulary, 20-word lines.
    Rng rng(1);
    const int vocab = 20000;
    std::vector<double> w(vocab);
    for (int i = 0; i < vocab; ++i) w[static_cast<std::size_t>(i)] = 1.0 / (i + 1.0);
    const AliasTable table(w);
    std::string text;
    for (int i = 0; i < 300000; ++i) {
      text += "w" + std::to_string(table.sample(rng));
      text += (i % 20 == 19) ? '\n' : ' ';
    }
    return TextCorpus::fromString(text, "zipf");
  }();
  return corpus;
}

Word2VecOptions baseOptions(Architecture arch, Update update) {
  Word2VecOptions o;
  o.architecture = arch;
  o.update = update;
  o.epochs = 1;
  o.tableSize = 10000000;
  o.vocabulary.minCount = 5;
  return o;
}

struct Runs {
  std::int64_t runs = 0;
  std::int64_t words = 0;  // TrainReport::words, summed
};

/// Trains a fresh model (setup untimed) per iteration.
Runs trainEach(benchmark::State& state, const Word2VecOptions& o, const Vocabulary& vocabulary) {
  Runs r;
  for (auto _ : state) {
    state.PauseTiming();
    Word2Vec<float> model(o);
    model.setVocabulary(vocabulary);
    model.initialize();
    state.ResumeTiming();
    r.words += model.train(zipfCorpus()).words;
    benchmark::DoNotOptimize(model.inputVectors().data());
    ++r.runs;
  }
  return r;
}

void train(benchmark::State& state, Architecture arch, Update update) {
  Word2VecOptions o = baseOptions(arch, update);
  o.dim = state.range(0);
  o.negative = static_cast<int>(state.range(1));
  o.window = 5;
  o.sample = 1e-4;
  const Vocabulary vocabulary = Vocabulary::build(zipfCorpus(), o.vocabulary);
  const Runs r = trainEach(state, o, vocabulary);
  state.counters["words/s"] = benchmark::Counter(static_cast<double>(r.words), benchmark::Counter::kIsRate);
}

void args(benchmark::internal::Benchmark* b) {
  b->ArgNames({"dim", "negative"});
  for (int dim : {100, 300}) {
    for (int negative : {5, 15}) b->Args({dim, negative});
  }
  b->Unit(benchmark::kMillisecond)->UseRealTime();
}

/// The inner update alone: sample = 0 (every position is trained, "</s>" aside), the
/// 300k-word Zipf corpus, one epoch; time/window = time per trained centre word. With
/// word2vec.c's window shrinking, a window of size w spans on average w + 1 context
/// words (fewer at line ends).
void inner(benchmark::State& state, Architecture arch, Update update) {
  Word2VecOptions o = baseOptions(arch, update);
  o.window = static_cast<int>(state.range(0));
  o.negative = static_cast<int>(state.range(1));
  o.dim = state.range(2);
  o.sample = 0;
  const Vocabulary vocabulary = Vocabulary::build(zipfCorpus(), o.vocabulary);
  const auto windows = static_cast<double>(vocabulary.trainWords() - vocabulary.count(0));  // "</s>" is no centre
  const auto runs = static_cast<double>(trainEach(state, o, vocabulary).runs);
  state.counters["windows"] = windows;
  state.counters["time/window"] =
      benchmark::Counter(windows * runs, benchmark::Counter::kIsRate | benchmark::Counter::kInvert);
}

void innerArgs(benchmark::internal::Benchmark* b) {
  b->ArgNames({"window", "negative", "dim"});
  for (int window : {2, 5, 10}) b->Args({window, 5, 100});
  for (int negative : {2, 15}) b->Args({5, negative, 100});
  for (int dim : {50, 64, 300}) b->Args({5, 5, dim});
  b->Unit(benchmark::kMillisecond)->UseRealTime();
}

void BM_InnerSkipGramMinibatch(benchmark::State& s) { inner(s, Architecture::skipGram, Update::minibatch); }
void BM_InnerSkipGramPerPair(benchmark::State& s) { inner(s, Architecture::skipGram, Update::perPair); }
void BM_InnerCbowPerPair(benchmark::State& s) { inner(s, Architecture::cbow, Update::perPair); }

BENCHMARK(BM_InnerSkipGramMinibatch)->Apply(innerArgs);
BENCHMARK(BM_InnerSkipGramPerPair)->Apply(innerArgs);
BENCHMARK(BM_InnerCbowPerPair)->Apply(innerArgs);

void BM_SkipGramMinibatch(benchmark::State& s) { train(s, Architecture::skipGram, Update::minibatch); }
void BM_SkipGramPerPair(benchmark::State& s) { train(s, Architecture::skipGram, Update::perPair); }
void BM_SkipGramExact(benchmark::State& s) { train(s, Architecture::skipGram, Update::exact); }
void BM_CbowPerPair(benchmark::State& s) { train(s, Architecture::cbow, Update::perPair); }
void BM_CbowExact(benchmark::State& s) { train(s, Architecture::cbow, Update::exact); }

BENCHMARK(BM_SkipGramMinibatch)->Apply(args);
BENCHMARK(BM_SkipGramPerPair)->Apply(args);
BENCHMARK(BM_SkipGramExact)->Apply(args);
BENCHMARK(BM_CbowPerPair)->Apply(args);
BENCHMARK(BM_CbowExact)->Apply(args);

}  // namespace

BENCHMARK_MAIN();

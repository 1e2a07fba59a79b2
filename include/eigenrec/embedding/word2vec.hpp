// eigenrec/embedding/word2vec.hpp: word2vec (Mikolov et al. 2013): skip-gram and CBOW
// with negative sampling and / or hierarchical softmax, trained as word2vec.c does.
//
// Training streams the corpus from disk: in order with one thread, or in byte ranges
// that several threads take in turn (Hogwild: threads update the shared tables without
// locks, so multi-threaded runs are not reproducible; threads = 1 is, bit for bit, for a
// seed). Three update rules:
//  - Update::exact     word2vec.c's per-pair SGD, its linear congruential generator and
//                      its sequential float sums: with the default seed a one-thread run
//                      reproduces word2vec.c's arithmetic step by step;
//  - Update::perPair   the same per-pair SGD with vectorised dot products and
//                      eigenrec::Rng;
//  - Update::minibatch (skip-gram; the default) the negatives of a window are drawn once
//                      and shared by all its context words (Ji et al. 2016), so a window
//                      is one small dense matrix product instead of 2w separate updates.
//                      CBOW is one update per window already and runs as perPair.
// Tables are (dim, V), one column per word, column-major.
#ifndef EIGENREC_EMBEDDING_WORD2VEC_HPP
#define EIGENREC_EMBEDDING_WORD2VEC_HPP

#include <eigenrec/core/checks.hpp>
#include <eigenrec/core/memory.hpp>
#include <eigenrec/core/parallel.hpp>
#include <eigenrec/core/progress.hpp>
#include <eigenrec/core/random.hpp>
#include <eigenrec/core/serialize.hpp>
#include <eigenrec/core/types.hpp>
#include <eigenrec/embedding/corpus.hpp>
#include <eigenrec/embedding/tables.hpp>
#include <eigenrec/embedding/vocabulary.hpp>
#include <eigenrec/embedding/word_vectors.hpp>
#include <eigenrec/io/word2vec_format.hpp>

#include <array>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <istream>
#include <memory>
#include <mutex>
#include <ostream>
#include <sstream>
#include <string>
#include <string_view>
#include <vector>

namespace eigenrec::embedding {

/// Which model is trained.
enum class Architecture {
  skipGram,  ///< each context word predicts the centre word (word2vec.c -cbow 0)
  cbow       ///< the mean (or sum) of the context predicts the centre word (-cbow 1)
};

/// How CBOW combines the context vectors. In both modes the whole error is added to
/// every context word (word2vec.c's mean mode; gensim's cbow_mean=1). For sum that is the
/// exact gradient; gensim's cbow_mean=0 divides it by the context size instead.
enum class CbowInput { mean, sum };

/// The SGD update rule (see the file comment).
enum class Update { minibatch, perPair, exact };

/// Options of Word2Vec. The defaults are word2vec.c's, except `threads` (1: the
/// reproducible mode) and `update` (minibatch).
struct Word2VecOptions {
  Architecture architecture = Architecture::cbow;  ///< word2vec.c -cbow (default 1)
  Index dim = 100;                                 ///< -size
  int window = 5;                                  ///< -window: maximum distance; shrunk at random per word
  double sample = 1e-3;                            ///< -sample: subsampling threshold, 0 = off
  int negative = 5;                                ///< -negative: noise words per positive, 0 = off
  bool hierarchicalSoftmax = false;                ///< -hs
  int epochs = 5;                                  ///< -iter
  /// -alpha: start learning rate; 0 = word2vec.c's default (0.05 CBOW, 0.025 skip-gram).
  double alpha = 0;
  CbowInput cbowInput = CbowInput::mean;
  Update update = Update::minibatch;
  int threads = 1;                 ///< 0 = all cores; > 1 is Hogwild (not reproducible)
  std::uint64_t seed = 1;          ///< 1 reproduces word2vec.c's streams in Update::exact
  std::int64_t tableSize = 100000000;  ///< slots of the unigram^0.75 table (word2vec.c 1e8)
  double noisePower = 0.75;        ///< exponent of the noise distribution
  /// Input vectors start uniform in (-initRange/dim, initRange/dim): 0.5 is word2vec.c's
  /// range, 1 is gensim 4's (`prep_vectors`: U[-1, 1) / vector_size). Used by initialize()
  /// only (not stored in saved models).
  double initRange = 0.5;
  int maxSentenceLength = 1000;    ///< longer lines are cut (word2vec.c MAX_SENTENCE_LENGTH)
  VocabularyOptions vocabulary;    ///< min-count and tokenizer
  /// Called during training with words done / total, words per second per thread
  /// (unit "words/thread"), the learning rate and the ETA.
  ProgressCallback progress;

  /// The start learning rate after resolving alpha = 0.
  double startAlpha() const { return alpha > 0 ? alpha : (architecture == Architecture::cbow ? 0.05 : 0.025); }

  void validate(std::string_view where) const {
    checkPositive(where, "dim", dim);
    checkPositive(where, "window", window);
    checkExpected(sample >= 0 && std::isfinite(sample), where, "sample", "finite and >= 0", sample);
    checkNonNegative(where, "negative", negative);
    checkExpected(negative > 0 || hierarchicalSoftmax, where, "negative",
                  "> 0 when hierarchicalSoftmax is off (no output layer otherwise)", negative);
    checkPositive(where, "epochs", epochs);
    checkExpected(alpha >= 0 && std::isfinite(alpha), where, "alpha", "finite and >= 0 (0 = default)", alpha);
    checkNonNegative(where, "threads", threads);
    checkPositive(where, "tableSize", tableSize);
    checkExpected(tableSize <= INT32_MAX, where, "tableSize", "<= 2^31 - 1", tableSize);
    checkExpected(std::isfinite(noisePower) && noisePower >= 0, where, "noisePower", "finite and >= 0", noisePower);
    checkExpected(std::isfinite(initRange) && initRange > 0, where, "initRange", "finite and > 0", initRange);
    checkPositive(where, "maxSentenceLength", maxSentenceLength);
    vocabulary.validate(where);
  }
};

/// What a call of Word2Vec::train did.
struct TrainReport {
  int epochs = 0;                  ///< epochs run by this call
  std::int64_t words = 0;          ///< vocabulary words read ("</s>" included), all epochs
  double seconds = 0;              ///< wall time of the training passes
  double wordsPerSecond = 0;       ///< words / seconds
  double finalAlpha = 0;           ///< learning rate at the end
};

namespace detail {

/// word2vec.c's random stream: next = next * 25214903917 + 11.
struct LcgDraws {
  std::uint64_t state;
  std::uint64_t next() noexcept { return state = state * 25214903917ULL + 11; }
  template <typename Scalar>
  bool drop(Scalar keep) noexcept {
    next();
    return keep < static_cast<Scalar>(state & 0xFFFF) / static_cast<Scalar>(65536);
  }
  std::int64_t window(int w) noexcept { return static_cast<std::int64_t>(next() % static_cast<std::uint64_t>(w)); }
  std::int32_t negative(const UnigramTable& table, Index vocabSize) noexcept {
    next();
    std::int32_t t = table[static_cast<std::int64_t>((state >> 16) % static_cast<std::uint64_t>(table.size()))];
    if (t == 0) t = static_cast<std::int32_t>(state % static_cast<std::uint64_t>(vocabSize - 1) + 1);
    return t;
  }
  std::array<std::uint64_t, 4> save() const noexcept { return {state, 0, 0, 0}; }
};

/// The same draws from eigenrec::Rng.
struct RngDraws {
  Rng rng;
  template <typename Scalar>
  bool drop(Scalar keep) noexcept {
    if (keep >= Scalar(1)) return false;
    return keep < rng.uniform<Scalar>();
  }
  std::int64_t window(int w) noexcept { return static_cast<std::int64_t>(rng.uniformInt(static_cast<std::uint64_t>(w))); }
  std::int32_t negative(const UnigramTable& table, Index vocabSize) noexcept {
    std::int32_t t = table[static_cast<std::int64_t>(rng.uniformInt(static_cast<std::uint64_t>(table.size())))];
    if (t == 0) t = static_cast<std::int32_t>(1 + rng.uniformInt(static_cast<std::uint64_t>(vocabSize - 1)));
    return t;
  }
  std::array<std::uint64_t, 4> save() const noexcept { return rng.state(); }
};

}  // namespace detail

/// word2vec model: vocabulary, input vectors (dim, V) and output tables, and the
/// training state needed to resume.
///
///   Word2Vec<float> model(options);
///   model.train(TextCorpus::fromFile("text.txt"));   // vocabulary pass + all epochs
///   model.saveWord2Vec("vectors.bin", true);
template <typename Scalar = float>
class Word2Vec {
  EIGENREC_STATIC_ASSERT_SCALAR(Scalar);

 public:
  using MatrixType = Matrix<Scalar>;
  static constexpr const char* kArchiveKind = "embedding.Word2Vec";
  static constexpr std::uint32_t kArchiveVersion = 1;

  explicit Word2Vec(Word2VecOptions options = {}) : m_options(std::move(options)) {
    m_options.validate("Word2Vec");
  }

  const Word2VecOptions& options() const noexcept { return m_options; }
  /// Threads for later train() calls (0 = all cores).
  void setThreads(int threads) {
    checkNonNegative("Word2Vec::setThreads", "threads", threads);
    m_options.threads = threads;
  }
  /// Progress callback for later train() calls.
  void setProgress(ProgressCallback progress) { m_options.progress = std::move(progress); }

  /// Counts the corpus on options.threads threads and sets the vocabulary
  /// (options.vocabulary; the same for every thread count). Resets training.
  void buildVocabulary(const TextCorpus& corpus) {
    setVocabulary(Vocabulary::build(corpus, m_options.vocabulary, m_options.threads));
  }

  /// Uses a given vocabulary (for example Vocabulary::loadFile, word2vec.c -read-vocab).
  /// Resets the vectors and the training state.
  void setVocabulary(Vocabulary vocabulary) {
    checkExpected(vocabulary.size() >= 2, "Word2Vec::setVocabulary", "vocabulary size", ">= 2 (</s> and a word)",
                  vocabulary.size());
    checkExpected(vocabulary.trainWords() > 0, "Word2Vec::setVocabulary", "total count", "> 0",
                  vocabulary.trainWords());
    m_vocabulary = std::move(vocabulary);
    m_initialized = false;
    m_epochsDone = 0;
    m_wordCountActual = 0;
    m_shardStates.clear();
    m_input.resize(0, 0);
    m_outputNegative.resize(0, 0);
    m_outputHierarchical.resize(0, 0);
  }

  const Vocabulary& vocabulary() const noexcept { return m_vocabulary; }

  /// Initialises the tables as word2vec.c: input U(-r/dim, r/dim) with r = initRange
  /// (0.5, word2vec.c's, by default), outputs zero.
  void initialize() {
    const Index v = m_vocabulary.size(), d = m_options.dim;
    checkExpected(v >= 2, "Word2Vec::initialize", "vocabulary size", ">= 2 (build the vocabulary first)", v);
    // The tables are read and written at random rows: huge pages spare the TLB misses.
    m_input.resize(d, v);
    adviseHugePages(m_input);
    const double width = 2.0 * m_options.initRange;  // 1 by default: word2vec.c's arithmetic exactly
    if (m_options.update == Update::exact) {
      detail::LcgDraws lcg{m_options.seed};
      Scalar* p = m_input.data();
      for (Index i = 0; i < d * v; ++i) {
        lcg.next();
        const Scalar u = static_cast<Scalar>(lcg.state & 0xFFFF) / static_cast<Scalar>(65536);
        p[i] = static_cast<Scalar>(width * (static_cast<double>(u) - 0.5) / static_cast<double>(d));
      }
    } else {
      Rng rng(m_options.seed);
      Scalar* p = m_input.data();
      const auto scale = static_cast<Scalar>(width / static_cast<double>(d));
      for (Index i = 0; i < d * v; ++i) p[i] = (rng.uniform<Scalar>() - Scalar(0.5)) * scale;
    }
    if (m_options.negative > 0) {
      m_outputNegative.resize(d, v);
      adviseHugePages(m_outputNegative);
      m_outputNegative.setZero();
    }
    if (m_options.hierarchicalSoftmax) {
      m_outputHierarchical.resize(d, v - 1);
      adviseHugePages(m_outputHierarchical);
      m_outputHierarchical.setZero();
    }
    m_alpha = static_cast<Scalar>(m_options.startAlpha());
    m_epochsDone = 0;
    m_wordCountActual = 0;
    m_shardStates.clear();
    m_initialized = true;
  }

  bool initialized() const noexcept { return m_initialized; }
  /// Epochs finished so far (of options().epochs).
  int epochsDone() const noexcept { return m_epochsDone; }

  /// Trains on `corpus`: builds the vocabulary and initialises the tables first if that
  /// has not been done, then runs the remaining epochs of options().epochs (at most
  /// maxEpochs of them when > 0). The learning rate decays linearly over all epochs,
  /// so training in pieces (with save / load between) gives the same result as one run.
  TrainReport train(const TextCorpus& corpus, int maxEpochs = 0) {
    const char* where = "Word2Vec::train";
    checkNonNegative(where, "maxEpochs", maxEpochs);
    checkExpected(corpus.sizeBytes() > 0, where, "corpus", "a non-empty text", corpus.name() + " is empty");
    if (m_vocabulary.size() < 2) buildVocabulary(corpus);
    if (!m_initialized) initialize();
    int epochs = m_options.epochs - m_epochsDone;
    if (maxEpochs > 0) epochs = std::min(epochs, maxEpochs);
    TrainReport report;
    if (epochs <= 0) return report;
    prepareTables();
    const int threads = resolveThreads(m_options.threads, where);
    if (static_cast<int>(m_shardStates.size()) != threads) seedShards(threads);

    Run run;
    run.totalWords = static_cast<std::int64_t>(m_options.epochs) * m_vocabulary.trainWords();
    run.wordCountActual.store(m_wordCountActual);
    run.startWordCount = m_wordCountActual;
    run.alpha.store(m_alpha);
    run.threads = threads;
    run.start = std::chrono::steady_clock::now();
    run.lastReport = run.start;
    const auto t0 = std::chrono::steady_clock::now();
    for (int e = 0; e < epochs; ++e) {
      run.stage = eigenrec::detail::concat("epoch ", m_epochsDone + 1, "/", m_options.epochs);
      // One thread reads the corpus in order; more take pieces in turn (see trainWorker).
      const Index pieces = threads == 1 ? 1 : Index(threads) * kPiecesPerThread;
      std::atomic<Index> nextPiece{0};
      parallelFor(0, threads, 1, threads, [&](Index w, Index) { trainWorker(corpus, w, pieces, nextPiece, run); });
      if (hasNonFinite(m_input) || hasNonFinite(m_outputNegative) || hasNonFinite(m_outputHierarchical)) {
        throw NumericalError(eigenrec::detail::concat(where, ": non-finite vector after epoch ", m_epochsDone + 1,
                                                      " (learning rate ", m_options.startAlpha(), " too large?)"));
      }
      ++m_epochsDone;
      m_wordCountActual = run.wordCountActual.load();
      m_alpha = run.alpha.load();
      report.epochs += 1;
    }
    report.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    report.words = m_wordCountActual - run.startWordCount;
    report.wordsPerSecond = report.seconds > 0 ? static_cast<double>(report.words) / report.seconds : 0.0;
    report.finalAlpha = static_cast<double>(m_alpha);
    if (m_options.progress) {
      Progress p = run.snapshot(m_wordCountActual, m_alpha);
      p.finished = true;
      p.etaSeconds = 0;
      m_options.progress(p);
    }
    return report;
  }

  /// Input ("syn0") vectors, (dim, V): the word vectors.
  const MatrixType& inputVectors() const noexcept { return m_input; }
  /// Negative-sampling output vectors ("syn1neg"), (dim, V); empty when negative == 0.
  const MatrixType& outputVectors() const noexcept { return m_outputNegative; }
  /// Hierarchical-softmax inner-node vectors ("syn1"), (dim, V - 1); empty without hs.
  const MatrixType& hierarchicalVectors() const noexcept { return m_outputHierarchical; }
  /// Mutable input vectors (dim, V), e.g. to start from pretrained vectors.
  MatrixType& inputVectors() noexcept { return m_input; }

  /// The vector of `word`, (dim). Throws if the word is unknown.
  Vector<Scalar> vector(std::string_view word) const {
    const Index i = m_vocabulary.find(word);
    checkArgument(i >= 0, "Word2Vec::vector", eigenrec::detail::concat("unknown word '", word, "'"));
    checkArgument(m_initialized, "Word2Vec::vector", "the model is not trained");
    return m_input.col(i);
  }

  /// The trained input vectors with their words, for queries and evaluation.
  WordVectors<Scalar> wordVectors() const {
    checkArgument(m_initialized, "Word2Vec::wordVectors", "the model is not trained");
    return WordVectors<Scalar>(m_vocabulary.words(), m_input);
  }

  /// The Huffman tree (built on demand).
  const HuffmanTree& huffmanTree() {
    if (m_huffman.size() != m_vocabulary.size()) m_huffman = HuffmanTree(m_vocabulary.counts());
    return m_huffman;
  }

  /// Writes the input vectors in word2vec.c's format (text or binary), atomically.
  void saveWord2Vec(const std::string& path, bool binary) const {
    checkArgument(m_initialized, "Word2Vec::saveWord2Vec", "the model is not trained");
    io::saveWord2Vec(path, m_vocabulary.words(), m_input, binary, formatOptions());
  }
  void writeWord2Vec(std::ostream& os, bool binary) const {
    checkArgument(m_initialized, "Word2Vec::writeWord2Vec", "the model is not trained");
    io::writeWord2Vec(os, m_vocabulary.words(), m_input, binary, formatOptions());
  }

  /// Saves the whole model (options, vocabulary, tables, training state) in the
  /// library's versioned archive, so that training can be resumed after load().
  void save(std::ostream& os) const {
    checkArgument(m_initialized, "Word2Vec::save", "the model is not initialised");
    ArchiveWriter w(os, kArchiveKind, kArchiveVersion);
    const auto& o = m_options;
    w.writeValue("architecture", static_cast<std::int32_t>(o.architecture));
    w.writeValue("dim", static_cast<std::int64_t>(o.dim));
    w.writeValue("window", static_cast<std::int32_t>(o.window));
    w.writeValue("sample", o.sample);
    w.writeValue("negative", static_cast<std::int32_t>(o.negative));
    w.writeValue("hs", static_cast<std::int32_t>(o.hierarchicalSoftmax));
    w.writeValue("epochs", static_cast<std::int32_t>(o.epochs));
    w.writeValue("alpha", o.alpha);
    w.writeValue("cbow_input", static_cast<std::int32_t>(o.cbowInput));
    w.writeValue("update", static_cast<std::int32_t>(o.update));
    w.writeValue("seed", static_cast<std::int64_t>(o.seed));
    w.writeValue("table_size", o.tableSize);
    w.writeValue("noise_power", o.noisePower);
    w.writeValue("max_sentence_length", static_cast<std::int32_t>(o.maxSentenceLength));
    w.writeValue("min_count", o.vocabulary.minCount);
    w.writeValue("max_word_bytes", static_cast<std::int64_t>(o.vocabulary.tokenizer.maxWordBytes));
    w.writeValue("truncate_long_words", static_cast<std::int32_t>(o.vocabulary.tokenizer.truncateLongWords));
    w.writeValue("validate_utf8", static_cast<std::int32_t>(o.vocabulary.tokenizer.validateUtf8));
    std::string joined;
    for (Index i = 0; i < m_vocabulary.size(); ++i) {
      if (i > 0) joined += '\n';
      joined += m_vocabulary.word(i);
    }
    w.writeString("words", joined);
    w.writeVector("counts", m_vocabulary.counts());
    w.writeValue("epochs_done", static_cast<std::int32_t>(m_epochsDone));
    w.writeValue("word_count_actual", m_wordCountActual);
    w.writeValue("alpha_now", m_alpha);
    std::vector<std::int64_t> states;
    for (const auto& s : m_shardStates) {
      for (auto x : s) states.push_back(static_cast<std::int64_t>(x));
    }
    w.writeVector("shard_states", states);
    w.write("input", m_input);
    w.write("output_negative", m_outputNegative);
    w.write("output_hs", m_outputHierarchical);
    w.finish();
  }

  /// Loads a model written by save(). Throws FormatError on a wrong, truncated or
  /// corrupted file (nothing is returned then).
  static Word2Vec load(std::istream& is, const std::string& source = "<archive>") {
    ArchiveReader r(is, kArchiveKind, kArchiveVersion, source);
    Word2VecOptions o;
    auto fail = [&](const std::string& m) { throw FormatError(source, 0, 0, m); };
    const auto arch = r.readValue<std::int32_t>("architecture");
    if (arch < 0 || arch > 1) fail("bad architecture");
    o.architecture = static_cast<Architecture>(arch);
    o.dim = static_cast<Index>(r.readValue<std::int64_t>("dim"));
    o.window = r.readValue<std::int32_t>("window");
    o.sample = r.readValue<double>("sample");
    o.negative = r.readValue<std::int32_t>("negative");
    o.hierarchicalSoftmax = r.readValue<std::int32_t>("hs") != 0;
    o.epochs = r.readValue<std::int32_t>("epochs");
    o.alpha = r.readValue<double>("alpha");
    const auto ci = r.readValue<std::int32_t>("cbow_input");
    if (ci < 0 || ci > 1) fail("bad cbow_input");
    o.cbowInput = static_cast<CbowInput>(ci);
    const auto up = r.readValue<std::int32_t>("update");
    if (up < 0 || up > 2) fail("bad update");
    o.update = static_cast<Update>(up);
    o.seed = static_cast<std::uint64_t>(r.readValue<std::int64_t>("seed"));
    o.tableSize = r.readValue<std::int64_t>("table_size");
    o.noisePower = r.readValue<double>("noise_power");
    o.maxSentenceLength = r.readValue<std::int32_t>("max_sentence_length");
    o.vocabulary.minCount = r.readValue<std::int64_t>("min_count");
    const auto maxWordBytes = r.readValue<std::int64_t>("max_word_bytes");
    if (maxWordBytes < 0) fail("bad max_word_bytes");
    o.vocabulary.tokenizer.maxWordBytes = static_cast<std::size_t>(maxWordBytes);
    o.vocabulary.tokenizer.truncateLongWords = r.readValue<std::int32_t>("truncate_long_words") != 0;
    o.vocabulary.tokenizer.validateUtf8 = r.readValue<std::int32_t>("validate_utf8") != 0;
    try {
      o.validate("Word2Vec::load");
    } catch (const std::invalid_argument& e) {
      fail(e.what());
    }
    const std::string joined = r.readString("words");
    const auto counts = r.readVector<std::int64_t>("counts");
    std::vector<std::pair<std::string, std::int64_t>> entries;
    {
      std::size_t start = 0, i = 0;
      while (start <= joined.size()) {
        const std::size_t end = std::min(joined.find('\n', start), joined.size());
        if (i >= counts.size()) fail("more words than counts");
        entries.emplace_back(joined.substr(start, end - start), counts[i++]);
        start = end + 1;
      }
      if (i != counts.size()) fail("fewer words than counts");
    }
    Word2Vec model(o);
    const auto epochsDone = r.readValue<std::int32_t>("epochs_done");
    const auto wca = r.readValue<std::int64_t>("word_count_actual");
    const auto alphaNow = r.readValue<Scalar>("alpha_now");
    const auto states = r.readVector<std::int64_t>("shard_states");
    if (states.size() % 4 != 0) fail("bad shard_states");
    const Index v = static_cast<Index>(entries.size());
    MatrixType input, outNeg, outHs;
    r.read("input", input, o.dim, v);
    r.read("output_negative", outNeg, o.negative > 0 ? o.dim : 0, o.negative > 0 ? v : 0);
    r.read("output_hs", outHs, o.hierarchicalSoftmax ? o.dim : 0, o.hierarchicalSoftmax ? v - 1 : 0);
    r.finish();
    // Everything read and verified: build the model.
    if (entries.empty() || entries[0].first != kSentenceEnd) fail("the first word is not </s>");
    VocabularyOptions vo;
    vo.minCount = 1;
    vo.tokenizer.maxWordBytes = 0;
    vo.tokenizer.validateUtf8 = false;
    Vocabulary vocab;
    try {
      vocab = Vocabulary::fromCounts(entries, vo);
    } catch (const std::invalid_argument& e) {
      fail(e.what());
    }
    if (vocab.size() != v) fail("vocabulary is not in count order or has zero counts");
    for (Index i = 0; i < v; ++i) {
      if (vocab.word(i) != entries[static_cast<std::size_t>(i)].first) fail("vocabulary is not in count order");
    }
    if (epochsDone < 0 || epochsDone > o.epochs) fail("bad epochs_done");
    model.m_vocabulary = std::move(vocab);
    model.m_input = std::move(input);
    model.m_outputNegative = std::move(outNeg);
    model.m_outputHierarchical = std::move(outHs);
    model.m_epochsDone = epochsDone;
    model.m_wordCountActual = wca;
    model.m_alpha = alphaNow;
    for (std::size_t s = 0; s < states.size(); s += 4) {
      model.m_shardStates.push_back({static_cast<std::uint64_t>(states[s]), static_cast<std::uint64_t>(states[s + 1]),
                                     static_cast<std::uint64_t>(states[s + 2]),
                                     static_cast<std::uint64_t>(states[s + 3])});
    }
    model.m_initialized = true;
    return model;
  }

  void saveFile(const std::string& path) const {
    saveFileAtomically(path, [&](std::ostream& os) { save(os); });
  }
  static Word2Vec loadFile(const std::string& path) {
    return eigenrec::loadFile(path, [&](std::istream& is) { return load(is, path); });
  }

 private:
  // Shared state of one train() call.
  struct Run {
    std::int64_t totalWords = 0;
    std::int64_t startWordCount = 0;
    std::atomic<std::int64_t> wordCountActual{0};
    std::atomic<Scalar> alpha{0};
    int threads = 1;
    std::string stage;
    std::chrono::steady_clock::time_point start, lastReport;
    std::mutex reportMutex;

    Progress snapshot(std::int64_t done, Scalar a) const {
      Progress p;
      p.stage = stage;
      p.unit = "words/thread";
      p.done = done;
      p.total = totalWords;
      p.elapsedSeconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
      const double perSecond =
          p.elapsedSeconds > 0 ? static_cast<double>(done - startWordCount) / p.elapsedSeconds : 0.0;
      p.rate = perSecond / threads;
      p.etaSeconds = perSecond > 0 ? static_cast<double>(totalWords - done) / perSecond : -1.0;
      p.learningRate = static_cast<double>(a);
      return p;
    }
  };

  io::Word2VecFormatOptions formatOptions() const {
    io::Word2VecFormatOptions f;
    f.maxWordBytes = m_options.vocabulary.tokenizer.maxWordBytes;
    f.validateUtf8 = m_options.vocabulary.tokenizer.validateUtf8;
    return f;
  }

  void prepareTables() {
    const auto& counts = m_vocabulary.counts();
    if (m_options.negative > 0 && m_unigram.size() != m_options.tableSize) {
      m_unigram = UnigramTable(counts, m_options.tableSize, m_options.noisePower);
    }
    if (m_options.hierarchicalSoftmax) huffmanTree();
    m_keep.resize(counts.size());
    const Scalar sample = static_cast<Scalar>(m_options.sample);
    for (std::size_t i = 0; i < counts.size(); ++i) {
      m_keep[i] = subsampleKeep<Scalar>(counts[i], sample, m_vocabulary.trainWords());
    }
  }

  void seedShards(int threads) {
    m_shardStates.clear();
    for (int s = 0; s < threads; ++s) {
      if (m_options.update == Update::exact) {
        // word2vec.c seeds thread t with t; seed 1 (the default) reproduces that.
        m_shardStates.push_back({m_options.seed - 1 + static_cast<std::uint64_t>(s), 0, 0, 0});
      } else {
        m_shardStates.push_back(Rng::forShard(m_options.seed, static_cast<std::uint64_t>(s)).state());
      }
    }
  }

  // Pieces of the corpus per thread when several threads train: the threads take them
  // in turn, so that one slowed down by other work on the machine takes fewer instead of
  // keeping the others waiting at the end of the epoch; many small pieces make the wait
  // for the last one short.
  static constexpr Index kPiecesPerThread = 32;

  // Training thread `worker` with its own random stream: trains the pieces it takes from
  // `next` (of `pieces` byte ranges of the corpus) until none is left.
  void trainWorker(const TextCorpus& corpus, Index worker, Index pieces, std::atomic<Index>& next, Run& run) {
    auto& state = m_shardStates[static_cast<std::size_t>(worker)];
    Workspace ws;
    ws.sentence.resize(static_cast<std::size_t>(m_options.maxSentenceLength));
    ws.neu1.resize(static_cast<std::size_t>(m_options.dim));
    ws.neu1e.resize(static_cast<std::size_t>(m_options.dim));
    const auto trainPieces = [&](auto exact, auto& draws) {
      for (Index p; (p = next.fetch_add(1, std::memory_order_relaxed)) < pieces;) {
        trainPiece<decltype(exact)::value>(corpus, p, pieces, run, draws, ws);
      }
    };
    if (m_options.update == Update::exact) {
      detail::LcgDraws draws{state[0]};
      trainPieces(std::true_type{}, draws);
      state = draws.save();
    } else {
      detail::RngDraws draws;
      draws.rng.setState(state);
      trainPieces(std::false_type{}, draws);
      state = draws.save();
    }
  }

  // Per-thread buffers.
  using AlignedVector = std::vector<Scalar, Eigen::aligned_allocator<Scalar>>;
  struct Workspace {
    std::vector<std::int32_t> sentence;
    std::vector<std::int32_t> contexts;
    std::vector<std::int32_t> targets;
    std::vector<std::int8_t> labels;
    std::vector<Scalar> neu1, neu1e, dout, logits;
    // Minibatched skip-gram: columns of `padded` elements, each starting on an
    // EIGEN_MAX_ALIGN_BYTES boundary, zeros past dim.
    AlignedVector c, o, dc, acc;
  };

  // Trains piece `piece` of `pieces` byte ranges of the corpus.
  template <bool Exact, typename Draws>
  void trainPiece(const TextCorpus& corpus, Index piece, Index pieces, Run& run, Draws& draws, Workspace& ws) {
    const auto [begin, end] = corpus.shardRange(piece, pieces);
    TokenReader reader(corpus, begin, end, m_options.vocabulary.tokenizer);
    const Scalar startAlpha = static_cast<Scalar>(m_options.startAlpha());
    const bool sampling = m_options.sample > 0;
    Scalar alpha = run.alpha.load(std::memory_order_relaxed);
    std::int64_t wordCount = 0, lastWordCount = 0;
    Index sentenceLength = 0, position = 0;
    bool eof = false;
    std::string_view token;
    for (;;) {
      if (wordCount - lastWordCount > 10000) {
        const std::int64_t delta = wordCount - lastWordCount;
        const std::int64_t wca = run.wordCountActual.fetch_add(delta, std::memory_order_relaxed) + delta;
        lastWordCount = wordCount;
        report(run, wca, alpha);
        alpha = learningRate<Scalar>(startAlpha, wca, run.totalWords);
        run.alpha.store(alpha, std::memory_order_relaxed);
      }
      if (sentenceLength == 0) {
        for (;;) {
          if (!reader.next(token)) {
            eof = true;
            break;
          }
          const Index word = token.data() == kSentenceEnd.data() ? 0 : m_vocabulary.find(token);
          if (word < 0) continue;
          ++wordCount;
          if (word == 0) break;
          if (sampling && draws.drop(m_keep[static_cast<std::size_t>(word)])) continue;
          ws.sentence[static_cast<std::size_t>(sentenceLength++)] = static_cast<std::int32_t>(word);
          if (sentenceLength >= m_options.maxSentenceLength) break;
        }
        position = 0;
      }
      if (eof) {
        // word2vec.c drops the unfinished last sentence; the other modes train it.
        if (!Exact) {
          for (; position < sentenceLength; ++position) trainPosition<Exact>(ws, sentenceLength, position, alpha, draws);
        }
        const std::int64_t delta = wordCount - lastWordCount;
        run.alpha.store(alpha, std::memory_order_relaxed);
        run.wordCountActual.fetch_add(delta, std::memory_order_relaxed);
        break;
      }
      if (Exact || sentenceLength > 0) trainPosition<Exact>(ws, sentenceLength, position, alpha, draws);
      ++position;
      if (position >= sentenceLength) sentenceLength = 0;
    }
  }

  void report(Run& run, std::int64_t wca, Scalar alpha) {
    if (!m_options.progress) return;
    std::unique_lock<std::mutex> lock(run.reportMutex, std::try_to_lock);
    if (!lock.owns_lock()) return;
    const auto now = std::chrono::steady_clock::now();
    if (std::chrono::duration<double>(now - run.lastReport).count() < 0.25) return;
    run.lastReport = now;
    m_options.progress(run.snapshot(wca, alpha));
  }

  // One centre position: draw the window shrink, collect the context, update.
  template <bool Exact, typename Draws>
  void trainPosition(Workspace& ws, Index length, Index position, Scalar alpha, Draws& draws) {
    const int w = m_options.window;
    const std::int64_t b = draws.window(w);
    ws.contexts.clear();
    for (std::int64_t a = b; a < 2 * w + 1 - b; ++a) {
      if (a == w) continue;
      const std::int64_t c = position - w + a;
      if (c < 0 || c >= length) continue;
      ws.contexts.push_back(ws.sentence[static_cast<std::size_t>(c)]);
    }
    if (ws.contexts.empty()) return;
    const std::int32_t word = ws.sentence[static_cast<std::size_t>(position)];
    if (m_options.architecture == Architecture::cbow) {
      trainCbow<Exact>(ws, word, alpha, draws);
    } else if (!Exact && m_options.update == Update::minibatch) {
      trainSkipGramWindow(ws, word, alpha, draws);
    } else {
      for (const std::int32_t context : ws.contexts) trainPair<Exact>(ws, context, word, alpha, draws);
    }
  }

  template <bool Exact>
  static Scalar dot(const Scalar* a, const Scalar* b, Index n) noexcept {
    if constexpr (Exact) {
      Scalar f = 0;
      for (Index c = 0; c < n; ++c) f += a[c] * b[c];
      return f;
    } else {
      return Eigen::Map<const Vector<Scalar>>(a, n).dot(Eigen::Map<const Vector<Scalar>>(b, n));
    }
  }
  static void axpy(Scalar g, const Scalar* x, Scalar* y, Index n) noexcept {
    for (Index c = 0; c < n; ++c) y[c] += g * x[c];
  }

  // Output layers against hidden vector h (an input column or the CBOW mean); the error
  // for h accumulates in neu1e. Output vectors are updated inside the loop, as in
  // word2vec.c, so a later negative sees the earlier updates.
  template <bool Exact, typename Draws>
  void trainOutputs(const Scalar* h, Scalar* neu1e, std::int32_t word, Scalar alpha, Draws& draws) {
    const Index d = m_options.dim;
    if (m_options.hierarchicalSoftmax) {
      const int len = m_huffman.length(word);
      const std::uint8_t* code = m_huffman.code(word);
      const std::int32_t* point = m_huffman.point(word);
      Scalar* syn1 = m_outputHierarchical.data();
      for (int k = 0; k < len; ++k) {
        Scalar* l2 = syn1 + static_cast<Index>(point[k]) * d;
        const Scalar f = dot<Exact>(h, l2, d);
        if (f <= -ExpTable<Scalar>::kMaxExp || f >= ExpTable<Scalar>::kMaxExp) continue;
        const Scalar g = m_exp.hierarchicalGradient(f, code[k], alpha);
        axpy(g, l2, neu1e, d);
        axpy(g, h, l2, d);
      }
    }
    if (m_options.negative > 0) {
      Scalar* syn1neg = m_outputNegative.data();
      const Index v = m_vocabulary.size();
      for (int k = 0; k < m_options.negative + 1; ++k) {
        std::int32_t target;
        int label;
        if (k == 0) {
          target = word;
          label = 1;
        } else {
          target = draws.negative(m_unigram, v);
          if (target == word) continue;  // skipped, not redrawn (word2vec.c)
          label = 0;
        }
        Scalar* l2 = syn1neg + static_cast<Index>(target) * d;
        const Scalar f = dot<Exact>(h, l2, d);
        const Scalar g = m_exp.negativeGradient(f, label, alpha);
        axpy(g, l2, neu1e, d);
        axpy(g, h, l2, d);
      }
    }
  }

  // Skip-gram, one (context, centre) pair: the context's input vector predicts the centre.
  template <bool Exact, typename Draws>
  void trainPair(Workspace& ws, std::int32_t context, std::int32_t word, Scalar alpha, Draws& draws) {
    const Index d = m_options.dim;
    Scalar* l1 = m_input.data() + static_cast<Index>(context) * d;
    Scalar* neu1e = ws.neu1e.data();
    std::fill(neu1e, neu1e + d, Scalar(0));
    trainOutputs<Exact>(l1, neu1e, word, alpha, draws);
    for (Index c = 0; c < d; ++c) l1[c] += neu1e[c];
  }

  // CBOW: the mean (or sum) of the context predicts the centre; the whole error goes to
  // every context word.
  template <bool Exact, typename Draws>
  void trainCbow(Workspace& ws, std::int32_t word, Scalar alpha, Draws& draws) {
    const Index d = m_options.dim;
    Scalar* neu1 = ws.neu1.data();
    Scalar* neu1e = ws.neu1e.data();
    std::fill(neu1, neu1 + d, Scalar(0));
    std::fill(neu1e, neu1e + d, Scalar(0));
    for (const std::int32_t context : ws.contexts) {
      const Scalar* x = m_input.data() + static_cast<Index>(context) * d;
      for (Index c = 0; c < d; ++c) neu1[c] += x[c];
    }
    if (m_options.cbowInput == CbowInput::mean) {
      const auto cw = static_cast<Scalar>(ws.contexts.size());
      for (Index c = 0; c < d; ++c) neu1[c] /= cw;
    }
    trainOutputs<Exact>(neu1, neu1e, word, alpha, draws);
    for (const std::int32_t context : ws.contexts) {
      Scalar* x = m_input.data() + static_cast<Index>(context) * d;
      for (Index c = 0; c < d; ++c) x[c] += neu1e[c];
    }
  }

  // Skip-gram, whole window at once with shared negatives (Ji et al. 2016): with C the
  // (dim, m) context inputs and O the (dim, n) outputs (centre word, negatives, and / or
  // the centre's Huffman path), G = (labels - sigma(C^T O)) * alpha (m, n), then
  // C += O G^T and O += C G, both from the values before the step.
  //
  // The step works on aligned copies: every column of C, O and the errors has a padded
  // length (a multiple of 64 bytes, zeros past dim) and starts on an aligned boundary,
  // so the m x n dot products and error updates run without peeling or tails (with a
  // dim that is not a multiple of the packet size, e.g. 50 or 100, those cost up to
  // 1.5x); the tables, whose columns are not aligned, are touched once per column.
  template <typename Draws>
  void trainSkipGramWindow(Workspace& ws, std::int32_t word, Scalar alpha, Draws& draws) {
    using Padded = Eigen::Map<Vector<Scalar>, Eigen::AlignedMax>;
    using ConstPadded = Eigen::Map<const Vector<Scalar>, Eigen::AlignedMax>;
    const Index d = m_options.dim;
    const Index p = paddedLength(d);
    const Index m = static_cast<Index>(ws.contexts.size());
    ws.c.assign(static_cast<std::size_t>(p * m), Scalar(0));
    ws.dc.assign(static_cast<std::size_t>(p * m), Scalar(0));
    ws.acc.resize(static_cast<std::size_t>(p));
    ws.logits.resize(static_cast<std::size_t>(m));
    Scalar* c = ws.c.data();
    Scalar* dc = ws.dc.data();
    Scalar* g = ws.logits.data();
    Padded acc(ws.acc.data(), p);
    for (Index j = 0; j < m; ++j) {
      Padded(c + j * p, p).head(d) = m_input.col(ws.contexts[static_cast<std::size_t>(j)]);
    }
    // Outputs: the (dim, n) columns are copied first, so that every gradient uses the
    // values before the step even when a negative repeats; then, one output k at a
    // time, g_j = gradient(c_j . o_k), the table column gets sum_j g_j c_j and each
    // context's error gets g_j o_k.
    auto block = [&](MatrixType& table, Index n, auto&& targetOf, auto&& gradient) {
      ws.o.assign(static_cast<std::size_t>(p * n), Scalar(0));
      Scalar* o = ws.o.data();
      for (Index k = 0; k < n; ++k) Padded(o + k * p, p).head(d) = table.col(targetOf(k));
      for (Index k = 0; k < n; ++k) {
        const ConstPadded ok(o + k * p, p);
        for (Index j = 0; j < m; ++j) g[j] = gradient(ConstPadded(c + j * p, p).dot(ok), k);
        bool any = false;
        acc.setZero();
        for (Index j = 0; j < m; ++j) {
          if (g[j] == Scalar(0)) continue;
          any = true;
          acc += g[j] * ConstPadded(c + j * p, p);
          Padded(dc + j * p, p) += g[j] * ok;
        }
        if (any) table.col(targetOf(k)) += acc.head(d);
      }
    };
    if (m_options.hierarchicalSoftmax) {
      const int len = m_huffman.length(word);
      const std::uint8_t* code = m_huffman.code(word);
      const std::int32_t* point = m_huffman.point(word);
      block(
          m_outputHierarchical, len, [&](Index k) { return static_cast<Index>(point[k]); },
          [&](Scalar f, Index k) { return m_exp.hierarchicalGradient(f, code[k], alpha); });
    }
    if (m_options.negative > 0) {
      ws.targets.clear();
      ws.targets.push_back(word);
      const Index v = m_vocabulary.size();
      for (int k = 0; k < m_options.negative; ++k) {
        const std::int32_t t = draws.negative(m_unigram, v);
        if (t != word) ws.targets.push_back(t);  // skipped, not redrawn
      }
      block(
          m_outputNegative, static_cast<Index>(ws.targets.size()),
          [&](Index k) { return static_cast<Index>(ws.targets[static_cast<std::size_t>(k)]); },
          [&](Scalar f, Index k) { return m_exp.negativeGradient(f, k == 0 ? 1 : 0, alpha); });
    }
    for (Index j = 0; j < m; ++j) {
      m_input.col(ws.contexts[static_cast<std::size_t>(j)]) += ConstPadded(dc + j * p, p).head(d);
    }
  }

  /// dim rounded up to a whole number of 64-byte lines (and of EIGEN_MAX_ALIGN_BYTES).
  static Index paddedLength(Index d) {
    constexpr Index line = std::max<Index>(64, EIGEN_MAX_ALIGN_BYTES) / static_cast<Index>(sizeof(Scalar));
    return (d + line - 1) / line * line;
  }

  Word2VecOptions m_options;
  Vocabulary m_vocabulary;
  MatrixType m_input, m_outputNegative, m_outputHierarchical;
  bool m_initialized = false;
  int m_epochsDone = 0;
  std::int64_t m_wordCountActual = 0;
  Scalar m_alpha = 0;
  std::vector<std::array<std::uint64_t, 4>> m_shardStates;
  // Derived tables (rebuilt, never saved).
  ExpTable<Scalar> m_exp;
  UnigramTable m_unigram;
  HuffmanTree m_huffman;
  std::vector<Scalar> m_keep;
};

}  // namespace eigenrec::embedding

#endif  // EIGENREC_EMBEDDING_WORD2VEC_HPP

// eigenrec-word2vec: word2vec.c's command line on eigenrec's trainer, plus an `eval`
// subcommand (analogy accuracy as compute-accuracy, word-similarity Spearman).
//
//   eigenrec-word2vec -train text.txt -output vectors.bin -cbow 0 -size 100 -window 5
//       -negative 5 -sample 1e-4 -min-count 5 -iter 1 -threads 1 -binary 1
//   eigenrec-word2vec eval -vectors vectors.bin -analogy questions-words.txt
//       -similarity wordsim353.tsv -threshold 30000
//
// Flags and defaults are word2vec.c's (-cbow 1, -size 100, -window 5, -sample 1e-3,
// -hs 0, -negative 5, -threads 12, -iter 5, -min-count 5, -alpha 0.05 for CBOW and
// 0.025 for skip-gram, -binary 0). Extra flags: -update minibatch|perpair|exact,
// -seed N, -cbow-mean 1|0, -save-model FILE (resumable model), -resume FILE (continue a
// saved model's remaining epochs), -max-vocab N, -progress 0|1.
// The output is written to a temporary file and renamed only when training is done.
#include <eigenrec/embedding.hpp>

#include <charconv>
#include <cstdio>
#include <cstdlib>
#include <iomanip>
#include <iostream>
#include <map>
#include <memory>
#include <string>
#include <vector>

namespace {

using namespace eigenrec;
using namespace eigenrec::embedding;

struct UsageError : std::runtime_error {
  using std::runtime_error::runtime_error;
};

void printTrainUsage() {
  std::cout << "eigenrec-word2vec: word2vec (skip-gram / CBOW) as word2vec.c, on eigenrec\n\n"
               "Training:\n"
               "  -train <file>        text to train on (words separated by spaces, '\\n' ends a sentence)\n"
               "  -output <file>       word vectors (word2vec.c format)\n"
               "  -size <int>          vector size; default 100\n"
               "  -window <int>        maximum skip length; default 5\n"
               "  -sample <float>      subsampling threshold; default 1e-3 (0 = off)\n"
               "  -hs <int>            hierarchical softmax; default 0\n"
               "  -negative <int>      negative samples; default 5 (0 = off)\n"
               "  -threads <int>       threads; default 12 (1 = reproducible; more = Hogwild)\n"
               "  -iter <int>          epochs; default 5\n"
               "  -min-count <int>     drop words seen fewer times; default 5\n"
               "  -alpha <float>       start learning rate; default 0.025 skip-gram, 0.05 CBOW\n"
               "  -cbow <int>          1 = CBOW (default), 0 = skip-gram\n"
               "  -binary <int>        1 = binary output; default 0\n"
               "  -save-vocab <file>   write the vocabulary (word count per line)\n"
               "  -read-vocab <file>   read the vocabulary instead of counting the text\n"
               "  -debug <int>         2 = progress line (default), 0 = quiet\n"
               "eigenrec extensions:\n"
               "  -update <mode>       minibatch (default; shared negatives per window), perpair, exact\n"
               "  -seed <int>          random seed; default 1 (word2vec.c's streams in exact mode)\n"
               "  -cbow-mean <int>     1 = mean of the context (default), 0 = sum\n"
               "  -init-range <float>  input vectors start in U(-r/size, r/size); default 0.5\n"
               "                       (word2vec.c), 1 = gensim 4's initialisation\n"
               "  -max-vocab <int>     keep at most this many words; default 0 (no limit)\n"
               "  -save-model <file>   also save the resumable model\n"
               "  -resume <file>       load a saved model and run its remaining epochs\n\n"
               "Evaluation:\n"
               "  eigenrec-word2vec eval -vectors <file> [-analogy <questions>] [-similarity <pairs>]...\n"
               "                         [-threshold <int> (30000)] [-case-insensitive <int> (1)]\n";
}

class Args {
 public:
  Args(int argc, char** argv, int first, const std::vector<std::string>& known) {
    for (int i = first; i < argc; ++i) {
      const std::string flag = argv[i];
      if (flag.empty() || flag[0] != '-') throw UsageError("unexpected argument '" + flag + "'");
      bool ok = false;
      for (const auto& k : known) ok = ok || k == flag;
      if (!ok) throw UsageError("unknown option " + flag);
      if (i + 1 >= argc) throw UsageError("argument missing for " + flag);
      m_values[flag].push_back(argv[++i]);
    }
  }
  bool has(const std::string& f) const { return m_values.count(f) > 0; }
  std::string str(const std::string& f, const std::string& fallback = "") const {
    return has(f) ? m_values.at(f).back() : fallback;
  }
  std::vector<std::string> all(const std::string& f) const { return has(f) ? m_values.at(f) : std::vector<std::string>{}; }
  long long integer(const std::string& f, long long fallback) const {
    if (!has(f)) return fallback;
    const std::string& s = m_values.at(f).back();
    long long v = 0;
    const auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
    if (ec != std::errc() || p != s.data() + s.size()) throw UsageError(f + " expects an integer, got '" + s + "'");
    return v;
  }
  double real(const std::string& f, double fallback) const {
    if (!has(f)) return fallback;
    const std::string& s = m_values.at(f).back();
    char* end = nullptr;
    const double v = std::strtod(s.c_str(), &end);
    if (s.empty() || *end != '\0') throw UsageError(f + " expects a number, got '" + s + "'");
    return v;
  }

 private:
  std::map<std::string, std::vector<std::string>> m_values;
};

int train(int argc, char** argv) {
  const Args args(argc, argv, 1,
                  {"-train", "-output", "-size", "-window", "-sample", "-hs", "-negative", "-threads", "-iter",
                   "-min-count", "-alpha", "-cbow", "-binary", "-save-vocab", "-read-vocab", "-debug", "-classes",
                   "-update", "-seed", "-cbow-mean", "-init-range", "-max-vocab", "-save-model", "-resume"});
  if (args.has("-classes") && args.integer("-classes", 0) != 0) throw UsageError("-classes (k-means) is not supported");
  const std::string trainFile = args.str("-train");
  if (trainFile.empty()) throw UsageError("-train <file> is required");
  const int debug = static_cast<int>(args.integer("-debug", 2));
  const std::string output = args.str("-output");

  Word2VecOptions o;
  o.architecture = args.integer("-cbow", 1) != 0 ? Architecture::cbow : Architecture::skipGram;
  o.dim = static_cast<Index>(args.integer("-size", 100));
  o.window = static_cast<int>(args.integer("-window", 5));
  o.sample = args.real("-sample", 1e-3);
  o.hierarchicalSoftmax = args.integer("-hs", 0) != 0;
  o.negative = static_cast<int>(args.integer("-negative", 5));
  o.threads = static_cast<int>(args.integer("-threads", 12));
  o.epochs = static_cast<int>(args.integer("-iter", 5));
  o.vocabulary.minCount = args.integer("-min-count", 5);
  o.vocabulary.maxSize = static_cast<Index>(args.integer("-max-vocab", 0));
  o.alpha = args.real("-alpha", 0.0);
  if (args.has("-alpha") && !(o.alpha > 0)) throw UsageError("-alpha expects a positive number");
  o.seed = static_cast<std::uint64_t>(args.integer("-seed", 1));
  o.cbowInput = args.integer("-cbow-mean", 1) != 0 ? CbowInput::mean : CbowInput::sum;
  o.initRange = args.real("-init-range", 0.5);
  if (!(o.initRange > 0)) throw UsageError("-init-range expects a positive number");
  const std::string update = args.str("-update", "minibatch");
  if (update == "minibatch") {
    o.update = Update::minibatch;
  } else if (update == "perpair") {
    o.update = Update::perPair;
  } else if (update == "exact") {
    o.update = Update::exact;
  } else {
    throw UsageError("-update expects minibatch, perpair or exact, got '" + update + "'");
  }
  if (debug > 1) o.progress = ProgressLine(ProgressLine::Mode::automatic);
  const bool binary = args.integer("-binary", 0) != 0;

  const auto corpus = TextCorpus::fromFile(trainFile);
  std::unique_ptr<Word2Vec<float>> model;
  if (args.has("-resume")) {
    model = std::make_unique<Word2Vec<float>>(Word2Vec<float>::loadFile(args.str("-resume")));
    model->setThreads(o.threads);
    model->setProgress(o.progress);
  } else {
    model = std::make_unique<Word2Vec<float>>(o);
    if (args.has("-read-vocab")) {
      model->setVocabulary(Vocabulary::loadFile(args.str("-read-vocab"), o.vocabulary));
    } else {
      auto vo = o.vocabulary;
      if (debug > 1) vo.progress = ProgressLine(ProgressLine::Mode::automatic);
      model->setVocabulary(Vocabulary::build(corpus, vo, o.threads));
    }
  }
  if (debug > 0) {
    std::cerr << "Vocab size: " << model->vocabulary().size() << "\n"
              << "Words in train file: " << model->vocabulary().trainWords() << "\n";
  }
  if (args.has("-save-vocab")) model->vocabulary().saveFile(args.str("-save-vocab"));
  if (output.empty() && !args.has("-save-model")) return 0;
  const auto report = model->train(corpus);
  if (debug > 0) {
    std::cerr << "Trained " << report.epochs << " epoch(s), " << report.words << " words in " << std::fixed
              << std::setprecision(2) << report.seconds << " s (" << std::setprecision(0) << report.wordsPerSecond
              << " words/s)\n";
  }
  if (!output.empty()) model->saveWord2Vec(output, binary);
  if (args.has("-save-model")) model->saveFile(args.str("-save-model"));
  return 0;
}

int eval(int argc, char** argv) {
  const Args args(argc, argv, 2, {"-vectors", "-analogy", "-similarity", "-threshold", "-case-insensitive"});
  const std::string vectorsFile = args.str("-vectors");
  if (vectorsFile.empty()) throw UsageError("eval: -vectors <file> is required");
  if (!args.has("-analogy") && !args.has("-similarity")) throw UsageError("eval: give -analogy and/or -similarity");
  const auto threshold = static_cast<Index>(args.integer("-threshold", 30000));
  if (threshold < 0) throw UsageError("-threshold expects >= 0");
  const bool fold = args.integer("-case-insensitive", 1) != 0;
  const auto wv = WordVectors<float>::loadWord2Vec(vectorsFile);
  std::cout << std::fixed << std::setprecision(2);
  for (const auto& file : args.all("-analogy")) {
    AnalogyOptions ao;
    ao.restrict = threshold;
    ao.caseInsensitive = fold;
    const auto r = evaluateAnalogiesFile(wv, file, ao);
    std::cout << "analogy " << file << " (top " << threshold << " words)\n";
    for (const auto& s : r.sections) {
      std::cout << "  " << std::left << std::setw(30) << s.name << std::right << std::setw(7)
                << 100.0 * s.accuracy() << " %  (" << s.correct << " / " << s.seen << ")\n";
    }
    std::cout << "  Total accuracy: " << 100.0 * r.overall.accuracy() << " %   Semantic accuracy: "
              << 100.0 * r.semantic.accuracy() << " %   Syntactic accuracy: " << 100.0 * r.syntactic.accuracy()
              << " %\n"
              << "  Questions seen / total: " << r.overall.seen << " " << r.overall.total << "   "
              << (r.overall.total ? 100.0 * r.overall.seen / r.overall.total : 0.0) << " %\n";
  }
  for (const auto& file : args.all("-similarity")) {
    SimilarityOptions so;
    so.caseInsensitive = fold;
    const auto r = evaluateSimilarityFile(wv, file, so);
    std::cout << std::setprecision(4) << "similarity " << file << ": Spearman " << r.spearman << "  Pearson "
              << r.pearson << "  pairs " << r.used << " / " << r.pairs << std::setprecision(2) << "  (OOV "
              << 100.0 * r.oovRatio() << " %)\n";
  }
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  try {
    if (argc == 1) {
      printTrainUsage();
      return 0;
    }
    if (std::string(argv[1]) == "eval") return eval(argc, argv);
    return train(argc, argv);
  } catch (const UsageError& e) {
    std::cerr << "eigenrec-word2vec: " << e.what() << " (run without arguments for help)\n";
    return 2;
  } catch (const std::exception& e) {
    std::cerr << "eigenrec-word2vec: error: " << e.what() << "\n";
    return 1;
  }
}

// word2vec training: parity of the exact mode with an independent transcription of
// word2vec.c, reproducibility, resuming, Hogwild threads, a planted-structure quality
// test, progress reporting and bad input.
#include <catch2/catch.hpp>
#include <eigenrec/embedding/word2vec.hpp>
#include <support/fixtures.hpp>
#include <support/temp_path.hpp>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

using namespace eigenrec;
using namespace eigenrec::embedding;

namespace {

TextCorpus tinyCorpus() { return TextCorpus::fromFile(std::string(EIGENREC_FIXTURES_DIR) + "/embedding/tiny_corpus.txt"); }

// The configurations of make_word2vec.py.
Word2VecOptions fixtureOptions(const std::string& name) {
  Word2VecOptions o;
  o.update = Update::exact;
  o.tableSize = 10000;
  o.threads = 1;
  if (name == "sg_ns") {
    o.architecture = Architecture::skipGram;
    o.negative = 3;
    o.dim = 8;
    o.window = 3;
    o.sample = 1e-3;
    o.epochs = 2;
    o.alpha = 0.025;
  } else if (name == "cbow_ns_hs") {
    o.architecture = Architecture::cbow;
    o.hierarchicalSoftmax = true;
    o.negative = 2;
    o.dim = 6;
    o.window = 2;
    o.sample = 0;
    o.epochs = 1;
  } else {
    o.architecture = Architecture::skipGram;
    o.hierarchicalSoftmax = true;
    o.negative = 0;
    o.dim = 5;
    o.window = 2;
    o.sample = 1e-2;
    o.epochs = 1;
    o.vocabulary.minCount = 3;
  }
  return o;
}

// Planted structure: entities i = 0..E-1 each have a "male" and a "female" form
// (m_i, f_i), four entity context words c_i_k, and the forms share gender context words
// gm_k / gf_k. A sentence mentions one form with three of its entity's context words
// and two gender words, shuffled. Then f_i - m_i is the same direction for every i:
// the analogy m_i : f_i :: m_j : f_j holds, and c_i_k's neighbours are c_i_*.
std::string plantedCorpus(int entities, int sentences, std::uint64_t seed) {
  Rng rng(seed);
  std::string text;
  std::vector<std::string> line;
  for (int s = 0; s < sentences; ++s) {
    const auto i = static_cast<int>(rng.uniformInt(static_cast<std::uint64_t>(entities)));
    const bool female = rng.bernoulli(0.5);
    line.clear();
    line.push_back((female ? "f" : "m") + std::to_string(i));
    for (int k = 0; k < 3; ++k) line.push_back("c" + std::to_string(i) + "_" + std::to_string(rng.uniformInt(4)));
    for (int k = 0; k < 2; ++k) line.push_back((female ? "gf" : "gm") + std::to_string(rng.uniformInt(4)));
    shuffle(line.begin(), line.end(), rng);
    for (std::size_t k = 0; k < line.size(); ++k) text += (k ? " " : "") + line[k];
    text += '\n';
  }
  return text;
}

struct Quality {
  double analogy = 0;
  double neighbours = 0;
};

template <typename Scalar>
Quality plantedQuality(const WordVectors<Scalar>& wv, int entities) {
  Quality q;
  int correct = 0, total = 0;
  for (int i = 0; i < entities; ++i) {
    for (int j = 0; j < entities; ++j) {
      if (i == j) continue;
      const auto r = wv.analogy("m" + std::to_string(i), "f" + std::to_string(i), "m" + std::to_string(j), 1);
      correct += r.front().word == "f" + std::to_string(j);
      ++total;
    }
  }
  q.analogy = static_cast<double>(correct) / total;
  correct = total = 0;
  for (int i = 0; i < entities; ++i) {
    for (int k = 0; k < 4; ++k) {
      for (const auto& n : wv.mostSimilar("c" + std::to_string(i) + "_" + std::to_string(k), 3)) {
        correct += n.word.rfind("c" + std::to_string(i) + "_", 0) == 0;
        ++total;
      }
    }
  }
  q.neighbours = static_cast<double>(correct) / total;
  return q;
}

std::string tempPath(const std::string& name) {
  return eigenrec::test::uniqueTempPath("eigenrec_w2v_", name).string();  // per process: suites may run at once
}

}  // namespace

TEST_CASE("Word2Vec exact mode reproduces the word2vec.c transcription", "[embedding][word2vec]") {
  const test::Fixture fx("embedding/word2vec_exact.txt");
  const auto corpus = tinyCorpus();
  for (const std::string name : {"sg_ns", "cbow_ns_hs", "sg_hs"}) {
    INFO(name);
    Word2Vec<float> model(fixtureOptions(name));
    const auto report = model.train(corpus);
    CHECK(report.epochs == model.options().epochs);
    REQUIRE(model.vocabulary().size() == static_cast<Index>(fx.scalar(name + "_vocab")));
    CHECK(static_cast<double>(model.epochsDone()) == model.options().epochs);
    const Matrix<float> expected = fx.matrix<float>(name + "_syn0");
    // Same operations in the same order and precision: bit-identical.
    EIGENREC_REQUIRE_CLOSE(model.inputVectors(), expected, 0.0, 0.0);
    CHECK(static_cast<double>(report.finalAlpha) == fx.scalar(name + "_alpha"));
    CHECK(report.words == static_cast<std::int64_t>(fx.scalar(name + "_wca")));
  }
}

TEST_CASE("Word2Vec exact mode in double stays close to the float reference", "[embedding][word2vec]") {
  const test::Fixture fx("embedding/word2vec_exact.txt");
  Word2Vec<double> model(fixtureOptions("cbow_ns_hs"));
  model.train(tinyCorpus());
  EIGENREC_REQUIRE_CLOSE(model.inputVectors(), fx.matrix<double>("cbow_ns_hs_syn0"), 1e-3, 1e-4);
}

TEMPLATE_TEST_CASE("Word2Vec: one thread is bit-reproducible for a seed", "[embedding][word2vec]", float, double) {
  const auto corpus = TextCorpus::fromString(plantedCorpus(6, 1500, 11));
  for (const Update update : {Update::minibatch, Update::perPair, Update::exact}) {
    for (const Architecture arch : {Architecture::skipGram, Architecture::cbow}) {
      Word2VecOptions o;
      o.architecture = arch;
      o.update = update;
      o.dim = 12;
      o.epochs = 2;
      o.tableSize = 100000;
      o.hierarchicalSoftmax = update != Update::perPair;
      Word2Vec<TestType> a(o), b(o);
      a.train(corpus);
      b.train(corpus);
      CHECK(a.inputVectors() == b.inputVectors());
      CHECK(a.outputVectors() == b.outputVectors());
      o.seed = 2;
      Word2Vec<TestType> c(o);
      c.train(corpus);
      CHECK(a.inputVectors() != c.inputVectors());
    }
  }
}

TEST_CASE("Word2Vec: save, load and resume equals one uninterrupted run", "[embedding][word2vec]") {
  const auto corpus = TextCorpus::fromString(plantedCorpus(6, 2500, 5));
  for (const Update update : {Update::minibatch, Update::exact}) {
    Word2VecOptions o;
    o.architecture = Architecture::skipGram;
    o.update = update;
    o.dim = 10;
    o.epochs = 3;
    o.sample = 1e-2;
    o.tableSize = 100000;
    o.hierarchicalSoftmax = true;
    o.vocabulary.tokenizer.maxWordBytes = 50;
    Word2Vec<float> whole(o);
    whole.train(corpus);

    Word2Vec<float> first(o);
    CHECK(first.train(corpus, 1).epochs == 1);
    CHECK(first.epochsDone() == 1);
    std::stringstream archive;
    first.save(archive);
    auto resumed = Word2Vec<float>::load(archive, "model.w2v");
    CHECK(resumed.epochsDone() == 1);
    CHECK(resumed.options().sample == o.sample);
    CHECK(resumed.options().update == o.update);
    CHECK(resumed.options().vocabulary.tokenizer.maxWordBytes == 50);
    CHECK(resumed.train(corpus).epochs == 2);
    CHECK(resumed.train(corpus).epochs == 0);  // nothing left
    CHECK(resumed.inputVectors() == whole.inputVectors());
    CHECK(resumed.outputVectors() == whole.outputVectors());
    CHECK(resumed.hierarchicalVectors() == whole.hierarchicalVectors());
    CHECK(resumed.vocabulary().words() == whole.vocabulary().words());
  }
}

TEST_CASE("Word2Vec: model archive rejects wrong, truncated and corrupted files", "[embedding][word2vec]") {
  Word2VecOptions o;
  o.dim = 4;
  o.epochs = 1;
  o.tableSize = 1000;
  Word2Vec<float> model(o);
  model.train(TextCorpus::fromString(plantedCorpus(3, 300, 1)));
  std::stringstream good;
  model.save(good);
  const std::string bytes = good.str();
  {
    std::istringstream truncated(bytes.substr(0, bytes.size() / 2));
    CHECK_THROWS_AS(Word2Vec<float>::load(truncated, "m"), FormatError);
  }
  {
    std::string corrupt = bytes;
    corrupt[corrupt.size() / 2] ^= 0x55;  // inside the input vectors
    std::istringstream in(corrupt);
    CHECK_THROWS_WITH(Word2Vec<float>::load(in, "m"), Catch::Contains("checksum"));
  }
  {
    std::istringstream in(bytes);
    CHECK_THROWS_WITH(Word2Vec<double>::load(in, "m"), Catch::Contains("dtype"));
  }
  {
    std::istringstream in("not an archive at all");
    CHECK_THROWS_AS(Word2Vec<float>::load(in, "m"), FormatError);
  }
  const std::string path = tempPath("model.bin");
  model.saveFile(path);
  CHECK(Word2Vec<float>::loadFile(path).inputVectors() == model.inputVectors());
  std::filesystem::remove(path);
  CHECK_THROWS_AS(Word2Vec<float>::loadFile(path), IoError);
}

TEMPLATE_TEST_CASE("Word2Vec recovers a planted structure", "[embedding][word2vec]", float, double) {
  const int entities = 8;
  const auto corpus = TextCorpus::fromString(plantedCorpus(entities, 6000, 3));
  struct Case {
    Architecture arch;
    Update update;
    bool hs;
  };
  for (const Case c : {Case{Architecture::skipGram, Update::minibatch, false},
                       Case{Architecture::skipGram, Update::exact, false},
                       Case{Architecture::cbow, Update::perPair, false},
                       Case{Architecture::skipGram, Update::perPair, true},
                       Case{Architecture::skipGram, Update::minibatch, true}}) {
    Word2VecOptions o;
    o.architecture = c.arch;
    o.update = c.update;
    o.hierarchicalSoftmax = c.hs;
    o.negative = c.hs ? 0 : 5;
    o.dim = 24;
    o.window = 5;
    o.sample = 0;
    o.epochs = 5;
    o.tableSize = 1000000;
    o.vocabulary.minCount = 1;
    Word2Vec<TestType> model(o);
    model.train(corpus);
    const auto q = plantedQuality(model.wordVectors(), entities);
    INFO("architecture " << int(c.arch) << " update " << int(c.update) << " hs " << c.hs << ": analogy "
                         << q.analogy << " neighbours " << q.neighbours);
    CHECK(q.analogy >= 0.9);
    CHECK(q.neighbours >= 0.9);
  }
  // The same checks fail on untrained vectors.
  Word2VecOptions o;
  o.dim = 24;
  o.vocabulary.minCount = 1;
  Word2Vec<TestType> untrained(o);
  untrained.buildVocabulary(corpus);
  untrained.initialize();
  const auto q = plantedQuality(untrained.wordVectors(), entities);
  CHECK(q.analogy < 0.5);
  CHECK(q.neighbours < 0.5);
}

TEST_CASE("Word2Vec: Hogwild threads train a usable model", "[embedding][word2vec]") {
  const int entities = 8;
  std::string path = tempPath("planted.txt");
  {
    std::ofstream f(path, std::ios::binary);
    f << plantedCorpus(entities, 6000, 9);
  }
  Word2VecOptions o;
  o.architecture = Architecture::skipGram;
  o.dim = 24;
  o.sample = 0;
  o.epochs = 5;
  o.threads = 2;
  o.tableSize = 1000000;
  o.vocabulary.minCount = 1;
  Word2Vec<float> model(o);
  const auto report = model.train(TextCorpus::fromFile(path));
  // Every word of every epoch is counted once across the shards.
  CHECK(report.words == 5 * model.vocabulary().trainWords());
  const auto q = plantedQuality(model.wordVectors(), entities);
  CHECK(q.analogy >= 0.9);
  CHECK(q.neighbours >= 0.9);
  std::filesystem::remove(path);
}

TEST_CASE("Word2Vec: progress reports", "[embedding][word2vec]") {
  std::vector<Progress> reports;
  Word2VecOptions o;
  o.dim = 8;
  o.epochs = 2;
  o.tableSize = 10000;
  o.vocabulary.minCount = 1;
  o.progress = [&](const Progress& p) { reports.push_back(p); };
  Word2Vec<float> model(o);
  model.train(TextCorpus::fromString(plantedCorpus(4, 5000, 2)));
  REQUIRE(!reports.empty());
  const auto& last = reports.back();
  CHECK(last.finished);
  CHECK(last.unit == "words/thread");
  CHECK(last.done == 2 * model.vocabulary().trainWords());
  CHECK(last.total == 2 * model.vocabulary().trainWords());
  CHECK(last.learningRate > 0);
  CHECK(last.learningRate < 0.05);
  CHECK(last.stage == "epoch 2/2");
}

TEST_CASE("Word2Vec: initRange scales the initial input vectors (word2vec.c 0.5, gensim 1)", "[embedding][word2vec]") {
  const auto corpus = TextCorpus::fromString(plantedCorpus(6, 300, 3));
  for (const Update update : {Update::minibatch, Update::exact}) {
    INFO("update " << int(update));
    Word2VecOptions o;
    o.dim = 16;
    o.vocabulary.minCount = 1;
    o.update = update;
    Word2Vec<float> narrow(o);
    narrow.buildVocabulary(corpus);
    narrow.initialize();
    o.initRange = 1.0;
    Word2Vec<float> wide(o);
    wide.buildVocabulary(corpus);
    wide.initialize();
    const Matrix<float>& a = narrow.inputVectors();
    const Matrix<float>& b = wide.inputVectors();
    REQUIRE(a.size() > 500);
    // U(-0.5/d, 0.5/d) and U(-1/d, 1/d) from the same draws: exactly twice the values.
    CHECK((b.array() == 2.0f * a.array()).all());
    CHECK(a.cwiseAbs().maxCoeff() <= 0.5f / 16);
    CHECK(a.cwiseAbs().maxCoeff() > 0.45f / 16);
    CHECK(b.cwiseAbs().maxCoeff() > 0.9f / 16);
  }
  Word2VecOptions bad;
  bad.initRange = 0;
  CHECK_THROWS_WITH(Word2Vec<float>(bad), Catch::Contains("initRange"));
  bad.initRange = std::nan("");
  CHECK_THROWS_AS(Word2Vec<float>(bad), std::invalid_argument);
}

TEST_CASE("Word2Vec: bad options and bad corpora", "[embedding][word2vec]") {
  Word2VecOptions o;
  o.dim = -3;
  CHECK_THROWS_WITH(Word2Vec<float>(o), Catch::Contains("dim expected > 0, got -3"));
  o = {};
  o.window = 0;
  CHECK_THROWS_WITH(Word2Vec<float>(o), Catch::Contains("window expected > 0, got 0"));
  o = {};
  o.negative = 0;
  o.hierarchicalSoftmax = false;
  CHECK_THROWS_WITH(Word2Vec<float>(o), Catch::Contains("negative expected > 0 when hierarchicalSoftmax is off"));
  o = {};
  o.negative = -1;
  CHECK_THROWS_AS(Word2Vec<float>(o), std::invalid_argument);
  o = {};
  o.sample = -1e-3;
  CHECK_THROWS_AS(Word2Vec<float>(o), std::invalid_argument);
  o = {};
  o.alpha = std::nan("");
  CHECK_THROWS_AS(Word2Vec<float>(o), std::invalid_argument);

  Word2Vec<float> model;
  CHECK_THROWS_WITH(model.train(TextCorpus::fromString("")), Catch::Contains("is empty"));
  CHECK_THROWS_WITH(model.train(TextCorpus::fromString("a b c d a b\n")), Catch::Contains("minCount = 5"));
  CHECK_THROWS_AS(model.vector("a"), std::invalid_argument);
  CHECK_THROWS_AS(model.saveWord2Vec(tempPath("x.txt"), false), std::invalid_argument);
  CHECK_THROWS_AS(model.train(TextCorpus::fromString("ok"), -1), std::invalid_argument);
}

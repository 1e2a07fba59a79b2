// word2vec on a generated corpus: train skip-gram with negative sampling in about a
// second, then print nearest neighbours and an analogy.
//
// The corpus has a planted structure: 8 "entities", each with a male and a female form
// (m0 / f0, ...), four context words of its own (c0_0 .. c0_3) and gender context words
// shared by all (gm* / gf*). Trained vectors recover both: the context words of an
// entity are each other's neighbours, and m1 : f1 :: m2 : ? answers f2.
#include <eigenrec/embedding.hpp>

#include <iomanip>
#include <iostream>
#include <string>
#include <vector>

int main() {
  using namespace eigenrec;
  using namespace eigenrec::embedding;

  // 1. Generate the corpus (one sentence per line).
  Rng rng(3);
  std::string text;
  for (int s = 0; s < 6000; ++s) {
    const auto entity = std::to_string(rng.uniformInt(8));
    const bool female = rng.bernoulli(0.5);
    std::vector<std::string> line = {(female ? "f" : "m") + entity};
    for (int k = 0; k < 3; ++k) line.push_back("c" + entity + "_" + std::to_string(rng.uniformInt(4)));
    for (int k = 0; k < 2; ++k) line.push_back((female ? "gf" : "gm") + std::to_string(rng.uniformInt(4)));
    shuffle(line.begin(), line.end(), rng);
    for (std::size_t k = 0; k < line.size(); ++k) text += (k ? " " : "") + line[k];
    text += '\n';
  }
  const auto corpus = TextCorpus::fromString(text, "generated");

  // 2. Train: skip-gram, negative sampling, the minibatched update, one thread.
  Word2VecOptions options;
  options.architecture = Architecture::skipGram;
  options.dim = 24;
  options.window = 5;
  options.negative = 5;
  options.sample = 0;
  options.epochs = 5;
  options.tableSize = 1000000;  // word2vec.c uses 1e8; a small vocabulary needs far fewer
  options.vocabulary.minCount = 1;
  Word2Vec<float> model(options);
  const TrainReport report = model.train(corpus);
  std::cout << "vocabulary " << model.vocabulary().size() << " words, " << report.words << " words trained in "
            << std::fixed << std::setprecision(2) << report.seconds << " s\n";

  // 3. Query.
  const WordVectors<float> vectors = model.wordVectors();
  std::cout << "nearest to c3_0:";
  for (const auto& n : vectors.mostSimilar("c3_0", 4)) std::cout << "  " << n.word << " " << n.score;
  std::cout << "\n";
  const auto answer = vectors.analogy("m1", "f1", "m2", 1).front();
  std::cout << "m1 : f1 :: m2 : " << answer.word << " (cosine " << answer.score << ")\n";
  return answer.word == "f2" ? 0 : 1;
}

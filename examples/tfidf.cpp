// TF-IDF with eigenrec/text: fit on a few documents, show each document's top terms,
// then answer queries by cosine similarity (rows are l2-normalised, so a dot product),
// and round-trip the vocabulary through a vocabulary file.
// Also shows BM25 weights for the same search.
#include <eigenrec/text.hpp>

#include <algorithm>
#include <iomanip>
#include <iostream>
#include <sstream>
#include <string>
#include <vector>

int main() {
  using namespace eigenrec;
  using namespace eigenrec::text;

  const std::vector<std::string> documents = {
      "Cocoa prices rose as rain in Bahia improved the crop outlook.",
      "The central bank cut interest rates to support the economy.",
      "Coffee and cocoa exporters expect higher shipments to Europe.",
      "Oil prices fell after OPEC agreed to raise its output quota.",
      "Interest rates and the dollar: the bank's decision moved markets.",
      "Crème brûlée, café au lait — accents are stripped with StripAccents::unicode.",
  };

  TfidfVectorizerOptions options;  // scikit-learn's defaults, plus:
  options.ngramRange = {1, 2};
  options.stopWords = englishStopWords();
  options.stripAccents = StripAccents::unicode;
  options.sublinearTf = true;
  TfidfVectorizer<double> tfidf(options);
  const SparseRowMatrix<double> X = tfidf.fitTransform(documents);  // (documents, terms)
  const auto& terms = tfidf.vocabulary();
  std::cout << X.rows() << " documents, " << X.cols() << " terms (unigrams and bigrams)\n\n";

  std::cout << std::fixed << std::setprecision(3);
  for (Index d = 0; d < X.rows(); ++d) {
    std::vector<std::pair<double, Index>> row;
    for (SparseRowMatrix<double>::InnerIterator it(X, d); it; ++it) row.emplace_back(it.value(), it.col());
    std::sort(row.begin(), row.end(),
              [](const auto& a, const auto& b) { return a.first != b.first ? a.first > b.first : a.second < b.second; });
    std::cout << "doc " << d << ":";
    for (std::size_t k = 0; k < std::min<std::size_t>(3, row.size()); ++k) {
      std::cout << "  " << terms[static_cast<std::size_t>(row[k].second)] << " " << row[k].first;
    }
    std::cout << "\n";
  }

  // Search: a query is transformed with the fitted vocabulary and idf; cosine similarity
  // with every document is X * q (both l2-normalised).
  Bm25VectorizerOptions bm25Options;  // same analysis as the tf-idf above
  static_cast<CountVectorizerOptions&>(bm25Options) = options;
  Bm25Vectorizer<double> bm25(bm25Options);
  const SparseRowMatrix<double> B = bm25.fitTransform(documents);
  for (const std::string query : {"cocoa prices", "interest rates at the bank", "cafe"}) {
    const SparseRowMatrix<double> q = tfidf.transform(std::vector<std::string>{query});
    const Eigen::VectorXd cosine = X * SparseColMatrix<double>(q.transpose());
    Index best = 0;
    cosine.maxCoeff(&best);
    // BM25: the query's term counts (binary here) against the documents' BM25 weights.
    const CountMatrix qc = bm25.counter().transform(std::vector<std::string>{query});
    const Eigen::VectorXd score = B * SparseColMatrix<double>(qc.cast<double>().transpose());
    Index bestBm25 = 0;
    score.maxCoeff(&bestBm25);
    std::cout << "\nquery \"" << query << "\": tf-idf cosine best doc " << best << " (" << cosine(best)
              << "), BM25 best doc " << bestBm25 << " (" << score(bestBm25) << ")\n  -> " << documents[static_cast<std::size_t>(best)]
              << "\n";
  }

  // The vocabulary as a file, one term per line (what eigenrec-tfidf --vocab writes), read
  // back as a fixed vocabulary: the same columns, so the same matrix.
  std::stringstream vocabularyFile;
  writeVocabulary(vocabularyFile, terms);
  TfidfVectorizerOptions fixedOptions = options;
  fixedOptions.vocabulary = readVocabulary(vocabularyFile, "vocabulary.txt");
  TfidfVectorizer<double> fixed(fixedOptions);
  const SparseRowMatrix<double> Y = fixed.fitTransform(documents);
  std::cout << "\nvocabulary file: " << fixedOptions.vocabulary.size() << " lines; refitted with it: "
            << (Eigen::MatrixXd(Y) == Eigen::MatrixXd(X) ? "same matrix" : "DIFFERENT matrix") << "\n";
  return Eigen::MatrixXd(Y) == Eigen::MatrixXd(X) ? 0 : 1;
}

// eigenrec/embedding/word_vectors.hpp: queries on trained word vectors (most similar
// words, analogies) and the two standard evaluations: word2vec.c's compute-accuracy on
// analogy questions and Spearman correlation on word-similarity pairs.
#ifndef EIGENREC_EMBEDDING_WORD_VECTORS_HPP
#define EIGENREC_EMBEDDING_WORD_VECTORS_HPP

#include <eigenrec/core/checks.hpp>
#include <eigenrec/metrics/correlation.hpp>
#include <eigenrec/core/types.hpp>
#include <eigenrec/embedding/vocabulary.hpp>
#include <eigenrec/io/line_reader.hpp>
#include <eigenrec/io/word2vec_format.hpp>

#include <algorithm>
#include <cctype>
#include <cmath>
#include <cstdint>
#include <istream>
#include <limits>
#include <numeric>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace eigenrec::embedding {

/// A word and a score (cosine similarity).
struct ScoredWord {
  std::string word;
  double score = 0;
};

/// Words with vectors, (dim, V), one column per word, in vocabulary order (most frequent
/// first when they come from training or a word2vec file).
template <typename Scalar = float>
class WordVectors {
  EIGENREC_STATIC_ASSERT_SCALAR(Scalar);

 public:
  WordVectors() = default;

  /// words.size() must equal vectors.cols(); words must be distinct.
  WordVectors(std::vector<std::string> words, Matrix<Scalar> vectors) : m_vectors(std::move(vectors)) {
    const char* where = "WordVectors";
    checkCols(where, "vectors", m_vectors, static_cast<Index>(words.size()));
    checkAllFinite(where, "vectors", m_vectors);
    m_words = std::move(words);
    for (std::size_t i = 0; i < m_words.size(); ++i) {
      checkArgument(m_index.find(m_words[i]) < 0, where,
                    eigenrec::detail::concat("words[", i, "] '", m_words[i], "' appears twice"));
      m_index.add(m_words[i]);
    }
    m_normalized = m_vectors;
    for (Index j = 0; j < m_normalized.cols(); ++j) {
      const Scalar n = m_normalized.col(j).norm();
      if (n > 0) m_normalized.col(j) /= n;
    }
  }

  /// From a word2vec text or binary file.
  static WordVectors loadWord2Vec(const std::string& path,
                                  io::Word2VecEncoding encoding = io::Word2VecEncoding::detect,
                                  const io::Word2VecFormatOptions& options = {}) {
    auto file = io::loadWord2Vec<Scalar>(path, encoding, options);
    return WordVectors(std::move(file.words), std::move(file.vectors));
  }

  Index size() const noexcept { return static_cast<Index>(m_words.size()); }
  Index dim() const noexcept { return m_vectors.rows(); }
  const std::vector<std::string>& words() const noexcept { return m_words; }
  /// (dim, V)
  const Matrix<Scalar>& vectors() const noexcept { return m_vectors; }
  /// Unit-length columns, (dim, V) (zero vectors stay zero).
  const Matrix<Scalar>& normalized() const noexcept { return m_normalized; }
  /// Index of `word`, or -1.
  Index find(std::string_view word) const noexcept { return m_index.find(word); }

  /// Cosine similarity of two known words.
  double similarity(std::string_view a, std::string_view b) const {
    const Index i = require(a, "WordVectors::similarity"), j = require(b, "WordVectors::similarity");
    return static_cast<double>(m_normalized.col(i).dot(m_normalized.col(j)));
  }

  /// The `topn` words closest (cosine) to mean(unit(positive)) - mean... precisely to
  /// sum(unit(p)) - sum(unit(n)) as gensim's most_similar, excluding the query words,
  /// among the first `restrict` words (0 = all).
  std::vector<ScoredWord> mostSimilar(const std::vector<std::string>& positive,
                                      const std::vector<std::string>& negative = {}, Index topn = 10,
                                      Index restrict = 0) const {
    const char* where = "WordVectors::mostSimilar";
    checkPositive(where, "topn", topn);
    checkNonNegative(where, "restrict", restrict);
    checkArgument(!positive.empty() || !negative.empty(), where, "no query words");
    Vector<Scalar> query = Vector<Scalar>::Zero(dim());
    std::vector<Index> exclude;
    for (const auto& w : positive) {
      const Index i = require(w, where);
      query += m_normalized.col(i);
      exclude.push_back(i);
    }
    for (const auto& w : negative) {
      const Index i = require(w, where);
      query -= m_normalized.col(i);
      exclude.push_back(i);
    }
    const Scalar n = query.norm();
    if (n > 0) query /= n;
    const Index limit = restrict > 0 ? std::min(restrict, size()) : size();
    const Vector<Scalar> scores = m_normalized.leftCols(limit).transpose() * query;
    return top(scores, exclude, topn);
  }

  /// Nearest words to one word.
  std::vector<ScoredWord> mostSimilar(std::string_view word, Index topn = 10, Index restrict = 0) const {
    return mostSimilar(std::vector<std::string>{std::string(word)}, {}, topn, restrict);
  }

  /// a : b :: c : ?  by 3CosAdd (argmax cos(x, b - a + c) over unit vectors), excluding
  /// a, b and c.
  std::vector<ScoredWord> analogy(std::string_view a, std::string_view b, std::string_view c, Index topn = 1,
                                  Index restrict = 0) const {
    return mostSimilar({std::string(b), std::string(c)}, {std::string(a)}, topn, restrict);
  }

 private:
  Index require(std::string_view w, const char* where) const {
    const Index i = m_index.find(w);
    checkArgument(i >= 0, where, eigenrec::detail::concat("unknown word '", w, "'"));
    return i;
  }

  std::vector<ScoredWord> top(const Vector<Scalar>& scores, const std::vector<Index>& exclude, Index topn) const {
    std::vector<Index> order;
    order.reserve(static_cast<std::size_t>(scores.size()));
    for (Index i = 0; i < scores.size(); ++i) {
      if (std::find(exclude.begin(), exclude.end(), i) == exclude.end()) order.push_back(i);
    }
    const auto k = static_cast<std::size_t>(std::min<Index>(topn, static_cast<Index>(order.size())));
    std::partial_sort(order.begin(), order.begin() + static_cast<std::ptrdiff_t>(k), order.end(),
                      [&](Index x, Index y) { return scores(x) > scores(y) || (scores(x) == scores(y) && x < y); });
    std::vector<ScoredWord> out;
    for (std::size_t i = 0; i < k; ++i) {
      out.push_back({m_words[static_cast<std::size_t>(order[i])], static_cast<double>(scores(order[i]))});
    }
    return out;
  }

  std::vector<std::string> m_words;
  detail::WordIndex m_index;
  Matrix<Scalar> m_vectors, m_normalized;
};

/// Accuracy of one section of an analogy file.
struct AnalogySection {
  std::string name;
  std::int64_t correct = 0;
  std::int64_t seen = 0;      ///< questions with all four words known
  std::int64_t total = 0;     ///< questions in the section
  double accuracy() const { return seen > 0 ? static_cast<double>(correct) / static_cast<double>(seen) : 0.0; }
};

/// compute-accuracy's report.
struct AnalogyReport {
  std::vector<AnalogySection> sections;
  AnalogySection semantic{"semantic"}, syntactic{"syntactic"}, overall{"total"};
};

struct AnalogyOptions {
  /// Use only the first `restrict` words (compute-accuracy's threshold; 30000 in
  /// word2vec.c's demo); 0 = all.
  Index restrict = 30000;
  /// Compare words case-insensitively (ASCII), as compute-accuracy's toupper.
  bool caseInsensitive = true;
  /// Sections whose name starts with "gram" are syntactic, the others semantic (the
  /// first five sections of questions-words.txt).
};

namespace detail {

inline std::string foldCase(std::string_view s, bool fold) {
  std::string out(s);
  if (fold) {
    for (char& c : out) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  }
  return out;
}

/// Index from (possibly case-folded) word to the first vector index among the first
/// `limit` words.
inline WordIndex foldedIndex(const std::vector<std::string>& words, Index limit, bool fold,
                             std::vector<Index>& target) {
  WordIndex index;
  target.clear();
  for (Index i = 0; i < limit; ++i) {
    const std::string w = foldCase(words[static_cast<std::size_t>(i)], fold);
    if (index.find(w) < 0) {
      index.add(w);
      target.push_back(i);
    }
  }
  return index;
}

}  // namespace detail

/// word2vec.c's compute-accuracy on an analogy file ("': section'" lines, then "a b c d"
/// lines meaning a:b::c:d): among the first options.restrict words, a question counts
/// as seen when all four words are known, and as correct when d is the argmax of
/// cos(x, b - a + c) over unit vectors, x not in {a, b, c}.
template <typename Scalar>
AnalogyReport evaluateAnalogies(const WordVectors<Scalar>& vectors, std::istream& questions,
                                const std::string& source = "<questions>", const AnalogyOptions& options = {}) {
  const char* where = "evaluateAnalogies";
  checkNonNegative(where, "options.restrict", options.restrict);
  checkExpected(vectors.size() > 0, where, "vectors", "at least one word", 0);
  const Index limit = options.restrict > 0 ? std::min(options.restrict, vectors.size()) : vectors.size();
  std::vector<Index> target;
  const auto index = detail::foldedIndex(vectors.words(), limit, options.caseInsensitive, target);
  auto lookup = [&](std::string_view w) {
    const Index i = index.find(detail::foldCase(w, options.caseInsensitive));
    return i < 0 ? Index(-1) : target[static_cast<std::size_t>(i)];
  };
  const auto& unit = vectors.normalized();
  AnalogyReport report;
  struct Question {
    Index a, b, c, d;
    std::size_t section;
  };
  std::vector<Question> pending;
  auto flush = [&]() {
    if (pending.empty()) return;
    const Index q = static_cast<Index>(pending.size());
    Matrix<Scalar> query(unit.rows(), q);
    for (Index k = 0; k < q; ++k) {
      const auto& x = pending[static_cast<std::size_t>(k)];
      query.col(k) = unit.col(x.b) - unit.col(x.a) + unit.col(x.c);
    }
    const Matrix<Scalar> scores = unit.leftCols(limit).transpose() * query;  // (limit, q)
    for (Index k = 0; k < q; ++k) {
      const auto& x = pending[static_cast<std::size_t>(k)];
      Index best = -1;
      Scalar bestScore = -std::numeric_limits<Scalar>::infinity();
      for (Index i = 0; i < limit; ++i) {
        if (i == x.a || i == x.b || i == x.c) continue;
        if (scores(i, k) > bestScore) {
          bestScore = scores(i, k);
          best = i;
        }
      }
      if (best == x.d) report.sections[x.section].correct += 1;
    }
    pending.clear();
  };
  io::LineReader reader(questions, source);
  std::string_view line;
  while (reader.next(line)) {
    std::string_view f[5];
    int n = 0;
    io::forEachToken(line, ' ', [&](std::string_view t) {
      if (n < 5) f[n] = t;
      ++n;
    });
    if (n == 0) continue;
    if (f[0] == ":") {
      if (n != 2) reader.fail(1, "section line expected ': name'");
      report.sections.push_back({std::string(f[1])});
      continue;
    }
    if (f[0].size() > 1 && f[0][0] == ':' && n == 1) {
      report.sections.push_back({std::string(f[0].substr(1))});
      continue;
    }
    if (n != 4) reader.fail(0, eigenrec::detail::concat("expected 4 words 'a b c d', got ", n));
    if (report.sections.empty()) report.sections.push_back({"(no section)"});
    const std::size_t s = report.sections.size() - 1;
    report.sections[s].total += 1;
    const Index a = lookup(f[0]), b = lookup(f[1]), c = lookup(f[2]), d = lookup(f[3]);
    if (a < 0 || b < 0 || c < 0 || d < 0) continue;
    report.sections[s].seen += 1;
    pending.push_back({a, b, c, d, s});
    if (pending.size() >= 512) flush();
  }
  flush();
  for (const auto& s : report.sections) {
    auto& group = s.name.rfind("gram", 0) == 0 ? report.syntactic : report.semantic;
    for (auto* g : {&group, &report.overall}) {
      g->correct += s.correct;
      g->seen += s.seen;
      g->total += s.total;
    }
  }
  return report;
}

template <typename Scalar>
AnalogyReport evaluateAnalogiesFile(const WordVectors<Scalar>& vectors, const std::string& path,
                                    const AnalogyOptions& options = {}) {
  return loadFile(path, [&](std::istream& is) { return evaluateAnalogies(vectors, is, path, options); });
}

/// Word-similarity evaluation result.
struct SimilarityReport {
  std::int64_t pairs = 0;    ///< pairs in the file
  std::int64_t used = 0;     ///< pairs with both words known
  double spearman = std::numeric_limits<double>::quiet_NaN();
  double pearson = std::numeric_limits<double>::quiet_NaN();
  double oovRatio() const { return pairs > 0 ? static_cast<double>(pairs - used) / static_cast<double>(pairs) : 0.0; }
};

struct SimilarityOptions {
  /// Only the first `restrict` words (gensim's restrict_vocab, default 300000); 0 = all.
  Index restrict = 300000;
  bool caseInsensitive = true;
};

/// Spearman (and Pearson) correlation between human scores and cosine similarities on a
/// WordSim-353 / SimLex-999 style file: "word1 <tab or space> word2 <sep> score" lines,
/// '#' comments. Pairs with an unknown word are skipped and counted (gensim's
/// evaluate_word_pairs with dummy4unknown=False).
template <typename Scalar>
SimilarityReport evaluateSimilarity(const WordVectors<Scalar>& vectors, std::istream& pairs,
                                    const std::string& source = "<pairs>", const SimilarityOptions& options = {}) {
  const char* where = "evaluateSimilarity";
  checkNonNegative(where, "options.restrict", options.restrict);
  const Index limit = options.restrict > 0 ? std::min(options.restrict, vectors.size()) : vectors.size();
  std::vector<Index> target;
  const auto index = detail::foldedIndex(vectors.words(), limit, options.caseInsensitive, target);
  std::vector<double> human, model;
  SimilarityReport report;
  io::LineReader reader(pairs, source);
  std::string_view line;
  while (reader.next(line)) {
    std::string_view f[4];
    int n = 0;
    io::forEachToken(line, ' ', [&](std::string_view t) {
      if (n < 4) f[n] = t;
      ++n;
    });
    if (n == 0 || f[0][0] == '#') continue;
    if (n != 3) reader.fail(0, eigenrec::detail::concat("expected 'word1 word2 score', got ", n, " fields"));
    const double score = io::parseDouble(reader, f[2], "score");
    ++report.pairs;
    const Index a = index.find(detail::foldCase(f[0], options.caseInsensitive));
    const Index b = index.find(detail::foldCase(f[1], options.caseInsensitive));
    if (a < 0 || b < 0) continue;
    ++report.used;
    human.push_back(score);
    const auto& unit = vectors.normalized();
    model.push_back(static_cast<double>(
        unit.col(target[static_cast<std::size_t>(a)]).dot(unit.col(target[static_cast<std::size_t>(b)]))));
  }
  if (human.size() >= 2) {
    report.spearman = metrics::spearman(human, model);
    report.pearson = metrics::pearson(human, model);
  }
  return report;
}

template <typename Scalar>
SimilarityReport evaluateSimilarityFile(const WordVectors<Scalar>& vectors, const std::string& path,
                                        const SimilarityOptions& options = {}) {
  return loadFile(path, [&](std::istream& is) { return evaluateSimilarity(vectors, is, path, options); });
}

}  // namespace eigenrec::embedding

#endif  // EIGENREC_EMBEDDING_WORD_VECTORS_HPP

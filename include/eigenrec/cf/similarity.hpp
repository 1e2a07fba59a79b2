// eigenrec/cf/similarity.hpp: sparse top-K similarity between the rows of an
// interaction matrix (items for ItemCF, users for UserCF).
//
// The entities a, b are the rows of X (entities, features) -- items over users for
// ItemCF, users over items for UserCF. N(a) is the set of features of a, x_af its value,
// n_ab = |N(a) ∩ N(b)| the support of the pair. The co-occurrence statistics of one
// row a with every other entity come from one sparse row-times-matrix product
//   for f in N(a): for b in N(f): accumulate(a, b, f)
// (Gustavson's row-wise SpGEMM with a dense accumulator of one row), so the cost is
// sum_f |N(f)|^2 and memory stays O(entities + features) per thread plus the kept K
// neighbours per row; the n x n matrix is never formed. Rows are independent, so any
// number of threads gives bit-identical results.
//
// Measures (s_ab before shrinkage):
//   cosine                n_ab / sqrt(|N(a)| |N(b)|)                     (sets; values ignored)
//   weightedCosine        sum_f x_af x_bf / (||x_a|| ||x_b||)             (implicit's CosineRecommender)
//   jaccard               n_ab / (|N(a)| + |N(b)| - n_ab)
//   conditionalProbability n_ab / (|N(a)| |N(b)|^alpha)                   (Deshpande & Karypis; asymmetric)
//   inverseFrequency      sum_{f in N(a)∩N(b)} 1/ln(1 + |N(f)|) / sqrt(|N(a)| |N(b)|)
//                         (ItemCF-IUF when the entities are items, UserCF-IIF for users)
//   coratedCosine         sum x_af x_bf / sqrt(sum x_af^2 sum x_bf^2), sums over co-rated f (Surprise's cosine)
//   adjustedCosine        coratedCosine of x_af - mean_f (Sarwar et al. 2001: ratings centred by the
//                         feature's mean, i.e. the user's mean rating for ItemCF)
//   pearson               Pearson correlation over the co-rated features (Surprise's pearson):
//                         (n sum x_a x_b - sum x_a sum x_b) / sqrt((n sum x_a^2 - (sum x_a)^2)(n sum x_b^2 - (sum x_b)^2))
//   msd                   1 / (sum (x_af - x_bf)^2 / n_ab + 1)                       (Surprise's msd)
// A zero denominator gives 0. Then: pairs with n_ab < minSupport are dropped; shrinkage
// multiplies by n_ab / (n_ab + shrinkage); each row keeps its K largest (ties: smaller
// index first), sorted by similarity; normalize divides a row by its largest value
// (ItemCF-Norm, Karypis 2001) when that value is positive.
#ifndef EIGENREC_CF_SIMILARITY_HPP
#define EIGENREC_CF_SIMILARITY_HPP

#include <eigenrec/cf/interactions.hpp>
#include <eigenrec/core/checks.hpp>
#include <eigenrec/core/parallel.hpp>
#include <eigenrec/core/progress.hpp>
#include <eigenrec/core/types.hpp>

#include <algorithm>
#include <atomic>
#include <cmath>
#include <cstdint>
#include <functional>
#include <memory>
#include <limits>
#include <mutex>
#include <string>
#include <string_view>
#include <type_traits>
#include <utility>
#include <vector>

namespace eigenrec::cf {

/// Similarity measure (see the header comment for the formulas).
enum class Measure {
  cosine,
  weightedCosine,
  jaccard,
  conditionalProbability,
  inverseFrequency,
  coratedCosine,
  adjustedCosine,
  pearson,
  msd
};

/// Short name of a measure, as accepted by parseMeasure and the command-line tool.
inline const char* measureName(Measure m) {
  switch (m) {
    case Measure::cosine: return "cosine";
    case Measure::weightedCosine: return "weighted-cosine";
    case Measure::jaccard: return "jaccard";
    case Measure::conditionalProbability: return "conditional";
    case Measure::inverseFrequency: return "inverse-frequency";
    case Measure::coratedCosine: return "corated-cosine";
    case Measure::adjustedCosine: return "adjusted-cosine";
    case Measure::pearson: return "pearson";
    case Measure::msd: return "msd";
  }
  return "unknown";
}

/// Parses a measure name: the names of measureName, plus "iuf" and "iif" for
/// inverse-frequency.
inline Measure parseMeasure(std::string_view name) {
  if (name == "iuf" || name == "iif") return Measure::inverseFrequency;
  for (Measure m : {Measure::cosine, Measure::weightedCosine, Measure::jaccard, Measure::conditionalProbability,
                    Measure::inverseFrequency, Measure::coratedCosine, Measure::adjustedCosine, Measure::pearson,
                    Measure::msd}) {
    if (name == measureName(m)) return m;
  }
  throwInvalidArgument("parseMeasure", "name expected one of cosine, weighted-cosine, jaccard, conditional, iuf, iif, "
                                       "inverse-frequency, corated-cosine, adjusted-cosine, pearson, msd; got '",
                       name, "'");
}

/// Options of the similarity computation.
struct SimilarityOptions {
  Measure measure = Measure::cosine;
  Index k = 20;              ///< neighbours kept per row (> 0; larger than the row count keeps all)
  double alpha = 0.5;        ///< popularity damping of conditionalProbability, in [0, 1]
  double shrinkage = 0.0;    ///< s *= n / (n + shrinkage); 0 = none
  Index minSupport = 1;      ///< drop pairs with fewer common features (>= 1)
  bool normalize = false;    ///< divide each row by its largest similarity (ItemCF-Norm)
  int threads = 1;           ///< 0 = hardware concurrency; results do not depend on it
  ProgressCallback progress; ///< called with rows done (from worker threads, serialised)

  void validate(std::string_view where) const {
    checkPositive(where, "k", k);
    checkBetween(where, "alpha", alpha, 0.0, 1.0);
    checkNonNegative(where, "shrinkage", shrinkage);
    checkFinite(where, "shrinkage", shrinkage);
    checkPositive(where, "minSupport", minSupport);
    checkNonNegative(where, "threads", threads);
  }
};

/// The K nearest neighbours of every row, in CSR form: row a lists (b, s_ab) by
/// decreasing similarity (ties: increasing b). Shape (rows, rows) as a sparse matrix.
template <typename Scalar = float>
class NeighbourGraph {
  EIGENREC_STATIC_ASSERT_SCALAR(Scalar);

 public:
  /// One row: `size` neighbours and their similarities.
  struct Row {
    const Index* neighbours = nullptr;
    const Scalar* similarities = nullptr;
    Index size = 0;
  };

  NeighbourGraph() = default;

  /// Builds a graph from CSR arrays; checks offsets, indices (in range, no self loops,
  /// no repeats) and finiteness.
  NeighbourGraph(std::vector<Index> offsets, std::vector<Index> neighbours, std::vector<Scalar> similarities) {
    const char* where = "NeighbourGraph";
    checkArgument(!offsets.empty(), where, "offsets expected rows + 1 entries, got none");
    checkEqual(where, "similarities size", static_cast<Index>(neighbours.size()),
               static_cast<Index>(similarities.size()));
    const Index rows = static_cast<Index>(offsets.size()) - 1;
    checkExpected(offsets.front() == 0 && offsets.back() == static_cast<Index>(neighbours.size()), where, "offsets",
                  "0 .. nonZeros", eigenrec::detail::concat(offsets.front(), " .. ", offsets.back()));
    for (Index a = 0; a < rows; ++a) {
      if (offsets[static_cast<std::size_t>(a)] > offsets[static_cast<std::size_t>(a) + 1]) {
        throwInvalidArgument(where, "offsets expected non-decreasing, got a decrease at row ", a);
      }
    }
    std::vector<Index> mark(static_cast<std::size_t>(rows), -1);
    for (Index a = 0; a < rows; ++a) {
      for (Index p = offsets[static_cast<std::size_t>(a)]; p < offsets[static_cast<std::size_t>(a) + 1]; ++p) {
        const Index b = neighbours[static_cast<std::size_t>(p)];
        checkIndex(where, "neighbour", b, rows);
        if (b == a || mark[static_cast<std::size_t>(b)] == a) {
          throwInvalidArgument(where, "neighbours expected distinct and not the row itself, got row ", a, " listing ",
                               b, " twice or itself");
        }
        mark[static_cast<std::size_t>(b)] = a;
        if (!std::isfinite(similarities[static_cast<std::size_t>(p)])) {
          checkFinite(where, "similarity", similarities[static_cast<std::size_t>(p)]);
        }
      }
    }
    m_offsets = std::move(offsets);
    m_neighbours = std::move(neighbours);
    m_similarities = std::move(similarities);
  }

  Index rows() const noexcept { return m_offsets.empty() ? 0 : static_cast<Index>(m_offsets.size()) - 1; }
  Index nonZeros() const noexcept { return static_cast<Index>(m_neighbours.size()); }

  /// Neighbours of row a (0 <= a < rows()).
  Row row(Index a) const {
    const auto b = m_offsets[static_cast<std::size_t>(a)], e = m_offsets[static_cast<std::size_t>(a) + 1];
    return {m_neighbours.data() + b, m_similarities.data() + b, e - b};
  }

  /// Similarity s_ab stored in row a, or 0 if b is not among a's neighbours.
  Scalar similarity(Index a, Index b) const {
    checkIndex("NeighbourGraph::similarity", "a", a, rows());
    const Row r = row(a);
    for (Index p = 0; p < r.size; ++p) {
      if (r.neighbours[p] == b) return r.similarities[p];
    }
    return Scalar(0);
  }

  /// The graph as a (rows, rows) sparse matrix.
  SparseRowMatrix<Scalar> toSparse() const {
    SparseRowMatrix<Scalar> m(rows(), rows());
    std::vector<Eigen::Triplet<Scalar, typename SparseRowMatrix<Scalar>::StorageIndex>> t;
    t.reserve(m_neighbours.size());
    for (Index a = 0; a < rows(); ++a) {
      const Row r = row(a);
      for (Index p = 0; p < r.size; ++p) t.emplace_back(a, r.neighbours[p], r.similarities[p]);
    }
    m.setFromTriplets(t.begin(), t.end());
    return m;
  }

  const std::vector<Index>& offsets() const noexcept { return m_offsets; }
  const std::vector<Index>& neighbours() const noexcept { return m_neighbours; }
  const std::vector<Scalar>& similarities() const noexcept { return m_similarities; }

  /// Bytes held by the graph.
  std::size_t memoryBytes() const {
    return m_offsets.capacity() * sizeof(Index) + m_neighbours.capacity() * sizeof(Index) +
           m_similarities.capacity() * sizeof(Scalar);
  }

 private:
  std::vector<Index> m_offsets{0};
  std::vector<Index> m_neighbours;
  std::vector<Scalar> m_similarities;
};

namespace detail {

/// Per-thread scratch space of SimilarityEngine: a dense accumulator over the entities
/// and the list of entities touched by the current row.
struct SimilarityWorkspace {
  struct Moments {
    double sa = 0, sb = 0, saa = 0, sbb = 0, sab = 0;
  };
  std::vector<std::int32_t> count;
  std::vector<double> dot;
  std::vector<Moments> moments;
  std::vector<Index> touched;
  Index touchedCount = 0;  // -1: dense row, scan the accumulator
  std::vector<std::pair<double, Index>> candidates;
  std::vector<double> scores, blockMax;  // a row's candidates before selection, and scratch
  std::vector<Index> ids;
  std::vector<Index> queryFeatures;
  std::vector<double> queryValues;
};

/// A pool of workspaces shared by the chunks of a parallel loop: a chunk takes one, uses
/// it, and gives it back. Results never depend on which workspace a chunk gets.
template <typename Work>
class WorkspacePool {
 public:
  template <typename Make>
  std::unique_ptr<Work> acquire(Make&& make) {
    {
      std::lock_guard<std::mutex> lock(m_mutex);
      if (!m_free.empty()) {
        auto w = std::move(m_free.back());
        m_free.pop_back();
        return w;
      }
    }
    return make();
  }
  void release(std::unique_ptr<Work> w) {
    std::lock_guard<std::mutex> lock(m_mutex);
    m_free.push_back(std::move(w));
  }

 private:
  std::mutex m_mutex;
  std::vector<std::unique_ptr<Work>> m_free;
};

/// Thread-safe progress reporting for parallel loops.
class SharedProgress {
 public:
  SharedProgress(const ProgressCallback& callback, std::int64_t total, std::string stage, std::string unit)
      : m_tracker(callback, total, std::move(stage), std::move(unit)), m_enabled(static_cast<bool>(callback)) {}
  void add(std::int64_t n) {
    if (!m_enabled) return;
    const auto done = m_done.fetch_add(n) + n;
    std::lock_guard<std::mutex> lock(m_mutex);
    m_tracker.update(done);
  }
  void finish() {
    if (m_enabled) m_tracker.finish(m_done.load());
  }

 private:
  ProgressTracker m_tracker;
  bool m_enabled;
  std::atomic<std::int64_t> m_done{0};
  std::mutex m_mutex;
};

/// Ordering of neighbour candidates: larger similarity first, then smaller index.
struct ByScoreThenIndex {
  bool operator()(const std::pair<double, Index>& x, const std::pair<double, Index>& y) const {
    return x.first > y.first || (x.first == y.first && x.second < y.second);
  }
};

/// A binary heap of at most k pairs whose root is the worst kept pair
/// (ByScoreThenIndex): an offer that is not better than the root is rejected by one or two
/// comparisons; a better one replaces the root and sifts down (log k steps).
namespace topk {

inline void siftUp(std::pair<double, Index>* h, std::size_t i, std::pair<double, Index> c) {
  while (i > 0) {
    const std::size_t parent = (i - 1) / 2;
    if (!ByScoreThenIndex()(h[parent], c)) break;  // parent not better than c: c stays below
    h[i] = h[parent];
    i = parent;
  }
  h[i] = c;
}

/// ByScoreThenIndex without short-circuit branches (the heap's comparisons are
/// unpredictable).
inline bool betterNoBranch(const std::pair<double, Index>& x, const std::pair<double, Index>& y) {
  return static_cast<bool>(static_cast<int>(x.first > y.first) |
                           (static_cast<int>(x.first == y.first) & static_cast<int>(x.second < y.second)));
}

/// Replaces the root by c and sifts it down. h must have one readable slot after the
/// heap (h[n]); it is read, never used, when a node has a single child.
inline void replaceRoot(std::pair<double, Index>* h, std::size_t n, std::pair<double, Index> c) {
  std::size_t i = 0;
  while (true) {
    const std::size_t l = 2 * i + 1;
    if (l >= n) break;
    const std::size_t r = l + 1;
    const std::size_t worse = l + static_cast<std::size_t>((r < n) & betterNoBranch(h[l], h[r]));
    if (!betterNoBranch(c, h[worse])) break;  // c not better than the worse child
    h[i] = h[worse];
    i = worse;
  }
  h[i] = c;
}

/// Offers c to the heap h of size n (capacity k); returns the new size.
inline std::size_t offer(std::pair<double, Index>* h, std::size_t n, std::size_t k, std::pair<double, Index> c) {
  if (n < k) {
    siftUp(h, n, c);
    return n + 1;
  }
  if (k > 0 && ByScoreThenIndex()(c, h[0])) replaceRoot(h, n, c);
  return n;
}

}  // namespace topk

/// The best `k` of the pairs offered to it, in a topk heap; finish() sorts them.
class TopK {
 public:
  TopK(std::vector<std::pair<double, Index>>& storage, Index k)
      : m_heap(storage), m_k(static_cast<std::size_t>(std::max<Index>(k, 0))) {
    m_heap.resize(m_k + 1);  // + the slot replaceRoot may read
  }
  /// Inline fast path: rejects scores below the worst kept one once the heap is full.
  void offer(double score, Index index) {
    if (score < m_threshold) return;
    add(score, index);
  }
  /// Score of the worst kept pair once k are kept (-inf before): a pair whose score is
  /// below it is rejected.
  double threshold() const noexcept { return m_threshold; }
  /// offer() without the fast-path test, for callers that test threshold() themselves.
  void push(double score, Index index) { add(score, index); }
  /// Leaves the best k, sorted best first.
  void finish() {
    m_heap.resize(m_size);
    std::sort(m_heap.begin(), m_heap.end(), ByScoreThenIndex());
  }

 private:
  void add(double score, Index index) {
    if (m_k == 0) return;
    m_size = topk::offer(m_heap.data(), m_size, m_k, {score, index});
    if (m_size == m_k) m_threshold = m_heap[0].first;
  }

  std::vector<std::pair<double, Index>>& m_heap;
  std::size_t m_k;
  std::size_t m_size = 0;
  double m_threshold = -std::numeric_limits<double>::infinity();
};

/// Keeps the k best of `c` (ByScoreThenIndex), sorted.
inline void keepTop(std::vector<std::pair<double, Index>>& c, Index k) {
  const auto kk = static_cast<std::size_t>(std::max<Index>(k, 0));
  if (c.size() > kk) {
    std::nth_element(c.begin(), c.begin() + static_cast<std::ptrdiff_t>(kk), c.end(), ByScoreThenIndex());
    c.resize(kk);
  }
  std::sort(c.begin(), c.end(), ByScoreThenIndex());
}

/// The k best of the m candidates (scores[i], ids[i]) by ByScoreThenIndex, sorted best
/// first, into `out`; ids == nullptr means ids[i] = i, and a score of -inf marks a
/// non-candidate. Equal to offering every candidate to a TopK, but its cost hardly
/// depends on k: the k-th largest of the maxima of the full blocks of 8 scores is a lower
/// bound on the k-th largest score (those k maxima belong to k distinct candidates), so
/// only the candidates at or above it (a few k on real data) are compared and sorted.
/// `blockMax` is scratch space.
inline void selectTop(const double* scores, const Index* ids, std::size_t m, std::size_t k,
                      std::vector<double>& blockMax, std::vector<std::pair<double, Index>>& out) {
  out.clear();
  if (k == 0) return;
  constexpr double none = -std::numeric_limits<double>::infinity();
  constexpr std::size_t block = 8;
  const std::size_t blocks = m / block;
  double bound = none;
  if (blocks >= 2 * k) {
    blockMax.resize(2 * blocks);
    for (std::size_t j = 0; j < blocks; ++j) {
      const double* s = scores + j * block;
      double mx = s[0];
      for (std::size_t i = 1; i < block; ++i) mx = s[i] > mx ? s[i] : mx;
      blockMax[j] = mx;
    }
    const auto first = blockMax.begin() + static_cast<std::ptrdiff_t>(blocks);
    std::copy(blockMax.begin(), first, first);
    std::nth_element(first, first + static_cast<std::ptrdiff_t>(k - 1), blockMax.end(), std::greater<double>());
    bound = first[static_cast<std::ptrdiff_t>(k - 1)];
  }
  auto take = [&](std::size_t i) {
    if (scores[i] >= bound && scores[i] > none) out.emplace_back(scores[i], ids ? ids[i] : static_cast<Index>(i));
  };
  if (bound > none) {
    for (std::size_t j = 0; j < blocks; ++j) {
      if (blockMax[j] < bound) continue;
      for (std::size_t i = j * block; i < (j + 1) * block; ++i) take(i);
    }
    for (std::size_t i = blocks * block; i < m; ++i) take(i);
  } else {
    for (std::size_t i = 0; i < m; ++i) take(i);
  }
  if (out.size() > k) {
    std::nth_element(out.begin(), out.begin() + static_cast<std::ptrdiff_t>(k), out.end(), ByScoreThenIndex());
    out.resize(k);
  }
  std::sort(out.begin(), out.end(), ByScoreThenIndex());
}

/// Callback tag of SimilarityEngine's visits: instead of a call per candidate, leave the
/// row's candidates in the workspace, w.scores[b] for every entity b (-inf: not a
/// candidate) with w.ids empty after a dense row, or (w.scores[i], w.ids[i]) pairs after a
/// sparse one.
struct CollectScores {};

/// Computes the similarities of one entity (a row of X, or an external vector over the
/// same features) with every entity that shares a feature with it.
template <typename Scalar>
class SimilarityEngine {
 public:
  using SparseMatrix = SparseRowMatrix<Scalar>;
  using StorageIndex = typename SparseMatrix::StorageIndex;

  SimilarityEngine() = default;

  /// x: (entities, features) CSR; xt: its transpose (features, entities) CSR. The engine
  /// keeps statistics of them (and, for adjustedCosine and pearson, centred copies); every later call
  /// must pass the same two matrices.
  SimilarityEngine(const SparseMatrix& x, const SparseMatrix& xt, const SimilarityOptions& options,
                   std::string_view where)
      : m_options(options) {
    options.validate(where);
    checkExpected(x.rows() == xt.cols() && x.cols() == xt.rows() && x.nonZeros() == xt.nonZeros(), where,
                  "featuresByEntities", eigenrec::detail::concat("the transpose of entitiesByFeatures (", x.cols(), " x ",
                                                       x.rows(), ", ", x.nonZeros(), " non-zeros)"),
                  eigenrec::detail::concat(xt.rows(), " x ", xt.cols(), ", ", xt.nonZeros(), " non-zeros"));
    checkExpected(x.isCompressed() && xt.isCompressed(), where, "matrices", "compressed", "uncompressed");
    const Index n = x.rows();
    m_count.resize(static_cast<std::size_t>(n));
    m_rootCount.resize(static_cast<std::size_t>(n));
    for (Index a = 0; a < n; ++a) {
      m_count[static_cast<std::size_t>(a)] = static_cast<double>(rowSize(x, a));
      m_rootCount[static_cast<std::size_t>(a)] = std::sqrt(m_count[static_cast<std::size_t>(a)]);
    }
    const Measure m = options.measure;
    if (m == Measure::weightedCosine) {
      m_norm.resize(static_cast<std::size_t>(n));
      for (Index a = 0; a < n; ++a) m_norm[static_cast<std::size_t>(a)] = rowNorm(x, a);
    }
    if (m == Measure::conditionalProbability) {
      m_damp.resize(static_cast<std::size_t>(n));
      for (Index a = 0; a < n; ++a) m_damp[static_cast<std::size_t>(a)] = std::pow(m_count[static_cast<std::size_t>(a)], options.alpha);
    }
    if (m == Measure::inverseFrequency) {
      m_featureWeight.resize(static_cast<std::size_t>(xt.rows()));
      for (Index f = 0; f < xt.rows(); ++f) {
        m_featureWeight[static_cast<std::size_t>(f)] = 1.0 / std::log(1.0 + static_cast<double>(rowSize(xt, f)));
      }
    }
    if (m == Measure::adjustedCosine) {
      // Centre every value by its feature's mean: x_af - mean_f.
      m_featureMean.resize(static_cast<std::size_t>(xt.rows()));
      for (Index f = 0; f < xt.rows(); ++f) {
        double s = 0;
        for (auto p = xt.outerIndexPtr()[f]; p < xt.outerIndexPtr()[f + 1]; ++p) s += static_cast<double>(xt.valuePtr()[p]);
        const Index c = rowSize(xt, f);
        m_featureMean[static_cast<std::size_t>(f)] = c > 0 ? s / static_cast<double>(c) : 0.0;
      }
      SparseMatrix centred = x;
      for (Index a = 0; a < n; ++a) {
        for (auto p = x.outerIndexPtr()[a]; p < x.outerIndexPtr()[a + 1]; ++p) {
          centred.valuePtr()[p] = static_cast<Scalar>(static_cast<double>(x.valuePtr()[p]) -
                                                      m_featureMean[static_cast<std::size_t>(x.innerIndexPtr()[p])]);
        }
      }
      setCentred(centred);
    }
    if (m == Measure::pearson) {
      // Pearson over co-rated features is invariant to a shift of each entity's values;
      // shifting by the entity's mean rounded to an integer keeps the one-pass formula
      // n sum x_a x_b - sum x_a sum x_b accurate for data far from 0, while integer and
      // half-star ratings stay exact (a correlation that is 0 stays exactly 0).
      SparseMatrix centred = x;
      for (Index a = 0; a < n; ++a) {
        const auto b = x.outerIndexPtr()[a], e = x.outerIndexPtr()[a + 1];
        double mean = 0;
        for (auto p = b; p < e; ++p) mean += static_cast<double>(x.valuePtr()[p]);
        mean = e > b ? std::round(mean / static_cast<double>(e - b)) : 0.0;
        for (auto p = b; p < e; ++p) centred.valuePtr()[p] = static_cast<Scalar>(static_cast<double>(x.valuePtr()[p]) - mean);
      }
      setCentred(centred);
    }
    m_entities = n;
  }

  Index entities() const noexcept { return m_entities; }
  const SimilarityOptions& options() const noexcept { return m_options; }
  /// Drops the progress callback (models keep the engine after fitting).
  void clearProgress() { m_options.progress = nullptr; }

  /// Bytes held beyond the input matrices.
  std::size_t memoryBytes() const {
    auto bytes = [](const SparseMatrix& m) {
      return static_cast<std::size_t>(m.nonZeros()) * (sizeof(Scalar) + sizeof(StorageIndex)) +
             static_cast<std::size_t>(m.outerSize() + 1) * sizeof(StorageIndex);
    };
    return sizeof(double) * (m_count.size() + m_rootCount.size() + m_norm.size() + m_damp.size() + m_featureWeight.size() +
                             m_featureMean.size()) +
           (m_centred ? bytes(m_centred->x) + bytes(m_centred->xt) : 0);
  }

  std::unique_ptr<SimilarityWorkspace> makeWorkspace() const {
    auto w = std::make_unique<SimilarityWorkspace>();
    const auto n = static_cast<std::size_t>(entities());
    w->count.assign(n, 0);
    w->touched.assign(n, 0);
    const Measure m = m_options.measure;
    if (m == Measure::weightedCosine || m == Measure::inverseFrequency) w->dot.assign(n, 0.0);
    if (m == Measure::coratedCosine || m == Measure::adjustedCosine || m == Measure::pearson || m == Measure::msd) {
      w->moments.assign(n, {});
    }
    return w;
  }

  /// Calls f(b, support, similarity) for every entity b != a sharing >= minSupport
  /// features with entity a (shrinkage applied), in the order b was first reached.
  template <typename F>
  void visitEntity(const SparseMatrix& x0, const SparseMatrix& xt0, Index a, SimilarityWorkspace& w, F&& f) const {
    const SparseMatrix& x = m_centred ? m_centred->x : x0;
    const SparseMatrix& xt = m_centred ? m_centred->xt : xt0;
    const auto b = x.outerIndexPtr()[a], e = x.outerIndexPtr()[a + 1];
    Stats s;
    s.count = m_count[static_cast<std::size_t>(a)];
    s.rootCount = std::sqrt(s.count);
    if (!m_norm.empty()) s.norm = m_norm[static_cast<std::size_t>(a)];
    dispatch(xt, x.innerIndexPtr() + b, x.valuePtr() + b, e - b, a, s, w, f);
  }

  /// The same for an external entity given by sorted distinct feature indices and raw
  /// values (values are centred here for adjustedCosine and pearson); entity `self` (or none if < 0)
  /// is skipped.
  template <typename F>
  void visitQuery(const SparseMatrix& xt0, const std::vector<std::pair<Index, Scalar>>& query, Index self,
                  SimilarityWorkspace& w, F&& f) const {
    const SparseMatrix& xt = m_centred ? m_centred->xt : xt0;
    w.queryFeatures.clear();
    w.queryValues.clear();
    for (const auto& [feature, value] : query) {
      w.queryFeatures.push_back(feature);
      double v = static_cast<double>(value);
      if (m_options.measure == Measure::adjustedCosine) {
        v = static_cast<double>(static_cast<Scalar>(v - m_featureMean[static_cast<std::size_t>(feature)]));
      }
      w.queryValues.push_back(v);
    }
    if (m_options.measure == Measure::pearson && !w.queryValues.empty()) {
      double mean = 0;
      for (double v : w.queryValues) mean += v;
      mean = std::round(mean / static_cast<double>(w.queryValues.size()));
      for (double& v : w.queryValues) v = static_cast<double>(static_cast<Scalar>(v - mean));
    }
    Stats s;
    s.count = static_cast<double>(query.size());
    s.rootCount = std::sqrt(s.count);
    double sq = 0;
    for (double v : w.queryValues) sq += v * v;
    s.norm = std::sqrt(sq);
    dispatch(xt, w.queryFeatures.data(), w.queryValues.data(), static_cast<Index>(query.size()), self, s, w, f);
  }

  /// The K best neighbours of entity a (or, if `query` is given, of that external vector,
  /// skipping entity a) into w.candidates, sorted, normalised if requested.
  void topNeighbours(const SparseMatrix& x, const SparseMatrix& xt, Index a, SimilarityWorkspace& w,
                     const std::vector<std::pair<Index, Scalar>>* query = nullptr) const {
    if (query != nullptr) {
      visitQuery(xt, *query, a, w, CollectScores{});
    } else {
      visitEntity(x, xt, a, w, CollectScores{});
    }
    selectTop(w.scores.data(), w.ids.empty() ? nullptr : w.ids.data(), w.scores.size(),
              static_cast<std::size_t>(m_options.k), w.blockMax, w.candidates);
    if (m_options.normalize && !w.candidates.empty() && w.candidates.front().first > 0) {
      const double top = w.candidates.front().first;
      for (auto& c : w.candidates) c.first /= top;
    }
  }

 private:
  struct Stats {
    double count = 0;
    double rootCount = 0;
    double norm = 0;
  };

  static Index rowSize(const SparseMatrix& m, Index r) {
    return static_cast<Index>(m.outerIndexPtr()[r + 1] - m.outerIndexPtr()[r]);
  }
  static double rowNorm(const SparseMatrix& m, Index r) {
    double s = 0;
    for (auto p = m.outerIndexPtr()[r]; p < m.outerIndexPtr()[r + 1]; ++p) {
      const double v = static_cast<double>(m.valuePtr()[p]);
      s += v * v;
    }
    return std::sqrt(s);
  }

  template <typename Feature, typename Value, typename F>
  void dispatch(const SparseMatrix& xt, const Feature* features, const Value* values, Index size, Index self,
                const Stats& s, SimilarityWorkspace& w, F& f) const {
    switch (m_options.measure) {
      case Measure::cosine: return run<Measure::cosine>(xt, features, values, size, self, s, w, f);
      case Measure::weightedCosine: return run<Measure::weightedCosine>(xt, features, values, size, self, s, w, f);
      case Measure::jaccard: return run<Measure::jaccard>(xt, features, values, size, self, s, w, f);
      case Measure::conditionalProbability:
        return run<Measure::conditionalProbability>(xt, features, values, size, self, s, w, f);
      case Measure::inverseFrequency: return run<Measure::inverseFrequency>(xt, features, values, size, self, s, w, f);
      case Measure::coratedCosine: return run<Measure::coratedCosine>(xt, features, values, size, self, s, w, f);
      case Measure::adjustedCosine: return run<Measure::adjustedCosine>(xt, features, values, size, self, s, w, f);
      case Measure::pearson: return run<Measure::pearson>(xt, features, values, size, self, s, w, f);
      case Measure::msd: return run<Measure::msd>(xt, features, values, size, self, s, w, f);
    }
  }

  /// Whether a dense row collected for selection (CollectScores) needs the co-occurrence
  /// counts. IUF weights are positive, so without a support filter or shrinkage dot > 0
  /// marks the candidates and the counts can be skipped (one update per visit, not two).
  template <Measure M>
  bool collectsCounts() const noexcept {
    return M != Measure::inverseFrequency || m_options.minSupport > 1 || m_options.shrinkage > 0;
  }

  static constexpr bool usesDot(Measure m) { return m == Measure::weightedCosine || m == Measure::inverseFrequency; }
  static constexpr bool usesMoments(Measure m) {
    return m == Measure::coratedCosine || m == Measure::adjustedCosine || m == Measure::pearson || m == Measure::msd;
  }

  /// Accumulates the co-occurrence statistics of one row (every entity b != self that
  /// shares a feature with it), then hands the similarities to f (see finish) or leaves
  /// them in the workspace (f is CollectScores, see collect).
  template <Measure M, typename Feature, typename Value, typename F>
  void run(const SparseMatrix& xt, const Feature* features, const Value* values, Index size, Index self,
           const Stats& s, SimilarityWorkspace& w, F& f) const {
    const StorageIndex* outer = xt.outerIndexPtr();
    Index work = 0;
    for (Index p = 0; p < size; ++p) {
      const auto feature = static_cast<Index>(features[p]);
      work += static_cast<Index>(outer[feature + 1] - outer[feature]);
    }
    // Dense rows (the accumulator fills up) are finished by scanning the accumulator;
    // sparse rows keep the list of entities they touched. The inner loop of the dense
    // variant has no dependency between iterations beyond the counters themselves.
    constexpr bool collecting = std::is_same_v<std::decay_t<F>, CollectScores>;
    if (entities() <= 4 * work) {
      if (collecting && !collectsCounts<M>()) {
        accumulate<M, true, false>(xt, features, values, size, w);
      } else {
        accumulate<M, true>(xt, features, values, size, w);
      }
    } else {
      accumulate<M, false>(xt, features, values, size, w);
    }
    if constexpr (collecting) {
      (void)f;
      collect<M>(self, s, w);
    } else {
      finish<M>(self, s, w, f);
    }
  }

  /// Calls f(b, support, similarity) for each entity reached by the current row, resetting
  /// the accumulator.
  template <Measure M, typename F>
  void finish(Index self, const Stats& s, SimilarityWorkspace& w, F& f) const {
    std::int32_t* count = w.count.data();
    const double minSupport = static_cast<double>(m_options.minSupport);
    const double shrinkage = m_options.shrinkage;
    auto one = [&](Index b) {
      const double n = static_cast<double>(count[b]);
      double sim = pairSimilarity<M>(n, b, s, w);
      count[b] = 0;
      if constexpr (usesMoments(M)) w.moments[static_cast<std::size_t>(b)] = {};
      if constexpr (usesDot(M)) w.dot[static_cast<std::size_t>(b)] = 0;
      if (b == self || n < minSupport) return;
      if (shrinkage > 0) sim *= n / (n + shrinkage);
      f(b, n, sim);
    };
    if (w.touchedCount < 0) {
      const Index n = entities();
      for (Index b = 0; b < n; ++b) {
        if (count[b] != 0) one(b);
      }
    } else {
      for (Index t = 0; t < w.touchedCount; ++t) one(w.touched[static_cast<std::size_t>(t)]);
    }
  }

  /// s(self -> b) before shrinkage from the accumulated statistics of b (n = support).
  template <Measure M>
  double pairSimilarity(double n, Index b, const Stats& s, const SimilarityWorkspace& w) const {
    const auto i = static_cast<std::size_t>(b);
    if constexpr (usesMoments(M)) {
      return momentSimilarity<M>(n, w.moments[i]);
    } else if constexpr (M == Measure::inverseFrequency) {
      return w.dot[i] / (s.rootCount * m_rootCount[i]);
    } else if constexpr (M == Measure::weightedCosine) {
      const double d = s.norm * m_norm[i];
      return d > 0 ? w.dot[i] / d : 0.0;
    } else if constexpr (M == Measure::cosine) {
      return n / (s.rootCount * m_rootCount[i]);
    } else if constexpr (M == Measure::jaccard) {
      return n / (s.count + m_count[i] - n);
    } else {
      static_assert(M == Measure::conditionalProbability);
      return n / (s.count * m_damp[i]);
    }
  }

  /// The candidates of the current row into w.scores (see CollectScores), resetting the
  /// accumulator. A dense row is one branch-free pass over every entity (vectorised for
  /// the count and dot measures); a sparse row visits its touched list.
  template <Measure M>
  void collect(Index self, const Stats& s, SimilarityWorkspace& w) const {
    std::int32_t* count = w.count.data();
    const double minSupport = static_cast<double>(m_options.minSupport);
    const double shrinkage = m_options.shrinkage;
    constexpr double none = -std::numeric_limits<double>::infinity();
    w.ids.clear();
    if (w.touchedCount < 0) {
      const Index n = entities();
      w.scores.resize(static_cast<std::size_t>(n));
      double* out = w.scores.data();
      if constexpr (usesMoments(M)) {
        for (Index b = 0; b < n; ++b) {
          const double c = static_cast<double>(count[b]);
          if (c == 0) {
            out[b] = none;
            continue;
          }
          double sim = pairSimilarity<M>(c, b, s, w);
          if (shrinkage > 0) sim *= c / (c + shrinkage);
          out[b] = c >= minSupport ? sim : none;
          w.moments[static_cast<std::size_t>(b)] = {};
        }
      } else {
        // Two passes, so that neither holds a conditional division (which the
        // vectoriser must not speculate).
        if (shrinkage > 0) {
          for (Index b = 0; b < n; ++b) {
            const double c = static_cast<double>(count[b]);
            out[b] = pairSimilarity<M>(c, b, s, w) * (c / (c + shrinkage));
          }
        } else {
          for (Index b = 0; b < n; ++b) out[b] = pairSimilarity<M>(static_cast<double>(count[b]), b, s, w);
        }
        if (collectsCounts<M>()) {
          for (Index b = 0; b < n; ++b) out[b] = static_cast<double>(count[b]) >= minSupport ? out[b] : none;
        } else {
          const double* dot = w.dot.data();
          for (Index b = 0; b < n; ++b) out[b] = dot[b] > 0 ? out[b] : none;
        }
      }
      if (collectsCounts<M>()) std::fill(w.count.begin(), w.count.end(), 0);
      if constexpr (usesDot(M)) std::fill(w.dot.begin(), w.dot.end(), 0.0);
      if (self >= 0 && self < n) out[self] = none;
      return;
    }
    w.scores.clear();
    auto push = [&](Index b, double, double sim) {
      w.scores.push_back(sim);
      w.ids.push_back(b);
    };
    finish<M>(self, s, w, push);
  }

  /// The co-occurrence statistics of one row. Dense: no list of touched entities
  /// (w.touchedCount = -1); otherwise w.touched[0, touchedCount) lists them.
  template <Measure M, bool Dense, bool Count = true, typename Feature, typename Value>
  void accumulate(const SparseMatrix& xt, const Feature* features, const Value* values, Index size,
                  SimilarityWorkspace& w) const {
    const StorageIndex* outer = xt.outerIndexPtr();
    const StorageIndex* inner = xt.innerIndexPtr();
    const Scalar* xv = xt.valuePtr();
    std::int32_t* count = w.count.data();
    Index* touched = w.touched.data();
    Index nt = 0;
    auto visit = [&](Index b) {
      if constexpr (Dense) {
        if constexpr (Count) ++count[b];
      } else {
        if (count[b]++ == 0) touched[nt++] = b;
      }
    };
    for (Index p = 0; p < size; ++p) {
      const auto feature = static_cast<Index>(features[p]);
      const auto qb = outer[feature], qe = outer[feature + 1];
      if constexpr (usesMoments(M)) {
        const double xa = static_cast<double>(values[p]);
        SimilarityWorkspace::Moments* mo = w.moments.data();
        for (auto q = qb; q < qe; ++q) {
          const auto b = static_cast<Index>(inner[q]);
          visit(b);
          const double xb = static_cast<double>(xv[q]);
          auto& m = mo[b];
          m.sa += xa;
          m.sb += xb;
          m.saa += xa * xa;
          m.sbb += xb * xb;
          m.sab += xa * xb;
        }
      } else if constexpr (usesDot(M)) {
        double* dot = w.dot.data();
        if constexpr (M == Measure::inverseFrequency) {
          const double weight = m_featureWeight[static_cast<std::size_t>(feature)];
          for (auto q = qb; q < qe; ++q) {
            const auto b = static_cast<Index>(inner[q]);
            visit(b);
            dot[b] += weight;
          }
        } else {
          const double xa = static_cast<double>(values[p]);
          for (auto q = qb; q < qe; ++q) {
            const auto b = static_cast<Index>(inner[q]);
            visit(b);
            dot[b] += xa * static_cast<double>(xv[q]);
          }
        }
      } else {
        (void)values;
        (void)xv;
        for (auto q = qb; q < qe; ++q) visit(static_cast<Index>(inner[q]));
      }
    }
    w.touchedCount = Dense ? Index(-1) : nt;
  }

  template <Measure M>
  static double momentSimilarity(double n, const SimilarityWorkspace::Moments& m) {
    constexpr double tiny = 1e-12;
    if constexpr (M == Measure::pearson) {
      const double va = n * m.saa - m.sa * m.sa;
      const double vb = n * m.sbb - m.sb * m.sb;
      if (va <= tiny * n * m.saa || vb <= tiny * n * m.sbb) return 0.0;
      return (n * m.sab - m.sa * m.sb) / std::sqrt(va * vb);
    } else if constexpr (M == Measure::msd) {
      const double sq = std::max(0.0, m.saa + m.sbb - 2.0 * m.sab);
      return 1.0 / (sq / n + 1.0);
    } else {
      const double d = m.saa * m.sbb;
      return d > 0 ? m.sab / std::sqrt(d) : 0.0;
    }
  }

  SimilarityOptions m_options;
  Index m_entities = 0;
  // adjustedCosine / pearson: X with centred values and its transpose, immutable once
  // built (shared, so that moving or copying an engine never copies them: Eigen 3.4's
  // SparseMatrix has no move operations).
  struct Centred {
    SparseMatrix x, xt;
  };
  std::shared_ptr<const Centred> m_centred;

  /// Keeps `x` (its storage taken by swap) and its transpose as the centred matrices.
  void setCentred(SparseMatrix& x) {
    auto c = std::make_shared<Centred>();
    c->x.swap(x);
    c->xt = c->x.transpose();
    c->xt.makeCompressed();
    m_centred = std::move(c);
  }
  std::vector<double> m_count, m_rootCount, m_norm, m_damp, m_featureWeight, m_featureMean;
};

}  // namespace detail

namespace detail {

/// Top-K rows of every entity with a prepared engine (see computeNeighbours).
template <typename Scalar>
NeighbourGraph<Scalar> computeNeighbours(const SimilarityEngine<Scalar>& engine, const SparseRowMatrix<Scalar>& x,
                                         const SparseRowMatrix<Scalar>& xt) {
  const SimilarityOptions& options = engine.options();
  const Index n = engine.entities();
  const Index k = std::min<Index>(options.k, std::max<Index>(n - 1, 0));
  std::vector<Index> sizes(static_cast<std::size_t>(n), 0);
  std::vector<Index> neighbours(static_cast<std::size_t>(n * k));
  std::vector<Scalar> similarities(static_cast<std::size_t>(n * k));
  WorkspacePool<SimilarityWorkspace> pool;
  SharedProgress progress(options.progress, n, "similarity", "rows");
  constexpr Index chunk = 32;
  parallelFor(0, n, chunk, options.threads, [&](Index begin, Index end) {
    auto w = pool.acquire([&] { return engine.makeWorkspace(); });
    for (Index a = begin; a < end; ++a) {
      engine.topNeighbours(x, xt, a, *w);
      const auto base = static_cast<std::size_t>(a * k);
      for (std::size_t j = 0; j < w->candidates.size(); ++j) {
        neighbours[base + j] = w->candidates[j].second;
        similarities[base + j] = static_cast<Scalar>(w->candidates[j].first);
      }
      sizes[static_cast<std::size_t>(a)] = static_cast<Index>(w->candidates.size());
    }
    pool.release(std::move(w));
    progress.add(end - begin);
  });
  progress.finish();
  // Compact the rows in place.
  std::vector<Index> offsets(static_cast<std::size_t>(n) + 1, 0);
  Index out = 0;
  for (Index a = 0; a < n; ++a) {
    const auto base = static_cast<std::size_t>(a * k);
    for (Index j = 0; j < sizes[static_cast<std::size_t>(a)]; ++j) {
      neighbours[static_cast<std::size_t>(out)] = neighbours[base + static_cast<std::size_t>(j)];
      similarities[static_cast<std::size_t>(out)] = similarities[base + static_cast<std::size_t>(j)];
      ++out;
    }
    offsets[static_cast<std::size_t>(a) + 1] = out;
  }
  neighbours.resize(static_cast<std::size_t>(out));
  similarities.resize(static_cast<std::size_t>(out));
  neighbours.shrink_to_fit();
  similarities.shrink_to_fit();
  return NeighbourGraph<Scalar>(std::move(offsets), std::move(neighbours), std::move(similarities));
}

}  // namespace detail

/// Top-K neighbours of every row of `entitiesByFeatures` (entities, features) CSR;
/// `featuresByEntities` must be its transpose (features, entities) CSR.
/// @return graph with entitiesByFeatures.rows() rows, at most options.k neighbours each.
/// @throws std::invalid_argument for bad options or mismatched matrices.
template <typename Scalar>
NeighbourGraph<Scalar> computeNeighbours(const SparseRowMatrix<Scalar>& entitiesByFeatures,
                                         const SparseRowMatrix<Scalar>& featuresByEntities,
                                         const SimilarityOptions& options) {
  const detail::SimilarityEngine<Scalar> engine(entitiesByFeatures, featuresByEntities, options, "computeNeighbours");
  return detail::computeNeighbours(engine, entitiesByFeatures, featuresByEntities);
}

/// Item-item neighbours of an interaction matrix (items over users).
template <typename Scalar>
NeighbourGraph<Scalar> itemNeighbours(const InteractionMatrix<Scalar>& data, const SimilarityOptions& options) {
  return computeNeighbours(data.itemUsers(), data.userItems(), options);
}

/// User-user neighbours of an interaction matrix (users over items).
template <typename Scalar>
NeighbourGraph<Scalar> userNeighbours(const InteractionMatrix<Scalar>& data, const SimilarityOptions& options) {
  return computeNeighbours(data.userItems(), data.itemUsers(), options);
}

}  // namespace eigenrec::cf

#endif  // EIGENREC_CF_SIMILARITY_HPP

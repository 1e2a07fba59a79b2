// eigenrec/embedding/tables.hpp: the precomputed tables and schedules of word2vec.c,
// reproduced with its exact arithmetic: the sigmoid table, the unigram^0.75 noise
// table, the Huffman tree of hierarchical softmax, the subsampling keep probabilities
// and the linear learning-rate decay.
#ifndef EIGENREC_EMBEDDING_TABLES_HPP
#define EIGENREC_EMBEDDING_TABLES_HPP

#include <eigenrec/core/checks.hpp>
#include <eigenrec/core/types.hpp>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <vector>

namespace eigenrec::embedding {

/// word2vec.c's sigmoid table: kSize entries sigma((2i/kSize - 1) * kMaxExp), looked up
/// at index (int)((f + kMaxExp) * kIndexFactor) with kIndexFactor = 1000 / 6 / 2 = 83 in
/// integer arithmetic (not 83.33), so the indices only reach 996 and the table is read
/// slightly off-centre. Kept on purpose: it is part of the results being matched.
template <typename Scalar = float>
class ExpTable {
  EIGENREC_STATIC_ASSERT_SCALAR(Scalar);

 public:
  static constexpr int kSize = 1000;
  static constexpr int kMaxExp = 6;
  static constexpr int kIndexFactor = kSize / kMaxExp / 2;  // 83

  ExpTable() {
    for (int i = 0; i < kSize; ++i) {
      // Same operations, in the same precision, as word2vec.c's main().
      const Scalar x = (static_cast<Scalar>(i) / static_cast<Scalar>(kSize) * 2 - 1) * kMaxExp;
      const Scalar e = static_cast<Scalar>(std::exp(static_cast<double>(x)));
      m_table[i] = e / (e + 1);
    }
    m_table[kSize] = m_table[kSize - 1];
  }

  /// Table index of f, for -kMaxExp < f < kMaxExp.
  static int index(Scalar f) noexcept { return static_cast<int>((f + kMaxExp) * kIndexFactor); }

  /// Tabulated sigma(f), for -kMaxExp < f < kMaxExp.
  Scalar lookup(Scalar f) const noexcept { return m_table[index(f)]; }

  /// Entry i, 0 <= i < kSize.
  Scalar operator[](int i) const noexcept { return m_table[i]; }

  /// Negative-sampling step g = (label - sigma(f)) * alpha with word2vec.c's saturation:
  /// f > 6 gives (label - 1) * alpha, f < -6 gives label * alpha.
  Scalar negativeGradient(Scalar f, int label, Scalar alpha) const noexcept {
    if (f > kMaxExp) return static_cast<Scalar>(label - 1) * alpha;
    if (f < -kMaxExp) return static_cast<Scalar>(label) * alpha;
    return (static_cast<Scalar>(label) - m_table[index(f)]) * alpha;
  }

  /// Hierarchical-softmax step g = (1 - code - sigma(f)) * alpha; 0 when |f| >= 6
  /// (word2vec.c skips the update there).
  Scalar hierarchicalGradient(Scalar f, int code, Scalar alpha) const noexcept {
    if (f <= -kMaxExp || f >= kMaxExp) return Scalar(0);
    return (static_cast<Scalar>(1 - code) - m_table[index(f)]) * alpha;
  }

 private:
  Scalar m_table[kSize + 1];
};

/// word2vec.c's negative-sampling table: `size` slots, word i filling a share
/// count_i^power / sum_j count_j^power of them by the same cumulative fill (in double),
/// so that table[r] for a uniform slot r draws word i with that probability.
///
/// The table is a step function with one run of slots per word, so it is stored as the
/// runs' first slots plus a coarse bucket index, not as `size` integers: table[r] is
/// exactly word2vec.c's table[r], but 1e8 slots take a few hundred kilobytes instead of
/// 400 MB, which keeps the look-ups in cache.
class UnigramTable {
 public:
  UnigramTable() = default;

  /// counts: the vocabulary counts (index order). size: number of slots (word2vec.c 1e8).
  UnigramTable(const std::vector<std::int64_t>& counts, std::int64_t size, double power = 0.75) {
    const char* where = "UnigramTable";
    checkNotEmpty(where, "counts", static_cast<Index>(counts.size()));
    checkPositive(where, "size", size);
    checkExpected(size <= INT32_MAX, where, "size", "<= 2^31 - 1", size);
    checkExpected(std::isfinite(power) && power >= 0, where, "power", "finite and >= 0", power);
    const auto vocabSize = static_cast<std::int64_t>(counts.size());
    double total = 0;
    for (auto c : counts) total += std::pow(static_cast<double>(c), power);
    checkExpected(total > 0, where, "sum of count^power", "> 0", total);
    m_size = size;
    // word2vec.c's fill: for a = 0..size-1: table[a] = i; if (a / size > d1) { i++;
    // d1 += share(i); } with i clamped to V - 1. Word i's run therefore ends at the
    // first slot a (from its start on) with a / size > d1, inclusive; the runs are found
    // by jumping to that slot instead of visiting every slot.
    m_starts.assign(static_cast<std::size_t>(vocabSize) + 1, static_cast<std::int32_t>(size));
    const auto dsize = static_cast<double>(size);
    auto beyond = [&](std::int64_t a, double d1) { return static_cast<double>(a) / dsize > d1; };
    std::int64_t i = 0, current = 0;
    double d1 = std::pow(static_cast<double>(counts[0]), power) / total;
    while (current < size) {
      m_starts[static_cast<std::size_t>(i)] = static_cast<std::int32_t>(current);
      if (i == vocabSize - 1) break;  // the last word fills the rest
      auto end = std::max<std::int64_t>(current, static_cast<std::int64_t>(std::floor(d1 * dsize)));
      while (end > current && beyond(end - 1, d1)) --end;
      while (end < size && !beyond(end, d1)) ++end;
      current = end + 1;
      ++i;
      d1 += std::pow(static_cast<double>(counts[static_cast<std::size_t>(i)]), power) / total;
    }
    // Bucket b covers slots [b << shift, (b + 1) << shift); m_bucket[b] is the word at
    // its first slot.
    m_shift = 0;
    while ((size >> m_shift) > (std::int64_t(1) << 17)) ++m_shift;
    const std::int64_t buckets = ((size - 1) >> m_shift) + 2;
    m_bucket.resize(static_cast<std::size_t>(buckets));
    for (std::int64_t b = 0; b < buckets; ++b) {
      m_bucket[static_cast<std::size_t>(b)] = search(std::min(size - 1, b << m_shift), 0, vocabSize - 1);
    }
  }

  std::int64_t size() const noexcept { return m_size; }

  /// word2vec.c's table[slot], 0 <= slot < size().
  std::int32_t operator[](std::int64_t slot) const noexcept {
    const auto b = static_cast<std::size_t>(slot >> m_shift);
    const std::int32_t lo = m_bucket[b], hi = m_bucket[b + 1];
    if (lo == hi) return lo;
    return search(slot, lo, hi);
  }

  /// Number of slots of word i.
  std::int64_t slots(Index i) const {
    checkIndex("UnigramTable::slots", "i", i, static_cast<Index>(m_starts.size()) - 1);
    return std::min<std::int64_t>(m_starts[static_cast<std::size_t>(i) + 1], m_size) -
           std::min<std::int64_t>(m_starts[static_cast<std::size_t>(i)], m_size);
  }

  /// Heap bytes held.
  std::size_t memoryBytes() const noexcept { return (m_starts.capacity() + m_bucket.capacity()) * sizeof(std::int32_t); }

 private:
  // Largest word i in [lo, hi] whose run starts at or before slot.
  std::int32_t search(std::int64_t slot, std::int64_t lo, std::int64_t hi) const noexcept {
    const auto first = m_starts.begin() + lo, last = m_starts.begin() + hi + 1;
    const auto it = std::upper_bound(first, last, static_cast<std::int32_t>(slot));
    return static_cast<std::int32_t>((it - m_starts.begin()) - 1);
  }

  std::int64_t m_size = 0;
  int m_shift = 0;
  std::vector<std::int32_t> m_starts;  // first slot of each word's run (size when none)
  std::vector<std::int32_t> m_bucket;
};

/// The Huffman tree of hierarchical softmax, built from the counts as word2vec.c's
/// CreateBinaryTree does (two-queue merge of the count-sorted leaves; ties prefer the
/// leaf queue only when its count is strictly smaller). For word w, code(w)[d] is the
/// bit at depth d from the root and point(w)[d] the inner node (an index into the
/// (dim, V - 1) output table) whose sigmoid predicts it.
class HuffmanTree {
 public:
  HuffmanTree() = default;

  /// counts must be in decreasing order after index 0 (a Vocabulary's counts).
  explicit HuffmanTree(const std::vector<std::int64_t>& counts) {
    const auto v = static_cast<std::int64_t>(counts.size());
    checkExpected(v >= 2, "HuffmanTree", "vocabulary size", ">= 2", v);
    std::vector<std::int64_t> count(static_cast<std::size_t>(2 * v + 1), 0), parent(count.size(), 0);
    std::vector<std::uint8_t> binary(count.size(), 0);
    for (std::int64_t a = 0; a < v; ++a) count[static_cast<std::size_t>(a)] = counts[static_cast<std::size_t>(a)];
    for (std::int64_t a = v; a < 2 * v; ++a) count[static_cast<std::size_t>(a)] = static_cast<std::int64_t>(1e15);
    std::int64_t pos1 = v - 1, pos2 = v;
    auto pick = [&]() {
      std::int64_t m;
      if (pos1 >= 0 && count[static_cast<std::size_t>(pos1)] < count[static_cast<std::size_t>(pos2)]) {
        m = pos1--;
      } else {
        m = pos2++;
      }
      return static_cast<std::size_t>(m);
    };
    for (std::int64_t a = 0; a < v - 1; ++a) {
      const std::size_t min1 = pick(), min2 = pick();
      count[static_cast<std::size_t>(v + a)] = count[min1] + count[min2];
      parent[min1] = v + a;
      parent[min2] = v + a;
      binary[min2] = 1;
    }
    m_offsets.assign(1, 0);
    std::vector<std::uint8_t> code;
    std::vector<std::int32_t> point;
    for (std::int64_t a = 0; a < v; ++a) {
      code.clear();
      point.clear();
      std::int64_t b = a;
      while (b != 2 * v - 2) {
        code.push_back(binary[static_cast<std::size_t>(b)]);
        b = parent[static_cast<std::size_t>(b)];
        point.push_back(static_cast<std::int32_t>(b - v));  // the inner node above
      }
      // Root first.
      m_codes.insert(m_codes.end(), code.rbegin(), code.rend());
      m_points.insert(m_points.end(), point.rbegin(), point.rend());
      m_offsets.push_back(static_cast<std::int64_t>(m_codes.size()));
    }
  }

  Index size() const noexcept { return static_cast<Index>(m_offsets.size()) - 1; }
  /// Code length (depth) of word w.
  int length(Index w) const noexcept {
    return static_cast<int>(m_offsets[static_cast<std::size_t>(w) + 1] - m_offsets[static_cast<std::size_t>(w)]);
  }
  /// Pointers to the code bits and inner-node indices of word w, root first.
  const std::uint8_t* code(Index w) const noexcept { return m_codes.data() + m_offsets[static_cast<std::size_t>(w)]; }
  const std::int32_t* point(Index w) const noexcept {
    return m_points.data() + m_offsets[static_cast<std::size_t>(w)];
  }
  /// Code of word w as a string of '0' / '1', root first.
  std::string codeString(Index w) const {
    checkIndex("HuffmanTree::codeString", "w", w, size());
    std::string s;
    for (int d = 0; d < length(w); ++d) s += static_cast<char>('0' + code(w)[d]);
    return s;
  }
  int maxLength() const noexcept {
    int m = 0;
    for (Index w = 0; w < size(); ++w) m = std::max(m, length(w));
    return m;
  }

 private:
  std::vector<std::int64_t> m_offsets;
  std::vector<std::uint8_t> m_codes;
  std::vector<std::int32_t> m_points;
};

/// word2vec.c's subsampling: the probability-like value
///   ran = (sqrt(c / (s T)) + 1) * (s T) / c,  s = sample, T = train words,
/// computed in word2vec.c's mixed precision (`real` = Scalar, sqrt in double). A word
/// occurrence is dropped when ran < u, u uniform in [0, 1); so min(ran, 1) is its keep
/// probability. This is not the paper's 1 - sqrt(t / f). Returns 1 when sample <= 0 or
/// c == 0.
template <typename Scalar = float>
Scalar subsampleKeep(std::int64_t count, Scalar sample, std::int64_t trainWords) {
  if (!(sample > 0) || count <= 0) return Scalar(1);
  const Scalar st = sample * static_cast<Scalar>(trainWords);
  const double ran = (std::sqrt(static_cast<double>(static_cast<Scalar>(count) / st)) + 1) *
                     static_cast<double>(st) / static_cast<double>(count);
  return static_cast<Scalar>(ran);
}

/// word2vec.c's learning rate after `wordsDone` words of a run over `totalWords`
/// (epochs x train words): start * (1 - done / (total + 1)) in the scalar's precision,
/// floored at start * 1e-4.
template <typename Scalar = float>
Scalar learningRate(Scalar start, std::int64_t wordsDone, std::int64_t totalWords) {
  Scalar alpha = start * (1 - static_cast<Scalar>(wordsDone) / static_cast<Scalar>(totalWords + 1));
  if (static_cast<double>(alpha) < static_cast<double>(start) * 0.0001) {
    alpha = static_cast<Scalar>(static_cast<double>(start) * 0.0001);
  }
  return alpha;
}

}  // namespace eigenrec::embedding

#endif  // EIGENREC_EMBEDDING_TABLES_HPP

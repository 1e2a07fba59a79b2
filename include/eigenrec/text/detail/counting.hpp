// eigenrec/text/detail/counting.hpp: the counting engine behind the vectorizers.
//
// fit (learning a vocabulary and counting it) runs in phases:
//   1. analyze: documents are cut into chunks (by size, independent of the thread count);
//      each chunk is tokenized on a worker thread into a stream of unit ids (word tokens,
//      ids in a unit table of the worker's, which the chunks it takes in turn share; or
//      code points for the character analyzers);
//   2. units: the unit tables are merged and sorted; the streams are renumbered with the
//      rank of each unit, so that unit ids sort like the strings;
//   3. count: every n-gram becomes a key of packed unit ranks; keys are partitioned by
//      hash into groups (cache-sized tables), each group is counted on one thread,
//      giving document frequencies, total counts and per-document counts;
//   4. select: min_df / max_df / max_features; the kept keys are sorted, which is
//      scikit-learn's alphabetical column order (see KeyPacking);
//   5. assemble: the CSR matrix, rows in input order, columns sorted in each row.
// Every result is a function of the documents only: chunking, grouping and threads
// change the work split, never the numbers.
//
// transform looks n-grams up in a Lookup (built from the vocabulary strings).
#ifndef EIGENREC_TEXT_DETAIL_COUNTING_HPP
#define EIGENREC_TEXT_DETAIL_COUNTING_HPP

#include <eigenrec/core/checks.hpp>
#include <eigenrec/core/memory.hpp>
#include <eigenrec/core/parallel.hpp>
#include <eigenrec/core/progress.hpp>
#include <eigenrec/core/types.hpp>
#include <eigenrec/text/analyzer.hpp>
#include <eigenrec/text/detail/documents.hpp>
#include <eigenrec/text/detail/tables.hpp>

#include <algorithm>
#include <array>
#include <cmath>
#include <condition_variable>
#include <deque>
#include <exception>
#include <functional>
#include <iterator>
#include <mutex>
#include <thread>
#include <cstdint>
#include <limits>
#include <memory>
#include <numeric>
#include <string>
#include <string_view>
#include <vector>

namespace eigenrec::text {

/// Document-term counts: (documents, terms), CSR with 64-bit indices, like
/// scikit-learn's CountVectorizer output (int64 counts).
using CountMatrix = Eigen::SparseMatrix<std::int64_t, Eigen::RowMajor, std::int64_t>;

/// A CSR matrix (int64 indices) with values of type Value: counts as int64, or as the
/// floating type that TF-IDF / BM25 then weigh in place.
template <typename Value>
using CsrMatrix = Eigen::SparseMatrix<Value, Eigen::RowMajor, std::int64_t>;

namespace detail {

/// m.resizeNonZeros(n) for a matrix whose arrays are then written once: they are advised
/// to huge pages first (in this regime, 4 KiB page faults cost more than the writes).
template <typename Value>
void resizeNonZerosForWriting(CsrMatrix<Value>& m, std::int64_t n) {
  m.resizeNonZeros(n);
  adviseHugePages(m.innerIndexPtr(), static_cast<std::size_t>(n) * sizeof(std::int64_t));
  adviseHugePages(m.valuePtr(), static_cast<std::size_t>(n) * sizeof(Value));
}

/// Vocabulary selection of a fit (scikit-learn's min_df / max_df / max_features, the
/// thresholds already turned into document counts).
struct Selection {
  double minDocCount = 1;
  double maxDocCount = std::numeric_limits<double>::infinity();
  bool proportionalMin = false, proportionalMax = false;
  double minValue = 1, maxValue = 1;  // as given (count or proportion)
  std::int64_t maxFeatures = 0;       // 0 = no limit
  bool binary = false;                // max_features ranks by document frequency then
};

/// A weighting of each row of counts, in place, as the count phase writes the row (while
/// it is in cache): values[k] is the count of column columns[k] (as Value; 1 for binary),
/// columns ascending.
template <typename Value>
using RowWeighting = std::function<void(const std::int64_t* columns, Value* values, std::size_t n)>;

/// Makes the RowWeighting of a fit once its vocabulary is known: from each term's
/// document frequency and the terms (column order), and the number of documents.
template <typename Value>
using MakeRowWeighting = std::function<RowWeighting<Value>(
    const std::vector<std::int64_t>& documentFrequency, std::int64_t documents, const std::vector<std::string>& terms)>;

/// Applies `weigh` to every row of a finished matrix, in parallel over rows (the result
/// does not depend on `threads`): for weights known only once every row is counted.
template <typename Value>
void weighRows(CsrMatrix<Value>& m, const RowWeighting<Value>& weigh, int threads) {
  const std::int64_t* outer = m.outerIndexPtr();
  parallelFor(0, m.rows(), 2048, threads, [&](Index b, Index e) {
    for (Index i = b; i < e; ++i) {
      weigh(m.innerIndexPtr() + outer[i], m.valuePtr() + outer[i], static_cast<std::size_t>(outer[i + 1] - outer[i]));
    }
  });
}

/// NumPy's argsort(kind="quicksort") of int64 values (NumPy 1.24 on x86-64: introsort —
/// median-of-3 quicksort, insertion sort below 16 elements, heapsort past a depth limit).
/// It is not stable; scikit-learn's max_features keeps argsort(-totals)[:max_features],
/// so this decides which of equally frequent terms are kept, as in scikit-learn.
inline std::vector<std::size_t> numpyArgsort(const std::vector<std::int64_t>& v) {
  const std::size_t n = v.size();
  std::vector<std::size_t> t(n);
  std::iota(t.begin(), t.end(), std::size_t{0});
  if (n == 0) return t;
  auto less = [&](std::size_t a, std::size_t b) { return v[a] < v[b]; };
  auto heapsort = [&](std::size_t lo, std::size_t count) {
    auto at = [&](std::size_t i) -> std::size_t& { return t[lo + i - 1]; };  // 1-based
    auto sift = [&](std::size_t i, std::size_t size, std::size_t tmp) {
      std::size_t j = i << 1;
      while (j <= size) {
        if (j < size && less(at(j), at(j + 1))) ++j;
        if (less(tmp, at(j))) {
          at(i) = at(j);
          i = j;
          j += j;
        } else {
          break;
        }
      }
      at(i) = tmp;
    };
    for (std::size_t l = count >> 1; l > 0; --l) sift(l, count, at(l));
    for (std::size_t size = count; size > 1;) {
      const std::size_t tmp = at(size);
      at(size) = at(1);
      --size;
      sift(1, size, tmp);
    }
  };
  int depthLimit = 0;
  for (std::size_t m = n; m > 1; m >>= 1) ++depthLimit;
  depthLimit *= 2;
  struct Range {
    std::ptrdiff_t lo, hi;
    int depth;
  };
  std::vector<Range> stack;
  std::ptrdiff_t pl = 0, pr = static_cast<std::ptrdiff_t>(n) - 1;
  int depth = depthLimit;
  auto T = [&](std::ptrdiff_t i) -> std::size_t& { return t[static_cast<std::size_t>(i)]; };
  while (true) {
    if (depth < 0) {
      heapsort(static_cast<std::size_t>(pl), static_cast<std::size_t>(pr - pl + 1));
    } else {
      while (pr - pl > 15) {
        const std::ptrdiff_t pm = pl + ((pr - pl) >> 1);
        if (less(T(pm), T(pl))) std::swap(T(pm), T(pl));
        if (less(T(pr), T(pm))) std::swap(T(pr), T(pm));
        if (less(T(pm), T(pl))) std::swap(T(pm), T(pl));
        const std::size_t pivot = T(pm);
        std::ptrdiff_t pi = pl, pj = pr - 1;
        std::swap(T(pm), T(pj));
        while (true) {
          do ++pi; while (less(T(pi), pivot));
          do --pj; while (less(pivot, T(pj)));
          if (pi >= pj) break;
          std::swap(T(pi), T(pj));
        }
        std::swap(T(pi), T(pr - 1));
        if (pi - pl < pr - pi) {
          stack.push_back({pi + 1, pr, 0});
          pr = pi - 1;
        } else {
          stack.push_back({pl, pi - 1, 0});
          pl = pi + 1;
        }
        stack.back().depth = --depth;
      }
      for (std::ptrdiff_t pi = pl + 1; pi <= pr; ++pi) {
        const std::size_t vi = T(pi);
        std::ptrdiff_t pj = pi;
        while (pj > pl && less(vi, T(pj - 1))) {
          T(pj) = T(pj - 1);
          --pj;
        }
        T(pj) = vi;
      }
    }
    if (stack.empty()) break;
    pl = stack.back().lo;
    pr = stack.back().hi;
    depth = stack.back().depth;
    stack.pop_back();
  }
  return t;
}

/// Output of a fit.
template <typename Value>
struct FitCounts {
  FitCounts() = default;
  // Eigen 3.4's SparseMatrix has no move constructor: an implicit move would copy the
  // matrix (tens of megabytes of fresh pages for a large corpus), so moves swap it.
  FitCounts(FitCounts&& other) noexcept { swap(other); }
  FitCounts& operator=(FitCounts&& other) noexcept {
    swap(other);
    return *this;
  }
  FitCounts(const FitCounts&) = delete;
  FitCounts& operator=(const FitCounts&) = delete;
  void swap(FitCounts& other) noexcept {
    using std::swap;
    swap(vocabulary, other.vocabulary);
    swap(documentFrequency, other.documentFrequency);
    counts.swap(other.counts);
    swap(documents, other.documents);
    swap(seenFeatures, other.seenFeatures);
    swap(packing, other.packing);
    swap(columnKeys, other.columnKeys);
  }

  std::vector<std::string> vocabulary;  // column order
  std::vector<std::int64_t> documentFrequency;
  CsrMatrix<Value> counts;              // (documents, vocabulary)
  std::int64_t documents = 0;
  std::size_t seenFeatures = 0;         // distinct n-grams before selection
  KeyPacking packing;                   // how columnKeys pack the unit ranks
  std::vector<std::uint64_t> columnKeys;  // packing.words per column
};

/// Per-chunk result of phase 1.
struct Chunk {
  std::int64_t firstDoc = 0;
  std::vector<std::uint32_t> stream;   // unit ids (of `table`, then ranks); kSegmentBreak splits char_wb words
  std::vector<std::uint32_t> docEnds;  // end of each document in `stream`
  std::size_t table = 0;               // word analyzer: the UnitTable (Analysis::tables) of the ids
  std::vector<std::uint32_t> counts;   // unigram path: count of each stream entry (stream = distinct ids per doc)
  // phase 3: the n-gram keys by group, then (feature << 32 | count) entries in place.
  // Group g owns keys[groupBegin[g], groupBegin[g + 1]) and uses its first groupLength[g]
  // (words of keys, then entries): one huge-page buffer per chunk, not one vector per
  // group (3.4 MB of keys for a chunk of Reuters with bigrams: 1700 page faults of 4 KiB).
  LargeBuffer<std::uint64_t> keys;
  std::vector<std::size_t> groupBegin;                   // [group + 1]
  std::vector<std::size_t> groupLength;                  // [group]
  std::vector<std::vector<std::uint32_t>> groupDocEnds;  // [group][doc] end, in keys then entries

  std::uint64_t* groupData(std::size_t g) noexcept { return keys.data() + groupBegin[g]; }
};

/// A string's first 8 bytes as a big-endian number, zero-padded: ordering these orders
/// strings by their first 8 bytes (as unsigned bytes, like std::string's comparison).
inline std::uint64_t bigEndianPrefix(std::string_view s) noexcept {
  std::uint64_t prefix = 0;
  for (std::size_t k = 0; k < 8; ++k) prefix = (prefix << 8) | (k < s.size() ? static_cast<unsigned char>(s[k]) : 0u);
  return prefix;
}

/// A unit of a worker table in sorted order: its big-endian prefix, id and length.
struct SortedUnit {
  std::uint64_t prefix;
  std::uint32_t id;
  std::uint32_t length;  // capped at 2^32 - 1: only compared when below 9
};

/// Orders two units x and y of the tables xs and ys: -1, 0 or 1. Equal prefixes decide
/// by the lengths when a unit has at most 8 bytes (it is then the other's prefix, padded
/// with zero bytes that the other has too); otherwise the whole strings do.
inline int compareUnits(const SortedUnit& x, const StringTable& xs, const SortedUnit& y, const StringTable& ys) {
  if (x.prefix != y.prefix) return x.prefix < y.prefix ? -1 : 1;
  if (x.length <= 8 || y.length <= 8) return x.length == y.length ? 0 : (x.length < y.length ? -1 : 1);
  return xs.at(x.id).compare(ys.at(y.id));
}

/// The strings of `table` in byte order: a least-significant-digit radix sort on the
/// big-endian prefixes (8 passes of 8 bits, skipping the bytes that all units share),
/// then runs of equal prefixes sorted by the whole string.
inline std::vector<SortedUnit> sortUnits(const StringTable& table) {
  const std::size_t n = table.size();
  std::vector<SortedUnit> a(n), b(n);
  std::vector<std::array<std::uint32_t, 256>> histogram(8);
  for (auto& h : histogram) h.fill(0);
  for (std::uint32_t id = 0; id < n; ++id) {
    const std::string_view s = table.at(id);
    const std::uint64_t prefix = bigEndianPrefix(s);
    a[id] = SortedUnit{prefix, id, static_cast<std::uint32_t>(std::min<std::size_t>(s.size(), 0xFFFFFFFFu))};
    for (int d = 0; d < 8; ++d) ++histogram[static_cast<std::size_t>(d)][(prefix >> (8 * d)) & 0xFF];
  }
  for (int d = 0; d < 8; ++d) {
    auto& h = histogram[static_cast<std::size_t>(d)];
    if (n == 0 || h[(a[0].prefix >> (8 * d)) & 0xFF] == n) continue;  // every unit has this byte
    std::uint32_t sum = 0;
    for (auto& count : h) {
      const std::uint32_t c = count;
      count = sum;
      sum += c;
    }
    for (const SortedUnit& u : a) b[h[(u.prefix >> (8 * d)) & 0xFF]++] = u;
    a.swap(b);
  }
  for (std::size_t i = 0; i < n;) {
    std::size_t j = i + 1;
    while (j < n && a[j].prefix == a[i].prefix) ++j;
    if (j - i > 1) {
      std::sort(a.begin() + static_cast<std::ptrdiff_t>(i), a.begin() + static_cast<std::ptrdiff_t>(j),
                [&](const SortedUnit& x, const SortedUnit& y) { return compareUnits(x, table, y, table) < 0; });
    }
    i = j;
  }
  return a;
}

/// Word units of phase 1: one table per worker thread, which the chunks it analyses in
/// turn share (inserting and merging a unit once per worker, not once per chunk).
/// A unit's StringTable::State: lastDoc is `documents` at the last document that had it
/// (unigram path), lastPos its entry in that document's chunk stream; dropped units (stop
/// words, filtered tokens) have lastDoc == kDropped.
struct UnitTable {
  static constexpr std::uint32_t kDropped = 0xFFFFFFFFu;
  StringTable strings;
  std::uint32_t documents = 0;  // documents analysed (unigram path; below kDropped, see analyzeChunk)
  std::vector<SortedUnit> sorted;  // sortUnits(strings) once phase 1 is done with the table
  bool done = false;               // sorted, lookup released
};

/// Result of phase 1.
struct Analysis {
  std::vector<Chunk> chunks;                      // input order
  std::vector<std::unique_ptr<UnitTable>> tables;  // word analyzer: Chunk::table indexes them
};

/// A chunk boundary rule: about 1 MiB of text or 65536 documents.
inline constexpr std::size_t kChunkBytes = std::size_t{1} << 20;
inline constexpr std::size_t kChunkDocs = std::size_t{1} << 16;

inline constexpr std::uint32_t kDroppedUnit = 0xFFFFFFFFu;

/// Generates the n-gram windows of one document stream and calls onKey(key).
class NgramGenerator {
 public:
  NgramGenerator(const Analyzer& analyzer, KeyPacking packing) : m_analyzer(analyzer), m_packing(packing) {
    m_key.assign(static_cast<std::size_t>(packing.words), 0);
  }

  template <typename OnKey>
  void run(const std::uint32_t* ids, std::size_t length, OnKey&& onKey) {
    const auto& o = m_analyzer.options();
    if (o.analyzer == AnalyzerKind::word) {
      const auto minN = static_cast<std::size_t>(o.ngramRange.first);
      const auto maxN = static_cast<std::size_t>(o.ngramRange.second);
      for (std::size_t n = minN; n <= std::min(maxN, length); ++n) {
        for (std::size_t i = 0; i + n <= length; ++i) emit(ids + i, n, onKey);
      }
      return;
    }
    // Character analyzers: segments separated by kSegmentBreak (char_wb) or one segment.
    std::size_t start = 0;
    for (std::size_t i = 0; i <= length; ++i) {
      if (i == length || ids[i] == kSegmentBreak) {
        if (o.analyzer == AnalyzerKind::character || i > start) {
          m_analyzer.appendCharNgrams(ids + start, i - start,
                                      [&](const std::uint32_t* g, std::size_t n) { emit(g, n, onKey); });
        }
        start = i + 1;
      }
    }
  }

 private:
  template <typename OnKey>
  void emit(const std::uint32_t* ids, std::size_t n, OnKey& onKey) {
    m_packing.pack(ids, static_cast<int>(n), m_key.data());
    onKey(m_key.data());
  }

  const Analyzer& m_analyzer;
  KeyPacking m_packing;
  std::vector<std::uint64_t> m_key;
};

/// Buffers handed from one chunk's work to the next (parallelFor and forEachChunk call
/// their bodies once per chunk, so a buffer declared in the body would be fresh memory,
/// page faults, every time), while at most one buffer per thread is in use at once.
template <typename T>
class BufferPool {
 public:
  T take() {
    std::lock_guard<std::mutex> lock(m_mutex);
    if (m_free.empty()) return T{};
    T buffer = std::move(m_free.back());
    m_free.pop_back();
    return buffer;
  }
  void give(T buffer) {
    std::lock_guard<std::mutex> lock(m_mutex);
    m_free.push_back(std::move(buffer));
  }

 private:
  std::mutex m_mutex;
  std::vector<T> m_free;
};

/// Phase 1 for one chunk (`units`: the word analyzer's unit table for it).
inline void analyzeChunk(const Analyzer& analyzer, const DocumentBlock& block, std::size_t begin, std::size_t end,
                         Chunk& chunk, UnitTable& units, std::string_view where, const std::string& source) {
  const bool word = analyzer.options().analyzer == AnalyzerKind::word;
  const bool unigrams = word && analyzer.options().ngramRange.second == 1;
  std::string buffer;
  std::u32string text;
  std::size_t bytes = 0;
  for (std::size_t d = begin; d < end; ++d) bytes += block.docs[d].size();
  chunk.stream.reserve(unigrams ? bytes / 8 : (word ? bytes / 5 : bytes + bytes / 4));
  // A new table is sized for a vocabulary of bytes / 32 units (32768 for a chunk of 1 MiB:
  // 65536 slots, 2 MiB, one huge page) rather than grown by doubling from 64 slots: each
  // doubling is fresh memory, page faults, and a rehash. Not more: every token reads a
  // slot, and the smaller the table, the more of it stays in cache.
  if (word && units.strings.size() == 0) units.strings.reserve(bytes / 32);
  StringTable& strings = units.strings;
  // Unigram path: each document's distinct tokens and their counts, straight away.
  if (unigrams) chunk.counts.reserve(bytes / 8);
  for (std::size_t d = begin; d < end; ++d) {
    try {
      if (unigrams) {
        if (++units.documents == UnitTable::kDropped) {  // after 2^32 - 2 documents: the tags start again
          strings.forEachState([](StringTable::State& u) {
            if (u.lastDoc != UnitTable::kDropped) u.lastDoc = 0;
          });
          units.documents = 1;
        }
        const std::uint32_t docTag = units.documents;
        analyzer.forEachToken(block.docs[d], buffer, [&](std::string_view token) EIGENREC_ALWAYS_INLINE {
          bool inserted = false;
          const StringTable::Entry e = strings.findOrInsert(token, PaddedKey(token.data(), token.size()), inserted);
          StringTable::State& u = *e.state;
          if (inserted && !analyzer.keepToken(token)) u.lastDoc = UnitTable::kDropped;
          if (u.lastDoc == UnitTable::kDropped) return;
          if (u.lastDoc != docTag) {
            u.lastDoc = docTag;
            u.lastPos = static_cast<std::uint32_t>(chunk.stream.size());
            chunk.stream.push_back(e.id);
            chunk.counts.push_back(1);
          } else {
            ++chunk.counts[u.lastPos];
          }
        });
      } else if (word && !analyzer.dropsTokens()) {
        analyzer.forEachToken(block.docs[d], buffer, [&](std::string_view token) EIGENREC_ALWAYS_INLINE {
          bool inserted = false;
          chunk.stream.push_back(strings.findOrInsert(token, PaddedKey(token.data(), token.size()), inserted).id);
        });
      } else if (word) {
        analyzer.forEachToken(block.docs[d], buffer, [&](std::string_view token) EIGENREC_ALWAYS_INLINE {
          bool inserted = false;
          const StringTable::Entry e = strings.findOrInsert(token, PaddedKey(token.data(), token.size()), inserted);
          if (inserted && !analyzer.keepToken(token)) e.state->lastDoc = UnitTable::kDropped;
          if (e.state->lastDoc != UnitTable::kDropped) chunk.stream.push_back(e.id);
        });
      } else {
        bool first = true;
        analyzer.forEachSegment(block.docs[d], text, [&](const char32_t* seg, std::size_t n) {
          if (!first) chunk.stream.push_back(kSegmentBreak);
          first = false;
          for (std::size_t k = 0; k < n; ++k) chunk.stream.push_back(static_cast<std::uint32_t>(seg[k]));
        });
      }
    } catch (const std::invalid_argument&) {
      rethrowDocumentError(where, source, block, d);
    }
    if (chunk.stream.size() > 0xFFFFFFF0u) {
      throwInvalidArgument(where, "more than 2^32 tokens in one chunk of documents");
    }
    chunk.docEnds.push_back(static_cast<std::uint32_t>(chunk.stream.size()));
  }
}

/// Cuts a block into chunks [begin, end) of documents.
inline std::vector<std::pair<std::size_t, std::size_t>> chunkRanges(const DocumentBlock& block) {
  std::vector<std::pair<std::size_t, std::size_t>> ranges;
  std::size_t begin = 0, bytes = 0;
  for (std::size_t d = 0; d < block.docs.size(); ++d) {
    bytes += block.docs[d].size() + 1;
    if (bytes >= kChunkBytes || d + 1 - begin >= kChunkDocs) {
      ranges.emplace_back(begin, d + 1);
      begin = d + 1;
      bytes = 0;
    }
  }
  if (begin < block.docs.size()) ranges.emplace_back(begin, block.docs.size());
  return ranges;
}

/// Runs onChunk(block, begin, end, result) for every chunk (chunkRanges) of every block
/// of `source`, on `threads` threads, with one Result per chunk, returned in input order.
/// The calling thread reads the blocks and reports them to `progress` (stage `stage`, in
/// bytes of `totalBytes` when it is known, else in documents). Each worker calls onDone()
/// once no chunk is left to start (while others may still be on their last ones): work
/// for the end of the phase that fills the time a thread would otherwise wait.
///
/// With more than one thread the chunks form one queue: a thread that finishes the last
/// chunks of a block goes on with the next block, which has been read meanwhile (a block's
/// views stay valid until the second next(), so the block after the next one is read once
/// every chunk of the block before it is done). The error reported is the one of the
/// earliest failing chunk, or else the reader's: the first bad input in input order.
template <typename Result, typename Source, typename OnChunk, typename OnDone>
std::deque<Result> forEachChunk(Source& source, int threads, const ProgressCallback& progress, std::int64_t totalBytes,
                                const char* stage, OnChunk&& onChunk, OnDone&& onDone) {
  ProgressTracker tracker(progress, totalBytes, stage, totalBytes > 0 ? "bytes" : "documents");
  std::int64_t docs = 0, bytes = 0;
  const auto onBlock = [&](const DocumentBlock& block) {
    docs += static_cast<std::int64_t>(block.docs.size());
    for (const auto d : block.docs) bytes += static_cast<std::int64_t>(d.size()) + 1;  // the reader runs ahead
    tracker.update(totalBytes > 0 ? std::min(totalBytes, bytes) : docs);
  };
  const int workers = resolveThreads(threads);
  std::deque<Result> results;  // element addresses are stable while it grows
  if (workers <= 1) {
    DocumentBlock block;
    while (source.next(block)) {
      onBlock(static_cast<const DocumentBlock&>(block));
      for (const auto& [b, e] : chunkRanges(block)) {
        results.emplace_back();
        onChunk(static_cast<const DocumentBlock&>(block), b, e, results.back());
      }
    }
    onDone();
    tracker.finish(totalBytes > 0 ? totalBytes : docs);
    return results;
  }
  struct Task {
    int slot;
    std::size_t begin, end, chunk;
    Result* result;  // set by the reading thread: workers never touch `results` itself
  };
  DocumentBlock blocks[2];
  std::mutex mutex;
  std::condition_variable wake, drained;
  std::deque<Task> queue;
  std::size_t pending[2] = {0, 0};
  bool finished = false;
  std::exception_ptr error, doneError;
  std::size_t errorChunk = std::numeric_limits<std::size_t>::max();
  auto work = [&]() {
    for (;;) {
      Task t;
      {
        std::unique_lock<std::mutex> lock(mutex);
        wake.wait(lock, [&]() { return !queue.empty() || finished; });
        if (queue.empty()) {
          if (error) return;
          lock.unlock();
          try {
            onDone();
          } catch (...) {
            std::lock_guard<std::mutex> relock(mutex);
            if (!doneError) doneError = std::current_exception();
          }
          return;
        }
        t = queue.front();
        queue.pop_front();
        if (t.chunk > errorChunk) {  // an earlier chunk failed: this one's result is not needed
          if (--pending[t.slot] == 0) drained.notify_all();
          continue;
        }
      }
      std::exception_ptr failure;
      try {
        onChunk(static_cast<const DocumentBlock&>(blocks[t.slot]), t.begin, t.end, *t.result);
      } catch (...) {
        failure = std::current_exception();
      }
      std::lock_guard<std::mutex> lock(mutex);
      if (failure && t.chunk < errorChunk) {
        errorChunk = t.chunk;
        error = failure;
      }
      if (--pending[t.slot] == 0) drained.notify_all();
    }
  };
  std::vector<std::thread> pool;
  pool.reserve(static_cast<std::size_t>(workers));
  for (int w = 0; w < workers; ++w) pool.emplace_back(work);
  std::exception_ptr readError;
  try {
    for (std::size_t k = 0;; ++k) {
      const int slot = static_cast<int>(k % 2);
      {
        std::unique_lock<std::mutex> lock(mutex);
        drained.wait(lock, [&]() { return pending[slot] == 0; });
        if (error) break;
      }
      if (!source.next(blocks[slot])) break;
      onBlock(static_cast<const DocumentBlock&>(blocks[slot]));
      const auto ranges = chunkRanges(blocks[slot]);
      {
        std::lock_guard<std::mutex> lock(mutex);
        for (const auto& [b, e] : ranges) {
          results.emplace_back();
          queue.push_back(Task{slot, b, e, results.size() - 1, &results.back()});
        }
        pending[slot] += ranges.size();
      }
      wake.notify_all();
    }
  } catch (...) {
    readError = std::current_exception();
  }
  {
    std::lock_guard<std::mutex> lock(mutex);
    finished = true;
  }
  wake.notify_all();
  for (auto& t : pool) t.join();
  if (error) std::rethrow_exception(error);
  if (readError) std::rethrow_exception(readError);
  if (doneError) std::rethrow_exception(doneError);
  tracker.finish(totalBytes > 0 ? totalBytes : docs);
  return results;
}

/// Phase 1 over a whole document source.
template <typename Source>
Analysis analyzeAll(const Analyzer& analyzer, Source& source, int threads, std::string_view where,
                    const ProgressCallback& progress, std::int64_t totalBytes) {
  Analysis result;
  // The unit tables not in use: a chunk takes one (or a new one) and gives it back, so
  // there are at most as many tables as chunks analysed at once, i.e. workers.
  std::mutex mutex;
  std::vector<std::size_t> idle;
  std::deque<Chunk> chunks = forEachChunk<Chunk>(
      source, threads, progress, totalBytes, "count",
      [&](const DocumentBlock& block, std::size_t begin, std::size_t end, Chunk& chunk) {
        UnitTable* units = nullptr;
        {
          std::lock_guard<std::mutex> lock(mutex);
          if (idle.empty()) {
            idle.push_back(result.tables.size());
            result.tables.push_back(std::make_unique<UnitTable>());
          }
          chunk.table = idle.back();
          idle.pop_back();
          units = result.tables[chunk.table].get();
        }
        chunk.firstDoc = block.firstIndex + static_cast<std::int64_t>(begin);
        analyzeChunk(analyzer, block, begin, end, chunk, *units, where, source.source());
        std::lock_guard<std::mutex> lock(mutex);
        idle.push_back(chunk.table);
      },
      [&] {
        // No chunk is left to start, so an idle table is done with: phase 2's sort of it
        // runs here, while another thread may still be on its last chunk (the table of a
        // chunk still running is sorted by its own thread, after it).
        if (analyzer.options().analyzer != AnalyzerKind::word) return;  // no unit tables to rank
        for (;;) {
          UnitTable* table = nullptr;
          {
            std::lock_guard<std::mutex> lock(mutex);
            if (idle.empty()) return;
            table = result.tables[idle.back()].get();
            idle.pop_back();
          }
          table->strings.releaseLookup();  // phase 2 reads the units by id only
          table->sorted = sortUnits(table->strings);
          table->done = true;
        }
      });
  result.chunks.assign(std::make_move_iterator(chunks.begin()), std::make_move_iterator(chunks.end()));
  return result;
}

/// Phase 2: the sorted units (word: strings; char: code points as UTF-8) and the streams
/// renumbered with unit ranks. Returns the unit strings in rank order; frees the unit
/// tables.
inline std::vector<std::string> rankUnits(const Analyzer& analyzer, Analysis& analysis, int threads) {
  std::vector<Chunk>& chunks = analysis.chunks;
  std::vector<std::string> units;
  if (analyzer.options().analyzer == AnalyzerKind::word) {
    // Each worker table is sorted on its own (by analyzeAll, else here in parallel), then
    // the sorted lists are merged, in parts by first byte (in parallel): part p merges the
    // units whose first byte is in [bounds[p], bounds[p + 1]), so the parts' merged units,
    // one after the other, are all units in byte order. rank[t][id]: the rank of unit id
    // of table t.
    const std::vector<std::unique_ptr<UnitTable>>& sources = analysis.tables;
    const std::size_t tableCount = sources.size();
    std::vector<std::vector<SortedUnit>> sorted(tableCount);
    std::vector<std::size_t> unsorted;  // tables that analyzeAll did not finish (tests make their own)
    for (std::size_t t = 0; t < tableCount; ++t) {
      if (sources[t]->done) {
        sorted[t] = std::move(sources[t]->sorted);
      } else {
        unsorted.push_back(t);
      }
    }
    parallelFor(0, static_cast<Index>(unsorted.size()), 1, threads, [&](Index b, Index e) {
      for (Index i = b; i < e; ++i) {
        const std::size_t t = unsorted[static_cast<std::size_t>(i)];
        sorted[t] = sortUnits(sources[t]->strings);
      }
    });
    // starts[t][c]: the first sorted unit of table t whose first byte is c or more.
    std::vector<std::array<std::uint32_t, 257>> starts(tableCount);
    std::array<std::uint64_t, 256> histogram{};
    for (std::size_t t = 0; t < tableCount; ++t) {
      std::array<std::uint32_t, 257>& start = starts[t];
      std::size_t i = 0;
      for (unsigned c = 0; c < 256; ++c) {
        start[c] = static_cast<std::uint32_t>(i);
        while (i < sorted[t].size() && (sorted[t][i].prefix >> 56) == c) ++i;
        histogram[c] += i - start[c];
      }
      start[256] = static_cast<std::uint32_t>(i);
    }
    const int workers = resolveThreads(threads);
    std::vector<unsigned> bounds{0};  // first bytes starting each part, then 256
    if (workers > 1) {
      std::uint64_t total = 0;
      for (const auto h : histogram) total += h;
      const std::uint64_t parts = static_cast<std::uint64_t>(std::min(64, 4 * workers));
      std::uint64_t seen = 0;
      for (unsigned c = 0; c < 256; ++c) {
        if (seen * parts >= total * bounds.size() && seen > 0 && bounds.size() < parts) bounds.push_back(c);
        seen += histogram[c];
      }
    }
    bounds.push_back(256);
    const std::size_t partCount = bounds.size() - 1;
    std::vector<std::vector<std::uint32_t>> rank(tableCount);
    for (std::size_t t = 0; t < tableCount; ++t) rank[t].resize(sorted[t].size());
    // merged[p]: the distinct units of part p in order, as (table, id).
    std::vector<std::vector<std::pair<std::uint32_t, std::uint32_t>>> merged(partCount);
    parallelFor(0, static_cast<Index>(partCount), 1, threads, [&](Index pb, Index pe) {
      std::vector<std::uint32_t> head(tableCount);
      for (Index pi = pb; pi < pe; ++pi) {
        const auto p = static_cast<std::size_t>(pi);
        auto& out = merged[p];
        for (std::size_t t = 0; t < tableCount; ++t) head[t] = starts[t][bounds[p]];
        const auto end = [&](std::size_t t) { return starts[t][bounds[p + 1]]; };
        const SortedUnit* last = nullptr;  // the last unit out, of table lastTable
        std::size_t lastTable = 0;
        while (true) {
          std::size_t best = tableCount;
          for (std::size_t t = 0; t < tableCount; ++t) {
            if (head[t] < end(t) &&
                (best == tableCount || compareUnits(sorted[t][head[t]], sources[t]->strings, sorted[best][head[best]],
                                                    sources[best]->strings) < 0)) {
              best = t;
            }
          }
          if (best == tableCount) break;
          const SortedUnit& u = sorted[best][head[best]];
          // A new unit unless it is the last one out (met again in another table).
          if (last == nullptr || compareUnits(*last, sources[lastTable]->strings, u, sources[best]->strings) != 0) {
            out.emplace_back(static_cast<std::uint32_t>(best), u.id);
          }
          last = &u;
          lastTable = best;
          rank[best][u.id] = static_cast<std::uint32_t>(out.size() - 1);  // within the part, for now
          ++head[best];
        }
      }
    });
    std::vector<std::uint32_t> offset(partCount + 1, 0);
    for (std::size_t p = 0; p < partCount; ++p) offset[p + 1] = offset[p] + static_cast<std::uint32_t>(merged[p].size());
    // The strings, made in place one after the other (cheaper than default strings that
    // threads then assign, on either thread count).
    units.reserve(offset[partCount]);
    for (const auto& part : merged) {
      for (const auto& [table, id] : part) units.emplace_back(sources[table]->strings.at(id));
    }
    parallelFor(0, static_cast<Index>(partCount), 1, threads, [&](Index pb, Index pe) {
      for (Index pi = pb; pi < pe; ++pi) {
        const auto p = static_cast<std::size_t>(pi);
        for (std::size_t t = 0; t < tableCount; ++t) {
          for (std::uint32_t i = starts[t][bounds[p]]; i < starts[t][bounds[p + 1]]; ++i) rank[t][sorted[t][i].id] += offset[p];
        }
      }
    });
    analysis.tables.clear();
    parallelFor(0, static_cast<Index>(chunks.size()), 1, threads, [&](Index b, Index e) {
      for (Index c = b; c < e; ++c) {
        Chunk& chunk = chunks[static_cast<std::size_t>(c)];
        const auto& r = rank[chunk.table];
        for (auto& id : chunk.stream) id = r[id];
      }
    });
    return units;
  }
  // Character analyzers: the code points that occur, in code point order.
  std::vector<std::uint32_t> rankOf(0x110000, 0);
  for (const Chunk& chunk : chunks) {
    for (std::uint32_t c : chunk.stream) {
      if (c != kSegmentBreak) rankOf[c] = 1;
    }
  }
  std::uint32_t next = 0;
  for (std::uint32_t c = 0; c < 0x110000; ++c) {
    if (rankOf[c]) {
      rankOf[c] = next++;
      std::string s;
      unicode::appendUtf8(s, c);
      units.push_back(std::move(s));
    }
  }
  parallelFor(0, static_cast<Index>(chunks.size()), 1, threads, [&](Index b, Index e) {
    for (Index c = b; c < e; ++c) {
      for (auto& id : chunks[static_cast<std::size_t>(c)].stream) {
        if (id != kSegmentBreak) id = rankOf[id];
      }
    }
  });
  return units;
}

/// Per-group state of phase 3.
struct Group {
  struct Stat {
    std::uint32_t lastDoc;  // global document index + 1 of the last document seen
    std::uint32_t lastPos;  // its position in outFeature
    std::uint64_t total;    // occurrences
  };
  KeyTable table;
  std::vector<std::uint32_t> df;
  std::vector<std::uint64_t> total;  // occurrences of each feature, kept for max_features only
  std::vector<std::int64_t> column;    // phase 4: feature -> column or -1
};

/// Puts the entries of a row of distinct columns below `columns` in column order with
/// two bitmaps, instead of sorting them: bit c of `bits` marks column c, bit w of
/// `summary` marks a non-zero bits[w]. A row of n entries costs n bit sets and a scan of
/// columns / 4096 summary words (11 for a vocabulary of 45309 terms), where sorting
/// costs about n log n branchy comparisons (Reuters' unigram count phase, in-process
/// best of 10: 22.5 ms with std::sort and a radix sort of long rows, 16.5 with this).
class RowOrder {
 public:
  void reset(std::size_t columns) {
    m_bits.assign((columns + 63) / 64, 0);
    m_summary.assign((m_bits.size() + 63) / 64, 0);
    m_count.resize(columns);
  }
  /// Whether a row of at most n entries is put in order faster this way than sorted: the
  /// scan of a summary word is a few cycles, a comparison of std::sort more.
  bool suits(std::size_t n) const noexcept { return m_summary.size() <= 4 * n; }
  void add(std::uint32_t column, std::uint32_t count) noexcept {
    const std::size_t w = column >> 6;
    m_bits[w] |= std::uint64_t{1} << (column & 63);
    m_summary[w >> 6] |= std::uint64_t{1} << (w & 63);
    m_count[column] = count;
  }
  /// Adds 1 to the count of `column` (1 if it is not in the row yet).
  void increment(std::uint32_t column) noexcept {
    const std::size_t w = column >> 6;
    const std::uint64_t bit = std::uint64_t{1} << (column & 63);
    if ((m_bits[w] & bit) == 0) {
      m_bits[w] |= bit;
      m_summary[w >> 6] |= std::uint64_t{1} << (w & 63);
      m_count[column] = 0;
    }
    ++m_count[column];
  }
  /// Calls emit(column, count) for the entries added, in column order, and forgets them.
  template <typename Emit>
  void drain(Emit&& emit) {
    for (std::size_t s = 0; s < m_summary.size(); ++s) {
      for (std::uint64_t words = m_summary[s]; words != 0; words &= words - 1) {
        const std::size_t w = 64 * s + static_cast<std::size_t>(countTrailingZeros(words));
        for (std::uint64_t bits = m_bits[w]; bits != 0; bits &= bits - 1) {
          const auto column = static_cast<std::uint32_t>(64 * w + static_cast<std::size_t>(countTrailingZeros(bits)));
          emit(column, m_count[column]);
        }
        m_bits[w] = 0;
      }
      m_summary[s] = 0;
    }
  }

 private:
  std::vector<std::uint64_t> m_bits, m_summary;
  std::vector<std::uint32_t> m_count;  // by column
};

/// Phases 3-5 for word unigrams: phase 1 already counted each document.
template <typename Value>
FitCounts<Value> countUnigrams(std::vector<Chunk>& chunks, std::vector<std::string>& units,
                               const Selection& selection, int threads, std::int64_t documents,
                               const MakeRowWeighting<Value>& weighting) {
  // Document frequencies and (for max_features only) total counts: each thread sums its
  // chunks into its own arrays (integer sums: the result does not depend on which thread
  // took which chunk).
  const bool totals = selection.maxFeatures > 0 && !selection.binary;
  struct Sums {
    std::vector<std::uint32_t> df;
    std::vector<std::uint64_t> total;
  };
  BufferPool<Sums> partial;
  parallelFor(0, static_cast<Index>(chunks.size()), 1, threads, [&](Index b, Index e) {
    Sums sums = partial.take();
    sums.df.resize(units.size(), 0);
    if (totals) sums.total.resize(units.size(), 0);
    for (Index ci = b; ci < e; ++ci) {
      const Chunk& chunk = chunks[static_cast<std::size_t>(ci)];
      for (const std::uint32_t id : chunk.stream) ++sums.df[id];
      if (totals) {
        for (std::size_t k = 0; k < chunk.stream.size(); ++k) sums.total[chunk.stream[k]] += chunk.counts[k];
      }
    }
    partial.give(std::move(sums));
  });
  Sums all = partial.take();
  std::vector<std::uint32_t> df = std::move(all.df);
  std::vector<std::uint64_t> total = std::move(all.total);
  df.resize(units.size(), 0);
  if (totals) total.resize(units.size(), 0);
  for (Sums more = partial.take(); !more.df.empty(); more = partial.take()) {
    for (std::size_t r = 0; r < units.size(); ++r) df[r] += more.df[r];
    for (std::size_t r = 0; r < more.total.size(); ++r) total[r] += more.total[r];
  }
  std::vector<std::uint32_t> kept;
  std::size_t seen = 0;
  for (std::uint32_t r = 0; r < units.size(); ++r) {
    if (df[r] == 0) continue;  // a stop word or filtered token: never a feature
    ++seen;
    const auto f = static_cast<double>(df[r]);
    if (f <= selection.maxDocCount && f >= selection.minDocCount) kept.push_back(r);
  }
  if (selection.maxFeatures > 0 && static_cast<std::int64_t>(kept.size()) > selection.maxFeatures) {
    std::vector<std::int64_t> negated(kept.size());
    for (std::size_t i = 0; i < kept.size(); ++i) {
      negated[i] = -static_cast<std::int64_t>(selection.binary ? df[kept[i]] : total[kept[i]]);
    }
    std::vector<std::size_t> order = numpyArgsort(negated);
    order.resize(static_cast<std::size_t>(selection.maxFeatures));
    std::sort(order.begin(), order.end());
    std::vector<std::uint32_t> selected;
    for (std::size_t i : order) selected.push_back(kept[i]);
    kept = std::move(selected);
  }
  FitCounts<Value> result;
  result.documents = documents;
  result.seenFeatures = seen;
  if (kept.empty()) return result;
  constexpr std::uint32_t kNoColumn = 0xFFFFFFFFu;
  std::vector<std::uint32_t> columnOf(units.size(), kNoColumn);  // 4 bytes: half the cache lines of int64
  result.documentFrequency.reserve(kept.size());
  for (std::size_t c = 0; c < kept.size(); ++c) {
    columnOf[kept[c]] = static_cast<std::uint32_t>(c);
    result.documentFrequency.push_back(df[kept[c]]);
  }
  if (kept.size() == units.size()) {  // every unit is a column, in the same order
    result.vocabulary = std::move(units);
    units.clear();
  } else {
    result.vocabulary.reserve(kept.size());
    result.packing = KeyPacking::forUnits(units.size(), 1);
    result.columnKeys.resize(kept.size());
    for (std::size_t c = 0; c < kept.size(); ++c) {
      result.packing.pack(&kept[c], 1, &result.columnKeys[c]);
      result.vocabulary.push_back(units[kept[c]]);
    }
  }
  const RowWeighting<Value> weigh =
      weighting ? weighting(result.documentFrequency, documents, result.vocabulary) : RowWeighting<Value>();
  const bool binary = selection.binary;
  // Rows: each document's entries mapped to columns and sorted, written in place;
  // parallel over chunks.
  CsrMatrix<Value>& m = result.counts;
  m.resize(documents, static_cast<Index>(kept.size()));
  std::int64_t* outer = m.outerIndexPtr();
  // The stream holds only units that occur (stop words never enter it): when every such
  // unit is a column, each entry is, and the row lengths need no lookups.
  const bool allKept = kept.size() == seen;
  parallelFor(0, static_cast<Index>(chunks.size()), 1, threads, [&](Index b, Index e) {
    for (Index ci = b; ci < e; ++ci) {
      const Chunk& chunk = chunks[static_cast<std::size_t>(ci)];
      std::size_t start = 0;
      for (std::size_t d = 0; d < chunk.docEnds.size(); ++d) {
        std::int64_t n = 0;
        if (allKept) {
          n = static_cast<std::int64_t>(chunk.docEnds[d] - start);
        } else {
          for (std::size_t k = start; k < chunk.docEnds[d]; ++k) n += columnOf[chunk.stream[k]] != kNoColumn ? 1 : 0;
        }
        outer[chunk.firstDoc + static_cast<std::int64_t>(d) + 1] = n;
        start = chunk.docEnds[d];
      }
    }
  });
  outer[0] = 0;
  for (Index i = 0; i < documents; ++i) outer[i + 1] += outer[i];
  resizeNonZerosForWriting(m, outer[documents]);
  std::int64_t* inner = m.innerIndexPtr();
  Value* value = m.valuePtr();
  BufferPool<RowOrder> orders;  // one per thread at a time: `columns` bits and counts
  parallelFor(0, static_cast<Index>(chunks.size()), 1, threads, [&](Index b, Index e) {
    RowOrder order = orders.take();
    order.reset(kept.size());
    std::vector<std::uint64_t> row;  // rows too short for `order`: (column << 32 | count), sorted
    for (Index ci = b; ci < e; ++ci) {
      Chunk& chunk = chunks[static_cast<std::size_t>(ci)];
      std::size_t start = 0;
      for (std::size_t d = 0; d < chunk.docEnds.size(); ++d) {
        const std::size_t end = chunk.docEnds[d];
        const std::int64_t rowStart = outer[chunk.firstDoc + static_cast<std::int64_t>(d)];
        std::int64_t at = rowStart;
        if (order.suits(end - start)) {
          for (std::size_t k = start; k < end; ++k) {
            const std::uint32_t col = columnOf[chunk.stream[k]];
            if (col != kNoColumn) order.add(col, binary ? 1 : chunk.counts[k]);
          }
          order.drain([&](std::uint32_t col, std::uint32_t count) {
            inner[at] = col;
            value[at++] = static_cast<Value>(count);
          });
        } else {
          row.clear();
          for (std::size_t k = start; k < end; ++k) {
            const std::uint32_t col = columnOf[chunk.stream[k]];
            if (col != kNoColumn) row.push_back(static_cast<std::uint64_t>(col) << 32 | (binary ? 1 : chunk.counts[k]));
          }
          std::sort(row.begin(), row.end());
          for (const std::uint64_t x : row) {
            inner[at] = static_cast<std::int64_t>(x >> 32);
            value[at++] = static_cast<Value>(x & 0xFFFFFFFFu);
          }
        }
        if (weigh) weigh(inner + rowStart, value + rowStart, static_cast<std::size_t>(at - rowStart));
        start = end;
      }
      // All of the chunk's memory goes here, on the thread that made most of it: freed
      // later, glibc would trim that thread's heap on the calling thread, serially.
      freeStorage(chunk.stream);
      freeStorage(chunk.counts);
      freeStorage(chunk.docEnds);
    }
    orders.give(std::move(order));
  });
  return result;
}

/// Phases 3-5. When every unit is a column (word unigrams, nothing pruned), `units` is
/// moved into the vocabulary and left empty, and columnKeys too is empty: the transform
/// then looks the terms up by their strings.
template <typename Value>
FitCounts<Value> countAndSelect(const Analyzer& analyzer, std::vector<Chunk>& chunks,
                                std::vector<std::string>& units, const Selection& selection, int threads,
                                std::string_view where, const MakeRowWeighting<Value>& weighting = {}) {
  const auto& o = analyzer.options();
  const bool word = o.analyzer == AnalyzerKind::word;
  const int maxN = o.ngramRange.second;
  const KeyPacking packing = KeyPacking::forUnits(units.size(), maxN);
  const int W = packing.words;
  const auto uW = static_cast<std::size_t>(W);
  std::int64_t documents = 0;
  std::uint64_t streamTotal = 0;
  for (const Chunk& c : chunks) {
    documents += static_cast<std::int64_t>(c.docEnds.size());
    streamTotal += c.stream.size();
  }
  if (documents >= std::int64_t{0xFFFFFFF0}) throwInvalidArgument(where, "more than 2^32 documents");
  if (word && o.ngramRange.second == 1) {
    return countUnigrams<Value>(chunks, units, selection, threads, documents, weighting);
  }

  // Groups are ranges of the first unit of the n-gram (so of the columns: keys sort by
  // their first unit first), balanced by occurrences; about 2^15 occurrences per group
  // keep each group's table in a core's cache.
  const auto sizes = static_cast<std::size_t>(o.ngramRange.second - o.ngramRange.first + 1);  // n-gram lengths
  const std::uint64_t keyEstimate = streamTotal * sizes;
  const std::size_t groups = static_cast<std::size_t>(std::clamp<std::uint64_t>(keyEstimate >> 15, 1, 64));
  std::vector<std::uint16_t> groupOfUnit(units.size(), 0);
  {
    // Occurrences of each unit: each thread counts its chunks into its own array.
    BufferPool<std::vector<std::uint64_t>> partial;
    parallelFor(0, static_cast<Index>(chunks.size()), 1, threads, [&](Index b, Index e) {
      std::vector<std::uint64_t> counts = partial.take();
      counts.resize(units.size(), 0);
      for (Index ci = b; ci < e; ++ci) {
        for (const std::uint32_t id : chunks[static_cast<std::size_t>(ci)].stream) {
          if (id != kSegmentBreak) ++counts[id];
        }
      }
      partial.give(std::move(counts));
    });
    std::vector<std::uint64_t> occurrences = partial.take();
    occurrences.resize(units.size(), 0);
    for (std::vector<std::uint64_t> more = partial.take(); !more.empty(); more = partial.take()) {
      for (std::size_t r = 0; r < units.size(); ++r) occurrences[r] += more[r];
    }
    const std::uint64_t total = std::accumulate(occurrences.begin(), occurrences.end(), std::uint64_t{0});
    std::size_t g = 0;
    std::uint64_t acc = 0;
    for (std::size_t r = 0; r < units.size(); ++r) {
      groupOfUnit[r] = static_cast<std::uint16_t>(g);
      acc += occurrences[r];
      while (g + 1 < groups && acc * groups >= (g + 1) * total) ++g;
    }
  }
  const unsigned firstShift = packing.laneShift[0];
  auto groupOf = [&](const std::uint64_t* key) -> std::size_t { return groupOfUnit[(key[0] >> firstShift) - 1]; };

  // 3a: keys of every chunk, partitioned by group.
  parallelFor(0, static_cast<Index>(chunks.size()), 1, threads, [&](Index b, Index e) {
    NgramGenerator generator(analyzer, packing);
    for (Index ci = b; ci < e; ++ci) {
      Chunk& chunk = chunks[static_cast<std::size_t>(ci)];
      // Each group's room: at most `sizes` n-grams start at a stream position (one per n,
      // char_wb's short words included), and an n-gram's group is that of its first unit.
      std::vector<std::size_t>& begin = chunk.groupBegin;
      begin.assign(groups + 1, 0);
      for (const std::uint32_t id : chunk.stream) {
        if (id != kSegmentBreak) ++begin[groupOfUnit[id] + 1u];
      }
      for (std::size_t g = 0; g < groups; ++g) begin[g + 1] = begin[g] + begin[g + 1] * sizes * uW;
      chunk.keys = LargeBuffer<std::uint64_t>(begin[groups]);
      chunk.groupLength.assign(groups, 0);
      chunk.groupDocEnds.assign(groups, std::vector<std::uint32_t>(chunk.docEnds.size()));
      std::uint64_t* const keys = chunk.keys.data();
      std::size_t* const length = chunk.groupLength.data();
      std::size_t start = 0;
      for (std::size_t d = 0; d < chunk.docEnds.size(); ++d) {
        generator.run(chunk.stream.data() + start, chunk.docEnds[d] - start, [&](const std::uint64_t* key) {
          const std::size_t g = groupOf(key);
          if (W == 1) {
            keys[begin[g] + length[g]] = key[0];
          } else {
            std::copy(key, key + W, keys + begin[g] + length[g]);
          }
          length[g] += uW;
        });
        for (std::size_t g = 0; g < groups; ++g) {
          if (length[g] / uW > 0xFFFFFFF0u) throwInvalidArgument(where, "too many n-grams in one chunk of documents");
          chunk.groupDocEnds[g][d] = static_cast<std::uint32_t>(length[g] / uW);
        }
        start = chunk.docEnds[d];
      }
      freeStorage(chunk.stream);
    }
  });

  // 3b: count each group: document frequency, total count, per-document counts.
  // A group's lookup slots and per-feature stats are done with when it is counted (phase
  // 4 reads keys by id): the next group counted reuses their memory.
  std::vector<Group> groupState(groups);
  struct Scratch {
    std::vector<std::uint64_t> slots;
    std::vector<Group::Stat> stats;
  };
  BufferPool<Scratch> scratchPool;
  parallelFor(0, static_cast<Index>(groups), 1, threads, [&](Index b, Index e) {
    Scratch scratch = scratchPool.take();
    std::vector<Group::Stat>& stats = scratch.stats;
    for (Index gi = b; gi < e; ++gi) {
      const auto g = static_cast<std::size_t>(gi);
      std::size_t occurrences = 0;
      for (const Chunk& c : chunks) occurrences += c.groupLength[g] / uW;
      Group& group = groupState[g];
      const std::size_t expected = occurrences / 5;
      group.table = KeyTable(W, expected, std::move(scratch.slots));
      stats.clear();
      stats.reserve(expected);
      group.df.reserve(expected);
      for (Chunk& chunk : chunks) {
        // The chunk's keys are replaced in place by its (feature << 32 | count) entries:
        // a key yields at most one entry, so the write position never passes the read one.
        std::uint64_t* const buffer = chunk.groupData(g);
        auto& ends = chunk.groupDocEnds[g];
        const std::size_t total = chunk.groupLength[g] / uW;
        std::size_t r = 0, w = 0;
        for (std::size_t d = 0; d < ends.size(); ++d) {
          const auto docTag = static_cast<std::uint32_t>(chunk.firstDoc + static_cast<std::int64_t>(d) + 1);
          for (; r < ends[d]; ++r) {
            constexpr std::size_t ahead = 8;  // prefetch the slot of the key 8 places on
            if (r + ahead < total) group.table.prefetch(hashKey(buffer + (r + ahead) * uW, W));
            const std::uint64_t* key = buffer + r * uW;
            bool inserted = false;
            const std::uint32_t id = group.table.findOrInsert(key, hashKey(key, W), inserted);
            if (inserted) {
              stats.push_back({0, 0, 0});
              group.df.push_back(0);
            }
            Group::Stat& stat = stats[id];
            ++stat.total;
            if (stat.lastDoc != docTag) {
              stat.lastDoc = docTag;
              stat.lastPos = static_cast<std::uint32_t>(w);
              buffer[w++] = static_cast<std::uint64_t>(id) << 32 | 1u;
              ++group.df[id];
            } else {
              ++buffer[stat.lastPos];
            }
          }
          ends[d] = static_cast<std::uint32_t>(w);  // now: ends of the document's entries
        }
        chunk.groupLength[g] = w;
      }
      if (selection.maxFeatures > 0 && !selection.binary) {  // only max_features ranks by it
        group.total.resize(stats.size());
        for (std::size_t id = 0; id < stats.size(); ++id) group.total[id] = stats[id].total;
      }
      scratch.slots = group.table.releaseLookup();
    }
    scratchPool.give(std::move(scratch));
  });

  // 4: selection. Within a group the candidates are sorted by key; the groups are key
  // ranges, so their concatenation is scikit-learn's alphabetical order.
  struct Candidate {
    std::uint32_t group, id;
  };
  std::vector<std::vector<Candidate>> groupKept(groups);
  parallelFor(0, static_cast<Index>(groups), 1, threads, [&](Index b, Index e) {
    for (Index gi = b; gi < e; ++gi) {
      const auto g = static_cast<std::uint32_t>(gi);
      const Group& group = groupState[g];
      auto& list = groupKept[g];
      for (std::uint32_t id = 0; id < group.df.size(); ++id) {
        const auto df = static_cast<double>(group.df[id]);
        if (df <= selection.maxDocCount && df >= selection.minDocCount) list.push_back({g, id});
      }
      const KeyTable& table = group.table;
      if (W == 1) {
        std::sort(list.begin(), list.end(),
                  [&](const Candidate& x, const Candidate& y) { return *table.key(x.id) < *table.key(y.id); });
      } else {
        std::sort(list.begin(), list.end(), [&](const Candidate& x, const Candidate& y) {
          return std::lexicographical_compare(table.key(x.id), table.key(x.id) + W, table.key(y.id), table.key(y.id) + W);
        });
      }
    }
  });
  std::vector<Candidate> kept;
  std::size_t seenFeatures = 0;
  for (std::size_t g = 0; g < groups; ++g) {
    seenFeatures += groupState[g].df.size();
    kept.insert(kept.end(), groupKept[g].begin(), groupKept[g].end());
    freeStorage(groupKept[g]);
  }
  if (selection.maxFeatures > 0 && static_cast<std::int64_t>(kept.size()) > selection.maxFeatures) {
    // scikit-learn: the terms at argsort(-total count)[:max_features] of the alphabetical
    // candidates (document frequency when binary), with NumPy's unstable tie order.
    std::vector<std::int64_t> negated(kept.size());
    for (std::size_t i = 0; i < kept.size(); ++i) {
      const Group& group = groupState[kept[i].group];
      negated[i] = -static_cast<std::int64_t>(selection.binary ? group.df[kept[i].id] : group.total[kept[i].id]);
    }
    std::vector<std::size_t> order = numpyArgsort(negated);
    order.resize(static_cast<std::size_t>(selection.maxFeatures));
    std::sort(order.begin(), order.end());
    std::vector<Candidate> selected;
    selected.reserve(order.size());
    for (std::size_t i : order) selected.push_back(kept[i]);
    kept = std::move(selected);
  }

  FitCounts<Value> result;
  result.documents = documents;
  result.seenFeatures = seenFeatures;
  if (kept.empty()) return result;  // the caller reports why (empty vocabulary or everything pruned)
  for (Group& group : groupState) group.column.assign(group.df.size(), -1);
  const std::size_t columns = kept.size();
  result.vocabulary.resize(columns);
  result.documentFrequency.resize(columns);
  result.packing = packing;
  result.columnKeys.resize(columns * uW);
  for (std::size_t col = 0; col < columns; ++col) {
    groupState[kept[col].group].column[kept[col].id] = static_cast<std::int64_t>(col);
  }
  parallelFor(0, static_cast<Index>(columns), 4096, threads, [&](Index b, Index e) {
    std::vector<std::uint32_t> ids(static_cast<std::size_t>(W * packing.lanes));
    for (Index c = b; c < e; ++c) {
      const auto col = static_cast<std::size_t>(c);
      const Group& group = groupState[kept[col].group];
      result.documentFrequency[col] = group.df[kept[col].id];
      const std::uint64_t* key = group.table.key(kept[col].id);
      std::copy(key, key + W, result.columnKeys.begin() + static_cast<std::ptrdiff_t>(col * uW));
      const int n = packing.unpack(key, ids.data());
      std::size_t length = word && n > 0 ? static_cast<std::size_t>(n - 1) : 0;
      for (int k = 0; k < n; ++k) length += units[ids[static_cast<std::size_t>(k)]].size();
      std::string& term = result.vocabulary[col];
      term.reserve(length);
      for (int k = 0; k < n; ++k) {
        if (word && k > 0) term += ' ';
        term += units[ids[static_cast<std::size_t>(k)]];
      }
    }
  });
  for (Group& group : groupState) {
    group.table = KeyTable(1);
    freeStorage(group.df);
    freeStorage(group.total);
  }

  const RowWeighting<Value> weigh =
      weighting ? weighting(result.documentFrequency, documents, result.vocabulary) : RowWeighting<Value>();
  const bool binary = selection.binary;
  if (columns > 0xFFFFFFFFu) throwInvalidArgument(where, "more than 2^32 - 1 terms");

  // 5: the CSR matrix. First each group's entries become (column << 32 | count), those
  // of pruned features removed, group by group: the group's column table stays in cache
  // (row by row, each entry would be a cache miss into one of `groups` tables).
  parallelFor(0, static_cast<Index>(groups), 1, threads, [&](Index b, Index e) {
    for (Index gi = b; gi < e; ++gi) {
      const auto g = static_cast<std::size_t>(gi);
      const auto& column = groupState[g].column;
      for (Chunk& chunk : chunks) {
        std::uint64_t* const entries = chunk.groupData(g);
        auto& ends = chunk.groupDocEnds[g];
        std::size_t r = 0, w = 0;
        for (std::size_t d = 0; d < ends.size(); ++d) {
          for (; r < ends[d]; ++r) {
            const std::int64_t col = column[entries[r] >> 32];
            if (col < 0) continue;
            entries[w++] = static_cast<std::uint64_t>(col) << 32 | (binary ? 1u : (entries[r] & 0xFFFFFFFFu));
          }
          ends[d] = static_cast<std::uint32_t>(w);
        }
        chunk.groupLength[g] = w;
      }
      freeStorage(groupState[g].column);
    }
  });
  // Then a row is the concatenation over groups (column ranges) of the document's
  // entries in each group, each short piece sorted by insertion.
  CsrMatrix<Value>& m = result.counts;
  m.resize(documents, static_cast<Index>(columns));
  std::int64_t* outer = m.outerIndexPtr();
  parallelFor(0, static_cast<Index>(chunks.size()), 1, threads, [&](Index b, Index e) {
    for (Index ci = b; ci < e; ++ci) {
      const Chunk& chunk = chunks[static_cast<std::size_t>(ci)];
      for (std::size_t d = 0; d < chunk.docEnds.size(); ++d) {
        std::int64_t n = 0;
        for (std::size_t g = 0; g < groups; ++g) {
          n += chunk.groupDocEnds[g][d] - (d == 0 ? 0 : chunk.groupDocEnds[g][d - 1]);
        }
        outer[chunk.firstDoc + static_cast<std::int64_t>(d) + 1] = n;
      }
    }
  });
  outer[0] = 0;
  for (Index i = 0; i < documents; ++i) outer[i + 1] += outer[i];
  resizeNonZerosForWriting(m, outer[documents]);
  std::int64_t* inner = m.innerIndexPtr();
  Value* value = m.valuePtr();
  // Rows are assembled in batches of kBatch documents, group by group: a group's entries
  // for the batch are one run of memory, and the batch's rows stay in cache (document by
  // document, each of the `groups` pieces of a row is a jump to another array).
  constexpr std::size_t kBatch = 64;
  parallelFor(0, static_cast<Index>(chunks.size()), 1, threads, [&](Index b, Index e) {
    std::int64_t cursor[kBatch];  // each row's next position in `inner` / `value`
    for (Index ci = b; ci < e; ++ci) {
      Chunk& chunk = chunks[static_cast<std::size_t>(ci)];
      const std::size_t docs = chunk.docEnds.size();
      const std::int64_t* rowStart = outer + chunk.firstDoc;
      for (std::size_t d0 = 0; d0 < docs; d0 += kBatch) {
        const std::size_t d1 = std::min(docs, d0 + kBatch);
        std::copy(rowStart + d0, rowStart + d1, cursor);
        for (std::size_t g = 0; g < groups; ++g) {
          const std::uint64_t* entries = chunk.groupData(g);
          const std::uint32_t* ends = chunk.groupDocEnds[g].data();
          std::uint32_t r = d0 == 0 ? 0 : ends[d0 - 1];
          for (std::size_t d = d0; d < d1; ++d) {
            std::int64_t& at = cursor[d - d0];
            const std::int64_t pieceStart = at;
            for (; r < ends[d]; ++r) {
              const auto col = static_cast<std::int64_t>(entries[r] >> 32);
              std::int64_t k = at++;
              while (k > pieceStart && inner[k - 1] > col) {
                inner[k] = inner[k - 1];
                value[k] = value[k - 1];
                --k;
              }
              inner[k] = col;
              value[k] = static_cast<Value>(entries[r] & 0xFFFFFFFFu);
            }
          }
        }
        if (weigh) {
          for (std::size_t d = d0; d < d1; ++d) {
            weigh(inner + rowStart[d], value + rowStart[d], static_cast<std::size_t>(rowStart[d + 1] - rowStart[d]));
          }
        }
      }
      chunk.keys = {};  // all of the chunk's memory, as in countUnigrams
      freeStorage(chunk.groupBegin);
      freeStorage(chunk.groupLength);
      freeStorage(chunk.groupDocEnds);
      freeStorage(chunk.docEnds);
    }
  });
  return result;
}

/// Looks n-grams of new documents up in a fixed vocabulary.
class Lookup {
 public:
  Lookup() = default;

  /// Builds the lookup of `vocabulary` (column order) for documents analyzed by
  /// `analyzer`. Terms the analyzer can never produce simply never match.
  Lookup(const Analyzer& analyzer, const std::vector<std::string>& vocabulary) {
    const auto& o = analyzer.options();
    m_word = o.analyzer == AnalyzerKind::word;
    std::vector<std::vector<std::uint32_t>> termUnits(vocabulary.size());
    for (std::size_t t = 0; t < vocabulary.size(); ++t) {
      const std::string& term = vocabulary[t];
      auto& ids = termUnits[t];
      bool representable = !term.empty();
      if (m_word) {
        std::size_t start = 0;
        while (representable) {
          const std::size_t space = term.find(' ', start);
          const std::string_view piece =
              std::string_view(term).substr(start, space == std::string::npos ? std::string::npos : space - start);
          if (piece.empty()) {
            representable = false;
            break;
          }
          bool inserted = false;
          ids.push_back(m_units.findOrInsert(piece, hashBytes(piece.data(), piece.size()), inserted));
          if (space == std::string::npos) break;
          start = space + 1;
        }
      } else {
        std::size_t i = 0;
        while (representable && i < term.size()) {
          const Utf8Decoded d = decodeUtf8(term, i);
          if (!d.valid) {
            representable = false;
            break;
          }
          i += d.length;
          if (d.codePoint >= m_charUnit.size()) m_charUnit.resize(d.codePoint + 1, kDroppedUnit);
          if (m_charUnit[d.codePoint] == kDroppedUnit) m_charUnit[d.codePoint] = m_charCount++;
          ids.push_back(m_charUnit[d.codePoint]);
        }
      }
      // Longer terms than the analyzer's n-grams can never be produced.
      if (!representable || ids.size() > static_cast<std::size_t>(o.ngramRange.second)) ids.clear();
    }
    const std::size_t unitCount = m_word ? m_units.size() : m_charCount;
    m_packing = KeyPacking::forUnits(unitCount, o.ngramRange.second);
    if (vocabulary.size() >= kDroppedUnit) throwInvalidArgument("CountVectorizer", "more than 2^32 - 2 terms");
    m_features = KeyTable(m_packing.words, vocabulary.size());
    std::vector<std::uint64_t> key(static_cast<std::size_t>(m_packing.words));
    m_columnOf.reserve(vocabulary.size());
    for (std::size_t t = 0; t < vocabulary.size(); ++t) {
      if (termUnits[t].empty()) continue;
      m_packing.pack(termUnits[t].data(), static_cast<int>(termUnits[t].size()), key.data());
      bool inserted = false;
      const std::uint32_t id = m_features.findOrInsert(key.data(), hashKey(key.data(), m_packing.words), inserted);
      if (inserted) m_columnOf.push_back(static_cast<std::uint32_t>(t));
      (void)id;
    }
    finish(o, vocabulary.size());
  }

  /// Builds the lookup of a fit's columns: `units` in rank order, the columns' packed
  /// keys (packing.words each, in column order).
  Lookup(const Analyzer& analyzer, const std::vector<std::string>& units, const KeyPacking& packing,
         const std::vector<std::uint64_t>& columnKeys)
      : m_packing(packing) {
    m_word = analyzer.options().analyzer == AnalyzerKind::word;
    if (m_word) {
      for (const auto& u : units) {
        bool inserted = false;
        m_units.findOrInsert(u, hashBytes(u.data(), u.size()), inserted);
      }
    } else {
      for (const auto& u : units) {
        const Utf8Decoded d = decodeUtf8(u, 0);
        if (d.codePoint >= m_charUnit.size()) m_charUnit.resize(d.codePoint + 1, kDroppedUnit);
        m_charUnit[d.codePoint] = m_charCount++;
      }
    }
    const std::size_t columns = columnKeys.size() / static_cast<std::size_t>(packing.words);
    m_features = KeyTable(packing.words, columns);
    m_columnOf.resize(columns);
    for (std::size_t c = 0; c < columns; ++c) {
      const std::uint64_t* key = columnKeys.data() + c * static_cast<std::size_t>(packing.words);
      bool inserted = false;
      m_features.findOrInsert(key, hashKey(key, packing.words), inserted);
      m_columnOf[c] = static_cast<std::uint32_t>(c);
    }
    finish(analyzer.options(), columns);
  }

  /// Reusable buffers of countDocument, for one thread at a time.
  struct Scratch {
    std::string buffer;
    std::u32string text;
    std::vector<std::uint32_t> ids;
    std::vector<std::uint64_t> keys, hashes;  // the n-gram windows' packed keys and hashes
    std::vector<std::uint32_t> cols;
    RowOrder order;
    std::size_t orderColumns = 0;  // the columns `order` was reset for
  };

  /// Calls emit(column, count) for the columns of one document that occur in it, in
  /// column order.
  template <typename Emit>
  void countDocument(const Analyzer& analyzer, std::string_view doc, Scratch& s, Emit&& emit) const {
    s.ids.clear();
    s.cols.clear();
    constexpr std::uint32_t unknown = kDroppedUnit - 1;
    const bool filter = analyzer.dropsTokens();
    if (!m_unitColumn.empty()) {  // word unigrams: a token's unit is its column
      analyzer.forEachToken(doc, s.buffer, [&](std::string_view token) {
        if (filter && !analyzer.keepToken(token)) return;
        const std::int64_t id = m_units.find(token, PaddedKey(token.data(), token.size()));
        if (id >= 0 && m_unitColumn[static_cast<std::size_t>(id)] != kDroppedUnit) {
          s.cols.push_back(m_unitColumn[static_cast<std::size_t>(id)]);
        }
      });
      emitRow(s, emit);
      return;
    }
    if (m_word) {
      analyzer.forEachToken(doc, s.buffer, [&](std::string_view token) {
        if (filter && !analyzer.keepToken(token)) return;
        const std::int64_t id = m_units.find(token, PaddedKey(token.data(), token.size()));
        s.ids.push_back(id < 0 ? unknown : static_cast<std::uint32_t>(id));
      });
    } else {
      bool first = true;
      analyzer.forEachSegment(doc, s.text, [&](const char32_t* seg, std::size_t n) {
        if (!first) s.ids.push_back(kSegmentBreak);
        first = false;
        for (std::size_t k = 0; k < n; ++k) {
          const char32_t c = seg[k];
          s.ids.push_back(c < m_charUnit.size() && m_charUnit[c] != kDroppedUnit ? m_charUnit[c] : unknown);
        }
      });
    }
    // Windows that contain a unit outside the vocabulary cannot match: skipped.
    const auto& o = analyzer.options();
    const auto minN = static_cast<std::size_t>(o.ngramRange.first);
    const auto maxN = static_cast<std::size_t>(o.ngramRange.second);
    const auto W = static_cast<std::size_t>(m_packing.words);
    s.keys.clear();
    s.hashes.clear();
    auto tryWindow = [&](const std::uint32_t* ids, std::size_t n) {
      for (std::size_t k = 0; k < n; ++k) {
        if (ids[k] == unknown) return;
      }
      s.keys.resize(s.keys.size() + W);
      std::uint64_t* key = s.keys.data() + s.keys.size() - W;
      m_packing.pack(ids, static_cast<int>(n), key);
      s.hashes.push_back(hashKey(key, m_packing.words));
    };
    if (m_features.size() == 0) return;
    if (m_word) {
      const std::size_t length = s.ids.size();
      for (std::size_t n = minN; n <= std::min(maxN, length); ++n) {
        for (std::size_t i = 0; i + n <= length; ++i) tryWindow(s.ids.data() + i, n);
      }
    } else {
      std::size_t start = 0;
      const std::size_t length = s.ids.size();
      for (std::size_t i = 0; i <= length; ++i) {
        if (i == length || s.ids[i] == kSegmentBreak) {
          if (o.analyzer == AnalyzerKind::character || i > start) {
            analyzer.appendCharNgrams(s.ids.data() + start, i - start, tryWindow);
          }
          start = i + 1;
        }
      }
    }
    // The lookups, each window's slot prefetched 8 windows ahead (the table of a large
    // vocabulary is far bigger than the cache).
    const std::size_t windows = s.hashes.size();
    for (std::size_t j = 0; j < windows; ++j) {
      if (j + 8 < windows) m_features.prefetch(s.hashes[j + 8]);
      const std::int64_t id = m_features.find(s.keys.data() + j * W, s.hashes[j]);
      if (id >= 0) s.cols.push_back(m_columnOf[static_cast<std::size_t>(id)]);
    }
    emitRow(s, emit);
  }

 private:
  // The matches of a document (s.cols, repeated as often as they occur) as counts in
  // column order: by RowOrder's bitmaps, or for rows too short to pay for their scan,
  // by sorting.
  template <typename Emit>
  void emitRow(Scratch& s, Emit& emit) const {
    if (s.orderColumns != m_columns) {
      s.order.reset(m_columns);
      s.orderColumns = m_columns;
    }
    if (s.order.suits(s.cols.size())) {
      for (const std::uint32_t c : s.cols) s.order.increment(c);
      s.order.drain(emit);
      return;
    }
    std::sort(s.cols.begin(), s.cols.end());
    for (std::size_t i = 0; i < s.cols.size();) {
      std::size_t j = i;
      while (j < s.cols.size() && s.cols[j] == s.cols[i]) ++j;
      emit(s.cols[i], static_cast<std::uint32_t>(j - i));
      i = j;
    }
  }

  // Once the keys are in: the column count, and for word unigrams the column of each
  // unit (no key to pack and look up per token).
  void finish(const AnalyzerOptions& o, std::size_t columns) {
    m_columns = columns;
    if (!m_word || o.ngramRange.first != 1 || o.ngramRange.second != 1) return;
    m_unitColumn.assign(m_units.size(), kDroppedUnit);
    std::vector<std::uint64_t> key(static_cast<std::size_t>(m_packing.words));
    for (std::uint32_t u = 0; u < m_units.size(); ++u) {
      m_packing.pack(&u, 1, key.data());
      const std::int64_t id = m_features.find(key.data(), hashKey(key.data(), m_packing.words));
      if (id >= 0) m_unitColumn[u] = m_columnOf[static_cast<std::size_t>(id)];
    }
  }

  bool m_word = true;
  StringTable m_units;
  std::vector<std::uint32_t> m_charUnit;
  std::uint32_t m_charCount = 0;
  KeyPacking m_packing;
  KeyTable m_features;
  std::vector<std::uint32_t> m_columnOf;
  std::size_t m_columns = 0;
  std::vector<std::uint32_t> m_unitColumn;  // word unigrams: unit -> column, or kDroppedUnit
};

/// Counts documents against a Lookup: the (documents, columns) count matrix (`binary`:
/// 1 for any count), each row weighed by `weigh` (if given) once written.
template <typename Value, typename Source>
CsrMatrix<Value> countWithLookup(const Analyzer& analyzer, const Lookup& lookup, Index columns, Source& source,
                                 int threads, std::string_view where, const ProgressCallback& progress,
                                 std::int64_t totalBytes, bool binary = false, const RowWeighting<Value>& weigh = {}) {
  struct Piece {
    std::vector<std::uint64_t> entries;  // (column << 32 | count), row after row
    std::vector<std::uint32_t> nnz;      // entries of each row
    std::int64_t firstDoc = 0;
    std::int64_t firstEntry = 0;  // in the matrix
  };
  BufferPool<Lookup::Scratch> scratchPool;
  std::deque<Piece> pieces = forEachChunk<Piece>(
      source, threads, progress, totalBytes, "transform",
      [&](const DocumentBlock& block, std::size_t begin, std::size_t end, Piece& piece) {
        Lookup::Scratch scratch = scratchPool.take();
        piece.nnz.reserve(end - begin);
        for (std::size_t d = begin; d < end; ++d) {
          const std::size_t before = piece.entries.size();
          try {
            lookup.countDocument(analyzer, block.docs[d], scratch, [&](std::uint32_t column, std::uint32_t count) {
              piece.entries.push_back(static_cast<std::uint64_t>(column) << 32 | count);
            });
          } catch (const std::invalid_argument&) {
            rethrowDocumentError(where, source.source(), block, d);
          }
          piece.nnz.push_back(static_cast<std::uint32_t>(piece.entries.size() - before));
        }
        scratchPool.give(std::move(scratch));
      },
      [] {});
  std::int64_t documents = 0, nonZeros = 0;
  for (Piece& piece : pieces) {
    piece.firstDoc = documents;
    piece.firstEntry = nonZeros;
    documents += static_cast<std::int64_t>(piece.nnz.size());
    nonZeros += static_cast<std::int64_t>(piece.entries.size());
  }
  CsrMatrix<Value> m(static_cast<Index>(documents), columns);
  resizeNonZerosForWriting(m, nonZeros);
  std::int64_t* outer = m.outerIndexPtr();
  outer[0] = 0;
  parallelFor(0, static_cast<Index>(pieces.size()), 1, threads, [&](Index b, Index e) {
    for (Index p = b; p < e; ++p) {
      Piece& piece = pieces[static_cast<std::size_t>(p)];
      std::int64_t* const inner = m.innerIndexPtr();
      Value* const value = m.valuePtr();
      std::int64_t at = piece.firstEntry;
      std::size_t k = 0;
      for (std::size_t d = 0; d < piece.nnz.size(); ++d) {
        const std::size_t n = piece.nnz[d];
        const std::uint64_t* entry = piece.entries.data() + k;
        std::int64_t* const rowInner = inner + at;
        Value* const rowValue = value + at;
        for (std::size_t j = 0; j < n; ++j) {
          rowInner[j] = static_cast<std::int64_t>(entry[j] >> 32);
          rowValue[j] = static_cast<Value>(entry[j] & 0xFFFFFFFFu);
        }
        if (binary) std::fill(rowValue, rowValue + n, Value(1));
        if (weigh) weigh(rowInner, rowValue, n);
        k += n;
        at += static_cast<std::int64_t>(n);
        outer[piece.firstDoc + static_cast<std::int64_t>(d) + 1] = at;
      }
      freeStorage(piece.entries);
      freeStorage(piece.nnz);
    }
  });
  return m;
}

}  // namespace detail
}  // namespace eigenrec::text

#endif  // EIGENREC_TEXT_DETAIL_COUNTING_HPP

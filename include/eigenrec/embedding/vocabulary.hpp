// eigenrec/embedding/vocabulary.hpp: word2vec's vocabulary: words with their counts,
// "</s>" first, the rest sorted by count, rare words dropped; read and written in
// word2vec.c's vocabulary format ("word count" per line, -save-vocab / -read-vocab).
#ifndef EIGENREC_EMBEDDING_VOCABULARY_HPP
#define EIGENREC_EMBEDDING_VOCABULARY_HPP

#include <eigenrec/core/checks.hpp>
#include <eigenrec/core/parallel.hpp>
#include <eigenrec/core/progress.hpp>
#include <eigenrec/core/serialize.hpp>
#include <eigenrec/embedding/corpus.hpp>
#include <eigenrec/io/line_reader.hpp>

#include <algorithm>
#include <atomic>
#include <cstdint>
#include <cstring>
#include <istream>
#include <limits>
#include <new>
#include <numeric>
#include <optional>
#include <ostream>
#include <string>
#include <string_view>
#include <vector>

namespace eigenrec::embedding {

namespace detail {

/// Open-addressing hash map from word to index, with the words stored in one arena.
/// Lookups by string_view allocate nothing (the hot path of training).
class WordIndex {
 public:
  Index size() const noexcept { return static_cast<Index>(m_offsets.size()) - 1; }

  std::string_view word(Index i) const noexcept {
    const auto b = m_offsets[static_cast<std::size_t>(i)], e = m_offsets[static_cast<std::size_t>(i) + 1];
    return std::string_view(m_arena.data() + b, e - b);
  }

  /// Index of `w`, or -1.
  Index find(std::string_view w) const noexcept {
    if (m_slots.empty()) return -1;
    std::size_t h = hash(w) & m_mask;
    for (;;) {
      const std::int32_t s = m_slots[h];
      if (s < 0) return -1;
      if (word(s) == w) return s;
      h = (h + 1) & m_mask;
    }
  }

  /// Adds `w` (which must be absent) and returns its index.
  Index add(std::string_view w) {
    checkExpected(size() < INT32_MAX - 1, "Vocabulary", "size", "< 2^31 - 1 words", size());
    if (static_cast<std::size_t>(size() + 1) * 10 > m_slots.size() * 7) grow();
    const Index id = size();
    m_arena.append(w.data(), w.size());
    m_offsets.push_back(m_arena.size());
    insertSlot(id);
    return id;
  }

  void clear() {
    m_arena.clear();
    m_offsets.assign(1, 0);
    m_slots.clear();
    m_mask = 0;
  }

  void reserve(std::size_t words) {
    std::size_t n = 16;
    while (n * 7 < words * 10) n *= 2;
    if (n > m_slots.size()) rehash(n);
  }

  std::size_t memoryBytes() const noexcept {
    return m_arena.capacity() + m_offsets.capacity() * sizeof(std::size_t) + m_slots.capacity() * sizeof(std::int32_t);
  }

 private:
  static std::size_t hash(std::string_view w) noexcept {
    std::uint64_t h = 0xcbf29ce484222325ULL;
    for (char c : w) h = (h ^ static_cast<unsigned char>(c)) * 0x100000001b3ULL;
    return static_cast<std::size_t>(h ^ (h >> 29));
  }
  void insertSlot(Index id) {
    std::size_t h = hash(word(id)) & m_mask;
    while (m_slots[h] >= 0) h = (h + 1) & m_mask;
    m_slots[h] = static_cast<std::int32_t>(id);
  }
  void grow() { rehash(m_slots.empty() ? 16 : m_slots.size() * 2); }
  void rehash(std::size_t n) {
    m_slots.assign(n, -1);
    m_mask = n - 1;
    for (Index i = 0; i < size(); ++i) insertSlot(i);
  }

  std::string m_arena;
  std::vector<std::size_t> m_offsets{0};
  std::vector<std::int32_t> m_slots;
  std::size_t m_mask = 0;
};

}  // namespace detail

/// How the vocabulary is built.
struct VocabularyOptions {
  /// Words seen fewer times are dropped (word2vec.c -min-count). "</s>" is always kept.
  std::int64_t minCount = 5;
  /// Keep at most this many words (the most frequent, "</s>" included); 0 = no limit.
  Index maxSize = 0;
  /// While counting, when more than this many distinct words are held, words seen at
  /// most `r` times are pruned, r = 1, 2, ... (word2vec.c's ReduceVocab at 21M words).
  Index pruneAbove = 21000000;
  TokenizerOptions tokenizer;
  /// Reports the counting pass ("vocab", in bytes).
  ProgressCallback progress;

  void validate(std::string_view where) const {
    checkPositive(where, "minCount", minCount);
    checkNonNegative(where, "maxSize", maxSize);
    checkExpected(maxSize == 0 || maxSize >= 2, where, "maxSize", "0 or >= 2", maxSize);
    checkExpected(pruneAbove >= 1000, where, "pruneAbove", ">= 1000", pruneAbove);
    tokenizer.validate(where);
  }
};

/// word2vec's vocabulary: index 0 is "</s>" (the sentence end, kept whatever its
/// count), then the words with count >= minCount by decreasing count (ties keep the
/// order of first appearance, where word2vec.c's qsort leaves it unspecified).
class Vocabulary {
 public:
  /// A vocabulary holding only "</s>" with count 0.
  Vocabulary() {
    m_index.add(kSentenceEnd);
    m_counts.push_back(0);
  }

  /// Counts the words of `corpus` (one streaming pass) and keeps the frequent ones.
  /// With `threads` > 1 (0 = all cores) byte-range shards of the corpus are counted in
  /// parallel and merged in corpus order: the vocabulary, its order and its counts are
  /// the same for every thread count. (When the shards together hold more than
  /// options.pruneAbove distinct words, or a shard meets bad text, the serial pass runs
  /// instead: pruning depends on the order of the words, and the serial pass reports
  /// the first error with its line.)
  /// Throws std::invalid_argument if no word reaches minCount, FormatError on bad text.
  static Vocabulary build(const TextCorpus& corpus, const VocabularyOptions& options = {}, int threads = 1) {
    const char* where = "Vocabulary::build";
    options.validate(where);
    const int workers = resolveThreads(threads, where);
    ProgressTracker tracker(options.progress, corpus.sizeBytes(), "vocab", "bytes");
    std::int64_t tokens = 0;
    const std::int64_t shards = std::min<std::int64_t>(workers, corpus.sizeBytes() / kMinShardBytes);
    std::optional<Counter> counter;
    if (shards > 1) counter = countShards(corpus, options, shards, tracker, tokens);
    if (!counter) counter = countSerially(corpus, options, tracker, tokens);
    tracker.finish(corpus.sizeBytes());
    Vocabulary v = counter->finish(options, where);
    v.m_corpusWords = tokens;
    if (v.size() <= 1) {
      throwInvalidArgument(where, "no word of '", corpus.name(), "' occurs at least minCount = ", options.minCount,
                           " times (", tokens, " words read)");
    }
    return v;
  }

  /// From (word, count) pairs in any order: sorted and filtered as build() does. A
  /// "</s>" entry supplies the sentence-end count. Words must be distinct and non-empty.
  static Vocabulary fromCounts(const std::vector<std::pair<std::string, std::int64_t>>& counts,
                               const VocabularyOptions& options = {}) {
    const char* where = "Vocabulary::fromCounts";
    options.validate(where);
    Counter counter(INT32_MAX);
    for (std::size_t i = 0; i < counts.size(); ++i) {
      const auto& [w, c] = counts[i];
      checkArgument(!w.empty(), where, eigenrec::detail::concat("counts[", i, "]: empty word"));
      checkExpected(c >= 0, where, eigenrec::detail::concat("counts[", i, "].count"), ">= 0", c);
      checkExpected(counter.find(w) < 0 || w == kSentenceEnd, where, eigenrec::detail::concat("counts[", i, "].word"),
                    "a word not seen before", w);
      counter.add(w, c);
    }
    return counter.finish(options, where);
  }

  /// Number of words, "</s>" included.
  Index size() const noexcept { return m_index.size(); }
  /// Word at index i.
  std::string_view word(Index i) const {
    checkIndex("Vocabulary::word", "i", i, size());
    return m_index.word(i);
  }
  /// Count of word i.
  std::int64_t count(Index i) const {
    checkIndex("Vocabulary::count", "i", i, size());
    return m_counts[static_cast<std::size_t>(i)];
  }
  /// Index of `w`, or -1 when it is not in the vocabulary.
  Index find(std::string_view w) const noexcept { return m_index.find(w); }
  bool contains(std::string_view w) const noexcept { return find(w) >= 0; }
  /// All counts, index order.
  const std::vector<std::int64_t>& counts() const noexcept { return m_counts; }
  /// All words, index order (copies).
  std::vector<std::string> words() const {
    std::vector<std::string> out;
    out.reserve(static_cast<std::size_t>(size()));
    for (Index i = 0; i < size(); ++i) out.emplace_back(m_index.word(i));
    return out;
  }
  /// Sum of the kept words' counts ("</s>" included): word2vec.c's train_words.
  std::int64_t trainWords() const noexcept { return std::accumulate(m_counts.begin(), m_counts.end(), std::int64_t{0}); }
  /// Words read by build() (all tokens, rare ones included); 0 otherwise.
  std::int64_t corpusWords() const noexcept { return m_corpusWords; }

  /// Writes word2vec.c's vocabulary format: "word count\n" per word, index order.
  void save(std::ostream& os) const {
    for (Index i = 0; i < size(); ++i) os << m_index.word(i) << ' ' << m_counts[static_cast<std::size_t>(i)] << '\n';
    if (!os) throw IoError("Vocabulary::save: write failed");
  }
  /// save() into `path` atomically.
  void saveFile(const std::string& path) const {
    saveFileAtomically(path, [&](std::ostream& os) { save(os); });
  }

  /// Reads word2vec.c's vocabulary format and, as word2vec.c's -read-vocab does, sorts
  /// it and drops words below minCount. "</s>" is index 0 (count 0 if absent). Throws
  /// FormatError (source:line:column) on a malformed line or a repeated word.
  static Vocabulary load(std::istream& is, const std::string& source = "<vocabulary>",
                         const VocabularyOptions& options = {}) {
    const char* where = "Vocabulary::load";
    options.validate(where);
    io::LineReader reader(is, source);
    Counter counter(INT32_MAX);
    std::string_view line;
    while (reader.next(line)) {
      std::string_view fields[3];
      int n = 0;
      io::forEachToken(line, ' ', [&](std::string_view t) {
        if (n < 3) fields[n] = t;
        ++n;
      });
      if (n == 0) continue;
      if (n != 2) reader.fail(0, eigenrec::detail::concat("expected 'word count', got ", n, " fields"));
      const std::string_view w = fields[0];
      checkWordText(reader, w, options.tokenizer);
      const std::int64_t c = io::parseInt(reader, fields[1], "count");
      if (c < 0) reader.fail(reader.columnOf(fields[1]), eigenrec::detail::concat("count expected >= 0, got ", c));
      if (counter.find(w) >= 0 && !(w == kSentenceEnd && counter.count(0) == 0)) {
        reader.fail(reader.columnOf(w), eigenrec::detail::concat("word '", w, "' appears twice"));
      }
      counter.add(w, c);
    }
    return counter.finish(options, where);
  }
  static Vocabulary loadFile(const std::string& path, const VocabularyOptions& options = {}) {
    return eigenrec::loadFile(path, [&](std::istream& is) { return load(is, path, options); });
  }

  /// Approximate heap bytes held.
  std::size_t memoryBytes() const noexcept { return m_index.memoryBytes() + m_counts.capacity() * 8; }

 private:
  static void checkWordText(const io::LineReader& reader, std::string_view w, const TokenizerOptions& tok) {
    if (tok.validateUtf8) {
      const std::size_t bad = firstInvalidUtf8(w);
      if (bad != std::string_view::npos) {
        reader.fail(reader.columnOf(w) + static_cast<std::int64_t>(bad), "word is not valid UTF-8");
      }
    }
    if (tok.maxWordBytes > 0 && w.size() > tok.maxWordBytes) {
      reader.fail(reader.columnOf(w),
                  eigenrec::detail::concat("word of ", w.size(), " bytes is longer than the limit of ", tok.maxWordBytes));
    }
  }

  // A shard of build() is worth a thread from this size on.
  static constexpr std::int64_t kMinShardBytes = std::int64_t(1) << 16;
  static constexpr std::int64_t kProgressTokens = 0xFFFFF;  // tokens between progress reports

  // Counts words in order of first appearance; "</s>" is entry 0 from the start.
  class Counter {
   public:
    explicit Counter(Index pruneAbove) : m_pruneAbove(pruneAbove) {
      m_index.add(kSentenceEnd);
      m_counts.push_back(0);
    }
    Index find(std::string_view w) const { return m_index.find(w); }
    Index size() const { return m_index.size(); }
    std::string_view word(Index i) const { return m_index.word(i); }
    std::int64_t count(Index i) const { return m_counts[static_cast<std::size_t>(i)]; }
    void add(std::string_view w, std::int64_t c = 1) {
      Index i = m_index.find(w);
      if (i < 0) {
        i = m_index.add(w);
        m_counts.push_back(0);
      }
      m_counts[static_cast<std::size_t>(i)] += c;
      if (m_index.size() > m_pruneAbove) prune();
    }
    // word2vec.c's ReduceVocab: drop words with count <= minReduce, then minReduce++.
    void prune() {
      detail::WordIndex kept;
      std::vector<std::int64_t> counts;
      for (Index i = 0; i < m_index.size(); ++i) {
        if (i == 0 || m_counts[static_cast<std::size_t>(i)] > m_minReduce) {
          kept.add(m_index.word(i));
          counts.push_back(m_counts[static_cast<std::size_t>(i)]);
        }
      }
      m_index = std::move(kept);
      m_counts = std::move(counts);
      ++m_minReduce;
    }
    Vocabulary finish(const VocabularyOptions& options, std::string_view) {
      std::vector<Index> order;
      for (Index i = 1; i < m_index.size(); ++i) {
        if (m_counts[static_cast<std::size_t>(i)] >= options.minCount) order.push_back(i);
      }
      std::stable_sort(order.begin(), order.end(), [&](Index a, Index b) {
        return m_counts[static_cast<std::size_t>(a)] > m_counts[static_cast<std::size_t>(b)];
      });
      if (options.maxSize > 0 && static_cast<Index>(order.size()) + 1 > options.maxSize) {
        order.resize(static_cast<std::size_t>(options.maxSize - 1));
      }
      Vocabulary v;
      v.m_counts[0] = m_counts[0];
      v.m_index.reserve(order.size() + 1);
      for (Index i : order) {
        v.m_index.add(m_index.word(i));
        v.m_counts.push_back(m_counts[static_cast<std::size_t>(i)]);
      }
      return v;
    }

   private:
    detail::WordIndex m_index;
    std::vector<std::int64_t> m_counts;
    Index m_pruneAbove;
    std::int64_t m_minReduce = 1;
  };

  static Counter countSerially(const TextCorpus& corpus, const VocabularyOptions& options, ProgressTracker& tracker,
                               std::int64_t& tokens) {
    Counter counter(options.pruneAbove);
    TokenReader reader(corpus, options.tokenizer);
    std::string_view word;
    tokens = 0;
    while (reader.next(word)) {
      counter.add(word);
      if ((++tokens & kProgressTokens) == 0) tracker.update(reader.offset());
    }
    return counter;
  }

  // Counts `shards` byte ranges on as many threads, then merges them in corpus order, so
  // the words keep the order of their first appearance in the whole corpus. Empty when
  // the serial pass has to decide (more than pruneAbove distinct words, or an error).
  static std::optional<Counter> countShards(const TextCorpus& corpus, const VocabularyOptions& options,
                                            std::int64_t shards, ProgressTracker& tracker, std::int64_t& tokens) {
    const Index unlimited = std::numeric_limits<Index>::max();
    std::vector<Counter> counters(static_cast<std::size_t>(shards), Counter(unlimited));
    std::vector<std::int64_t> shardTokens(static_cast<std::size_t>(shards), 0);
    std::atomic<std::int64_t> bytesDone{0};
    std::atomic<bool> tooMany{false};
    try {
      parallelFor(0, shards, 1, static_cast<int>(shards), [&](Index s, Index) {
        const auto [begin, end] = corpus.shardRange(s, shards);
        TokenReader reader(corpus, begin, end, options.tokenizer);
        Counter& counter = counters[static_cast<std::size_t>(s)];
        std::int64_t n = 0, reported = begin;
        std::string_view word;
        while (reader.next(word)) {
          counter.add(word);
          if (counter.size() > options.pruneAbove) tooMany.store(true, std::memory_order_relaxed);
          if ((++n & kProgressTokens) == 0) {
            if (tooMany.load(std::memory_order_relaxed)) return;
            const std::int64_t at = reader.offset();
            const std::int64_t done = bytesDone.fetch_add(at - reported, std::memory_order_relaxed) + at - reported;
            reported = at;
            if (s == 0) tracker.update(done);
          }
        }
        shardTokens[static_cast<std::size_t>(s)] = n;
      });
    } catch (const std::bad_alloc&) {
      throw;
    } catch (const std::exception&) {
      return std::nullopt;  // the serial pass reports the first error, with its line
    }
    if (tooMany.load()) return std::nullopt;
    Counter merged = std::move(counters[0]);
    for (std::size_t s = 1; s < counters.size(); ++s) {
      const Counter& c = counters[s];
      for (Index i = 0; i < c.size(); ++i) {
        merged.add(c.word(i), c.count(i));
        if (merged.size() > options.pruneAbove) return std::nullopt;
      }
      counters[s] = Counter(unlimited);  // free it
    }
    tokens = std::accumulate(shardTokens.begin(), shardTokens.end(), std::int64_t{0});
    return merged;
  }

  detail::WordIndex m_index;
  std::vector<std::int64_t> m_counts;
  std::int64_t m_corpusWords = 0;
};

}  // namespace eigenrec::embedding

#endif  // EIGENREC_EMBEDDING_VOCABULARY_HPP

// eigenrec/embedding/corpus.hpp: training text for word2vec, streamed in byte-range
// shards, and the tokenizer word2vec.c uses.
//
// Tokenization follows word2vec.c's ReadWord: words are separated by ' ', '\t' and
// '\n'; every '\n' also yields the sentence-end token "</s>"; '\r' is dropped wherever
// it appears. Unlike word2vec.c, a word longer than TokenizerOptions::maxWordBytes or
// with bytes that are not UTF-8 is an error with file, line and column (word2vec.c
// silently mangles the first and passes the second through).
#ifndef EIGENREC_EMBEDDING_CORPUS_HPP
#define EIGENREC_EMBEDDING_CORPUS_HPP

#include <eigenrec/core/checks.hpp>
#include <eigenrec/core/utf8.hpp>

#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <filesystem>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

namespace eigenrec::embedding {

/// The sentence-end token: word2vec.c's "</s>", always vocabulary index 0.
inline constexpr std::string_view kSentenceEnd = "</s>";

/// How text is cut into words.
struct TokenizerOptions {
  /// Longest accepted word in bytes (word2vec.c's MAX_STRING is 100). 0 = no limit.
  std::size_t maxWordBytes = 100;
  /// Cut longer words to maxWordBytes (at a UTF-8 boundary) instead of throwing.
  bool truncateLongWords = false;
  /// Reject words that are not valid UTF-8 (FormatError with the position).
  bool validateUtf8 = true;

  void validate(std::string_view where) const {
    checkArgument(!(truncateLongWords && maxWordBytes == 0), where,
                  "tokenizer.truncateLongWords needs tokenizer.maxWordBytes > 0");
  }
};

/// Training text: a file, streamed block by block (it never has to fit in memory), or a
/// string held in memory (tests, examples, small corpora). Cheap to copy.
class TextCorpus {
 public:
  /// A file on disk. Throws IoError if it does not exist or cannot be read.
  static TextCorpus fromFile(const std::string& path) {
    std::error_code ec;
    const auto size = std::filesystem::file_size(path, ec);
    if (ec) throw IoError(eigenrec::detail::concat("TextCorpus::fromFile: cannot read '", path, "': ", ec.message()));
    std::FILE* f = std::fopen(path.c_str(), "rb");
    if (f == nullptr) throw IoError(eigenrec::detail::concat("TextCorpus::fromFile: cannot open '", path, "' for reading"));
    std::fclose(f);
    TextCorpus c;
    c.m_path = path;
    c.m_name = path;
    c.m_size = static_cast<std::int64_t>(size);
    return c;
  }

  /// Text held in memory; `name` appears in error messages.
  static TextCorpus fromString(std::string text, std::string name = "<memory>") {
    TextCorpus c;
    c.m_text = std::make_shared<const std::string>(std::move(text));
    c.m_name = std::move(name);
    c.m_size = static_cast<std::int64_t>(c.m_text->size());
    return c;
  }

  /// Size in bytes.
  std::int64_t sizeBytes() const noexcept { return m_size; }
  /// File name or the name given to fromString.
  const std::string& name() const noexcept { return m_name; }
  bool inMemory() const noexcept { return static_cast<bool>(m_text); }
  const std::string& path() const noexcept { return m_path; }
  /// The text of an in-memory corpus (empty view for files).
  std::string_view text() const noexcept { return m_text ? std::string_view(*m_text) : std::string_view(); }

  /// Byte range [begin, end) of shard `shard` of `shards` equal pieces. A word belongs
  /// to the shard in which its first byte lies, so the shards partition the words.
  std::pair<std::int64_t, std::int64_t> shardRange(std::int64_t shard, std::int64_t shards) const {
    checkPositive("TextCorpus::shardRange", "shards", shards);
    checkIndex("TextCorpus::shardRange", "shard", shard, shards);
    const auto at = [&](std::int64_t s) {
      return static_cast<std::int64_t>(static_cast<long double>(m_size) * s / shards);
    };
    return {at(shard), at(shard + 1)};
  }

 private:
  TextCorpus() = default;
  std::string m_path;
  std::string m_name;
  std::shared_ptr<const std::string> m_text;
  std::int64_t m_size = 0;
};

namespace detail {

inline bool isWordSeparator(char c) noexcept { return c == ' ' || c == '\t' || c == '\n'; }

}  // namespace detail

/// Reads the words of one byte range of a corpus, in order, as word2vec.c's ReadWord
/// does. Newlines come out as kSentenceEnd. Holds its own copy of the corpus handle. Errors name the corpus, the line (exact when
/// the range starts at byte 0, otherwise the byte offset) and the column.
class TokenReader {
 public:
  TokenReader(const TextCorpus& corpus, std::int64_t begin, std::int64_t end, TokenizerOptions options = {})
      : m_corpus(corpus), m_options(options), m_end(end) {
    checkExpected(begin >= 0 && begin <= end && end <= corpus.sizeBytes(), "TokenReader", "range",
                  eigenrec::detail::concat("within [0, ", corpus.sizeBytes(), "]"), eigenrec::detail::concat("[", begin, ", ", end, ")"));
    m_lineKnown = begin == 0;
    if (corpus.inMemory()) {
      const auto text = corpus.text();
      m_buf = text.data();
      m_avail = text.size();
      m_bufStart = 0;
    } else {
      m_file.reset(std::fopen(corpus.path().c_str(), "rb"));
      if (!m_file) throw IoError(eigenrec::detail::concat("cannot open '", corpus.path(), "' for reading"));
      m_storage.resize(kBlock);
      m_buf = m_storage.data();
      m_avail = 0;
      m_bufStart = 0;
    }
    seek(begin);
  }

  /// The whole corpus.
  explicit TokenReader(const TextCorpus& corpus, TokenizerOptions options = {})
      : TokenReader(corpus, 0, corpus.sizeBytes(), options) {}

  /// Next word into `word` (valid until the next call); false when the range is done.
  bool next(std::string_view& word) {
    for (;;) {
      if (m_pos == m_avail && !refill()) return false;
      const char c = m_buf[m_pos];
      if (c == ' ' || c == '\t' || c == '\r') {
        ++m_pos;
        continue;
      }
      const std::int64_t startOffset = m_bufStart + static_cast<std::int64_t>(m_pos);
      if (startOffset >= m_end) {
        m_pos = m_avail;  // nothing of this range is left
        m_done = true;
        return false;
      }
      if (c == '\n') {
        ++m_pos;
        ++m_line;
        m_lineStart = startOffset + 1;
        word = kSentenceEnd;
        return true;
      }
      return readWord(word, startOffset);
    }
  }

  /// 1-based line of the last word when the range started at byte 0, else 0.
  std::int64_t line() const noexcept { return m_lineKnown ? m_line : 0; }
  /// Byte offset just past what has been read.
  std::int64_t offset() const noexcept { return m_bufStart + static_cast<std::int64_t>(m_pos); }

 private:
  static constexpr std::size_t kBlock = std::size_t(1) << 20;

  struct FileCloser {
    void operator()(std::FILE* f) const noexcept { std::fclose(f); }
  };

  void seek(std::int64_t offset) {
    if (offset > 0) {
      // Start inside a word that began in the previous range: skip to its end.
      position(offset - 1);
      if (m_pos < m_avail || refill()) {
        if (!detail::isWordSeparator(m_buf[m_pos])) {
          while ((m_pos < m_avail || refill()) && !detail::isWordSeparator(m_buf[m_pos])) ++m_pos;
        } else {
          ++m_pos;
        }
      }
    } else {
      position(0);
    }
  }

  void position(std::int64_t offset) {
    if (m_file) {
      if (std::fseek(m_file.get(), static_cast<long>(offset), SEEK_SET) != 0) {
        throw IoError(eigenrec::detail::concat("cannot seek in '", m_corpus.name(), "'"));
      }
      m_bufStart = offset;
      m_avail = 0;
      m_pos = 0;
    } else {
      m_pos = static_cast<std::size_t>(offset);
    }
  }

  bool refill() {
    if (m_done || !m_file) return false;
    m_bufStart += static_cast<std::int64_t>(m_avail);
    m_pos = 0;
    m_avail = std::fread(m_storage.data(), 1, m_storage.size(), m_file.get());
    if (m_avail == 0) {
      if (std::ferror(m_file.get())) throw IoError(eigenrec::detail::concat("read error in '", m_corpus.name(), "'"));
      m_done = true;
      return false;
    }
    return true;
  }

  bool readWord(std::string_view& word, std::int64_t startOffset) {
    std::size_t start = m_pos;
    bool copied = false;
    m_word.clear();
    for (;;) {
      while (m_pos < m_avail) {
        const char c = m_buf[m_pos];
        if (detail::isWordSeparator(c)) break;
        if (c == '\r') {  // word2vec.c drops '\r' inside words too
          m_word.append(m_buf + start, m_pos - start);
          copied = true;
          start = ++m_pos;
          continue;
        }
        ++m_pos;
      }
      if (m_pos < m_avail) break;
      // The word continues in the next block.
      m_word.append(m_buf + start, m_pos - start);
      copied = true;
      const bool more = refill();
      start = m_pos;
      if (!more) break;
    }
    if (copied) {
      m_word.append(m_buf + start, m_pos - start);
      word = m_word;
    } else {
      word = std::string_view(m_buf + start, m_pos - start);
    }
    return finishWord(word, startOffset);
  }

  bool finishWord(std::string_view& word, std::int64_t startOffset) {
    if (m_options.validateUtf8) {
      bool ascii = true;
      for (char ch : word) ascii &= static_cast<unsigned char>(ch) < 0x80;
      if (!ascii) {
        const std::size_t bad = firstInvalidUtf8(word);
        if (bad != std::string_view::npos) {
          fail(startOffset + static_cast<std::int64_t>(bad),
               eigenrec::detail::concat("word is not valid UTF-8 (byte 0x", std::hex,
                              static_cast<int>(static_cast<unsigned char>(word[bad])), ")"));
        }
      }
    }
    if (m_options.maxWordBytes > 0 && word.size() > m_options.maxWordBytes) {
      if (!m_options.truncateLongWords) {
        fail(startOffset, eigenrec::detail::concat("word of ", word.size(), " bytes is longer than the limit of ",
                                         m_options.maxWordBytes, " (set tokenizer.truncateLongWords or raise "
                                         "tokenizer.maxWordBytes): '", word.substr(0, 40), "...'"));
      }
      std::size_t cut = m_options.maxWordBytes;
      while (cut > 0 && (static_cast<unsigned char>(word[cut]) & 0xC0) == 0x80) --cut;
      word = word.substr(0, cut);
    }
    return true;
  }

  [[noreturn]] void fail(std::int64_t offset, const std::string& message) const {
    if (m_lineKnown) throw FormatError(m_corpus.name(), m_line, offset - m_lineStart + 1, message);
    throw FormatError(m_corpus.name(), 0, 0, eigenrec::detail::concat("byte ", offset, ": ", message));
  }

  TextCorpus m_corpus;
  TokenizerOptions m_options;
  std::int64_t m_end;
  std::unique_ptr<std::FILE, FileCloser> m_file;
  std::vector<char> m_storage;
  const char* m_buf = nullptr;
  std::size_t m_avail = 0;
  std::size_t m_pos = 0;
  std::int64_t m_bufStart = 0;
  bool m_done = false;
  bool m_lineKnown = true;
  std::int64_t m_line = 1;
  std::int64_t m_lineStart = 0;
  std::string m_word;
};

}  // namespace eigenrec::embedding

#endif  // EIGENREC_EMBEDDING_CORPUS_HPP

// eigenrec/text/analyzer.hpp: scikit-learn's text analysis (preprocessing, tokenizing,
// stop words, n-grams) over UTF-8, Unicode-aware.
//
// A document goes through, in scikit-learn's order:
//   1. UTF-8 decoding (DecodeError: strict throws InvalidUtf8, replace gives U+FFFD per
//      maximal ill-formed subsequence, ignore drops those bytes — Python's codec rules);
//   2. lowercasing with Python's str.lower() (full mappings, final-sigma rule);
//   3. accent stripping (StripAccents::unicode: NFKD, drop combining marks; ::ascii: NFKD,
//      keep ASCII only);
//   4. the analyzer:
//      - word: tokens are the maximal runs of word characters ((?u)\w: letters, digits
//        and underscore of any script, as Python's re) of at least minTokenLength code
//        points (2 = scikit-learn's default token_pattern (?u)\b\w\w+\b); stop words and
//        the tokenFilter remove tokens; then word n-grams joined by one space;
//      - character: runs of 2+ whitespace become one space, then character n-grams;
//      - characterWordBounded (char_wb): n-grams inside each whitespace-separated word
//        padded with one space on each side.
#ifndef EIGENREC_TEXT_ANALYZER_HPP
#define EIGENREC_TEXT_ANALYZER_HPP

#include <eigenrec/core/checks.hpp>
#include <eigenrec/text/detail/tables.hpp>
#include <eigenrec/text/detail/unicode.hpp>
#include <eigenrec/text/stop_words.hpp>

#include <algorithm>
#include <array>
#include <cstdint>
#include <cstring>
#include <functional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <unordered_set>
#include <utility>
#include <vector>

#if defined(__SSE2__)
#include <emmintrin.h>
#endif

namespace eigenrec::text {

/// What a feature is made of (scikit-learn's `analyzer`).
enum class AnalyzerKind {
  word,                 ///< "word": word n-grams
  character,            ///< "char": character n-grams over the whole text
  characterWordBounded  ///< "char_wb": character n-grams inside space-padded words
};

/// scikit-learn's `strip_accents`.
enum class StripAccents {
  none,     ///< None: keep the text
  ascii,    ///< "ascii": NFKD, then drop every non-ASCII code point
  unicode   ///< "unicode": NFKD, then drop combining marks (canonical class != 0)
};

/// What to do with bytes that are not valid UTF-8 (scikit-learn's `decode_error`).
enum class DecodeError {
  strict,   ///< throw InvalidUtf8 (default, as scikit-learn)
  replace,  ///< U+FFFD per maximal ill-formed subsequence (a non-word character)
  ignore    ///< drop the ill-formed bytes (the text around them joins up)
};

/// A document is not valid UTF-8 (DecodeError::strict). offset() is the byte offset of
/// the first ill-formed byte in the document.
class InvalidUtf8 : public std::invalid_argument {
 public:
  InvalidUtf8(std::size_t offset, unsigned byte)
      : std::invalid_argument(eigenrec::detail::concat("invalid UTF-8: byte 0x", hex(byte), " at offset ", offset)),
        m_offset(offset),
        m_byte(byte) {}
  std::size_t offset() const noexcept { return m_offset; }
  unsigned byte() const noexcept { return m_byte; }

 private:
  static std::string hex(unsigned b) {
    const char* digits = "0123456789ABCDEF";
    return {digits[(b >> 4) & 15], digits[b & 15]};
  }
  std::size_t m_offset;
  unsigned m_byte;
};

/// A document is longer than AnalyzerOptions::maxDocumentBytes.
class DocumentTooLong : public std::invalid_argument {
 public:
  DocumentTooLong(std::size_t size, std::int64_t limit)
      : std::invalid_argument(eigenrec::detail::concat("document of ", size, " bytes exceeds maxDocumentBytes = ", limit)) {}
};

/// Options of the analysis (scikit-learn's CountVectorizer parameters of the same role).
struct AnalyzerOptions {
  AnalyzerKind analyzer = AnalyzerKind::word;          ///< analyzer
  bool lowercase = true;                                ///< lowercase (Python str.lower())
  StripAccents stripAccents = StripAccents::none;       ///< strip_accents
  DecodeError decodeError = DecodeError::strict;        ///< decode_error
  std::pair<int, int> ngramRange{1, 1};                 ///< ngram_range (min_n, max_n), 1 <= min <= max
  int minTokenLength = 2;   ///< word analyzer: 2 = token_pattern (?u)\b\w\w+\b, 1 = (?u)\b\w+\b
  std::vector<std::string> stopWords;  ///< tokens removed before n-grams (englishStopWords() = "english")
  /// Word analyzer: a token is kept only if this returns true (after stop words). Must be
  /// a pure function of the token; it is not saved with a vectorizer.
  std::function<bool(std::string_view)> tokenFilter;
  std::int64_t maxDocumentBytes = std::int64_t{1} << 30;  ///< longer documents throw DocumentTooLong

  /// Throws std::invalid_argument naming `where` and the offending option.
  void validate(std::string_view where) const {
    checkExpected(ngramRange.first >= 1 && ngramRange.first <= ngramRange.second, where, "ngramRange",
                  "1 <= min_n <= max_n", eigenrec::detail::concat("(", ngramRange.first, ", ", ngramRange.second, ")"));
    checkBetween(where, "ngramRange max_n", ngramRange.second, 1, 64);
    checkBetween(where, "minTokenLength", minTokenLength, 1, 1 << 20);
    checkPositive(where, "maxDocumentBytes", maxDocumentBytes);
    for (const auto& w : stopWords) {
      checkArgument(!w.empty(), where, "stopWords: empty stop word");
    }
  }
};

namespace detail {

/// ASCII lookup tables: word class and lowercase.
struct AsciiTables {
  std::array<bool, 256> word{};
  std::array<bool, 256> space{};
  std::array<unsigned char, 256> lower{};
  std::array<unsigned char, 256> wordLower{};  // lowercased word character, 0 for others
  std::array<unsigned char, 256> wordSame{};   // word character, 0 for others
  AsciiTables() {
    for (int c = 0; c < 256; ++c) {
      lower[c] = static_cast<unsigned char>((c >= 'A' && c <= 'Z') ? c + 32 : c);
      word[c] = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_';
      space[c] = c == ' ' || (c >= 0x09 && c <= 0x0D) || (c >= 0x1C && c <= 0x1F);
      wordLower[c] = word[c] ? lower[c] : 0;
      wordSame[c] = word[c] ? static_cast<unsigned char>(c) : 0;
    }
  }
};

inline const AsciiTables& asciiTables() {
  static const AsciiTables tables;
  return tables;
}

inline constexpr char32_t kSegmentBreak = 0xFFFFFFFFu;

inline int countTrailingZeros(std::uint64_t x) noexcept {
#if defined(__GNUC__) || defined(__clang__)
  return __builtin_ctzll(x);
#else
  int n = 0;
  while ((x & 1) == 0) {
    x >>= 1;
    ++n;
  }
  return n;
#endif
}

/// Bit j set when text[j] (j < length <= 64, ASCII) is a word character [0-9A-Za-z_].
inline std::uint64_t asciiWordMask(const char* text, std::size_t length) noexcept {
#if defined(__SSE2__)
  if (length == 64) {
    std::uint64_t mask = 0;
    const __m128i zero = _mm_set1_epi8('0'), nine = _mm_set1_epi8('9');
    const __m128i a = _mm_set1_epi8('a'), z = _mm_set1_epi8('z');
    const __m128i bit = _mm_set1_epi8(0x20), underscore = _mm_set1_epi8('_');
    for (int k = 0; k < 4; ++k) {
      const __m128i x = _mm_loadu_si128(reinterpret_cast<const __m128i*>(text + 16 * k));
      // unsigned range checks: lo <= x <=> max(x, lo) == x; x <= hi <=> min(x, hi) == x
      const __m128i digit = _mm_and_si128(_mm_cmpeq_epi8(_mm_max_epu8(x, zero), x), _mm_cmpeq_epi8(_mm_min_epu8(x, nine), x));
      const __m128i y = _mm_or_si128(x, bit);
      const __m128i letter = _mm_and_si128(_mm_cmpeq_epi8(_mm_max_epu8(y, a), y), _mm_cmpeq_epi8(_mm_min_epu8(y, z), y));
      const __m128i word = _mm_or_si128(_mm_or_si128(digit, letter), _mm_cmpeq_epi8(x, underscore));
      mask |= static_cast<std::uint64_t>(static_cast<std::uint16_t>(_mm_movemask_epi8(word))) << (16 * k);
    }
    return mask;
  }
#endif
  const auto& t = asciiTables();
  std::uint64_t mask = 0;
  for (std::size_t j = 0; j < length; ++j) {
    mask |= static_cast<std::uint64_t>(t.word[static_cast<unsigned char>(text[j])]) << j;
  }
  return mask;
}

/// ASCII lowercase of n bytes.
inline void asciiLower(const char* in, char* out, std::size_t n) noexcept {
  std::size_t i = 0;
#if defined(__SSE2__)
  const __m128i A = _mm_set1_epi8('A'), Z = _mm_set1_epi8('Z'), bit = _mm_set1_epi8(0x20);
  for (; i + 16 <= n; i += 16) {
    const __m128i x = _mm_loadu_si128(reinterpret_cast<const __m128i*>(in + i));
    const __m128i upper = _mm_and_si128(_mm_cmpeq_epi8(_mm_max_epu8(x, A), x), _mm_cmpeq_epi8(_mm_min_epu8(x, Z), x));
    _mm_storeu_si128(reinterpret_cast<__m128i*>(out + i), _mm_or_si128(x, _mm_and_si128(upper, bit)));
  }
#endif
  const auto& t = asciiTables();
  for (; i < n; ++i) out[i] = static_cast<char>(t.lower[static_cast<unsigned char>(in[i])]);
}

}  // namespace detail

/// scikit-learn's analyzer (`CountVectorizer(...).build_analyzer()`) over UTF-8 text.
/// Thread-safe for concurrent const use.
class Analyzer {
 public:
  explicit Analyzer(AnalyzerOptions options = {}) : m_options(std::move(options)) {
    m_options.validate("Analyzer");
    m_stop.insert(m_options.stopWords.begin(), m_options.stopWords.end());
    unicodeReady();
  }

  const AnalyzerOptions& options() const noexcept { return m_options; }

  /// The features of one document, in scikit-learn's order (with repetitions): what
  /// `build_analyzer()(doc)` returns. Throws InvalidUtf8 / DocumentTooLong.
  std::vector<std::string> analyze(std::string_view doc) const {
    std::vector<std::string> out;
    if (m_options.analyzer == AnalyzerKind::word) {
      std::vector<std::string> tokens;
      std::string buffer;
      forEachToken(doc, buffer, [&](std::string_view t) {
        if (keepToken(t)) tokens.emplace_back(t);
      });
      const int minN = m_options.ngramRange.first, maxN = m_options.ngramRange.second;
      const auto count = static_cast<int>(tokens.size());
      for (int n = minN; n <= std::min(maxN, count); ++n) {
        for (int i = 0; i + n <= count; ++i) {
          std::string gram = tokens[static_cast<std::size_t>(i)];
          for (int k = 1; k < n; ++k) {
            gram += ' ';
            gram += tokens[static_cast<std::size_t>(i + k)];
          }
          out.push_back(std::move(gram));
        }
      }
      // scikit-learn lists the unigrams first, then the bigrams, ...: same as above.
      return out;
    }
    std::u32string text;
    forEachSegment(doc, text, [&](const char32_t* seg, std::size_t length) {
      appendCharNgrams(seg, length, [&](const char32_t* gram, std::size_t n) {
        std::string s;
        for (std::size_t k = 0; k < n; ++k) detail::unicode::appendUtf8(s, gram[k]);
        out.push_back(std::move(s));
      });
    });
    return out;
  }

  /// The preprocessed text (decoded, lowercased, accents stripped) as UTF-8.
  std::string preprocess(std::string_view doc) const {
    checkLength(doc);
    std::string out;
    preprocessCodePoints(doc, [&](char32_t c) { detail::unicode::appendUtf8(out, c); });
    return out;
  }

  /// The word tokens of a document after preprocessing, before stop words and n-grams.
  std::vector<std::string> tokenize(std::string_view doc) const {
    std::vector<std::string> tokens;
    std::string buffer;
    forEachToken(doc, buffer, [&](std::string_view t) { tokens.emplace_back(t); });
    return tokens;
  }

  /// False when keepToken() is true for every token (no stop words, no token filter).
  bool dropsTokens() const noexcept { return !m_stop.empty() || static_cast<bool>(m_options.tokenFilter); }

  /// True if a word token survives the stop words and the token filter.
  bool keepToken(std::string_view token) const {
    if (!m_stop.empty() && m_stop.count(std::string(token)) > 0) return false;
    return !m_options.tokenFilter || m_options.tokenFilter(token);
  }

  // --- building blocks for the vectorizers -------------------------------------------

  /// Calls onToken(std::string_view) for each word token (before stop words). `buffer`
  /// is scratch space that the views point into; they are valid during the call only,
  /// and detail::kTokenPadding bytes from each view's start may be read (the bytes past
  /// its end have unspecified values), so that a hash can load whole words.
  template <typename OnToken>
  void forEachToken(std::string_view doc, std::string& buffer, OnToken&& onToken) const {
    checkLength(doc);
    if (detail::unicode::isAscii(doc)) {
      asciiTokens(doc, buffer, onToken);
      return;
    }
    const auto& props = detail::unicode::properties();
    buffer.clear();
    int length = 0;
    const int minLength = m_options.minTokenLength;
    const auto emit = [&]() {
      const std::size_t bytes = buffer.size();
      buffer.append(detail::kTokenPadding, '\0');
      onToken(std::string_view(buffer.data(), bytes));
    };
    preprocessCodePoints(doc, [&](char32_t c) {
      if (props(c) & detail::unicode::kWord) {
        detail::unicode::appendUtf8(buffer, c);
        ++length;
      } else {
        if (length >= minLength) emit();
        buffer.clear();
        length = 0;
      }
    });
    if (length >= minLength) emit();
    buffer.clear();
  }

  /// Character analyzers: calls onSegment(const char32_t*, size_t) with the whitespace-
  /// normalised text (character) or with each space-padded word (characterWordBounded).
  /// `text` is scratch space.
  template <typename OnSegment>
  void forEachSegment(std::string_view doc, std::u32string& text, OnSegment&& onSegment) const {
    checkLength(doc);
    text.clear();
    const auto& props = detail::unicode::properties();
    const auto& ascii = detail::asciiTables();
    auto isSpace = [&](char32_t c) {
      return c < 0x80 ? ascii.space[c] : (props(c) & detail::unicode::kSpace) != 0;
    };
    // Runs of two or more whitespace characters become one ' ' (re.sub(r"\s\s+", " ")).
    std::size_t spaceRun = 0;
    char32_t firstSpace = 0;
    auto flushSpaces = [&]() {
      if (spaceRun == 1) text.push_back(firstSpace);
      else if (spaceRun > 1) text.push_back(U' ');
      spaceRun = 0;
    };
    preprocessCodePoints(doc, [&](char32_t c) {
      if (isSpace(c)) {
        if (spaceRun++ == 0) firstSpace = c;
      } else {
        flushSpaces();
        text.push_back(c);
      }
    });
    flushSpaces();
    if (m_options.analyzer == AnalyzerKind::character) {
      onSegment(text.data(), text.size());
      return;
    }
    // char_wb: str.split() on whitespace, each word padded with one space on each side.
    std::u32string word;
    std::size_t i = 0;
    while (i < text.size()) {
      while (i < text.size() && isSpace(text[i])) ++i;
      if (i == text.size()) break;
      word.assign(1, U' ');
      while (i < text.size() && !isSpace(text[i])) word.push_back(text[i++]);
      word.push_back(U' ');
      onSegment(word.data(), word.size());
    }
  }

  /// The character n-grams of one segment, as scikit-learn generates them (for
  /// char_wb with its rule that a word shorter than n is counted once, at the first n
  /// that reaches its padded length). Calls onGram(const char32_t*, size_t).
  template <typename Unit, typename OnGram>
  void appendCharNgrams(const Unit* seg, std::size_t length, OnGram&& onGram) const {
    const auto minN = static_cast<std::size_t>(m_options.ngramRange.first);
    const auto maxN = static_cast<std::size_t>(m_options.ngramRange.second);
    if (m_options.analyzer == AnalyzerKind::character) {
      for (std::size_t n = minN; n <= std::min(maxN, length); ++n) {
        for (std::size_t i = 0; i + n <= length; ++i) onGram(seg + i, n);
      }
      return;
    }
    for (std::size_t n = minN; n <= maxN; ++n) {
      if (length <= n) {  // the whole padded word, once, then stop
        onGram(seg, length);
        break;
      }
      for (std::size_t i = 0; i + n <= length; ++i) onGram(seg + i, n);
    }
  }

  /// Steps 1-3: calls sink(char32_t) for each code point of the preprocessed text.
  template <typename Sink>
  void preprocessCodePoints(std::string_view doc, Sink&& sink) const {
    namespace u = detail::unicode;
    const auto& props = u::properties();
    const bool lower = m_options.lowercase;
    const StripAccents strip = m_options.stripAccents;
    bool previousCased = false;  // final-sigma context: last non-ignorable original cp
    auto emitStripped = [&](char32_t c) {
      if (strip == StripAccents::none || (c < 0x80) || !(props(c) & u::kHasStrip)) {
        if (strip == StripAccents::ascii && c >= 0x80) return;
        sink(c);
        return;
      }
      u::stripOf(c, [&](char32_t d) {
        if (strip == StripAccents::ascii && d >= 0x80) return;
        sink(d);
      });
    };
    std::size_t i = 0;
    const std::size_t n = doc.size();
    while (i < n) {
      const auto b = static_cast<unsigned char>(doc[i]);
      if (b < 0x80) {
        const char32_t c = b;
        if (lower) {
          const auto f = props(c);
          if (!(f & u::kIgnorable)) previousCased = (f & u::kCased) != 0;
          sink(detail::asciiTables().lower[b]);
        } else {
          sink(c);
        }
        ++i;
        continue;
      }
      const Utf8Decoded d = decodeUtf8(doc, i);
      char32_t c = d.codePoint;
      if (!d.valid) {
        if (m_options.decodeError == DecodeError::strict) throw InvalidUtf8(i, b);
        if (m_options.decodeError == DecodeError::ignore) {
          i += d.length;
          continue;
        }
        c = u::kReplacement;
      }
      i += d.length;
      if (!lower) {
        emitStripped(c);
        continue;
      }
      const auto f = props(c);
      if (c == u::kCapitalSigma) {
        const bool final = previousCased && !nextIsCased(doc, i);
        emitStripped(final ? u::kFinalSigma : u::kSmallSigma);
      } else if (f & u::kHasLower) {
        char32_t mapped[4];
        const int count = u::lowerOf(c, mapped);
        for (int k = 0; k < count; ++k) emitStripped(mapped[k]);
      } else {
        emitStripped(c);
      }
      if (!(f & u::kIgnorable)) previousCased = (f & u::kCased) != 0;
    }
  }

 private:
  void checkLength(std::string_view doc) const {
    if (static_cast<std::int64_t>(doc.size()) > m_options.maxDocumentBytes) {
      throw DocumentTooLong(doc.size(), m_options.maxDocumentBytes);
    }
  }

  static void unicodeReady() { (void)detail::unicode::properties(); }

  // Final sigma: is the next code point that is not case-ignorable a cased one?
  bool nextIsCased(std::string_view doc, std::size_t i) const {
    namespace u = detail::unicode;
    const auto& props = u::properties();
    while (i < doc.size()) {
      const Utf8Decoded d = decodeUtf8(doc, i);
      i += d.length;
      if (!d.valid) {
        if (m_options.decodeError == DecodeError::ignore) continue;
        return false;  // U+FFFD: neither cased nor case-ignorable
      }
      const auto f = props(d.codePoint);
      if (f & u::kIgnorable) continue;
      return (f & u::kCased) != 0;
    }
    return false;
  }

  // ASCII documents: the whole text is lowercased at once (or copied, for the padding),
  // then token boundaries come from 64-byte bitmasks of word characters, so each token
  // costs one pass of bit scanning instead of a branch per byte; tokens are views into
  // `buffer`.
  template <typename OnToken>
  void asciiTokens(std::string_view doc, std::string& buffer, OnToken& onToken) const {
    const std::size_t n = doc.size();
    if (buffer.size() < n + detail::kTokenPadding) buffer.resize(n + detail::kTokenPadding);
    if (m_options.lowercase) {
      detail::asciiLower(doc.data(), buffer.data(), n);
    } else {
      if (n > 0) std::memcpy(buffer.data(), doc.data(), n);
    }
    const char* text = buffer.data();
    const auto minLength = static_cast<std::size_t>(m_options.minTokenLength);
    std::size_t tokenStart = 0;
    bool inToken = false;
    for (std::size_t base = 0; base < n; base += 64) {
      const std::size_t length = n - base < 64 ? n - base : 64;
      const std::uint64_t words = detail::asciiWordMask(text + base, length);
      std::uint64_t changes = words ^ ((words << 1) | (inToken ? 1u : 0u));
      if (length < 64) changes &= (std::uint64_t{1} << length) - 1;
      while (changes != 0) {
        const std::size_t at = base + static_cast<std::size_t>(detail::countTrailingZeros(changes));
        changes &= changes - 1;
        if (!inToken) {
          tokenStart = at;
        } else if (at - tokenStart >= minLength) {
          onToken(std::string_view(text + tokenStart, at - tokenStart));
        }
        inToken = !inToken;
      }
    }
    if (inToken && n - tokenStart >= minLength) onToken(std::string_view(text + tokenStart, n - tokenStart));
  }

  AnalyzerOptions m_options;
  std::unordered_set<std::string> m_stop;
};

}  // namespace eigenrec::text

#endif  // EIGENREC_TEXT_ANALYZER_HPP

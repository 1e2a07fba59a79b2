// eigenrec/text/detail/unicode.hpp: UTF-8 decoding with Python's error rules and the
// code point properties the tokenizer needs (word / space classes, str.lower(), accent
// stripping), looked up in a two-stage table built once from the generated ranges.
#ifndef EIGENREC_TEXT_DETAIL_UNICODE_HPP
#define EIGENREC_TEXT_DETAIL_UNICODE_HPP

#include <eigenrec/core/utf8.hpp>

#include <eigenrec/text/detail/unicode_tables.hpp>

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <iterator>
#include <memory>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

namespace eigenrec::text::detail::unicode {

/// Property bits of a code point.
enum : std::uint8_t {
  kWord = 1,         ///< matched by Python's (?u)\w
  kSpace = 2,        ///< matched by (?u)\s and str.isspace()
  kCased = 4,        ///< ends a final-sigma context scan as "cased"
  kIgnorable = 8,    ///< skipped by the final-sigma scan (case-ignorable)
  kHasLower = 16,    ///< str.lower() changes it
  kHasStrip = 32,    ///< NFKD without combining marks changes it
};

inline constexpr char32_t kReplacement = kReplacementCharacter;
inline constexpr char32_t kCapitalSigma = 0x03A3;
inline constexpr char32_t kSmallSigma = 0x03C3;
inline constexpr char32_t kFinalSigma = 0x03C2;
inline constexpr char32_t kHangulBase = 0xAC00;
inline constexpr char32_t kHangulCount = 11172;

/// Two-stage property table: stage1[cp >> 8] selects a 256-entry block of flags.
class PropertyTable {
 public:
  PropertyTable() {
    std::vector<std::uint8_t> flat(0x110000, 0);
    auto mark = [&](const std::uint32_t(*ranges)[2], std::size_t n, std::uint8_t bit) {
      for (std::size_t i = 0; i < n; ++i) {
        for (std::uint32_t c = ranges[i][0]; c <= ranges[i][1]; ++c) flat[c] |= bit;
      }
    };
    mark(kWordRanges, std::size(kWordRanges), kWord);
    mark(kSpaceRanges, std::size(kSpaceRanges), kSpace);
    mark(kCasedRanges, std::size(kCasedRanges), kCased);
    mark(kCaseIgnorableRanges, std::size(kCaseIgnorableRanges), kIgnorable);
    for (const auto& e : kLower) flat[e[0]] |= kHasLower;
    for (const auto& e : kStrip) flat[e[0]] |= kHasStrip;
    flat[kCapitalSigma] |= kHasLower;
    for (char32_t c = kHangulBase; c < kHangulBase + kHangulCount; ++c) flat[c] |= kHasStrip;
    // Deduplicate the 256-entry blocks (most are all zero or repeat).
    m_stage1.resize(0x1100);
    std::unordered_map<std::string, std::uint16_t> seen;
    for (std::size_t b = 0; b < 0x1100; ++b) {
      const char* block = reinterpret_cast<const char*>(flat.data() + b * 256);
      const auto [it, inserted] = seen.emplace(std::string(block, 256), static_cast<std::uint16_t>(seen.size()));
      if (inserted) m_blocks.insert(m_blocks.end(), flat.data() + b * 256, flat.data() + (b + 1) * 256);
      m_stage1[b] = it->second;
    }
  }

  std::uint8_t operator()(char32_t c) const noexcept {
    if (c >= 0x110000) return 0;
    return m_blocks[static_cast<std::size_t>(m_stage1[c >> 8]) * 256 + (c & 0xFF)];
  }

 private:
  std::vector<std::uint16_t> m_stage1;
  std::vector<std::uint8_t> m_blocks;
};

inline const PropertyTable& properties() {
  static const PropertyTable table;
  return table;
}

/// Code points of a sorted {cp, offset, length} map entry, or nullptr if absent.
inline const std::uint32_t* findMapping(const std::uint32_t (*index)[3], std::size_t n, char32_t c,
                                        std::uint32_t& length) {
  const auto* end = index + n;
  const auto* it = std::lower_bound(index, end, static_cast<std::uint32_t>(c),
                                    [](const std::uint32_t(&e)[3], std::uint32_t v) { return e[0] < v; });
  if (it == end || (*it)[0] != c) return nullptr;
  length = (*it)[2];
  return &(*it)[1];  // caller adds the pool
}

/// str.lower() of a single code point without context (U+03A3 -> U+03C3). Writes up to
/// 3 code points into `out` and returns how many.
inline int lowerOf(char32_t c, char32_t* out) {
  if (c < 0x80) {
    out[0] = (c >= 'A' && c <= 'Z') ? c + 32 : c;
    return 1;
  }
  if (c == kCapitalSigma) {
    out[0] = kSmallSigma;
    return 1;
  }
  std::uint32_t length = 0;
  const std::uint32_t* entry = findMapping(kLower, std::size(kLower), c, length);
  if (entry == nullptr) {
    out[0] = c;
    return 1;
  }
  const std::uint32_t offset = *entry;
  for (std::uint32_t i = 0; i < length; ++i) out[i] = kLowerPool[offset + i];
  return static_cast<int>(length);
}

/// NFKD decomposition of `c` without combining marks (scikit-learn's
/// strip_accents_unicode per code point). Calls emit(cp) for each result.
template <typename Emit>
void stripOf(char32_t c, Emit&& emit) {
  if (c >= kHangulBase && c < kHangulBase + kHangulCount) {
    // Unicode's algorithmic Hangul decomposition into conjoining jamo.
    const char32_t s = c - kHangulBase;
    emit(static_cast<char32_t>(0x1100 + s / (21 * 28)));
    emit(static_cast<char32_t>(0x1161 + (s % (21 * 28)) / 28));
    if (s % 28 != 0) emit(static_cast<char32_t>(0x11A7 + s % 28));
    return;
  }
  std::uint32_t length = 0;
  const std::uint32_t* entry = findMapping(kStrip, std::size(kStrip), c, length);
  if (entry == nullptr) {
    emit(c);
    return;
  }
  const std::uint32_t offset = *entry;
  for (std::uint32_t i = 0; i < length; ++i) emit(static_cast<char32_t>(kStripPool[offset + i]));
}

using eigenrec::appendUtf8;

/// True when every byte of s is ASCII.
inline bool isAscii(std::string_view s) noexcept {
  std::size_t i = 0;
  const char* p = s.data();
  std::uint64_t acc = 0;
  for (; i + 8 <= s.size(); i += 8) {
    std::uint64_t w;
    std::memcpy(&w, p + i, 8);
    acc |= w;
  }
  for (; i < s.size(); ++i) acc |= static_cast<unsigned char>(p[i]);
  return (acc & 0x8080808080808080ULL) == 0;
}

}  // namespace eigenrec::text::detail::unicode

#endif  // EIGENREC_TEXT_DETAIL_UNICODE_HPP

// eigenrec/core/utf8.hpp: UTF-8 decoding, validation and encoding shared by the text,
// embedding and io modules.
//
// Validity is the Unicode standard's (no overlong forms, no surrogates, nothing above
// U+10FFFF). On an ill-formed sequence, decodeUtf8 consumes its "maximal subpart" (the
// longest prefix of a well-formed sequence, at least one byte), the unit that Python's
// codec and the Unicode standard's recommended practice replace by one U+FFFD.
#ifndef EIGENREC_CORE_UTF8_HPP
#define EIGENREC_CORE_UTF8_HPP

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

namespace eigenrec {

/// U+FFFD, the replacement character.
inline constexpr char32_t kReplacementCharacter = 0xFFFD;

/// One decoding step: the code point (U+FFFD when invalid), the bytes consumed, validity.
struct Utf8Decoded {
  char32_t codePoint;
  std::uint32_t length;
  bool valid;
};

/// Decodes the code point starting at s[i] (requires i < s.size()).
inline Utf8Decoded decodeUtf8(std::string_view s, std::size_t i) noexcept {
  const auto b0 = static_cast<unsigned char>(s[i]);
  if (b0 < 0x80) return {b0, 1, true};
  std::uint32_t need;
  unsigned char lo = 0x80, hi = 0xBF;
  char32_t cp;
  if (b0 >= 0xC2 && b0 <= 0xDF) {
    need = 1;
    cp = b0 & 0x1F;
  } else if (b0 >= 0xE0 && b0 <= 0xEF) {
    need = 2;
    cp = b0 & 0x0F;
    if (b0 == 0xE0) lo = 0xA0;  // no overlong forms
    if (b0 == 0xED) hi = 0x9F;  // no surrogates
  } else if (b0 >= 0xF0 && b0 <= 0xF4) {
    need = 3;
    cp = b0 & 0x07;
    if (b0 == 0xF0) lo = 0x90;  // no overlong forms
    if (b0 == 0xF4) hi = 0x8F;  // nothing above U+10FFFF
  } else {
    return {kReplacementCharacter, 1, false};
  }
  std::uint32_t used = 1;
  for (std::uint32_t k = 0; k < need; ++k) {
    if (i + used >= s.size()) return {kReplacementCharacter, used, false};
    const auto b = static_cast<unsigned char>(s[i + used]);
    if (b < lo || b > hi) return {kReplacementCharacter, used, false};
    lo = 0x80;
    hi = 0xBF;
    cp = (cp << 6) | (b & 0x3F);
    ++used;
  }
  return {cp, used, true};
}

/// Byte offset of the first ill-formed sequence in `s`, or std::string_view::npos.
inline std::size_t firstInvalidUtf8(std::string_view s) noexcept {
  std::size_t i = 0;
  while (i < s.size()) {
    if (static_cast<unsigned char>(s[i]) < 0x80) {
      ++i;
      continue;
    }
    const Utf8Decoded d = decodeUtf8(s, i);
    if (!d.valid) return i;
    i += d.length;
  }
  return std::string_view::npos;
}

/// True when `s` is well-formed UTF-8.
inline bool isValidUtf8(std::string_view s) noexcept { return firstInvalidUtf8(s) == std::string_view::npos; }

/// Appends the UTF-8 encoding of code point `c` (<= U+10FFFF) to `out`.
inline void appendUtf8(std::string& out, char32_t c) {
  if (c < 0x80) {
    out.push_back(static_cast<char>(c));
  } else if (c < 0x800) {
    out.push_back(static_cast<char>(0xC0 | (c >> 6)));
    out.push_back(static_cast<char>(0x80 | (c & 0x3F)));
  } else if (c < 0x10000) {
    out.push_back(static_cast<char>(0xE0 | (c >> 12)));
    out.push_back(static_cast<char>(0x80 | ((c >> 6) & 0x3F)));
    out.push_back(static_cast<char>(0x80 | (c & 0x3F)));
  } else {
    out.push_back(static_cast<char>(0xF0 | (c >> 18)));
    out.push_back(static_cast<char>(0x80 | ((c >> 12) & 0x3F)));
    out.push_back(static_cast<char>(0x80 | ((c >> 6) & 0x3F)));
    out.push_back(static_cast<char>(0x80 | (c & 0x3F)));
  }
}

}  // namespace eigenrec

#endif  // EIGENREC_CORE_UTF8_HPP

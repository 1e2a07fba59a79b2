// eigenrec/text/detail/tables.hpp: the open-addressing hash tables of the vectorizers:
// strings -> ids (tokens) and packed n-gram keys -> ids.
#ifndef EIGENREC_TEXT_DETAIL_TABLES_HPP
#define EIGENREC_TEXT_DETAIL_TABLES_HPP

#include <eigenrec/core/memory.hpp>
#include <eigenrec/core/types.hpp>

#include <algorithm>
#include <cstdint>
#include <cstring>
#include <string>
#include <string_view>
#include <vector>


namespace eigenrec::text::detail {

/// Final mixer of MurmurHash3 (fmix64): every input bit affects every output bit.
inline std::uint64_t fmix64(std::uint64_t h) noexcept {
  h ^= h >> 33;
  h *= 0xFF51AFD7ED558CCDULL;
  h ^= h >> 33;
  h *= 0xC4CEB9FE1A85EC53ULL;
  h ^= h >> 33;
  return h;
}

/// The 8 bytes at p as a little-endian word (the first byte lowest, on any host).
inline std::uint64_t load64le(const char* p) noexcept {
  std::uint64_t w;
  std::memcpy(&w, p, 8);
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_BIG_ENDIAN__
  w = __builtin_bswap64(w);
#endif
  return w;
}

/// The bytes p[0, n) (n <= 8) as a little-endian word, zero-extended, without reading
/// past p + n (two overlapping loads for 4 <= n < 8, as in wyhash, and shifts).
inline std::uint64_t readSmall(const char* p, std::size_t n) noexcept {
  if (n >= 8) return load64le(p);
  const auto* u = reinterpret_cast<const unsigned char*>(p);
  if (n >= 4) {
    const auto lo = static_cast<std::uint64_t>(u[0]) | (static_cast<std::uint64_t>(u[1]) << 8) |
                    (static_cast<std::uint64_t>(u[2]) << 16) | (static_cast<std::uint64_t>(u[3]) << 24);
    const std::size_t t = n - 4;  // the last 4 bytes start at t; bytes t..3 are in lo already
    const auto hi = static_cast<std::uint64_t>(u[t]) | (static_cast<std::uint64_t>(u[t + 1]) << 8) |
                    (static_cast<std::uint64_t>(u[t + 2]) << 16) | (static_cast<std::uint64_t>(u[t + 3]) << 24);
    return lo | ((hi >> (8 * (8 - n))) << 32);
  }
  if (n == 0) return 0;
  return static_cast<std::uint64_t>(u[0]) | (static_cast<std::uint64_t>(u[n / 2]) << (8 * (n / 2))) |
         (static_cast<std::uint64_t>(u[n - 1]) << (8 * (n - 1)));
}

/// The 128-bit product of a and b, its halves xor-ed (wyhash's "mum"): one multiply
/// whose low half depends on every bit of both inputs.
inline std::uint64_t foldedMultiply(std::uint64_t a, std::uint64_t b) noexcept {
#if defined(__SIZEOF_INT128__)
  __extension__ typedef unsigned __int128 Wide;  // __extension__: no -Wpedantic warning
  const Wide r = static_cast<Wide>(a) * b;
  return static_cast<std::uint64_t>(r) ^ static_cast<std::uint64_t>(r >> 64);
#else
  return fmix64(a ^ fmix64(b));
#endif
}

/// Hash of a string of n <= 16 bytes whose first and second 8 bytes, zero-extended, are
/// the words a and b: one folded multiply.
inline std::uint64_t hashShort(std::uint64_t a, std::uint64_t b, std::size_t n) noexcept {
  return foldedMultiply(a ^ 0xA0761D6478BD642FULL, b ^ 0xE7037ED1A0B428DBULL ^ n);
}

/// 64-bit hash of a byte string. Up to 16 bytes (nearly all tokens): hashShort. Longer:
/// 8-byte words folded by multiply-rotate, then fmix64.
inline std::uint64_t hashBytes(const char* p, std::size_t n) noexcept {
  if (n <= 16) {
    return n <= 8 ? hashShort(readSmall(p, n), 0, n) : hashShort(load64le(p), readSmall(p + 8, n - 8), n);
  }
  std::uint64_t h = 0x9E3779B97F4A7C15ULL ^ (n * 0xC2B2AE3D27D4EB4FULL);
  std::size_t i = 0;
  for (; i + 8 <= n; i += 8) {
    h = (h ^ (load64le(p + i) * 0x87C37B91114253D5ULL)) * 0x4CF5AD432745937FULL;
    h = (h << 29) | (h >> 35);
  }
  if (i < n) h = (h ^ (readSmall(p + i, n - i) * 0x87C37B91114253D5ULL)) * 0x4CF5AD432745937FULL;
  return fmix64(h);
}

/// Bytes that may be read from the start of each token that Analyzer::forEachToken()
/// passes on (its views point into buffers padded for it), whatever the token's length.
inline constexpr std::size_t kTokenPadding = 16;

/// What hashBytes() and StringTable read of a string, when kTokenPadding bytes from its
/// start may be read: two loads and masks instead of branches on the length, for the
/// token loops (token lengths vary too much to predict).
struct PaddedKey {
  std::uint64_t hash;
  std::uint64_t prefix;  // readSmall of the first min(n, 8) bytes
  std::uint64_t second;  // readSmall of bytes [8, min(n, 16)), 0 when n <= 8

  EIGENREC_ALWAYS_INLINE
  PaddedKey(const char* p, std::size_t n) noexcept {
    // kLow[k]: the low k bytes of a word.
    static constexpr std::uint64_t kLow[9] = {0,
                                              0xFFULL,
                                              0xFFFFULL,
                                              0xFFFFFFULL,
                                              0xFFFFFFFFULL,
                                              0xFFFFFFFFFFULL,
                                              0xFFFFFFFFFFFFULL,
                                              0xFFFFFFFFFFFFFFULL,
                                              ~std::uint64_t{0}};
    prefix = load64le(p) & kLow[n < 8 ? n : 8];
    second = load64le(p + 8) & kLow[n <= 8 ? 0 : (n < 16 ? n - 8 : 8)];
    hash = n <= 16 ? hashShort(prefix, second, n) : hashBytes(p, n);
  }
};

/// Hash of a key of `words` 64-bit words.
inline std::uint64_t hashKey(const std::uint64_t* key, int words) noexcept {
  std::uint64_t h = 0x2545F4914F6CDD1DULL;
  for (int i = 0; i < words; ++i) h = (h ^ key[i]) * 0x9E3779B97F4A7C15ULL;
  return fmix64(h);
}

/// Strings -> dense ids 0, 1, ... in insertion order. A slot (32 bytes, half a cache
/// line) holds the id, 24 bits of the hash, the length (up to 255), the first 16 bytes
/// (zero-extended) and the string's State, so that a token loop finds a string of up to
/// 16 bytes, and its state, in one cache line, without touching the string storage.
/// Linear probing, load factor at most 0.7 (a small table stays in cache).
class StringTable {
 public:
  /// What a token loop keeps per string (the last document that had it, and where in
  /// that document's output), zero when the string is inserted. rehash() keeps it;
  /// releaseLookup() drops it.
  struct State {
    std::uint32_t lastDoc;
    std::uint32_t lastPos;
  };

 private:
  struct alignas(32) Slot {
    std::uint64_t head;    // hash bits 40..63 | length (<= 255) << 32 | (id + 1); 0 = empty
    std::uint64_t prefix;  // readSmall of bytes [0, 8)
    std::uint64_t second;  // readSmall of bytes [8, 16), 0 for strings of up to 8 bytes
    State state;
  };

 public:
  /// A string's id and its State (valid until the next insertion).
  struct Entry {
    std::uint32_t id;
    State* state;
  };

  StringTable() { rehash(64); }

  std::size_t size() const noexcept { return m_hashes.size(); }

  std::string_view at(std::uint32_t id) const noexcept {
    return std::string_view(m_arena.data() + m_offsets[id], m_offsets[id + 1] - m_offsets[id]);
  }
  std::uint64_t hashOf(std::uint32_t id) const noexcept { return m_hashes[id]; }

  /// Id of `s` (hash h = hashBytes(s)), inserting it if new.
  std::uint32_t findOrInsert(std::string_view s, std::uint64_t h, bool& inserted) {
    return idOf(*lookup(s, h, prefixOf(s), secondOf(s), inserted));
  }
  /// The same, for a token with kTokenPadding readable bytes (PaddedKey), with its State.
  EIGENREC_ALWAYS_INLINE
  Entry findOrInsert(std::string_view s, const PaddedKey& key, bool& inserted) {
    Slot* e = lookup(s, key.hash, key.prefix, key.second, inserted);
    return Entry{idOf(*e), &e->state};
  }

  /// Calls f(State&) for every string's state.
  template <typename F>
  void forEachState(F&& f) {
    for (std::size_t i = 0; i < m_slots.size(); ++i) {
      if (m_slots[i].head != 0) f(m_slots[i].state);
    }
  }

  /// Id of `s`, or -1.
  std::int64_t find(std::string_view s, std::uint64_t h) const noexcept {
    return find(s, h, prefixOf(s), secondOf(s));
  }
  std::int64_t find(std::string_view s, const PaddedKey& key) const noexcept {
    return find(s, key.hash, key.prefix, key.second);
  }

  std::size_t memoryBytes() const noexcept {
    return m_slots.capacity() * sizeof(Slot) + m_hashes.capacity() * 8 + m_offsets.capacity() * 8 + m_arena.capacity();
  }

  /// Room for n strings without growing.
  void reserve(std::size_t n) {
    std::size_t capacity = std::max<std::size_t>(m_slots.size(), 64);
    while (10 * n > 7 * capacity) capacity *= 2;  // load factor <= 0.7
    if (capacity > m_slots.size()) rehash(capacity);
    m_hashes.reserve(n);
    m_offsets.reserve(n + 1);
    m_arena.reserve(8 * n);
  }

  /// Frees the lookup slots, and the states with them, once no more lookups will come
  /// (size(), at() and hashOf() do not need them); a later findOrInsert() rebuilds them
  /// (with zero states), a later find() scans.
  void releaseLookup() {
    m_slots = LargeArray<Slot>();
    m_mask = 0;
  }

 private:
  static std::uint32_t idOf(const Slot& e) noexcept { return static_cast<std::uint32_t>((e.head & 0xFFFFFFFF) - 1); }

  // Equal tags (length and hash bits) and first 16 bytes: the same string, if it has at
  // most 16 bytes; longer ones are compared in full.
  EIGENREC_ALWAYS_INLINE
  bool matches(const Slot& e, std::string_view s, std::uint64_t tag, std::uint64_t prefix,
               std::uint64_t second) const noexcept {
    return (e.head & ~std::uint64_t{0xFFFFFFFF}) == tag && e.prefix == prefix && e.second == second &&
           (s.size() <= 16 || at(idOf(e)) == s);
  }

  EIGENREC_ALWAYS_INLINE
  Slot* lookup(std::string_view s, std::uint64_t h, std::uint64_t prefix, std::uint64_t second, bool& inserted) {
    if (m_slots.empty()) reserve(size() + 1);  // after releaseLookup()
    const std::uint64_t tag = tagOf(s, h);
    std::size_t slot = h & m_mask;
    while (true) {
      Slot& e = m_slots[slot];
      if (e.head == 0) break;
      if (matches(e, s, tag, prefix, second)) {
        inserted = false;
        return &e;
      }
      slot = (slot + 1) & m_mask;
    }
    inserted = true;
    return insertAt(slot, s, h, tag, prefix, second);
  }

  std::int64_t find(std::string_view s, std::uint64_t h, std::uint64_t prefix, std::uint64_t second) const noexcept {
    if (m_slots.empty()) {  // after releaseLookup(): a scan
      for (std::uint32_t id = 0; id < size(); ++id) {
        if (m_hashes[id] == h && at(id) == s) return id;
      }
      return -1;
    }
    const std::uint64_t tag = tagOf(s, h);
    std::size_t slot = h & m_mask;
    while (true) {
      const Slot& e = m_slots[slot];
      if (e.head == 0) return -1;
      if (matches(e, s, tag, prefix, second)) return idOf(e);
      slot = (slot + 1) & m_mask;
    }
  }

  // The insertion, out of line, so that the lookup (the common case), forced inline
  // above, stays small in the caller's token loop.
#if defined(__GNUC__) || defined(__clang__)
  __attribute__((noinline))
#endif
  Slot* insertAt(std::size_t slot, std::string_view s, std::uint64_t h, std::uint64_t tag, std::uint64_t prefix,
                 std::uint64_t second) {
    const auto id = static_cast<std::uint32_t>(m_hashes.size());
    m_slots[slot] = Slot{tag | (std::uint64_t{id} + 1), prefix, second, State{0, 0}};
    m_hashes.push_back(h);
    m_arena.append(s.data(), s.size());
    m_offsets.push_back(m_arena.size());
    if (10 * m_hashes.size() > 7 * m_slots.size()) {
      rehash(2 * m_slots.size());
      slot = h & m_mask;
      while (idOf(m_slots[slot]) != id) slot = (slot + 1) & m_mask;
    }
    return &m_slots[slot];
  }

  static std::uint64_t tagOf(std::string_view s, std::uint64_t h) noexcept {
    const std::uint64_t length = s.size() < 255 ? s.size() : 255;
    return (h & 0xFFFFFF0000000000ULL) | (length << 32);
  }
  static std::uint64_t prefixOf(std::string_view s) noexcept { return readSmall(s.data(), s.size() < 8 ? s.size() : 8); }
  static std::uint64_t secondOf(std::string_view s) noexcept {
    return s.size() <= 8 ? 0 : readSmall(s.data() + 8, s.size() < 16 ? s.size() - 8 : 8);
  }

  // New slots for `capacity`: the strings, with their states, move over (after
  // releaseLookup(), they are rebuilt from the hashes with zero states).
  void rehash(std::size_t capacity) {
    LargeArray<Slot> old;
    old.swap(m_slots);
    m_slots.assign(capacity, Slot{0, 0, 0, State{0, 0}});
    m_mask = capacity - 1;
    const auto place = [&](const Slot& e) {
      std::size_t slot = m_hashes[idOf(e)] & m_mask;
      while (m_slots[slot].head != 0) slot = (slot + 1) & m_mask;
      m_slots[slot] = e;
    };
    if (!old.empty()) {
      for (std::size_t i = 0; i < old.size(); ++i) {
        if (old[i].head != 0) place(old[i]);
      }
      return;
    }
    for (std::size_t id = 0; id < m_hashes.size(); ++id) {
      const std::string_view s = at(static_cast<std::uint32_t>(id));
      place(Slot{tagOf(s, m_hashes[id]) | (id + 1), prefixOf(s), secondOf(s), State{0, 0}});
    }
  }

  LargeArray<Slot> m_slots;  // huge pages from 2 MiB (65536 slots): one page fault, not 512
  std::size_t m_mask = 0;
  std::vector<std::uint64_t> m_hashes;
  std::vector<std::size_t> m_offsets{0};
  std::string m_arena;
};

/// Keys of `words` 64-bit words (never all zero: the first word is non-zero) -> dense ids
/// in insertion order. Slots hold the key inline followed by the id.
class KeyTable {
 public:
  /// `storage`: memory for the slots (its capacity is reused, its contents ignored), such
  /// as the releaseLookup() of a table done with lookups: reused pages need no page faults.
  explicit KeyTable(int words = 1, std::size_t expected = 0, std::vector<std::uint64_t> storage = {})
      : m_words(words), m_stride(static_cast<std::size_t>(words) + 1), m_slots(std::move(storage)) {
    std::size_t capacity = 64;
    while (10 * expected > 7 * capacity) capacity *= 2;  // load factor <= 0.7
    m_keys.reserve(expected * static_cast<std::size_t>(words));
    rehash(capacity);
  }

  std::size_t size() const noexcept { return m_count; }
  int words() const noexcept { return m_words; }
  const std::uint64_t* key(std::uint32_t id) const noexcept { return m_keys.data() + static_cast<std::size_t>(id) * m_words; }

  std::uint32_t findOrInsert(const std::uint64_t* k, std::uint64_t h, bool& inserted) {
    std::size_t slot = h & m_mask;
    while (true) {
      std::uint64_t* s = m_slots.data() + slot * m_stride;
      if (s[0] == 0) {
        const auto id = static_cast<std::uint32_t>(m_count++);
        std::memcpy(s, k, sizeof(std::uint64_t) * static_cast<std::size_t>(m_words));
        s[m_words] = id;
        m_keys.insert(m_keys.end(), k, k + m_words);
        inserted = true;
        if (10 * m_count > 7 * m_capacity) rehash(2 * m_capacity);
        return id;
      }
      if (equal(s, k)) {
        inserted = false;
        return static_cast<std::uint32_t>(s[m_words]);
      }
      slot = (slot + 1) & m_mask;
    }
  }

  std::int64_t find(const std::uint64_t* k, std::uint64_t h) const noexcept {
    std::size_t slot = h & m_mask;
    while (true) {
      const std::uint64_t* s = m_slots.data() + slot * m_stride;
      if (s[0] == 0) return -1;
      if (equal(s, k)) return static_cast<std::int64_t>(s[m_words]);
      slot = (slot + 1) & m_mask;
    }
  }

  /// Hints the cache to load the slot of hash h (for a lookup a few keys later).
  void prefetch(std::uint64_t h) const noexcept {
#if defined(__GNUC__) || defined(__clang__)
    __builtin_prefetch(m_slots.data() + (h & m_mask) * m_stride);
#else
    (void)h;
#endif
  }

  std::size_t memoryBytes() const noexcept { return (m_slots.capacity() + m_keys.capacity()) * 8; }

  /// Ends lookups (find / findOrInsert / prefetch must not follow; key(id) and size()
  /// stay) and hands the slot memory over, for the next table to reuse: the same
  /// mechanism as StringTable::releaseLookup().
  std::vector<std::uint64_t> releaseLookup() noexcept {
    std::vector<std::uint64_t> slots;
    slots.swap(m_slots);
    m_capacity = 0;
    m_mask = 0;
    return slots;
  }

 private:
  bool equal(const std::uint64_t* a, const std::uint64_t* b) const noexcept {
    if (a[0] != b[0]) return false;
    for (int i = 1; i < m_words; ++i) {
      if (a[i] != b[i]) return false;
    }
    return true;
  }

  void rehash(std::size_t capacity) {
    m_slots.assign(capacity * m_stride, 0);
    m_capacity = capacity;
    m_mask = capacity - 1;
    for (std::size_t id = 0; id < m_count; ++id) {
      const std::uint64_t* k = m_keys.data() + id * m_words;
      std::size_t slot = hashKey(k, m_words) & m_mask;
      while (m_slots[slot * m_stride] != 0) slot = (slot + 1) & m_mask;
      std::memcpy(m_slots.data() + slot * m_stride, k, sizeof(std::uint64_t) * static_cast<std::size_t>(m_words));
      m_slots[slot * m_stride + m_words] = id;
    }
  }

  int m_words;
  std::size_t m_stride;
  std::vector<std::uint64_t> m_slots;
  std::size_t m_capacity = 0;
  std::size_t m_mask = 0;
  std::size_t m_count = 0;
  std::vector<std::uint64_t> m_keys;
};

/// How n-gram keys are packed: each unit id + 1 takes `bits` bits; `lanes` units per
/// 64-bit word, most significant lane first, so comparing keys word by word (as unsigned)
/// orders them like the tuples of unit ids (a prefix before its extensions).
struct KeyPacking {
  int bits = 1;
  int lanes = 64;
  int words = 1;
  std::uint8_t laneWord[64] = {};   // lane i -> its word
  std::uint8_t laneShift[64] = {};  // lane i -> its shift in that word

  static KeyPacking forUnits(std::uint64_t units, int maxN) {
    KeyPacking p;
    p.bits = 1;
    while (p.bits < 32 && (std::uint64_t{1} << p.bits) <= units + 1) ++p.bits;
    p.lanes = 64 / p.bits;
    p.words = (maxN + p.lanes - 1) / p.lanes;
    for (int i = 0; i < 64; ++i) {
      p.laneWord[i] = static_cast<std::uint8_t>(i / p.lanes);
      p.laneShift[i] = static_cast<std::uint8_t>((p.lanes - 1 - i % p.lanes) * p.bits);
    }
    return p;
  }

  /// Writes the key of ids[0..n) into key[0..words).
  template <typename Id>
  void pack(const Id* ids, int n, std::uint64_t* key) const noexcept {
    if (words == 1) {
      std::uint64_t k = 0;
      for (int i = 0; i < n; ++i) k |= (static_cast<std::uint64_t>(ids[i]) + 1) << laneShift[i];
      key[0] = k;
      return;
    }
    for (int w = 0; w < words; ++w) key[w] = 0;
    for (int i = 0; i < n; ++i) key[laneWord[i]] |= (static_cast<std::uint64_t>(ids[i]) + 1) << laneShift[i];
  }

  /// Number of units in a key and their ids.
  int unpack(const std::uint64_t* key, std::uint32_t* ids) const noexcept {
    int n = 0;
    const std::uint64_t mask = (std::uint64_t{1} << bits) - 1;
    for (int w = 0; w < words; ++w) {
      for (int l = 0; l < lanes; ++l) {
        const std::uint64_t v = (key[w] >> ((lanes - 1 - l) * bits)) & mask;
        if (v == 0) return n;
        ids[n++] = static_cast<std::uint32_t>(v - 1);
      }
    }
    return n;
  }
};

}  // namespace eigenrec::text::detail

#endif  // EIGENREC_TEXT_DETAIL_TABLES_HPP

// eigenrec/core/serialize.hpp: the library's binary archive format and atomic file
// saving.
//
// An archive is a header, a sequence of named entries and a checksum:
//
//   "EIGENREC"                      8-byte magic
//   u32 archive format version      (kArchiveVersion)
//   str kind, u32 kind version      what the archive holds, e.g. "nn.Linear", 1
//   entries:  u8 1, str name, u8 dtype, u32 rank, i64 dims[rank], payload
//   end:      u8 0, u64 checksum of every byte before the checksum
//
// str = u32 byte length + bytes. Numbers are little-endian; payloads are the raw
// column-major coefficients. Readers read the entries in the order they were written
// and check each name, dtype, rank and shape, so a wrong, truncated or corrupted file
// fails with a FormatError that says what and where, before the model is touched.
#ifndef EIGENREC_CORE_SERIALIZE_HPP
#define EIGENREC_CORE_SERIALIZE_HPP

#include <eigenrec/core/checks.hpp>
#include <eigenrec/core/types.hpp>

#include <algorithm>
#include <array>
#include <chrono>
#include <cstdint>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <istream>
#include <limits>
#include <ostream>
#include <string>
#include <string_view>
#include <system_error>
#include <type_traits>
#include <vector>

#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ != __ORDER_LITTLE_ENDIAN__
#error "eigenrec archives are little-endian; big-endian hosts are not supported"
#endif

namespace eigenrec {

/// Version of the archive container itself (not of what is stored in it).
inline constexpr std::uint32_t kArchiveVersion = 1;

/// Element types an archive entry can hold.
enum class DType : std::uint8_t { f32 = 1, f64 = 2, i64 = 3, u8 = 4, i32 = 5 };

inline const char* dtypeName(DType t) {
  switch (t) {
    case DType::f32: return "f32";
    case DType::f64: return "f64";
    case DType::i64: return "i64";
    case DType::u8: return "u8";
    case DType::i32: return "i32";
  }
  return "unknown";
}

inline std::size_t dtypeSize(DType t) {
  switch (t) {
    case DType::f32: return 4;
    case DType::f64: return 8;
    case DType::i64: return 8;
    case DType::u8: return 1;
    case DType::i32: return 4;
  }
  return 0;
}

namespace detail {

template <typename T>
constexpr DType dtypeOf() {
  if constexpr (std::is_same_v<T, float>) {
    return DType::f32;
  } else if constexpr (std::is_same_v<T, double>) {
    return DType::f64;
  } else if constexpr (std::is_same_v<T, std::int64_t> || std::is_same_v<T, long> || std::is_same_v<T, long long>) {
    static_assert(sizeof(T) == 8, "64-bit integer expected");
    return DType::i64;
  } else if constexpr (std::is_same_v<T, std::uint8_t> || std::is_same_v<T, char> || std::is_same_v<T, bool>) {
    return DType::u8;
  } else if constexpr (std::is_same_v<T, std::int32_t>) {
    return DType::i32;
  } else {
    static_assert(sizeof(T) == 0, "eigenrec archives store float, double, int32, int64 and bytes");
    return DType::u8;
  }
}

/// Streaming 64-bit checksum: 8-byte words mixed by multiply-rotate, then the length
/// and a final avalanche. Detects truncation and corruption; not cryptographic.
class Checksum64 {
 public:
  void update(const void* data, std::size_t size) {
    if (size == 0) return;
    auto p = static_cast<const unsigned char*>(data);
    m_length += size;
    if (m_pending > 0) {  // complete a word begun by an earlier call
      const std::size_t take = std::min(size, std::size_t{8} - m_pending);
      std::memcpy(m_buffer + m_pending, p, take);
      m_pending += take;
      p += take;
      size -= take;
      if (m_pending < 8) return;
      mixWord(load(m_buffer));
      m_pending = 0;
    }
    for (; size >= 8; p += 8, size -= 8) mixWord(load(p));
    if (size > 0) std::memcpy(m_buffer, p, size);
    m_pending = size;
  }

  std::uint64_t digest() const {
    std::uint64_t h = m_state;
    std::uint64_t tail = 0;
    for (std::size_t i = 0; i < m_pending; ++i) tail |= static_cast<std::uint64_t>(m_buffer[i]) << (8 * i);
    h = rotl(h ^ (tail * kMul1), 31) * kMul2;
    h ^= m_length * kMul1;
    h ^= h >> 33;
    h *= 0xFF51AFD7ED558CCDULL;
    h ^= h >> 33;
    h *= 0xC4CEB9FE1A85EC53ULL;
    h ^= h >> 33;
    return h;
  }

 private:
  static constexpr std::uint64_t kMul1 = 0x9E3779B185EBCA87ULL;
  static constexpr std::uint64_t kMul2 = 0xC2B2AE3D27D4EB4FULL;
  static std::uint64_t rotl(std::uint64_t x, int k) { return (x << k) | (x >> (64 - k)); }
  static std::uint64_t load(const unsigned char* p) {
    std::uint64_t w;
    std::memcpy(&w, p, 8);
    return w;
  }
  void mixWord(std::uint64_t w) { m_state = rotl(m_state ^ (w * kMul1), 31) * kMul2; }

  std::uint64_t m_state = 0x27D4EB2F165667C5ULL;
  std::uint64_t m_length = 0;
  unsigned char m_buffer[8] = {};
  std::size_t m_pending = 0;
};

}  // namespace detail

/// Writes an archive to a stream. Call finish() after the last entry; an archive
/// without it is rejected as truncated when read.
class ArchiveWriter {
 public:
  ArchiveWriter(std::ostream& os, std::string_view kind, std::uint32_t kindVersion) : m_os(os) {
    raw("EIGENREC", 8);
    pod(kArchiveVersion);
    str(kind);
    pod(kindVersion);
  }

  /// A dense matrix or vector, stored with rank 2 (rows, cols).
  template <typename Derived>
  void write(std::string_view name, const Eigen::DenseBase<Derived>& m) {
    using T = typename Derived::Scalar;
    const Eigen::Matrix<T, Eigen::Dynamic, Eigen::Dynamic> plain = m;  // column-major, contiguous
    const std::int64_t dims[2] = {plain.rows(), plain.cols()};
    entry(name, detail::dtypeOf<T>(), 2, dims, plain.data(), sizeof(T) * static_cast<std::size_t>(plain.size()));
  }

  /// An Eigen::Tensor of any rank (column-major; include <eigenrec/core/tensor.hpp>).
  template <typename TensorType>
  void writeTensor(std::string_view name, const TensorType& t) {
    using T = typename TensorType::Scalar;
    constexpr int Rank = TensorType::NumIndices;
    static_assert((TensorType::Options & Eigen::RowMajor) == 0, "eigenrec archives store column-major tensors");
    std::int64_t dims[Rank > 0 ? Rank : 1];
    for (int i = 0; i < Rank; ++i) dims[i] = static_cast<std::int64_t>(t.dimension(i));
    entry(name, detail::dtypeOf<T>(), Rank, dims, t.data(), sizeof(T) * static_cast<std::size_t>(t.size()));
  }

  /// A std::vector of numbers, stored with rank 1.
  template <typename T>
  void writeVector(std::string_view name, const std::vector<T>& v) {
    const std::int64_t dims[1] = {static_cast<std::int64_t>(v.size())};
    entry(name, detail::dtypeOf<T>(), 1, dims, v.data(), sizeof(T) * v.size());
  }

  /// One number, stored with rank 0.
  template <typename T>
  void writeValue(std::string_view name, T value) {
    static_assert(std::is_arithmetic_v<T>, "writeValue takes a number");
    entry(name, detail::dtypeOf<T>(), 0, nullptr, &value, sizeof(T));
  }

  /// A string, stored as u8 bytes with rank 1.
  void writeString(std::string_view name, std::string_view s) {
    const std::int64_t dims[1] = {static_cast<std::int64_t>(s.size())};
    entry(name, DType::u8, 1, dims, s.data(), s.size());
  }

  /// A list of strings: a count, then one string entry per element.
  void writeStrings(std::string_view name, const std::vector<std::string>& list) {
    writeValue(name, static_cast<std::int64_t>(list.size()));
    for (const auto& s : list) writeString(name, s);
  }

  /// Ends the archive with the checksum and flushes. Throws IoError if the stream failed.
  void finish() {
    const std::uint8_t end = 0;
    pod(end);
    const std::uint64_t sum = m_sum.digest();
    m_os.write(reinterpret_cast<const char*>(&sum), sizeof(sum));
    m_os.flush();
    if (!m_os) throw IoError("ArchiveWriter::finish: write failed");
  }

 private:
  void raw(const void* data, std::size_t size) {
    m_os.write(static_cast<const char*>(data), static_cast<std::streamsize>(size));
    if (!m_os) throw IoError("ArchiveWriter: write failed");
    m_sum.update(data, size);
  }
  template <typename T>
  void pod(T value) {
    raw(&value, sizeof(T));
  }
  void str(std::string_view s) {
    pod(static_cast<std::uint32_t>(s.size()));
    raw(s.data(), s.size());
  }
  void entry(std::string_view name, DType type, int rank, const std::int64_t* dims, const void* data,
             std::size_t bytes) {
    pod(std::uint8_t{1});
    str(name);
    pod(static_cast<std::uint8_t>(type));
    pod(static_cast<std::uint32_t>(rank));
    for (int i = 0; i < rank; ++i) pod(dims[i]);
    raw(data, bytes);
  }

  std::ostream& m_os;
  detail::Checksum64 m_sum;
};

/// Reads an archive written by ArchiveWriter, entry by entry, in the order written.
/// Every mismatch throws FormatError naming the source, the entry and what differs.
class ArchiveReader {
 public:
  /// Checks the magic, the container version and that the archive holds `kind` in a
  /// version <= maxKindVersion. `source` names the file in error messages.
  ArchiveReader(std::istream& is, std::string_view kind, std::uint32_t maxKindVersion, std::string source = "")
      : m_is(is), m_source(std::move(source)) {
    const auto here = m_is.tellg();
    if (here != std::streampos(-1) && m_is.seekg(0, std::ios::end)) {
      const auto end = m_is.tellg();
      m_is.seekg(here);
      if (end != std::streampos(-1)) m_limit = static_cast<std::int64_t>(end - here);
    }
    m_is.clear();
    char magic[8];
    raw(magic, 8, "magic");
    if (std::memcmp(magic, "EIGENREC", 8) != 0) fail("not an eigenrec archive (bad magic)");
    const auto version = pod<std::uint32_t>("archive version");
    if (version != kArchiveVersion) {
      fail(detail::concat("archive format version ", version, " is not supported (this build reads ",
                          kArchiveVersion, ")"));
    }
    const std::string storedKind = str("kind");
    m_kindVersion = pod<std::uint32_t>("kind version");
    if (storedKind != kind) fail(detail::concat("archive holds '", storedKind, "', expected '", kind, "'"));
    if (m_kindVersion > maxKindVersion || m_kindVersion == 0) {
      fail(detail::concat("'", kind, "' version ", m_kindVersion, " is not supported (this build reads 1..",
                          maxKindVersion, ")"));
    }
  }

  /// Version of the stored kind, for loading older layouts.
  std::uint32_t kindVersion() const noexcept { return m_kindVersion; }

  /// A rank-2 entry into a matrix of the same scalar type. rows/cols >= 0 are checked.
  template <typename T>
  void read(std::string_view name, Eigen::Matrix<T, Eigen::Dynamic, Eigen::Dynamic>& m, Index rows = -1,
            Index cols = -1) {
    const auto dims = header(name, detail::dtypeOf<T>(), 2);
    checkDim(name, 0, dims[0], rows);
    checkDim(name, 1, dims[1], cols);
    m.resize(dims[0], dims[1]);
    raw(m.data(), sizeof(T) * static_cast<std::size_t>(m.size()), name);
  }

  /// A rank-2 entry of shape (n, 1) into a vector.
  template <typename T>
  void read(std::string_view name, Eigen::Matrix<T, Eigen::Dynamic, 1>& v, Index size = -1) {
    const auto dims = header(name, detail::dtypeOf<T>(), 2);
    checkDim(name, 0, dims[0], size);
    checkDim(name, 1, dims[1], 1);
    v.resize(dims[0]);
    raw(v.data(), sizeof(T) * static_cast<std::size_t>(v.size()), name);
  }

  /// Convenience: returns the matrix.
  template <typename T>
  Eigen::Matrix<T, Eigen::Dynamic, Eigen::Dynamic> readMatrix(std::string_view name, Index rows = -1,
                                                              Index cols = -1) {
    Eigen::Matrix<T, Eigen::Dynamic, Eigen::Dynamic> m;
    read(name, m, rows, cols);
    return m;
  }

  /// A tensor entry of the same rank and scalar type.
  template <typename TensorType>
  void readTensor(std::string_view name, TensorType& t) {
    using T = typename TensorType::Scalar;
    constexpr int Rank = TensorType::NumIndices;
    const auto dims = header(name, detail::dtypeOf<T>(), Rank);
    std::array<typename TensorType::Index, Rank> d;
    for (std::size_t i = 0; i < d.size(); ++i) d[i] = static_cast<typename TensorType::Index>(dims[i]);
    t.resize(d);
    raw(t.data(), sizeof(T) * static_cast<std::size_t>(t.size()), name);
  }

  template <typename T>
  std::vector<T> readVector(std::string_view name) {
    const auto dims = header(name, detail::dtypeOf<T>(), 1);
    std::vector<T> v(static_cast<std::size_t>(dims[0]));
    raw(v.data(), sizeof(T) * v.size(), name);
    return v;
  }

  template <typename T>
  T readValue(std::string_view name) {
    header(name, detail::dtypeOf<T>(), 0);
    T value;
    raw(&value, sizeof(T), name);
    return value;
  }

  std::string readString(std::string_view name) {
    const auto dims = header(name, DType::u8, 1);
    std::string s(static_cast<std::size_t>(dims[0]), '\0');
    raw(s.data(), s.size(), name);
    return s;
  }

  std::vector<std::string> readStrings(std::string_view name) {
    const auto count = readValue<std::int64_t>(name);
    if (count < 0) fail(detail::concat("entry '", name, "': negative count ", count));
    std::vector<std::string> list;
    for (std::int64_t i = 0; i < count; ++i) list.push_back(readString(name));
    return list;
  }

  /// Reads the end marker and verifies the checksum. Call it before using what was
  /// read: only then is the archive known to be intact.
  void finish() {
    const auto tag = pod<std::uint8_t>("end marker");
    if (tag != 0) fail("unexpected extra entries before the end of the archive");
    const std::uint64_t expected = m_sum.digest();
    std::uint64_t stored;
    if (!m_is.read(reinterpret_cast<char*>(&stored), sizeof(stored))) fail("truncated: checksum missing");
    if (stored != expected) fail("checksum mismatch: the file is corrupted");
  }

 private:
  [[noreturn]] void fail(const std::string& message) const {
    throw FormatError(m_source.empty() ? "<archive>" : m_source, 0, 0, message);
  }

  void raw(void* data, std::size_t size, std::string_view what) {
    if (m_limit >= 0 && static_cast<std::int64_t>(size) > m_limit - m_offset) {
      fail(detail::concat("truncated while reading ", what, " at byte ", m_offset));
    }
    if (size > 0 && !m_is.read(static_cast<char*>(data), static_cast<std::streamsize>(size))) {
      fail(detail::concat("truncated while reading ", what, " at byte ", m_offset));
    }
    m_offset += static_cast<std::int64_t>(size);
    m_sum.update(data, size);
  }
  template <typename T>
  T pod(std::string_view what) {
    T value;
    raw(&value, sizeof(T), what);
    return value;
  }
  std::string str(std::string_view what) {
    const auto size = pod<std::uint32_t>(what);
    if (size > (1u << 20)) fail(detail::concat("implausible length ", size, " of ", what));
    std::string s(size, '\0');
    raw(s.data(), size, what);
    return s;
  }

  std::vector<std::int64_t> header(std::string_view name, DType type, int rank) {
    const auto tag = pod<std::uint8_t>("entry marker");
    if (tag == 0) fail(detail::concat("entry '", name, "' missing: the archive ends early"));
    if (tag != 1) fail(detail::concat("bad entry marker ", int(tag), " before '", name, "'"));
    const std::string stored = str("entry name");
    if (stored != name) fail(detail::concat("expected entry '", name, "', found '", stored, "'"));
    const auto storedType = static_cast<DType>(pod<std::uint8_t>("dtype"));
    if (storedType != type) {
      fail(detail::concat("entry '", name, "': expected dtype ", dtypeName(type), ", got ", dtypeName(storedType)));
    }
    const auto storedRank = pod<std::uint32_t>("rank");
    if (storedRank != static_cast<std::uint32_t>(rank)) {
      fail(detail::concat("entry '", name, "': expected rank ", rank, ", got ", storedRank));
    }
    std::vector<std::int64_t> dims(static_cast<std::size_t>(rank));
    std::int64_t count = 1;
    for (auto& d : dims) {
      d = pod<std::int64_t>("dimension");
      if (d < 0) fail(detail::concat("entry '", name, "': negative dimension ", d));
      if (d > 0 && count > std::numeric_limits<std::int64_t>::max() / 8 / d) {
        fail(detail::concat("entry '", name, "': implausible size"));
      }
      count *= d;
    }
    const auto bytes = count * static_cast<std::int64_t>(dtypeSize(type));
    if (m_limit >= 0 && bytes > m_limit - m_offset) {
      fail(detail::concat("truncated: entry '", name, "' needs ", bytes, " bytes, ", m_limit - m_offset, " left"));
    }
    return dims;
  }

  void checkDim(std::string_view name, int axis, std::int64_t stored, Index expected) const {
    if (expected >= 0 && stored != expected) {
      fail(detail::concat("entry '", name, "': dimension ", axis, " expected ", expected, ", got ", stored));
    }
  }

  std::istream& m_is;
  std::string m_source;
  detail::Checksum64 m_sum;
  std::int64_t m_offset = 0;
  std::int64_t m_limit = -1;  // bytes available from the start, when the stream can tell
  std::uint32_t m_kindVersion = 0;
};

/// Writes a file through `write(std::ostream&)` atomically: the bytes go to a temporary
/// file next to `path`, which is renamed over `path` only after `write` returned and the
/// stream was flushed without error. If anything fails the temporary file is removed and
/// an existing file at `path` is left untouched.
template <typename Write>
void saveFileAtomically(const std::string& path, Write&& write) {
  namespace fs = std::filesystem;
  const auto stamp = static_cast<unsigned long long>(std::chrono::steady_clock::now().time_since_epoch().count());
  const std::string tmp = detail::concat(path, ".tmp-", std::hex, stamp ^ reinterpret_cast<std::uintptr_t>(&stamp));
  try {
    {
      std::ofstream os(tmp, std::ios::binary | std::ios::trunc);
      if (!os) throw IoError(detail::concat("cannot open '", tmp, "' for writing"));
      write(static_cast<std::ostream&>(os));
      os.flush();
      if (!os) throw IoError(detail::concat("write to '", tmp, "' failed"));
    }
    std::error_code ec;
    fs::rename(tmp, path, ec);
    if (ec) throw IoError(detail::concat("cannot rename '", tmp, "' to '", path, "': ", ec.message()));
  } catch (...) {
    std::error_code ignored;
    fs::remove(tmp, ignored);
    throw;
  }
}

/// Opens `path` for binary reading and calls read(std::istream&). Throws IoError if it
/// cannot be opened.
template <typename Read>
decltype(auto) loadFile(const std::string& path, Read&& read) {
  std::ifstream is(path, std::ios::binary);
  if (!is) throw IoError(detail::concat("cannot open '", path, "' for reading"));
  return read(static_cast<std::istream&>(is));
}

}  // namespace eigenrec

#endif  // EIGENREC_CORE_SERIALIZE_HPP

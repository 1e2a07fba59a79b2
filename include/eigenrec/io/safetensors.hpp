// eigenrec/io/safetensors.hpp: reader and writer of the safetensors format, the weight
// files of the Hugging Face / PyTorch ecosystem.
//
// Format: an unsigned 64-bit little-endian header length N, N bytes of UTF-8 JSON
//   {"<name>": {"dtype": "F32", "shape": [2, 3], "data_offsets": [begin, end]}, ...,
//    "__metadata__": {"<key>": "<string>", ...}}
// (optionally padded with spaces), then the data buffer; each tensor is stored
// row-major, little-endian, at bytes [begin, end) of the buffer.
//
// The reader validates everything before any value is used: N fits the file, the header
// is a JSON object without duplicate names, every entry has exactly a known dtype, a
// shape of non-negative integers and two offsets, end - begin == numel * dtype size
// (overflow-checked), and the tensors tile the data buffer exactly (sorted by offset,
// no gaps, no overlap, nothing left over), as the reference implementation requires.
// Violations throw FormatError("<source>: ..."); a file that cannot be read, IoError.
// Floating tensors (F16, BF16, F32, F64) convert to float or double; other dtypes are
// accepted in a file (an I64 step counter, say) but cannot be read as floating values.
//
// Layout: a PyTorch tensor of shape [a, b, c] is, byte for byte, the column-major
// eigenrec tensor (c, b, a) (tensor()). matrix() instead returns the logical (rows,
// cols) matrix of a rank-2 [rows, cols] tensor (transposing the bytes), the convention
// of eigenrec's parameter matrices (nn::Linear's weight is (out, in) like PyTorch's).
#ifndef EIGENREC_IO_SAFETENSORS_HPP
#define EIGENREC_IO_SAFETENSORS_HPP

#include <eigenrec/core/checks.hpp>
#include <eigenrec/core/serialize.hpp>
#include <eigenrec/core/tensor.hpp>
#include <eigenrec/core/types.hpp>

#include <nlohmann/json.hpp>

#include <algorithm>
#include <cstdint>
#include <cstring>
#include <fstream>
#include <iterator>
#include <limits>
#include <map>
#include <set>
#include <sstream>
#include <string>
#include <utility>
#include <vector>

namespace eigenrec::io {

/// Element types of the safetensors format.
enum class DType { boolean, u8, i8, i16, u16, f16, bf16, i32, u32, f32, f64, i64, u64, f8e4m3, f8e5m2 };

/// The format's name of a dtype ("F32", "BF16", ...).
inline const char* dtypeName(DType t) {
  switch (t) {
    case DType::boolean: return "BOOL";
    case DType::u8: return "U8";
    case DType::i8: return "I8";
    case DType::i16: return "I16";
    case DType::u16: return "U16";
    case DType::f16: return "F16";
    case DType::bf16: return "BF16";
    case DType::i32: return "I32";
    case DType::u32: return "U32";
    case DType::f32: return "F32";
    case DType::f64: return "F64";
    case DType::i64: return "I64";
    case DType::u64: return "U64";
    case DType::f8e4m3: return "F8_E4M3";
    case DType::f8e5m2: return "F8_E5M2";
  }
  return "?";
}

/// Bytes per element.
inline std::size_t dtypeSize(DType t) {
  switch (t) {
    case DType::boolean:
    case DType::u8:
    case DType::i8:
    case DType::f8e4m3:
    case DType::f8e5m2: return 1;
    case DType::i16:
    case DType::u16:
    case DType::f16:
    case DType::bf16: return 2;
    case DType::i32:
    case DType::u32:
    case DType::f32: return 4;
    case DType::f64:
    case DType::i64:
    case DType::u64: return 8;
  }
  return 0;
}

inline bool isFloatingDType(DType t) { return t == DType::f16 || t == DType::bf16 || t == DType::f32 || t == DType::f64; }

namespace detail {

inline bool parseDType(const std::string& s, DType& out) {
  static const std::pair<const char*, DType> table[] = {
      {"BOOL", DType::boolean}, {"U8", DType::u8},   {"I8", DType::i8},        {"I16", DType::i16},
      {"U16", DType::u16},      {"F16", DType::f16}, {"BF16", DType::bf16},    {"I32", DType::i32},
      {"U32", DType::u32},      {"F32", DType::f32}, {"F64", DType::f64},      {"I64", DType::i64},
      {"U64", DType::u64},      {"F8_E4M3", DType::f8e4m3}, {"F8_E5M2", DType::f8e5m2}};
  for (const auto& [name, t] : table) {
    if (s == name) {
      out = t;
      return true;
    }
  }
  return false;
}

inline float bitsToFloat(std::uint32_t bits) {
  float f;
  std::memcpy(&f, &bits, sizeof f);
  return f;
}
inline std::uint32_t floatToBits(float f) {
  std::uint32_t bits;
  std::memcpy(&bits, &f, sizeof bits);
  return bits;
}

/// IEEE binary16 -> float (exact).
inline float halfToFloat(std::uint16_t h) {
  const std::uint32_t sign = static_cast<std::uint32_t>(h & 0x8000u) << 16;
  const std::uint32_t exp = (h >> 10) & 0x1Fu;
  std::uint32_t mant = h & 0x3FFu;
  if (exp == 0x1F) return bitsToFloat(sign | 0x7F800000u | (mant << 13));  // inf / NaN
  if (exp != 0) return bitsToFloat(sign | ((exp + 112u) << 23) | (mant << 13));
  if (mant == 0) return bitsToFloat(sign);  // +-0
  // subnormal: value = mant * 2^-24
  int e = -1;
  do {
    ++e;
    mant <<= 1;
  } while ((mant & 0x400u) == 0);
  return bitsToFloat(sign | (static_cast<std::uint32_t>(112 - e) << 23) | ((mant & 0x3FFu) << 13));
}

/// float -> IEEE binary16, round to nearest even; overflow to inf, NaN kept NaN.
inline std::uint16_t floatToHalf(float f) {
  const std::uint32_t x = floatToBits(f);
  const std::uint16_t sign = static_cast<std::uint16_t>((x >> 16) & 0x8000u);
  const std::uint32_t absx = x & 0x7FFFFFFFu;
  if (absx >= 0x7F800000u) return static_cast<std::uint16_t>(sign | 0x7C00u | (absx > 0x7F800000u ? 0x200u : 0u));
  if (absx >= 0x477FF000u) return static_cast<std::uint16_t>(sign | 0x7C00u);  // rounds to >= 65520: inf
  if (absx < 0x38800000u) {
    // result is subnormal (or zero): value / 2^-24 rounded to nearest even
    if (absx < 0x33000000u) return sign;  // < 2^-25: rounds to 0
    const std::uint32_t e = absx >> 23;
    const std::uint32_t m = (absx & 0x7FFFFFu) | 0x800000u;
    const std::uint32_t shift = 126u - e;  // 14 .. 24
    std::uint32_t r = m >> shift;
    const std::uint32_t rem = m & ((1u << shift) - 1u);
    const std::uint32_t half = 1u << (shift - 1u);
    if (rem > half || (rem == half && (r & 1u))) ++r;
    return static_cast<std::uint16_t>(sign | r);
  }
  std::uint32_t r = ((absx >> 13) - (112u << 10));
  const std::uint32_t rem = absx & 0x1FFFu;
  if (rem > 0x1000u || (rem == 0x1000u && (r & 1u))) ++r;
  return static_cast<std::uint16_t>(sign | r);
}

inline float bf16ToFloat(std::uint16_t b) { return bitsToFloat(static_cast<std::uint32_t>(b) << 16); }

/// float -> bfloat16, round to nearest even, NaN kept NaN.
inline std::uint16_t floatToBf16(float f) {
  const std::uint32_t x = floatToBits(f);
  if ((x & 0x7FFFFFFFu) > 0x7F800000u) return static_cast<std::uint16_t>((x >> 16) | 0x40u);
  const std::uint32_t rounded = x + 0x7FFFu + ((x >> 16) & 1u);
  return static_cast<std::uint16_t>(rounded >> 16);
}

inline std::uint64_t readLE(const unsigned char* p, std::size_t bytes) {
  std::uint64_t v = 0;
  for (std::size_t i = 0; i < bytes; ++i) v |= static_cast<std::uint64_t>(p[i]) << (8 * i);
  return v;
}
inline void writeLE(std::string& out, std::uint64_t v, std::size_t bytes) {
  for (std::size_t i = 0; i < bytes; ++i) out.push_back(static_cast<char>((v >> (8 * i)) & 0xFFu));
}

}  // namespace detail

/// One tensor of a safetensors file: its PyTorch (row-major) shape and where its bytes are.
struct SafetensorsEntry {
  std::string name;
  DType dtype = DType::f32;
  std::vector<std::int64_t> shape;
  std::uint64_t begin = 0, end = 0;  ///< offsets in the data buffer

  std::int64_t numel() const {
    std::int64_t n = 1;
    for (auto d : shape) n *= d;
    return n;
  }
  std::string shapeString() const {
    std::ostringstream os;
    os << '[';
    for (std::size_t i = 0; i < shape.size(); ++i) os << (i ? ", " : "") << shape[i];
    os << ']';
    return os.str();
  }
};

/// A parsed, validated safetensors file held in memory.
class SafetensorsFile {
 public:
  /// Largest header accepted (the reference implementation's limit).
  static constexpr std::uint64_t maxHeaderBytes = 100u * 1000u * 1000u;

  SafetensorsFile() = default;

  /// Parses the bytes of a whole file; `source` names it in error messages.
  static SafetensorsFile fromBytes(std::string bytes, std::string source = "<memory>") {
    SafetensorsFile f;
    f.m_source = std::move(source);
    f.m_bytes = std::move(bytes);
    f.parse();
    return f;
  }

  /// Reads and parses a file. Throws IoError if it cannot be read, FormatError if it is
  /// not a valid safetensors file.
  static SafetensorsFile load(const std::string& path) {
    std::ifstream in(path, std::ios::binary);
    if (!in) throw IoError(eigenrec::detail::concat("cannot open '", path, "' for reading"));
    std::string bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    if (in.bad()) throw IoError(eigenrec::detail::concat("error reading '", path, "'"));
    return fromBytes(std::move(bytes), path);
  }

  const std::string& source() const noexcept { return m_source; }
  /// Tensors in data-offset order.
  const std::vector<SafetensorsEntry>& entries() const noexcept { return m_entries; }
  const std::map<std::string, std::string>& metadata() const noexcept { return m_metadata; }
  bool contains(const std::string& name) const { return m_index.count(name) > 0; }

  /// The entry of `name`; throws std::invalid_argument if there is none.
  const SafetensorsEntry& entry(const std::string& name) const {
    const auto it = m_index.find(name);
    if (it == m_index.end()) throwInvalidArgument("SafetensorsFile", m_source, ": no tensor named '", name, "'");
    return m_entries[it->second];
  }

  /// Values of a floating tensor converted to Scalar, in the file's row-major order.
  template <typename Scalar>
  Vector<Scalar> values(const std::string& name) const {
    EIGENREC_STATIC_ASSERT_SCALAR(Scalar);
    const SafetensorsEntry& e = entry(name);
    if (!isFloatingDType(e.dtype)) {
      throw FormatError(m_source, 0, 0,
                        eigenrec::detail::concat("tensor '", name, "' has dtype ", dtypeName(e.dtype),
                                                 ", expected F16, BF16, F32 or F64"));
    }
    const auto n = static_cast<Index>(e.numel());
    Vector<Scalar> out(n);
    const auto* p = reinterpret_cast<const unsigned char*>(m_bytes.data()) + m_dataStart + e.begin;
    for (Index i = 0; i < n; ++i) {
      switch (e.dtype) {
        case DType::f16:
          out(i) = static_cast<Scalar>(detail::halfToFloat(static_cast<std::uint16_t>(detail::readLE(p + 2 * i, 2))));
          break;
        case DType::bf16:
          out(i) = static_cast<Scalar>(detail::bf16ToFloat(static_cast<std::uint16_t>(detail::readLE(p + 2 * i, 2))));
          break;
        case DType::f32:
          out(i) = static_cast<Scalar>(detail::bitsToFloat(static_cast<std::uint32_t>(detail::readLE(p + 4 * i, 4))));
          break;
        default: {
          const std::uint64_t bits = detail::readLE(p + 8 * i, 8);
          double d;
          std::memcpy(&d, &bits, sizeof d);
          out(i) = static_cast<Scalar>(d);
        }
      }
    }
    return out;
  }

  /// Values of an integer or boolean tensor (BOOL, U8, I8, I16, U16, I32, U32, I64, U64)
  /// in the file's row-major order, e.g. BatchNorm's num_batches_tracked counter. A U64
  /// value above the int64 range is a FormatError.
  std::vector<std::int64_t> integers(const std::string& name) const {
    const SafetensorsEntry& e = entry(name);
    const bool isSigned = e.dtype == DType::i8 || e.dtype == DType::i16 || e.dtype == DType::i32 || e.dtype == DType::i64;
    const bool isUnsigned = e.dtype == DType::boolean || e.dtype == DType::u8 || e.dtype == DType::u16 ||
                            e.dtype == DType::u32 || e.dtype == DType::u64;
    if (!isSigned && !isUnsigned) {
      throw FormatError(m_source, 0, 0,
                        eigenrec::detail::concat("tensor '", name, "' has dtype ", dtypeName(e.dtype),
                                                 ", expected an integer or boolean type"));
    }
    const std::size_t width = dtypeSize(e.dtype);
    const auto n = static_cast<std::size_t>(e.numel());
    std::vector<std::int64_t> out(n);
    const auto* p = reinterpret_cast<const unsigned char*>(m_bytes.data()) + m_dataStart + e.begin;
    for (std::size_t i = 0; i < n; ++i) {
      const std::uint64_t raw = detail::readLE(p + width * i, width);
      if (isUnsigned) {
        if (raw > static_cast<std::uint64_t>(std::numeric_limits<std::int64_t>::max())) {
          throw FormatError(m_source, 0, 0, eigenrec::detail::concat("tensor '", name, "' holds ", raw,
                                                                     ", beyond the int64 range"));
        }
        out[i] = static_cast<std::int64_t>(raw);
      } else {
        const unsigned shift = static_cast<unsigned>(64 - 8 * width);  // sign-extend
        out[i] = static_cast<std::int64_t>(raw << shift) >> shift;
      }
    }
    return out;
  }

  /// The logical (rows, cols) matrix of a rank-2 [rows, cols] tensor; a rank-1 [n]
  /// tensor gives (n, 1), a rank-0 one (1, 1).
  template <typename Scalar>
  Matrix<Scalar> matrix(const std::string& name) const {
    const SafetensorsEntry& e = entry(name);
    if (e.shape.size() > 2) {
      throw FormatError(m_source, 0, 0,
                        eigenrec::detail::concat("tensor '", name, "' has shape ", e.shapeString(),
                                                 ", expected rank 1 or 2"));
    }
    const Vector<Scalar> v = values<Scalar>(name);
    const Index rows = e.shape.empty() ? 1 : static_cast<Index>(e.shape[0]);
    const Index cols = e.shape.size() == 2 ? static_cast<Index>(e.shape[1]) : 1;
    Matrix<Scalar> m(rows, cols);
    if (m.size() == 0) return m;
    for (Index r = 0; r < rows; ++r) {
      for (Index c = 0; c < cols; ++c) m(r, c) = v(r * cols + c);
    }
    return m;
  }

  /// A tensor of rank <= Rank as the column-major eigenrec tensor with the reversed
  /// shape (the same bytes): PyTorch [a, b, c] -> (c, b, a); missing dims are 1.
  template <typename Scalar, int Rank>
  Tensor<Scalar, Rank> tensor(const std::string& name) const {
    const SafetensorsEntry& e = entry(name);
    if (static_cast<int>(e.shape.size()) > Rank) {
      throw FormatError(m_source, 0, 0,
                        eigenrec::detail::concat("tensor '", name, "' has shape ", e.shapeString(), ", expected rank <= ",
                                                 Rank));
    }
    Eigen::array<Index, Rank> dims;
    for (int i = 0; i < Rank; ++i) dims[i] = 1;
    for (std::size_t i = 0; i < e.shape.size(); ++i) dims[i] = static_cast<Index>(e.shape[e.shape.size() - 1 - i]);
    Tensor<Scalar, Rank> t(dims);
    const Vector<Scalar> v = values<Scalar>(name);
    std::copy(v.data(), v.data() + v.size(), t.data());
    return t;
  }

 private:
  [[noreturn]] void fail(const std::string& message) const { throw FormatError(m_source, 0, 0, message); }

  void parse() {
    const std::size_t size = m_bytes.size();
    if (size < 8) fail(eigenrec::detail::concat("file of ", size, " bytes is too short for a safetensors header"));
    const auto* bytes = reinterpret_cast<const unsigned char*>(m_bytes.data());
    const std::uint64_t headerLen = detail::readLE(bytes, 8);
    if (headerLen > maxHeaderBytes) fail(eigenrec::detail::concat("header length ", headerLen, " exceeds the limit of ", maxHeaderBytes));
    if (headerLen > size - 8) {
      fail(eigenrec::detail::concat("header length ", headerLen, " exceeds the ", size - 8, " bytes after the length field"));
    }
    if (headerLen < 2 || bytes[8] != '{') fail("header does not start with '{'");
    m_dataStart = 8 + static_cast<std::size_t>(headerLen);
    const std::uint64_t dataSize = size - m_dataStart;

    using json = nlohmann::json;
    std::set<std::string> topKeys;
    std::string duplicate;
    json::parser_callback_t onEvent = [&](int depth, json::parse_event_t event, json& parsed) {
      if (event == json::parse_event_t::key && depth == 1) {
        const std::string key = parsed.get<std::string>();
        if (!topKeys.insert(key).second && duplicate.empty()) duplicate = key;
      }
      return true;
    };
    json header;
    try {
      header = json::parse(m_bytes.begin() + 8, m_bytes.begin() + static_cast<std::ptrdiff_t>(m_dataStart), onEvent);
    } catch (const json::exception& ex) {
      fail(eigenrec::detail::concat("header is not valid JSON: ", ex.what()));
    }
    if (!duplicate.empty()) fail(eigenrec::detail::concat("header names '", duplicate, "' twice"));
    if (!header.is_object()) fail("header is not a JSON object");

    for (auto it = header.begin(); it != header.end(); ++it) {
      const std::string& name = it.key();
      const json& value = it.value();
      if (name == "__metadata__") {
        if (!value.is_object()) fail("__metadata__ is not an object");
        for (auto m = value.begin(); m != value.end(); ++m) {
          if (!m.value().is_string()) fail(eigenrec::detail::concat("__metadata__ value of '", m.key(), "' is not a string"));
          m_metadata[m.key()] = m.value().get<std::string>();
        }
        continue;
      }
      m_entries.push_back(parseEntry(name, value, dataSize));
    }
    // The tensors must tile the data buffer exactly.
    std::sort(m_entries.begin(), m_entries.end(), [](const SafetensorsEntry& a, const SafetensorsEntry& b) {
      return a.begin != b.begin ? a.begin < b.begin : a.end < b.end;
    });
    std::uint64_t expected = 0;
    for (const auto& e : m_entries) {
      if (e.begin != expected) {
        fail(eigenrec::detail::concat("tensor '", e.name, "' starts at data offset ", e.begin, ", expected ", expected,
                                      " (tensors must be contiguous and not overlap)"));
      }
      expected = e.end;
    }
    if (expected != dataSize) {
      fail(eigenrec::detail::concat("tensors cover ", expected, " bytes of a data buffer of ", dataSize, " bytes"));
    }
    for (std::size_t i = 0; i < m_entries.size(); ++i) m_index[m_entries[i].name] = i;
  }

  SafetensorsEntry parseEntry(const std::string& name, const nlohmann::json& value, std::uint64_t dataSize) const {
    const std::string where = "tensor '" + name + "'";
    if (!value.is_object()) fail(where + " is not an object");
    SafetensorsEntry e;
    e.name = name;
    bool hasDtype = false, hasShape = false, hasOffsets = false;
    for (auto it = value.begin(); it != value.end(); ++it) {
      const std::string& field = it.key();
      const auto& v = it.value();
      if (field == "dtype") {
        if (!v.is_string() || !detail::parseDType(v.get<std::string>(), e.dtype)) {
          fail(where + " has an unknown dtype " + v.dump());
        }
        hasDtype = true;
      } else if (field == "shape") {
        if (!v.is_array()) fail(where + " has a shape that is not an array");
        for (const auto& d : v) {
          if (!d.is_number_unsigned()) fail(where + " has a shape entry that is not a non-negative integer: " + d.dump());
          const auto x = d.get<std::uint64_t>();
          if (x > static_cast<std::uint64_t>(std::numeric_limits<std::int64_t>::max())) fail(where + " has a shape entry out of range");
          e.shape.push_back(static_cast<std::int64_t>(x));
        }
        hasShape = true;
      } else if (field == "data_offsets") {
        if (!v.is_array() || v.size() != 2 || !v[0].is_number_unsigned() || !v[1].is_number_unsigned()) {
          fail(where + " needs data_offsets [begin, end] of non-negative integers, got " + v.dump());
        }
        e.begin = v[0].get<std::uint64_t>();
        e.end = v[1].get<std::uint64_t>();
        hasOffsets = true;
      } else {
        fail(where + " has an unknown field '" + field + "'");
      }
    }
    if (!hasDtype || !hasShape || !hasOffsets) fail(where + " needs dtype, shape and data_offsets");
    if (e.begin > e.end || e.end > dataSize) {
      fail(eigenrec::detail::concat(where, " has data_offsets [", e.begin, ", ", e.end, "] outside the data buffer of ",
                                    dataSize, " bytes"));
    }
    // the element count (even of an empty tensor) must fit in int64
    std::uint64_t count = 1;
    for (auto d : e.shape) {
      const auto ud = static_cast<std::uint64_t>(d);
      if (ud == 0) continue;
      if (count > static_cast<std::uint64_t>(std::numeric_limits<std::int64_t>::max()) / ud) {
        fail(where + " has shape " + e.shapeString() + " with too many elements");
      }
      count *= ud;
    }
    // numel * size == end - begin, without overflow
    const std::uint64_t stored = e.end - e.begin;
    std::uint64_t bytes = dtypeSize(e.dtype);
    if (std::find(e.shape.begin(), e.shape.end(), 0) != e.shape.end()) bytes = 0;
    for (auto d : e.shape) {
      const auto ud = static_cast<std::uint64_t>(d);
      if (bytes == 0) break;
      if (bytes > stored / ud) {
        fail(eigenrec::detail::concat(where, " of shape ", e.shapeString(), " does not fit its ", stored, " bytes"));
      }
      bytes *= ud;
    }
    if (bytes != e.end - e.begin) {
      fail(eigenrec::detail::concat(where, " of dtype ", dtypeName(e.dtype), " and shape ", e.shapeString(), " needs ", bytes,
                                    " bytes, its data_offsets give ", e.end - e.begin));
    }
    return e;
  }

  std::string m_source = "<memory>";
  std::string m_bytes;
  std::size_t m_dataStart = 0;
  std::vector<SafetensorsEntry> m_entries;
  std::map<std::string, std::size_t> m_index;
  std::map<std::string, std::string> m_metadata;
};

/// Builds a safetensors file. Tensors are written in the order added.
class SafetensorsWriter {
 public:
  void setMetadata(const std::string& key, const std::string& value) { m_metadata[key] = value; }

  /// Adds a tensor of PyTorch shape `shape` whose values are given in row-major order,
  /// stored as `dtype` (F16, BF16, F32 or F64; F16/BF16 round to nearest even, double
  /// values going through float first).
  template <typename Scalar>
  void add(const std::string& name, const std::vector<std::int64_t>& shape, const Scalar* values,
           DType dtype = DType::f32) {
    constexpr const char* where = "SafetensorsWriter::add";
    checkArgument(isFloatingDType(dtype), where, "dtype must be F16, BF16, F32 or F64");
    checkArgument(!name.empty() && name != "__metadata__", where, "invalid tensor name");
    for (const auto& t : m_tensors) {
      if (t.name == name) throwInvalidArgument(where, "tensor '", name, "' added twice");
    }
    std::int64_t n = 1;
    for (auto d : shape) {
      checkNonNegative(where, "shape entry", d);
      n *= d;
    }
    Pending p{name, dtype, shape, {}};
    const std::size_t size = dtypeSize(dtype);
    p.bytes.reserve(static_cast<std::size_t>(n) * size);
    for (std::int64_t i = 0; i < n; ++i) {
      const double v = static_cast<double>(values[i]);
      switch (dtype) {
        case DType::f16: detail::writeLE(p.bytes, detail::floatToHalf(static_cast<float>(v)), 2); break;
        case DType::bf16: detail::writeLE(p.bytes, detail::floatToBf16(static_cast<float>(v)), 2); break;
        case DType::f32: detail::writeLE(p.bytes, detail::floatToBits(static_cast<float>(v)), 4); break;
        default: {
          std::uint64_t bits;
          std::memcpy(&bits, &v, sizeof bits);
          detail::writeLE(p.bytes, bits, 8);
        }
      }
    }
    m_tensors.push_back(std::move(p));
  }

  /// Adds the logical (rows, cols) matrix m as a PyTorch [rows, cols] tensor (or [rows]
  /// with asVector).
  template <typename Derived>
  void addMatrix(const std::string& name, const Eigen::MatrixBase<Derived>& m, DType dtype = DType::f32,
                 bool asVector = false) {
    using Scalar = typename Derived::Scalar;
    Eigen::Matrix<Scalar, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor> rm = m;
    if (asVector) {
      add(name, {static_cast<std::int64_t>(rm.size())}, rm.data(), dtype);
    } else {
      add(name, {static_cast<std::int64_t>(rm.rows()), static_cast<std::int64_t>(rm.cols())}, rm.data(), dtype);
    }
  }

  /// The file's bytes.
  std::string bytes() const {
    nlohmann::ordered_json header = nlohmann::ordered_json::object();
    std::uint64_t offset = 0;
    for (const auto& t : m_tensors) {
      header[t.name] = {{"dtype", dtypeName(t.dtype)}, {"shape", t.shape}, {"data_offsets", {offset, offset + t.bytes.size()}}};
      offset += t.bytes.size();
    }
    if (!m_metadata.empty()) header["__metadata__"] = m_metadata;
    std::string h = header.dump();
    h.append((8 - h.size() % 8) % 8, ' ');
    std::string out;
    out.reserve(8 + h.size() + offset);
    detail::writeLE(out, h.size(), 8);
    out += h;
    for (const auto& t : m_tensors) out += t.bytes;
    return out;
  }

  void write(std::ostream& os) const {
    const std::string b = bytes();
    os.write(b.data(), static_cast<std::streamsize>(b.size()));
  }

  /// Writes the file atomically (temporary name, then rename).
  void save(const std::string& path) const {
    saveFileAtomically(path, [&](std::ostream& os) { write(os); });
  }

 private:
  struct Pending {
    std::string name;
    DType dtype;
    std::vector<std::int64_t> shape;
    std::string bytes;
  };
  std::vector<Pending> m_tensors;
  std::map<std::string, std::string> m_metadata;
};

}  // namespace eigenrec::io

#endif  // EIGENREC_IO_SAFETENSORS_HPP

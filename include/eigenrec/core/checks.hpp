// eigenrec/core/checks.hpp: the library's exceptions and the argument checks every
// public entry point uses.
//
// Bad input throws std::invalid_argument with a message that names the function, the
// argument, what was expected and what was given:
//   "MultiHeadAttention::forward: query dim expected 64, got 63"
// Malformed files throw FormatError ("file:line:column: message"), I/O failures
// IoError, and NaN/inf met during training NumericalError.
#ifndef EIGENREC_CORE_CHECKS_HPP
#define EIGENREC_CORE_CHECKS_HPP

#include <eigenrec/core/types.hpp>

#include <cmath>
#include <cstdint>
#include <sstream>
#include <stdexcept>
#include <string>
#include <string_view>

namespace eigenrec {

/// A file or stream is malformed. what() is "source:line:column: message"; line and
/// column are 1-based, 0 when unknown. Derives from std::invalid_argument: malformed
/// input is bad input.
class FormatError : public std::invalid_argument {
 public:
  FormatError(const std::string& source, std::int64_t line, std::int64_t column, const std::string& message)
      : std::invalid_argument(compose(source, line, column, message)),
        m_source(source),
        m_line(line),
        m_column(column),
        m_message(message) {}

  const std::string& source() const noexcept { return m_source; }
  std::int64_t line() const noexcept { return m_line; }
  std::int64_t column() const noexcept { return m_column; }
  /// The message without the location prefix.
  const std::string& message() const noexcept { return m_message; }

 private:
  static std::string compose(const std::string& source, std::int64_t line, std::int64_t column,
                             const std::string& message) {
    std::ostringstream os;
    os << (source.empty() ? "<stream>" : source);
    if (line > 0) os << ':' << line;
    if (line > 0 && column > 0) os << ':' << column;
    os << ": " << message;
    return os.str();
  }

  std::string m_source;
  std::int64_t m_line;
  std::int64_t m_column;
  std::string m_message;
};

/// A file could not be opened, read, written or renamed.
class IoError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

/// NaN or infinity appeared where a finite number is required (a loss, a gradient, an
/// update). Training stops instead of silently propagating it.
class NumericalError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

namespace detail {

template <typename... Parts>
std::string concat(const Parts&... parts) {
  std::ostringstream os;
  (os << ... << parts);
  return os.str();
}

}  // namespace detail

/// Throws std::invalid_argument("<where>: <parts...>").
template <typename... Parts>
[[noreturn]] void throwInvalidArgument(std::string_view where, const Parts&... parts) {
  throw std::invalid_argument(detail::concat(where, ": ", parts...));
}

/// Throws std::invalid_argument("<where>: <message>") unless `condition` holds.
inline void checkArgument(bool condition, std::string_view where, std::string_view message) {
  if (!condition) throwInvalidArgument(where, message);
}

/// Throws "<where>: <argument> expected <expected>, got <actual>" unless `condition`.
/// The arguments are evaluated even when the check passes: for checks in loops, prefer
/// the specific helpers below, which build their message only on failure.
template <typename Expected, typename Actual>
void checkExpected(bool condition, std::string_view where, std::string_view argument, const Expected& expected,
                   const Actual& actual) {
  if (!condition) throwInvalidArgument(where, argument, " expected ", expected, ", got ", actual);
}

/// `actual == expected` (sizes, dimensions, counts).
inline void checkEqual(std::string_view where, std::string_view argument, Index expected, Index actual) {
  checkExpected(expected == actual, where, argument, expected, actual);
}

/// value > 0. NaN fails.
template <typename T>
void checkPositive(std::string_view where, std::string_view argument, T value) {
  checkExpected(value > T(0), where, argument, "> 0", value);
}

/// value >= 0. NaN fails.
template <typename T>
void checkNonNegative(std::string_view where, std::string_view argument, T value) {
  checkExpected(value >= T(0), where, argument, ">= 0", value);
}

/// lo <= value <= hi. NaN fails.
template <typename T>
void checkBetween(std::string_view where, std::string_view argument, T value, T lo, T hi) {
  if (!(value >= lo && value <= hi)) throwInvalidArgument(where, argument, " expected in [", lo, ", ", hi, "], got ", value);
}

/// lo <= value < hi. NaN fails.
template <typename T>
void checkHalfOpen(std::string_view where, std::string_view argument, T value, T lo, T hi) {
  if (!(value >= lo && value < hi)) throwInvalidArgument(where, argument, " expected in [", lo, ", ", hi, "), got ", value);
}

/// A finite number (not NaN, not +-inf).
template <typename T>
void checkFinite(std::string_view where, std::string_view argument, T value) {
  checkExpected(std::isfinite(value), where, argument, "a finite number", value);
}

/// An index into a container of `size` elements: 0 <= index < size.
inline void checkIndex(std::string_view where, std::string_view argument, Index index, Index size) {
  if (!(index >= 0 && index < size)) {
    throwInvalidArgument(where, argument, " expected an index in [0, ", size, "), got ", index);
  }
}

/// A non-empty container or dimension.
inline void checkNotEmpty(std::string_view where, std::string_view argument, Index size) {
  checkExpected(size > 0, where, argument, "a non-empty input", "size 0");
}

/// Exact matrix shape.
template <typename Derived>
void checkShape(std::string_view where, std::string_view argument, const Eigen::EigenBase<Derived>& m, Index rows,
                Index cols) {
  if (m.rows() != rows || m.cols() != cols) {
    throwInvalidArgument(where, argument, " expected shape (", rows, ", ", cols, "), got (", m.rows(), ", ", m.cols(),
                         ")");
  }
}

/// Number of rows (the feature dimension in eigenrec's layout).
template <typename Derived>
void checkRows(std::string_view where, std::string_view argument, const Eigen::EigenBase<Derived>& m, Index rows) {
  if (m.rows() != rows) throwInvalidArgument(where, argument, " expected ", rows, " rows, got ", m.rows(), " rows");
}

/// Number of columns (the batch dimension in eigenrec's layout).
template <typename Derived>
void checkCols(std::string_view where, std::string_view argument, const Eigen::EigenBase<Derived>& m, Index cols) {
  if (m.cols() != cols) {
    throwInvalidArgument(where, argument, " expected ", cols, " columns, got ", m.cols(), " columns");
  }
}

/// True when any coefficient is NaN or infinite.
template <typename Derived>
bool hasNonFinite(const Eigen::DenseBase<Derived>& m) {
  return !m.derived().array().isFinite().all();
}

/// Throws std::invalid_argument naming the first non-finite coefficient.
template <typename Derived>
void checkAllFinite(std::string_view where, std::string_view argument, const Eigen::DenseBase<Derived>& m) {
  const auto& d = m.derived();
  for (Index j = 0; j < d.cols(); ++j) {
    for (Index i = 0; i < d.rows(); ++i) {
      if (!std::isfinite(static_cast<double>(d.coeff(i, j)))) {
        throwInvalidArgument(where, argument, " expected finite values, got ", d.coeff(i, j), " at (", i, ", ", j,
                             ")");
      }
    }
  }
}

}  // namespace eigenrec

#endif  // EIGENREC_CORE_CHECKS_HPP

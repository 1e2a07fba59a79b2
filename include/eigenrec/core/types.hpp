// eigenrec/core/types.hpp: the matrix, vector and tensor aliases every module uses.
//
// Layout convention (see docs/index.md): Eigen's default column-major storage with
// features first. A batch of vectors is a (dim, n) matrix, one column per item; a
// batch of sequences is a Tensor<Scalar, 3> with dimensions (dim, length, batch), the
// same bytes as PyTorch's contiguous [batch, length, dim].
#ifndef EIGENREC_CORE_TYPES_HPP
#define EIGENREC_CORE_TYPES_HPP

#include <Eigen/Core>
#include <Eigen/SparseCore>

#include <cstdint>
#include <type_traits>

namespace eigenrec {

/// Signed index type of every size and position (Eigen's).
using Index = Eigen::Index;

/// Dense column-major matrix, shape (rows, cols).
template <typename Scalar>
using Matrix = Eigen::Matrix<Scalar, Eigen::Dynamic, Eigen::Dynamic>;

/// Dense column vector, shape (n).
template <typename Scalar>
using Vector = Eigen::Matrix<Scalar, Eigen::Dynamic, 1>;

/// Dense row vector, shape (1, n).
template <typename Scalar>
using RowVector = Eigen::Matrix<Scalar, 1, Eigen::Dynamic>;

/// Dense 2-D array (coefficient-wise arithmetic), shape (rows, cols).
template <typename Scalar>
using Array = Eigen::Array<Scalar, Eigen::Dynamic, Eigen::Dynamic>;

/// Dense 1-D array, shape (n).
template <typename Scalar>
using ArrayX = Eigen::Array<Scalar, Eigen::Dynamic, 1>;

/// Boolean matrix used for masks. eigenrec masks are always "allowed" masks: true
/// means the entry takes part, false means it is blocked.
using BoolMatrix = Eigen::Matrix<bool, Eigen::Dynamic, Eigen::Dynamic>;

/// Compressed sparse row matrix (rows = documents, users, ...), as scipy's CSR.
template <typename Scalar>
using SparseRowMatrix = Eigen::SparseMatrix<Scalar, Eigen::RowMajor, std::int64_t>;

/// Compressed sparse column matrix.
template <typename Scalar>
using SparseColMatrix = Eigen::SparseMatrix<Scalar, Eigen::ColMajor, std::int64_t>;

/// Read-only reference to any dense matrix expression with matching scalar.
template <typename Scalar>
using ConstMatrixRef = Eigen::Ref<const Matrix<Scalar>>;

/// Read-only reference to any dense vector expression with matching scalar.
template <typename Scalar>
using ConstVectorRef = Eigen::Ref<const Vector<Scalar>>;

/// Short name of a scalar type for messages and file headers: "f32", "f64", ...
template <typename Scalar>
constexpr const char* scalarName() {
  if constexpr (std::is_same_v<Scalar, float>) {
    return "f32";
  } else if constexpr (std::is_same_v<Scalar, double>) {
    return "f64";
  } else if constexpr (std::is_same_v<Scalar, std::int64_t>) {
    return "i64";
  } else if constexpr (std::is_same_v<Scalar, std::int32_t>) {
    return "i32";
  } else if constexpr (std::is_same_v<Scalar, std::uint8_t>) {
    return "u8";
  } else {
    return "unknown";
  }
}

namespace detail {
template <typename Scalar>
struct IsSupportedScalar : std::bool_constant<std::is_same_v<Scalar, float> || std::is_same_v<Scalar, double>> {};
}  // namespace detail

}  // namespace eigenrec

/// Every numeric component is templated on Scalar and supports float and double.
#define EIGENREC_STATIC_ASSERT_SCALAR(Scalar)                                   \
  static_assert(::eigenrec::detail::IsSupportedScalar<Scalar>::value,           \
                "eigenrec: Scalar must be float or double")

/// Forces a function, or a lambda (after its parameter list), inline where the compiler
/// would keep a call in a hot loop (the text module's token loops call a lookup and a
/// per-token body millions of times). Defined beforehand, the user's definition is kept.
#ifndef EIGENREC_ALWAYS_INLINE
#if defined(__GNUC__) || defined(__clang__)
#define EIGENREC_ALWAYS_INLINE __attribute__((always_inline))
#else
#define EIGENREC_ALWAYS_INLINE
#endif
#endif

#endif  // EIGENREC_CORE_TYPES_HPP

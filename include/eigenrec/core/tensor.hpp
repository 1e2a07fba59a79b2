// eigenrec/core/tensor.hpp: Eigen::Tensor aliases and the helpers that move between
// tensors and matrices without copies. Kept apart from types.hpp because the Tensor
// module is heavy to compile and only the sequence models need it.
#ifndef EIGENREC_CORE_TENSOR_HPP
#define EIGENREC_CORE_TENSOR_HPP

#include <eigenrec/core/types.hpp>

#include <unsupported/Eigen/CXX11/Tensor>

namespace eigenrec {

/// Column-major tensor of rank R. Batches of sequences are Tensor3 with dimensions
/// (dim, length, batch).
template <typename Scalar, int Rank>
using Tensor = Eigen::Tensor<Scalar, Rank, Eigen::ColMajor, Index>;

template <typename Scalar>
using Tensor3 = Tensor<Scalar, 3>;

template <typename Scalar>
using TensorMap3 = Eigen::TensorMap<Tensor3<Scalar>>;

template <typename Scalar>
using ConstTensorMap3 = Eigen::TensorMap<const Tensor3<Scalar>>;

/// View slice `n` of a (dim, length, n) tensor as a (dim, length) matrix. No copy.
template <typename Scalar>
Eigen::Map<Matrix<Scalar>> sliceMatrix(Tensor3<Scalar>& t, Index n) {
  const Index rows = t.dimension(0), cols = t.dimension(1);
  return Eigen::Map<Matrix<Scalar>>(t.data() + n * rows * cols, rows, cols);
}

template <typename Scalar>
Eigen::Map<const Matrix<Scalar>> sliceMatrix(const Tensor3<Scalar>& t, Index n) {
  const Index rows = t.dimension(0), cols = t.dimension(1);
  return Eigen::Map<const Matrix<Scalar>>(t.data() + n * rows * cols, rows, cols);
}

/// View a whole (dim, length, n) tensor as a (dim, length * n) matrix. No copy.
template <typename Scalar>
Eigen::Map<Matrix<Scalar>> flatMatrix(Tensor3<Scalar>& t) {
  return Eigen::Map<Matrix<Scalar>>(t.data(), t.dimension(0), t.dimension(1) * t.dimension(2));
}

template <typename Scalar>
Eigen::Map<const Matrix<Scalar>> flatMatrix(const Tensor3<Scalar>& t) {
  return Eigen::Map<const Matrix<Scalar>>(t.data(), t.dimension(0), t.dimension(1) * t.dimension(2));
}

}  // namespace eigenrec

#endif  // EIGENREC_CORE_TENSOR_HPP

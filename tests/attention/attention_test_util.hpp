// Shared helpers of the attention tests.
#ifndef EIGENREC_TESTS_ATTENTION_TEST_UTIL_HPP
#define EIGENREC_TESTS_ATTENTION_TEST_UTIL_HPP

#include <eigenrec/core/random.hpp>
#include <eigenrec/core/tensor.hpp>
#include <support/fixtures.hpp>

#include <type_traits>

namespace eigenrec::test {

/// Parity tolerances of the issue: 1e-5 relative in float, 1e-10 in double, with a small
/// absolute floor for values that are zero up to rounding.
template <typename Scalar>
struct AttnTol {
  static constexpr double rtol = std::is_same_v<Scalar, float> ? 1e-5 : 1e-10;
  static constexpr double atol = std::is_same_v<Scalar, float> ? 1e-6 : 1e-12;
};

/// A fixture record as a rank-3 tensor; dimensions past the third fold into the third
/// ((S, Lq, H, B) -> (S, Lq, H*B)).
template <typename Scalar>
Tensor3<Scalar> fixtureTensor3(const Fixture& f, const std::string& name) {
  const auto& r = f.record(name);
  Index d[3] = {1, 1, 1};
  for (std::size_t i = 0; i < r.dims.size(); ++i) d[std::min<std::size_t>(i, 2)] *= r.dims[i];
  Tensor3<Scalar> t(d[0], d[1], d[2]);
  for (Index i = 0; i < t.size(); ++i) t.data()[i] = static_cast<Scalar>(r.values[static_cast<std::size_t>(i)]);
  return t;
}

inline Tensor<bool, 3> fixtureMask3(const Fixture& f, const std::string& name) {
  const auto& r = f.record(name);
  Index d[3] = {1, 1, 1};
  for (std::size_t i = 0; i < r.dims.size() && i < 3; ++i) d[i] = r.dims[i];
  Tensor<bool, 3> t(d[0], d[1], d[2]);
  for (Index i = 0; i < t.size(); ++i) t.data()[i] = r.values[static_cast<std::size_t>(i)] != 0.0;
  return t;
}

/// A copy of a (d0, d1, d2) tensor as a (d0, d1 * d2) matrix (a copy, so that it can
/// be taken of temporaries inside the comparison macros).
template <typename Scalar>
Matrix<Scalar> flat(const Tensor3<Scalar>& t) {
  return Eigen::Map<const Matrix<Scalar>>(t.data(), t.dimension(0), t.dimension(1) * t.dimension(2));
}

template <typename Scalar>
Tensor3<Scalar> randomTensor3(Index a, Index b, Index c, Rng& rng, double sd = 1.0) {
  Tensor3<Scalar> t(a, b, c);
  for (Index i = 0; i < t.size(); ++i) t.data()[i] = static_cast<Scalar>(rng.normal<double>(0.0, sd));
  return t;
}

}  // namespace eigenrec::test

#define EIGENREC_REQUIRE_ATTN(S, a, b)                                                                    \
  EIGENREC_REQUIRE_CLOSE(::eigenrec::test::flat(a), ::eigenrec::test::flat(b), ::eigenrec::test::AttnTol<S>::rtol, \
                         ::eigenrec::test::AttnTol<S>::atol)

#endif  // EIGENREC_TESTS_ATTENTION_TEST_UTIL_HPP

// Shared helpers of the nn tests.
#ifndef EIGENREC_TESTS_NN_TEST_UTIL_HPP
#define EIGENREC_TESTS_NN_TEST_UTIL_HPP

#include <support/fixtures.hpp>

#include <type_traits>

namespace eigenrec::test {

/// Parity tolerances of the nn issue: 1e-5 relative in float, 1e-10 in double (plus a
/// tiny absolute floor for values that are zero up to rounding).
template <typename Scalar>
struct Tol {
  static constexpr double rtol = std::is_same_v<Scalar, float> ? 1e-5 : 1e-10;
  static constexpr double atol = std::is_same_v<Scalar, float> ? 1e-6 : 1e-12;
};

}  // namespace eigenrec::test

#define EIGENREC_REQUIRE_PARITY(S, a, b) EIGENREC_REQUIRE_CLOSE(a, b, ::eigenrec::test::Tol<S>::rtol, ::eigenrec::test::Tol<S>::atol)

#endif  // EIGENREC_TESTS_NN_TEST_UTIL_HPP

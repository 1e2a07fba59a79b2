// eigenrec/nn/init.hpp: seeded parameter initialisers (PyTorch's torch.nn.init rules).
//
// fanIn / fanOut are given explicitly because eigenrec's weight layouts differ from
// PyTorch's; each layer documents which it uses (Linear (out, in): fanIn = in,
// fanOut = out). Values are drawn in column-major order from the given Rng, so the
// same seed gives the same weights everywhere, but not PyTorch's numbers (load
// PyTorch weights through the layers' setters when you need those). The target may be a
// matrix, a block or a map.
#ifndef EIGENREC_NN_INIT_HPP
#define EIGENREC_NN_INIT_HPP

#include <eigenrec/core/checks.hpp>
#include <eigenrec/core/random.hpp>
#include <eigenrec/core/types.hpp>

#include <cmath>

namespace eigenrec::nn::init {

/// Nonlinearities for the recommended gains (torch.nn.init.calculate_gain).
enum class Nonlinearity { linear, sigmoid, tanh, relu, leakyRelu, selu };

/// Recommended gain: 1 (linear, sigmoid), 5/3 (tanh), sqrt(2) (relu),
/// sqrt(2 / (1 + slope^2)) (leaky relu), 3/4 (selu).
inline double gain(Nonlinearity f, double negativeSlope = 0.01) {
  switch (f) {
    case Nonlinearity::linear:
    case Nonlinearity::sigmoid: return 1.0;
    case Nonlinearity::tanh: return 5.0 / 3.0;
    case Nonlinearity::relu: return std::sqrt(2.0);
    case Nonlinearity::leakyRelu: return std::sqrt(2.0 / (1.0 + negativeSlope * negativeSlope));
    case Nonlinearity::selu: return 0.75;
  }
  return 1.0;
}

template <typename Derived>
void constant(const Eigen::MatrixBase<Derived>& out, double value) {
  auto& w = const_cast<Eigen::MatrixBase<Derived>&>(out);  // Eigen idiom: writable blocks and maps
  w.setConstant(static_cast<typename Derived::Scalar>(value));
}

template <typename Derived>
void zeros(const Eigen::MatrixBase<Derived>& out) {
  auto& w = const_cast<Eigen::MatrixBase<Derived>&>(out);  // Eigen idiom: writable blocks and maps
  w.setZero();
}

/// U(lo, hi). The bounds must be finite with lo <= hi.
template <typename Derived>
void uniform(const Eigen::MatrixBase<Derived>& out, double lo, double hi, Rng& rng) {
  auto& w = const_cast<Eigen::MatrixBase<Derived>&>(out);  // Eigen idiom: writable blocks and maps
  checkFinite("init::uniform", "lo", lo);
  checkFinite("init::uniform", "hi", hi);
  checkExpected(lo <= hi, "init::uniform", "bounds", "lo <= hi", eigenrec::detail::concat(lo, " > ", hi));
  using S = typename Derived::Scalar;
  for (Index j = 0; j < w.cols(); ++j)
    for (Index i = 0; i < w.rows(); ++i) w(i, j) = static_cast<S>(lo + (hi - lo) * rng.uniform<double>());
}

/// N(mean, std^2): mean finite, stddev finite and >= 0.
template <typename Derived>
void normal(const Eigen::MatrixBase<Derived>& out, double mean, double stddev, Rng& rng) {
  auto& w = const_cast<Eigen::MatrixBase<Derived>&>(out);  // Eigen idiom: writable blocks and maps
  checkFinite("init::normal", "mean", mean);
  checkExpected(std::isfinite(stddev) && stddev >= 0, "init::normal", "stddev", "finite and >= 0", stddev);
  using S = typename Derived::Scalar;
  for (Index j = 0; j < w.cols(); ++j)
    for (Index i = 0; i < w.rows(); ++i) w(i, j) = static_cast<S>(rng.normal<double>(mean, stddev));
}

/// N(mean, std^2) truncated to [a, b] (absolute bounds, as torch.nn.init.trunc_normal_):
/// mean finite, stddev finite and > 0, a < b (a bound may be infinite).
template <typename Derived>
void truncatedNormal(const Eigen::MatrixBase<Derived>& out, double mean, double stddev, double a, double b, Rng& rng) {
  auto& w = const_cast<Eigen::MatrixBase<Derived>&>(out);  // Eigen idiom: writable blocks and maps
  checkFinite("init::truncatedNormal", "mean", mean);
  checkExpected(std::isfinite(stddev) && stddev > 0, "init::truncatedNormal", "stddev", "finite and > 0", stddev);
  checkExpected(a < b, "init::truncatedNormal", "bounds", "a < b", eigenrec::detail::concat(a, " >= ", b));
  using S = typename Derived::Scalar;
  for (Index j = 0; j < w.cols(); ++j)
    for (Index i = 0; i < w.rows(); ++i) w(i, j) = static_cast<S>(rng.truncatedNormal<double>(mean, stddev, a, b));
}

/// Glorot & Bengio: U(-g sqrt(6 / (fanIn + fanOut)), +...).
template <typename Derived>
void xavierUniform(const Eigen::MatrixBase<Derived>& out, Index fanIn, Index fanOut, Rng& rng, double g = 1.0) {
  auto& w = const_cast<Eigen::MatrixBase<Derived>&>(out);  // Eigen idiom: writable blocks and maps
  checkNonNegative("init::xavierUniform", "fanIn", fanIn);
  checkNonNegative("init::xavierUniform", "fanOut", fanOut);
  checkPositive("init::xavierUniform", "fanIn + fanOut", fanIn + fanOut);
  const double bound = g * std::sqrt(6.0 / static_cast<double>(fanIn + fanOut));
  uniform(w, -bound, bound, rng);
}

/// Glorot & Bengio: N(0, g^2 * 2 / (fanIn + fanOut)).
template <typename Derived>
void xavierNormal(const Eigen::MatrixBase<Derived>& out, Index fanIn, Index fanOut, Rng& rng, double g = 1.0) {
  auto& w = const_cast<Eigen::MatrixBase<Derived>&>(out);  // Eigen idiom: writable blocks and maps
  checkNonNegative("init::xavierNormal", "fanIn", fanIn);
  checkNonNegative("init::xavierNormal", "fanOut", fanOut);
  checkPositive("init::xavierNormal", "fanIn + fanOut", fanIn + fanOut);
  normal(w, 0.0, g * std::sqrt(2.0 / static_cast<double>(fanIn + fanOut)), rng);
}

/// He et al.: U(-b, b), b = gain * sqrt(3 / fan). With the defaults (leaky relu, slope
/// sqrt(5)) and fan = fanIn this is PyTorch's default Linear / Conv1d weight init,
/// b = 1 / sqrt(fanIn).
template <typename Derived>
void kaimingUniform(const Eigen::MatrixBase<Derived>& out, Index fan, Rng& rng,
                    Nonlinearity f = Nonlinearity::leakyRelu, double negativeSlope = std::sqrt(5.0)) {
  auto& w = const_cast<Eigen::MatrixBase<Derived>&>(out);  // Eigen idiom: writable blocks and maps
  checkPositive("init::kaimingUniform", "fan", fan);
  const double bound = gain(f, negativeSlope) * std::sqrt(3.0 / static_cast<double>(fan));
  uniform(w, -bound, bound, rng);
}

/// He et al.: N(0, (gain / sqrt(fan))^2).
template <typename Derived>
void kaimingNormal(const Eigen::MatrixBase<Derived>& out, Index fan, Rng& rng, Nonlinearity f = Nonlinearity::relu,
                   double negativeSlope = 0.0) {
  auto& w = const_cast<Eigen::MatrixBase<Derived>&>(out);  // Eigen idiom: writable blocks and maps
  checkPositive("init::kaimingNormal", "fan", fan);
  normal(w, 0.0, gain(f, negativeSlope) / std::sqrt(static_cast<double>(fan)), rng);
}

}  // namespace eigenrec::nn::init

#endif  // EIGENREC_NN_INIT_HPP

// eigenrec/core/random.hpp: a small, fully specified random number engine and the
// distributions the library draws from.
//
// std:: distributions may give different values on different standard libraries, so
// every stochastic component of eigenrec draws through Rng. A seed gives the same
// numbers on every platform. There is no global engine: components take a seed or an
// Rng&. Parallel work seeds one engine per shard with Rng::forShard(seed, shard), where
// shards are fixed-size pieces of the work that do not depend on the thread count.
#ifndef EIGENREC_CORE_RANDOM_HPP
#define EIGENREC_CORE_RANDOM_HPP

#include <eigenrec/core/checks.hpp>
#include <eigenrec/core/types.hpp>

#include <array>
#include <cmath>
#include <cstdint>
#include <limits>
#include <utility>
#include <vector>

namespace eigenrec {

/// splitmix64 (Steele, Lea & Flood 2014): expands one 64-bit seed into a stream of
/// well-mixed words. Used to seed Rng.
class SplitMix64 {
 public:
  explicit SplitMix64(std::uint64_t seed) noexcept : m_state(seed) {}
  std::uint64_t next() noexcept {
    std::uint64_t z = (m_state += 0x9E3779B97F4A7C15ULL);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
    return z ^ (z >> 31);
  }

 private:
  std::uint64_t m_state;
};

/// xoshiro256** (Blackman & Vigna 2018) seeded through splitmix64. Satisfies
/// UniformRandomBitGenerator, so it also works with <random> and <algorithm>.
class Rng {
 public:
  using result_type = std::uint64_t;
  using State = std::array<std::uint64_t, 4>;

  /// Engine seeded from `seed` (any value, including 0).
  explicit Rng(std::uint64_t seed = 0x2545F4914F6CDD1DULL) noexcept { reseed(seed); }

  /// Independent engine for shard `shard` of a job seeded with `seed`. The result
  /// depends only on (seed, shard), never on which thread runs the shard.
  static Rng forShard(std::uint64_t seed, std::uint64_t shard) noexcept {
    SplitMix64 mix(shard ^ 0xD1B54A32D192ED03ULL);
    return Rng(SplitMix64(seed).next() ^ mix.next());
  }

  void reseed(std::uint64_t seed) noexcept {
    SplitMix64 sm(seed);
    for (auto& word : m_s) word = sm.next();
    m_hasSpare = false;
    m_spare = 0.0;
  }

  static constexpr result_type min() noexcept { return 0; }
  static constexpr result_type max() noexcept { return std::numeric_limits<result_type>::max(); }

  /// Next raw 64-bit word.
  result_type operator()() noexcept { return next(); }

  result_type next() noexcept {
    const std::uint64_t result = rotl(m_s[1] * 5, 7) * 9;
    const std::uint64_t t = m_s[1] << 17;
    m_s[2] ^= m_s[0];
    m_s[3] ^= m_s[1];
    m_s[1] ^= m_s[2];
    m_s[0] ^= m_s[3];
    m_s[2] ^= t;
    m_s[3] = rotl(m_s[3], 45);
    return result;
  }

  /// Uniform in [0, 1): 24 random bits for float, 53 for double.
  template <typename Scalar = double>
  Scalar uniform() noexcept {
    if constexpr (std::is_same_v<Scalar, float>) {
      return static_cast<float>(next() >> 40) * 0x1.0p-24f;
    } else {
      return static_cast<Scalar>(static_cast<double>(next() >> 11) * 0x1.0p-53);
    }
  }

  /// Uniform in [lo, hi).
  template <typename Scalar>
  Scalar uniform(Scalar lo, Scalar hi) noexcept {
    return lo + (hi - lo) * uniform<Scalar>();
  }

  /// Uniform integer in [0, n), unbiased (Lemire's multiply-and-reject).
  /// @throws std::invalid_argument if n == 0 (the range [0, 0) is empty)
  std::uint64_t uniformInt(std::uint64_t n) {
    if (n == 0) throwInvalidArgument("Rng::uniformInt", "n expected > 0, got 0 (the range [0, n) is empty)");
    return uniformIntUnchecked(n);
  }

  /// Uniform index in [0, n).
  /// @throws std::invalid_argument if n <= 0
  Index uniformIndex(Index n) {
    if (n <= 0) throwInvalidArgument("Rng::uniformIndex", "n expected > 0, got ", n, " (the range [0, n) is empty)");
    return static_cast<Index>(uniformIntUnchecked(static_cast<std::uint64_t>(n)));
  }

  /// True with probability p.
  bool bernoulli(double p) noexcept { return uniform<double>() < p; }

  /// Standard normal by the Box-Muller transform (the second value of each pair is
  /// kept for the next call), scaled to N(mean, stddev^2). stddev = 0 gives `mean`.
  /// @throws std::invalid_argument unless mean is finite and stddev finite and >= 0
  template <typename Scalar = double>
  Scalar normal(Scalar mean = Scalar(0), Scalar stddev = Scalar(1)) {
    // One test on the fast path (NaN and +-inf fail a comparison); the message is built out of line.
    constexpr Scalar kMax = std::numeric_limits<Scalar>::max();
    if (!(std::abs(mean) <= kMax && stddev >= Scalar(0) && stddev <= kMax)) badNormal("Rng::normal", mean, stddev);
    double z;
    if (m_hasSpare) {
      m_hasSpare = false;
      z = m_spare;
    } else {
      double u1;
      do {
        u1 = uniform<double>();
      } while (u1 <= 0.0);
      const double u2 = uniform<double>();
      const double radius = std::sqrt(-2.0 * std::log(u1));
      const double angle = 6.283185307179586476925 * u2;
      z = radius * std::cos(angle);
      m_spare = radius * std::sin(angle);
      m_hasSpare = true;
    }
    return static_cast<Scalar>(mean + stddev * z);
  }

  /// Normal N(mean, stddev^2) truncated to [a, b] (absolute bounds, as PyTorch's
  /// trunc_normal_), drawn by inverting the CDF so it never loops. The bounds may be
  /// infinite (one-sided truncation).
  /// @throws std::invalid_argument unless mean is finite, stddev finite and > 0, and
  ///         a < b (NaN bounds fail)
  template <typename Scalar = double>
  Scalar truncatedNormal(Scalar mean, Scalar stddev, Scalar a, Scalar b);

  /// Engine state, for saving and resuming a stochastic computation.
  State state() const noexcept { return m_s; }
  void setState(const State& s) noexcept {
    m_s = s;
    m_hasSpare = false;
  }

 private:
  static std::uint64_t rotl(std::uint64_t x, int k) noexcept { return (x << k) | (x >> (64 - k)); }

  // Builds the message only on failure, out of the callers' fast paths.
  template <typename Scalar>
  [[noreturn]] static void badNormal(const char* where, Scalar mean, Scalar stddev) {
    if (!std::isfinite(mean)) throwInvalidArgument(where, "mean expected a finite number, got ", mean);
    throwInvalidArgument(where, "stddev expected finite and >= 0, got ", stddev);
  }

  // Lemire's method; n > 0.
  std::uint64_t uniformIntUnchecked(std::uint64_t n) noexcept {
    eigen_assert(n > 0);
    __extension__ using U128 = unsigned __int128;
    U128 m = static_cast<U128>(next()) * n;
    auto low = static_cast<std::uint64_t>(m);
    if (low < n) {
      const std::uint64_t threshold = (0 - n) % n;
      while (low < threshold) {
        m = static_cast<U128>(next()) * n;
        low = static_cast<std::uint64_t>(m);
      }
    }
    return static_cast<std::uint64_t>(m >> 64);
  }

  State m_s{};
  bool m_hasSpare = false;
  double m_spare = 0.0;
};

namespace detail {

inline double normalCdf(double x) { return 0.5 * std::erfc(-x / std::sqrt(2.0)); }

/// Inverse error function on (-1, 1): Giles' approximation refined by Newton steps on
/// erf, accurate to double rounding.
inline double erfinv(double y) {
  if (y <= -1.0) return -std::numeric_limits<double>::infinity();
  if (y >= 1.0) return std::numeric_limits<double>::infinity();
  double w = -std::log((1.0 - y) * (1.0 + y));
  double x;
  if (w < 5.0) {
    w -= 2.5;
    double p = 2.81022636e-08;
    p = 3.43273939e-07 + p * w;
    p = -3.5233877e-06 + p * w;
    p = -4.39150654e-06 + p * w;
    p = 0.00021858087 + p * w;
    p = -0.00125372503 + p * w;
    p = -0.00417768164 + p * w;
    p = 0.246640727 + p * w;
    p = 1.50140941 + p * w;
    x = p * y;
  } else {
    w = std::sqrt(w) - 3.0;
    double p = -0.000200214257;
    p = 0.000100950558 + p * w;
    p = 0.00134934322 + p * w;
    p = -0.00367342844 + p * w;
    p = 0.00573950773 + p * w;
    p = -0.0076224613 + p * w;
    p = 0.00943887047 + p * w;
    p = 1.00167406 + p * w;
    p = 2.83297682 + p * w;
    x = p * y;
  }
  const double twoOverSqrtPi = 1.1283791670955125739;
  for (int i = 0; i < 2; ++i) {
    const double err = std::erf(x) - y;
    x -= err / (twoOverSqrtPi * std::exp(-x * x));
  }
  return x;
}

}  // namespace detail

template <typename Scalar>
Scalar Rng::truncatedNormal(Scalar mean, Scalar stddev, Scalar a, Scalar b) {
  constexpr Scalar kMax = std::numeric_limits<Scalar>::max();
  if (!(std::abs(mean) <= kMax && stddev > Scalar(0) && stddev <= kMax && a < b)) {
    const char* where = "Rng::truncatedNormal";
    if (!std::isfinite(mean)) throwInvalidArgument(where, "mean expected a finite number, got ", mean);
    if (!(stddev > Scalar(0) && stddev <= kMax)) throwInvalidArgument(where, "stddev expected finite and > 0, got ", stddev);
    throwInvalidArgument(where, "bounds expected a < b, got a = ", a, ", b = ", b);
  }
  const double m = mean, s = stddev;
  const double lo = detail::normalCdf((static_cast<double>(a) - m) / s);
  const double hi = detail::normalCdf((static_cast<double>(b) - m) / s);
  const double u = uniform<double>(2.0 * lo - 1.0, 2.0 * hi - 1.0);
  double x = m + s * std::sqrt(2.0) * detail::erfinv(u);
  x = std::min(std::max(x, static_cast<double>(a)), static_cast<double>(b));
  return static_cast<Scalar>(x);
}

/// Fisher-Yates shuffle of [first, last) with `rng` (platform-independent, unlike
/// std::shuffle).
template <typename RandomIt>
void shuffle(RandomIt first, RandomIt last, Rng& rng) {
  const auto n = last - first;
  for (auto i = n - 1; i > 0; --i) {
    const auto j = static_cast<decltype(i)>(rng.uniformInt(static_cast<std::uint64_t>(i) + 1));
    using std::swap;
    swap(first[i], first[j]);
  }
}

/// Walker's alias table (Vose's construction): draws index i with probability
/// w_i / sum(w) in O(1). Weights must be finite, non-negative, with a positive sum.
class AliasTable {
 public:
  AliasTable() = default;

  explicit AliasTable(const std::vector<double>& weights) { build(weights); }

  template <typename Derived>
  explicit AliasTable(const Eigen::DenseBase<Derived>& weights) {
    std::vector<double> w(static_cast<std::size_t>(weights.size()));
    for (Index i = 0; i < weights.size(); ++i) w[static_cast<std::size_t>(i)] = static_cast<double>(weights(i));
    build(w);
  }

  /// Number of outcomes.
  Index size() const noexcept { return static_cast<Index>(m_accept.size()); }

  /// Normalised probability of outcome i.
  double probability(Index i) const {
    checkIndex("AliasTable::probability", "i", i, size());
    return m_probability[static_cast<std::size_t>(i)];
  }

  /// One draw. @throws std::invalid_argument on a default-constructed (empty) table.
  Index sample(Rng& rng) const {
    if (m_accept.empty()) throwInvalidArgument("AliasTable::sample", "the table is empty (default-constructed)");
    const auto column = static_cast<std::size_t>(rng.uniformInt(m_accept.size()));
    return rng.uniform<double>() < m_accept[column] ? static_cast<Index>(column) : m_alias[column];
  }

 private:
  void build(const std::vector<double>& weights) {
    const char* where = "AliasTable";
    checkNotEmpty(where, "weights", static_cast<Index>(weights.size()));
    double total = 0.0;
    for (std::size_t i = 0; i < weights.size(); ++i) {
      if (!(std::isfinite(weights[i]) && weights[i] >= 0.0)) {
        throwInvalidArgument(where, "weights[", i, "] expected finite and >= 0, got ", weights[i]);
      }
      total += weights[i];
    }
    checkExpected(total > 0.0 && std::isfinite(total), where, "sum of weights", "finite and > 0", total);
    const std::size_t n = weights.size();
    m_probability.resize(n);
    m_accept.assign(n, 1.0);
    m_alias.resize(n);
    std::vector<double> scaled(n);
    std::vector<std::size_t> small, large;
    for (std::size_t i = 0; i < n; ++i) {
      m_probability[i] = weights[i] / total;
      scaled[i] = m_probability[i] * static_cast<double>(n);
      m_alias[i] = static_cast<Index>(i);
      (scaled[i] < 1.0 ? small : large).push_back(i);
    }
    while (!small.empty() && !large.empty()) {
      const std::size_t s = small.back(), l = large.back();
      small.pop_back();
      m_accept[s] = scaled[s];
      m_alias[s] = static_cast<Index>(l);
      scaled[l] = (scaled[l] + scaled[s]) - 1.0;
      if (scaled[l] < 1.0) {
        large.pop_back();
        small.push_back(l);
      }
    }
    // Whatever is left has scaled weight 1 up to rounding: always accept.
    for (std::size_t i : small) m_accept[i] = 1.0;
    for (std::size_t i : large) m_accept[i] = 1.0;
  }

  std::vector<double> m_probability;
  std::vector<double> m_accept;
  std::vector<Index> m_alias;
};

}  // namespace eigenrec

#endif  // EIGENREC_CORE_RANDOM_HPP

// eigenrec/ctr/ffm.hpp: field-aware factorization machines (Juan et al., RecSys 2016)
// with libffm's model and trainer as the default.
//
// Model (libffm, ffm.cpp): for an example x with entries (f_e, j_e, x_e),
//   phi(x) = sum_{e1 < e2} <w[j_e1, f_e2], w[j_e2, f_e1]> * x_e1 * x_e2 * r
// with r = 1 / sum_e x_e^2 (instance-wise normalisation, on by default) or 1, and
// P(click | x) = 1 / (1 + exp(-phi)). libffm has no bias and no linear term; the options
// useBias / useLinear add b + sum_e u[j_e] * x_e * sqrt(r) (libffm issue #35).
// Entries with a feature >= numFeatures() or a field >= numFields() are skipped.
//
// Training (libffm): logistic loss log(1 + exp(-y phi)), y = +1 if label > 0 else -1;
// per example kappa = -y / (1 + exp(y phi)) and for every pair, in libffm's order (e1
// outer, e2 inner), with v = x_e1 x_e2 r and both gradients taken before either vector
// moves:
//   g1 = lambda w1 + kappa v w2,   g2 = lambda w2 + kappa v w1,
//   G1 += g1^2,  G2 += g2^2,       w1 -= eta / sqrt(G1) g1,  w2 -= eta / sqrt(G2) g2,
// coordinate-wise AdaGrad whose accumulators G start at 1. Weights start at
// U[0, 1) / sqrt(k). Each epoch visits the blocks in random order and the examples of
// a block in random order (libffm's on-disk trainer; in memory there is one block).
//
// Storage: one aligned block of 2 * kPad scalars per (feature, field): the latent
// vector (k values, zero-padded to kPad = k rounded up to 4) then its accumulators, as
// libffm. The score accumulates in SIMD lanes (fixed-size Eigen arrays for kPad in
// {4, 8, 16, 32}); the update uses SSE2 / AVX intrinsics with exact IEEE sqrt and
// division, bit-identical to the scalar formula. approximateRsqrt switches to the step
// of libffm's SSE build, w -= eta * rsqrt(G) g with the CPU's approximate rsqrt, which
// is not bound by the divider.
#ifndef EIGENREC_CTR_FFM_HPP
#define EIGENREC_CTR_FFM_HPP

#include <eigenrec/core/checks.hpp>
#include <eigenrec/core/math.hpp>
#include <eigenrec/core/memory.hpp>
#include <eigenrec/core/parallel.hpp>
#include <eigenrec/core/progress.hpp>
#include <eigenrec/core/random.hpp>
#include <eigenrec/core/serialize.hpp>
#include <eigenrec/core/types.hpp>
#include <eigenrec/ctr/sparse_batch.hpp>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <istream>
#include <limits>
#include <numeric>
#include <ostream>
#include <string>
#include <type_traits>
#include <vector>

#if defined(__SSE2__) || defined(__AVX__)
#include <immintrin.h>
#endif

namespace eigenrec::ctr {

/// Options of FieldAwareFM. Defaults are libffm's (ffm-train without flags).
struct FfmOptions {
  Index factors = 4;             ///< latent dimension k (libffm -k)
  double learningRate = 0.2;     ///< AdaGrad step eta (-r)
  double lambda = 2e-5;          ///< L2 regularisation of the latent vectors (-l)
  int epochs = 15;               ///< passes over the training data (-t)
  bool normalize = true;         ///< instance-wise normalisation r = 1/||x||^2 (--no-norm turns off)
  bool autoStop = false;         ///< stop when the validation loss goes up, keep the best model (--auto-stop)
  int threads = 1;               ///< Hogwild threads (-s); 0 = all cores; > 1 is nondeterministic
  bool shuffle = true;           ///< random example order each epoch (libffm 1.2x --no-rand turns off)
  bool useBias = false;          ///< add a global bias b (not in libffm)
  bool useLinear = false;        ///< add linear weights u_j (not in libffm)
  double linearLambda = 2e-5;    ///< L2 regularisation of u (the bias is not regularised)
  double initialAccumulator = 1; ///< AdaGrad accumulators' start value G0 (libffm: 1)
  Index numFeatures = 0;         ///< feature space; 0 = one more than the largest training feature
  Index numFields = 0;           ///< field space; 0 = one more than the largest training field
  std::uint64_t seed = 1;        ///< initialisation and shuffling
  bool warmStart = false;        ///< fit() continues from the current weights if shapes allow
  /// libffm's SSE step w -= eta * rsqrt(G) * g with the CPU's approximate rsqrt (float on
  /// x86; the update kernel 1.2-1.45x faster at k = 8; the bytes depend on the CPU), instead of the exact
  /// eta / sqrt(G) * g (--rsqrt)
  bool approximateRsqrt = false;
  ProgressCallback progress;     ///< examples processed, per epoch
  EpochCallback onEpoch;         ///< called after each epoch

  void validate(std::string_view where = "FfmOptions") const {
    checkBetween(where, "factors", factors, Index(1), Index(4096));
    checkExpected(std::isfinite(learningRate) && learningRate > 0, where, "learningRate", "finite and > 0", learningRate);
    checkExpected(std::isfinite(lambda) && lambda >= 0, where, "lambda", "finite and >= 0", lambda);
    checkExpected(std::isfinite(linearLambda) && linearLambda >= 0, where, "linearLambda", "finite and >= 0",
                  linearLambda);
    checkExpected(std::isfinite(initialAccumulator) && initialAccumulator > 0, where, "initialAccumulator",
                  "finite and > 0", initialAccumulator);
    checkNonNegative(where, "epochs", epochs);
    checkNonNegative(where, "threads", threads);
    checkNonNegative(where, "numFeatures", numFeatures);
    checkNonNegative(where, "numFields", numFields);
  }
};

namespace detail {

// One usable entry of an example: row = feature * numFields (the first block of the
// feature), its feature and field, and its value.
template <typename Scalar>
struct FfmNode {
  std::int64_t row;
  std::int32_t feature;
  std::int32_t field;
  Scalar value;
};

// phi's pairwise part for one example, K = padded latent size at compile time (0 =
// runtime kPad). W points at the first block; block (j, f) starts at (j*m + f)*2*kPad.
template <typename Scalar, int K>
Scalar ffmPairwise(const Scalar* W, Index kPad, const FfmNode<Scalar>* nodes, Index len, Scalar r) {
  const Index stride = 2 * kPad;
  if constexpr (K > 0) {
    using Lane = Eigen::Array<Scalar, K, 1>;
    Lane acc = Lane::Zero();
    for (Index a = 0; a < len; ++a) {
      const auto& n1 = nodes[a];
      for (Index b = a + 1; b < len; ++b) {
        const auto& n2 = nodes[b];
        Eigen::Map<const Lane, Eigen::Aligned16> w1(W + (n1.row + n2.field) * stride);
        Eigen::Map<const Lane, Eigen::Aligned16> w2(W + (n2.row + n1.field) * stride);
        acc += w1 * w2 * (n1.value * n2.value * r);
      }
    }
    Scalar t = 0;
    for (int d = 0; d < K; ++d) t += acc[d];  // (not Eigen's sum(): GCC 12 AVX-512 false positive)
    return t;
  } else {
    Scalar t = 0;
    for (Index a = 0; a < len; ++a) {
      const auto& n1 = nodes[a];
      for (Index b = a + 1; b < len; ++b) {
        const auto& n2 = nodes[b];
        Eigen::Map<const ArrayX<Scalar>, Eigen::Aligned16> w1(W + (n1.row + n2.field) * stride, kPad);
        Eigen::Map<const ArrayX<Scalar>, Eigen::Aligned16> w2(W + (n2.row + n1.field) * stride, kPad);
        t += (w1 * w2).sum() * (n1.value * n2.value * r);
      }
    }
    return t;
  }
}

// libffm's per-coordinate AdaGrad update of one pair over n coordinates: w1 with its
// accumulators G1, w2 with G2, none overlapping. Every lane computes exactly the scalar
// expressions g = lambda w + kv w_other, G += g^2 and then
// - the exact step (Rsqrt = false): w -= eta / sqrt(G) * g, IEEE sqrt and division;
// - libffm's SSE step (Rsqrt = true; its default build), float only:
//   w -= eta * (rsqrt(G) * g) with the CPU's approximate reciprocal square root (about
//   12 bits), which is not bound by the divider. rsqrtps / vrsqrtps / rsqrtss agree on
//   one CPU, so results do not depend on the vector width; they do depend on the CPU
//   (vendors' tables differ). Without SSE it is eta * ((1 / sqrt(G)) * g); double keeps
//   the exact step.
// x86 runs the lanes with SSE2 / AVX intrinsics, the remainder (and other CPUs) the
// scalar loop. (Compilers do not vectorise the scalar loop: sqrt keeps errno semantics;
// and Eigen's float sqrt is approximate under EIGEN_FAST_MATH.)
inline float ffmRsqrt(float x) {
#if defined(__SSE__)
  return _mm_cvtss_f32(_mm_rsqrt_ss(_mm_set_ss(x)));
#else
  return 1.0f / std::sqrt(x);
#endif
}

// Rsqrt is float only: FieldAwareFM<double> always takes the exact step (ffmUpdate checks).
template <bool Rsqrt, typename Scalar>
inline Scalar ffmStep(Scalar eta, Scalar G, Scalar g) {
  if constexpr (Rsqrt) {
    return eta * (ffmRsqrt(G) * g);
  } else {
    return eta / std::sqrt(G) * g;
  }
}

// The intrinsics of one register type, for ffmPairLanes.
#if defined(__SSE2__)
struct FfmSseFloat {
  using V = __m128;
  static constexpr Index kWidth = 4;
  static V set1(float x) { return _mm_set1_ps(x); }
  static V load(const float* p) { return _mm_loadu_ps(p); }
  static void store(float* p, V v) { _mm_storeu_ps(p, v); }
  static V add(V a, V b) { return _mm_add_ps(a, b); }
  static V sub(V a, V b) { return _mm_sub_ps(a, b); }
  static V mul(V a, V b) { return _mm_mul_ps(a, b); }
  static V div(V a, V b) { return _mm_div_ps(a, b); }
  static V sqrt(V a) { return _mm_sqrt_ps(a); }
  static V rsqrt(V a) { return _mm_rsqrt_ps(a); }
};
struct FfmSseDouble {
  using V = __m128d;
  static constexpr Index kWidth = 2;
  static V set1(double x) { return _mm_set1_pd(x); }
  static V load(const double* p) { return _mm_loadu_pd(p); }
  static void store(double* p, V v) { _mm_storeu_pd(p, v); }
  static V add(V a, V b) { return _mm_add_pd(a, b); }
  static V sub(V a, V b) { return _mm_sub_pd(a, b); }
  static V mul(V a, V b) { return _mm_mul_pd(a, b); }
  static V div(V a, V b) { return _mm_div_pd(a, b); }
  static V sqrt(V a) { return _mm_sqrt_pd(a); }
};
#endif
#if defined(__AVX__)
struct FfmAvxFloat {
  using V = __m256;
  static constexpr Index kWidth = 8;
  static V set1(float x) { return _mm256_set1_ps(x); }
  static V load(const float* p) { return _mm256_loadu_ps(p); }
  static void store(float* p, V v) { _mm256_storeu_ps(p, v); }
  static V add(V a, V b) { return _mm256_add_ps(a, b); }
  static V sub(V a, V b) { return _mm256_sub_ps(a, b); }
  static V mul(V a, V b) { return _mm256_mul_ps(a, b); }
  static V div(V a, V b) { return _mm256_div_ps(a, b); }
  static V sqrt(V a) { return _mm256_sqrt_ps(a); }
  static V rsqrt(V a) { return _mm256_rsqrt_ps(a); }
};
struct FfmAvxDouble {
  using V = __m256d;
  static constexpr Index kWidth = 4;
  static V set1(double x) { return _mm256_set1_pd(x); }
  static V load(const double* p) { return _mm256_loadu_pd(p); }
  static void store(double* p, V v) { _mm256_storeu_pd(p, v); }
  static V add(V a, V b) { return _mm256_add_pd(a, b); }
  static V sub(V a, V b) { return _mm256_sub_pd(a, b); }
  static V mul(V a, V b) { return _mm256_mul_pd(a, b); }
  static V div(V a, V b) { return _mm256_div_pd(a, b); }
  static V sqrt(V a) { return _mm256_sqrt_pd(a); }
};
#endif

// Coordinates [d, ...) of ffmAdagradPair in whole registers of T; returns where it stopped.
template <bool Rsqrt, class T, typename Scalar>
inline Index ffmPairLanes(Scalar* w1, Scalar* G1, Scalar* w2, Scalar* G2, Index d, Index n, Scalar kv, Scalar eta,
                          Scalar lambda) {
  using V = typename T::V;
  const V K = T::set1(kv), L = T::set1(lambda), E = T::set1(eta);
  for (; d + T::kWidth <= n; d += T::kWidth) {
    const V a = T::load(w1 + d), b = T::load(w2 + d);
    const V g1 = T::add(T::mul(L, a), T::mul(K, b));
    const V g2 = T::add(T::mul(L, b), T::mul(K, a));
    const V A = T::add(T::load(G1 + d), T::mul(g1, g1));
    const V B = T::add(T::load(G2 + d), T::mul(g2, g2));
    T::store(G1 + d, A);
    T::store(G2 + d, B);
    if constexpr (Rsqrt) {
      T::store(w1 + d, T::sub(a, T::mul(E, T::mul(T::rsqrt(A), g1))));
      T::store(w2 + d, T::sub(b, T::mul(E, T::mul(T::rsqrt(B), g2))));
    } else {
      T::store(w1 + d, T::sub(a, T::mul(T::div(E, T::sqrt(A)), g1)));
      T::store(w2 + d, T::sub(b, T::mul(T::div(E, T::sqrt(B)), g2)));
    }
  }
  return d;
}

template <bool Rsqrt, typename Scalar>
inline void ffmAdagradPair(Scalar* w1, Scalar* G1, Scalar* w2, Scalar* G2, Index n, Scalar kv, Scalar eta,
                           Scalar lambda) {
  constexpr bool isFloat = std::is_same_v<Scalar, float>;
  Index d = 0;
#if defined(__AVX__)
  using Avx = std::conditional_t<isFloat, FfmAvxFloat, FfmAvxDouble>;
  d = ffmPairLanes<Rsqrt, Avx>(w1, G1, w2, G2, d, n, kv, eta, lambda);
#endif
#if defined(__SSE2__)
  using Sse = std::conditional_t<isFloat, FfmSseFloat, FfmSseDouble>;
  d = ffmPairLanes<Rsqrt, Sse>(w1, G1, w2, G2, d, n, kv, eta, lambda);
#endif
  for (; d < n; ++d) {
    const Scalar g1 = lambda * w1[d] + kv * w2[d];
    const Scalar g2 = lambda * w2[d] + kv * w1[d];
    G1[d] += g1 * g1;
    G2[d] += g2 * g2;
    w1[d] -= ffmStep<Rsqrt>(eta, G1[d], g1);
    w2[d] -= ffmStep<Rsqrt>(eta, G2[d], g2);
  }
}

// Same, when both sides are one block (a feature repeated in its own field).
// - Exact step: the scalar order of libffm's portable loop, where the second write sees
//   the first (G gets both squares, w both steps).
// - libffm's SSE step: it loads both sides, then stores w1, w2, G1, G2, so the second
//   side's values are kept: G += g^2 and w -= eta * (rsqrt(G) * g) once, with
//   g = lambda w + kv w.
template <bool Rsqrt, typename Scalar>
inline void ffmPairUpdateSame(Scalar* p, Index kPad, Scalar kv, Scalar eta, Scalar lambda) {
  Scalar* w = p;
  Scalar* G = p + kPad;
  for (Index d = 0; d < kPad; ++d) {
    if constexpr (Rsqrt) {
      const Scalar g = lambda * w[d] + kv * w[d];
      G[d] += g * g;
      w[d] -= ffmStep<true>(eta, G[d], g);
    } else {
      const Scalar g1 = lambda * w[d] + kv * w[d];
      const Scalar g2 = lambda * w[d] + kv * w[d];
      G[d] += g1 * g1;
      G[d] += g2 * g2;
      w[d] -= ffmStep<false>(eta, G[d], g1);
      w[d] -= ffmStep<false>(eta, G[d], g2);
    }
  }
}

// Cache lines to prefetch during an update, spread evenly over its `pairs` pairs.
struct PrefetchList {
  const char* const* next = nullptr;
  const char* const* end = nullptr;
  Index pairs = 1;
};

// The update of one example's pairs; the divider-bound loop also issues the prefetches
// of `prefetch` (the next example's rows), whose misses then overlap with this work.
template <typename Scalar, int K, bool Rsqrt>
void ffmUpdate(Scalar* W, Index kPad, const FfmNode<Scalar>* nodes, Index len, Scalar r, Scalar kappa, Scalar eta,
               Scalar lambda, PrefetchList prefetch = {}) {
  static_assert(!Rsqrt || std::is_same_v<Scalar, float>, "the rsqrt step is float only");
  const Index stride = 2 * kPad;
  const Index lines = prefetch.end - prefetch.next;
  Index credit = 0;
  for (Index a = 0; a < len; ++a) {
    const auto& n1 = nodes[a];
    for (Index b = a + 1; b < len; ++b) {
      for (credit += lines; credit >= prefetch.pairs && prefetch.next != prefetch.end; credit -= prefetch.pairs) {
        __builtin_prefetch(*prefetch.next++, 1, 2);  // for writing, into L2
      }
      const auto& n2 = nodes[b];
      Scalar* p1 = W + (n1.row + n2.field) * stride;
      Scalar* p2 = W + (n2.row + n1.field) * stride;
      const Scalar kv = kappa * (n1.value * n2.value * r);
      if (p1 != p2) {
        const Index n = K > 0 ? Index(K) : kPad;
        ffmAdagradPair<Rsqrt>(p1, p1 + n, p2, p2 + n, n, kv, eta, lambda);
      } else {
        ffmPairUpdateSame<Rsqrt>(p1, kPad, kv, eta, lambda);
      }
    }
  }
}

}  // namespace detail

/// Field-aware factorization machine for binary classification (see the file comment).
///
/// Shapes: numFeatures() = n, numFields() = m, factors() = k; latent(j, f) is the (k)
/// vector w[j, f] that feature j uses against field f. Inputs are SparseBatch examples;
/// predictions are (n_examples) probabilities.
template <typename Scalar = float>
class FieldAwareFM {
  EIGENREC_STATIC_ASSERT_SCALAR(Scalar);

 public:
  static constexpr const char* kKind = "ctr.FieldAwareFM";
  static constexpr std::uint32_t kKindVersion = 1;

  explicit FieldAwareFM(FfmOptions options = {}) : m_options(std::move(options)) {
    m_options.validate("FieldAwareFM");
  }

  const FfmOptions& options() const noexcept { return m_options; }
  /// Replaces the training options (the model's shape is kept).
  void setOptions(FfmOptions options) {
    options.validate("FieldAwareFM::setOptions");
    m_options = std::move(options);
  }

  /// Allocates an n x m model and initialises it from the seed: w ~ U[0,1)/sqrt(k), the
  /// padding 0, accumulators G0, bias and linear weights 0.
  void initialize(Index numFeatures, Index numFields) {
    const char* where = "FieldAwareFM::initialize";
    checkBetween(where, "numFeatures", numFeatures, Index(1), SparseBatch<Scalar>::kMaxIndex + 1);
    checkBetween(where, "numFields", numFields, Index(1), SparseBatch<Scalar>::kMaxIndex + 1);
    const Index k = m_options.factors;
    const Index kPad = (k + 3) / 4 * 4;
    const double bytes = 2.0 * double(kPad) * double(numFeatures) * double(numFields) * double(sizeof(Scalar));
    checkExpected(bytes < 0x1p44, where, "model size", "< 16 TiB", eigenrec::detail::concat(bytes, " bytes"));
    m_n = numFeatures;
    m_m = numFields;
    m_k = k;
    m_kPad = kPad;
    m_normalize = m_options.normalize;
    m_useBias = m_options.useBias;
    m_useLinear = m_options.useLinear;
    const std::size_t blocks = static_cast<std::size_t>(m_n) * static_cast<std::size_t>(m_m);
    m_W.assign(blocks * static_cast<std::size_t>(2 * kPad), Scalar(0));
    Rng rng(m_options.seed);
    const Scalar coef = Scalar(1) / std::sqrt(static_cast<Scalar>(k));
    const auto g0 = static_cast<Scalar>(m_options.initialAccumulator);
    Scalar* w = m_W.data();
    for (std::size_t b = 0; b < blocks; ++b, w += 2 * kPad) {
      for (Index d = 0; d < kPad; ++d) {
        w[d] = d < k ? coef * rng.uniform<Scalar>() : Scalar(0);
        w[kPad + d] = g0;
      }
    }
    m_bias = 0;
    m_biasG = g0;
    m_linear.assign(static_cast<std::size_t>(m_n), Scalar(0));
    m_linearG.assign(static_cast<std::size_t>(m_n), g0);
    m_rng = rng;
  }

  bool initialized() const noexcept { return m_n > 0; }
  Index numFeatures() const noexcept { return m_n; }
  Index numFields() const noexcept { return m_m; }
  Index factors() const noexcept { return m_k; }
  bool normalized() const noexcept { return m_normalize; }
  bool hasBias() const noexcept { return m_useBias; }
  bool hasLinear() const noexcept { return m_useLinear; }

  /// The (k) latent vector w[feature, field].
  Eigen::Map<Vector<Scalar>> latent(Index feature, Index field) {
    return Eigen::Map<Vector<Scalar>>(block(feature, field, "FieldAwareFM::latent"), m_k);
  }
  Eigen::Map<const Vector<Scalar>> latent(Index feature, Index field) const {
    return Eigen::Map<const Vector<Scalar>>(block(feature, field, "FieldAwareFM::latent"), m_k);
  }
  /// The (k) AdaGrad accumulators of w[feature, field].
  Eigen::Map<Vector<Scalar>> accumulator(Index feature, Index field) {
    return Eigen::Map<Vector<Scalar>>(block(feature, field, "FieldAwareFM::accumulator") + m_kPad, m_k);
  }
  Eigen::Map<const Vector<Scalar>> accumulator(Index feature, Index field) const {
    return Eigen::Map<const Vector<Scalar>>(block(feature, field, "FieldAwareFM::accumulator") + m_kPad, m_k);
  }
  Scalar& bias() noexcept { return m_bias; }
  Scalar bias() const noexcept { return m_bias; }
  /// (n) linear weights u (zero and unused unless hasLinear()).
  Eigen::Map<Vector<Scalar>> linear() { return Eigen::Map<Vector<Scalar>>(m_linear.data(), m_n); }
  Eigen::Map<const Vector<Scalar>> linear() const { return Eigen::Map<const Vector<Scalar>>(m_linear.data(), m_n); }

  /// Trains on `train`, reporting `validation` logloss after each epoch (needed by
  /// autoStop). Initialises the model unless warmStart and already initialised.
  TrainingHistory fit(const SparseBatch<Scalar>& train, const SparseBatch<Scalar>* validation = nullptr) {
    MemorySource<Scalar> tr(train);
    if (validation) {
      MemorySource<Scalar> va(*validation);
      return fit(tr, &va);
    }
    return fit(tr, nullptr);
  }

  /// Trains from on-disk caches, block by block (libffm --on-disk).
  TrainingHistory fit(io::SparseCache<Scalar>& train, io::SparseCache<Scalar>* validation = nullptr) {
    CacheSource<Scalar> tr(train);
    if (validation) {
      CacheSource<Scalar> va(*validation);
      return fit(tr, &va);
    }
    return fit(tr, nullptr);
  }

  /// Trains from any ExampleSource.
  TrainingHistory fit(ExampleSource<Scalar>& train, ExampleSource<Scalar>* validation = nullptr) {
    const char* where = "FieldAwareFM::fit";
    m_options.validate(where);
    checkNotEmpty(where, "train", train.numExamples());
    if (validation) checkNotEmpty(where, "validation", validation->numExamples());
    checkArgument(!m_options.autoStop || validation != nullptr, where, "autoStop needs a validation set");
    const Index n = m_options.numFeatures > 0 ? m_options.numFeatures : train.numFeatures();
    const Index m = m_options.numFields > 0 ? m_options.numFields : train.numFields();
    checkExpected(n >= 1 && m >= 1, where, "train", "at least one feature", "examples without entries only");
    const bool keep = m_options.warmStart && initialized() && n == m_n && m == m_m && m_options.factors == m_k;
    if (!keep) {
      initialize(n, m);
    } else {
      m_normalize = m_options.normalize;
      m_useBias = m_options.useBias;
      m_useLinear = m_options.useLinear;
    }

    TrainingHistory history;
    Weights bestW;
    std::vector<Scalar> bestLinear, bestLinearG;
    Scalar bestBias = 0, bestBiasG = 0;
    double bestLoss = std::numeric_limits<double>::infinity();
    const int threads = resolveThreads(m_options.threads, where);
    SparseBatch<Scalar> scratch;
    for (int epoch = 1; epoch <= m_options.epochs; ++epoch) {
      const auto start = std::chrono::steady_clock::now();
      const double cpuStart = detail::processCpuSeconds();
      EpochStats stats;
      stats.epoch = epoch;
      stats.trainLoss = trainEpoch(train, scratch, threads, epoch);
      stats.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
      stats.cpuSeconds = detail::processCpuSeconds() - cpuStart;
      if (!std::isfinite(stats.trainLoss)) {
        throw NumericalError(eigenrec::detail::concat(where, ": training loss became ", stats.trainLoss, " in epoch ", epoch,
                                            " (learning rate too large?)"));
      }
      if (validation) stats.validLoss = evaluateLoss(*validation, scratch, threads);
      history.epochs.push_back(stats);
      if (m_options.onEpoch) m_options.onEpoch(stats);
      if (m_options.autoStop) {
        if (stats.validLoss > bestLoss) {
          m_W = std::move(bestW);
          m_bias = bestBias;
          m_biasG = bestBiasG;
          m_linear = std::move(bestLinear);
          m_linearG = std::move(bestLinearG);
          history.stoppedEarly = true;
          break;
        }
        bestLoss = stats.validLoss;
        bestW = m_W;
        bestBias = m_bias;
        bestBiasG = m_biasG;
        bestLinear = m_linear;
        bestLinearG = m_linearG;
      }
      history.bestEpoch = epoch;
    }
    return history;
  }

  /// One AdaGrad step on one example (libffm's inner loop); returns the example's
  /// logistic loss before the step. The model must be initialised.
  Scalar trainExample(const SparseExample<Scalar>& x) {
    checkArgument(initialized(), "FieldAwareFM::trainExample", "model not initialised (call initialize or fit)");
    thread_local StepScratch scratch;
    return static_cast<Scalar>(step(x, scratch));
  }

  /// phi(x), the logit.
  Scalar score(const SparseExample<Scalar>& x) const {
    checkArgument(initialized(), "FieldAwareFM::score", "model not initialised (call initialize or fit)");
    thread_local std::vector<detail::FfmNode<Scalar>> nodes;
    Scalar r = 1, s = 1;
    prepare(x, nodes, r, s);
    return logit(nodes, r, s);
  }

  /// P(click | x) = sigmoid(phi(x)).
  Scalar predict(const SparseExample<Scalar>& x) const { return sigmoid(score(x)); }

  /// (batch.size()) logits.
  Vector<Scalar> scores(const SparseBatch<Scalar>& batch, int threads = 1) const {
    Vector<Scalar> out;
    scores(batch, out, threads);
    return out;
  }
  void scores(const SparseBatch<Scalar>& batch, Vector<Scalar>& out, int threads = 1) const {
    const char* where = "FieldAwareFM::scores";
    checkArgument(initialized(), where, "model not initialised (call initialize or fit)");
    out.resize(batch.size());
    parallelFor(0, batch.size(), 4096, resolveThreads(threads, where), [&](Index b, Index e) {
      std::vector<detail::FfmNode<Scalar>> nodes;
      for (Index i = b; i < e; ++i) {
        Scalar r = 1, s = 1;
        prepare(batch.example(i), nodes, r, s);
        out(i) = logit(nodes, r, s);
      }
    });
  }

  /// (batch.size()) click probabilities.
  Vector<Scalar> predict(const SparseBatch<Scalar>& batch, int threads = 1) const {
    Vector<Scalar> out;
    predict(batch, out, threads);
    return out;
  }
  void predict(const SparseBatch<Scalar>& batch, Vector<Scalar>& out, int threads = 1) const {
    scores(batch, out, threads);
    for (Index i = 0; i < out.size(); ++i) out(i) = sigmoid(out(i));
  }

  /// Mean (weighted) logistic loss of the model on `batch` (libffm's va_logloss).
  double logLoss(const SparseBatch<Scalar>& batch, int threads = 1) const {
    checkNotEmpty("FieldAwareFM::logLoss", "batch", batch.size());
    MemorySource<Scalar> source(batch);
    SparseBatch<Scalar> scratch;
    return evaluateLoss(source, scratch, resolveThreads(threads, "FieldAwareFM::logLoss"));
  }

  /// Writes the model (shape, flags, weights, accumulators) to an archive.
  void save(std::ostream& os) const {
    checkArgument(initialized(), "FieldAwareFM::save", "model not initialised");
    ArchiveWriter w(os, kKind, kKindVersion);
    w.writeValue("factors", static_cast<std::int64_t>(m_k));
    w.writeValue("numFeatures", static_cast<std::int64_t>(m_n));
    w.writeValue("numFields", static_cast<std::int64_t>(m_m));
    w.writeValue("normalize", static_cast<std::uint8_t>(m_normalize));
    w.writeValue("useBias", static_cast<std::uint8_t>(m_useBias));
    w.writeValue("useLinear", static_cast<std::uint8_t>(m_useLinear));
    Matrix<Scalar> weights(m_k, m_n * m_m), accumulators(m_k, m_n * m_m);
    for (Index c = 0; c < m_n * m_m; ++c) {
      const Scalar* p = m_W.data() + c * 2 * m_kPad;
      weights.col(c) = Eigen::Map<const Vector<Scalar>>(p, m_k);
      accumulators.col(c) = Eigen::Map<const Vector<Scalar>>(p + m_kPad, m_k);
    }
    w.write("weights", weights);
    w.write("accumulators", accumulators);
    w.writeValue("bias", m_bias);
    w.writeValue("biasAccumulator", m_biasG);
    w.writeVector("linear", m_linear);
    w.writeVector("linearAccumulators", m_linearG);
    w.finish();
  }

  /// Saves to `path` atomically (temporary file + rename).
  void save(const std::string& path) const {
    saveFileAtomically(path, [&](std::ostream& os) { save(os); });
  }

  /// Reads a model written by save(); on any error the current model is unchanged.
  /// The options' factors / normalize / useBias / useLinear are set from the file.
  void load(std::istream& is, const std::string& source = "") {
    ArchiveReader r(is, kKind, kKindVersion, source);
    const auto k = r.readValue<std::int64_t>("factors");
    const auto n = r.readValue<std::int64_t>("numFeatures");
    const auto m = r.readValue<std::int64_t>("numFields");
    const auto normalize = r.readValue<std::uint8_t>("normalize");
    const auto useBias = r.readValue<std::uint8_t>("useBias");
    const auto useLinear = r.readValue<std::uint8_t>("useLinear");
    auto bad = [&](const std::string& what) { throw FormatError(source.empty() ? "<archive>" : source, 0, 0, what); };
    if (k < 1 || k > 4096 || n < 1 || m < 1 || n > SparseBatch<Scalar>::kMaxIndex + 1 ||
        m > SparseBatch<Scalar>::kMaxIndex + 1 || normalize > 1 || useBias > 1 || useLinear > 1) {
      bad("implausible model header");
    }
    Matrix<Scalar> weights, accumulators;
    r.read("weights", weights, k, n * m);
    r.read("accumulators", accumulators, k, n * m);
    const auto bias = r.readValue<Scalar>("bias");
    const auto biasG = r.readValue<Scalar>("biasAccumulator");
    auto linear = r.readVector<Scalar>("linear");
    auto linearG = r.readVector<Scalar>("linearAccumulators");
    if (static_cast<std::int64_t>(linear.size()) != n || static_cast<std::int64_t>(linearG.size()) != n) {
      bad("linear weights do not match numFeatures");
    }
    r.finish();
    const Index kPad = (k + 3) / 4 * 4;
    Weights W(static_cast<std::size_t>(n * m * 2 * kPad), Scalar(0));
    for (Index c = 0; c < n * m; ++c) {
      Scalar* p = W.data() + c * 2 * kPad;
      Eigen::Map<Vector<Scalar>>(p, k) = weights.col(c);
      Eigen::Map<Vector<Scalar>>(p + kPad, k) = accumulators.col(c);
      for (Index d = k; d < kPad; ++d) p[kPad + d] = Scalar(1);
    }
    m_W = std::move(W);
    m_n = n;
    m_m = m;
    m_k = k;
    m_kPad = kPad;
    m_normalize = normalize != 0;
    m_useBias = useBias != 0;
    m_useLinear = useLinear != 0;
    m_bias = bias;
    m_biasG = biasG;
    m_linear = std::move(linear);
    m_linearG = std::move(linearG);
    m_options.factors = k;
    m_options.normalize = m_normalize;
    m_options.useBias = m_useBias;
    m_options.useLinear = m_useLinear;
    m_rng = Rng(m_options.seed);
  }

  /// Loads from a file (see load(std::istream&)).
  void load(const std::string& path) {
    loadFile(path, [&](std::istream& is) { load(is, path); });
  }

 private:
  using Weights = LargeArray<Scalar>;  // huge pages: blocks are read and written at random

  Scalar* block(Index feature, Index field, const char* where) {
    return const_cast<Scalar*>(static_cast<const FieldAwareFM*>(this)->block(feature, field, where));
  }
  const Scalar* block(Index feature, Index field, const char* where) const {
    checkArgument(initialized(), where, "model not initialised");
    checkIndex(where, "feature", feature, m_n);
    checkIndex(where, "field", field, m_m);
    return m_W.data() + (feature * m_m + field) * 2 * m_kPad;
  }

  // Usable entries of x (as libffm: skip unseen feature or field) and the scales r (pairs)
  // and s = sqrt(r) (linear terms). r uses every entry, as libffm.
  void prepare(const SparseExample<Scalar>& x, std::vector<detail::FfmNode<Scalar>>& nodes, Scalar& r,
               Scalar& s) const {
    nodes.clear();
    Scalar norm = 0;
    for (Index e = 0; e < x.size; ++e) {
      const Scalar v = x.values[e];
      norm += v * v;
      if (x.features[e] < m_n && x.fields[e] < m_m) {
        nodes.push_back({static_cast<std::int64_t>(x.features[e]) * m_m, x.features[e], x.fields[e], v});
      }
    }
    r = 1;
    s = 1;
    if (m_normalize && norm > Scalar(0)) {
      r = Scalar(1) / norm;
      s = std::sqrt(r);
    }
  }

  Scalar pairwise(const std::vector<detail::FfmNode<Scalar>>& nodes, Scalar r) const {
    const auto len = static_cast<Index>(nodes.size());
    switch (m_kPad) {
      case 4: return detail::ffmPairwise<Scalar, 4>(m_W.data(), 4, nodes.data(), len, r);
      case 8: return detail::ffmPairwise<Scalar, 8>(m_W.data(), 8, nodes.data(), len, r);
      case 16: return detail::ffmPairwise<Scalar, 16>(m_W.data(), 16, nodes.data(), len, r);
      case 32: return detail::ffmPairwise<Scalar, 32>(m_W.data(), 32, nodes.data(), len, r);
      default: return detail::ffmPairwise<Scalar, 0>(m_W.data(), m_kPad, nodes.data(), len, r);
    }
  }

  Scalar logit(const std::vector<detail::FfmNode<Scalar>>& nodes, Scalar r, Scalar s) const {
    Scalar t = pairwise(nodes, r);
    if (m_useLinear) {
      Scalar lin = 0;
      for (const auto& node : nodes) lin += m_linear[static_cast<std::size_t>(node.feature)] * node.value;
      t += lin * s;
    }
    if (m_useBias) t += m_bias;
    return t;
  }

  struct StepScratch {
    std::vector<detail::FfmNode<Scalar>> nodes;
    std::vector<const char*> lines;
  };

  // The cache lines of the rows (all fields of a feature, interleaved with their
  // accumulators) that example `x` reads and writes: every pair (a, b) touches the rows
  // of features a and b only.
  detail::PrefetchList rowsOf(const SparseExample<Scalar>& x, std::vector<const char*>& lines, Index pairs) const {
    lines.clear();
    const auto rowBytes = static_cast<std::uintptr_t>(m_m * 2 * m_kPad) * sizeof(Scalar);
    for (Index e = 0; e < x.size; ++e) {
      if (x.features[e] >= m_n) continue;
      const char* row = reinterpret_cast<const char*>(m_W.data() + static_cast<Index>(x.features[e]) * m_m * 2 * m_kPad);
      // Every cache line from the one holding the row's first byte to its last byte.
      const std::uintptr_t skew = reinterpret_cast<std::uintptr_t>(row) & 63;
      const char* first = row - skew;
      for (std::uintptr_t k = 0; 64 * k < skew + rowBytes; ++k) lines.push_back(first + 64 * k);
    }
    detail::PrefetchList list;
    list.next = lines.data();
    list.end = lines.data() + lines.size();
    list.pairs = std::max<Index>(pairs, 1);
    return list;
  }

  template <bool Rsqrt>
  void update(const detail::FfmNode<Scalar>* nodes, Index len, Scalar r, Scalar kappa, Scalar eta, Scalar lambda,
              const detail::PrefetchList& pf) {
    Scalar* W = m_W.data();
    switch (m_kPad) {
      case 4: detail::ffmUpdate<Scalar, 4, Rsqrt>(W, 4, nodes, len, r, kappa, eta, lambda, pf); break;
      case 8: detail::ffmUpdate<Scalar, 8, Rsqrt>(W, 8, nodes, len, r, kappa, eta, lambda, pf); break;
      case 16: detail::ffmUpdate<Scalar, 16, Rsqrt>(W, 16, nodes, len, r, kappa, eta, lambda, pf); break;
      case 32: detail::ffmUpdate<Scalar, 32, Rsqrt>(W, 32, nodes, len, r, kappa, eta, lambda, pf); break;
      default: detail::ffmUpdate<Scalar, 0, Rsqrt>(W, m_kPad, nodes, len, r, kappa, eta, lambda, pf); break;
    }
  }

  // One example: prediction, loss, then the AdaGrad updates, during which the rows of
  // `next` (the example trained after this one, if any) are prefetched. Returns weight *
  // loss.
  double step(const SparseExample<Scalar>& x, StepScratch& scratch, const SparseExample<Scalar>* next = nullptr) {
    auto& nodes = scratch.nodes;
    Scalar r = 1, s = 1;
    prepare(x, nodes, r, s);
    const Scalar t = logit(nodes, r, s);
    const double y = x.label > Scalar(0) ? 1.0 : -1.0;
    const double yt = y * static_cast<double>(t);
    const double loss = softplus(-yt);
    const auto kappa = static_cast<Scalar>(-y * sigmoid(-yt) * static_cast<double>(x.weight));
    const auto eta = static_cast<Scalar>(m_options.learningRate);
    const auto lambda = static_cast<Scalar>(m_options.lambda);
    const auto len = static_cast<Index>(nodes.size());
    const detail::PrefetchList pf = next != nullptr ? rowsOf(*next, scratch.lines, len * (len - 1) / 2) : detail::PrefetchList{};
    if constexpr (std::is_same_v<Scalar, float>) {
      if (m_options.approximateRsqrt) {
        update<true>(nodes.data(), len, r, kappa, eta, lambda, pf);
      } else {
        update<false>(nodes.data(), len, r, kappa, eta, lambda, pf);
      }
    } else {  // double keeps the exact step
      update<false>(nodes.data(), len, r, kappa, eta, lambda, pf);
    }
    if (m_useLinear) {
      const auto linLambda = static_cast<Scalar>(m_options.linearLambda);
      for (const auto& node : nodes) {
        const auto j = static_cast<std::size_t>(node.feature);
        const Scalar g = linLambda * m_linear[j] + kappa * node.value * s;
        m_linearG[j] += g * g;
        m_linear[j] -= eta / std::sqrt(m_linearG[j]) * g;
      }
    }
    if (m_useBias) {
      const Scalar g = kappa;
      m_biasG += g * g;
      m_bias -= eta / std::sqrt(m_biasG) * g;
    }
    return static_cast<double>(x.weight) * loss;
  }

  double trainEpoch(ExampleSource<Scalar>& source, SparseBatch<Scalar>& scratch, int threads, int epoch) {
    std::vector<Index> blocks(static_cast<std::size_t>(source.numBlocks()));
    std::iota(blocks.begin(), blocks.end(), Index(0));
    if (m_options.shuffle) eigenrec::shuffle(blocks.begin(), blocks.end(), m_rng);
    ProgressTracker tracker(m_options.progress, source.numExamples(),
                            eigenrec::detail::concat("epoch ", epoch, "/", m_options.epochs), "examples");
    double lossSum = 0, weightSum = 0;
    Index done = 0;
    std::vector<Index> order;
    for (const Index b : blocks) {
      const SparseBatch<Scalar>& batch = source.block(b, scratch);
      order.resize(static_cast<std::size_t>(batch.size()));
      std::iota(order.begin(), order.end(), Index(0));
      if (m_options.shuffle) eigenrec::shuffle(order.begin(), order.end(), m_rng);
      const Index chunk = 4096;
      std::vector<double> chunkLoss(static_cast<std::size_t>(chunkCount(0, batch.size(), chunk)), 0.0);
      parallelFor(0, batch.size(), chunk, threads, [&](Index begin, Index end) {
        StepScratch scratch;
        double sum = 0;
        for (Index ii = begin; ii < end; ++ii) {
          const auto x = batch.example(order[static_cast<std::size_t>(ii)]);
          if (ii + 1 < end) {
            const auto next = batch.example(order[static_cast<std::size_t>(ii + 1)]);
            sum += step(x, scratch, &next);
          } else {
            sum += step(x, scratch);
          }
        }
        chunkLoss[static_cast<std::size_t>(begin / chunk)] = sum;
      });
      for (const double l : chunkLoss) lossSum += l;
      if (batch.hasWeights()) {
        for (const Scalar w : batch.weights()) weightSum += static_cast<double>(w);
      } else {
        weightSum += static_cast<double>(batch.size());
      }
      done += batch.size();
      tracker.update(done, weightSum > 0 ? lossSum / weightSum : 0.0);
    }
    const double loss = weightSum > 0 ? lossSum / weightSum : 0.0;
    tracker.finish(done, loss);
    return loss;
  }

  double evaluateLoss(ExampleSource<Scalar>& source, SparseBatch<Scalar>& scratch, int threads) const {
    double lossSum = 0, weightSum = 0;
    Vector<Scalar> t;
    for (Index b = 0; b < source.numBlocks(); ++b) {
      const SparseBatch<Scalar>& batch = source.block(b, scratch);
      scores(batch, t, threads);
      for (Index i = 0; i < batch.size(); ++i) {
        const double y = batch.label(i) > Scalar(0) ? 1.0 : -1.0;
        const double w = static_cast<double>(batch.weight(i));
        lossSum += w * softplus(-y * static_cast<double>(t(i)));
        weightSum += w;
      }
    }
    return weightSum > 0 ? lossSum / weightSum : 0.0;
  }

  FfmOptions m_options;
  Index m_n = 0, m_m = 0, m_k = 0, m_kPad = 0;
  bool m_normalize = true, m_useBias = false, m_useLinear = false;
  Weights m_W;
  Scalar m_bias = 0, m_biasG = 1;
  std::vector<Scalar> m_linear, m_linearG;
  Rng m_rng;
};

}  // namespace eigenrec::ctr

#endif  // EIGENREC_CTR_FFM_HPP

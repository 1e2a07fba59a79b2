// eigenrec/attention/prob_sparse.hpp: Informer's ProbSparse self-attention (Zhou et al.,
// AAAI 2021), forward and backward, with the reference implementation's semantics
// (zhouhaoyi/Informer2020, models/attn.py ProbAttention) by default.
//
// Per problem i (one batch element and head), with q (dk, Lq), k (dk, Lk), v (dv, Lk):
//   1. U = factor * ceil(ln Lk) key samples per query and u = factor * ceil(ln Lq)
//      active queries, both clamped to [1, length] (see probSparseCount).
//   2. Sample keys I (U, Lq) uniformly with replacement; by default one matrix per call
//      is shared by every problem (the reference), optionally one per problem.
//   3. Sparsity of query t from its unscaled sampled scores s_j = q_t . k_{I(j, t)}:
//        reference   M_t = max_j s_j - sum_j s_j / Lk     (divides by Lk, not U)
//        sampleMean  M_t = max_j s_j - sum_j s_j / U      (the paper's max-mean measure)
//   4. The u queries of largest M (per problem) are active: full scaled softmax
//      attention over all keys, o_t = V softmax(K^T q_t * scale) (masked: keys j > t
//      blocked, the reference's ProbMask).
//   5. Lazy queries: unmasked, the mean of V over the keys; masked (decoder
//      self-attention, Lq == Lk) the cumulative sum sum_{j <= t} v_j as the reference
//      (CausalFill::cumsum), or the cumulative mean (CausalFill::cummean).
//   6. Weights (optional): (Lk, Lq) with lazy columns 1/Lk, active columns the softmax.
//
// Shapes (column-major; the bytes of PyTorch's contiguous [n, L, d]):
//   q (dk, Lq, n), k (dk, Lk, n), v (dv, Lk, n) -> output (dv, Lq, n),
//   weights (Lk, Lq, n), sample index (U, Lq) or (U, Lq, n) (PyTorch's [Lq, U]).
// n is batch x heads, problem i = b * heads + h.
//
// Cost: O(Lq U dk) for the sampled scores plus O(u Lk (dk + dv)) for the active rows,
// O(L log L) for L = Lq = Lk; extra memory per thread O(u Lk) for the active rows' scores,
// never (Lq, Lk), and no gathered copies of the keys. The backward recomputes the active
// rows' probabilities from the saved log-sum-exp (u per problem). The selection of the
// active queries is piecewise constant, so gradients flow through the active rows and
// the lazy fill only (lazy queries get a zero query gradient).
#ifndef EIGENREC_ATTENTION_PROB_SPARSE_HPP
#define EIGENREC_ATTENTION_PROB_SPARSE_HPP

#include <eigenrec/attention/detail/kernels.hpp>
#include <eigenrec/attention/masks.hpp>
#include <eigenrec/attention/scaled_dot_product.hpp>
#include <eigenrec/core/checks.hpp>
#include <eigenrec/core/parallel.hpp>
#include <eigenrec/core/random.hpp>
#include <eigenrec/core/tensor.hpp>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <limits>
#include <numeric>
#include <optional>
#include <string_view>
#include <vector>

namespace eigenrec::attention {

/// How the sparsity of a query is measured from its sampled scores (see the file comment).
enum class SparsityMeasure {
  reference,  ///< max - sum / Lk (Informer2020's code)
  sampleMean  ///< max - sum / U, the mean over the sample (the paper's measure, estimated)
};

/// What lazy queries get under the causal mask.
enum class CausalFill {
  cumsum,  ///< sum of v_j for j <= t (Informer2020's code; grows with t, issue #633)
  cummean  ///< mean of v_j for j <= t (consistent with the unmasked mean fill)
};

inline const char* sparsityMeasureName(SparsityMeasure m) { return m == SparsityMeasure::reference ? "reference" : "sampleMean"; }
inline const char* causalFillName(CausalFill f) { return f == CausalFill::cumsum ? "cumsum" : "cummean"; }

/// Integer (d0, d1, d2) tensor of sample indices.
using IndexTensor3 = Tensor<Index, 3>;
/// Integer matrix (active query indices: (u, n)).
using IndexMatrix = Eigen::Matrix<Index, Eigen::Dynamic, Eigen::Dynamic>;

/// Informer's sample count for a sequence of `length`: factor * ceil(ln length) (the
/// ceiling taken before the product, as the reference), clamped to [1, length]. For
/// length 1 (ln 1 = 0) this is 1: the single query is active and attends the single key,
/// which is exact attention; the reference would sample no key and fail.
inline Index probSparseCount(Index factor, Index length) {
  checkPositive("probSparseCount", "factor", factor);
  checkPositive("probSparseCount", "length", length);
  const auto logCeil = static_cast<Index>(std::ceil(std::log(static_cast<double>(length))));
  const Index count = logCeil > length / factor ? length : factor * logCeil;  // no overflow
  return std::min(std::max<Index>(count, 1), length);
}

/// Options of probSparseAttention. The injected sample index is a view: it must stay
/// alive until the call returns (the forward copies it into the saved state).
template <typename Scalar = float>
struct ProbSparseOptions {
  /// Informer's sampling factor c (> 0); the reference's default is 5.
  Index factor = 5;
  /// Multiplies the active rows' scores; unset = 1 / sqrt(dk). The sparsity measure
  /// always uses the unscaled scores (as the reference).
  std::optional<double> scale;
  /// The causal ProbMask of decoder self-attention (needs Lq == Lk).
  bool masked = false;
  /// Lazy queries under the mask.
  CausalFill causalFill = CausalFill::cumsum;
  SparsityMeasure measure = SparsityMeasure::reference;
  /// Draw one sample index per problem instead of one shared by all problems.
  bool samplePerProblem = false;
  /// Seed of the key samples (ignored when sampleIndex is given). Shared mode draws the
  /// (U, Lq) matrix from Rng(seed); per-problem mode draws problem i's from
  /// Rng::forShard(seed, i), so results do not depend on the thread count.
  std::uint64_t seed = 0;
  /// Injected key samples: (U, Lq) shared, or (U, Lq, n) per problem, entries in
  /// [0, Lk), U = probSparseCount(factor, Lk).
  ConstView3<Index> sampleIndex;
  /// Return the (Lk, Lq, n) attention map (lazy columns 1 / Lk, as the reference).
  bool needWeights = false;
  /// Threads over the problems (0 = hardware concurrency); results do not depend on it.
  int threads = 1;
  /// Throw on NaN / inf in q, k, v (default on in debug builds).
  bool checkFinite = kCheckFiniteDefault;
};

/// What the backward pass needs from the forward besides q, k, v.
template <typename Scalar = float>
struct ProbSparseSaved {
  Index dk = 0, dv = 0, lq = 0, lk = 0, n = 0;
  Index samples = 0;  ///< U
  Index active = 0;   ///< u
  Scalar scale = 0;
  bool masked = false;
  CausalFill causalFill = CausalFill::cumsum;
  /// (u, n): the active queries of each problem, ascending.
  IndexMatrix top;
  /// (u, n): log-sum-exp of each active query's scaled, masked scores.
  Matrix<Scalar> logSumExp;
  /// The key samples used: (U, Lq, 1) shared or (U, Lq, n) per problem.
  IndexTensor3 sampleIndex;

  bool valid() const noexcept { return n > 0; }
};

/// Output of the inference form.
template <typename Scalar = float>
struct ProbSparseResult {
  Tensor3<Scalar> output;   ///< (dv, Lq, n)
  Tensor3<Scalar> weights;  ///< (Lk, Lq, n) when needWeights, else empty
  IndexMatrix top;          ///< (u, n) active queries, ascending
};

namespace detail {

/// A hint that `p` will be read soon (no effect where the compiler has no prefetch).
inline void prefetchRead(const void* p) {
#if defined(__GNUC__) || defined(__clang__)
  __builtin_prefetch(p);
#else
  (void)p;
#endif
}

/// The (query, key) pairs of a key sample grouped by blocks of 2^shift keys, queries
/// ascending within a block: pair e is query (pairs[e] >> 32) with key (pairs[e] &
/// 0xffffffff). Used once a problem's keys outgrow the L2 cache (see sampleBlockShift):
/// visiting the samples query by query then makes nearly every gather a trip to the
/// shared L3 or memory, while block by block each block of keys is loaded once per
/// problem and the queries stream in order.
struct SampleBuckets {
  std::vector<std::uint64_t> pairs;

  void build(const Index* index, Index samples, Index lq, Index lk, int shift) {
    const std::size_t blocks = static_cast<std::size_t>(((lk - 1) >> shift) + 1);
    std::vector<std::size_t> start(blocks + 1, 0);
    const Index total = lq * samples;
    for (Index e = 0; e < total; ++e) ++start[static_cast<std::size_t>(index[e] >> shift) + 1];
    for (std::size_t b = 1; b <= blocks; ++b) start[b] += start[b - 1];
    pairs.resize(static_cast<std::size_t>(total));
    for (Index t = 0; t < lq; ++t) {
      for (Index j = 0; j < samples; ++j) {
        const Index k = index[t * samples + j];
        pairs[start[static_cast<std::size_t>(k >> shift)]++] =
            (static_cast<std::uint64_t>(t) << 32) | static_cast<std::uint64_t>(k);
      }
    }
  }
};

/// log2 of the keys per block of SampleBuckets (blocks of 512 KiB of key vectors), or
/// -1 while the keys of one problem fit in 2 MiB and the plain query-by-query order
/// with prefetching is faster.
inline int sampleBlockShift(Index lk, Index keyBytes) {
  constexpr Index inCache = Index(2) << 20, block = Index(512) << 10;
  if (lk * keyBytes <= inCache) return -1;
  int shift = 6;
  while ((Index(2) << shift) * keyBytes <= block) ++shift;
  return shift;
}

/// Resolved sizes and switches of one call.
template <typename Scalar>
struct ProbSparsePlan {
  Index n = 0, lq = 0, lk = 0, dk = 0, dv = 0, samples = 0, active = 0;
  Scalar scale = 1;
  bool masked = false;
  CausalFill fill = CausalFill::cumsum;
  SparsityMeasure measure = SparsityMeasure::reference;
  int threads = 1;
  int blockShift = -1;  // SampleBuckets blocks of 2^blockShift keys, -1 = query by query
};

template <typename Scalar>
ProbSparsePlan<Scalar> makeProbSparsePlan(std::string_view where, const ProbSparseOptions<Scalar>& o, Index dk,
                                          Index dv, Index lq, Index lk, Index n) {
  checkPositive(where, "factor", o.factor);
  checkPositive(where, "query dim", dk);
  checkPositive(where, "value dim", dv);
  checkPositive(where, "query length", lq);
  checkPositive(where, "key length", lk);
  checkPositive(where, "n (batch x heads)", n);
  ProbSparsePlan<Scalar> p;
  p.n = n;
  p.lq = lq;
  p.lk = lk;
  p.dk = dk;
  p.dv = dv;
  p.samples = probSparseCount(o.factor, lk);
  p.active = probSparseCount(o.factor, lq);
  const double scale = o.scale ? *o.scale : 1.0 / std::sqrt(static_cast<double>(dk));
  checkFinite(where, "scale", scale);
  p.scale = static_cast<Scalar>(scale);
  p.masked = o.masked;
  if (o.masked && lq != lk) {
    throwInvalidArgument(where, "the causal ProbMask needs query length == key (value) length, got ", lq, " and ", lk);
  }
  p.fill = o.causalFill;
  p.measure = o.measure;
  p.threads = resolveThreads(o.threads, where);
  constexpr Index maxLength = Index(1) << 31;  // SampleBuckets packs positions in 32 bits
  checkExpected(lq < maxLength && lk < maxLength, where, "lengths", "< 2^31", std::max(lq, lk));
  p.blockShift = sampleBlockShift(lk, dk * static_cast<Index>(sizeof(Scalar)));
  return p;
}

/// Validates an injected sample index or draws one, into `out` ((U, Lq, 1 or n)).
template <typename Scalar>
void resolveSampleIndex(std::string_view where, const ProbSparseOptions<Scalar>& o, const ProbSparsePlan<Scalar>& p,
                        IndexTensor3& out) {
  const Index u = p.samples, lq = p.lq;
  if (!o.sampleIndex.empty()) {
    const auto& s = o.sampleIndex;
    const bool shapeOk = s.dimension(0) == u && s.dimension(1) == lq && (s.dimension(2) == 1 || s.dimension(2) == p.n);
    checkExpected(shapeOk, where, "sampleIndex", eigenrec::detail::concat(dims3(u, lq, 1), " or ", dims3(u, lq, p.n)),
                  dims3(s.dimension(0), s.dimension(1), s.dimension(2)));
    out.resize(u, lq, s.dimension(2));
    for (Index i = 0; i < s.size(); ++i) {
      const Index key = s.data()[i];
      if (key < 0 || key >= p.lk) {
        throwInvalidArgument(where, "sampleIndex expected keys in [0, ", p.lk, "), got ", key, " at ",
                             dims3(i % u, (i / u) % lq, i / (u * lq)));
      }
      out.data()[i] = key;
    }
    return;
  }
  const Index slices = o.samplePerProblem ? p.n : 1;
  out.resize(u, lq, slices);
  for (Index i = 0; i < slices; ++i) {
    Rng rng = o.samplePerProblem ? Rng::forShard(o.seed, static_cast<std::uint64_t>(i)) : Rng(o.seed);
    Index* dst = out.data() + i * u * lq;
    for (Index j = 0; j < u * lq; ++j) dst[j] = rng.uniformIndex(p.lk);
  }
}

/// Per-thread work buffers.
template <typename Scalar>
struct ProbSparseScratch {
  SampleBuckets buckets;  // for per-problem samples
  std::vector<Scalar> maxScore;
  std::vector<Scalar> measure;
  std::vector<Index> order;         // forward: queries by sparsity
  std::vector<unsigned char> lazy;  // backward: 1 for the lazy queries
  Matrix<Scalar> qTop, scores, outTop, dTop, dScores;
  Vector<Scalar> acc;
};

/// The active queries' scaled, masked scores (Lk, u) into s.
template <typename Scalar>
void activeScores(const ProbSparsePlan<Scalar>& p, const Eigen::Map<const Matrix<Scalar>, 0, Eigen::OuterStride<>>& K, const Matrix<Scalar>& qTop,
                  const Index* top, Matrix<Scalar>& s) {
  s.resize(p.lk, p.active);
  s.noalias() = K.transpose() * qTop;
  s *= p.scale;
  if (p.masked) {
    constexpr Scalar ninf = -std::numeric_limits<Scalar>::infinity();
    for (Index c = 0; c < p.active; ++c) {
      const Index t = top[c];
      if (t + 1 < p.lk) s.col(c).tail(p.lk - t - 1).setConstant(ninf);
    }
  }
}

/// M_t of every query of one problem into w.measure (see SparsityMeasure).
template <typename Scalar>
void sampledMeasure(const ProbSparsePlan<Scalar>& p, const ConstStridedMap<Scalar>& K, const ConstStridedMap<Scalar>& Q,
                    const Index* index, const SampleBuckets* shared, ProbSparseScratch<Scalar>& w) {
  const Index lq = p.lq, ns = p.samples;
  const Scalar divisor = static_cast<Scalar>(p.measure == SparsityMeasure::reference ? p.lk : ns);
  w.measure.resize(static_cast<std::size_t>(lq));
  if (p.blockShift >= 0) {
    const SampleBuckets* buckets = shared;
    if (buckets == nullptr) {
      w.buckets.build(index, ns, lq, p.lk, p.blockShift);
      buckets = &w.buckets;
    }
    std::fill(w.measure.begin(), w.measure.end(), Scalar(0));
    w.maxScore.assign(static_cast<std::size_t>(lq), -std::numeric_limits<Scalar>::infinity());
    const std::size_t total = buckets->pairs.size();
    for (std::size_t e = 0; e < total;) {
      const auto t = static_cast<std::size_t>(buckets->pairs[e] >> 32);
      const auto qt = Q.col(static_cast<Index>(t));
      Scalar mx = w.maxScore[t], sum = 0;
      for (; e < total && (buckets->pairs[e] >> 32) == t; ++e) {
        const Scalar s = K.col(static_cast<Index>(buckets->pairs[e] & 0xffffffffu)).dot(qt);
        mx = std::max(mx, s);
        sum += s;
      }
      w.maxScore[t] = mx;
      w.measure[t] += sum;
    }
    for (std::size_t t = 0; t < w.measure.size(); ++t) w.measure[t] = w.maxScore[t] - w.measure[t] / divisor;
    return;
  }
  // The sampled keys are random columns of K: prefetching the key `kPrefetchDistance`
  // samples ahead keeps the gathers from waiting on the caches.
  constexpr Index kPrefetchDistance = 16;
  const Index totalSamples = lq * ns;
  const Index keyBytes = p.dk * static_cast<Index>(sizeof(Scalar));
  for (Index t = 0; t < lq; ++t) {
    const Index* idx = index + t * ns;
    const auto qt = Q.col(t);
    Scalar mx = -std::numeric_limits<Scalar>::infinity(), sum = 0;
    for (Index j = 0; j < ns; ++j) {
      const Index ahead = t * ns + j + kPrefetchDistance;
      if (ahead < totalSamples) {
        const char* key = reinterpret_cast<const char*>(K.data() + index[ahead] * K.outerStride());
        for (Index b = 0; b < keyBytes; b += 64) prefetchRead(key + b);
      }
      const Scalar s = K.col(idx[j]).dot(qt);
      mx = std::max(mx, s);
      sum += s;
    }
    w.measure[static_cast<std::size_t>(t)] = mx - sum / divisor;
  }
}

template <typename Scalar>
void probSparseForwardProblem(const ProbSparsePlan<Scalar>& p, const Seq<const Scalar>& q, const Seq<const Scalar>& k,
                              const Seq<const Scalar>& v, const Seq<Scalar>& out, const IndexTensor3& sampleIndex,
                              const SampleBuckets* shared, Index i, Index* top, Scalar* lse, Scalar* weights,
                              ProbSparseScratch<Scalar>& w) {
  const auto Q = sliceMap(q, i);
  const auto K = sliceMap(k, i);
  const auto V = sliceMap(v, i);
  auto O = sliceMap(out, i);
  const Index lq = p.lq, lk = p.lk, ns = p.samples, u = p.active;
  const Index* index = sampleIndex.data() + (sampleIndex.dimension(2) == 1 ? 0 : i * ns * lq);

  // 1. sparsity measure over the sampled, unscaled scores.
  sampledMeasure(p, K, Q, index, shared, w);

  // 2. top-u queries (ties: the lower position first), then ascending positions.
  w.order.resize(static_cast<std::size_t>(lq));
  std::iota(w.order.begin(), w.order.end(), Index(0));
  if (u < lq) {
    const auto& m = w.measure;
    std::nth_element(w.order.begin(), w.order.begin() + u, w.order.end(), [&m](Index a, Index b) {
      const Scalar ma = m[static_cast<std::size_t>(a)], mb = m[static_cast<std::size_t>(b)];
      return ma > mb || (ma == mb && a < b) || (std::isnan(mb) && !std::isnan(ma));
    });
    std::sort(w.order.begin(), w.order.begin() + u);
  }
  std::copy(w.order.begin(), w.order.begin() + u, top);

  // 3. full attention of the active queries.
  w.qTop.resize(p.dk, u);
  for (Index c = 0; c < u; ++c) w.qTop.col(c) = Q.col(top[c]);
  activeScores(p, K, w.qTop, top, w.scores);
  for (Index c = 0; c < u; ++c) {
    auto s = w.scores.col(c);
    const Scalar mx = s.maxCoeff();  // finite: key 0 is never masked
    s = (s.array() - mx).exp().matrix();
    const Scalar sum = s.sum();
    s /= sum;
    lse[c] = mx + std::log(sum);
  }
  w.outTop.resize(p.dv, u);
  w.outTop.noalias() = V * w.scores;

  // 4. lazy fill, then the active rows on top.
  if (!p.masked) {
    w.acc = V.rowwise().sum() / static_cast<Scalar>(lk);
    for (Index t = 0; t < lq; ++t) O.col(t) = w.acc;
  } else {
    w.acc.setZero(p.dv);
    for (Index t = 0; t < lq; ++t) {
      w.acc += V.col(t);
      if (p.fill == CausalFill::cumsum) {
        O.col(t) = w.acc;
      } else {
        O.col(t) = w.acc / static_cast<Scalar>(t + 1);
      }
    }
  }
  for (Index c = 0; c < u; ++c) O.col(top[c]) = w.outTop.col(c);

  if (weights != nullptr) {
    Eigen::Map<Matrix<Scalar>> W(weights + i * lk * lq, lk, lq);
    W.setConstant(Scalar(1) / static_cast<Scalar>(lk));
    for (Index c = 0; c < u; ++c) W.col(top[c]) = w.scores.col(c);
  }
}

template <typename Scalar>
void probSparseBackwardProblem(const ProbSparsePlan<Scalar>& p, const Seq<const Scalar>& q, const Seq<const Scalar>& k,
                               const Seq<const Scalar>& v, const Seq<const Scalar>& dout, const Index* top,
                               const Scalar* lse, const Seq<Scalar>& dq, const Seq<Scalar>& dk, const Seq<Scalar>& dv,
                               Index i, ProbSparseScratch<Scalar>& w) {
  const auto Q = sliceMap(q, i);
  const auto K = sliceMap(k, i);
  const auto V = sliceMap(v, i);
  const auto dO = sliceMap(dout, i);
  auto dQ = sliceMap(dq, i);
  auto dK = sliceMap(dk, i);
  auto dV = sliceMap(dv, i);
  const Index lq = p.lq, lk = p.lk, u = p.active;
  dQ.setZero();
  dK.setZero();
  dV.setZero();

  // Lazy fill: which queries are lazy.
  w.lazy.assign(static_cast<std::size_t>(lq), 1);
  for (Index c = 0; c < u; ++c) w.lazy[static_cast<std::size_t>(top[c])] = 0;
  if (!p.masked) {
    w.acc.setZero(p.dv);
    for (Index t = 0; t < lq; ++t) {
      if (w.lazy[static_cast<std::size_t>(t)]) w.acc += dO.col(t);
    }
    w.acc /= static_cast<Scalar>(lk);
    dV.colwise() += w.acc;
  } else {
    // o_t = sum_{j <= t} v_j (/ (t + 1)): dv_j = sum over lazy t >= j of do_t (/ (t + 1)).
    w.acc.setZero(p.dv);
    for (Index t = lq; t-- > 0;) {
      if (w.lazy[static_cast<std::size_t>(t)]) {
        if (p.fill == CausalFill::cumsum) {
          w.acc += dO.col(t);
        } else {
          w.acc += dO.col(t) / static_cast<Scalar>(t + 1);
        }
      }
      dV.col(t) += w.acc;
    }
  }

  // Active rows: recompute P = exp(S - lse), then the softmax backward.
  w.qTop.resize(p.dk, u);
  w.dTop.resize(p.dv, u);
  for (Index c = 0; c < u; ++c) {
    w.qTop.col(c) = Q.col(top[c]);
    w.dTop.col(c) = dO.col(top[c]);
  }
  activeScores(p, K, w.qTop, top, w.scores);
  for (Index c = 0; c < u; ++c) w.scores.col(c) = (w.scores.col(c).array() - lse[c]).exp().matrix();
  w.dScores.resize(lk, u);
  w.dScores.noalias() = V.transpose() * w.dTop;  // dP
  for (Index c = 0; c < u; ++c) {
    const Scalar delta = w.scores.col(c).dot(w.dScores.col(c));
    w.dScores.col(c) = (w.scores.col(c).array() * (w.dScores.col(c).array() - delta)).matrix() * p.scale;
  }
  dV.noalias() += w.dTop * w.scores.transpose();
  dK.noalias() += w.qTop * w.dScores.transpose();
  w.outTop.resize(p.dk, u);
  w.outTop.noalias() = K * w.dScores;
  for (Index c = 0; c < u; ++c) dQ.col(top[c]) = w.outTop.col(c);
}

/// Calls body(i, scratch) for every problem i on up to `threads` threads, each chunk of
/// problems with its own scratch.
template <typename Scalar, typename Body>
void forEachProblem(Index n, int threads, Body&& body) {
  const int workers = static_cast<int>(std::max<Index>(1, std::min<Index>(threads, n)));
  std::vector<ProbSparseScratch<Scalar>> scratch(static_cast<std::size_t>(workers));
  const Index chunk = (n + workers - 1) / workers;
  parallelFor(Index(0), n, chunk, workers, [&](Index begin, Index end) {
    auto& w = scratch[static_cast<std::size_t>(begin / chunk)];
    for (Index i = begin; i < end; ++i) body(i, w);
  });
}

/// Forward on strided views (the Informer attention layer uses this directly). `out`
/// must have room for the output; weights (Lk, Lq, n) is written if not null.
template <typename Scalar>
void probSparseForwardViews(std::string_view where, const ProbSparseOptions<Scalar>& options,
                            const Seq<const Scalar>& q, const Seq<const Scalar>& k, const Seq<const Scalar>& v,
                            const Seq<Scalar>& out, ProbSparseSaved<Scalar>& saved, Scalar* weights) {
  checkEqual(where, "key dim", q.dim, k.dim);
  checkEqual(where, "key n", q.n, k.n);
  checkEqual(where, "value length", k.length, v.length);
  checkEqual(where, "value n", k.n, v.n);
  const ProbSparsePlan<Scalar> plan = makeProbSparsePlan(where, options, q.dim, v.dim, q.length, k.length, q.n);
  if (options.checkFinite) {
    checkSeqFinite(where, "query", q);
    checkSeqFinite(where, "key", k);
    checkSeqFinite(where, "value", v);
  }
  saved = ProbSparseSaved<Scalar>();
  resolveSampleIndex(where, options, plan, saved.sampleIndex);
  saved.top.resize(plan.active, plan.n);
  saved.logSumExp.resize(plan.active, plan.n);
  // A shared sample is grouped once for all problems.
  SampleBuckets shared;
  const bool isShared = saved.sampleIndex.dimension(2) == 1;
  if (isShared && plan.blockShift >= 0) {
    shared.build(saved.sampleIndex.data(), plan.samples, plan.lq, plan.lk, plan.blockShift);
  }
  forEachProblem<Scalar>(plan.n, plan.threads, [&](Index i, ProbSparseScratch<Scalar>& w) {
    probSparseForwardProblem(plan, q, k, v, out, saved.sampleIndex, isShared ? &shared : nullptr, i,
                             saved.top.col(i).data(), saved.logSumExp.col(i).data(), weights, w);
  });
  saved.dk = plan.dk;
  saved.dv = plan.dv;
  saved.lq = plan.lq;
  saved.lk = plan.lk;
  saved.samples = plan.samples;
  saved.active = plan.active;
  saved.scale = plan.scale;
  saved.masked = plan.masked;
  saved.causalFill = plan.fill;
  saved.n = plan.n;
}

/// Backward on strided views; dq, dk, dv are overwritten.
template <typename Scalar>
void probSparseBackwardViews(std::string_view where, const ProbSparseSaved<Scalar>& saved, int threads,
                             const Seq<const Scalar>& q, const Seq<const Scalar>& k, const Seq<const Scalar>& v,
                             const Seq<const Scalar>& dout, const Seq<Scalar>& dq, const Seq<Scalar>& dk,
                             const Seq<Scalar>& dv) {
  checkArgument(saved.valid(), where, "saved state is empty: run the forward pass first");
  const bool same = q.dim == saved.dk && k.dim == saved.dk && v.dim == saved.dv && q.length == saved.lq &&
                    k.length == saved.lk && v.length == saved.lk && q.n == saved.n && k.n == saved.n && v.n == saved.n;
  checkExpected(same, where, "q, k, v", "the shapes of the forward pass", "different shapes");
  checkExpected(dout.dim == saved.dv && dout.length == saved.lq && dout.n == saved.n, where, "gradOutput",
                dims3(saved.dv, saved.lq, saved.n), dims3(dout.dim, dout.length, dout.n));
  ProbSparsePlan<Scalar> plan;
  plan.n = saved.n;
  plan.lq = saved.lq;
  plan.lk = saved.lk;
  plan.dk = saved.dk;
  plan.dv = saved.dv;
  plan.samples = saved.samples;
  plan.active = saved.active;
  plan.scale = saved.scale;
  plan.masked = saved.masked;
  plan.fill = saved.causalFill;
  plan.threads = resolveThreads(threads, where);
  forEachProblem<Scalar>(plan.n, plan.threads, [&](Index i, ProbSparseScratch<Scalar>& w) {
    probSparseBackwardProblem(plan, q, k, v, dout, saved.top.col(i).data(), saved.logSumExp.col(i).data(), dq, dk, dv,
                              i, w);
  });
}

}  // namespace detail

/// Forward pass keeping what the backward needs.
///   q (dk, Lq, n), k (dk, Lk, n), v (dv, Lk, n) -> output (dv, Lq, n);
///   weights (Lk, Lq, n) if options.needWeights (pass a tensor).
/// Throws std::invalid_argument on mismatched shapes, a bad sample index or options.
template <typename Scalar>
void probSparseAttentionForward(const Tensor3<Scalar>& q, const Tensor3<Scalar>& k, const Tensor3<Scalar>& v,
                                const ProbSparseOptions<Scalar>& options, Tensor3<Scalar>& output,
                                ProbSparseSaved<Scalar>& saved, Tensor3<Scalar>* weights = nullptr) {
  EIGENREC_STATIC_ASSERT_SCALAR(Scalar);
  constexpr std::string_view where = "probSparseAttention";
  Scalar* w = detail::prepareOutputs(where, q, k, v, output, options.needWeights, weights);
  detail::probSparseForwardViews(where, options, detail::view(q), detail::view(k), detail::view(v),
                                 detail::view(output), saved, w);
}

/// Backward pass: given dL/dO (dv, Lq, n) of the forward that produced `saved` (same
/// q, k, v), writes dL/dq (dk, Lq, n), dL/dk (dk, Lk, n), dL/dv (dv, Lk, n).
template <typename Scalar>
void probSparseAttentionBackward(const Tensor3<Scalar>& q, const Tensor3<Scalar>& k, const Tensor3<Scalar>& v,
                                 const Tensor3<Scalar>& gradOutput, const ProbSparseSaved<Scalar>& saved,
                                 Tensor3<Scalar>& gradQ, Tensor3<Scalar>& gradK, Tensor3<Scalar>& gradV,
                                 int threads = 1) {
  EIGENREC_STATIC_ASSERT_SCALAR(Scalar);
  constexpr std::string_view where = "probSparseAttentionBackward";
  checkArgument(saved.valid(), where, "saved state is empty: run the forward pass first");
  gradQ.resize(q.dimension(0), q.dimension(1), q.dimension(2));
  gradK.resize(k.dimension(0), k.dimension(1), k.dimension(2));
  gradV.resize(v.dimension(0), v.dimension(1), v.dimension(2));
  detail::probSparseBackwardViews(where, saved, threads, detail::view(q), detail::view(k), detail::view(v),
                                  detail::view(gradOutput), detail::view(gradQ), detail::view(gradK),
                                  detail::view(gradV));
}

/// Inference form: the output (dv, Lq, n), the active queries (u, n) and, if
/// options.needWeights, the weights (Lk, Lq, n).
template <typename Scalar>
ProbSparseResult<Scalar> probSparseAttention(const Tensor3<Scalar>& q, const Tensor3<Scalar>& k,
                                             const Tensor3<Scalar>& v, const ProbSparseOptions<Scalar>& options = {}) {
  ProbSparseResult<Scalar> result;
  ProbSparseSaved<Scalar> saved;
  probSparseAttentionForward(q, k, v, options, result.output, saved, options.needWeights ? &result.weights : nullptr);
  result.top = std::move(saved.top);
  return result;
}

}  // namespace eigenrec::attention

#endif  // EIGENREC_ATTENTION_PROB_SPARSE_HPP

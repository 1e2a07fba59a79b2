// eigenrec/attention/detail/kernels.hpp: the two implementations behind
// scaledDotProductAttention (not part of the API).
//
// Both work on strided views of (dim, length, n) sequences, so MultiHeadAttention can
// hand them the heads of its packed projections without copies: slice i of a view
// starts at data + (i / heads) * batchStride + (i % heads) * headStride, and its
// column t (one token) at + t * ld.
//
// naive: per problem, S = K^T Q * scale (Lk, Lq), masked, column softmax, O = V P.
// tiled: FlashAttention-2's recurrence. Queries are cut into blocks of Br, keys into
//   blocks of Bc; for each query block a running max m, a running sum l and an
//   unnormalised accumulator O^T (Br, dv) are kept; per key block
//     S = Q_i K_j^T * scale (+ bias, masks),  m' = max(m, rowmax S),
//     P = exp(S - m'),  l = e^(m - m') l + rowsum P,  O = e^(m - m') O + P V_j,
//   and at the end O / l and the log-sum-exp m + log l (saved for the backward, which
//   recomputes P = exp(S - lse) block by block). Work buffers are (Br, Bc), (Br, d):
//   O(block x length) at most, never (Lq, Lk).
//   Inside a block everything is laid out with queries as the vector dimension:
//   S^T is (Br, Bc) column-major, so the row max, the exponentials and the rescaling
//   are plain packet operations, and both products are register-blocked GEMM
//   micro-kernels (A: MR contiguous queries per column, B: broadcast scalars).
#ifndef EIGENREC_ATTENTION_DETAIL_KERNELS_HPP
#define EIGENREC_ATTENTION_DETAIL_KERNELS_HPP

#include <eigenrec/attention/masks.hpp>
#include <eigenrec/core/parallel.hpp>
#include <eigenrec/core/random.hpp>
#include <eigenrec/core/types.hpp>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <limits>
#include <type_traits>

namespace eigenrec::attention::detail {

/// Strided view of a (dim, length, n) batch of sequences (see the file comment).
template <typename T>
struct Seq {
  T* data = nullptr;
  Index dim = 0, length = 0, n = 0;
  Index ld = 0;           // distance between consecutive tokens
  Index heads = 1;        // slices per batch element
  Index headStride = 0;   // distance between heads of one batch element
  Index batchStride = 0;  // distance between batch elements

  Seq() = default;
  /// A mutable view converts to a read-only one.
  template <typename U, typename = std::enable_if_t<std::is_same_v<const U, T> && !std::is_same_v<U, T>>>
  Seq(const Seq<U>& o)  // NOLINT(implicit)
      : data(o.data), dim(o.dim), length(o.length), n(o.n), ld(o.ld), heads(o.heads), headStride(o.headStride),
        batchStride(o.batchStride) {}

  T* slice(Index i) const { return data + (i / heads) * batchStride + (i % heads) * headStride; }

  /// A dense (dim, length, n) tensor.
  static Seq dense(T* data, Index dim, Index length, Index n) {
    Seq s;
    s.data = data;
    s.dim = dim;
    s.length = length;
    s.n = n;
    s.ld = dim;
    s.heads = 1;
    s.headStride = 0;
    s.batchStride = dim * length;
    return s;
  }
};

/// Everything the kernels need to know about one call, resolved and validated.
template <typename Scalar>
struct Plan {
  Index n = 0, lq = 0, lk = 0, dk = 0, dv = 0;
  Scalar scale = 1;
  bool causal = false;
  Index causalOffset = 0;  // query q may attend key k <= q + causalOffset
  const bool* allowed = nullptr;
  bool allowedPerN = false;
  const bool* keyAllowed = nullptr;  // (lk, batch)
  Index keyHeads = 1;                // n / batch
  const Scalar* bias = nullptr;
  bool biasPerN = false;
  double dropout = 0;  // > 0 only in training
  std::uint64_t seed = 0;
  int threads = 1;
  Index blockQ = 64, blockK = 256;  // tiled forward tile sizes
  Index backwardBlockQ = 64, backwardBlockK = 128;  // tiled backward tile sizes

  bool hasElementMasks() const { return allowed != nullptr || bias != nullptr || keyAllowed != nullptr; }

  /// -inf if (q, k) is blocked in problem i, else the additive bias (0 without bias).
  Scalar maskValue(Index i, Index q, Index k) const {
    constexpr Scalar ninf = -std::numeric_limits<Scalar>::infinity();
    if (causal && k > q + causalOffset) return ninf;
    if (keyAllowed != nullptr && !keyAllowed[k + (i / keyHeads) * lk]) return ninf;
    const Index cell = k + q * lk;
    if (allowed != nullptr && !allowed[cell + (allowedPerN ? i * lk * lq : 0)]) return ninf;
    if (bias != nullptr) return bias[cell + (biasPerN ? i * lk * lq : 0)];
    return Scalar(0);
  }

  /// One past the last key any query of problem i may attend (key padding at the end
  /// of a sequence lets the kernels skip whole blocks).
  Index keyEnd(Index i) const {
    if (keyAllowed == nullptr) return lk;
    const bool* col = keyAllowed + (i / keyHeads) * lk;
    Index end = lk;
    while (end > 0 && !col[end - 1]) --end;
    return end;
  }
};

/// Dropout keep factors, reproducible and independent of tiling and threads: the
/// uniforms of keys [64 s, 64 s + 64) of query q in problem i come from
/// Rng::forShard(seed, (i * Lq + q) * stripes + s), drawn in key order.
struct DropoutStream {
  double p = 0;
  std::uint64_t seed = 0;
  Index lq = 0, lk = 0;
  static constexpr Index stripe = 64;

  /// out[(k - k0) * stride] = keep ? 1 / (1 - p) : 0 for k in [k0, k0 + count).
  template <typename Scalar>
  void fill(Index i, Index q, Index k0, Index count, Scalar* out, Index stride) const {
    const Scalar kept = Scalar(1.0 / (1.0 - p));
    const Index stripes = (lk + stripe - 1) / stripe;
    Index k = k0;
    const Index end = k0 + count;
    while (k < end) {
      const Index s = k / stripe;
      const Index sBegin = s * stripe;
      const Index sEnd = std::min(std::min(sBegin + stripe, lk), end);
      Rng rng = Rng::forShard(seed, static_cast<std::uint64_t>((i * lq + q) * stripes + s));
      for (Index t = sBegin; t < k; ++t) rng.next();
      for (; k < sEnd; ++k) out[(k - k0) * stride] = rng.uniform<double>() < p ? Scalar(0) : kept;
    }
  }
};

// ----------------------------------------------------------------------------- SIMD

namespace ei = Eigen::internal;

template <typename Scalar>
struct Simd {
  using Packet = typename ei::packet_traits<Scalar>::type;
  static constexpr int size = ei::unpacket_traits<Packet>::size;
#if defined(EIGEN_VECTORIZE_AVX512)
  static constexpr int mp = 4;  // packets per micro-tile column (32 zmm registers)
  static constexpr int nr = 6;
#else
  static constexpr int mp = 2;  // 16 registers
  static constexpr int nr = 6;
#endif
  static constexpr int mr = mp * size;
};

/// C[0:MP*PS, 0:NR] (+)= sum_p A[:, p] B(p, :). A column p starts at a + p*lda (MP*PS
/// contiguous rows); B(p, j) = b[p*bp + j*bj]; C column j starts at c + j*ldc.
template <typename Scalar, int MP, int NR, bool Accumulate>
EIGEN_STRONG_INLINE void microKernel(Index K, const Scalar* a, Index lda, const Scalar* b, Index bp, Index bj,
                                     Scalar* c, Index ldc) {
  using Packet = typename Simd<Scalar>::Packet;
  constexpr int PS = Simd<Scalar>::size;
  Packet acc[MP][NR];
  for (int j = 0; j < NR; ++j) {
    for (int m = 0; m < MP; ++m) acc[m][j] = ei::pset1<Packet>(Scalar(0));
  }
  for (Index p = 0; p < K; ++p) {
    const Scalar* ap = a + p * lda;
    const Scalar* bpp = b + p * bp;
    Packet av[MP];
    for (int m = 0; m < MP; ++m) av[m] = ei::ploadu<Packet>(ap + m * PS);
    for (int j = 0; j < NR; ++j) {
      const Packet bv = ei::pset1<Packet>(bpp[j * bj]);
      for (int m = 0; m < MP; ++m) acc[m][j] = ei::pmadd(av[m], bv, acc[m][j]);
    }
  }
  for (int j = 0; j < NR; ++j) {
    for (int m = 0; m < MP; ++m) {
      Scalar* cp = c + j * ldc + m * PS;
      if (Accumulate) {
        ei::pstoreu(cp, ei::padd(ei::ploadu<Packet>(cp), acc[m][j]));
      } else {
        ei::pstoreu(cp, acc[m][j]);
      }
    }
  }
}

template <typename Scalar, int MP, bool Accumulate>
EIGEN_STRONG_INLINE void microKernelN(int nr, Index K, const Scalar* a, Index lda, const Scalar* b, Index bp,
                                      Index bj, Scalar* c, Index ldc) {
  switch (nr) {
    case 1: microKernel<Scalar, MP, 1, Accumulate>(K, a, lda, b, bp, bj, c, ldc); break;
    case 2: microKernel<Scalar, MP, 2, Accumulate>(K, a, lda, b, bp, bj, c, ldc); break;
    case 3: microKernel<Scalar, MP, 3, Accumulate>(K, a, lda, b, bp, bj, c, ldc); break;
    case 4: microKernel<Scalar, MP, 4, Accumulate>(K, a, lda, b, bp, bj, c, ldc); break;
    case 5: microKernel<Scalar, MP, 5, Accumulate>(K, a, lda, b, bp, bj, c, ldc); break;
    case 6: microKernel<Scalar, MP, 6, Accumulate>(K, a, lda, b, bp, bj, c, ldc); break;
    default: eigen_assert(false && "microKernelN: nr out of range");
  }
}

/// C (M, N) (+)= A (M, K) B (K, N) with the operand conventions of microKernel.
template <typename Scalar, bool Accumulate>
void gemm(Index M, Index N, Index K, const Scalar* a, Index lda, const Scalar* b, Index bp, Index bj, Scalar* c,
          Index ldc) {
  constexpr int PS = Simd<Scalar>::size;
  constexpr int MP = Simd<Scalar>::mp;
  constexpr int NR = Simd<Scalar>::nr;
  constexpr int MR = MP * PS;
  for (Index j0 = 0; j0 < N; j0 += NR) {
    const int nr = static_cast<int>(std::min<Index>(NR, N - j0));
    const Scalar* bj0 = b + j0 * bj;
    Scalar* cj0 = c + j0 * ldc;
    Index i0 = 0;
    for (; i0 + MR <= M; i0 += MR) microKernelN<Scalar, MP, Accumulate>(nr, K, a + i0, lda, bj0, bp, bj, cj0 + i0, ldc);
    if (MP > 1) {
      for (; i0 + PS <= M; i0 += PS) microKernelN<Scalar, 1, Accumulate>(nr, K, a + i0, lda, bj0, bp, bj, cj0 + i0, ldc);
    }
    for (; i0 < M; ++i0) {  // remaining rows, scalar
      for (int j = 0; j < nr; ++j) {
        Scalar sum(0);
        for (Index p = 0; p < K; ++p) sum += a[i0 + p * lda] * bj0[p * bp + j * bj];
        Scalar& dst = cj0[i0 + j * ldc];
        dst = Accumulate ? dst + sum : sum;
      }
    }
  }
}

inline Index roundUp(Index x, Index m) { return (x + m - 1) / m * m; }

/// Dense aligned scratch buffer.
template <typename Scalar>
using Buffer = Eigen::Matrix<Scalar, Eigen::Dynamic, 1>;

/// Adds masks and bias to a score tile S^T (rows = queries q0.., cols = keys k0..),
/// column-major with leading dimension ldS. Only rows < br are touched.
template <typename Scalar>
void maskTile(const Plan<Scalar>& plan, Index i, Index q0, Index br, Index k0, Index bc, Scalar* s, Index ldS,
              bool needCausal) {
  constexpr Scalar ninf = -std::numeric_limits<Scalar>::infinity();
  if (plan.hasElementMasks()) {
    for (Index c = 0; c < bc; ++c) {
      Scalar* col = s + c * ldS;
      for (Index r = 0; r < br; ++r) col[r] += plan.maskValue(i, q0 + r, k0 + c);
    }
  } else if (needCausal) {
    for (Index c = 0; c < bc; ++c) {
      // rows q with k0 + c > q + offset, i.e. q < k0 + c - offset, are blocked
      const Index limit = std::min(br, std::max<Index>(0, k0 + c - plan.causalOffset - q0));
      Scalar* col = s + c * ldS;
      for (Index r = 0; r < limit; ++r) col[r] = ninf;
    }
  }
}

// -------------------------------------------------------------------- tiled forward

/// Forward of query block [q0, q0 + br) of problem i. Writes the output columns and
/// lse[q0 .. q0 + br) of problem i.
template <typename Scalar>
void tiledForwardBlock(const Plan<Scalar>& plan, const Seq<const Scalar>& q, const Seq<const Scalar>& k,
                       const Seq<const Scalar>& v, const Seq<Scalar>& out, Scalar* lse, Index i, Index q0, Index br,
                       Buffer<Scalar>& work) {
  using Packet = typename Simd<Scalar>::Packet;
  constexpr int PS = Simd<Scalar>::size;
  constexpr Scalar ninf = -std::numeric_limits<Scalar>::infinity();
  const Index dk = plan.dk, dv = plan.dv;
  const Index BR = roundUp(br, Simd<Scalar>::mr);
  const Index BC = plan.blockK;
  const Index need = BR * dk + BR * BC + BR * dv + 3 * BR;
  if (work.size() < need) work.resize(need);
  Scalar* qt = work.data();
  Scalar* s = qt + BR * dk;
  Scalar* ot = s + BR * BC;
  Scalar* m = ot + BR * dv;
  Scalar* l = m + BR;
  Scalar* alpha = l + BR;

  const Scalar* qn = q.slice(i);
  const Scalar* kn = k.slice(i);
  const Scalar* vn = v.slice(i);
  // Q^T * scale, queries contiguous, zero rows past br.
  for (Index p = 0; p < dk; ++p) {
    Scalar* col = qt + p * BR;
    for (Index r = 0; r < br; ++r) col[r] = qn[p + (q0 + r) * q.ld] * plan.scale;
    for (Index r = br; r < BR; ++r) col[r] = Scalar(0);
  }
  std::fill(m, m + BR, ninf);
  std::fill(l, l + BR, Scalar(0));
  std::fill(ot, ot + BR * dv, Scalar(0));

  Index kEnd = plan.keyEnd(i);
  if (plan.causal) kEnd = std::min(kEnd, std::max<Index>(0, q0 + br + plan.causalOffset));
  DropoutStream drop{plan.dropout, plan.seed, plan.lq, plan.lk};
  const Packet pninf = ei::pset1<Packet>(ninf);
  const Packet pzero = ei::pset1<Packet>(Scalar(0));

  for (Index k0 = 0; k0 < kEnd; k0 += BC) {
    const Index bc = std::min(BC, kEnd - k0);
    gemm<Scalar, false>(BR, bc, dk, qt, BR, kn + k0 * k.ld, 1, k.ld, s, BR);
    const bool needCausal = plan.causal && k0 + bc - 1 > q0 + plan.causalOffset;
    maskTile(plan, i, q0, br, k0, bc, s, BR, needCausal);
    // Online softmax, BR rows at a time in packets.
    for (Index r = 0; r < BR; r += PS) {
      const Packet mOld = ei::ploadu<Packet>(m + r);
      Packet mx = mOld;
      for (Index c = 0; c < bc; ++c) mx = ei::pmax(mx, ei::ploadu<Packet>(s + r + c * BR));
      const Packet mSafe = ei::pselect(ei::pcmp_eq(mx, pninf), pzero, mx);
      Packet sum = pzero;
      for (Index c = 0; c < bc; ++c) {
        Scalar* sp = s + r + c * BR;
        const Packet x = ei::ploadu<Packet>(sp);
        const Packet e = ei::pand(ei::pexp(ei::psub(x, mSafe)), ei::pcmp_lt(pninf, x));
        ei::pstoreu(sp, e);
        sum = ei::padd(sum, e);
      }
      // alpha = exp(mOld - mSafe); exactly 0 when nothing was seen before.
      const Packet a = ei::pand(ei::pexp(ei::psub(mOld, mSafe)), ei::pcmp_lt(pninf, mOld));
      ei::pstoreu(alpha + r, a);
      ei::pstoreu(l + r, ei::pmadd(ei::ploadu<Packet>(l + r), a, sum));
      ei::pstoreu(m + r, mx);
    }
    for (Index e = 0; e < dv; ++e) {
      Scalar* col = ot + e * BR;
      for (Index r = 0; r < BR; r += PS) ei::pstoreu(col + r, ei::pmul(ei::ploadu<Packet>(col + r), ei::ploadu<Packet>(alpha + r)));
    }
    if (plan.dropout > 0) {
      for (Index r = 0; r < br; ++r) {
        // keep factors of row r, written over a strided row of the tile
        Scalar* row = s + r;
        for (Index c0 = 0; c0 < bc; c0 += 64) {
          Scalar keep[64];
          const Index cnt = std::min<Index>(64, bc - c0);
          drop.fill(i, q0 + r, k0 + c0, cnt, keep, 1);
          for (Index c = 0; c < cnt; ++c) row[(c0 + c) * BR] *= keep[c];
        }
      }
    }
    gemm<Scalar, true>(BR, dv, bc, s, BR, vn + k0 * v.ld, v.ld, 1, ot, BR);
  }

  Scalar* on = out.slice(i);
  for (Index r = 0; r < br; ++r) {
    const Scalar inv = l[r] > Scalar(0) ? Scalar(1) / l[r] : Scalar(0);
    Scalar* dst = on + (q0 + r) * out.ld;
    for (Index e = 0; e < dv; ++e) dst[e] = ot[r + e * BR] * inv;
    lse[q0 + r] = l[r] > Scalar(0) ? m[r] + std::log(l[r]) : ninf;
  }
}

/// Tiled forward over all problems; lse is (lq, n) column-major.
template <typename Scalar>
void tiledForward(const Plan<Scalar>& plan, const Seq<const Scalar>& q, const Seq<const Scalar>& k,
                  const Seq<const Scalar>& v, const Seq<Scalar>& out, Scalar* lse) {
  const Index br = plan.blockQ;
  const Index blocks = (plan.lq + br - 1) / br;
  if (blocks == 0 || plan.n == 0) return;
  parallelFor(0, plan.n * blocks, 1, plan.threads, [&](Index b, Index e) {
    Buffer<Scalar> work;
    for (Index t = b; t < e; ++t) {
      const Index i = t / blocks;
      const Index q0 = (t % blocks) * br;
      tiledForwardBlock(plan, q, k, v, out, lse + i * plan.lq, i, q0, std::min(br, plan.lq - q0), work);
    }
  });
}

// ------------------------------------------------------------------- tiled backward

/// Backward of problem i: dq, dk, dv of the problem are accumulated into (they must be
/// zero on entry).
template <typename Scalar>
void tiledBackwardProblem(const Plan<Scalar>& plan, const Seq<const Scalar>& q, const Seq<const Scalar>& k,
                          const Seq<const Scalar>& v, const Seq<const Scalar>& out, const Seq<const Scalar>& dout,
                          const Scalar* lseAll, const Seq<Scalar>& dq, const Seq<Scalar>& dk, const Seq<Scalar>& dv,
                          Index i, Buffer<Scalar>& work) {
  using Packet = typename Simd<Scalar>::Packet;
  constexpr int PS = Simd<Scalar>::size;
  constexpr Index MR = Simd<Scalar>::mr;
  constexpr Scalar ninf = -std::numeric_limits<Scalar>::infinity();
  constexpr Scalar pinf = std::numeric_limits<Scalar>::infinity();
  const Index DK = plan.dk, DV = plan.dv, LQ = plan.lq;
  const Index BRmax = roundUp(plan.backwardBlockQ, MR);
  const Index BC = plan.backwardBlockK;
  const Index LQP = roundUp(LQ, BRmax) + BRmax;  // padded query count (room for a whole block)
  const Index need = LQP * DK + LQP * DV + 2 * LQP + 2 * BRmax * BC;
  if (work.size() < need) work.resize(need);
  Scalar* qt = work.data();      // (LQP, DK): scale * Q^T
  Scalar* dot = qt + LQP * DK;   // (LQP, DV): dO^T
  Scalar* lse = dot + LQP * DV;  // (LQP): +inf on padding, so P = 0 there
  Scalar* dd = lse + LQP;        // (LQP): D = rowsum(dO * O)
  Scalar* p = dd + LQP;          // (BR, BC) tile: P (then P with dropout)
  Scalar* ds = p + BRmax * BC;   // (BR, BC) tile: dP, then scale * dS

  const Scalar* qn = q.slice(i);
  const Scalar* kn = k.slice(i);
  const Scalar* vn = v.slice(i);
  const Scalar* on = out.slice(i);
  const Scalar* don = dout.slice(i);
  Scalar* dqn = dq.slice(i);
  Scalar* dkn = dk.slice(i);
  Scalar* dvn = dv.slice(i);
  for (Index t = 0; t < LQP; ++t) {
    if (t < LQ) {
      for (Index c = 0; c < DK; ++c) qt[t + c * LQP] = qn[c + t * q.ld] * plan.scale;
      Scalar d(0);
      for (Index c = 0; c < DV; ++c) {
        const Scalar g = don[c + t * dout.ld];
        dot[t + c * LQP] = g;
        d += g * on[c + t * out.ld];
      }
      dd[t] = d;
      lse[t] = lseAll[t + i * LQ];
    } else {
      for (Index c = 0; c < DK; ++c) qt[t + c * LQP] = Scalar(0);
      for (Index c = 0; c < DV; ++c) dot[t + c * LQP] = Scalar(0);
      dd[t] = Scalar(0);
      lse[t] = pinf;
    }
  }

  DropoutStream drop{plan.dropout, plan.seed, plan.lq, plan.lk};
  const Packet pninf = ei::pset1<Packet>(ninf);
  const Packet pscale = ei::pset1<Packet>(plan.scale);
  const Index kEnd = plan.keyEnd(i);
  for (Index k0 = 0; k0 < kEnd; k0 += BC) {
    const Index bcBlock = std::min(BC, kEnd - k0);
    // first query that may see any key of this block
    Index qStart = 0;
    if (plan.causal) qStart = std::max<Index>(0, k0 - plan.causalOffset);
    qStart = qStart / BRmax * BRmax;
    for (Index q0 = qStart; q0 < LQ; q0 += BRmax) {
      const Index br = std::min(BRmax, LQ - q0);
      const Index BR = roundUp(br, MR);
      // keys past the last one this query block may see are skipped (causal)
      const Index bc = plan.causal ? std::min(bcBlock, q0 + br + plan.causalOffset - k0) : bcBlock;
      if (bc <= 0) continue;
      gemm<Scalar, false>(BR, bc, DK, qt + q0, LQP, kn + k0 * k.ld, 1, k.ld, p, BR);
      const bool needCausal = plan.causal && k0 + bc - 1 > q0 + plan.causalOffset;
      maskTile(plan, i, q0, br, k0, bc, p, BR, needCausal);
      gemm<Scalar, false>(BR, bc, DV, dot + q0, LQP, vn + k0 * v.ld, 1, v.ld, ds, BR);
      const bool dropout = plan.dropout > 0;
      for (Index c = 0; c < bc; ++c) {
        Scalar* pc = p + c * BR;
        Scalar* dc = ds + c * BR;
        for (Index r = 0; r < BR; r += PS) {
          const Packet x = ei::ploadu<Packet>(pc + r);
          const Packet pr = ei::pand(ei::pexp(ei::psub(x, ei::ploadu<Packet>(lse + q0 + r))), ei::pcmp_lt(pninf, x));
          ei::pstoreu(pc + r, pr);
          if (!dropout) {  // dS = scale * P (dP - D)
            const Packet dpr = ei::psub(ei::ploadu<Packet>(dc + r), ei::ploadu<Packet>(dd + q0 + r));
            ei::pstoreu(dc + r, ei::pmul(pscale, ei::pmul(pr, dpr)));
          }
        }
      }
      if (dropout) {
        // keep factors z: Pd = P z, dP = dPd z, dS = scale * P (dP - D)
        Scalar keep[64];
        for (Index r = 0; r < br; ++r) {
          for (Index c0 = 0; c0 < bc; c0 += 64) {
            const Index cnt = std::min<Index>(64, bc - c0);
            drop.fill(i, q0 + r, k0 + c0, cnt, keep, 1);
            for (Index c = 0; c < cnt; ++c) {
              const Index at = r + (c0 + c) * BR;
              ds[at] = plan.scale * p[at] * (ds[at] * keep[c] - dd[q0 + r]);
              p[at] *= keep[c];
            }
          }
        }
        for (Index c = 0; c < bc; ++c) {
          for (Index r = br; r < BR; ++r) ds[r + c * BR] = Scalar(0);
        }
      }
      gemm<Scalar, true>(DV, bc, br, don + q0 * dout.ld, dout.ld, p, 1, BR, dvn + k0 * dv.ld, dv.ld);
      gemm<Scalar, true>(DK, bc, br, qn + q0 * q.ld, q.ld, ds, 1, BR, dkn + k0 * dk.ld, dk.ld);
      gemm<Scalar, true>(DK, br, bc, kn + k0 * k.ld, k.ld, ds, BR, 1, dqn + q0 * dq.ld, dq.ld);
    }
  }
}

template <typename Scalar>
void tiledBackward(const Plan<Scalar>& plan, const Seq<const Scalar>& q, const Seq<const Scalar>& k,
                   const Seq<const Scalar>& v, const Seq<const Scalar>& out, const Seq<const Scalar>& dout,
                   const Scalar* lse, const Seq<Scalar>& dq, const Seq<Scalar>& dk, const Seq<Scalar>& dv) {
  parallelFor(0, plan.n, 1, plan.threads, [&](Index b, Index e) {
    Buffer<Scalar> work;
    for (Index i = b; i < e; ++i) tiledBackwardProblem(plan, q, k, v, out, dout, lse, dq, dk, dv, i, work);
  });
}

// ------------------------------------------------------------------------- naive

template <typename Scalar>
using StridedMap = Eigen::Map<Matrix<Scalar>, 0, Eigen::OuterStride<>>;
template <typename Scalar>
using ConstStridedMap = Eigen::Map<const Matrix<Scalar>, 0, Eigen::OuterStride<>>;

template <typename T>
auto sliceMap(const Seq<T>& s, Index i) {
  using Scalar = std::remove_const_t<T>;
  using Map = std::conditional_t<std::is_const_v<T>, ConstStridedMap<Scalar>, StridedMap<Scalar>>;
  return Map(s.slice(i), s.dim, s.length, Eigen::OuterStride<>(s.ld));
}

/// Naive forward: probs (lk, lq, n) receives the softmax before dropout; weights (if
/// not null) the probabilities after dropout.
template <typename Scalar>
void naiveForward(const Plan<Scalar>& plan, const Seq<const Scalar>& q, const Seq<const Scalar>& k,
                  const Seq<const Scalar>& v, const Seq<Scalar>& out, Scalar* lse, Scalar* probs, Scalar* weights) {
  constexpr Scalar ninf = -std::numeric_limits<Scalar>::infinity();
  const Index lq = plan.lq, lk = plan.lk;
  parallelFor(0, plan.n, 1, plan.threads, [&](Index b, Index e) {
    Matrix<Scalar> s(lk, lq), pd;
    for (Index i = b; i < e; ++i) {
      s.noalias() = (sliceMap(k, i).transpose() * plan.scale) * sliceMap(q, i);
      if (plan.hasElementMasks()) {
        for (Index c = 0; c < lq; ++c) {
          for (Index r = 0; r < lk; ++r) s(r, c) += plan.maskValue(i, c, r);
        }
      } else if (plan.causal) {
        for (Index c = 0; c < lq; ++c) {
          const Index first = std::max<Index>(0, std::min(lk, c + plan.causalOffset + 1));
          s.col(c).tail(lk - first).setConstant(ninf);
        }
      }
      Eigen::Map<Matrix<Scalar>> pm(probs + i * lk * lq, lk, lq);
      for (Index c = 0; c < lq; ++c) {
        const Scalar mx = lk > 0 ? s.col(c).maxCoeff() : ninf;
        if (mx == ninf) {
          pm.col(c).setZero();
          lse[c + i * lq] = ninf;
          continue;
        }
        // exp(x - max), exactly 0 for blocked (-inf) entries
        const auto x = s.col(c).array();
        pm.col(c).array() = (x == ninf).select(Scalar(0), (x - mx).exp());
        const Scalar sum = pm.col(c).sum();
        pm.col(c) /= sum;
        lse[c + i * lq] = mx + std::log(sum);
      }
      if (plan.dropout > 0) {
        pd = pm;
        DropoutStream drop{plan.dropout, plan.seed, lq, lk};
        Vector<Scalar> keep(lk);
        for (Index c = 0; c < lq; ++c) {
          drop.fill(i, c, 0, lk, keep.data(), 1);
          pd.col(c).array() *= keep.array();
        }
        if (weights != nullptr) Eigen::Map<Matrix<Scalar>>(weights + i * lk * lq, lk, lq) = pd;
        sliceMap(out, i).noalias() = sliceMap(v, i) * pd;
      } else {
        if (weights != nullptr) Eigen::Map<Matrix<Scalar>>(weights + i * lk * lq, lk, lq) = pm;
        sliceMap(out, i).noalias() = sliceMap(v, i) * pm;
      }
    }
  });
}

/// Naive backward from the saved softmax `probs` (lk, lq, n). dq, dk, dv overwritten.
template <typename Scalar>
void naiveBackward(const Plan<Scalar>& plan, const Seq<const Scalar>& q, const Seq<const Scalar>& k,
                   const Seq<const Scalar>& v, const Seq<const Scalar>& dout, const Scalar* probs, const Seq<Scalar>& dq,
                   const Seq<Scalar>& dk, const Seq<Scalar>& dv) {
  const Index lq = plan.lq, lk = plan.lk;
  parallelFor(0, plan.n, 1, plan.threads, [&](Index b, Index e) {
    Matrix<Scalar> keep, dp, ds;
    for (Index i = b; i < e; ++i) {
      Eigen::Map<const Matrix<Scalar>> pm(probs + i * lk * lq, lk, lq);
      const auto dO = sliceMap(dout, i);
      dp.noalias() = sliceMap(v, i).transpose() * dO;  // dL/dPd (lk, lq)
      if (plan.dropout > 0) {
        keep.resize(lk, lq);
        DropoutStream drop{plan.dropout, plan.seed, lq, lk};
        for (Index c = 0; c < lq; ++c) drop.fill(i, c, 0, lk, keep.col(c).data(), 1);
        sliceMap(dv, i).noalias() = dO * (pm.array() * keep.array()).matrix().transpose();
        dp.array() *= keep.array();
      } else {
        sliceMap(dv, i).noalias() = dO * pm.transpose();
      }
      ds = pm.array() * dp.array();
      const RowVector<Scalar> d = ds.colwise().sum();  // D = sum_k P dP
      ds.array() -= (pm.array().rowwise() * d.array());
      ds *= plan.scale;
      sliceMap(dq, i).noalias() = sliceMap(k, i) * ds;
      sliceMap(dk, i).noalias() = sliceMap(q, i) * ds.transpose();
    }
  });
}

}  // namespace eigenrec::attention::detail

#endif  // EIGENREC_ATTENTION_DETAIL_KERNELS_HPP

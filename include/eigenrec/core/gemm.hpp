// eigenrec/core/gemm.hpp: C = alpha op(A) op(B) + beta C on column-major matrices.
//
// Every dense layer of nn spends its time in three matrix products (W x, dY x^T and
// W^T dY). Eigen's product is vectorised for the instruction set the including code is
// compiled for, which for a library's users is usually the x86-64 baseline, SSE2: a
// quarter of what an AVX-512 core does. `gemm` therefore carries its own
// single-precision kernels for AVX-512 and AVX2 + FMA, compiled through function target
// attributes and picked at run time (once) from what the CPU offers, so they are used
// whether or not the including code is built with -march=native.
//
// The kernels follow BLIS / GotoBLAS: op(B) is packed into panels of NR columns, op(A)
// into panels of MR rows, and a micro-kernel keeps an MR x NR tile of C in vector
// registers over a block of KC steps (AVX-512: 32 x 12, 24 of its 32 registers;
// AVX2: 16 x 6, 12 of 16). Each dot product is summed in k order, in blocks of KC, with
// fused multiply-adds, so results differ from Eigen's only by float rounding.
//
// Double precision, other CPUs and compilers, thin products (a side shorter than half a
// tile) and builds with EIGENREC_NO_GEMM_KERNEL defined use Eigen's product.
// Each thread keeps its packing buffers (at most about 5 MB) for reuse.
#ifndef EIGENREC_CORE_GEMM_HPP
#define EIGENREC_CORE_GEMM_HPP

#include <eigenrec/core/types.hpp>

#include <algorithm>
#include <cstddef>
#include <cstring>
#include <memory>
#include <new>
#include <stdexcept>
#include <string>
#include <type_traits>

#if !defined(EIGENREC_NO_GEMM_KERNEL) && (defined(__GNUC__) || defined(__clang__)) && defined(__x86_64__)
#define EIGENREC_GEMM_KERNELS 1
#include <immintrin.h>
#endif

namespace eigenrec {

/// How gemm uses an operand: as stored, or transposed (BLAS's 'N' and 'T').
enum class Op : bool { none = false, transpose = true };

namespace detail {

/// The single-precision kernel gemm uses on this machine.
enum class GemmKernel { eigen, avx2, avx512 };

#ifdef EIGENREC_GEMM_KERNELS
namespace sgemm {

constexpr Index KC = 384;   // depth of a packed block: a B panel of KC x NR stays in L1
constexpr Index MC = 192;   // rows of a packed A block: MC x KC floats stay in L2
constexpr Index NC = 3072;  // columns of a packed B block

/// Reusable 64-byte aligned scratch memory of one thread (grows, never shrinks).
class Scratch {
 public:
  float* get(std::size_t count) {
    if (count > m_size) {
      m_data.reset(static_cast<float*>(::operator new[](count * sizeof(float), std::align_val_t(64))));
      m_size = count;
    }
    return m_data.get();
  }

 private:
  struct Free {
    void operator()(float* p) const noexcept { ::operator delete[](p, std::align_val_t(64)); }
  };
  std::unique_ptr<float[], Free> m_data;
  std::size_t m_size = 0;
};

// Packing copies a strip of w <= W rows (or columns) of op(X), kc deep, into a panel
// stored depth-major: W consecutive floats per depth step, zero beyond w. The strip is
// either contiguous per depth step (src + p * ld) or contiguous per row (src + q * ld).

/// dst[p W + q] = src[p ld + q]: one contiguous run of w floats per depth step.
template <Index W>
void packContiguous(const float* src, Index ld, Index w, Index kc, float* dst) {
  if (w == W) {
    for (Index p = 0; p < kc; ++p) std::memcpy(dst + p * W, src + p * ld, W * sizeof(float));
    return;
  }
  for (Index p = 0; p < kc; ++p) {
    float* d = dst + p * W;
    std::memcpy(d, src + p * ld, static_cast<std::size_t>(w) * sizeof(float));
    std::fill(d + w, d + W, 0.0f);
  }
}

/// dst[p W + q] = src[q ld + p]: the transposing copy. Blocks of 4 rows x 4 depth steps
/// go through SSE registers (4 loads, an in-register 4 x 4 transpose, 4 stores; SSE is
/// part of x86-64, so no target attribute is needed); the remainders are copied singly.
template <Index W>
void packTransposed(const float* src, Index ld, Index w, Index kc, float* dst) {
  Index q = 0;
  for (; q + 4 <= w; q += 4) {
    const float* r0 = src + q * ld;
    const float* r1 = r0 + ld;
    const float* r2 = r1 + ld;
    const float* r3 = r2 + ld;
    Index p = 0;
    for (; p + 4 <= kc; p += 4) {
      __m128 x0 = _mm_loadu_ps(r0 + p), x1 = _mm_loadu_ps(r1 + p);
      __m128 x2 = _mm_loadu_ps(r2 + p), x3 = _mm_loadu_ps(r3 + p);
      _MM_TRANSPOSE4_PS(x0, x1, x2, x3);
      _mm_storeu_ps(dst + p * W + q, x0);
      _mm_storeu_ps(dst + (p + 1) * W + q, x1);
      _mm_storeu_ps(dst + (p + 2) * W + q, x2);
      _mm_storeu_ps(dst + (p + 3) * W + q, x3);
    }
    for (; p < kc; ++p) {
      float* d = dst + p * W + q;
      d[0] = r0[p];
      d[1] = r1[p];
      d[2] = r2[p];
      d[3] = r3[p];
    }
  }
  for (; q < w; ++q) {
    const float* row = src + q * ld;
    for (Index p = 0; p < kc; ++p) dst[p * W + q] = row[p];
  }
  if (w < W) {
    for (Index p = 0; p < kc; ++p) std::fill(dst + p * W + w, dst + p * W + W, 0.0f);
  }
}

/// Packs rows [i0, i0 + mc) x depth [p0, p0 + kc) of op(A) into panels of MR rows.
template <Index MR>
void packA(const float* a, Index lda, bool trans, Index i0, Index mc, Index p0, Index kc, float* out) {
  for (Index ir = 0; ir < mc; ir += MR) {
    const Index mr = std::min(MR, mc - ir);
    if (!trans) {  // op(A)(i, p) = a[i + p * lda]
      packContiguous<MR>(a + (i0 + ir) + p0 * lda, lda, mr, kc, out + ir * kc);
    } else {  // op(A)(i, p) = a[p + i * lda]
      packTransposed<MR>(a + p0 + (i0 + ir) * lda, lda, mr, kc, out + ir * kc);
    }
  }
}

/// Packs depth [p0, p0 + kc) x columns [j0, j0 + nc) of op(B) into panels of NR columns.
template <Index NR>
void packB(const float* b, Index ldb, bool trans, Index p0, Index kc, Index j0, Index nc, float* out) {
  for (Index jr = 0; jr < nc; jr += NR) {
    const Index nr = std::min(NR, nc - jr);
    if (!trans) {  // op(B)(p, j) = b[p + j * ldb]
      packTransposed<NR>(b + p0 + (j0 + jr) * ldb, ldb, nr, kc, out + jr * kc);
    } else {  // op(B)(p, j) = b[j + p * ldb]
      packContiguous<NR>(b + (j0 + jr) + p0 * ldb, ldb, nr, kc, out + jr * kc);
    }
  }
}

// The micro-kernels: C[0:MR, 0:NR] = alpha * (A panel) (B panel) + beta * C, where C is
// not read when beta == 0. Both are the same loop written with each instruction set's
// intrinsics. They are kept out of line: inlined into the blocking loops, GCC runs
// short of vector registers and spills an A vector, which costs a third of the speed.

struct Avx512 {
  static constexpr Index MR = 32, NR = 12;
  static void tile(Index kc, const float* ap, const float* bp, float* c, Index ldc, float alpha, float beta);
};

__attribute__((target("avx512f,fma"), noinline)) inline void Avx512::tile(Index kc, const float* ap,
                                                                            const float* bp, float* c, Index ldc,
                                                                            float alpha, float beta) {
  __m512 acc[NR][2];
#pragma GCC unroll 12
  for (int j = 0; j < NR; ++j) acc[j][0] = acc[j][1] = _mm512_setzero_ps();
  for (Index p = 0; p < kc; ++p) {
    const __m512 a0 = _mm512_load_ps(ap), a1 = _mm512_load_ps(ap + 16);
#pragma GCC unroll 12
    for (int j = 0; j < NR; ++j) {
      const __m512 bj = _mm512_set1_ps(bp[j]);
      acc[j][0] = _mm512_fmadd_ps(a0, bj, acc[j][0]);
      acc[j][1] = _mm512_fmadd_ps(a1, bj, acc[j][1]);
    }
    ap += MR;
    bp += NR;
  }
  const __m512 va = _mm512_set1_ps(alpha), vb = _mm512_set1_ps(beta);
#pragma GCC unroll 12
  for (int j = 0; j < NR; ++j) {
    float* cj = c + j * ldc;
    __m512 r0 = _mm512_mul_ps(va, acc[j][0]), r1 = _mm512_mul_ps(va, acc[j][1]);
    if (beta != 0.0f) {
      r0 = _mm512_fmadd_ps(vb, _mm512_loadu_ps(cj), r0);
      r1 = _mm512_fmadd_ps(vb, _mm512_loadu_ps(cj + 16), r1);
    }
    _mm512_storeu_ps(cj, r0);
    _mm512_storeu_ps(cj + 16, r1);
  }
}

struct Avx2 {
  static constexpr Index MR = 16, NR = 6;
  static void tile(Index kc, const float* ap, const float* bp, float* c, Index ldc, float alpha, float beta);
};

__attribute__((target("avx2,fma"), noinline)) inline void Avx2::tile(Index kc, const float* ap, const float* bp,
                                                                       float* c, Index ldc, float alpha,
                                                                       float beta) {
  __m256 acc[NR][2];
#pragma GCC unroll 6
  for (int j = 0; j < NR; ++j) acc[j][0] = acc[j][1] = _mm256_setzero_ps();
  for (Index p = 0; p < kc; ++p) {
    const __m256 a0 = _mm256_load_ps(ap), a1 = _mm256_load_ps(ap + 8);
#pragma GCC unroll 6
    for (int j = 0; j < NR; ++j) {
      const __m256 bj = _mm256_broadcast_ss(bp + j);
      acc[j][0] = _mm256_fmadd_ps(a0, bj, acc[j][0]);
      acc[j][1] = _mm256_fmadd_ps(a1, bj, acc[j][1]);
    }
    ap += MR;
    bp += NR;
  }
  const __m256 va = _mm256_set1_ps(alpha), vb = _mm256_set1_ps(beta);
#pragma GCC unroll 6
  for (int j = 0; j < NR; ++j) {
    float* cj = c + j * ldc;
    __m256 r0 = _mm256_mul_ps(va, acc[j][0]), r1 = _mm256_mul_ps(va, acc[j][1]);
    if (beta != 0.0f) {
      r0 = _mm256_fmadd_ps(vb, _mm256_loadu_ps(cj), r0);
      r1 = _mm256_fmadd_ps(vb, _mm256_loadu_ps(cj + 8), r1);
    }
    _mm256_storeu_ps(cj, r0);
    _mm256_storeu_ps(cj + 8, r1);
  }
}

/// The blocked product over raw column-major storage with micro-kernel K; m, n, k > 0.
/// Edge tiles are computed whole (the packed panels are zero-padded) into a local tile
/// and only their valid part is added to C.
template <class K>
void run(bool transA, bool transB, Index m, Index n, Index k, float alpha, const float* a, Index lda,
         const float* b, Index ldb, float beta, float* c, Index ldc) {
  constexpr Index MR = K::MR, NR = K::NR;
  static_assert(MC % MR == 0 && NC % NR == 0, "blocks must hold whole panels");
  thread_local Scratch scratchA, scratchB;
  const Index kcMax = std::min(KC, k);
  const Index ncMax = std::min(NC, (n + NR - 1) / NR * NR);
  const Index mcMax = std::min(MC, (m + MR - 1) / MR * MR);
  float* bPacked = scratchB.get(static_cast<std::size_t>(kcMax * ncMax));
  float* aPacked = scratchA.get(static_cast<std::size_t>(kcMax * mcMax));
  alignas(64) float tile[MR * NR];
  for (Index jc = 0; jc < n; jc += NC) {
    const Index nc = std::min(NC, n - jc);
    for (Index pc = 0; pc < k; pc += KC) {
      const Index kc = std::min(KC, k - pc);
      const float betaHere = pc == 0 ? beta : 1.0f;  // later depth blocks add to the first
      packB<NR>(b, ldb, transB, pc, kc, jc, nc, bPacked);
      for (Index ic = 0; ic < m; ic += MC) {
        const Index mc = std::min(MC, m - ic);
        packA<MR>(a, lda, transA, ic, mc, pc, kc, aPacked);
        for (Index jr = 0; jr < nc; jr += NR) {
          const Index nr = std::min(NR, nc - jr);
          for (Index ir = 0; ir < mc; ir += MR) {
            const Index mr = std::min(MR, mc - ir);
            float* cTile = c + (ic + ir) + (jc + jr) * ldc;
            if (mr == MR && nr == NR) {
              K::tile(kc, aPacked + ir * kc, bPacked + jr * kc, cTile, ldc, alpha, betaHere);
              continue;
            }
            K::tile(kc, aPacked + ir * kc, bPacked + jr * kc, tile, MR, alpha, 0.0f);
            for (Index j = 0; j < nr; ++j) {
              float* cj = cTile + j * ldc;
              const float* tj = tile + j * MR;
              for (Index i = 0; i < mr; ++i) cj[i] = (betaHere == 0.0f ? 0.0f : betaHere * cj[i]) + tj[i];
            }
          }
        }
      }
    }
  }
}

}  // namespace sgemm
#endif  // EIGENREC_GEMM_KERNELS

/// The single-precision kernel this CPU (and OS) supports best; asked once.
inline GemmKernel gemmKernel() {
#ifdef EIGENREC_GEMM_KERNELS
  static const GemmKernel kernel = [] {
    __builtin_cpu_init();
    if (__builtin_cpu_supports("avx512f")) return GemmKernel::avx512;
    if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma")) return GemmKernel::avx2;
    return GemmKernel::eigen;
  }();
  return kernel;
#else
  return GemmKernel::eigen;
#endif
}

/// c = alpha op(a) op(b) + beta c with Eigen's product.
template <typename Scalar>
void gemmEigen(bool ta, bool tb, Scalar alpha, const Eigen::Ref<const Matrix<Scalar>>& a,
               const Eigen::Ref<const Matrix<Scalar>>& b, Scalar beta, Eigen::Ref<Matrix<Scalar>> c) {
  if (beta == Scalar(0)) {
    c.setZero();
  } else if (beta != Scalar(1)) {
    c *= beta;
  }
  if (!ta && !tb) c.noalias() += alpha * a * b;
  if (!ta && tb) c.noalias() += alpha * a * b.transpose();
  if (ta && !tb) c.noalias() += alpha * a.transpose() * b;
  if (ta && tb) c.noalias() += alpha * a.transpose() * b.transpose();
}

}  // namespace detail

/// Which single-precision product gemm runs on this machine: "avx512", "avx2" or "eigen".
inline const char* gemmKernelName() {
  switch (detail::gemmKernel()) {
    case detail::GemmKernel::avx512:
      return "avx512";
    case detail::GemmKernel::avx2:
      return "avx2";
    default:
      return "eigen";
  }
}

/// c = alpha * op(a) * op(b) + beta * c, with op(x) = x or x^T.
///
/// `c` must already have the shape of the product (rows of op(a), columns of op(b));
/// when beta is 0 its old values are not read (NaN in c does not leak through). `c`
/// must not overlap `a` or `b`. Float products run eigenrec's AVX-512 or AVX2 kernel
/// when the CPU has one (see the file comment), everything else Eigen's product.
/// Throws std::invalid_argument when the shapes do not match.
template <typename Scalar>
void gemm(Op opA, Op opB, Scalar alpha, const Eigen::Ref<const Matrix<Scalar>>& a,
          const Eigen::Ref<const Matrix<Scalar>>& b, Scalar beta, Eigen::Ref<Matrix<Scalar>> c) {
  const bool ta = opA == Op::transpose, tb = opB == Op::transpose;
  const Index m = ta ? a.cols() : a.rows(), k = ta ? a.rows() : a.cols();
  const Index kb = tb ? b.cols() : b.rows(), n = tb ? b.rows() : b.cols();
  if (k != kb || c.rows() != m || c.cols() != n) {
    throw std::invalid_argument("gemm: op(a) is " + std::to_string(m) + "x" + std::to_string(k) + ", op(b) is " +
                                std::to_string(kb) + "x" + std::to_string(n) + " and c is " +
                                std::to_string(c.rows()) + "x" + std::to_string(c.cols()));
  }
  if (m == 0 || n == 0) return;
  if (k == 0 || alpha == Scalar(0)) {  // as BLAS: op(a) op(b) is not evaluated
    if (beta == Scalar(0)) {
      c.setZero();
    } else if (beta != Scalar(1)) {
      c *= beta;
    }
    return;
  }
#ifdef EIGENREC_GEMM_KERNELS
  if constexpr (std::is_same_v<Scalar, float>) {
    const auto use = [&](auto kernel) {
      using K = decltype(kernel);
      // A side shorter than half a tile (matrix-vector, outer products) would waste most
      // of each padded tile: Eigen's kernels suit those shapes better.
      if (m < K::MR / 2 || n < K::NR / 2 || k < 16) return false;
      detail::sgemm::run<K>(ta, tb, m, n, k, alpha, a.data(), a.outerStride(), b.data(), b.outerStride(), beta,
                            c.data(), c.outerStride());
      return true;
    };
    const detail::GemmKernel kernel = detail::gemmKernel();
    if (kernel == detail::GemmKernel::avx512 && use(detail::sgemm::Avx512{})) return;
    if (kernel == detail::GemmKernel::avx2 && use(detail::sgemm::Avx2{})) return;
  }
#endif
  detail::gemmEigen<Scalar>(ta, tb, alpha, a, b, beta, c);
}

}  // namespace eigenrec

#endif  // EIGENREC_CORE_GEMM_HPP

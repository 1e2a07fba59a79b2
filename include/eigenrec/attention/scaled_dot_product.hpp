// eigenrec/attention/scaled_dot_product.hpp: scaled dot-product attention, forward and
// backward, with two implementations behind one API.
//
//   O = V softmax(K^T Q * scale + bias + mask),   per problem i = 0 .. n-1
//
// Shapes (column-major, the bytes of PyTorch's contiguous [n, L, d]):
//   q (dk, Lq, n), k (dk, Lk, n), v (dv, Lk, n) -> output (dv, Lq, n),
//   attention weights (Lk, Lq, n) (the bytes of PyTorch's [n, Lq, Lk]).
// n is typically batch x heads, ordered as PyTorch's nn.MultiheadAttention orders it
// (i = b * heads + h).
//
// Masking (every mask is an "allowed" mask: true = takes part, see masks.hpp):
//   causal             top-left or bottom-right aligned (masks.hpp)
//   allowed            (Lk, Lq) broadcast over n, or (Lk, Lq, n)
//   keyAllowed         (Lk, batch) key padding, batch divides n, problem i uses column
//                      i / (n / batch)
//   bias               (Lk, Lq) or (Lk, Lq, n) added to the scaled scores (may hold -inf)
// A query whose keys are all blocked gets a zero output column, a zero weight column
// and zero gradients (PyTorch 1.13 returns NaN there; newer SDPA returns zeros too).
//
// Implementations:
//   naive  materialises the (Lk, Lq) scores of a problem; used when the weights are
//          requested. Memory O(Lq Lk n) (the saved probabilities).
//   tiled  FlashAttention-2 online softmax (detail/kernels.hpp): O(block x length)
//          work memory, saves only the (Lq, n) log-sum-exp for the backward, which
//          recomputes the probabilities. Parallel over n and query blocks (forward) and
//          over n (backward); results do not depend on the thread count.
#ifndef EIGENREC_ATTENTION_SCALED_DOT_PRODUCT_HPP
#define EIGENREC_ATTENTION_SCALED_DOT_PRODUCT_HPP

#include <eigenrec/attention/detail/kernels.hpp>
#include <eigenrec/attention/masks.hpp>
#include <eigenrec/core/checks.hpp>
#include <eigenrec/core/tensor.hpp>

#include <cmath>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace eigenrec::attention {

/// Which implementation runs.
enum class SdpaBackend {
  automatic,  ///< naive when the weights are requested, tiled otherwise
  naive,      ///< materialise the scores (needed for the weights)
  tiled       ///< online softmax, O(block x length) memory
};

inline const char* backendName(SdpaBackend b) {
  switch (b) {
    case SdpaBackend::automatic: return "automatic";
    case SdpaBackend::naive: return "naive";
    case SdpaBackend::tiled: return "tiled";
  }
  return "?";
}

#ifdef NDEBUG
inline constexpr bool kCheckFiniteDefault = false;
#else
inline constexpr bool kCheckFiniteDefault = true;
#endif

/// Options of scaledDotProductAttention. The views do not own their data: the masks
/// and bias must stay alive until the backward pass that uses them has run.
template <typename Scalar = float>
struct SdpaOptions {
  /// Multiplies Q K^T; unset = 1 / sqrt(dk).
  std::optional<double> scale;
  /// Causal mask and its alignment when Lq != Lk.
  Causal causal = Causal::none;
  /// (Lk, Lq) or (Lk, Lq, n) boolean mask, true = query may attend key.
  AllowedView allowed;
  /// (Lk, batch) key-padding mask, true = key takes part; batch must divide n.
  AllowedView keyAllowed;
  /// (Lk, Lq) or (Lk, Lq, n) additive bias on the scaled scores; -inf blocks.
  ConstView3<Scalar> bias;
  /// Dropout probability on the attention probabilities, applied only if training.
  double dropout = 0.0;
  bool training = false;
  /// Seed of the dropout masks (identical for both backends and any thread count).
  std::uint64_t seed = 0;
  /// Return the attention weights (after dropout), forcing the naive backend.
  bool needWeights = false;
  SdpaBackend backend = SdpaBackend::automatic;
  /// Threads (0 = hardware concurrency); the result does not depend on it.
  int threads = 1;
  /// Tiled kernel tile sizes (0 = defaults: 64 x 256 forward, 64 x 128 backward).
  Index blockQ = 0, blockK = 0;
  /// Throw on NaN / inf in q, k, v (default on in debug builds; in release builds
  /// non-finite inputs give non-finite outputs unless this is set).
  bool checkFinite = kCheckFiniteDefault;
};

/// What the backward pass needs from the forward besides q, k, v and the output.
template <typename Scalar = float>
struct SdpaSaved {
  SdpaBackend backend = SdpaBackend::automatic;  ///< the backend that ran
  Index dk = 0, dv = 0, lq = 0, lk = 0, n = 0;
  double dropout = 0.0;  ///< effective dropout (0 unless training)
  std::uint64_t seed = 0;
  /// (Lq, n): log sum_k exp(score) per query, -inf for fully masked queries.
  Matrix<Scalar> logSumExp;
  /// naive backend only: (Lk, Lq, n) softmax before dropout.
  Tensor3<Scalar> probabilities;

  bool valid() const noexcept { return backend != SdpaBackend::automatic; }
};

/// Output and (if requested) the weights of a forward pass.
template <typename Scalar = float>
struct SdpaResult {
  Tensor3<Scalar> output;   ///< (dv, Lq, n)
  Tensor3<Scalar> weights;  ///< (Lk, Lq, n) when needWeights, else empty
};

namespace detail {

inline std::string dims3(Index a, Index b, Index c) { return eigenrec::detail::concat("(", a, ", ", b, ", ", c, ")"); }

template <typename T>
void checkScoreView(std::string_view where, std::string_view name, const ConstView3<T>& view, Index lk, Index lq,
                    Index n) {
  if (view.empty()) return;
  const bool ok = view.dimension(0) == lk && view.dimension(1) == lq && (view.dimension(2) == 1 || view.dimension(2) == n);
  checkExpected(ok, where, name, eigenrec::detail::concat(dims3(lk, lq, 1), " or ", dims3(lk, lq, n)),
                dims3(view.dimension(0), view.dimension(1), view.dimension(2)));
}

/// Validates the options for a problem of the given sizes and resolves them.
template <typename Scalar>
Plan<Scalar> makePlan(std::string_view where, const SdpaOptions<Scalar>& o, Index dk, Index dv, Index lq, Index lk,
                      Index n) {
  checkPositive(where, "query dim", dk);
  checkPositive(where, "value dim", dv);
  Plan<Scalar> p;
  p.n = n;
  p.lq = lq;
  p.lk = lk;
  p.dk = dk;
  p.dv = dv;
  if (o.scale) checkFinite(where, "scale", *o.scale);
  p.scale = static_cast<Scalar>(o.scale ? *o.scale : 1.0 / std::sqrt(static_cast<double>(dk)));
  p.causal = o.causal != Causal::none;
  p.causalOffset = o.causal == Causal::bottomRight ? lk - lq : 0;
  checkScoreView(where, "allowed", o.allowed, lk, lq, n);
  if (!o.allowed.empty()) {
    p.allowed = o.allowed.data();
    p.allowedPerN = o.allowed.dimension(2) != 1 || n == 1;
  }
  checkScoreView(where, "bias", o.bias, lk, lq, n);
  if (!o.bias.empty()) {
    p.bias = o.bias.data();
    p.biasPerN = o.bias.dimension(2) != 1 || n == 1;
    for (Index t = 0; t < o.bias.size(); ++t) {
      const Scalar b = o.bias.data()[t];
      if (std::isnan(b) || b == std::numeric_limits<Scalar>::infinity()) {
        throwInvalidArgument(where, "bias expected finite values or -inf, got ", b, " at flat index ", t);
      }
    }
  }
  if (!o.keyAllowed.empty()) {
    const Index batch = o.keyAllowed.dimension(1);
    const bool ok = o.keyAllowed.dimension(0) == lk && o.keyAllowed.dimension(2) == 1 && batch > 0 && n % batch == 0;
    checkExpected(ok, where, "keyAllowed", eigenrec::detail::concat("(", lk, ", batch) with batch dividing n = ", n),
                  dims3(o.keyAllowed.dimension(0), o.keyAllowed.dimension(1), o.keyAllowed.dimension(2)));
    p.keyAllowed = o.keyAllowed.data();
    p.keyHeads = n / batch;
  }
  checkHalfOpen(where, "dropout", o.dropout, 0.0, 1.0);
  p.dropout = o.training ? o.dropout : 0.0;
  p.seed = o.seed;
  p.threads = resolveThreads(o.threads, where);
  checkNonNegative(where, "blockQ", o.blockQ);
  checkNonNegative(where, "blockK", o.blockK);
  if (o.blockQ > 0) p.blockQ = p.backwardBlockQ = o.blockQ;
  if (o.blockK > 0) p.blockK = p.backwardBlockK = o.blockK;
  if (o.needWeights && o.backend == SdpaBackend::tiled) {
    throwInvalidArgument(where, "backend tiled cannot return the attention weights (needWeights); use naive or automatic");
  }
  return p;
}

template <typename Scalar>
SdpaBackend resolveBackend(const SdpaOptions<Scalar>& o) {
  if (o.backend != SdpaBackend::automatic) return o.backend;
  return o.needWeights ? SdpaBackend::naive : SdpaBackend::tiled;
}

template <typename Scalar>
void checkSeqFinite(std::string_view where, std::string_view name, const Seq<const Scalar>& s) {
  for (Index i = 0; i < s.n; ++i) {
    const Scalar* base = s.slice(i);
    for (Index t = 0; t < s.length; ++t) {
      for (Index c = 0; c < s.dim; ++c) {
        const Scalar x = base[c + t * s.ld];
        if (!std::isfinite(x)) throwInvalidArgument(where, name, " expected finite values, got ", x, " at ", dims3(c, t, i));
      }
    }
  }
}

/// Forward on strided views (MultiHeadAttention uses this directly). `out` must have
/// room for the output; weights (Lk, Lq, n) is written if not null.
template <typename Scalar>
void forwardViews(std::string_view where, const SdpaOptions<Scalar>& options, const Seq<const Scalar>& q,
                  const Seq<const Scalar>& k, const Seq<const Scalar>& v, const Seq<Scalar>& out,
                  SdpaSaved<Scalar>& saved, Scalar* weights) {
  checkEqual(where, "key dim", q.dim, k.dim);
  checkEqual(where, "key n", q.n, k.n);
  checkEqual(where, "value length", k.length, v.length);
  checkEqual(where, "value n", k.n, v.n);
  const Plan<Scalar> plan = makePlan(where, options, q.dim, v.dim, q.length, k.length, q.n);
  if (options.checkFinite) {
    checkSeqFinite(where, "query", q);
    checkSeqFinite(where, "key", k);
    checkSeqFinite(where, "value", v);
  }
  saved.backend = resolveBackend(options);
  saved.dk = plan.dk;
  saved.dv = plan.dv;
  saved.lq = plan.lq;
  saved.lk = plan.lk;
  saved.n = plan.n;
  saved.dropout = plan.dropout;
  saved.seed = plan.seed;
  saved.logSumExp.resize(plan.lq, plan.n);
  if (saved.backend == SdpaBackend::naive) {
    saved.probabilities.resize(plan.lk, plan.lq, plan.n);
    naiveForward(plan, q, k, v, out, saved.logSumExp.data(), saved.probabilities.data(), weights);
  } else {
    saved.probabilities = Tensor3<Scalar>();
    tiledForward(plan, q, k, v, out, saved.logSumExp.data());
  }
}

/// Backward on strided views. dq, dk, dv are overwritten (zeroed here first).
template <typename Scalar>
void backwardViews(std::string_view where, const SdpaOptions<Scalar>& options, const SdpaSaved<Scalar>& saved,
                   const Seq<const Scalar>& q, const Seq<const Scalar>& k, const Seq<const Scalar>& v,
                   const Seq<const Scalar>& out, const Seq<const Scalar>& dout, const Seq<Scalar>& dq,
                   const Seq<Scalar>& dk, const Seq<Scalar>& dv) {
  checkArgument(saved.valid(), where, "saved state is empty: run the forward pass first");
  const bool same = q.dim == saved.dk && v.dim == saved.dv && q.length == saved.lq && k.length == saved.lk &&
                    q.n == saved.n && k.dim == saved.dk && k.n == saved.n && v.length == saved.lk && v.n == saved.n;
  checkExpected(same, where, "q, k, v", "the shapes of the forward pass", "different shapes");
  checkExpected(dout.dim == saved.dv && dout.length == saved.lq && dout.n == saved.n, where, "gradOutput",
                dims3(saved.dv, saved.lq, saved.n), dims3(dout.dim, dout.length, dout.n));
  Plan<Scalar> plan = makePlan(where, options, q.dim, v.dim, q.length, k.length, q.n);
  plan.dropout = saved.dropout;
  plan.seed = saved.seed;
  auto zero = [](const Seq<Scalar>& s) {
    for (Index i = 0; i < s.n; ++i) {
      Scalar* base = s.slice(i);
      for (Index t = 0; t < s.length; ++t) std::fill(base + t * s.ld, base + t * s.ld + s.dim, Scalar(0));
    }
  };
  if (saved.backend == SdpaBackend::naive) {
    naiveBackward(plan, q, k, v, dout, saved.probabilities.data(), dq, dk, dv);
  } else {
    zero(dq);
    zero(dk);
    zero(dv);
    tiledBackward(plan, q, k, v, out, dout, saved.logSumExp.data(), dq, dk, dv);
  }
}

/// Sizes the output (dv, Lq, n) of an attention call on dense tensors and, with
/// needWeights, the weights (Lk, Lq, n); returns the weights' data (null without).
template <typename Scalar>
Scalar* prepareOutputs(std::string_view where, const Tensor3<Scalar>& q, const Tensor3<Scalar>& k,
                       const Tensor3<Scalar>& v, Tensor3<Scalar>& output, bool needWeights, Tensor3<Scalar>* weights) {
  checkArgument(&output != &q && &output != &k && &output != &v, where, "output must not alias an input");
  if (output.dimension(0) != v.dimension(0) || output.dimension(1) != q.dimension(1) ||
      output.dimension(2) != q.dimension(2)) {
    output.resize(v.dimension(0), q.dimension(1), q.dimension(2));
  }
  if (!needWeights) return nullptr;
  checkArgument(weights != nullptr, where, "needWeights is set but no weights tensor was given");
  weights->resize(k.dimension(1), q.dimension(1), q.dimension(2));
  return weights->data();
}

template <typename Scalar>
Seq<const Scalar> view(const Tensor3<Scalar>& t) {
  return Seq<const Scalar>::dense(t.data(), t.dimension(0), t.dimension(1), t.dimension(2));
}
template <typename Scalar>
Seq<Scalar> view(Tensor3<Scalar>& t) {
  return Seq<Scalar>::dense(t.data(), t.dimension(0), t.dimension(1), t.dimension(2));
}

}  // namespace detail

/// Forward pass keeping what the backward needs.
///   q (dk, Lq, n), k (dk, Lk, n), v (dv, Lk, n) -> output (dv, Lq, n);
///   weights (Lk, Lq, n) if options.needWeights (pass a tensor), else left untouched.
/// Throws std::invalid_argument on mismatched shapes, bad masks or options.
template <typename Scalar>
void scaledDotProductAttentionForward(const Tensor3<Scalar>& q, const Tensor3<Scalar>& k, const Tensor3<Scalar>& v,
                                      const SdpaOptions<Scalar>& options, Tensor3<Scalar>& output,
                                      SdpaSaved<Scalar>& saved, Tensor3<Scalar>* weights = nullptr) {
  EIGENREC_STATIC_ASSERT_SCALAR(Scalar);
  constexpr std::string_view where = "scaledDotProductAttention";
  Scalar* w = detail::prepareOutputs(where, q, k, v, output, options.needWeights, weights);
  detail::forwardViews(where, options, detail::view(q), detail::view(k), detail::view(v), detail::view(output), saved,
                       w);
}

/// Backward pass: given dL/dO (dv, Lq, n) for the forward that produced `output` and
/// `saved` (same q, k, v and options, masks still alive), writes dL/dq (dk, Lq, n),
/// dL/dk (dk, Lk, n), dL/dv (dv, Lk, n).
template <typename Scalar>
void scaledDotProductAttentionBackward(const Tensor3<Scalar>& q, const Tensor3<Scalar>& k, const Tensor3<Scalar>& v,
                                       const Tensor3<Scalar>& output, const Tensor3<Scalar>& gradOutput,
                                       const SdpaOptions<Scalar>& options, const SdpaSaved<Scalar>& saved,
                                       Tensor3<Scalar>& gradQ, Tensor3<Scalar>& gradK, Tensor3<Scalar>& gradV) {
  EIGENREC_STATIC_ASSERT_SCALAR(Scalar);
  constexpr std::string_view where = "scaledDotProductAttentionBackward";
  checkArgument(saved.valid(), where, "saved state is empty: run the forward pass first");
  checkExpected(output.dimension(0) == saved.dv && output.dimension(1) == saved.lq && output.dimension(2) == saved.n,
                where, "output", detail::dims3(saved.dv, saved.lq, saved.n),
                detail::dims3(output.dimension(0), output.dimension(1), output.dimension(2)));
  gradQ.resize(q.dimension(0), q.dimension(1), q.dimension(2));
  gradK.resize(k.dimension(0), k.dimension(1), k.dimension(2));
  gradV.resize(v.dimension(0), v.dimension(1), v.dimension(2));
  detail::backwardViews(where, options, saved, detail::view(q), detail::view(k), detail::view(v), detail::view(output),
                        detail::view(gradOutput), detail::view(gradQ), detail::view(gradK), detail::view(gradV));
}

/// Inference form: returns the output (dv, Lq, n) and, if options.needWeights, the
/// weights (Lk, Lq, n). The tiled backend keeps only O(block x length) extra memory.
template <typename Scalar>
SdpaResult<Scalar> scaledDotProductAttention(const Tensor3<Scalar>& q, const Tensor3<Scalar>& k,
                                             const Tensor3<Scalar>& v, const SdpaOptions<Scalar>& options = {}) {
  SdpaResult<Scalar> result;
  SdpaSaved<Scalar> saved;
  scaledDotProductAttentionForward(q, k, v, options, result.output, saved,
                                   options.needWeights ? &result.weights : nullptr);
  return result;
}

}  // namespace eigenrec::attention

#endif  // EIGENREC_ATTENTION_SCALED_DOT_PRODUCT_HPP

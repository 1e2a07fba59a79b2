// eigenrec/attention/multi_head.hpp: multi-head attention, the layer of PyTorch's
// torch.nn.MultiheadAttention (batch_first=True), forward and backward.
//
//   Q = W_q x_q + b_q,  K = W_k x_k + b_k,  V = W_v x_v + b_v        (in-projection)
//   [K; bias_k; 0], [V; bias_v; 0]            (add_bias_kv, add_zero_attn: extra keys)
//   head h: O_h = SDPA(Q_h, K_h, V_h), Q_h = rows [h d, (h+1) d) of Q, d = E / H
//   y = W_o [O_1; ...; O_H] + b_o                                    (out_proj)
//
// Shapes (column-major; the bytes of PyTorch's [batch, length, features]):
//   query (E, Lq, B), key (kdim, Lk, B), value (vdim, Lk, B) -> output (E, Lq, B)
//   weights (S, Lq, B) averaged over heads, or (S, Lq, B*H) per head (problem b*H + h),
//   S = Lk + addBiasKV + addZeroAttn.
// Parameters carry PyTorch's names and logical shapes (W (out, in) as in nn::Linear):
//   in_proj_weight (3E, E) when kdim == vdim == E, else q_proj_weight (E, E),
//   k_proj_weight (E, kdim), v_proj_weight (E, vdim); in_proj_bias (3E, 1);
//   bias_k, bias_v (E, 1); out_proj.weight (E, E), out_proj.bias (E, 1).
// Initialisation as PyTorch's: xavier-uniform in-projection, zero biases, out_proj
// weight U(+-1/sqrt(E)), xavier-normal bias_k / bias_v.
#ifndef EIGENREC_ATTENTION_MULTI_HEAD_HPP
#define EIGENREC_ATTENTION_MULTI_HEAD_HPP

#include <eigenrec/attention/scaled_dot_product.hpp>
#include <eigenrec/core/gemm.hpp>
#include <eigenrec/core/random.hpp>
#include <eigenrec/nn/init.hpp>
#include <eigenrec/nn/linear.hpp>
#include <eigenrec/nn/module.hpp>

#include <string>
#include <vector>

namespace eigenrec::attention {

/// Per-call masks and switches of MultiHeadAttention::forward. Polarity: allowed
/// (true = takes part), unlike PyTorch MHA's attn_mask / key_padding_mask.
template <typename Scalar = float>
struct MhaForwardOptions {
  /// (Lk, B): true = key takes part (PyTorch: ~key_padding_mask).
  AllowedView keyAllowed;
  /// (Lk, Lq) or (Lk, Lq, B*H): true = query may attend key (PyTorch: ~attn_mask).
  AllowedView allowed;
  /// (Lk, Lq) or (Lk, Lq, B*H) float mask added to the scores (PyTorch: float attn_mask).
  ConstView3<Scalar> bias;
  Causal causal = Causal::none;
  /// Compute the attention weights (forces the naive SDPA backend). PyTorch's default
  /// is true; eigenrec's is false (the fast path).
  bool needWeights = false;
  /// Average the weights over heads (PyTorch's average_attn_weights).
  bool averageWeights = true;
};

template <typename Scalar = float>
class MultiHeadAttention : public nn::Module<Scalar> {
 public:
  using MatrixType = Matrix<Scalar>;
  using TensorType = Tensor3<Scalar>;
  using Parameter = nn::Parameter<Scalar>;

  struct Options {
    Index embedDim = 0;   ///< E, the query and output feature size
    Index numHeads = 1;   ///< H, must divide E
    Index kdim = 0;       ///< key feature size (0 = E)
    Index vdim = 0;       ///< value feature size (0 = E)
    bool bias = true;     ///< in_proj_bias and out_proj.bias
    bool addBiasKV = false;    ///< learned extra key/value bias_k, bias_v
    bool addZeroAttn = false;  ///< extra all-zero key/value after those
    double dropout = 0.0;      ///< on the attention probabilities, training only
    SdpaBackend backend = SdpaBackend::automatic;
    int threads = 1;  ///< 0 = hardware concurrency; results do not depend on it

    void validate() const {
      constexpr const char* where = "MultiHeadAttention";
      checkPositive(where, "embedDim", embedDim);
      checkPositive(where, "numHeads", numHeads);
      if (embedDim % numHeads != 0) {
        throwInvalidArgument(where, "numHeads expected a divisor of embedDim ", embedDim, ", got ", numHeads);
      }
      checkNonNegative(where, "kdim", kdim);
      checkNonNegative(where, "vdim", vdim);
      checkHalfOpen(where, "dropout", dropout, 0.0, 1.0);
      checkNonNegative(where, "threads", threads);
    }
  };

  /// Parameters drawn from `rng`; dropout masks seeded from it as well.
  MultiHeadAttention(const Options& options, Rng& rng) : m_options(options) { init(rng); }
  explicit MultiHeadAttention(const Options& options, std::uint64_t seed = 0) : m_options(options) {
    Rng rng(seed);
    init(rng);
  }

  const Options& options() const noexcept { return m_options; }
  Index embedDim() const noexcept { return m_options.embedDim; }
  Index numHeads() const noexcept { return m_options.numHeads; }
  Index headDim() const noexcept { return m_options.embedDim / m_options.numHeads; }
  Index kdim() const noexcept { return m_kdim; }
  Index vdim() const noexcept { return m_vdim; }
  /// True when Q, K and V share one (3E, E) in_proj_weight (kdim == vdim == E).
  bool packedInProjection() const noexcept { return m_packed; }

  Parameter& inProjWeight() { return need(m_packed, m_inProjWeight, "in_proj_weight"); }
  Parameter& qProjWeight() { return need(!m_packed, m_qProjWeight, "q_proj_weight"); }
  Parameter& kProjWeight() { return need(!m_packed, m_kProjWeight, "k_proj_weight"); }
  Parameter& vProjWeight() { return need(!m_packed, m_vProjWeight, "v_proj_weight"); }
  Parameter& inProjBias() { return need(m_options.bias, m_inProjBias, "in_proj_bias"); }
  Parameter& biasK() { return need(m_options.addBiasKV, m_biasK, "bias_k"); }
  Parameter& biasV() { return need(m_options.addBiasKV, m_biasV, "bias_v"); }
  nn::Linear<Scalar>& outProj() noexcept { return m_outProj; }

  /// Self-attention: query = key = value = x (E, L, B) -> (E, L, B). Uses one packed
  /// (3E, E) projection. Backward with backward(gradOutput, gradInput).
  void forward(const TensorType& x, TensorType& output, const MhaForwardOptions<Scalar>& fo = {}) {
    constexpr const char* where = "MultiHeadAttention::forward";
    checkArgument(m_packed, where, "self-attention needs kdim == vdim == embedDim");
    checkExpected(x.dimension(0) == embedDim(), where, "query dim", embedDim(), x.dimension(0));
    m_self = true;
    runForward(x, x, x, output, fo);
  }
  TensorType forward(const TensorType& x, const MhaForwardOptions<Scalar>& fo = {}) {
    TensorType out;
    forward(x, out, fo);
    return out;
  }

  /// Attention of query (E, Lq, B) over key (kdim, Lk, B) / value (vdim, Lk, B) ->
  /// output (E, Lq, B). Backward with backward(gradOutput, gradQuery, gradKey, gradValue).
  void forward(const TensorType& query, const TensorType& key, const TensorType& value, TensorType& output,
               const MhaForwardOptions<Scalar>& fo = {}) {
    constexpr const char* where = "MultiHeadAttention::forward";
    checkExpected(query.dimension(0) == embedDim(), where, "query dim", embedDim(), query.dimension(0));
    checkExpected(key.dimension(0) == m_kdim, where, "key dim", m_kdim, key.dimension(0));
    checkExpected(value.dimension(0) == m_vdim, where, "value dim", m_vdim, value.dimension(0));
    checkExpected(key.dimension(1) == value.dimension(1), where, "value length", key.dimension(1), value.dimension(1));
    checkExpected(key.dimension(2) == query.dimension(2), where, "key batch", query.dimension(2), key.dimension(2));
    checkExpected(value.dimension(2) == query.dimension(2), where, "value batch", query.dimension(2),
                  value.dimension(2));
    m_self = false;
    runForward(query, key, value, output, fo);
  }
  TensorType forward(const TensorType& query, const TensorType& key, const TensorType& value,
                     const MhaForwardOptions<Scalar>& fo = {}) {
    TensorType out;
    forward(query, key, value, out, fo);
    return out;
  }

  /// Attention weights of the last forward with needWeights: (S, Lq, B) averaged or
  /// (S, Lq, B*H) per head.
  const TensorType& weights() const {
    checkArgument(m_hasWeights, "MultiHeadAttention::weights", "the last forward did not compute weights (needWeights)");
    return m_weights;
  }

  /// Backward of a self-attention forward: gradInput (E, L, B) = dL/dx.
  void backward(const TensorType& gradOutput, TensorType& gradInput) {
    constexpr const char* where = "MultiHeadAttention::backward";
    checkArgument(m_forwardDone, where, "no forward pass to differentiate");
    checkArgument(m_self, where, "the last forward was cross-attention: use backward(gradOutput, gradQuery, gradKey, gradValue)");
    runBackward(gradOutput);
    gradInput.resize(embedDim(), m_lq, m_batch);
    Eigen::Map<MatrixType> gi(gradInput.data(), embedDim(), m_lq * m_batch);
    const Index e = embedDim();
    if (!m_inProjWeight.frozen()) {
      gemm<Scalar>(Op::none, Op::transpose, Scalar(1), m_dq, m_xq, Scalar(1), m_inProjWeight.grad());
    }
    if (m_options.bias && !m_inProjBias.frozen()) m_inProjBias.grad().col(0) += m_dq.rowwise().sum();
    gemm<Scalar>(Op::transpose, Op::none, Scalar(1), m_inProjWeight.value(), m_dq, Scalar(0), gi);
    (void)e;
  }
  TensorType backward(const TensorType& gradOutput) {
    TensorType g;
    backward(gradOutput, g);
    return g;
  }

  /// Backward of a cross-attention forward: dL/dquery (E, Lq, B), dL/dkey (kdim, Lk, B),
  /// dL/dvalue (vdim, Lk, B). Parameter gradients are accumulated.
  void backward(const TensorType& gradOutput, TensorType& gradQuery, TensorType& gradKey, TensorType& gradValue) {
    constexpr const char* where = "MultiHeadAttention::backward";
    checkArgument(m_forwardDone, where, "no forward pass to differentiate");
    checkArgument(!m_self, where, "the last forward was self-attention: use backward(gradOutput, gradInput)");
    runBackward(gradOutput);
    const Index e = embedDim();
    gradQuery.resize(e, m_lq, m_batch);
    gradKey.resize(m_kdim, m_lk, m_batch);
    gradValue.resize(m_vdim, m_lk, m_batch);
    Eigen::Map<MatrixType> gq(gradQuery.data(), e, m_lq * m_batch);
    Eigen::Map<MatrixType> gk(gradKey.data(), m_kdim, m_lk * m_batch);
    Eigen::Map<MatrixType> gv(gradValue.data(), m_vdim, m_lk * m_batch);
    // m_dq holds (E, Lq*B); m_dk, m_dv (E, Lk*B).
    projectBack(0, m_dq, m_xq, gq);
    projectBack(1, m_dk, m_xk, gk);
    projectBack(2, m_dv, m_xv, gv);
  }

  void collectParameters(const std::string& prefix, std::vector<nn::NamedParameter<Scalar>>& out) override {
    if (m_packed) {
      out.push_back({prefix + "in_proj_weight", &m_inProjWeight});
    } else {
      out.push_back({prefix + "q_proj_weight", &m_qProjWeight});
      out.push_back({prefix + "k_proj_weight", &m_kProjWeight});
      out.push_back({prefix + "v_proj_weight", &m_vProjWeight});
    }
    if (m_options.bias) out.push_back({prefix + "in_proj_bias", &m_inProjBias});
    if (m_options.addBiasKV) {
      out.push_back({prefix + "bias_k", &m_biasK});
      out.push_back({prefix + "bias_v", &m_biasV});
    }
    m_outProj.collectParameters(prefix + "out_proj.", out);
  }

  void setTraining(bool training) override {
    nn::Module<Scalar>::setTraining(training);
    m_outProj.setTraining(training);
  }

  /// Reseeds the dropout stream.
  void reseed(std::uint64_t seed) { m_rng.reseed(seed); }

 private:
  static Parameter& need(bool present, Parameter& p, const char* name) {
    if (!present) throwInvalidArgument("MultiHeadAttention", "this layer has no parameter ", name);
    return p;
  }

  void init(Rng& rng) {
    m_options.validate();
    const Index e = m_options.embedDim;
    m_kdim = m_options.kdim > 0 ? m_options.kdim : e;
    m_vdim = m_options.vdim > 0 ? m_options.vdim : e;
    m_packed = m_kdim == e && m_vdim == e;
    if (m_packed) {
      MatrixType w(3 * e, e);
      nn::init::xavierUniform(w, e, 3 * e, rng);
      m_inProjWeight = Parameter(std::move(w));
    } else {
      MatrixType wq(e, e), wk(e, m_kdim), wv(e, m_vdim);
      nn::init::xavierUniform(wq, e, e, rng);
      nn::init::xavierUniform(wk, m_kdim, e, rng);
      nn::init::xavierUniform(wv, m_vdim, e, rng);
      m_qProjWeight = Parameter(std::move(wq));
      m_kProjWeight = Parameter(std::move(wk));
      m_vProjWeight = Parameter(std::move(wv));
    }
    if (m_options.bias) m_inProjBias = Parameter(MatrixType::Zero(3 * e, 1));
    m_outProj = nn::Linear<Scalar>(e, e, rng, typename nn::Linear<Scalar>::Options{m_options.bias});
    if (m_options.bias) m_outProj.bias().value().setZero();
    if (m_options.addBiasKV) {
      MatrixType bk(e, 1), bv(e, 1);
      nn::init::xavierNormal(bk, e, e, rng);
      nn::init::xavierNormal(bv, e, e, rng);
      m_biasK = Parameter(std::move(bk));
      m_biasV = Parameter(std::move(bv));
    }
    m_rng = Rng(rng.next());
  }

  /// Weight block of projection `which` (0 q, 1 k, 2 v): (E, in).
  auto projWeight(int which) {
    const Index e = embedDim();
    if (m_packed) return Eigen::Ref<MatrixType>(m_inProjWeight.value().middleRows(which * e, e));
    return Eigen::Ref<MatrixType>(which == 0 ? m_qProjWeight.value() : (which == 1 ? m_kProjWeight.value() : m_vProjWeight.value()));
  }
  Parameter& projParam(int which) {
    if (m_packed) return m_inProjWeight;
    return which == 0 ? m_qProjWeight : (which == 1 ? m_kProjWeight : m_vProjWeight);
  }

  void project(int which, const Eigen::Map<const MatrixType>& x, MatrixType& y) {
    y.resize(embedDim(), x.cols());
    gemm<Scalar>(Op::none, Op::none, Scalar(1), projWeight(which), x, Scalar(0), y);
    if (m_options.bias) y.colwise() += m_inProjBias.value().col(0).segment(which * embedDim(), embedDim());
  }

  /// dL/dx = W^T dy; accumulates dW += dy x^T and db += rowsum(dy).
  void projectBack(int which, const MatrixType& dy, const MatrixType& x, Eigen::Map<MatrixType>& dx) {
    const Index e = embedDim();
    Parameter& w = projParam(which);
    if (!w.frozen()) {
      if (m_packed) {
        gemm<Scalar>(Op::none, Op::transpose, Scalar(1), dy, x, Scalar(1), w.grad().middleRows(which * e, e));
      } else {
        gemm<Scalar>(Op::none, Op::transpose, Scalar(1), dy, x, Scalar(1), w.grad());
      }
    }
    if (m_options.bias && !m_inProjBias.frozen()) m_inProjBias.grad().col(0).segment(which * e, e) += dy.rowwise().sum();
    gemm<Scalar>(Op::transpose, Op::none, Scalar(1), projWeight(which), dy, Scalar(0), dx);
  }

  void checkMasks(const MhaForwardOptions<Scalar>& fo, Index lq, Index lk, Index batch) const {
    constexpr const char* where = "MultiHeadAttention::forward";
    const Index n = batch * numHeads();
    detail::checkScoreView(where, "allowed", fo.allowed, lk, lq, n);
    detail::checkScoreView(where, "bias", fo.bias, lk, lq, n);
    if (!fo.keyAllowed.empty()) {
      checkExpected(fo.keyAllowed.dimension(0) == lk && fo.keyAllowed.dimension(1) == batch &&
                        fo.keyAllowed.dimension(2) == 1,
                    where, "keyAllowed", detail::dims3(lk, batch, 1),
                    detail::dims3(fo.keyAllowed.dimension(0), fo.keyAllowed.dimension(1), fo.keyAllowed.dimension(2)));
    }
  }

  void runForward(const TensorType& query, const TensorType& key, const TensorType& value, TensorType& output,
                  const MhaForwardOptions<Scalar>& fo) {
    constexpr const char* where = "MultiHeadAttention::forward";
    const Index e = embedDim(), h = numHeads(), hd = headDim();
    const Index batch = query.dimension(2), lq = query.dimension(1), lk = key.dimension(1);
    checkMasks(fo, lq, lk, batch);
    const Index extra = (m_options.addBiasKV ? 1 : 0) + (m_options.addZeroAttn ? 1 : 0);
    const Index s = lk + extra;
    m_forwardDone = false;
    m_lq = lq;
    m_lk = lk;
    m_batch = batch;
    m_xq = Eigen::Map<const MatrixType>(query.data(), e, lq * batch);

    detail::Seq<const Scalar> qv, kv, vv;
    if (m_self) {
      m_qkv.resize(3 * e, m_xq.cols());
      gemm<Scalar>(Op::none, Op::none, Scalar(1), m_inProjWeight.value(), m_xq, Scalar(0), m_qkv);
      if (m_options.bias) m_qkv.colwise() += m_inProjBias.value().col(0);
      qv = packedView(m_qkv.data(), 3 * e, lq);
      kv = packedView(m_qkv.data() + e, 3 * e, lq);
      vv = packedView(m_qkv.data() + 2 * e, 3 * e, lq);
    } else {
      m_xk = Eigen::Map<const MatrixType>(key.data(), m_kdim, lk * batch);
      m_xv = Eigen::Map<const MatrixType>(value.data(), m_vdim, lk * batch);
      project(0, Eigen::Map<const MatrixType>(m_xq.data(), e, lq * batch), m_q);
      project(1, Eigen::Map<const MatrixType>(m_xk.data(), m_kdim, lk * batch), m_k);
      project(2, Eigen::Map<const MatrixType>(m_xv.data(), m_vdim, lk * batch), m_v);
      qv = packedView(m_q.data(), e, lq);
      kv = packedView(m_k.data(), e, lk);
      vv = packedView(m_v.data(), e, lk);
    }
    if (extra > 0) {
      // [K; bias_k; 0] per batch element, as PyTorch's cat after the in-projection
      m_kExt.resize(e, s * batch);
      m_vExt.resize(e, s * batch);
      for (Index b = 0; b < batch; ++b) {
        for (Index t = 0; t < lk; ++t) {
          for (Index c = 0; c < e; ++c) {
            m_kExt(c, b * s + t) = kv.slice(b * h)[c + t * kv.ld];
            m_vExt(c, b * s + t) = vv.slice(b * h)[c + t * vv.ld];
          }
        }
        Index t = lk;
        if (m_options.addBiasKV) {
          m_kExt.col(b * s + t) = m_biasK.value().col(0);
          m_vExt.col(b * s + t) = m_biasV.value().col(0);
          ++t;
        }
        if (m_options.addZeroAttn) {
          m_kExt.col(b * s + t).setZero();
          m_vExt.col(b * s + t).setZero();
        }
      }
      kv = packedView(m_kExt.data(), e, s);
      vv = packedView(m_vExt.data(), e, s);
    }

    // Masks, copied (and padded with allowed entries for the extra keys) so that they
    // live until backward.
    SdpaOptions<Scalar>& so = m_sdpa;
    so = SdpaOptions<Scalar>();
    so.backend = m_options.backend;
    so.threads = m_options.threads;
    so.dropout = m_options.dropout;
    so.training = this->training();
    so.seed = m_rng.next();
    so.needWeights = fo.needWeights;
    so.checkFinite = false;  // checked below on the layer inputs
    Causal causal = fo.causal;
    const bool causalAsMask = causal != Causal::none && extra > 0;
    m_useAllowed = !fo.allowed.empty() || causalAsMask;
    m_useKeyAllowed = !fo.keyAllowed.empty();
    m_useBias = !fo.bias.empty();
    if (!fo.allowed.empty() || causalAsMask) {
      const Index depth = fo.allowed.empty() ? 1 : fo.allowed.dimension(2);
      m_allowed.resize(s, lq, depth);
      m_allowed.setConstant(true);
      const Index offset = causal == Causal::bottomRight ? lk - lq : 0;
      for (Index d = 0; d < depth; ++d) {
        for (Index q = 0; q < lq; ++q) {
          for (Index k = 0; k < lk; ++k) {
            bool a = fo.allowed.empty() ? true : fo.allowed(k, q, d);
            if (causalAsMask) a = a && k <= q + offset;
            m_allowed(k, q, d) = a;
          }
        }
      }
      so.allowed = m_allowed;
      if (causalAsMask) causal = Causal::none;
    }
    so.causal = causal;
    if (!fo.keyAllowed.empty()) {
      m_keyAllowed.resize(s, batch, 1);
      m_keyAllowed.setConstant(true);
      for (Index b = 0; b < batch; ++b) {
        for (Index k = 0; k < lk; ++k) m_keyAllowed(k, b, 0) = fo.keyAllowed(k, b, 0);
      }
      so.keyAllowed = m_keyAllowed;
    }
    if (!fo.bias.empty()) {
      m_bias.resize(s, lq, fo.bias.dimension(2));
      m_bias.setZero();
      for (Index d = 0; d < fo.bias.dimension(2); ++d) {
        for (Index q = 0; q < lq; ++q) {
          for (Index k = 0; k < lk; ++k) m_bias(k, q, d) = fo.bias(k, q, d);
        }
      }
      so.bias = m_bias;
    }

    if (kCheckFiniteDefault) {
      checkAllFinite(where, "query", m_xq);
      if (!m_self) {
        checkAllFinite(where, "key", m_xk);
        checkAllFinite(where, "value", m_xv);
      }
    }

    m_ctx.resize(e, lq * batch);
    const detail::Seq<Scalar> ov = packedView(m_ctx.data(), e, lq);
    Scalar* w = nullptr;
    if (fo.needWeights) {
      m_weightsAll.resize(s, lq, batch * h);
      w = m_weightsAll.data();
    }
    detail::forwardViews(where, so, qv, kv, vv, ov, m_saved, w);
    m_extra = extra;
    m_hasWeights = fo.needWeights;
    if (fo.needWeights) {
      if (fo.averageWeights) {
        m_weights.resize(s, lq, batch);
        m_weights.setZero();
        for (Index b = 0; b < batch; ++b) {
          Eigen::Map<MatrixType> dst(m_weights.data() + b * s * lq, s, lq);
          for (Index hh = 0; hh < h; ++hh) {
            dst += Eigen::Map<const MatrixType>(m_weightsAll.data() + (b * h + hh) * s * lq, s, lq);
          }
          dst /= static_cast<Scalar>(h);
        }
      } else {
        m_weights = m_weightsAll;
      }
    }
    output.resize(e, lq, batch);
    Eigen::Map<MatrixType> out(output.data(), e, lq * batch);
    MatrixType y;
    m_outProj.forward(m_ctx, y);
    out = y;
    m_forwardDone = true;
    (void)hd;
  }

  /// View of the heads of a (rows, L * B) projection buffer whose first row is at data.
  detail::Seq<Scalar> packedView(Scalar* data, Index rows, Index length) const {
    detail::Seq<Scalar> v;
    v.data = data;
    v.dim = headDim();
    v.length = length;
    v.n = m_batch * numHeads();
    v.ld = rows;
    v.heads = numHeads();
    v.headStride = headDim();
    v.batchStride = rows * length;
    return v;
  }
  void runBackward(const TensorType& gradOutput) {
    constexpr const char* where = "MultiHeadAttention::backward";
    const Index e = embedDim();
    checkExpected(gradOutput.dimension(0) == e && gradOutput.dimension(1) == m_lq && gradOutput.dimension(2) == m_batch,
                  where, "gradOutput", detail::dims3(e, m_lq, m_batch),
                  detail::dims3(gradOutput.dimension(0), gradOutput.dimension(1), gradOutput.dimension(2)));
    const Eigen::Map<const MatrixType> dy(gradOutput.data(), e, m_lq * m_batch);
    m_outProj.backward(dy, m_dctx);
    // Views into this object's own buffers, rebuilt here (not kept from the forward)
    // so that a copied layer never points into another one.
    const Index s = m_lk + m_extra;
    const bool extended = m_extra > 0;
    detail::Seq<const Scalar> qv, kv, vv;
    if (m_self) {
      qv = packedView(m_qkv.data(), 3 * e, m_lq);
      kv = packedView(m_qkv.data() + e, 3 * e, m_lq);
      vv = packedView(m_qkv.data() + 2 * e, 3 * e, m_lq);
    } else {
      qv = packedView(m_q.data(), e, m_lq);
      kv = packedView(m_k.data(), e, m_lk);
      vv = packedView(m_v.data(), e, m_lk);
    }
    if (extended) {
      kv = packedView(m_kExt.data(), e, s);
      vv = packedView(m_vExt.data(), e, s);
    }
    SdpaOptions<Scalar> so = m_sdpa;
    so.allowed = m_useAllowed ? AllowedView(m_allowed) : AllowedView();
    so.keyAllowed = m_useKeyAllowed ? AllowedView(m_keyAllowed) : AllowedView();
    so.bias = m_useBias ? ConstView3<Scalar>(m_bias) : ConstView3<Scalar>();
    // gradient buffers laid out as the forward's projections
    detail::Seq<Scalar> dqv, dkv, dvv;
    if (m_self && !extended) {
      m_dqkv.resize(3 * e, m_lq * m_batch);
      dqv = packedView(m_dqkv.data(), 3 * e, m_lq);
      dkv = packedView(m_dqkv.data() + e, 3 * e, m_lq);
      dvv = packedView(m_dqkv.data() + 2 * e, 3 * e, m_lq);
    } else {
      m_dq.resize(e, m_lq * m_batch);
      m_dkExt.resize(e, s * m_batch);
      m_dvExt.resize(e, s * m_batch);
      dqv = packedView(m_dq.data(), e, m_lq);
      dkv = packedView(m_dkExt.data(), e, s);
      dvv = packedView(m_dvExt.data(), e, s);
    }
    const detail::Seq<const Scalar> ov = packedView(m_ctx.data(), e, m_lq);
    const detail::Seq<const Scalar> dov = packedView(m_dctx.data(), e, m_lq);
    detail::backwardViews(where, so, m_saved, qv, kv, vv, ov, dov, dqv, dkv, dvv);

    if (m_self && !extended) {
      m_dq.swap(m_dqkv);  // (3E, L*B): the packed backward in backward(g, gi) uses it whole
      return;
    }
    // bias_k / bias_v gradients, and the key/value gradients without the extra keys
    if (m_options.addBiasKV) {
      for (Index b = 0; b < m_batch; ++b) {
        if (!m_biasK.frozen()) m_biasK.grad().col(0) += m_dkExt.col(b * s + m_lk);
        if (!m_biasV.frozen()) m_biasV.grad().col(0) += m_dvExt.col(b * s + m_lk);
      }
    }
    m_dk.resize(e, m_lk * m_batch);
    m_dv.resize(e, m_lk * m_batch);
    for (Index b = 0; b < m_batch; ++b) {
      m_dk.middleCols(b * m_lk, m_lk) = m_dkExt.middleCols(b * s, m_lk);
      m_dv.middleCols(b * m_lk, m_lk) = m_dvExt.middleCols(b * s, m_lk);
    }
    if (m_self) {
      // extended self-attention: stack into (3E, L*B) for the packed backward
      m_dqkv.resize(3 * e, m_lq * m_batch);
      m_dqkv.topRows(e) = m_dq;
      m_dqkv.middleRows(e, e) = m_dk;
      m_dqkv.bottomRows(e) = m_dv;
      m_dq.swap(m_dqkv);
    }
  }

  Options m_options;
  Index m_kdim = 0, m_vdim = 0;
  bool m_packed = true;
  Parameter m_inProjWeight, m_qProjWeight, m_kProjWeight, m_vProjWeight, m_inProjBias, m_biasK, m_biasV;
  nn::Linear<Scalar> m_outProj{1, 1};
  Rng m_rng;

  // forward state
  bool m_forwardDone = false, m_self = false, m_hasWeights = false;
  Index m_lq = 0, m_lk = 0, m_batch = 0;
  MatrixType m_xq, m_xk, m_xv;         // layer inputs
  MatrixType m_qkv, m_q, m_k, m_v;     // projections
  MatrixType m_kExt, m_vExt;           // with bias_k / zero keys
  MatrixType m_ctx;                    // (E, Lq*B) concatenated heads
  Index m_extra = 0;
  bool m_useAllowed = false, m_useKeyAllowed = false, m_useBias = false;
  SdpaOptions<Scalar> m_sdpa;
  SdpaSaved<Scalar> m_saved;
  Tensor<bool, 3> m_allowed, m_keyAllowed;
  TensorType m_bias;
  TensorType m_weightsAll, m_weights;
  // backward state
  MatrixType m_dctx, m_dqkv, m_dq, m_dk, m_dv, m_dkExt, m_dvExt;
};

}  // namespace eigenrec::attention

#endif  // EIGENREC_ATTENTION_MULTI_HEAD_HPP

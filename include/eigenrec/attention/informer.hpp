// eigenrec/attention/informer.hpp: the Informer encoder (Zhou et al., AAAI 2021) as the
// reference implementation builds it (zhouhaoyi/Informer2020, models/attn.py and
// models/encoder.py): the ProbSparse attention layer, self-attention distilling, encoder
// layers, the encoder and the multi-resolution encoder stack. Forward and backward for
// every piece; parameter names are the reference's state_dict names, so PyTorch weights
// load with loadPyTorchState (pytorch_state.hpp).
//
// Shapes (column-major; the bytes of PyTorch's [batch, length, features]):
//   InformerAttentionLayer  (E, Lq, B) x (E, Lk, B) -> (E, Lq, B)
//   DistillingLayer         (C, L, B) -> (C, ceil(L / 2), B)
//   InformerEncoderLayer    (E, L, B) -> (E, L, B)
//   InformerEncoder         (E, L, B) -> (E, L_out, B), L_out = L halved (ceil) once per
//                           distilling layer
//   InformerEncoderStack    (E, L, B) -> (E, sum_e L_out(e), B), encoder e reading the
//                           last floor(L / 2^e) steps
#ifndef EIGENREC_ATTENTION_INFORMER_HPP
#define EIGENREC_ATTENTION_INFORMER_HPP

#include <eigenrec/attention/prob_sparse.hpp>
#include <eigenrec/core/random.hpp>
#include <eigenrec/core/tensor.hpp>
#include <eigenrec/nn/activation.hpp>
#include <eigenrec/nn/conv.hpp>
#include <eigenrec/nn/dropout.hpp>
#include <eigenrec/nn/linear.hpp>
#include <eigenrec/nn/normalization.hpp>
#include <eigenrec/nn/pooling.hpp>
#include <eigenrec/nn/sequence_layer.hpp>

#include <cmath>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

namespace eigenrec::attention {

namespace detail {

template <typename Scalar>
void resize3(Tensor3<Scalar>& t, Index a, Index b, Index c) {
  if (t.dimension(0) != a || t.dimension(1) != b || t.dimension(2) != c) t.resize(a, b, c);
}

/// Heads of a packed (heads * dim, length, batch) projection as n = batch * heads
/// problems (problem b * heads + h reads rows [h dim, (h + 1) dim)).
template <typename T>
Seq<T> headView(T* data, Index dim, Index length, Index batch, Index heads) {
  Seq<T> s;
  s.data = data;
  s.dim = dim;
  s.length = length;
  s.n = batch * heads;
  s.ld = heads * dim;
  s.heads = heads;
  s.headStride = dim;
  s.batchStride = length * heads * dim;
  return s;
}

/// The same problems laid out head-major per batch element ([B, H, L, d] in PyTorch's
/// terms): what the reference's `mix` reinterprets as (H d, L) per batch element.
template <typename T>
Seq<T> mixedView(T* data, Index dim, Index length, Index batch, Index heads) {
  Seq<T> s;
  s.data = data;
  s.dim = dim;
  s.length = length;
  s.n = batch * heads;
  s.ld = dim;
  s.heads = heads;
  s.headStride = length * dim;
  s.batchStride = heads * length * dim;
  return s;
}

template <typename Scalar>
void checkSequence(const char* where, const char* name, const Tensor3<Scalar>& x, Index features) {
  checkExpected(x.dimension(0) == features, where, eigenrec::detail::concat(name, " features (dimension 0)"), features,
                x.dimension(0));
  checkNotEmpty(where, eigenrec::detail::concat(name, " length (dimension 1)"), x.dimension(1));
  checkNotEmpty(where, eigenrec::detail::concat(name, " batch (dimension 2)"), x.dimension(2));
}

template <typename Scalar>
void checkGradShape(const char* where, const Tensor3<Scalar>& g, Index a, Index b, Index c) {
  checkExpected(g.dimension(0) == a && g.dimension(1) == b && g.dimension(2) == c, where, "gradOutput", dims3(a, b, c),
                dims3(g.dimension(0), g.dimension(1), g.dimension(2)));
}

}  // namespace detail

/// The reference's AttentionLayer around ProbSparse attention:
///
///   Q = W_q x_q + b_q, K = W_k x_k + b_k, V = W_v x_v + b_v   (H heads of dk, dk, dv)
///   C = ProbSparse(Q_h, K_h, V_h) per head, heads concatenated (or `mix`ed)
///   y = W_o C + b_o
///
/// `mix` (used by the reference for decoder self-attention) lays the heads' outputs out
/// as PyTorch's [B, H, L, dv] and reads that memory as [B, L, H dv], which interleaves
/// time and heads; it is reproduced bit for bit for weight compatibility.
///
/// Parameters: query_projection.{weight (H dk, E), bias}, key_projection.*,
/// value_projection.{weight (H dv, E), bias}, out_projection.{weight (E, H dv), bias},
/// initialised as PyTorch's nn.Linear. Each forward draws a new key sample (as the
/// reference) from the layer's engine unless an index was injected (setSampleIndex).
template <typename Scalar = float>
class InformerAttentionLayer : public nn::SequenceLayer<Scalar> {
 public:
  using nn::SequenceLayer<Scalar>::forward;
  using nn::SequenceLayer<Scalar>::backward;
  using MatrixType = Matrix<Scalar>;
  using TensorType = Tensor3<Scalar>;

  struct Options {
    Index modelDim = 0;  ///< E
    Index numHeads = 8;  ///< H
    Index keyDim = 0;    ///< dk per head (0 = E / H, the reference's d_keys)
    Index valueDim = 0;  ///< dv per head (0 = E / H)
    bool mix = false;    ///< the reference's output reshape (see the class comment)
    /// factor, scale, masked, causalFill, measure, samplePerProblem, threads,
    /// checkFinite of the attention; its seed and sampleIndex are set per call.
    ProbSparseOptions<Scalar> attention;
    /// Return the attention map of each forward (weights()).
    bool outputAttention = false;

    void validate() const {
      constexpr const char* where = "InformerAttentionLayer";
      checkPositive(where, "modelDim", modelDim);
      checkPositive(where, "numHeads", numHeads);
      checkNonNegative(where, "keyDim", keyDim);
      checkNonNegative(where, "valueDim", valueDim);
      if ((keyDim == 0 || valueDim == 0) && modelDim % numHeads != 0) {
        throwInvalidArgument(where, "numHeads expected a divisor of modelDim ", modelDim,
                             " (or keyDim and valueDim set), got ", numHeads);
      }
      checkPositive(where, "attention.factor", attention.factor);
      checkNonNegative(where, "attention.threads", attention.threads);
    }
  };

  InformerAttentionLayer(const Options& options, Rng& rng) : m_options(options) { init(rng); }
  explicit InformerAttentionLayer(const Options& options, std::uint64_t seed = 0) : m_options(options) {
    Rng rng(seed);
    init(rng);
  }

  const Options& options() const noexcept { return m_options; }
  Index modelDim() const noexcept { return m_options.modelDim; }
  Index numHeads() const noexcept { return m_options.numHeads; }
  Index keyDim() const noexcept { return m_dk; }
  Index valueDim() const noexcept { return m_dv; }
  nn::Linear<Scalar>& queryProjection() noexcept { return m_query; }
  nn::Linear<Scalar>& keyProjection() noexcept { return m_key; }
  nn::Linear<Scalar>& valueProjection() noexcept { return m_value; }
  nn::Linear<Scalar>& outProjection() noexcept { return m_out; }

  /// Uses `index` ((U, Lq) or (U, Lq, B H)) as the key sample of every following
  /// forward, until clearSampleIndex(). Checked against the input at each forward.
  void setSampleIndex(IndexTensor3 index) { m_injected = std::move(index); }
  void clearSampleIndex() { m_injected.reset(); }
  /// Reseeds the engine that draws the key samples.
  void reseed(std::uint64_t seed) { m_rng.reseed(seed); }

  /// Self-attention: x (E, L, B) -> output (E, L, B).
  void forward(const TensorType& x, TensorType& output) override {
    detail::checkSequence("InformerAttentionLayer::forward", "x", x, modelDim());
    m_self = true;
    run(x, x, x, output);
  }

  /// queries (E, Lq, B) attending keys / values (E, Lk, B) -> output (E, Lq, B).
  void forward(const TensorType& queries, const TensorType& keys, const TensorType& values, TensorType& output) {
    constexpr const char* where = "InformerAttentionLayer::forward";
    detail::checkSequence(where, "queries", queries, modelDim());
    detail::checkSequence(where, "keys", keys, modelDim());
    detail::checkSequence(where, "values", values, modelDim());
    checkExpected(values.dimension(1) == keys.dimension(1), where, "values length", keys.dimension(1),
                  values.dimension(1));
    checkExpected(keys.dimension(2) == queries.dimension(2), where, "keys batch", queries.dimension(2),
                  keys.dimension(2));
    checkExpected(values.dimension(2) == queries.dimension(2), where, "values batch", queries.dimension(2),
                  values.dimension(2));
    m_self = false;
    run(queries, keys, values, output);
  }

  /// The attention map (Lk, Lq, B H) of the last forward (outputAttention).
  const TensorType& weights() const {
    checkArgument(m_options.outputAttention && m_saved.valid(), "InformerAttentionLayer::weights",
                  "no attention map: set outputAttention and run forward");
    return m_weights;
  }
  /// What the last forward selected: active queries (u, B H) and the key sample used.
  const ProbSparseSaved<Scalar>& saved() const noexcept { return m_saved; }

  /// Backward of a self-attention forward: gradOutput (E, L, B) -> gradInput (E, L, B).
  void backward(const TensorType& gradOutput, TensorType& gradInput) override {
    constexpr const char* where = "InformerAttentionLayer::backward";
    checkArgument(m_saved.valid(), where, "no forward pass to differentiate");
    checkArgument(m_self, where, "the last forward was cross-attention: use the four-argument backward");
    runBackward(gradOutput);
    detail::resize3(gradInput, modelDim(), m_lq, m_batch);
    Eigen::Map<MatrixType> gx(gradInput.data(), modelDim(), m_lq * m_batch);
    gx = m_gx[0] + m_gx[1] + m_gx[2];
  }

  /// Backward of a cross-attention forward.
  void backward(const TensorType& gradOutput, TensorType& gradQueries, TensorType& gradKeys, TensorType& gradValues) {
    constexpr const char* where = "InformerAttentionLayer::backward";
    checkArgument(m_saved.valid(), where, "no forward pass to differentiate");
    checkArgument(!m_self, where, "the last forward was self-attention: use backward(gradOutput, gradInput)");
    runBackward(gradOutput);
    const Index e = modelDim();
    detail::resize3(gradQueries, e, m_lq, m_batch);
    detail::resize3(gradKeys, e, m_lk, m_batch);
    detail::resize3(gradValues, e, m_lk, m_batch);
    Eigen::Map<MatrixType>(gradQueries.data(), e, m_lq * m_batch) = m_gx[0];
    Eigen::Map<MatrixType>(gradKeys.data(), e, m_lk * m_batch) = m_gx[1];
    Eigen::Map<MatrixType>(gradValues.data(), e, m_lk * m_batch) = m_gx[2];
  }

  void collectParameters(const std::string& prefix, std::vector<nn::NamedParameter<Scalar>>& out) override {
    m_query.collectParameters(prefix + "query_projection.", out);
    m_key.collectParameters(prefix + "key_projection.", out);
    m_value.collectParameters(prefix + "value_projection.", out);
    m_out.collectParameters(prefix + "out_projection.", out);
  }

 private:
  void init(Rng& rng) {
    m_options.validate();
    const Index e = m_options.modelDim, h = m_options.numHeads;
    m_dk = m_options.keyDim > 0 ? m_options.keyDim : e / h;
    m_dv = m_options.valueDim > 0 ? m_options.valueDim : e / h;
    m_query = nn::Linear<Scalar>(e, h * m_dk, rng);
    m_key = nn::Linear<Scalar>(e, h * m_dk, rng);
    m_value = nn::Linear<Scalar>(e, h * m_dv, rng);
    m_out = nn::Linear<Scalar>(h * m_dv, e, rng);
    m_rng = Rng(rng.next());
  }

  detail::Seq<Scalar> contextView(Scalar* data) const {
    const Index h = numHeads();
    return m_options.mix ? detail::mixedView(data, m_dv, m_lq, m_batch, h)
                         : detail::headView(data, m_dv, m_lq, m_batch, h);
  }

  void run(const TensorType& xq, const TensorType& xk, const TensorType& xv, TensorType& output) {
    constexpr const char* where = "InformerAttentionLayer::forward";
    const Index e = modelDim(), h = numHeads();
    m_saved = ProbSparseSaved<Scalar>();
    m_lq = xq.dimension(1);
    m_lk = xk.dimension(1);
    m_batch = xq.dimension(2);
    m_query.forward(Eigen::Map<const MatrixType>(xq.data(), e, m_lq * m_batch), m_q);
    m_key.forward(Eigen::Map<const MatrixType>(xk.data(), e, m_lk * m_batch), m_k);
    m_value.forward(Eigen::Map<const MatrixType>(xv.data(), e, m_lk * m_batch), m_v);
    ProbSparseOptions<Scalar> o = m_options.attention;
    o.needWeights = m_options.outputAttention;
    o.seed = m_rng.next();
    o.sampleIndex = m_injected ? ConstView3<Index>(*m_injected) : ConstView3<Index>();
    m_context.resize(h * m_dv, m_lq * m_batch);
    Scalar* w = nullptr;
    if (o.needWeights) {
      m_weights.resize(m_lk, m_lq, m_batch * h);
      w = m_weights.data();
    }
    ProbSparseSaved<Scalar> saved;
    detail::probSparseForwardViews<Scalar>(where, o, detail::headView<const Scalar>(m_q.data(), m_dk, m_lq, m_batch, h),
                                           detail::headView<const Scalar>(m_k.data(), m_dk, m_lk, m_batch, h),
                                           detail::headView<const Scalar>(m_v.data(), m_dv, m_lk, m_batch, h),
                                           contextView(m_context.data()), saved, w);
    m_out.forward(m_context, m_y);  // no allocation once m_y has the shape
    detail::resize3(output, e, m_lq, m_batch);
    Eigen::Map<MatrixType>(output.data(), e, m_lq * m_batch) = m_y;
    m_saved = std::move(saved);
  }

  void runBackward(const TensorType& gradOutput) {
    constexpr const char* where = "InformerAttentionLayer::backward";
    const Index e = modelDim(), h = numHeads();
    detail::checkGradShape(where, gradOutput, e, m_lq, m_batch);
    m_out.backward(Eigen::Map<const MatrixType>(gradOutput.data(), e, m_lq * m_batch), m_gContext);
    m_gq.resize(h * m_dk, m_lq * m_batch);
    m_gk.resize(h * m_dk, m_lk * m_batch);
    m_gv.resize(h * m_dv, m_lk * m_batch);
    detail::probSparseBackwardViews<Scalar>(
        where, m_saved, m_options.attention.threads, detail::headView<const Scalar>(m_q.data(), m_dk, m_lq, m_batch, h),
        detail::headView<const Scalar>(m_k.data(), m_dk, m_lk, m_batch, h),
        detail::headView<const Scalar>(m_v.data(), m_dv, m_lk, m_batch, h), contextView(m_gContext.data()),
        detail::headView(m_gq.data(), m_dk, m_lq, m_batch, h), detail::headView(m_gk.data(), m_dk, m_lk, m_batch, h),
        detail::headView(m_gv.data(), m_dv, m_lk, m_batch, h));
    m_query.backward(m_gq, m_gx[0]);
    m_key.backward(m_gk, m_gx[1]);
    m_value.backward(m_gv, m_gx[2]);
  }

  Options m_options;
  Index m_dk = 0, m_dv = 0;
  nn::Linear<Scalar> m_query{1, 1}, m_key{1, 1}, m_value{1, 1}, m_out{1, 1};
  Rng m_rng;
  std::optional<IndexTensor3> m_injected;
  bool m_self = true;
  Index m_lq = 0, m_lk = 0, m_batch = 0;
  MatrixType m_q, m_k, m_v, m_context;  // projections (H dk, L B) and heads' outputs (H dv, Lq B)
  MatrixType m_y;                       // out_projection output (E, Lq B)
  TensorType m_weights;
  ProbSparseSaved<Scalar> m_saved;
  MatrixType m_gContext, m_gq, m_gk, m_gv;
  MatrixType m_gx[3];
};

/// Informer's self-attention distilling (the reference's ConvLayer), between encoder
/// layers:
///
///   Conv1d(C, C, kernel 3, circular padding 1, bias) -> BatchNorm1d(C) -> ELU(1)
///   -> MaxPool1d(kernel 3, stride 2, padding 1)
///
/// (C, L, B) -> (C, ceil(L / 2), B). Parameters downConv.{weight, bias},
/// norm.{weight, bias}; buffers norm.{running_mean, running_var, num_batches_tracked}.
/// Evaluation mode needs running statistics (trained, loaded or set): see BatchNorm1d.
template <typename Scalar = float>
class DistillingLayer : public nn::SequenceLayer<Scalar> {
 public:
  using nn::SequenceLayer<Scalar>::forward;
  using nn::SequenceLayer<Scalar>::backward;
  using MatrixType = Matrix<Scalar>;
  using TensorType = Tensor3<Scalar>;

  DistillingLayer(Index channels, Rng& rng) : m_conv(checkedChannels(channels), channels, 3, rng, convOptions()), m_norm(channels), m_pool(3, poolOptions()) {}
  explicit DistillingLayer(Index channels, std::uint64_t seed = 0)
      : m_conv(checkedChannels(channels), channels, 3, seed, convOptions()), m_norm(channels), m_pool(3, poolOptions()) {}

  Index channels() const noexcept { return m_conv.inChannels(); }
  nn::Conv1d<Scalar>& conv() noexcept { return m_conv; }
  nn::BatchNorm1d<Scalar>& norm() noexcept { return m_norm; }

  /// Output length ceil(length / 2) (length >= 1).
  static Index outputLength(Index length) {
    checkPositive("DistillingLayer::outputLength", "length", length);
    return (length + 1) / 2;
  }

  /// x (C, L, B) -> output (C, ceil(L / 2), B).
  void forward(const TensorType& x, TensorType& output) override {
    detail::checkSequence("DistillingLayer::forward", "x", x, channels());
    m_conv.forward(x, m_convOut);
    const Index c = channels(), n = x.dimension(1) * x.dimension(2);
    m_norm.forward(Eigen::Map<const MatrixType>(m_convOut.data(), c, n), m_normOut);
    detail::resize3(m_act, c, x.dimension(1), x.dimension(2));
    Eigen::Map<MatrixType> a(m_act.data(), c, n);
    a = m_normOut.unaryExpr([](Scalar v) { return v > Scalar(0) ? v : std::expm1(v); });
    m_pool.forward(m_act, output);
  }

  /// gradOutput (C, ceil(L / 2), B) -> gradInput (C, L, B); parameter gradients added.
  void backward(const TensorType& gradOutput, TensorType& gradInput) override {
    constexpr const char* where = "DistillingLayer::backward";
    checkArgument(m_act.size() > 0, where, "no forward pass to differentiate");
    detail::checkGradShape(where, gradOutput, channels(), outputLength(m_act.dimension(1)), m_act.dimension(2));
    m_pool.backward(gradOutput, m_gAct);
    const Index c = channels(), n = m_act.dimension(1) * m_act.dimension(2);
    // ELU'(x) = 1 for x > 0, exp(x) = y + 1 otherwise.
    m_gNorm = (Eigen::Map<const MatrixType>(m_gAct.data(), c, n).array() *
               m_normOut.array().unaryExpr([](Scalar v) { return v > Scalar(0) ? Scalar(1) : std::exp(v); }))
                  .matrix();
    m_norm.backward(m_gNorm, m_gConvFlat);
    detail::resize3(m_gConv, c, m_act.dimension(1), m_act.dimension(2));
    Eigen::Map<MatrixType>(m_gConv.data(), c, n) = m_gConvFlat;
    m_conv.backward(m_gConv, gradInput);
  }

  void collectParameters(const std::string& prefix, std::vector<nn::NamedParameter<Scalar>>& out) override {
    m_conv.collectParameters(prefix + "downConv.", out);
    m_norm.collectParameters(prefix + "norm.", out);
  }
  void collectBuffers(const std::string& prefix, std::vector<nn::NamedBuffer<Scalar>>& out) override {
    m_norm.collectBuffers(prefix + "norm.", out);
  }
  void buffersLoaded() override { m_norm.buffersLoaded(); }
  void setTraining(bool training) override {
    nn::SequenceLayer<Scalar>::setTraining(training);
    m_conv.setTraining(training);
    m_norm.setTraining(training);
    m_pool.setTraining(training);
  }

 private:
  static Index checkedChannels(Index c) {
    checkPositive("DistillingLayer", "channels", c);
    return c;
  }
  static typename nn::Conv1d<Scalar>::Options convOptions() {
    typename nn::Conv1d<Scalar>::Options o;
    o.padding = 1;
    o.paddingMode = nn::PaddingMode::circular;
    return o;
  }
  static typename nn::MaxPool1d<Scalar>::Options poolOptions() {
    typename nn::MaxPool1d<Scalar>::Options o;
    o.stride = 2;
    o.padding = 1;
    return o;
  }

  nn::Conv1d<Scalar> m_conv;
  nn::BatchNorm1d<Scalar> m_norm;
  nn::MaxPool1d<Scalar> m_pool;
  TensorType m_convOut, m_act, m_gAct, m_gConv;
  MatrixType m_normOut, m_gNorm, m_gConvFlat;
};

/// Options shared by the encoder layers of an Informer encoder.
template <typename Scalar = float>
struct InformerEncoderLayerOptions {
  Index modelDim = 512;  ///< d_model (reference default 512)
  Index numHeads = 8;    ///< n_heads
  Index ffDim = 0;       ///< d_ff (0 = 4 d_model, the EncoderLayer default; Informer passes 2048)
  double dropout = 0.05; ///< after attention, inside and after the FFN (training only)
  nn::ActivationKind activation = nn::ActivationKind::gelu;  ///< gelu (Informer's default) or relu
  /// ProbSparse settings (factor 5 by default); `masked` is ignored: encoders are unmasked.
  ProbSparseOptions<Scalar> attention;
  double layerNormEps = 1e-5;

  void validate() const {
    constexpr const char* where = "InformerEncoderLayer";
    checkPositive(where, "modelDim", modelDim);
    checkPositive(where, "numHeads", numHeads);
    if (modelDim % numHeads != 0) {
      throwInvalidArgument(where, "numHeads expected a divisor of modelDim ", modelDim, ", got ", numHeads);
    }
    checkNonNegative(where, "ffDim", ffDim);
    checkHalfOpen(where, "dropout", dropout, 0.0, 1.0);
    checkPositive(where, "attention.factor", attention.factor);
    checkExpected(activation == nn::ActivationKind::gelu || activation == nn::ActivationKind::relu, where,
                  "activation", "gelu or relu", nn::activationName(activation));
  }
};

/// One encoder layer of the reference (post-LN):
///
///   x = x + dropout(attention(x));  y = x = norm1(x)
///   y = dropout(conv2(dropout(act(conv1(y)))))     conv = position-wise, kernel 1
///   out = norm2(x + y)
///
/// Parameters: attention.* (InformerAttentionLayer), conv1.{weight (d_ff, E), bias},
/// conv2.{weight (E, d_ff), bias}, norm1.*, norm2.*. The kernel-1 convolutions are
/// stored as (out, in) matrices; PyTorch's [out, in, 1] weights load into them.
template <typename Scalar = float>
class InformerEncoderLayer : public nn::SequenceLayer<Scalar> {
 public:
  using nn::SequenceLayer<Scalar>::forward;
  using nn::SequenceLayer<Scalar>::backward;
  using MatrixType = Matrix<Scalar>;
  using TensorType = Tensor3<Scalar>;
  using Options = InformerEncoderLayerOptions<Scalar>;

  InformerEncoderLayer(const Options& options, Rng& rng)
      : m_options(validated(options)),
        m_attention(attentionOptions(options), rng),
        m_conv1(options.modelDim, ffDim(options), rng),
        m_conv2(ffDim(options), options.modelDim, rng),
        m_norm1(options.modelDim, {options.layerNormEps, true}),
        m_norm2(options.modelDim, {options.layerNormEps, true}),
        m_activation(options.activation),
        m_drop1(options.dropout, rng.next()),
        m_drop2(options.dropout, rng.next()),
        m_drop3(options.dropout, rng.next()) {}

  const Options& options() const noexcept { return m_options; }
  InformerAttentionLayer<Scalar>& attention() noexcept { return m_attention; }
  nn::Linear<Scalar>& conv1() noexcept { return m_conv1; }
  nn::Linear<Scalar>& conv2() noexcept { return m_conv2; }
  nn::LayerNorm<Scalar>& norm1() noexcept { return m_norm1; }
  nn::LayerNorm<Scalar>& norm2() noexcept { return m_norm2; }

  /// Reseeds the key sampling and the dropout masks (reproducible forwards).
  void reseed(std::uint64_t seed) {
    m_attention.reseed(Rng::forShard(seed, 0).next());
    m_drop1.reseed(Rng::forShard(seed, 1).next());
    m_drop2.reseed(Rng::forShard(seed, 2).next());
    m_drop3.reseed(Rng::forShard(seed, 3).next());
  }

  /// x (E, L, B) -> output (E, L, B).
  void forward(const TensorType& x, TensorType& output) override {
    const Index e = m_options.modelDim;
    detail::checkSequence("InformerEncoderLayer::forward", "x", x, e);
    const Index l = x.dimension(1), b = x.dimension(2), n = l * b;
    m_attention.forward(x, m_attnOut);
    m_drop1.forward(Eigen::Map<const MatrixType>(m_attnOut.data(), e, n), m_tmp);
    m_tmp += Eigen::Map<const MatrixType>(x.data(), e, n);
    m_norm1.forward(m_tmp, m_y);
    m_conv1.forward(m_y, m_h);
    m_activation.forward(m_h, m_tmp);
    m_drop2.forward(m_tmp, m_h);
    m_conv2.forward(m_h, m_tmp);
    m_drop3.forward(m_tmp, m_z);
    m_z += m_y;
    detail::resize3(output, e, l, b);
    Eigen::Map<MatrixType> out(output.data(), e, n);
    m_norm2.forward(m_z, m_tmp);
    out = m_tmp;
    m_length = l;
    m_batch = b;
  }

  /// gradOutput (E, L, B) -> gradInput (E, L, B); parameter gradients added.
  void backward(const TensorType& gradOutput, TensorType& gradInput) override {
    constexpr const char* where = "InformerEncoderLayer::backward";
    checkArgument(m_length > 0, where, "no forward pass to differentiate");
    const Index e = m_options.modelDim, n = m_length * m_batch;
    detail::checkGradShape(where, gradOutput, e, m_length, m_batch);
    m_norm2.backward(Eigen::Map<const MatrixType>(gradOutput.data(), e, n), m_gs);  // d(x + y)
    m_drop3.backward(m_gs, m_tmp);
    m_conv2.backward(m_tmp, m_gh);
    m_drop2.backward(m_gh, m_tmp);
    m_activation.backward(m_tmp, m_gh);
    m_conv1.backward(m_gh, m_tmp);
    m_tmp += m_gs;  // dy through the FFN and the residual
    m_norm1.backward(m_tmp, m_gs);  // d(x + attention)
    m_drop1.backward(m_gs, m_tmp);
    detail::resize3(m_gAttn, e, m_length, m_batch);
    Eigen::Map<MatrixType>(m_gAttn.data(), e, n) = m_tmp;
    m_attention.backward(m_gAttn, gradInput);
    Eigen::Map<MatrixType>(gradInput.data(), e, n) += m_gs;
  }

  void collectParameters(const std::string& prefix, std::vector<nn::NamedParameter<Scalar>>& out) override {
    m_attention.collectParameters(prefix + "attention.", out);
    m_conv1.collectParameters(prefix + "conv1.", out);
    m_conv2.collectParameters(prefix + "conv2.", out);
    m_norm1.collectParameters(prefix + "norm1.", out);
    m_norm2.collectParameters(prefix + "norm2.", out);
  }
  void setTraining(bool training) override {
    nn::SequenceLayer<Scalar>::setTraining(training);
    m_attention.setTraining(training);
    for (nn::Layer<Scalar>* l : std::initializer_list<nn::Layer<Scalar>*>{&m_conv1, &m_conv2, &m_norm1, &m_norm2,
                                                                         &m_activation, &m_drop1, &m_drop2, &m_drop3}) {
      l->setTraining(training);
    }
  }

 private:
  static const Options& validated(const Options& o) {
    o.validate();
    return o;
  }
  static Index ffDim(const Options& o) { return o.ffDim > 0 ? o.ffDim : 4 * o.modelDim; }
  static typename InformerAttentionLayer<Scalar>::Options attentionOptions(const Options& o) {
    typename InformerAttentionLayer<Scalar>::Options a;
    a.modelDim = o.modelDim;
    a.numHeads = o.numHeads;
    a.attention = o.attention;
    a.attention.masked = false;
    return a;
  }

  Options m_options;
  InformerAttentionLayer<Scalar> m_attention;
  nn::Linear<Scalar> m_conv1, m_conv2;
  nn::LayerNorm<Scalar> m_norm1, m_norm2;
  nn::Activation<Scalar> m_activation;
  nn::Dropout<Scalar> m_drop1, m_drop2, m_drop3;
  Index m_length = 0, m_batch = 0;
  TensorType m_attnOut, m_gAttn;
  MatrixType m_y, m_h, m_z, m_tmp, m_gs, m_gh;
};

/// Options of InformerEncoder.
template <typename Scalar = float>
struct InformerEncoderOptions {
  InformerEncoderLayerOptions<Scalar> layer;  ///< every encoder layer's options
  Index layers = 2;                           ///< e_layers (reference main_informer default 2)
  bool distil = true;                         ///< a DistillingLayer between consecutive layers
  bool finalNorm = true;                      ///< the LayerNorm after the last layer ("norm")

  void validate() const {
    layer.validate();
    checkPositive("InformerEncoder", "layers", layers);
  }
};

/// The reference's Encoder: [layer_0, distil_0, layer_1, distil_1, ..., layer_{n-1}],
/// then a LayerNorm. Parameters attn_layers.<i>.*, conv_layers.<i>.*, norm.*.
template <typename Scalar = float>
class InformerEncoder : public nn::SequenceLayer<Scalar> {
 public:
  using nn::SequenceLayer<Scalar>::forward;
  using nn::SequenceLayer<Scalar>::backward;
  using MatrixType = Matrix<Scalar>;
  using TensorType = Tensor3<Scalar>;
  using Options = InformerEncoderOptions<Scalar>;

  InformerEncoder(const Options& options, Rng& rng) : m_options(options) { init(rng); }
  explicit InformerEncoder(const Options& options, std::uint64_t seed = 0) : m_options(options) {
    Rng rng(seed);
    init(rng);
  }

  const Options& options() const noexcept { return m_options; }
  Index layerCount() const noexcept { return static_cast<Index>(m_layers.size()); }
  Index distillingCount() const noexcept { return static_cast<Index>(m_distil.size()); }
  InformerEncoderLayer<Scalar>& layer(Index i) {
    checkIndex("InformerEncoder::layer", "i", i, layerCount());
    return *m_layers[static_cast<std::size_t>(i)];
  }
  DistillingLayer<Scalar>& distilling(Index i) {
    checkIndex("InformerEncoder::distilling", "i", i, distillingCount());
    return *m_distil[static_cast<std::size_t>(i)];
  }

  /// Reseeds every layer's key sampling and dropout (layer i from shard i of `seed`).
  void reseed(std::uint64_t seed) {
    for (std::size_t i = 0; i < m_layers.size(); ++i) m_layers[i]->reseed(Rng::forShard(seed, i).next());
  }

  /// Output length for an input of `length` steps.
  Index outputLength(Index length) const {
    checkPositive("InformerEncoder::outputLength", "length", length);
    for (Index i = 0; i < distillingCount(); ++i) length = DistillingLayer<Scalar>::outputLength(length);
    return length;
  }

  /// x (E, L, B) -> output (E, outputLength(L), B).
  void forward(const TensorType& x, TensorType& output) override {
    detail::checkSequence("InformerEncoder::forward", "x", x, m_options.layer.modelDim);
    const std::size_t n = m_layers.size();
    const TensorType* in = &x;
    for (std::size_t i = 0; i < n; ++i) {
      TensorType& layerOut = (i + 1 == n && !m_norm) ? output : m_layerOut[i];
      m_layers[i]->forward(*in, layerOut);
      in = &layerOut;
      if (i < m_distil.size()) {
        m_distil[i]->forward(*in, m_distilOut[i]);
        in = &m_distilOut[i];
      }
    }
    if (m_norm) {
      const TensorType& last = m_layerOut[n - 1];
      const Index e = last.dimension(0), l = last.dimension(1), b = last.dimension(2);
      MatrixType y;
      m_norm->forward(Eigen::Map<const MatrixType>(last.data(), e, l * b), y);
      detail::resize3(output, e, l, b);
      Eigen::Map<MatrixType>(output.data(), e, l * b) = y;
    }
    m_forwardDone = true;
  }

  /// gradOutput (E, L_out, B) -> gradInput (E, L, B); parameter gradients added.
  void backward(const TensorType& gradOutput, TensorType& gradInput) override {
    constexpr const char* where = "InformerEncoder::backward";
    checkArgument(m_forwardDone, where, "no forward pass to differentiate");
    const std::size_t n = m_layers.size();
    TensorType g;
    if (m_norm) {
      const TensorType& last = m_layerOut[n - 1];
      const Index e = last.dimension(0), l = last.dimension(1), b = last.dimension(2);
      detail::checkGradShape(where, gradOutput, e, l, b);
      MatrixType gm;
      m_norm->backward(Eigen::Map<const MatrixType>(gradOutput.data(), e, l * b), gm);
      g.resize(e, l, b);
      Eigen::Map<MatrixType>(g.data(), e, l * b) = gm;
    } else {
      g = gradOutput;
    }
    TensorType tmp;
    for (std::size_t i = n; i-- > 0;) {
      if (i < m_distil.size()) {
        m_distil[i]->backward(g, tmp);
        std::swap(g, tmp);
      }
      m_layers[i]->backward(g, i == 0 ? gradInput : tmp);
      if (i > 0) std::swap(g, tmp);
    }
  }

  void collectParameters(const std::string& prefix, std::vector<nn::NamedParameter<Scalar>>& out) override {
    for (std::size_t i = 0; i < m_layers.size(); ++i) {
      m_layers[i]->collectParameters(prefix + "attn_layers." + std::to_string(i) + ".", out);
    }
    for (std::size_t i = 0; i < m_distil.size(); ++i) {
      m_distil[i]->collectParameters(prefix + "conv_layers." + std::to_string(i) + ".", out);
    }
    if (m_norm) m_norm->collectParameters(prefix + "norm.", out);
  }
  void collectBuffers(const std::string& prefix, std::vector<nn::NamedBuffer<Scalar>>& out) override {
    for (std::size_t i = 0; i < m_distil.size(); ++i) {
      m_distil[i]->collectBuffers(prefix + "conv_layers." + std::to_string(i) + ".", out);
    }
  }
  void buffersLoaded() override {
    for (auto& d : m_distil) d->buffersLoaded();
  }
  void setTraining(bool training) override {
    nn::SequenceLayer<Scalar>::setTraining(training);
    for (auto& l : m_layers) l->setTraining(training);
    for (auto& d : m_distil) d->setTraining(training);
    if (m_norm) m_norm->setTraining(training);
  }

 private:
  void init(Rng& rng) {
    m_options.validate();
    const auto n = static_cast<std::size_t>(m_options.layers);
    for (std::size_t i = 0; i < n; ++i) {
      m_layers.push_back(std::make_unique<InformerEncoderLayer<Scalar>>(m_options.layer, rng));
    }
    if (m_options.distil) {
      for (std::size_t i = 0; i + 1 < n; ++i) {
        m_distil.push_back(std::make_unique<DistillingLayer<Scalar>>(m_options.layer.modelDim, rng));
      }
    }
    if (m_options.finalNorm) {
      m_norm = std::make_unique<nn::LayerNorm<Scalar>>(
          m_options.layer.modelDim, typename nn::LayerNorm<Scalar>::Options{m_options.layer.layerNormEps, true});
    }
    m_layerOut.resize(n);
    m_distilOut.resize(m_distil.size());
  }

  Options m_options;
  std::vector<std::unique_ptr<InformerEncoderLayer<Scalar>>> m_layers;
  std::vector<std::unique_ptr<DistillingLayer<Scalar>>> m_distil;
  std::unique_ptr<nn::LayerNorm<Scalar>> m_norm;
  std::vector<TensorType> m_layerOut, m_distilOut;
  bool m_forwardDone = false;
};

/// Options of InformerEncoderStack.
template <typename Scalar = float>
struct InformerEncoderStackOptions {
  InformerEncoderLayerOptions<Scalar> layer;
  /// Layers of each encoder (the reference's s_layers / e_layers list, default "3,2,1").
  std::vector<Index> layers{3, 2, 1};
  bool distil = true;

  void validate() const {
    layer.validate();
    checkArgument(!layers.empty(), "InformerEncoderStack", "layers expected at least one encoder, got none");
    for (Index l : layers) checkPositive("InformerEncoderStack", "layers", l);
  }
};

/// The reference's EncoderStack (InformerStack): encoder e reads the last
/// floor(L / 2^e) steps of the input; the outputs are concatenated along time.
/// Parameters encoders.<e>.*.
template <typename Scalar = float>
class InformerEncoderStack : public nn::SequenceLayer<Scalar> {
 public:
  using nn::SequenceLayer<Scalar>::forward;
  using nn::SequenceLayer<Scalar>::backward;
  using TensorType = Tensor3<Scalar>;
  using Options = InformerEncoderStackOptions<Scalar>;

  InformerEncoderStack(const Options& options, Rng& rng) : m_options(options) { init(rng); }
  explicit InformerEncoderStack(const Options& options, std::uint64_t seed = 0) : m_options(options) {
    Rng rng(seed);
    init(rng);
  }

  Index encoderCount() const noexcept { return static_cast<Index>(m_encoders.size()); }
  InformerEncoder<Scalar>& encoder(Index e) {
    checkIndex("InformerEncoderStack::encoder", "e", e, encoderCount());
    return *m_encoders[static_cast<std::size_t>(e)];
  }

  /// Reseeds every encoder (encoder e from shard e of `seed`).
  void reseed(std::uint64_t seed) {
    for (std::size_t i = 0; i < m_encoders.size(); ++i) m_encoders[i]->reseed(Rng::forShard(seed, i).next());
  }

  /// Steps encoder e reads from an input of `length`: floor(length / 2^e).
  static Index inputLength(Index length, Index e) { return e >= 62 ? 0 : length >> e; }

  /// Output length (sum over the encoders) for an input of `length` steps.
  Index outputLength(Index length) const {
    checkLengths("InformerEncoderStack::outputLength", length);
    Index total = 0;
    for (Index e = 0; e < encoderCount(); ++e) total += m_encoders[static_cast<std::size_t>(e)]->outputLength(inputLength(length, e));
    return total;
  }

  /// x (E, L, B) -> output (E, outputLength(L), B).
  void forward(const TensorType& x, TensorType& output) override {
    constexpr const char* where = "InformerEncoderStack::forward";
    detail::checkSequence(where, "x", x, m_options.layer.modelDim);
    const Index e = x.dimension(0), l = x.dimension(1), b = x.dimension(2);
    checkLengths(where, l);
    Index total = 0;
    for (std::size_t i = 0; i < m_encoders.size(); ++i) {
      const Index len = inputLength(l, static_cast<Index>(i));
      TensorType part(e, len, b);
      for (Index bb = 0; bb < b; ++bb) {
        sliceMatrix(part, bb) = sliceMatrix(x, bb).rightCols(len);
      }
      m_encoders[i]->forward(part, m_outputs[i]);
      total += m_outputs[i].dimension(1);
    }
    detail::resize3(output, e, total, b);
    Index offset = 0;
    for (const auto& out : m_outputs) {
      for (Index bb = 0; bb < b; ++bb) sliceMatrix(output, bb).middleCols(offset, out.dimension(1)) = sliceMatrix(out, bb);
      offset += out.dimension(1);
    }
    m_length = l;
    m_batch = b;
    m_total = total;
  }

  /// gradOutput (E, L_out, B) -> gradInput (E, L, B).
  void backward(const TensorType& gradOutput, TensorType& gradInput) override {
    constexpr const char* where = "InformerEncoderStack::backward";
    checkArgument(m_length > 0, where, "no forward pass to differentiate");
    const Index e = m_options.layer.modelDim;
    detail::checkGradShape(where, gradOutput, e, m_total, m_batch);
    detail::resize3(gradInput, e, m_length, m_batch);
    gradInput.setZero();
    Index offset = 0;
    TensorType g, gIn;
    for (std::size_t i = 0; i < m_encoders.size(); ++i) {
      const Index lo = m_outputs[i].dimension(1);
      g.resize(e, lo, m_batch);
      for (Index bb = 0; bb < m_batch; ++bb) sliceMatrix(g, bb) = sliceMatrix(gradOutput, bb).middleCols(offset, lo);
      offset += lo;
      m_encoders[i]->backward(g, gIn);
      const Index len = gIn.dimension(1);
      for (Index bb = 0; bb < m_batch; ++bb) sliceMatrix(gradInput, bb).rightCols(len) += sliceMatrix(gIn, bb);
    }
  }

  void collectParameters(const std::string& prefix, std::vector<nn::NamedParameter<Scalar>>& out) override {
    for (std::size_t i = 0; i < m_encoders.size(); ++i) {
      m_encoders[i]->collectParameters(prefix + "encoders." + std::to_string(i) + ".", out);
    }
  }
  void collectBuffers(const std::string& prefix, std::vector<nn::NamedBuffer<Scalar>>& out) override {
    for (std::size_t i = 0; i < m_encoders.size(); ++i) {
      m_encoders[i]->collectBuffers(prefix + "encoders." + std::to_string(i) + ".", out);
    }
  }
  void buffersLoaded() override {
    for (auto& enc : m_encoders) enc->buffersLoaded();
  }
  void setTraining(bool training) override {
    nn::SequenceLayer<Scalar>::setTraining(training);
    for (auto& enc : m_encoders) enc->setTraining(training);
  }

 private:
  void init(Rng& rng) {
    m_options.validate();
    for (Index layers : m_options.layers) {
      InformerEncoderOptions<Scalar> o;
      o.layer = m_options.layer;
      o.layers = layers;
      o.distil = m_options.distil;
      o.finalNorm = true;
      m_encoders.push_back(std::make_unique<InformerEncoder<Scalar>>(o, rng));
    }
    m_outputs.resize(m_encoders.size());
  }

  void checkLengths(const char* where, Index length) const {
    checkPositive(where, "input length", length);
    const Index last = inputLength(length, encoderCount() - 1);
    if (last < 1) {
      throwInvalidArgument(where, "input length ", length, " is too short for ", encoderCount(),
                           " encoders: encoder ", encoderCount() - 1, " would read floor(L / 2^", encoderCount() - 1,
                           ") = 0 steps");
    }
  }

  Options m_options;
  std::vector<std::unique_ptr<InformerEncoder<Scalar>>> m_encoders;
  std::vector<TensorType> m_outputs;
  Index m_length = 0, m_batch = 0, m_total = 0;
};

}  // namespace eigenrec::attention

#endif  // EIGENREC_ATTENTION_INFORMER_HPP

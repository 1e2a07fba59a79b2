// eigenrec/nn/conv.hpp: 1-D convolution over the length of a batch of sequences,
// computed as one matrix product for the whole batch (im2col + GEMM).
#ifndef EIGENREC_NN_CONV_HPP
#define EIGENREC_NN_CONV_HPP

#include <eigenrec/core/gemm.hpp>
#include <eigenrec/core/random.hpp>
#include <eigenrec/core/tensor.hpp>
#include <eigenrec/nn/init.hpp>
#include <eigenrec/nn/module.hpp>
#include <eigenrec/nn/sequence_layer.hpp>

#include <cmath>
#include <cstdint>
#include <string>
#include <vector>

namespace eigenrec::nn {

/// How Conv1d fills the positions outside the sequence.
/// - zeros: with 0 (PyTorch padding_mode="zeros");
/// - circular: with the other end of the sequence, x[-i] = x[L - i], x[L - 1 + i] =
///   x[i - 1] (padding_mode="circular"; needs padding <= length).
enum class PaddingMode { zeros, circular };

inline const char* paddingModeName(PaddingMode mode) { return mode == PaddingMode::zeros ? "zeros" : "circular"; }

/// 1-D convolution (cross-correlation, as PyTorch's nn.Conv1d) of a sequence batch:
///
///   y[o, t, b] = bias[o] + sum_{c, k} W[o, c, k] * xpad[c, t * stride + k * dilation, b]
///
/// where xpad is x padded by `padding` positions on both ends (zeros or circular).
///
/// Shapes: input (inChannels, length, batch) -> output (outChannels, outLength, batch),
/// outLength = floor((length + 2 padding - dilation (kernelSize - 1) - 1) / stride) + 1.
/// eigenrec's (channels, length, batch) is PyTorch's [batch, length, channels]; PyTorch's
/// Conv1d takes [batch, channels, length], i.e. x.permute(0, 2, 1) of that.
///
/// Computation: the input columns a kernel tap reads are gathered into an im2col buffer
/// (kernelSize * inChannels, outLength * batch) whose rows are ordered tap-major (row
/// k * inChannels + c holds channel c at tap k, so each tap copies a contiguous channel
/// column), and the whole batch is one GEMM with the weight matrix. Backward:
/// dW += dY cols^T, db += row sums of dY, dcols = W^T dY scattered back onto the input
/// positions (col2im).
///
/// Parameters: "weight" (outChannels, kernelSize * inChannels), column k * inChannels + c
/// holding PyTorch's weight[:, c, k] (load a PyTorch [out, in, k] weight with
/// setWeightFromTorch); "bias" (outChannels, 1). Default initialisation is PyTorch's
/// (kaiming uniform with a = sqrt(5)): weight and bias uniform in +-1/sqrt(inChannels *
/// kernelSize), drawn from the given Rng.
template <typename Scalar = float>
class Conv1d : public SequenceLayer<Scalar> {
 public:
  using SequenceLayer<Scalar>::forward;
  using SequenceLayer<Scalar>::backward;
  using MatrixType = Matrix<Scalar>;
  using TensorType = Tensor3<Scalar>;

  struct Options {
    Index stride = 1;                              ///< step between output positions (> 0)
    Index padding = 0;                             ///< positions added at both ends (>= 0)
    Index dilation = 1;                            ///< spacing between kernel taps (> 0)
    PaddingMode paddingMode = PaddingMode::zeros;  ///< what the padded positions hold
    bool bias = true;                              ///< add a per-output-channel bias
  };

  /// Weights drawn from `rng`.
  Conv1d(Index inChannels, Index outChannels, Index kernelSize, Rng& rng, Options options = {}) {
    init(inChannels, outChannels, kernelSize, rng, options);
  }
  /// Weights drawn from Rng(seed).
  Conv1d(Index inChannels, Index outChannels, Index kernelSize, std::uint64_t seed = 0, Options options = {}) {
    Rng rng(seed);
    init(inChannels, outChannels, kernelSize, rng, options);
  }

  Index inChannels() const noexcept { return m_in; }
  Index outChannels() const noexcept { return m_out; }
  Index kernelSize() const noexcept { return m_kernel; }
  const Options& options() const noexcept { return m_options; }
  bool hasBias() const noexcept { return m_options.bias; }

  /// "weight" (outChannels, kernelSize * inChannels), tap-major columns (see above).
  Parameter<Scalar>& weight() noexcept { return m_weight; }
  const Parameter<Scalar>& weight() const noexcept { return m_weight; }
  /// "bias" (outChannels, 1); throws without bias.
  Parameter<Scalar>& bias() {
    checkArgument(hasBias(), "Conv1d::bias", "the layer was built without bias");
    return m_bias;
  }

  /// Sets the weight from PyTorch's layout: `data` holds outChannels * inChannels *
  /// kernelSize values of a contiguous [out, in, k] tensor (conv.weight of nn.Conv1d, as
  /// stored in a state_dict / safetensors file).
  void setWeightFromTorch(const Scalar* data) {
    checkArgument(data != nullptr, "Conv1d::setWeightFromTorch", "data is null");
    auto& w = m_weight.value();
    for (Index o = 0; o < m_out; ++o)
      for (Index c = 0; c < m_in; ++c)
        for (Index k = 0; k < m_kernel; ++k) w(o, k * m_in + c) = data[(o * m_in + c) * m_kernel + k];
  }

  /// Writes the weight in PyTorch's contiguous [out, in, k] layout to `data`
  /// (outChannels * inChannels * kernelSize values).
  void copyWeightToTorch(Scalar* data) const {
    checkArgument(data != nullptr, "Conv1d::copyWeightToTorch", "data is null");
    const auto& w = m_weight.value();
    for (Index o = 0; o < m_out; ++o)
      for (Index c = 0; c < m_in; ++c)
        for (Index k = 0; k < m_kernel; ++k) data[(o * m_in + c) * m_kernel + k] = w(o, k * m_in + c);
  }

  /// Output length for an input of `length` positions; throws when the (dilated) kernel
  /// is longer than the padded input or circular padding exceeds the length.
  Index outputLength(Index length) const { return checkedOutputLength("Conv1d::outputLength", length); }

  /// input (inChannels, length, batch) -> output (outChannels, outLength, batch).
  /// Caches the im2col buffer for backward. `output` is resized as needed.
  void forward(const TensorType& input, TensorType& output) override {
    checkEqual("Conv1d::forward", "input channels (dimension 0)", m_in, input.dimension(0));
    checkNotEmpty("Conv1d::forward", "input length (dimension 1)", input.dimension(1));
    checkNotEmpty("Conv1d::forward", "input batch (dimension 2)", input.dimension(2));
    const Index outLength = checkedOutputLength("Conv1d::forward", input.dimension(1));
    m_length = input.dimension(1);
    m_batch = input.dimension(2);
    m_outLength = outLength;
    im2col(input.data());
    if (output.dimension(0) != m_out || output.dimension(1) != m_outLength || output.dimension(2) != m_batch) {
      output.resize(m_out, m_outLength, m_batch);
    }
    Eigen::Map<MatrixType> y(output.data(), m_out, m_outLength * m_batch);
    gemm<Scalar>(Op::none, Op::none, Scalar(1), m_weight.value(), m_cols, Scalar(0), y);
    if (hasBias()) y.colwise() += m_bias.value().col(0);
  }

  /// gradOutput (outChannels, outLength, batch) of the last forward -> gradInput
  /// (inChannels, length, batch); adds dL/dW and dL/db to the parameters' gradients.
  void backward(const TensorType& gradOutput, TensorType& gradInput) override {
    checkArgument(m_cols.size() > 0, "Conv1d::backward", "called before forward");
    checkExpected(gradOutput.dimension(0) == m_out && gradOutput.dimension(1) == m_outLength &&
                      gradOutput.dimension(2) == m_batch,
                  "Conv1d::backward", "gradOutput",
                  eigenrec::detail::concat("dimensions (", m_out, ", ", m_outLength, ", ", m_batch, ")"),
                  eigenrec::detail::concat("(", gradOutput.dimension(0), ", ", gradOutput.dimension(1), ", ",
                                           gradOutput.dimension(2), ")"));
    Eigen::Map<const MatrixType> dy(gradOutput.data(), m_out, m_outLength * m_batch);
    if (!m_weight.frozen()) {
      gemm<Scalar>(Op::none, Op::transpose, Scalar(1), dy, m_cols, Scalar(1), m_weight.grad());
    }
    if (hasBias() && !m_bias.frozen()) m_bias.grad().col(0) += dy.rowwise().sum();
    m_gradCols.resize(m_cols.rows(), m_cols.cols());
    gemm<Scalar>(Op::transpose, Op::none, Scalar(1), m_weight.value(), dy, Scalar(0), m_gradCols);
    if (gradInput.dimension(0) != m_in || gradInput.dimension(1) != m_length || gradInput.dimension(2) != m_batch) {
      gradInput.resize(m_in, m_length, m_batch);
    }
    col2im(gradInput.data());
  }


  void collectParameters(const std::string& prefix, std::vector<NamedParameter<Scalar>>& out) override {
    out.push_back({prefix + "weight", &m_weight});
    if (hasBias()) out.push_back({prefix + "bias", &m_bias});
  }

 private:
  void init(Index in, Index outC, Index kernel, Rng& rng, const Options& options) {
    checkPositive("Conv1d", "inChannels", in);
    checkPositive("Conv1d", "outChannels", outC);
    checkPositive("Conv1d", "kernelSize", kernel);
    checkPositive("Conv1d", "stride", options.stride);
    checkNonNegative("Conv1d", "padding", options.padding);
    checkPositive("Conv1d", "dilation", options.dilation);
    m_in = in;
    m_out = outC;
    m_kernel = kernel;
    m_options = options;
    const Index fanIn = in * kernel;
    MatrixType w(outC, fanIn);
    init::kaimingUniform(w, fanIn, rng);  // a = sqrt(5): U(+-1/sqrt(fanIn))
    m_weight = Parameter<Scalar>(std::move(w));
    if (options.bias) {
      const double bound = 1.0 / std::sqrt(static_cast<double>(fanIn));
      MatrixType b(outC, 1);
      init::uniform(b, -bound, bound, rng);
      m_bias = Parameter<Scalar>(std::move(b));
    }
  }

  Index checkedOutputLength(const char* where, Index length) const {
    checkPositive(where, "input length", length);
    if (m_options.paddingMode == PaddingMode::circular) {
      checkExpected(m_options.padding <= length, where, "circular padding",
                    eigenrec::detail::concat("<= input length ", length), m_options.padding);
    }
    const Index padded = length + 2 * m_options.padding;
    const Index span = m_options.dilation * (m_kernel - 1) + 1;
    checkExpected(span <= padded, where, "kernel span (dilation * (kernelSize - 1) + 1)",
                  eigenrec::detail::concat("<= padded input length ", padded), span);
    return (padded - span) / m_options.stride + 1;
  }

  // Input position read by output position t at tap k, or -1 for a zero pad.
  Index sourcePosition(Index t, Index k) const {
    Index pos = t * m_options.stride - m_options.padding + k * m_options.dilation;
    if (pos >= 0 && pos < m_length) return pos;
    if (m_options.paddingMode == PaddingMode::zeros) return -1;
    // circular, padding <= length: pos is in [-length, 2 length).
    return pos < 0 ? pos + m_length : pos - m_length;
  }

  void im2col(const Scalar* x) {
    m_cols.resize(m_kernel * m_in, m_outLength * m_batch);
    for (Index b = 0; b < m_batch; ++b) {
      Eigen::Map<const MatrixType> xb(x + b * m_in * m_length, m_in, m_length);
      for (Index t = 0; t < m_outLength; ++t) {
        const Index col = b * m_outLength + t;
        for (Index k = 0; k < m_kernel; ++k) {
          const Index pos = sourcePosition(t, k);
          if (pos >= 0) {
            m_cols.col(col).segment(k * m_in, m_in) = xb.col(pos);
          } else {
            m_cols.col(col).segment(k * m_in, m_in).setZero();
          }
        }
      }
    }
  }

  void col2im(Scalar* dx) const {
    Eigen::Map<MatrixType> all(dx, m_in, m_length * m_batch);
    all.setZero();
    for (Index b = 0; b < m_batch; ++b) {
      Eigen::Map<MatrixType> dxb(dx + b * m_in * m_length, m_in, m_length);
      for (Index t = 0; t < m_outLength; ++t) {
        const Index col = b * m_outLength + t;
        for (Index k = 0; k < m_kernel; ++k) {
          const Index pos = sourcePosition(t, k);
          if (pos >= 0) dxb.col(pos) += m_gradCols.col(col).segment(k * m_in, m_in);
        }
      }
    }
  }

  Index m_in = 0, m_out = 0, m_kernel = 0;
  Options m_options;
  Parameter<Scalar> m_weight, m_bias;
  Index m_length = 0, m_batch = 0, m_outLength = 0;  // of the last forward
  MatrixType m_cols;                                 // (kernelSize * inChannels, outLength * batch)
  MatrixType m_gradCols;                             // backward scratch, same shape
};

}  // namespace eigenrec::nn

#endif  // EIGENREC_NN_CONV_HPP

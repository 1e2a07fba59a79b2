// eigenrec/nn/pooling.hpp: max and average pooling over the length of a batch of
// sequences, with PyTorch's MaxPool1d / AvgPool1d semantics.
#ifndef EIGENREC_NN_POOLING_HPP
#define EIGENREC_NN_POOLING_HPP

#include <eigenrec/core/tensor.hpp>
#include <eigenrec/nn/module.hpp>
#include <eigenrec/nn/sequence_layer.hpp>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <limits>

namespace eigenrec::nn {

namespace detail {

/// PyTorch's pooling output size: floor (or ceil with ceilMode) of
/// (length + 2 padding - dilation (kernel - 1) - 1) / stride, plus 1; in ceil mode the
/// last window must start inside the input or its left padding. Throws when the result
/// is < 1.
inline Index poolOutputLength(const char* where, Index length, Index kernel, Index stride, Index padding,
                              Index dilation, bool ceilMode) {
  checkPositive(where, "input length", length);
  const Index numerator = length + 2 * padding - dilation * (kernel - 1) - 1 + (ceilMode ? stride - 1 : 0);
  // floor division (numerator may be negative)
  Index out = (numerator >= 0 ? numerator / stride : -((-numerator + stride - 1) / stride)) + 1;
  if (ceilMode && (out - 1) * stride >= length + padding) --out;
  if (out < 1) {
    throwInvalidArgument(where, "input length ", length, " is too short for kernel ", kernel, " (dilation ", dilation,
                         ", padding ", padding, "): output length ", out);
  }
  return out;
}

/// Checks the pooling hyper-parameters (PyTorch: padding at most half the kernel).
inline void checkPoolOptions(const char* where, Index kernel, Index stride, Index padding, Index dilation) {
  checkPositive(where, "kernelSize", kernel);
  checkNonNegative(where, "stride (0 = kernelSize)", stride);
  checkNonNegative(where, "padding", padding);
  checkPositive(where, "dilation", dilation);
  checkExpected(padding <= kernel / 2, where, "padding", eigenrec::detail::concat("<= kernelSize / 2 = ", kernel / 2),
                padding);
}

template <typename Scalar>
void checkPoolInput(const char* where, const Tensor3<Scalar>& input) {
  checkNotEmpty(where, "input channels (dimension 0)", input.dimension(0));
  checkNotEmpty(where, "input length (dimension 1)", input.dimension(1));
  checkNotEmpty(where, "input batch (dimension 2)", input.dimension(2));
}

template <typename Scalar>
void checkPoolGrad(const char* where, const Tensor3<Scalar>& grad, Index channels, Index outLength, Index batch) {
  checkArgument(channels > 0, where, "called before forward");
  checkExpected(
      grad.dimension(0) == channels && grad.dimension(1) == outLength && grad.dimension(2) == batch, where,
      "gradOutput", eigenrec::detail::concat("dimensions (", channels, ", ", outLength, ", ", batch, ")"),
      eigenrec::detail::concat("(", grad.dimension(0), ", ", grad.dimension(1), ", ", grad.dimension(2), ")"));
}

template <typename Scalar>
void resizeIfNeeded(Tensor3<Scalar>& t, Index d0, Index d1, Index d2) {
  if (t.dimension(0) != d0 || t.dimension(1) != d1 || t.dimension(2) != d2) t.resize(d0, d1, d2);
}

}  // namespace detail

/// Max pooling of every channel along the length:
///
///   y[c, t, b] = max_{k < kernelSize} xpad[c, t * stride + k * dilation, b]
///
/// where xpad is x with `padding` positions of -inf at both ends (PyTorch's
/// nn.MaxPool1d). Shapes: input (channels, length, batch) -> output (channels,
/// outLength, batch) with outLength = floor((length + 2 padding - dilation (kernelSize
/// - 1) - 1) / stride) + 1 (ceil instead of floor with ceilMode, as long as the last
/// window starts inside the input or the left padding).
///
/// Backward routes each output gradient to the position of its maximum (the first one
/// on ties; NaN counts as the maximum, the last NaN in the window wins, as in PyTorch).
/// No parameters; no train/eval difference.
template <typename Scalar = float>
class MaxPool1d : public SequenceLayer<Scalar> {
 public:
  using SequenceLayer<Scalar>::forward;
  using SequenceLayer<Scalar>::backward;
  using TensorType = Tensor3<Scalar>;
  /// Argmax positions along the length, (channels, outLength * batch).
  using IndexMatrix = Eigen::Matrix<std::int64_t, Eigen::Dynamic, Eigen::Dynamic>;

  struct Options {
    Index stride = 0;       ///< step between windows; 0 = kernelSize (PyTorch's default)
    Index padding = 0;      ///< -inf positions at both ends, at most kernelSize / 2
    Index dilation = 1;     ///< spacing between the window's elements (> 0)
    bool ceilMode = false;  ///< round the output length up instead of down
  };

  explicit MaxPool1d(Index kernelSize, Options options = {}) : m_kernel(kernelSize), m_options(options) {
    detail::checkPoolOptions("MaxPool1d", kernelSize, options.stride, options.padding, options.dilation);
    if (m_options.stride == 0) m_options.stride = kernelSize;
  }

  Index kernelSize() const noexcept { return m_kernel; }
  /// The options, with stride resolved (never 0).
  const Options& options() const noexcept { return m_options; }

  /// Output length for an input of `length` positions (throws when it would be < 1).
  Index outputLength(Index length) const {
    return detail::poolOutputLength("MaxPool1d::outputLength", length, m_kernel, m_options.stride, m_options.padding,
                                    m_options.dilation, m_options.ceilMode);
  }

  /// input (channels, length, batch) -> output (channels, outLength, batch). Caches the
  /// argmax positions.
  void forward(const TensorType& input, TensorType& output) override {
    detail::checkPoolInput("MaxPool1d::forward", input);
    const Index channels = input.dimension(0), length = input.dimension(1), batch = input.dimension(2);
    const Index outLength = detail::poolOutputLength("MaxPool1d::forward", length, m_kernel, m_options.stride,
                                                     m_options.padding, m_options.dilation, m_options.ceilMode);
    m_channels = channels;
    m_length = length;
    m_batch = batch;
    m_outLength = outLength;
    detail::resizeIfNeeded(output, channels, outLength, batch);
    m_indices.resize(channels, outLength * batch);
    const Scalar* x = input.data();
    Scalar* y = output.data();
    for (Index b = 0; b < batch; ++b) {
      for (Index t = 0; t < outLength; ++t) {
        const Index col = b * outLength + t;
        Scalar* yc = y + col * channels;
        std::int64_t* ic = m_indices.data() + col * channels;
        std::fill(yc, yc + channels, -std::numeric_limits<Scalar>::infinity());
        std::fill(ic, ic + channels, std::int64_t(-1));
        const Index start = t * m_options.stride - m_options.padding;
        for (Index k = 0; k < m_kernel; ++k) {
          const Index pos = start + k * m_options.dilation;
          if (pos < 0) continue;
          if (pos >= length) break;
          const Scalar* xc = x + (b * length + pos) * channels;
          for (Index c = 0; c < channels; ++c) {
            const Scalar v = xc[c];
            if (v > yc[c] || std::isnan(v) || ic[c] < 0) {
              yc[c] = v;
              ic[c] = pos;
            }
          }
        }
      }
    }
  }

  /// gradOutput (channels, outLength, batch) -> gradInput (channels, length, batch):
  /// each output gradient added at its argmax position.
  void backward(const TensorType& gradOutput, TensorType& gradInput) override {
    detail::checkPoolGrad("MaxPool1d::backward", gradOutput, m_channels, m_outLength, m_batch);
    detail::resizeIfNeeded(gradInput, m_channels, m_length, m_batch);
    gradInput.setZero();
    const Scalar* g = gradOutput.data();
    Scalar* dx = gradInput.data();
    for (Index b = 0; b < m_batch; ++b) {
      for (Index t = 0; t < m_outLength; ++t) {
        const Index col = b * m_outLength + t;
        for (Index c = 0; c < m_channels; ++c) {
          const auto pos = static_cast<Index>(m_indices(c, col));
          dx[(b * m_length + pos) * m_channels + c] += g[col * m_channels + c];
        }
      }
    }
  }


  /// Argmax positions (in [0, length)) of the last forward, (channels, outLength *
  /// batch): column b * outLength + t (PyTorch's return_indices).
  const IndexMatrix& indices() const noexcept { return m_indices; }

 private:
  Index m_kernel;
  Options m_options;
  Index m_channels = 0, m_length = 0, m_batch = 0, m_outLength = 0;
  IndexMatrix m_indices;
};

/// Average pooling of every channel along the length (PyTorch's nn.AvgPool1d):
///
///   y[c, t, b] = (1 / divisor_t) sum_{p in window t, 0 <= p < length} x[c, p, b]
///
/// Window t covers [t * stride - padding, t * stride - padding + kernelSize), clipped to
/// the padded input [-padding, length + padding). With countIncludePad the divisor is
/// the size of the clipped window (padding positions count as zeros; in ceil mode a
/// window hanging past the right padding counts only up to it), otherwise the number
/// of input positions in the window. Shapes and output length as MaxPool1d (without
/// dilation). No parameters; no train/eval difference.
template <typename Scalar = float>
class AvgPool1d : public SequenceLayer<Scalar> {
 public:
  using SequenceLayer<Scalar>::forward;
  using SequenceLayer<Scalar>::backward;
  using TensorType = Tensor3<Scalar>;

  struct Options {
    Index stride = 0;             ///< step between windows; 0 = kernelSize (PyTorch's default)
    Index padding = 0;            ///< zero positions at both ends, at most kernelSize / 2
    bool ceilMode = false;        ///< round the output length up instead of down
    bool countIncludePad = true;  ///< divide by the window size including padding
  };

  explicit AvgPool1d(Index kernelSize, Options options = {}) : m_kernel(kernelSize), m_options(options) {
    detail::checkPoolOptions("AvgPool1d", kernelSize, options.stride, options.padding, 1);
    if (m_options.stride == 0) m_options.stride = kernelSize;
  }

  Index kernelSize() const noexcept { return m_kernel; }
  /// The options, with stride resolved (never 0).
  const Options& options() const noexcept { return m_options; }

  /// Output length for an input of `length` positions (throws when it would be < 1).
  Index outputLength(Index length) const {
    return detail::poolOutputLength("AvgPool1d::outputLength", length, m_kernel, m_options.stride, m_options.padding, 1,
                                    m_options.ceilMode);
  }

  /// input (channels, length, batch) -> output (channels, outLength, batch).
  void forward(const TensorType& input, TensorType& output) override {
    detail::checkPoolInput("AvgPool1d::forward", input);
    const Index channels = input.dimension(0), length = input.dimension(1), batch = input.dimension(2);
    const Index outLength = detail::poolOutputLength("AvgPool1d::forward", length, m_kernel, m_options.stride,
                                                     m_options.padding, 1, m_options.ceilMode);
    m_channels = channels;
    m_length = length;
    m_batch = batch;
    m_outLength = outLength;
    detail::resizeIfNeeded(output, channels, outLength, batch);
    Eigen::Map<const Matrix<Scalar>> x(input.data(), channels, length * batch);
    Eigen::Map<Matrix<Scalar>> y(output.data(), channels, outLength * batch);
    for (Index b = 0; b < batch; ++b) {
      for (Index t = 0; t < outLength; ++t) {
        const Window w = window(t);
        auto yc = y.col(b * outLength + t);
        yc = x.middleCols(b * length + w.begin, w.end - w.begin).rowwise().sum() / w.divisor;
      }
    }
  }

  /// gradOutput (channels, outLength, batch) -> gradInput (channels, length, batch):
  /// each output gradient / divisor added to the input positions of its window.
  void backward(const TensorType& gradOutput, TensorType& gradInput) override {
    detail::checkPoolGrad("AvgPool1d::backward", gradOutput, m_channels, m_outLength, m_batch);
    detail::resizeIfNeeded(gradInput, m_channels, m_length, m_batch);
    gradInput.setZero();
    Eigen::Map<const Matrix<Scalar>> g(gradOutput.data(), m_channels, m_outLength * m_batch);
    Eigen::Map<Matrix<Scalar>> dx(gradInput.data(), m_channels, m_length * m_batch);
    for (Index b = 0; b < m_batch; ++b) {
      for (Index t = 0; t < m_outLength; ++t) {
        const Window w = window(t);
        const auto gc = g.col(b * m_outLength + t) / w.divisor;
        for (Index p = w.begin; p < w.end; ++p) dx.col(b * m_length + p) += gc;
      }
    }
  }


 private:
  struct Window {
    Index begin, end;  // input positions [begin, end), never empty
    Scalar divisor;
  };

  // PyTorch's avg_pool rule: clip to the padded input for the "include pad" size, then
  // to the input for the summed positions.
  Window window(Index t) const {
    Index begin = t * m_options.stride - m_options.padding;
    Index end = std::min(begin + m_kernel, m_length + m_options.padding);
    const Index padded = end - begin;
    begin = std::max<Index>(begin, 0);
    end = std::min(end, m_length);
    return {begin, end, static_cast<Scalar>(m_options.countIncludePad ? padded : end - begin)};
  }

  Index m_kernel;
  Options m_options;
  Index m_channels = 0, m_length = 0, m_batch = 0, m_outLength = 0;
};

}  // namespace eigenrec::nn

#endif  // EIGENREC_NN_POOLING_HPP

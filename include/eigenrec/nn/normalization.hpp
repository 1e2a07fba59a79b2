// eigenrec/nn/normalization.hpp: LayerNorm (per example, over the features) and
// BatchNorm1d (per feature, over the batch, with running statistics).
//
// Both map (features, n) -> (features, n). A sequence batch (dim, length, batch) goes
// through them as its flat (dim, length * batch) view (flatMatrix in core/tensor.hpp):
// for LayerNorm this is PyTorch's LayerNorm(dim) on [batch, length, dim], for
// BatchNorm1d it is PyTorch's BatchNorm1d(dim) on [batch, dim, length] (statistics per
// channel over all positions of all sequences).
#ifndef EIGENREC_NN_NORMALIZATION_HPP
#define EIGENREC_NN_NORMALIZATION_HPP

#include <eigenrec/nn/layer.hpp>

#include <cmath>
#include <cstdint>
#include <string>
#include <vector>

namespace eigenrec::nn {

/// Layer normalisation (Ba et al. 2016) of each column over its features:
///
///   mu_j = mean_i x_ij,  var_j = mean_i (x_ij - mu_j)^2   (biased)
///   xhat_ij = (x_ij - mu_j) / sqrt(var_j + eps)
///   y_ij = w_i xhat_ij + b_i                               (w = 1, b = 0 without affine)
///
/// Shapes: input (features, n) -> output (features, n); n may be 0. This is PyTorch's
/// nn.LayerNorm(features, eps, elementwise_affine) on [n, features] (or on
/// [batch, length, features] through the flat view of a sequence tensor).
///
/// Parameters (with elementwiseAffine): "weight" w (features, 1), initialised to 1, and
/// "bias" b (features, 1), initialised to 0 (PyTorch's [features] vectors, same bytes).
/// There is no train/eval difference.
template <typename Scalar = float>
class LayerNorm : public Layer<Scalar> {
 public:
  using typename Layer<Scalar>::MatrixType;
  using typename Layer<Scalar>::ConstRef;
  using Layer<Scalar>::forward;
  using Layer<Scalar>::backward;

  struct Options {
    double eps = 1e-5;              ///< added to the variance (> 0)
    bool elementwiseAffine = true;  ///< learn the per-feature scale w and shift b
  };

  /// features: the normalised dimension (> 0).
  explicit LayerNorm(Index features, Options options = {}) : m_features(features), m_options(options) {
    checkPositive("LayerNorm", "features", features);
    checkFinite("LayerNorm", "eps", options.eps);
    checkPositive("LayerNorm", "eps", options.eps);
    if (m_options.elementwiseAffine) {
      m_weight = Parameter<Scalar>(MatrixType::Ones(features, 1));
      m_bias = Parameter<Scalar>(MatrixType::Zero(features, 1));
    }
  }

  Index features() const noexcept { return m_features; }
  const Options& options() const noexcept { return m_options; }
  bool hasAffine() const noexcept { return m_options.elementwiseAffine; }

  /// "weight" (features, 1); throws without elementwise affine.
  Parameter<Scalar>& weight() {
    checkArgument(hasAffine(), "LayerNorm::weight", "the layer was built without elementwise affine");
    return m_weight;
  }
  /// "bias" (features, 1); throws without elementwise affine.
  Parameter<Scalar>& bias() {
    checkArgument(hasAffine(), "LayerNorm::bias", "the layer was built without elementwise affine");
    return m_bias;
  }

  /// input (features, n) -> output (features, n). Caches xhat and 1/sqrt(var + eps).
  void forward(const ConstRef& input, MatrixType& output) override {
    checkRows("LayerNorm::forward", "input", input, m_features);
    const Index n = input.cols();
    const Scalar eps = static_cast<Scalar>(m_options.eps);
    const RowVector<Scalar> mean = input.colwise().mean();
    m_xhat = input.rowwise() - mean;
    const RowVector<Scalar> var = m_xhat.colwise().squaredNorm() / static_cast<Scalar>(m_features);
    m_rstd = (var.array() + eps).sqrt().inverse().matrix();
    for (Index j = 0; j < n; ++j) m_xhat.col(j) *= m_rstd(j);
    if (hasAffine()) {
      output = (m_xhat.array().colwise() * m_weight.value().col(0).array()).matrix();
      output.colwise() += m_bias.value().col(0);
    } else {
      output = m_xhat;
    }
  }

  /// gradOutput (features, n) -> gradInput (features, n); adds dL/dw and dL/db:
  ///   g' = w .* dy;  dx_j = rstd_j (g'_j - mean(g'_j) - xhat_j mean(g'_j .* xhat_j))
  ///   dw += sum_j dy_j .* xhat_j;  db += sum_j dy_j
  void backward(const ConstRef& gradOutput, MatrixType& gradInput) override {
    checkShape("LayerNorm::backward", "gradOutput", gradOutput, m_features, m_xhat.cols());
    if (hasAffine()) {
      if (!m_weight.frozen()) m_weight.grad().col(0) += (gradOutput.array() * m_xhat.array()).rowwise().sum().matrix();
      if (!m_bias.frozen()) m_bias.grad().col(0) += gradOutput.rowwise().sum();
      m_scaledGrad = (gradOutput.array().colwise() * m_weight.value().col(0).array()).matrix();
    } else {
      m_scaledGrad = gradOutput;
    }
    const Scalar invF = Scalar(1) / static_cast<Scalar>(m_features);
    const RowVector<Scalar> meanG = m_scaledGrad.colwise().sum() * invF;
    const RowVector<Scalar> meanGX = (m_scaledGrad.array() * m_xhat.array()).colwise().sum().matrix() * invF;
    gradInput.resize(m_features, m_xhat.cols());
    for (Index j = 0; j < m_xhat.cols(); ++j) {
      gradInput.col(j) =
          m_rstd(j) * (m_scaledGrad.col(j).array() - meanG(j) - m_xhat.col(j).array() * meanGX(j)).matrix();
    }
  }

  void collectParameters(const std::string& prefix, std::vector<NamedParameter<Scalar>>& out) override {
    if (!hasAffine()) return;
    out.push_back({prefix + "weight", &m_weight});
    out.push_back({prefix + "bias", &m_bias});
  }

 private:
  Index m_features;
  Options m_options;
  Parameter<Scalar> m_weight, m_bias;
  MatrixType m_xhat;         // (features, n)
  RowVector<Scalar> m_rstd;  // (1, n)
  MatrixType m_scaledGrad;   // backward scratch
};

/// Batch normalisation (Ioffe & Szegedy 2015) of each feature (row) over the columns.
///
/// Training mode (or trackRunningStats = false), with n columns:
///   mu_i = mean_j x_ij,  var_i = mean_j (x_ij - mu_i)^2   (biased, used to normalise)
///   y_ij = w_i (x_ij - mu_i) / sqrt(var_i + eps) + b_i
/// and, with trackRunningStats in training mode, after each forward:
///   running_mean = (1 - m) running_mean + m mu
///   running_var  = (1 - m) running_var  + m var * n / (n - 1)   (unbiased)
///   num_batches_tracked += 1
/// where m = momentum, or 1 / num_batches_tracked with cumulativeAverage (PyTorch's
/// momentum=None). Batch statistics need n > 1 (PyTorch: "Expected more than 1 value
/// per channel when training").
///
/// Evaluation mode with trackRunningStats normalises with the running statistics. Unlike
/// PyTorch, whose running statistics start at mean 0 / variance 1, evaluation before the
/// statistics were computed by a training forward, loaded (loadState / buffersLoaded) or
/// set (setRunningStats) throws std::invalid_argument: a model evaluated with
/// never-trained statistics is a silent bug.
///
/// Shapes: input (channels, n) -> output (channels, n). PyTorch's BatchNorm1d(channels)
/// on [n, channels] is the same memory; on [batch, channels, length] it is this layer on
/// the flat (channels, length * batch) view of eigenrec's (channels, length, batch)
/// sequence tensor.
///
/// Parameters (with affine): "weight" (channels, 1) = 1 and "bias" (channels, 1) = 0.
/// Buffers (with trackRunningStats): "running_mean" (channels, 1) = 0, "running_var"
/// (channels, 1) = 1 and "num_batches_tracked" (1, 1) = 0, PyTorch's state_dict names
/// (the counter is an int64 scalar there and a 1x1 Scalar matrix here).
template <typename Scalar = float>
class BatchNorm1d : public Layer<Scalar> {
 public:
  using typename Layer<Scalar>::MatrixType;
  using typename Layer<Scalar>::ConstRef;
  using Layer<Scalar>::forward;
  using Layer<Scalar>::backward;

  struct Options {
    double eps = 1e-5;               ///< added to the variance (> 0)
    double momentum = 0.1;           ///< weight of the batch statistics in the running average, in [0, 1]
    bool cumulativeAverage = false;  ///< running stats = plain average over batches (PyTorch momentum=None)
    bool affine = true;              ///< learn the per-channel scale w and shift b
    bool trackRunningStats = true;   ///< keep running statistics and use them in evaluation mode
  };

  /// channels: the number of features (rows) normalised independently (> 0).
  explicit BatchNorm1d(Index channels, Options options = {}) : m_channels(channels), m_options(options) {
    checkPositive("BatchNorm1d", "channels", channels);
    checkFinite("BatchNorm1d", "eps", options.eps);
    checkPositive("BatchNorm1d", "eps", options.eps);
    checkBetween("BatchNorm1d", "momentum", options.momentum, 0.0, 1.0);
    if (m_options.affine) {
      m_weight = Parameter<Scalar>(MatrixType::Ones(channels, 1));
      m_bias = Parameter<Scalar>(MatrixType::Zero(channels, 1));
    }
    if (m_options.trackRunningStats) resetRunningStats();
  }

  Index channels() const noexcept { return m_channels; }
  const Options& options() const noexcept { return m_options; }
  bool hasAffine() const noexcept { return m_options.affine; }
  bool tracksRunningStats() const noexcept { return m_options.trackRunningStats; }

  /// "weight" (channels, 1); throws without affine.
  Parameter<Scalar>& weight() {
    checkArgument(hasAffine(), "BatchNorm1d::weight", "the layer was built without affine parameters");
    return m_weight;
  }
  /// "bias" (channels, 1); throws without affine.
  Parameter<Scalar>& bias() {
    checkArgument(hasAffine(), "BatchNorm1d::bias", "the layer was built without affine parameters");
    return m_bias;
  }

  /// Running mean (channels, 1); throws without trackRunningStats.
  const MatrixType& runningMean() const {
    requireTracking("BatchNorm1d::runningMean");
    return m_runningMean;
  }
  /// Running (unbiased) variance (channels, 1); throws without trackRunningStats.
  const MatrixType& runningVar() const {
    requireTracking("BatchNorm1d::runningVar");
    return m_runningVar;
  }
  /// Number of training forwards that updated the running statistics.
  std::int64_t numBatchesTracked() const noexcept { return m_batches; }

  /// True when evaluation mode can run: the running statistics were computed by a
  /// training forward, loaded, or set (always true without trackRunningStats).
  bool hasRunningStats() const noexcept { return !tracksRunningStats() || m_statsValid; }

  /// Sets the running statistics (e.g. from PyTorch weights): mean and var (channels, 1),
  /// var >= 0, all finite. They become valid for evaluation.
  void setRunningStats(const ConstRef& mean, const ConstRef& var, std::int64_t numBatchesTracked = 0) {
    requireTracking("BatchNorm1d::setRunningStats");
    checkShape("BatchNorm1d::setRunningStats", "mean", mean, m_channels, 1);
    checkShape("BatchNorm1d::setRunningStats", "var", var, m_channels, 1);
    checkAllFinite("BatchNorm1d::setRunningStats", "mean", mean);
    checkAllFinite("BatchNorm1d::setRunningStats", "var", var);
    checkExpected(var.minCoeff() >= Scalar(0), "BatchNorm1d::setRunningStats", "var", "values >= 0", var.minCoeff());
    checkNonNegative("BatchNorm1d::setRunningStats", "numBatchesTracked", numBatchesTracked);
    m_runningMean = mean;
    m_runningVar = var;
    m_batches = numBatchesTracked;
    m_batchCounter(0, 0) = static_cast<Scalar>(m_batches);
    m_statsValid = true;
  }

  /// Back to mean 0, variance 1, 0 batches; evaluation throws again until statistics
  /// are computed, loaded or set.
  void resetRunningStats() {
    requireTracking("BatchNorm1d::resetRunningStats");
    m_runningMean = MatrixType::Zero(m_channels, 1);
    m_runningVar = MatrixType::Ones(m_channels, 1);
    m_batchCounter = MatrixType::Zero(1, 1);
    m_batches = 0;
    m_statsValid = false;
  }

  /// input (channels, n) -> output (channels, n), with batch statistics in training
  /// mode (n > 1 required; updates the running statistics) and running statistics in
  /// evaluation mode.
  void forward(const ConstRef& input, MatrixType& output) override {
    checkRows("BatchNorm1d::forward", "input", input, m_channels);
    const Index n = input.cols();
    const Scalar eps = static_cast<Scalar>(m_options.eps);
    const bool batchStats = this->training() || !tracksRunningStats();
    if (batchStats) {
      if (n <= 1) {
        throwInvalidArgument("BatchNorm1d::forward", "input expected more than 1 value per channel (columns) when ",
                             "using batch statistics (training), got ", n);
      }
      const Vector<Scalar> mean = input.rowwise().mean();
      m_xhat = input.colwise() - mean;
      const Vector<Scalar> var = m_xhat.rowwise().squaredNorm() / static_cast<Scalar>(n);
      m_rstd = (var.array() + eps).sqrt().inverse().matrix();
      if (this->training() && tracksRunningStats()) {
        ++m_batches;
        const Scalar factor = m_options.cumulativeAverage ? Scalar(1) / static_cast<Scalar>(m_batches)
                                                          : static_cast<Scalar>(m_options.momentum);
        const Scalar unbias = static_cast<Scalar>(n) / static_cast<Scalar>(n - 1);
        m_runningMean.col(0) = (Scalar(1) - factor) * m_runningMean.col(0) + factor * mean;
        m_runningVar.col(0) = (Scalar(1) - factor) * m_runningVar.col(0) + (factor * unbias) * var;
        m_batchCounter(0, 0) = static_cast<Scalar>(m_batches);
        m_statsValid = true;
      }
    } else {
      if (!m_statsValid) {
        throwInvalidArgument("BatchNorm1d::forward",
                             "evaluation mode, but the running statistics were never computed or loaded (run a ",
                             "training forward, loadState or setRunningStats first)");
      }
      m_xhat = input.colwise() - m_runningMean.col(0);
      m_rstd = (m_runningVar.col(0).array() + eps).sqrt().inverse().matrix();
    }
    m_batchStats = batchStats;
    m_xhat.array().colwise() *= m_rstd.array();
    if (hasAffine()) {
      output = (m_xhat.array().colwise() * m_weight.value().col(0).array()).matrix();
      output.colwise() += m_bias.value().col(0);
    } else {
      output = m_xhat;
    }
  }

  /// gradOutput (channels, n) -> gradInput (channels, n); adds dL/dw and dL/db.
  /// Batch statistics:   dx_i = rstd_i (g'_i - mean(g'_i) - xhat_i mean(g'_i .* xhat_i)),
  /// running statistics: dx_i = rstd_i g'_i,   with g' = w .* dy.
  void backward(const ConstRef& gradOutput, MatrixType& gradInput) override {
    checkShape("BatchNorm1d::backward", "gradOutput", gradOutput, m_channels, m_xhat.cols());
    if (hasAffine()) {
      if (!m_weight.frozen()) m_weight.grad().col(0) += (gradOutput.array() * m_xhat.array()).rowwise().sum().matrix();
      if (!m_bias.frozen()) m_bias.grad().col(0) += gradOutput.rowwise().sum();
      gradInput = (gradOutput.array().colwise() * (m_weight.value().col(0).array() * m_rstd.array())).matrix();
    } else {
      gradInput = (gradOutput.array().colwise() * m_rstd.array()).matrix();
    }
    if (!m_batchStats) return;
    // gradInput now holds rstd .* g'; subtract its per-row mean and the xhat projection.
    const Scalar invN = Scalar(1) / static_cast<Scalar>(m_xhat.cols());
    const Vector<Scalar> meanG = gradInput.rowwise().sum() * invN;
    const Vector<Scalar> meanGX = (gradInput.array() * m_xhat.array()).rowwise().sum().matrix() * invN;
    gradInput.colwise() -= meanG;
    gradInput -= (m_xhat.array().colwise() * meanGX.array()).matrix();
  }

  void collectParameters(const std::string& prefix, std::vector<NamedParameter<Scalar>>& out) override {
    if (!hasAffine()) return;
    out.push_back({prefix + "weight", &m_weight});
    out.push_back({prefix + "bias", &m_bias});
  }

  void collectBuffers(const std::string& prefix, std::vector<NamedBuffer<Scalar>>& out) override {
    if (!tracksRunningStats()) return;
    out.push_back({prefix + "running_mean", &m_runningMean});
    out.push_back({prefix + "running_var", &m_runningVar});
    out.push_back({prefix + "num_batches_tracked", &m_batchCounter});
  }

  /// The buffers were overwritten (loadState): they are the statistics from now on.
  void buffersLoaded() override {
    if (!tracksRunningStats()) return;
    m_batches = static_cast<std::int64_t>(std::llround(static_cast<double>(m_batchCounter(0, 0))));
    m_statsValid = true;
  }

 private:
  void requireTracking(const char* where) const {
    checkArgument(tracksRunningStats(), where, "the layer was built with trackRunningStats = false");
  }

  Index m_channels;
  Options m_options;
  Parameter<Scalar> m_weight, m_bias;
  MatrixType m_runningMean, m_runningVar, m_batchCounter;
  std::int64_t m_batches = 0;
  bool m_statsValid = false;
  bool m_batchStats = true;  // mode of the last forward
  MatrixType m_xhat;         // (channels, n)
  Vector<Scalar> m_rstd;     // (channels)
};

}  // namespace eigenrec::nn

#endif  // EIGENREC_NN_NORMALIZATION_HPP

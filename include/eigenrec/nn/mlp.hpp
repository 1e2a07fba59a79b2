// eigenrec/nn/mlp.hpp: multi-layer perceptron, the towers of Wide&Deep, DeepFM, DCN,
// MMoE experts and MIND's user network.
#ifndef EIGENREC_NN_MLP_HPP
#define EIGENREC_NN_MLP_HPP

#include <eigenrec/core/random.hpp>
#include <eigenrec/nn/activation.hpp>
#include <eigenrec/nn/dropout.hpp>
#include <eigenrec/nn/layer.hpp>
#include <eigenrec/nn/linear.hpp>
#include <eigenrec/nn/normalization.hpp>

#include <limits>
#include <string>
#include <vector>

namespace eigenrec::nn {

/// A stack of Linear layers: input (inFeatures, n) -> output (layerSizes.back(), n).
///
/// Every layer but the last is Linear -> [BatchNorm1d] -> activation -> [Dropout] (the
/// order of DeepCTR's DNN and torchvision's MLP); the last is Linear -> finalActivation
/// (identity by default, so the output are logits / raw values). Parameters are named as
/// the underlying Sequential: "<index>.weight", "<index>.bias", ... with one index per
/// sub-layer in the order above.
template <typename Scalar = float>
class MLP : public Layer<Scalar> {
 public:
  using typename Layer<Scalar>::MatrixType;
  using typename Layer<Scalar>::ConstRef;
  using Layer<Scalar>::forward;
  using Layer<Scalar>::backward;

  struct Options {
    ActivationKind activation = ActivationKind::relu;
    double activationParameter = std::numeric_limits<double>::quiet_NaN();  ///< NaN = the activation's default
    double dropout = 0.0;      ///< dropout probability after each hidden layer
    bool batchNorm = false;    ///< BatchNorm1d after each hidden Linear
    ActivationKind finalActivation = ActivationKind::identity;
    bool bias = true;
  };

  MLP(Index inFeatures, const std::vector<Index>& layerSizes, Rng& rng, Options options = {}) {
    build(inFeatures, layerSizes, rng, options);
  }
  MLP(Index inFeatures, const std::vector<Index>& layerSizes, std::uint64_t seed = 0, Options options = {}) {
    Rng rng(seed);
    build(inFeatures, layerSizes, rng, options);
  }

  Index inFeatures() const noexcept { return m_in; }
  Index outFeatures() const noexcept { return m_out; }
  /// The underlying layers (to reach a Linear's weights, e.g. for loading).
  Sequential<Scalar>& layers() noexcept { return m_net; }

  void forward(const ConstRef& input, MatrixType& output) override {
    checkRows("MLP::forward", "input", input, m_in);
    m_net.forward(input, output);
  }
  void backward(const ConstRef& gradOutput, MatrixType& gradInput) override { m_net.backward(gradOutput, gradInput); }
  Index outputFeatures(Index) const override { return m_out; }

  void collectParameters(const std::string& prefix, std::vector<NamedParameter<Scalar>>& out) override {
    m_net.collectParameters(prefix, out);
  }
  void collectBuffers(const std::string& prefix, std::vector<NamedBuffer<Scalar>>& out) override {
    m_net.collectBuffers(prefix, out);
  }
  void buffersLoaded() override { m_net.buffersLoaded(); }
  void setTraining(bool training) override {
    Layer<Scalar>::setTraining(training);
    m_net.setTraining(training);
  }
  void setInputGradientEnabled(bool enabled) override {
    Layer<Scalar>::setInputGradientEnabled(enabled);
    m_net.setInputGradientEnabled(enabled);
  }

 private:
  void build(Index inFeatures, const std::vector<Index>& sizes, Rng& rng, const Options& o) {
    const char* where = "MLP";
    checkPositive(where, "inFeatures", inFeatures);
    checkNotEmpty(where, "layerSizes", static_cast<Index>(sizes.size()));
    checkHalfOpen(where, "dropout", o.dropout, 0.0, 1.0);
    for (std::size_t i = 0; i < sizes.size(); ++i) {
      checkExpected(sizes[i] > 0, where, eigenrec::detail::concat("layerSizes[", i, "]"), "> 0", sizes[i]);
    }
    m_in = inFeatures;
    m_out = sizes.back();
    Index width = inFeatures;
    for (std::size_t i = 0; i < sizes.size(); ++i) {
      m_net.add(Linear<Scalar>(width, sizes[i], rng, {o.bias}));
      width = sizes[i];
      if (i + 1 == sizes.size()) {
        if (o.finalActivation != ActivationKind::identity) m_net.add(Activation<Scalar>(o.finalActivation));
        break;
      }
      if (o.batchNorm) m_net.add(BatchNorm1d<Scalar>(width));
      m_net.add(Activation<Scalar>(o.activation, o.activationParameter));
      if (o.dropout > 0) m_net.add(Dropout<Scalar>(o.dropout, rng.next()));
    }
  }

  Index m_in = 0, m_out = 0;
  Sequential<Scalar> m_net;
};

}  // namespace eigenrec::nn

#endif  // EIGENREC_NN_MLP_HPP

// eigenrec/nn/layer.hpp: the interface of layers that map a batch of vectors to a batch
// of vectors, and Sequential, a chain of them.
//
// Shapes: input (inFeatures, n), output (outFeatures, n), one column per example. A
// sequence batch (dim, length, batch) goes through the same layers as the matrix
// (dim, length * batch) (see flatMatrix in core/tensor.hpp), which is what PyTorch does
// for its Linear, LayerNorm and activations on [batch, length, dim].
#ifndef EIGENREC_NN_LAYER_HPP
#define EIGENREC_NN_LAYER_HPP

#include <eigenrec/nn/module.hpp>

#include <memory>
#include <string>
#include <vector>

namespace eigenrec::nn {

/// A Module with a matrix forward and backward.
template <typename Scalar>
class Layer : public Module<Scalar> {
 public:
  using MatrixType = Matrix<Scalar>;
  using ConstRef = Eigen::Ref<const MatrixType>;

  /// y = f(x). Caches what backward needs. `output` is resized as needed (no allocation
  /// when it already has the right shape).
  virtual void forward(const ConstRef& input, MatrixType& output) = 0;

  /// Given dL/dy for the last forward, writes dL/dx into `gradInput` and adds the
  /// parameter gradients to the parameters' grad.
  virtual void backward(const ConstRef& gradOutput, MatrixType& gradInput) = 0;

  /// Allocating forms of the above.
  MatrixType forward(const ConstRef& input) {
    MatrixType out;
    forward(input, out);
    return out;
  }
  MatrixType backward(const ConstRef& gradOutput) {
    MatrixType gradIn;
    backward(gradOutput, gradIn);
    return gradIn;
  }

  /// Number of output rows for an input of `inFeatures` rows; -1 when it cannot be
  /// told without data.
  virtual Index outputFeatures(Index inFeatures) const { return inFeatures; }

  /// Whether backward computes dL/dx. The first layer of a model whose input is data
  /// (not another layer's output) does not need it; turning it off saves that work (a
  /// whole GEMM for a Linear), as PyTorch does for inputs without requires_grad.
  /// When off, backward sets gradInput to an empty (0, 0) matrix. Parameter gradients
  /// are unaffected.
  virtual void setInputGradientEnabled(bool enabled) { m_inputGradient = enabled; }
  bool inputGradientEnabled() const noexcept { return m_inputGradient; }

 private:
  bool m_inputGradient = true;
};

/// Layers applied one after another; parameters are named "<index>.<name>" as in
/// PyTorch's nn.Sequential.
template <typename Scalar>
class Sequential : public Layer<Scalar> {
 public:
  using typename Layer<Scalar>::MatrixType;
  using typename Layer<Scalar>::ConstRef;
  using Layer<Scalar>::forward;
  using Layer<Scalar>::backward;

  Sequential() = default;

  /// Appends a layer; returns a reference to it.
  template <typename L>
  L& add(L layer) {
    auto owned = std::make_unique<L>(std::move(layer));
    L& ref = *owned;
    ref.setTraining(this->training());
    if (m_layers.empty()) ref.setInputGradientEnabled(this->inputGradientEnabled());
    m_layers.push_back(std::move(owned));
    m_outputs.emplace_back();
    return ref;
  }

  Index size() const noexcept { return static_cast<Index>(m_layers.size()); }
  Layer<Scalar>& operator[](Index i) { return *m_layers[static_cast<std::size_t>(i)]; }

  void forward(const ConstRef& input, MatrixType& output) override {
    checkArgument(!m_layers.empty(), "Sequential::forward", "no layers");
    for (std::size_t i = 0; i < m_layers.size(); ++i) {
      MatrixType& out = (i + 1 == m_layers.size()) ? output : m_outputs[i];
      if (i == 0) {
        m_layers[i]->forward(input, out);
      } else {
        m_layers[i]->forward(m_outputs[i - 1], out);
      }
    }
  }

  void backward(const ConstRef& gradOutput, MatrixType& gradInput) override {
    checkArgument(!m_layers.empty(), "Sequential::backward", "no layers");
    if (m_layers.size() == 1) {
      m_layers[0]->backward(gradOutput, gradInput);
      return;
    }
    m_layers.back()->backward(gradOutput, m_gradA);
    for (std::size_t i = m_layers.size() - 1; i-- > 1;) {
      m_layers[i]->backward(m_gradA, m_gradB);
      m_gradA.swap(m_gradB);
    }
    m_layers[0]->backward(m_gradA, gradInput);
  }

  Index outputFeatures(Index inFeatures) const override {
    for (const auto& l : m_layers) {
      inFeatures = l->outputFeatures(inFeatures);
      if (inFeatures < 0) return -1;
    }
    return inFeatures;
  }

  void collectParameters(const std::string& prefix, std::vector<NamedParameter<Scalar>>& out) override {
    for (std::size_t i = 0; i < m_layers.size(); ++i) {
      m_layers[i]->collectParameters(prefix + std::to_string(i) + ".", out);
    }
  }
  void collectBuffers(const std::string& prefix, std::vector<NamedBuffer<Scalar>>& out) override {
    for (std::size_t i = 0; i < m_layers.size(); ++i) {
      m_layers[i]->collectBuffers(prefix + std::to_string(i) + ".", out);
    }
  }
  void buffersLoaded() override {
    for (auto& l : m_layers) l->buffersLoaded();
  }
  void setTraining(bool training) override {
    Module<Scalar>::setTraining(training);
    for (auto& l : m_layers) l->setTraining(training);
  }
  /// Only the first layer's input gradient can be skipped; the others feed backward.
  void setInputGradientEnabled(bool enabled) override {
    Layer<Scalar>::setInputGradientEnabled(enabled);
    if (!m_layers.empty()) m_layers.front()->setInputGradientEnabled(enabled);
  }

 private:
  std::vector<std::unique_ptr<Layer<Scalar>>> m_layers;
  std::vector<MatrixType> m_outputs;
  MatrixType m_gradA, m_gradB;
};

}  // namespace eigenrec::nn

#endif  // EIGENREC_NN_LAYER_HPP

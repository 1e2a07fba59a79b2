// eigenrec/nn/sequence_layer.hpp: the interface of modules that map a batch of
// sequences to a batch of sequences, (features, length, batch) -> (features', length',
// batch), where the length may change (distilling, pooling, encoders).
//
// It is to Tensor3 what Layer (layer.hpp) is to matrices: forward caches what backward
// needs, backward returns dL/dinput and accumulates the parameter gradients, and the
// allocating forms come for free. Kept apart from layer.hpp because the Tensor module
// is heavy to compile and only the sequence models need it.
#ifndef EIGENREC_NN_SEQUENCE_LAYER_HPP
#define EIGENREC_NN_SEQUENCE_LAYER_HPP

#include <eigenrec/core/tensor.hpp>
#include <eigenrec/nn/module.hpp>

namespace eigenrec::nn {

/// A Module with a sequence-batch forward and backward.
template <typename Scalar>
class SequenceLayer : public Module<Scalar> {
 public:
  using TensorType = Tensor3<Scalar>;

  /// y = f(x) for x (inFeatures, length, batch). Caches what backward needs; `output`
  /// is resized as needed.
  virtual void forward(const TensorType& input, TensorType& output) = 0;

  /// Given dL/dy of the last forward, writes dL/dx (the input's shape) into `gradInput`
  /// and adds the parameter gradients to the parameters' grad.
  virtual void backward(const TensorType& gradOutput, TensorType& gradInput) = 0;

  /// Allocating forms of the above.
  TensorType forward(const TensorType& input) {
    TensorType out;
    forward(input, out);
    return out;
  }
  TensorType backward(const TensorType& gradOutput) {
    TensorType gradIn;
    backward(gradOutput, gradIn);
    return gradIn;
  }
};

}  // namespace eigenrec::nn

#endif  // EIGENREC_NN_SEQUENCE_LAYER_HPP

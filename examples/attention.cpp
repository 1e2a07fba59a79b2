// Self-attention over a generated batch of sequences with eigenrec's attention module.
//
//   example_attention                          generated weights and data
//   example_attention weights.safetensors H    load a PyTorch nn.MultiheadAttention
//                                              state_dict (saved as safetensors) with
//                                              H heads and run it on generated data
//
// Shows: scaledDotProductAttention (tiled and naive agree), the masks, and a
// MultiHeadAttention training step (forward, backward, plain SGD update).
#include <eigenrec/attention.hpp>

#include <cstdlib>
#include <iostream>
#include <string>

using namespace eigenrec;
using namespace eigenrec::attention;

int main(int argc, char** argv) {
  try {
    Rng rng(42);
    // --- the function: 2 sequences x 4 heads, 32 queries over 48 keys, head dim 16
    const Index d = 16, lq = 32, lk = 48, batch = 2, heads = 4, n = batch * heads;
    Tensor3<float> q(d, lq, n), k(d, lk, n), v(d, lk, n);
    for (auto* t : {&q, &k, &v}) {
      for (Index i = 0; i < t->size(); ++i) t->data()[i] = rng.normal<float>();
    }
    // second sequence has only 40 real keys; causal, aligned bottom-right (Lq != Lk)
    const BoolMatrix keyAllowed = keyAllowedFromLengths(Eigen::Vector2i(48, 40), lk);
    SdpaOptions<float> o;
    o.causal = Causal::bottomRight;
    o.keyAllowed = keyAllowed;
    o.backend = SdpaBackend::tiled;
    const auto tiled = scaledDotProductAttention(q, k, v, o);
    o.backend = SdpaBackend::naive;
    o.needWeights = true;
    const auto naive = scaledDotProductAttention(q, k, v, o);
    float worst = 0;
    for (Index i = 0; i < tiled.output.size(); ++i) {
      worst = std::max(worst, std::abs(tiled.output.data()[i] - naive.output.data()[i]));
    }
    std::cout << "SDPA output (" << d << ", " << lq << ", " << n << "), tiled vs naive max |diff| = " << worst << "\n";
    std::cout << "weights of query 0 on keys 16, 17 (bottom-right causal allows keys <= 16): " << naive.weights(16, 0, 0)
              << ", " << naive.weights(17, 0, 0) << "\n";

    // --- the layer: E = 32, 4 heads, self-attention with key padding
    MultiHeadAttention<float>::Options mo;
    mo.embedDim = 32;
    mo.numHeads = 4;
    mo.dropout = 0.1;
    if (argc >= 2) {
      const auto file = io::SafetensorsFile::load(argv[1]);
      const auto& w = file.entry("in_proj_weight");
      mo.embedDim = static_cast<Index>(w.shape.at(1));
      mo.numHeads = argc >= 3 ? std::atoi(argv[2]) : 1;
      mo.addBiasKV = file.contains("bias_k");
      mo.bias = file.contains("in_proj_bias");
      mo.dropout = 0.0;
      std::cout << "loading " << argv[1] << ": E = " << mo.embedDim << ", H = " << mo.numHeads << "\n";
    }
    MultiHeadAttention<float> mha(mo, 7);
    if (argc >= 2) loadPyTorchState(mha, std::string(argv[1]));
    const Index e = mo.embedDim, len = 10;
    Tensor3<float> x(e, len, batch), target(e, len, batch);
    for (Index i = 0; i < x.size(); ++i) {
      x.data()[i] = rng.normal<float>();
      target.data()[i] = rng.normal<float>();
    }
    const BoolMatrix padding = keyAllowedFromLengths(Eigen::Vector2i(10, 7), len);
    MhaForwardOptions<float> fo;
    fo.keyAllowed = padding;
    for (int step = 0; step < 5; ++step) {
      mha.zeroGrad();
      const Tensor3<float> y = mha.forward(x, fo);
      const float count = static_cast<float>(y.size());
      Tensor3<float> grad = (y - target) / count;  // d/dy of 0.5 * mean (y - target)^2
      const float loss = 0.5f * static_cast<Tensor<float, 0>>((y - target).square().sum())() / count;
      mha.backward(grad);
      for (auto* p : mha.parameters()) p->value() -= 0.5f * p->grad();
      std::cout << "step " << step << " loss " << loss << "\n";
    }
    mha.setTraining(false);
    fo.needWeights = true;
    mha.forward(x, fo);
    std::cout << "averaged weights (" << mha.weights().dimension(0) << ", " << mha.weights().dimension(1) << ", "
              << mha.weights().dimension(2) << "); padded key 8 of sequence 1 gets " << mha.weights()(8, 0, 1) << "\n";
    return worst < 1e-4f ? 0 : 1;
  } catch (const std::exception& ex) {
    std::cerr << "example_attention: " << ex.what() << "\n";
    return 1;
  }
}

// Encodes a long generated multivariate series with an Informer encoder: ProbSparse
// self-attention and self-attention distilling halving the sequence between layers.
//
//   example_informer_encoder [length]         default 1536 steps
//
// The series is ETT-like: 7 variables (loads and an oil temperature) made of daily and
// weekly cycles with noise, sampled hourly. The input embedding is the reference's
// TokenEmbedding (a circular kernel-3 convolution from the 7 variables to d_model) plus
// the sinusoidal position encoding. Prints the sequence length and time of every layer,
// and compares ProbSparse with full attention on the first layer's projections.
#include <eigenrec/attention.hpp>

#include <chrono>
#include <cmath>
#include <cstdlib>
#include <iomanip>
#include <iostream>
#include <string>

using namespace eigenrec;
using namespace eigenrec::attention;

namespace {

double millisecondsSince(std::chrono::steady_clock::time_point start) {
  return std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start).count();
}

/// (7, length, batch): daily (24 h) and weekly (168 h) cycles, a slow trend and noise.
Tensor3<float> ettLikeSeries(Index length, Index batch, Rng& rng) {
  const double pi = 3.14159265358979323846;
  Tensor3<float> x(7, length, batch);
  for (Index b = 0; b < batch; ++b) {
    for (Index v = 0; v < 7; ++v) {
      const double phase = rng.uniform<double>(0.0, 2.0 * pi), amp = rng.uniform<double>(0.5, 2.0);
      for (Index t = 0; t < length; ++t) {
        const double h = static_cast<double>(t + 24 * b);
        x(v, t, b) = static_cast<float>(amp * std::sin(2 * pi * h / 24 + phase) + 0.5 * std::sin(2 * pi * h / 168) +
                                        1e-4 * h + 0.2 * rng.normal<double>());
      }
    }
  }
  return x;
}

}  // namespace

int main(int argc, char** argv) {
  try {
    const Index length = argc >= 2 ? std::atol(argv[1]) : 1536;
    checkPositive("example_informer_encoder", "length", length);
    const Index batch = 2, dModel = 64;
    Rng rng(2021);
    const Tensor3<float> series = ettLikeSeries(length, batch, rng);

    // Input embedding: circular kernel-3 convolution (TokenEmbedding) + position encoding.
    nn::Conv1d<float>::Options co;
    co.padding = 1;
    co.paddingMode = nn::PaddingMode::circular;
    co.bias = false;
    nn::Conv1d<float> token(7, dModel, 3, rng, co);
    Tensor3<float> x = token.forward(series);
    for (Index b = 0; b < batch; ++b) {
      for (Index t = 0; t < length; ++t) {
        for (Index i = 0; i < dModel; i += 2) {
          const double angle = static_cast<double>(t) / std::pow(10000.0, static_cast<double>(i) / dModel);
          x(i, t, b) += static_cast<float>(std::sin(angle));
          x(i + 1, t, b) += static_cast<float>(std::cos(angle));
        }
      }
    }

    InformerEncoderOptions<float> o;
    o.layer.modelDim = dModel;
    o.layer.numHeads = 4;
    o.layer.ffDim = 128;
    o.layer.attention.factor = 5;
    o.layers = 3;
    InformerEncoder<float> encoder(o, rng);

    // BatchNorm in the distilling layers needs statistics: one training forward.
    encoder.forward(x);
    encoder.setTraining(false);

    std::cout << "Informer encoder: d_model " << dModel << ", " << o.layer.numHeads << " heads, d_ff " << o.layer.ffDim
              << ", " << o.layers << " layers with distilling, factor " << o.layer.attention.factor << "\n";
    std::cout << "input: " << batch << " series of " << length << " hourly steps x 7 variables\n";
    Tensor3<float> h = x, next;
    for (Index i = 0; i < encoder.layerCount(); ++i) {
      const Index u = probSparseCount(o.layer.attention.factor, h.dimension(1));
      auto start = std::chrono::steady_clock::now();
      encoder.layer(i).forward(h, next);
      std::cout << "  attention layer " << i << ": L = " << std::setw(5) << h.dimension(1) << ", active queries u = " << u
                << ", " << std::fixed << std::setprecision(1) << millisecondsSince(start) << " ms\n";
      h = next;
      if (i < encoder.distillingCount()) {
        start = std::chrono::steady_clock::now();
        encoder.distilling(i).forward(h, next);
        std::cout << "  distilling      " << i << ": L " << h.dimension(1) << " -> " << next.dimension(1) << ", "
                  << millisecondsSince(start) << " ms\n";
        h = next;
      }
    }
    const Tensor3<float> encoded = encoder.forward(x);
    std::cout << "encoded: (" << encoded.dimension(0) << ", " << encoded.dimension(1) << ", " << encoded.dimension(2)
              << "), outputLength(" << length << ") = " << encoder.outputLength(length) << "\n";

    // ProbSparse vs full attention on the first layer's heads (same q, k, v).
    const Index dk = dModel / o.layer.numHeads, n = batch * o.layer.numHeads;
    Tensor3<float> q(dk, length, n), k(dk, length, n), v(dk, length, n);
    for (auto* t : {&q, &k, &v}) {
      for (Index i = 0; i < t->size(); ++i) t->data()[i] = rng.normal<float>();
    }
    ProbSparseOptions<float> po;
    auto start = std::chrono::steady_clock::now();
    const auto sparse = probSparseAttention(q, k, v, po);
    const double sparseMs = millisecondsSince(start);
    SdpaOptions<float> so;
    start = std::chrono::steady_clock::now();
    const auto full = scaledDotProductAttention(q, k, v, so);
    const double fullMs = millisecondsSince(start);
    double diffActive = 0;
    for (Index i = 0; i < n; ++i) {
      for (Index c = 0; c < sparse.top.rows(); ++c) {
        const Index t = sparse.top(c, i);
        for (Index r = 0; r < dk; ++r) diffActive = std::max(diffActive, static_cast<double>(std::abs(sparse.output(r, t, i) - full.output(r, t, i))));
      }
    }
    std::cout << "attention over L = " << length << " (" << n << " heads of " << dk << "): ProbSparse " << sparseMs
              << " ms, full " << fullMs << " ms; active queries match full attention to " << std::scientific
              << std::setprecision(1) << diffActive << "\n";
    return 0;
  } catch (const std::exception& e) {
    std::cerr << "example_informer_encoder: " << e.what() << "\n";
    return 1;
  }
}

// eigenrec/attention.hpp: the attention module (scaled dot-product attention with a
// naive and a tiled online-softmax implementation, multi-head attention, Informer's
// ProbSparse attention, distilling and encoders, PyTorch weights through safetensors).
// See docs/attention.md and docs/informer.md.
#ifndef EIGENREC_ATTENTION_HPP
#define EIGENREC_ATTENTION_HPP

#include <eigenrec/attention/informer.hpp>
#include <eigenrec/attention/masks.hpp>
#include <eigenrec/attention/multi_head.hpp>
#include <eigenrec/attention/prob_sparse.hpp>
#include <eigenrec/attention/pytorch_state.hpp>
#include <eigenrec/attention/scaled_dot_product.hpp>
#include <eigenrec/io/safetensors.hpp>

#endif  // EIGENREC_ATTENTION_HPP

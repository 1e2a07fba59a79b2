// eigenrec/nn.hpp: trainable building blocks, losses, optimizers and gradient checks.
#ifndef EIGENREC_NN_HPP
#define EIGENREC_NN_HPP

#include <eigenrec/nn/activation.hpp>
#include <eigenrec/nn/conv.hpp>
#include <eigenrec/nn/dropout.hpp>
#include <eigenrec/nn/embedding.hpp>
#include <eigenrec/nn/gradcheck.hpp>
#include <eigenrec/nn/init.hpp>
#include <eigenrec/nn/layer.hpp>
#include <eigenrec/nn/linear.hpp>
#include <eigenrec/nn/loss.hpp>
#include <eigenrec/nn/mlp.hpp>
#include <eigenrec/nn/module.hpp>
#include <eigenrec/nn/normalization.hpp>
#include <eigenrec/nn/optimizer.hpp>
#include <eigenrec/nn/pooling.hpp>
#include <eigenrec/nn/schedule.hpp>

#endif  // EIGENREC_NN_HPP

// eigenrec/ctr.hpp: click-through-rate models on sparse categorical data: sparse
// example batches and their readers, factorization machines (libFM's solvers) and
// field-aware factorization machines (libffm's trainer).
#ifndef EIGENREC_CTR_HPP
#define EIGENREC_CTR_HPP

#include <eigenrec/ctr/ffm.hpp>
#include <eigenrec/ctr/fm.hpp>
#include <eigenrec/ctr/sparse_batch.hpp>
#include <eigenrec/ctr/synthetic.hpp>
#include <eigenrec/io/libsvm.hpp>

#endif  // EIGENREC_CTR_HPP

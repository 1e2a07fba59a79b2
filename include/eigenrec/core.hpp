// eigenrec/core.hpp: the foundation every module builds on: types, argument checks,
// random numbers, threads, numerics, serialization and progress reporting.
#ifndef EIGENREC_CORE_HPP
#define EIGENREC_CORE_HPP

#include <eigenrec/core/checks.hpp>
#include <eigenrec/core/gemm.hpp>
#include <eigenrec/core/math.hpp>
#include <eigenrec/core/memory.hpp>
#include <eigenrec/core/parallel.hpp>
#include <eigenrec/core/progress.hpp>
#include <eigenrec/core/random.hpp>
#include <eigenrec/core/serialize.hpp>
#include <eigenrec/core/tensor.hpp>
#include <eigenrec/core/types.hpp>
#include <eigenrec/core/utf8.hpp>

#endif  // EIGENREC_CORE_HPP

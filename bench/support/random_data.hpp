// bench/support/random_data.hpp: standard-normal inputs for the benchmarks, filled in
// storage order from a seeded eigenrec::Rng (the same values on every machine).
#ifndef EIGENREC_BENCH_SUPPORT_RANDOM_DATA_HPP
#define EIGENREC_BENCH_SUPPORT_RANDOM_DATA_HPP

#include <eigenrec/core/random.hpp>
#include <eigenrec/core/tensor.hpp>
#include <eigenrec/core/types.hpp>

#include <cstdint>

namespace eigenrec::bench {

template <typename Scalar = float>
Matrix<Scalar> randomMatrix(Index rows, Index cols, std::uint64_t seed) {
  Rng rng(seed);
  Matrix<Scalar> m(rows, cols);
  for (Index i = 0; i < m.size(); ++i) m.data()[i] = rng.normal<Scalar>();
  return m;
}

template <typename Scalar = float>
Tensor3<Scalar> randomTensor(Index d0, Index d1, Index d2, std::uint64_t seed) {
  Rng rng(seed);
  Tensor3<Scalar> t(d0, d1, d2);
  for (Index i = 0; i < t.size(); ++i) t.data()[i] = rng.normal<Scalar>();
  return t;
}

}  // namespace eigenrec::bench

#endif  // EIGENREC_BENCH_SUPPORT_RANDOM_DATA_HPP

// eigenrec/io.hpp: file formats shared by several modules.
#ifndef EIGENREC_IO_HPP
#define EIGENREC_IO_HPP

#include <eigenrec/io/libsvm.hpp>
#include <eigenrec/io/line_reader.hpp>
#include <eigenrec/io/matrix_market.hpp>
#include <eigenrec/io/safetensors.hpp>
#include <eigenrec/io/word2vec_format.hpp>

#endif  // EIGENREC_IO_HPP

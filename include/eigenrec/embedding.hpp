// eigenrec/embedding.hpp: the embedding module: word2vec (vocabulary, sampling tables,
// CBOW / skip-gram training with negative sampling or hierarchical softmax, word2vec.c
// vector formats, similarity queries and evaluators).
#ifndef EIGENREC_EMBEDDING_HPP
#define EIGENREC_EMBEDDING_HPP

#include <eigenrec/embedding/corpus.hpp>
#include <eigenrec/embedding/tables.hpp>
#include <eigenrec/embedding/vocabulary.hpp>
#include <eigenrec/embedding/word2vec.hpp>
#include <eigenrec/embedding/word_vectors.hpp>
#include <eigenrec/io/word2vec_format.hpp>

#endif  // EIGENREC_EMBEDDING_HPP

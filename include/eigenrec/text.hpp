// eigenrec/text.hpp: text vectorization — scikit-learn's tokenizer, CountVectorizer and
// TfidfVectorizer (same vocabulary and numbers), and BM25, over UTF-8 documents in
// memory or streamed from a file.
#ifndef EIGENREC_TEXT_HPP
#define EIGENREC_TEXT_HPP

#include <eigenrec/text/analyzer.hpp>
#include <eigenrec/text/bm25.hpp>
#include <eigenrec/text/count_vectorizer.hpp>
#include <eigenrec/text/stop_words.hpp>
#include <eigenrec/text/tfidf.hpp>
#include <eigenrec/text/vocabulary_file.hpp>

#endif  // EIGENREC_TEXT_HPP

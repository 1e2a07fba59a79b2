// eigenrec/text/stop_words.hpp: eigenrec's built-in English stop-word list.
//
// Written for eigenrec from English grammar: the closed-class words (articles and other
// determiners, pronouns, prepositions, conjunctions, auxiliary and modal verbs with their
// usual forms and apostrophe-less contractions, as the default token pattern splits
// "don't" into "don" and "t" anyway), number and ordinal words, and frequent function
// adverbs. It is not scikit-learn's ENGLISH_STOP_WORDS (a different, older list); to
// reproduce scikit-learn's stop_words="english" exactly, pass that list as
// CountVectorizerOptions::stopWords.
#ifndef EIGENREC_TEXT_STOP_WORDS_HPP
#define EIGENREC_TEXT_STOP_WORDS_HPP

#include <iterator>
#include <string>
#include <vector>

namespace eigenrec::text {

/// eigenrec's English stop-word list (301 lowercase words, sorted).
inline std::vector<std::string> englishStopWords() {
  static const char* const words[] = {
      "a", "about", "above", "across", "after", "again", "against", "ago", "all", "almost", "along", "already",
      "also", "although", "always", "am", "amid", "among", "amongst", "an", "and", "another", "any", "anybody",
      "anyone", "anything", "anyway", "are", "arent", "around", "as", "at", "away", "back", "be", "because", "been",
      "before", "behind", "being", "below", "beneath", "beside", "besides", "between", "beyond", "both", "but",
      "by", "can", "cannot", "cant", "could", "couldnt", "despite", "did", "didnt", "do", "does", "doesnt", "doing",
      "done", "dont", "down", "during", "each", "eg", "eight", "either", "eleven", "else", "etc", "even", "ever",
      "every", "everybody", "everyone", "everything", "except", "few", "fewer", "fifty", "first", "five", "for",
      "forty", "four", "from", "further", "furthermore", "get", "gets", "go", "goes", "gone", "got", "had", "hadnt",
      "half", "has", "hasnt", "have", "havent", "having", "he", "hence", "her", "here", "hers", "herself", "him",
      "himself", "his", "how", "however", "hundred", "i", "ie", "if", "in", "indeed", "inside", "instead", "into",
      "is", "isnt", "it", "its", "itself", "just", "last", "later", "least", "less", "like", "made", "make",
      "makes", "many", "may", "maybe", "me", "meanwhile", "might", "mine", "more", "moreover", "most", "much",
      "must", "my", "myself", "near", "neither", "never", "nevertheless", "next", "nine", "no", "nobody", "none",
      "nonetheless", "noone", "nor", "not", "nothing", "now", "of", "off", "often", "on", "once", "one", "ones",
      "only", "onto", "or", "other", "otherwise", "ought", "our", "ours", "ourselves", "out", "outside", "over",
      "past", "per", "perhaps", "quite", "rather", "really", "said", "say", "says", "second", "seven", "several",
      "shall", "she", "should", "shouldnt", "since", "six", "so", "some", "somebody", "someone", "something",
      "sometimes", "somewhat", "soon", "still", "such", "take", "takes", "ten", "than", "that", "the", "their",
      "theirs", "them", "themselves", "then", "there", "therefore", "these", "they", "third", "thirty", "this",
      "those", "though", "thousand", "three", "through", "throughout", "thus", "till", "to", "today", "together",
      "too", "took", "toward", "towards", "twelve", "twenty", "two", "under", "underneath", "unless", "unlike",
      "until", "up", "upon", "us", "usually", "very", "via", "vs", "was", "wasnt", "we", "went", "were", "werent",
      "what", "whatever", "when", "whenever", "where", "whereas", "whereby", "wherein", "wherever", "whether",
      "which", "whichever", "while", "who", "whoever", "whom", "whose", "why", "will", "with", "within", "without",
      "wont", "would", "wouldnt", "yes", "yet", "you", "your", "yours", "yourself", "yourselves", "zero",
  };
  return std::vector<std::string>(std::begin(words), std::end(words));
}

}  // namespace eigenrec::text

#endif  // EIGENREC_TEXT_STOP_WORDS_HPP

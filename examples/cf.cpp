// Neighbourhood collaborative filtering with eigenrec/cf: read interactions, fit ItemCF,
// recommend with explanations, see what IUF weighting changes, update a user
// incrementally, and predict a rating the way Surprise's KNNBasic does.
#include <eigenrec/cf.hpp>

#include <iomanip>
#include <iostream>
#include <sstream>

int main() {
  using namespace eigenrec;
  using namespace eigenrec::cf;

  // user <TAB> film <TAB> rating <TAB> timestamp, as in MovieLens' u.data. "frank" is a
  // collector who rated every film.
  const char* text =
      "alice\tAlien\t5\t1\nalice\tAliens\t4\t2\nalice\tBlade Runner\t5\t3\n"
      "bob\tAlien\t4\t1\nbob\tAliens\t5\t2\nbob\tTerminator\t4\t3\n"
      "carol\tAmelie\t5\t1\ncarol\tBefore Sunrise\t4\t2\ncarol\tCasablanca\t5\t3\n"
      "dave\tAmelie\t4\t1\ndave\tCasablanca\t4\t2\ndave\tNotting Hill\t3\t3\n"
      "erin\tBlade Runner\t4\t1\nerin\tTerminator\t5\t2\nerin\tAlien\t4\t3\n"
      "grace\tBefore Sunrise\t5\t1\ngrace\tNotting Hill\t4\t2\n"
      "heidi\tAliens\t3\t1\nheidi\tTerminator\t4\t2\n"
      "frank\tAlien\t3\t1\nfrank\tAliens\t3\t2\nfrank\tBlade Runner\t3\t3\nfrank\tTerminator\t3\t4\n"
      "frank\tAmelie\t3\t5\nfrank\tBefore Sunrise\t3\t6\nfrank\tCasablanca\t3\t7\nfrank\tNotting Hill\t3\t8\n";
  std::istringstream in(text);
  InteractionLog log;
  readInteractions(in, "films.tsv", ReaderOptions{}, log);
  const auto data = InteractionMatrix<float>::fromLog(log);  // binary implicit feedback
  std::cout << data.users() << " users, " << data.items() << " films, " << data.nonZeros() << " interactions\n\n";

  // ItemCF with cosine similarity, 5 neighbours per film.
  SimilarityOptions options;
  options.measure = Measure::cosine;
  options.k = 5;
  ItemCF<float> itemcf(options);
  itemcf.fit(data);

  RecommendOptions request;
  request.explain = true;
  const Index grace = itemcf.userIndex("grace");
  std::cout << std::fixed << std::setprecision(3) << "ItemCF for grace (Before Sunrise, Notting Hill):\n";
  for (const Recommendation& r : itemcf.recommend(grace, 3, request)) {
    std::cout << "  " << std::setw(14) << std::left << itemcf.itemName(r.item) << " score " << r.score
              << (r.fallback ? " (popular)" : "") << "  because";
    for (const Contribution& c : r.explanation) {
      std::cout << " " << itemcf.itemName(c.source) << " (" << c.similarity << ")";
    }
    std::cout << "\n";
  }

  // IUF: co-occurrences inside a user who has everything say little about similarity.
  SimilarityOptions iufOptions = options;
  iufOptions.measure = Measure::inverseFrequency;
  ItemCF<float> iuf(iufOptions);
  iuf.fit(data);
  const Index alien = itemcf.itemIndex("Alien"), amelie = itemcf.itemIndex("Amelie");
  const Index aliens = itemcf.itemIndex("Aliens");
  std::cout << "\nsimilarity        cosine   IUF\n"
            << "  Alien ~ Aliens   " << itemcf.neighbours().similarity(alien, aliens) << "    "
            << iuf.neighbours().similarity(alien, aliens) << "\n"
            << "  Alien ~ Amelie   " << itemcf.neighbours().similarity(alien, amelie) << "    "
            << iuf.neighbours().similarity(alien, amelie) << "   (only frank has both)\n";

  // Grace's list under IUF: Blade Runner, which only frank connects to her films, loses
  // weight relative to the others (0.5 of the top score with cosine, 0.39 with IUF).
  std::cout << "ItemCF-IUF for grace:";
  for (const Recommendation& r : iuf.recommend(grace, 3)) {
    std::cout << " " << iuf.itemName(r.item) << " (" << r.score << ")";
  }
  std::cout << "\n";

  // Grace watches Casablanca: her list changes at once, similarities are not recomputed.
  itemcf.addInteraction("grace", "Casablanca");
  std::cout << "\nafter grace watched Casablanca:";
  for (const Recommendation& r : itemcf.recommend(grace, 3)) std::cout << " " << itemcf.itemName(r.item);
  std::cout << "\n";

  // Rating prediction (Surprise KNNBasic, item-based, msd similarity).
  BuildOptions ratings;
  ratings.feedback = Feedback::rating;
  SimilarityOptions msd;
  msd.measure = Measure::msd;
  ItemCF<double> knn(msd);
  knn.fit(InteractionMatrix<double>::fromLog(log, ratings));
  const Prediction p = knn.predict(knn.userIndex("heidi"), knn.itemIndex("Alien"));
  std::cout << "predicted rating of heidi for Alien: " << p.value << " from " << p.neighbours << " neighbours\n";
  return 0;
}

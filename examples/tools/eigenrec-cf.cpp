// eigenrec-cf: ItemCF / UserCF from the command line.
//
//   eigenrec-cf --train ua.base --test ua.test --model itemcf --similarity iuf --k 10 --n 10
//   eigenrec-cf --train u.data --split-last 5 --model usercf --similarity iif
//   eigenrec-cf --train u.data --recommend top10.tsv --explain --n 10
//   eigenrec-cf --train ua.base --test ua.test --feedback rating --similarity msd --predict
//
// Evaluation prints one metric per line, "name value", on stdout; timings and progress go
// to stderr. Run with --help for every option.
#include <eigenrec/cf.hpp>
#include <eigenrec/core/progress.hpp>
#include <eigenrec/core/serialize.hpp>

#include <chrono>
#include <ctime>
#include <cstdlib>
#include <fstream>
#include <iomanip>
#include <limits>
#include <iostream>
#include <memory>
#include <sstream>
#include <string>
#include <vector>

namespace {

using namespace eigenrec;
using namespace eigenrec::cf;
using Scalar = float;

const char* kUsage = R"(usage: eigenrec-cf --train FILE [options]

data
  --train FILE          training interactions (u.data style: user item value timestamp)
  --test FILE           test interactions (same layout); evaluation runs when given
  --split-last N        no --test: each user's N latest train records become the test set
  --split-random F      no --test: each record goes to the test set with probability F
  --seed S              seed of --split-random (default 1)
  --delimiter D         auto (default), whitespace, tab, comma, or a literal separator
  --columns U,I,V,T     0-based columns of user, item, value, timestamp (-1 = none);
                        default 0,1,2,3
  --skip-lines N        header lines to skip (default 0)
  --feedback MODE       binary (default), weighted or rating
  --min-value X         drop records with value < X (e.g. 4: ratings 4-5 as positives)

model
  --model NAME          itemcf (default) or usercf
  --similarity NAME     cosine (default), weighted-cosine, jaccard, conditional, iuf, iif,
                        norm (cosine + --normalize), iuf-norm, corated-cosine,
                        adjusted-cosine, pearson, msd
  --k K                 neighbours kept per item / user (default 20)
  --alpha A             damping of conditional probability (default 0.5)
  --shrinkage S         multiply by support / (support + S) (default 0)
  --min-support M       minimum common users / items of a pair (default 1)
  --normalize           divide each similarity row by its maximum (ItemCF-Norm)
  --neighbourhood N     ItemCF: user-items (default: each item the user has adds its K
                        nearest items) or candidate (a candidate is scored by the user's
                        items among its own K nearest, the book's S(j, K))
  --threads T           threads (default 1, 0 = all cores); results do not depend on it
  --save FILE           save the fitted model
  --load FILE           load a model instead of fitting (--train still gives the ids)

output
  --n N                 list length (default 10)
  --include-seen        allow items the user already has
  --no-fallback         do not fill lists with popular items
  --recommend FILE      write "user<TAB>item<TAB>rank<TAB>score<TAB>source" for every user,
                        source = cf or popular
  --explain             with --recommend: add a column "item:contribution,..." (ItemCF) or
                        "user:contribution,..." (UserCF)
  --predict             rating prediction (Surprise KNNBasic) on the test set: rmse, mae
  --predict-k K         neighbours of --predict (default 40)
  --min-k M             minimum positive neighbours of --predict (default 1)
  --progress            show a progress line while fitting
)";

struct Args {
  std::string train, test, recommendPath, savePath, loadPath;
  std::string model = "itemcf", similarity = "cosine", delimiter = "auto", feedback = "binary";
  std::string neighbourhood = "user-items";
  std::vector<int> columns = {0, 1, 2, 3};
  Index skipLines = 0, k = 20, n = 10, minSupport = 1, splitLast = 0, predictK = 40, minK = 1;
  double alpha = 0.5, shrinkage = 0, minValue = -std::numeric_limits<double>::infinity(), splitRandom = 0;
  std::uint64_t seed = 1;
  int threads = 1;
  bool normalize = false, includeSeen = false, noFallback = false, explain = false, predict = false,
       progress = false;
};

[[noreturn]] void usageError(const std::string& message) {
  std::cerr << "eigenrec-cf: " << message << "\n(run eigenrec-cf --help for the options)\n";
  std::exit(2);
}

long long toInt(const std::string& flag, const std::string& v) {
  std::size_t pos = 0;
  long long x = 0;
  try {
    x = std::stoll(v, &pos);
  } catch (...) {
    pos = 0;
  }
  if (pos != v.size() || v.empty()) usageError(flag + " expects an integer, got '" + v + "'");
  return x;
}

double toDouble(const std::string& flag, const std::string& v) {
  std::size_t pos = 0;
  double x = 0;
  try {
    x = std::stod(v, &pos);
  } catch (...) {
    pos = 0;
  }
  if (pos != v.size() || v.empty()) usageError(flag + " expects a number, got '" + v + "'");
  return x;
}

Args parse(int argc, char** argv) {
  Args a;
  for (int i = 1; i < argc; ++i) {
    const std::string f = argv[i];
    auto value = [&]() -> std::string {
      if (i + 1 >= argc) usageError(f + " expects a value");
      return argv[++i];
    };
    if (f == "--help" || f == "-h") {
      std::cout << kUsage;
      std::exit(0);
    } else if (f == "--train") {
      a.train = value();
    } else if (f == "--test") {
      a.test = value();
    } else if (f == "--split-last") {
      a.splitLast = toInt(f, value());
    } else if (f == "--split-random") {
      a.splitRandom = toDouble(f, value());
    } else if (f == "--seed") {
      a.seed = static_cast<std::uint64_t>(toInt(f, value()));
    } else if (f == "--delimiter") {
      a.delimiter = value();
      if (a.delimiter == "tab") a.delimiter = "\t";
      if (a.delimiter == "comma") a.delimiter = ",";
    } else if (f == "--columns") {
      a.columns.clear();
      std::stringstream ss(value());
      std::string part;
      while (std::getline(ss, part, ',')) a.columns.push_back(static_cast<int>(toInt(f, part)));
      if (a.columns.size() < 2 || a.columns.size() > 4) usageError("--columns expects 2 to 4 comma-separated columns");
      while (a.columns.size() < 4) a.columns.push_back(-1);
    } else if (f == "--skip-lines") {
      a.skipLines = toInt(f, value());
    } else if (f == "--feedback") {
      a.feedback = value();
    } else if (f == "--min-value") {
      a.minValue = toDouble(f, value());
    } else if (f == "--model") {
      a.model = value();
    } else if (f == "--similarity") {
      a.similarity = value();
    } else if (f == "--k") {
      a.k = toInt(f, value());
    } else if (f == "--n") {
      a.n = toInt(f, value());
    } else if (f == "--alpha") {
      a.alpha = toDouble(f, value());
    } else if (f == "--shrinkage") {
      a.shrinkage = toDouble(f, value());
    } else if (f == "--min-support") {
      a.minSupport = toInt(f, value());
    } else if (f == "--normalize") {
      a.normalize = true;
    } else if (f == "--neighbourhood") {
      a.neighbourhood = value();
      if (a.neighbourhood != "user-items" && a.neighbourhood != "candidate") {
        usageError("--neighbourhood expects user-items or candidate, got '" + a.neighbourhood + "'");
      }
    } else if (f == "--threads") {
      a.threads = static_cast<int>(toInt(f, value()));
    } else if (f == "--save") {
      a.savePath = value();
    } else if (f == "--load") {
      a.loadPath = value();
    } else if (f == "--include-seen") {
      a.includeSeen = true;
    } else if (f == "--no-fallback") {
      a.noFallback = true;
    } else if (f == "--recommend") {
      a.recommendPath = value();
    } else if (f == "--explain") {
      a.explain = true;
    } else if (f == "--predict") {
      a.predict = true;
    } else if (f == "--predict-k") {
      a.predictK = toInt(f, value());
    } else if (f == "--min-k") {
      a.minK = toInt(f, value());
    } else if (f == "--progress") {
      a.progress = true;
    } else {
      usageError("unknown option '" + f + "'");
    }
  }
  if (a.train.empty()) usageError("--train is required");
  if (a.model != "itemcf" && a.model != "usercf") usageError("--model expects itemcf or usercf, got '" + a.model + "'");
  if (!a.test.empty() && (a.splitLast > 0 || a.splitRandom > 0)) usageError("--test and --split-* exclude each other");
  if (a.explain && a.recommendPath.empty()) usageError("--explain needs --recommend FILE");
  return a;
}

double seconds(std::chrono::steady_clock::time_point since) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - since).count();
}

/// Processor time of the process (all threads) since `since` (std::clock()).
double cpuSeconds(std::clock_t since) { return static_cast<double>(std::clock() - since) / CLOCKS_PER_SEC; }

template <typename Model>
int run(const Args& a, const InteractionLog& trainLog, const InteractionLog* testLog, const BuildOptions& build,
        const NeighbourhoodOptions& options) {
  Model model(options);
  auto t0 = std::chrono::steady_clock::now();
  if (!a.loadPath.empty()) {
    model.load(a.loadPath);
    std::cerr << "loaded " << a.loadPath << " in " << std::fixed << std::setprecision(3) << seconds(t0) << " s\n";
  } else {
    InteractionMatrix<Scalar> data = InteractionMatrix<Scalar>::fromLog(trainLog, build);
    std::cerr << "train: " << data.users() << " users, " << data.items() << " items, " << data.nonZeros()
              << " interactions (" << feedbackName(data.feedback()) << ")\n";
    t0 = std::chrono::steady_clock::now();
    const std::clock_t c0 = std::clock();
    model.fit(std::move(data));
    const double cpu = cpuSeconds(c0);
    std::cerr << "fit " << std::fixed << std::setprecision(4) << seconds(t0) << " s, cpu " << cpu << " s (" << a.model
              << ", "
              << measureName(options.measure) << (options.normalize ? " normalized" : "") << ", K " << options.k
              << (a.model == "itemcf" ? std::string(", neighbourhood ") + itemNeighbourhoodName(options.neighbourhood) : "")
              << ", " << model.neighbours().nonZeros() << " neighbour pairs, " << a.threads << " thread(s))\n";
  }
  if (!a.savePath.empty()) model.save(a.savePath);

  RecommendOptions ro;
  ro.excludeSeen = !a.includeSeen;
  ro.fallback = !a.noFallback;
  ro.threads = a.threads;
  std::cout << std::fixed << std::setprecision(4);
  if (testLog != nullptr) {
    const auto relevant = relevantItems(*testLog, testLog->users().size(), a.minValue);
    t0 = std::chrono::steady_clock::now();
    const TopNReport r = evaluateTopN(model, relevant, a.n, ro);
    std::cerr << "recommend + evaluate " << std::setprecision(4) << seconds(t0) << " s (" << r.ranking.users
              << " test users, " << r.fallbackItems << " fallback items)\n";
    const std::string at = "@" + std::to_string(a.n);
    std::cout << "precision" << at << ' ' << r.ranking.precision << '\n'
              << "recall" << at << ' ' << r.ranking.recall << '\n'
              << "hit_rate" << at << ' ' << r.ranking.hitRate << '\n'
              << "ndcg" << at << ' ' << r.ranking.ndcg << '\n'
              << "mrr" << at << ' ' << r.ranking.mrr << '\n'
              << "coverage " << r.coverage << '\n'
              << "popularity " << r.popularity << '\n'
              << "users " << r.ranking.users << '\n';
    if (a.predict) {
      PredictOptions po;
      po.k = a.predictK;
      po.minK = a.minK;
      t0 = std::chrono::steady_clock::now();
      const RatingReport rr = evaluateRatings(model, *testLog, po, a.threads);
      std::cerr << "predict " << seconds(t0) << " s\n";
      std::cout << "rmse " << rr.rmse << '\n' << "mae " << rr.mae << '\n' << "impossible " << rr.impossible << '\n';
    }
  }
  if (!a.recommendPath.empty()) {
    ro.explain = a.explain;
    t0 = std::chrono::steady_clock::now();
    const std::clock_t c0 = std::clock();
    const auto lists = model.recommendAll(a.n, ro);
    const double cpu = cpuSeconds(c0);
    std::cerr << "recommend all " << lists.size() << " users " << seconds(t0) << " s, cpu " << cpu << " s\n";
    // Written to a temporary file and renamed: a failure never leaves a partial list.
    saveFileAtomically(a.recommendPath, [&](std::ostream& os) {
      os << std::setprecision(6) << std::defaultfloat;
      for (std::size_t u = 0; u < lists.size(); ++u) {
        const std::string user = model.userName(static_cast<Index>(u));
        for (std::size_t r = 0; r < lists[u].size(); ++r) {
          const auto& rec = lists[u][r];
          os << user << '\t' << model.itemName(rec.item) << '\t' << r + 1 << '\t' << rec.score << '\t'
             << (rec.fallback ? "popular" : "cf");
          if (a.explain) {
            os << '\t';
            for (std::size_t c = 0; c < rec.explanation.size(); ++c) {
              const auto& e = rec.explanation[c];
              os << (c ? "," : "") << (a.model == "itemcf" ? model.itemName(e.source) : model.userName(e.source)) << ':'
                 << e.contribution;
            }
          }
          os << '\n';
        }
      }
    });
  }
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  const Args a = parse(argc, argv);
  try {
    ReaderOptions reader;
    reader.delimiter = a.delimiter;
    reader.userColumn = a.columns[0];
    reader.itemColumn = a.columns[1];
    reader.valueColumn = a.columns[2];
    reader.timestampColumn = a.columns[3];
    reader.skipLines = a.skipLines;

    BuildOptions build;
    if (a.feedback == "binary") {
      build.feedback = Feedback::binary;
    } else if (a.feedback == "weighted") {
      build.feedback = Feedback::weighted;
    } else if (a.feedback == "rating") {
      build.feedback = Feedback::rating;
    } else {
      usageError("--feedback expects binary, weighted or rating, got '" + a.feedback + "'");
    }
    build.minValue = a.minValue;

    NeighbourhoodOptions options;
    options.neighbourhood = a.neighbourhood == "candidate" ? ItemNeighbourhood::candidate : ItemNeighbourhood::userItems;
    std::string sim = a.similarity;
    options.normalize = a.normalize;
    if (sim == "norm") {
      sim = "cosine";
      options.normalize = true;
    } else if (sim == "iuf-norm" || sim == "iif-norm") {
      sim = "iuf";
      options.normalize = true;
    }
    options.measure = parseMeasure(sim);
    options.k = a.k;
    options.alpha = a.alpha;
    options.shrinkage = a.shrinkage;
    options.minSupport = a.minSupport;
    options.threads = a.threads;
    ProgressLine line(a.progress ? ProgressLine::Mode::always : ProgressLine::Mode::never);
    if (a.progress) options.progress = line;
    options.validate("options");

    InteractionLog log = readInteractions(a.train, reader);
    std::unique_ptr<InteractionLog> test;
    if (!a.test.empty()) {
      test = std::make_unique<InteractionLog>(InteractionLog::sharingIds(log));
      readInteractions(a.test, reader, *test);
    } else if (a.splitLast > 0 || a.splitRandom > 0) {
      Split s = a.splitLast > 0 ? leaveLastOut(log, a.splitLast) : randomSplit(log, a.splitRandom, a.seed);
      log = std::move(s.train);
      test = std::make_unique<InteractionLog>(std::move(s.test));
    }
    if (a.model == "itemcf") return run<ItemCF<Scalar>>(a, log, test.get(), build, options);
    return run<UserCF<Scalar>>(a, log, test.get(), build, options);
  } catch (const std::exception& e) {
    std::cerr << "eigenrec-cf: error: " << e.what() << '\n';
    return 1;
  }
}

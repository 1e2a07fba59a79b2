#include <catch2/catch.hpp>
#include <eigenrec/core/progress.hpp>

#include <sstream>
#include <vector>

using namespace eigenrec;

TEST_CASE("ProgressTracker: throttles updates, always delivers finish", "[core][progress]") {
  std::vector<Progress> seen;
  ProgressTracker tracker([&](const Progress& p) { seen.push_back(p); }, 1000, "train", "words", 3600.0);
  for (int i = 1; i <= 100; ++i) tracker.update(i * 10, 0.5);
  CHECK(seen.empty());  // interval of an hour: nothing yet
  tracker.finish(1000, 0.25, 0.01);
  REQUIRE(seen.size() == 1);
  CHECK(seen[0].finished);
  CHECK(seen[0].done == 1000);
  CHECK(seen[0].fraction() == 1.0);
  CHECK(seen[0].loss == 0.25);
  CHECK(seen[0].learningRate == 0.01);
  CHECK(seen[0].stage == "train");
  CHECK(seen[0].unit == "words");

  seen.clear();
  ProgressTracker eager([&](const Progress& p) { seen.push_back(p); }, 0, "fit", "items", 0.0);
  eager.update(5);
  eager.update(6);
  REQUIRE(seen.size() == 2);
  CHECK(std::isnan(seen[1].fraction()));  // total unknown
  CHECK(seen[1].etaSeconds < 0);
  ProgressTracker silent(nullptr, 10, "x");
  CHECK_NOTHROW(silent.update(3));
  CHECK_NOTHROW(silent.finish(10));
}

TEST_CASE("ProgressLine: format and modes", "[core][progress]") {
  Progress p;
  p.stage = "epoch 1/3";
  p.unit = "words";
  p.done = 500;
  p.total = 1000;
  p.rate = 1234567;
  p.etaSeconds = 75;
  p.loss = 0.123456;
  const std::string line = ProgressLine::format(p);
  CHECK(line.find("epoch 1/3") == 0);
  CHECK(line.find("50.0%") != std::string::npos);
  CHECK(line.find("1.23M words/s") != std::string::npos);
  CHECK(line.find("ETA 1:15") != std::string::npos);
  CHECK(line.find("loss 0.1235") != std::string::npos);

  std::ostringstream os;
  ProgressLine always(ProgressLine::Mode::always, &os);
  always(p);
  CHECK(os.str().find("50.0%") != std::string::npos);
  std::ostringstream quiet;
  ProgressLine never(ProgressLine::Mode::never, &quiet);
  never(p);
  CHECK(quiet.str().empty());
}

// Click prediction with a field-aware factorization machine (eigenrec/ctr).
//
// Draws click logs from a known FFM (10 fields, one categorical feature each), trains
// FieldAwareFM with libffm's defaults plus auto-stop on a validation set, prints logloss
// and AUC per epoch next to the Bayes logloss of the data, then saves the model, loads it
// back and scores a few new impressions. Runs in a few seconds.
#include <eigenrec/ctr.hpp>
#include <eigenrec/metrics.hpp>

#include <cstdio>
#include <filesystem>
#include <iostream>

int main() {
  using namespace eigenrec;

  // 1. Data: 30k training and 10k validation impressions from a known model.
  ctr::SyntheticFfmOptions truthOptions;
  truthOptions.fields = 10;
  truthOptions.featuresPerField = 12;
  truthOptions.factors = 4;
  truthOptions.logitScale = 2.0;
  const ctr::SyntheticFfm truth(truthOptions);
  std::vector<double> validTruth;
  const ctr::SparseBatch<float> train = truth.generate<float>(30000, /*seed=*/1);
  const ctr::SparseBatch<float> valid = truth.generate<float>(10000, /*seed=*/2, &validTruth);
  const Eigen::VectorXf validLabels = valid.binaryLabels();
  std::printf("train %lld impressions, valid %lld, %lld features in %lld fields\n",
              static_cast<long long>(train.size()), static_cast<long long>(valid.size()),
              static_cast<long long>(train.numFeatures()), static_cast<long long>(train.numFields()));
  std::printf("Bayes logloss of the validation labels: %.4f\n\n", ctr::SyntheticFfm::bayesLogLoss(validTruth));

  // 2. Train: libffm's model and trainer (k = 4, eta = 0.2, lambda = 2e-5, normalised
  //    instances), k = 8 here, stopping when the validation loss goes up.
  ctr::FieldAwareFM<float> model;
  ctr::FfmOptions options;
  options.factors = 8;
  options.epochs = 20;
  options.autoStop = true;
  options.onEpoch = [&](const ctr::EpochStats& s) {
    // Called after each epoch: AUC of the model as it is now.
    const Eigen::VectorXf p = model.predict(valid);
    std::printf("%5d %12.5f %12.5f %10.5f\n", s.epoch, s.trainLoss, s.validLoss, metrics::rocAuc(validLabels, p));
  };
  model.setOptions(options);
  std::printf("%5s %12s %12s %10s\n", "epoch", "tr_logloss", "va_logloss", "va_auc");
  const ctr::TrainingHistory history = model.fit(train, &valid);
  if (history.stoppedEarly) std::printf("auto-stop: using the model of epoch %d\n", history.bestEpoch);

  // 3. Evaluate the kept model with the metrics module.
  const Eigen::VectorXf p = model.predict(valid);
  std::printf("\nvalidation: logloss %.4f  AUC %.4f\n", metrics::logLoss(validLabels, p),
              metrics::rocAuc(validLabels, p));

  // 4. Save (atomically), load, and score new impressions.
  const std::string path = (std::filesystem::temp_directory_path() / "eigenrec_example_ffm.model").string();
  model.save(path);
  ctr::FieldAwareFM<float> served;
  served.load(path);
  std::filesystem::remove(path);
  const ctr::SparseBatch<float> fresh = truth.generate<float>(3, /*seed=*/3);
  const Eigen::VectorXf q = served.predict(fresh);
  for (Index i = 0; i < fresh.size(); ++i) {
    std::printf("impression %lld: P(click) = %.3f (true %.3f)\n", static_cast<long long>(i), q(i),
                truth.probability(fresh.example(i)));
  }
  return 0;
}

// A tour of eigenrec/core: seeded random numbers, an alias-table sampler, a masked
// softmax, deterministic parallel work, a matrix product through gemm, an atomic,
// checksummed save/load and huge-page storage for a large table.
#include <eigenrec/core.hpp>

#include <cstdint>
#include <filesystem>
#include <iomanip>
#include <iostream>

int main() {
  using namespace eigenrec;

  // 1. One engine, fully specified: the same numbers on every platform for a seed.
  Rng rng(2026);
  std::cout << "uniform: " << rng.uniform<double>() << "  normal: " << rng.normal<double>()
            << "  truncated normal in [-2, 2]: " << rng.truncatedNormal(0.0, 1.0, -2.0, 2.0) << "\n";

  // 2. Draw from a discrete distribution in O(1) (unigram^0.75 tables, negative sampling).
  const std::vector<double> counts = {50, 20, 20, 10};
  AliasTable table(counts);
  std::vector<int> drawn(counts.size(), 0);
  for (int i = 0; i < 100000; ++i) ++drawn[static_cast<std::size_t>(table.sample(rng))];
  std::cout << "alias table, 100000 draws from weights 50/20/20/10:";
  for (int d : drawn) std::cout << ' ' << d;
  std::cout << "\n";

  // 3. Column-wise masked softmax; a fully masked column is zero, not NaN.
  Eigen::MatrixXf logits(3, 2);
  logits << 1, 5, 2, 5, 3, 5;
  BoolMatrix allowed = BoolMatrix::Constant(3, 2, true);
  allowed(2, 0) = false;
  allowed.col(1).setConstant(false);
  std::cout << "masked softmax (column 1 fully masked):\n" << softmax(logits, allowed) << "\n";

  // 4. Parallel work with per-chunk seeds: identical result for any thread count.
  auto work = [](int threads) {
    std::vector<double> out(10000);
    parallelFor(0, 10000, 256, threads, [&](Index begin, Index end) {
      Rng local = Rng::forShard(7, static_cast<std::uint64_t>(begin / 256));
      for (Index i = begin; i < end; ++i) out[static_cast<std::size_t>(i)] = local.normal<double>();
    });
    return out;
  };
  std::cout << "parallelFor 1 thread == 2 threads: " << std::boolalpha << (work(1) == work(2)) << "\n";

  // 5. dW += dY x^T, the weight gradient of a dense layer, without forming x^T. The float
  //    product runs eigenrec's AVX-512 / AVX2 kernel when the CPU has one.
  const Eigen::MatrixXf dy = Eigen::MatrixXf::Random(64, 256), x = Eigen::MatrixXf::Random(128, 256);
  Eigen::MatrixXf dw = Eigen::MatrixXf::Ones(64, 128);
  gemm<float>(Op::none, Op::transpose, 1.0f, dy, x, 1.0f, dw);
  const Eigen::MatrixXd dwRef = Eigen::MatrixXd::Ones(64, 128) + dy.cast<double>() * x.cast<double>().transpose();
  const double gemmError = (dw.cast<double>() - dwRef).cwiseAbs().maxCoeff();
  std::cout << "gemm (" << gemmKernelName() << " kernel): max |error| against double "
            << gemmError << "\n";
  if (!(gemmError < 1e-3)) return 1;

  // 6. Save and load through the checksummed archive, written atomically.
  const std::string path = (std::filesystem::temp_directory_path() / "eigenrec_core_example.bin").string();
  const Eigen::MatrixXf weights = Eigen::MatrixXf::Random(4, 3);
  saveFileAtomically(path, [&](std::ostream& os) {
    ArchiveWriter writer(os, "example.Weights", 1);
    writer.write("weights", weights);
    writer.finish();
  });
  const Eigen::MatrixXf loaded = loadFile(path, [](std::istream& is) {
    ArchiveReader reader(is, "example.Weights", 1, "example");
    Eigen::MatrixXf m = reader.readMatrix<float>("weights", 4, 3);
    reader.finish();
    return m;
  });
  std::filesystem::remove(path);
  std::cout << "archive round trip exact: " << (loaded == weights) << "\n";
  if (loaded != weights) return 1;

  // 7. A large table read at random rows, in huge-page storage (a hint: same contents).
  LargeArray<float> big(std::size_t(16) << 20, 0.0f);  // 64 MiB
  Rng rows(3);
  double sum = 0;
  for (int i = 0; i < 100000; ++i) {
    auto& slot = big[static_cast<std::size_t>(rows.uniformInt(big.size()))];
    slot += 1.0f;
    sum += slot;
  }
  std::cout << "huge-page table: " << big.size() * sizeof(float) / (1 << 20) << " MiB, 2 MiB aligned: "
            << (reinterpret_cast<std::uintptr_t>(big.data()) % (2u << 20) == 0) << ", sum " << sum << "\n";
  return sum >= 100000 ? 0 : 1;
}

// libFuzzer target of the safetensors reader (include/eigenrec/io/safetensors.hpp).
//
// Built with -DEIGENREC_BUILD_FUZZERS=ON and clang (it needs -fsanitize=fuzzer):
//
//   cmake -S . -B build/fuzz -DCMAKE_CXX_COMPILER=clang++ -DEIGENREC_BUILD_FUZZERS=ON \
//     -DEIGENREC_BUILD_TESTS=OFF -DEIGENREC_BUILD_EXAMPLES=OFF
//   cmake --build build/fuzz --target safetensors_fuzz
//   mkdir -p build/fuzz_corpus && cp tests/fixtures/attention/*.safetensors build/fuzz_corpus/
//   build/fuzz/tests/fuzz/safetensors_fuzz -max_total_time=300 -max_len=4096 build/fuzz_corpus
//
// Every input must either parse (and then every tensor must be readable as it claims)
// or throw eigenrec::FormatError; anything else (a crash, a sanitizer report, another
// exception type, a hang) is a bug.
#include <eigenrec/io/safetensors.hpp>

#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  using namespace eigenrec;
  std::string bytes(reinterpret_cast<const char*>(data), size);
  try {
    const auto file = io::SafetensorsFile::fromBytes(std::move(bytes), "fuzz");
    for (const auto& e : file.entries()) {
      if (!io::isFloatingDType(e.dtype)) continue;
      // the validated offsets must cover exactly numel values
      const auto values = file.values<double>(e.name);
      if (values.size() != e.numel()) std::abort();
      if (e.shape.size() <= 2) (void)file.matrix<float>(e.name);
    }
    (void)file.metadata();
  } catch (const FormatError&) {
    // rejected cleanly
  }
  return 0;
}

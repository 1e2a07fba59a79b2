// libFuzzer target of the safetensors reader (include/eigenrec/io/safetensors.hpp).
//
// Not part of the CMake build (it needs clang's -fsanitize=fuzzer). Build and run from
// the repository root:
//
//   clang++ -std=c++17 -g -O1 -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=all \
//     -Iinclude -isystem /usr/include/eigen3 tests/fuzz/safetensors_fuzz.cpp -o build/safetensors_fuzz
//   mkdir -p build/fuzz_corpus && cp tests/fixtures/attention/*.safetensors build/fuzz_corpus/
//   build/safetensors_fuzz -max_total_time=300 -max_len=4096 build/fuzz_corpus
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

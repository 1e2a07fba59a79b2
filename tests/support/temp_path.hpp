// tests/support/temp_path.hpp: scratch file names that do not collide when several test
// programs (or several copies of one) run at the same time.
//
// A fixed name under /tmp is shared by every process: two suites running at once then
// overwrite or delete each other's files. uniqueTempPath puts a per-process tag into the
// name: the process id (unique among running processes on one machine) and a random
// value drawn once per process (different containers sharing /tmp may reuse pids).
#ifndef EIGENREC_TESTS_SUPPORT_TEMP_PATH_HPP
#define EIGENREC_TESTS_SUPPORT_TEMP_PATH_HPP

#include <cstdint>
#include <filesystem>
#include <random>
#include <sstream>
#include <string>

#if defined(_WIN32)
#include <process.h>
#else
#include <unistd.h>
#endif

namespace eigenrec::test {

/// "<pid>-<random hex>": the same for the whole process, different between processes.
inline const std::string& processTag() {
  static const std::string tag = [] {
#if defined(_WIN32)
    const auto pid = static_cast<long long>(_getpid());
#else
    const auto pid = static_cast<long long>(getpid());
#endif
    std::random_device device;
    const std::uint64_t random = (static_cast<std::uint64_t>(device()) << 32) ^ device();
    std::ostringstream os;
    os << pid << '-' << std::hex << random;
    return os.str();
  }();
  return tag;
}

/// temp_directory_path() / (prefix + processTag() + "_" + name). `name` comes last, so
/// its extension is kept ("model.bin" stays a .bin file).
inline std::filesystem::path uniqueTempPath(const std::string& prefix, const std::string& name = "") {
  std::string leaf = prefix + processTag();
  if (!name.empty()) leaf += "_" + name;
  return std::filesystem::temp_directory_path() / leaf;
}

}  // namespace eigenrec::test

#endif  // EIGENREC_TESTS_SUPPORT_TEMP_PATH_HPP

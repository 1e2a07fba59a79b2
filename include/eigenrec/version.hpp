// eigenrec/version.hpp: library version.
#ifndef EIGENREC_VERSION_HPP
#define EIGENREC_VERSION_HPP

#define EIGENREC_VERSION_MAJOR 0
#define EIGENREC_VERSION_MINOR 1
#define EIGENREC_VERSION_PATCH 0

namespace eigenrec {
/// "major.minor.patch" of the headers in use.
inline constexpr const char* kVersion = "0.1.0";
}  // namespace eigenrec

#endif  // EIGENREC_VERSION_HPP

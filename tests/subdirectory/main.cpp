#include <eigenrec/eigenrec.hpp>

#include <iostream>

int main() {
  eigenrec::Rng rng(42);
  const double u = rng.uniform<double>();
  const bool ok = u >= 0.0 && u < 1.0;
  std::cout << (ok ? "subdirectory ok" : "subdirectory FAILED") << "\n";
  return ok ? 0 : 1;
}

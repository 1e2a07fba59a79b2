#include <eigenrec/eigenrec.hpp>

#include <iostream>

int main() {
  Eigen::MatrixXd logits(3, 2);
  logits << 1, 0, 2, 0, 3, 0;
  const Eigen::MatrixXd p = eigenrec::softmax(logits);
  const bool ok = std::abs(p.col(1).sum() - 1.0) < 1e-12 && p(2, 0) > p(1, 0);
  std::cout << (ok ? "consumer ok" : "consumer FAILED") << "\n";
  return ok ? 0 : 1;
}

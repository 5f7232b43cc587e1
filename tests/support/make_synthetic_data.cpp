// make_synthetic_data OUT.h5 TRAIN_COUNT TEST_COUNT: a tiny learnable data
// file in the dpmnist schema, for smoke tests of the executables.
#include <cstdio>
#include <exception>
#include <string>

#include "support/fixtures.h"

int main(int argc, char** argv) {
  if (argc != 4) {
    std::fprintf(stderr, "usage: make_synthetic_data OUT.h5 TRAIN_COUNT TEST_COUNT\n");
    return 2;
  }
  try {
    dpmnist::test::write_synthetic_dataset(argv[1], std::stoul(argv[2]), std::stoul(argv[3]));
  } catch (const std::exception& e) {
    std::fprintf(stderr, "error: %s\n", e.what());
    return 1;
  }
  return 0;
}

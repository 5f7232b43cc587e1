#include "dpmnist/error.h"

#include <climits>

namespace dpmnist {

int to_int(std::size_t n, const char* what) {
  require(n <= static_cast<std::size_t>(INT_MAX), what, " = ", n,
          " does not fit in int (MPI and BLAS take int counts); use a smaller batch or layer");
  return static_cast<int>(n);
}

}  // namespace dpmnist

// main() for MPI test executables: every rank runs every test; a failure on
// any rank fails the executable on every rank (the flag is reduced), so
// mpiexec and CTest see it whichever rank it happened on.
#include <gtest/gtest.h>
#include <mpi.h>

int main(int argc, char** argv) {
  MPI_Init(&argc, &argv);
  int rank = 0;
  MPI_Comm_rank(MPI_COMM_WORLD, &rank);
  ::testing::InitGoogleTest(&argc, argv);
  if (rank != 0) {
    // Other ranks report failures only, so the log stays readable.
    auto& listeners = ::testing::UnitTest::GetInstance()->listeners();
    delete listeners.Release(listeners.default_result_printer());
    listeners.Append(new ::testing::EmptyTestEventListener);
  }
  int failed = RUN_ALL_TESTS() != 0 ? 1 : 0;
  int local = failed;
  MPI_Allreduce(&local, &failed, 1, MPI_INT, MPI_MAX, MPI_COMM_WORLD);
  if (local) std::fprintf(stderr, "[rank %d] had failing tests\n", rank);
  MPI_Finalize();
  return failed;
}

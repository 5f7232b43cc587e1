// The OpenBLAS core decision over (CPU level, picked core) pairs, and that
// flush-to-zero really flushes, here and in threads started afterwards.
#include <gtest/gtest.h>

#include <limits>
#include <optional>
#include <string>
#include <thread>

#include "dpmnist/core/runtime.h"

using namespace dpmnist;

namespace {

std::string decision(IsaLevel cpu, const char* picked) {
  return better_openblas_core(cpu, picked).value_or("(keep)");
}

}  // namespace

TEST(Runtime, CoreNamesMapToTheirKernelsIsa) {
  EXPECT_EQ(openblas_core_isa("Prescott"), IsaLevel::kSse);
  EXPECT_EQ(openblas_core_isa("Nehalem"), IsaLevel::kSse);
  EXPECT_EQ(openblas_core_isa("Sandybridge"), IsaLevel::kAvx);
  EXPECT_EQ(openblas_core_isa("Haswell"), IsaLevel::kAvx2);
  EXPECT_EQ(openblas_core_isa("Zen"), IsaLevel::kAvx2);
  EXPECT_EQ(openblas_core_isa("SkylakeX"), IsaLevel::kAvx512);
  EXPECT_EQ(openblas_core_isa("Cooperlake"), IsaLevel::kAvx512);
  EXPECT_EQ(openblas_core_isa("SapphireRapids"), IsaLevel::kAvx512);
  EXPECT_EQ(openblas_core_isa("SKYLAKEX"), IsaLevel::kAvx512);  // as OPENBLAS_CORETYPE may spell it
  EXPECT_EQ(openblas_core_isa("Zen5000"), std::nullopt);
  EXPECT_EQ(openblas_core_isa(""), std::nullopt);
  EXPECT_EQ(openblas_core_isa("zen dhyana"), std::nullopt);
}

TEST(Runtime, ReExecutesOnlyWhereOpenBlasFellBackToAnOlderIsa) {
  // The case: Debian's OpenBLAS 0.3.21 on an Emerald Rapids Xeon.
  EXPECT_EQ(decision(IsaLevel::kAvx512, "Prescott"), "SkylakeX");
  EXPECT_EQ(decision(IsaLevel::kAvx512, "Haswell"), "SkylakeX");
  EXPECT_EQ(decision(IsaLevel::kAvx512, "Zen"), "SkylakeX");  // Zen 4 with a pre-Zen-4 table
  EXPECT_EQ(decision(IsaLevel::kAvx512, "SkylakeX"), "(keep)");
  EXPECT_EQ(decision(IsaLevel::kAvx512, "Cooperlake"), "(keep)");
  EXPECT_EQ(decision(IsaLevel::kAvx512, "SapphireRapids"), "(keep)");
  EXPECT_EQ(decision(IsaLevel::kAvx2, "Prescott"), "Haswell");
  EXPECT_EQ(decision(IsaLevel::kAvx2, "Nehalem"), "Haswell");
  EXPECT_EQ(decision(IsaLevel::kAvx2, "Sandybridge"), "Haswell");
  EXPECT_EQ(decision(IsaLevel::kAvx2, "Zen"), "(keep)");
  EXPECT_EQ(decision(IsaLevel::kAvx2, "Haswell"), "(keep)");
  EXPECT_EQ(decision(IsaLevel::kAvx, "Prescott"), "Sandybridge");
  EXPECT_EQ(decision(IsaLevel::kAvx, "Sandybridge"), "(keep)");
  EXPECT_EQ(decision(IsaLevel::kSse, "Prescott"), "(keep)");
  EXPECT_EQ(decision(IsaLevel::kSse, "Core2"), "(keep)");
  // A name we do not know is never second-guessed.
  EXPECT_EQ(decision(IsaLevel::kAvx512, "Zen5000"), "(keep)");
  EXPECT_EQ(decision(IsaLevel::kAvx512, ""), "(keep)");
}

TEST(Runtime, TheCoreAskedForRunsOnTheCpuAndIsNeverOlderThanThePick) {
  for (IsaLevel cpu : {IsaLevel::kSse, IsaLevel::kAvx, IsaLevel::kAvx2, IsaLevel::kAvx512}) {
    for (const char* picked :
         {"Prescott", "Nehalem", "Sandybridge", "Haswell", "Zen", "SkylakeX"}) {
      const std::optional<std::string> better = better_openblas_core(cpu, picked);
      if (!better) continue;
      SCOPED_TRACE(std::string(isa_name(cpu)) + " picked " + picked + " -> " + *better);
      ASSERT_TRUE(openblas_core_isa(*better).has_value());
      EXPECT_EQ(*openblas_core_isa(*better), cpu);
      EXPECT_GT(*openblas_core_isa(*better), *openblas_core_isa(picked));
    }
  }
}

TEST(Runtime, FlushToZeroFlushesResultsAndInputsInThisAndLaterThreads) {
  volatile float tiny = std::numeric_limits<float>::denorm_min();
  volatile float small = std::numeric_limits<float>::min();  // smallest normal
  set_flush_denormals(false);
  EXPECT_FALSE(flush_denormals_enabled());
  EXPECT_EQ(tiny + 0.0f, tiny);   // subnormal input kept
  EXPECT_GT(small * 0.5f, 0.0f);  // subnormal result kept
  set_flush_denormals(true);
  EXPECT_TRUE(flush_denormals_enabled());
  EXPECT_EQ(tiny + 0.0f, 0.0f);                                    // DAZ: the input reads as 0
  EXPECT_EQ(small * 0.5f, 0.0f);                                   // FTZ: the result becomes 0
  EXPECT_EQ(small * 2.0f, 2 * std::numeric_limits<float>::min());  // normals untouched
  bool in_thread = false;
  float product = 1;
  std::thread([&] {
    in_thread = flush_denormals_enabled();
    product = small * 0.5f;
  }).join();
  EXPECT_TRUE(in_thread);
  EXPECT_EQ(product, 0.0f);
}

TEST(Runtime, DescriptionNamesCpuCoreAndFlush) {
  set_flush_denormals(true);
  const std::string text = runtime_description();
  EXPECT_NE(text.find(cpu_model_name()), std::string::npos) << text;
  EXPECT_NE(text.find("OpenBLAS"), std::string::npos) << text;
  EXPECT_NE(text.find(" core "), std::string::npos) << text;
  EXPECT_NE(text.find("denormals flushed"), std::string::npos) << text;
  // The MPI library is comm.h's to name (mpi_library_version): runtime sits below MPI.
  EXPECT_EQ(text.find("MPI"), std::string::npos) << text;
}

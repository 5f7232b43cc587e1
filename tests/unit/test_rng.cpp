#include <gtest/gtest.h>

#include <algorithm>
#include <numeric>
#include <vector>

#include "dpmnist/core/rng.h"

using namespace dpmnist;

TEST(Rng, SameSeedSameStreamOtherSeedOtherStream) {
  Rng a(5), b(5), c(6);
  int differ = 0;
  for (int i = 0; i < 100; ++i) {
    const auto x = a.next();
    EXPECT_EQ(x, b.next());
    differ += x != c.next();
  }
  EXPECT_GT(differ, 95);
}

TEST(Rng, DeriveSeedDependsOnEveryPartAndItsOrder) {
  EXPECT_NE(derive_seed({1, 2, 3}), derive_seed({1, 2, 4}));
  EXPECT_NE(derive_seed({1, 2, 3}), derive_seed({3, 2, 1}));
  EXPECT_EQ(derive_seed({1, 2, 3}), derive_seed({1, 2, 3}));
}

TEST(Rng, UniformAndBelowStayInRangeAndAreRoughlyUniform) {
  Rng rng(11);
  std::vector<int> counts(10, 0);
  const int n = 100000;
  for (int i = 0; i < n; ++i) {
    const float u = rng.uniform();
    ASSERT_GE(u, 0.0f);
    ASSERT_LT(u, 1.0f);
    const auto k = rng.below(10);
    ASSERT_LT(k, 10u);
    ++counts[k];
  }
  // Each bucket expects 10000 with standard deviation ~95; 6 sigma is generous.
  for (int c : counts) EXPECT_NEAR(c, n / 10, 600);
}

TEST(Rng, ShuffleIsAPermutationAndDependsOnTheSeed) {
  std::vector<std::uint32_t> a(1000), b(1000);
  std::iota(a.begin(), a.end(), 0u);
  std::iota(b.begin(), b.end(), 0u);
  Rng ra(1), rb(2);
  shuffle(std::span(a), ra);
  shuffle(std::span(b), rb);
  EXPECT_NE(a, b);
  std::vector<std::uint32_t> sorted = a;
  std::sort(sorted.begin(), sorted.end());
  for (std::uint32_t i = 0; i < 1000; ++i) ASSERT_EQ(sorted[i], i);
}

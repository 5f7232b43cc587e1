#include <gtest/gtest.h>

#include <vector>

#include "dpmnist/core/hash.h"

using namespace dpmnist;

// The published 64-bit FNV-1a test vectors (Fowler, Noll, Vo).
TEST(Hash, Fnv1aMatchesThePublishedVectors) {
  EXPECT_EQ(fnv1a(""), 0xcbf29ce484222325ULL);
  EXPECT_EQ(fnv1a("a"), 0xaf63dc4c8601ec8cULL);
  EXPECT_EQ(fnv1a("foobar"), 0x85944171f73967e8ULL);
}

TEST(Hash, ContinuingIsHashingTheConcatenation) {
  EXPECT_EQ(fnv1a("bar", fnv1a("foo")), fnv1a("foobar"));
}

TEST(Hash, FloatsHashTheirBytes) {
  const std::vector<float> values = {1.0f, -0.0f};
  const std::vector<std::uint8_t> bytes = {0x00, 0x00, 0x80, 0x3f, 0x00, 0x00, 0x00, 0x80};
  EXPECT_EQ(hash_floats(values), fnv1a(bytes));  // little-endian IEEE 754
  EXPECT_NE(hash_floats(std::vector<float>{1.0f, 0.0f}), hash_floats(values));  // -0 != +0
}

#include <gtest/gtest.h>

#include <cstdint>
#include <vector>

#include "dpmnist/data/batch.h"

using namespace dpmnist;

TEST(Batch, InputIsPixelOver255CorrectlyRounded) {
  std::vector<std::uint8_t> pixels(256);
  for (int p = 0; p < 256; ++p) pixels[static_cast<std::size_t>(p)] = static_cast<std::uint8_t>(p);
  std::vector<float> x(256);
  pixels_to_input(pixels, x);
  int differs_from_multiply = 0;
  for (int p = 0; p < 256; ++p) {
    // The double quotient rounded once to float: the correctly rounded p/255.
    EXPECT_EQ(x[static_cast<std::size_t>(p)], static_cast<float>(p / 255.0)) << "pixel " << p;
    differs_from_multiply +=
        x[static_cast<std::size_t>(p)] != static_cast<float>(p) * (1.0f / 255.0f);
  }
  EXPECT_EQ(x[0], 0.0f);
  EXPECT_EQ(x[255], 1.0f);
  EXPECT_GT(differs_from_multiply, 0) << "a multiply by 1/255 would round some pixels differently";
}

TEST(Batch, GatherTakesTheIndexedRowsInOrder) {
  Digits digits;
  digits.images.resize(3 * kImagePixels);
  digits.labels = {7, 8, 9};
  for (std::size_t r = 0; r < 3; ++r)
    digits.images[r * kImagePixels + 5] = static_cast<std::uint8_t>(10 * (r + 1));
  const std::vector<std::uint32_t> rows = {2, 0};
  std::vector<float> x(2 * kImagePixels, -1.0f);
  std::vector<std::uint8_t> labels(2);
  gather_batch(digits, rows, x, labels);
  EXPECT_EQ(labels, (std::vector<std::uint8_t>{9, 7}));
  EXPECT_EQ(x[5], 30.0f / 255.0f);
  EXPECT_EQ(x[kImagePixels + 5], 10.0f / 255.0f);
  EXPECT_EQ(x[0], 0.0f);
  const std::vector<std::uint32_t> bad = {3};
  EXPECT_THROW(gather_batch(digits, bad, x, labels), std::exception);
}

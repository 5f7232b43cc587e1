#include <gtest/gtest.h>

#include <cmath>
#include <vector>

#include "dpmnist/data/augment.h"
#include "dpmnist/data/batch.h"
#include "support/fixtures.h"

using namespace dpmnist;

namespace {

std::vector<std::uint8_t> first_digit() {
  const Digits digits = test::synthetic_digits(1, 3);
  return digits.images;
}

// Centre of mass (row, col) of an image.
std::pair<double, double> centre_of_mass(const std::vector<float>& image) {
  double mass = 0, row = 0, col = 0;
  for (std::size_t i = 0; i < image.size(); ++i) {
    mass += image[i];
    row += image[i] * static_cast<double>(i / 28);
    col += image[i] * static_cast<double>(i % 28);
  }
  return {row / mass, col / mass};
}

}  // namespace

TEST(Augment, NoSettingsIsTheIdentityAsPixelOver255) {
  const auto pixels = first_digit();
  std::vector<float> out(784), expected(784);
  Rng rng(1);
  augment_digit(pixels, out, AugmentSettings{}, rng);
  pixels_to_input(pixels, expected);
  EXPECT_EQ(out, expected);
}

TEST(Augment, TranslationMovesTheCentreOfMassByTheShift) {
  // A blob well inside the frame, so no ink leaves the image.
  std::vector<std::uint8_t> pixels(784, 0);
  for (std::size_t r = 10; r < 17; ++r) {
    for (std::size_t c = 11; c < 16; ++c)
      pixels[r * 28 + c] = static_cast<std::uint8_t>(40 * (r - 9));
  }
  std::vector<float> plain(784), moved(784);
  pixels_to_input(pixels, plain);
  AugmentSettings s;
  s.translate = 3;
  Rng rng(2);
  augment_digit(pixels, moved, s, rng);
  Rng replay(2);                // the same draws: the shift actually applied
  replay.uniform(-0.0f, 0.0f);  // angle
  replay.uniform(-0.0f, 0.0f);  // scale
  replay.uniform(-0.0f, 0.0f);  // shear
  const float shift_y = replay.uniform(-3.0f, 3.0f), shift_x = replay.uniform(-3.0f, 3.0f);
  const auto [r0, c0] = centre_of_mass(plain);
  const auto [r1, c1] = centre_of_mass(moved);
  // Bilinear resampling moves mass exactly by the shift away from the border.
  EXPECT_NEAR(r1 - r0, shift_y, 1e-3);
  EXPECT_NEAR(c1 - c0, shift_x, 1e-3);
  EXPECT_GT(std::abs(shift_y) + std::abs(shift_x), 0.5) << "the draw should move it at all";
}

TEST(Augment, IsSeededAndKeepsTheDigitsInkRoughly) {
  const auto pixels = first_digit();
  AugmentSettings s;
  s.rotate_degrees = 12;
  s.scale = 0.1f;
  s.shear_degrees = 10;
  s.translate = 2;
  s.elastic_alpha = 1.5f;
  std::vector<float> a(784), b(784), c(784), plain(784);
  Rng ra(7), rb(7), rc(8);
  augment_digit(pixels, a, s, ra);
  augment_digit(pixels, b, s, rb);
  augment_digit(pixels, c, s, rc);
  EXPECT_EQ(a, b);
  EXPECT_NE(a, c);
  pixels_to_input(pixels, plain);
  double ink_plain = 0, ink_a = 0;
  for (std::size_t i = 0; i < 784; ++i) {
    ink_plain += plain[i];
    ink_a += a[i];
    ASSERT_GE(a[i], 0.0f);
    ASSERT_LE(a[i], 1.0f);
  }
  EXPECT_NEAR(ink_a / ink_plain, 1.0, 0.35) << "scale 0.9..1.1 changes ink area by at most ~21%";
}

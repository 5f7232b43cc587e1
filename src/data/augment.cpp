#include "dpmnist/data/augment.h"

#include <array>
#include <cmath>
#include <numbers>

#include "dpmnist/core/error.h"
#include "dpmnist/data/dataset.h"

namespace dpmnist {
namespace {

constexpr int kSide = static_cast<int>(kImageSide);
constexpr float kCentre = 13.5f;
constexpr std::size_t kMaxGrid = 16;

float pixel_at(std::span<const std::uint8_t> pixels, int row, int col) {
  if (row < 0 || col < 0 || row >= kSide || col >= kSide) return 0.0f;
  return static_cast<float>(pixels[static_cast<std::size_t>(row * kSide + col)]);
}

// Bilinear sample of the uint8 image at (y, x), zero outside.
float sample(std::span<const std::uint8_t> pixels, float y, float x) {
  const float fy = std::floor(y), fx = std::floor(x);
  const int r = static_cast<int>(fy), c = static_cast<int>(fx);
  const float wy = y - fy, wx = x - fx;
  return (1 - wy) * ((1 - wx) * pixel_at(pixels, r, c) + wx * pixel_at(pixels, r, c + 1)) +
         wy * ((1 - wx) * pixel_at(pixels, r + 1, c) + wx * pixel_at(pixels, r + 1, c + 1));
}

}  // namespace

void augment_digit(std::span<const std::uint8_t> pixels, std::span<float> out,
                   const AugmentSettings& s, Rng& rng) {
  require(pixels.size() == kImagePixels && out.size() >= kImagePixels,
          "augment_digit: ", pixels.size(), " pixels and room for ", out.size(), ", expected ",
          kImagePixels);
  require(s.elastic_grid >= 1 && s.elastic_grid <= kMaxGrid,
          "augment.elastic_grid = ", s.elastic_grid, ", expected 1..", kMaxGrid);
  constexpr float kRadians = std::numbers::pi_v<float> / 180.0f;
  const float angle = rng.uniform(-s.rotate_degrees, s.rotate_degrees) * kRadians;
  const float scale = 1.0f + rng.uniform(-s.scale, s.scale);
  const float shear = std::tan(rng.uniform(-s.shear_degrees, s.shear_degrees) * kRadians);
  const float ty = rng.uniform(-s.translate, s.translate);
  const float tx = rng.uniform(-s.translate, s.translate);
  // Inverse map: output (y, x) -> source. Forward map = T * R * Shear * S
  // about the centre; its inverse is applied to the output coordinates.
  const float cos_a = std::cos(angle), sin_a = std::sin(angle);
  // Forward linear part M = R * Sh * S with Sh = [[1, 0], [shear, 1]] (x += shear * y).
  const float m00 = scale * (cos_a - sin_a * shear), m01 = -scale * sin_a;
  const float m10 = scale * (sin_a + cos_a * shear), m11 = scale * cos_a;
  // Rows are (y, x): y' = m00 y + m01 x, x' = m10 y + m11 x.
  const float det = m00 * m11 - m01 * m10;
  const float i00 = m11 / det, i01 = -m01 / det, i10 = -m10 / det, i11 = m00 / det;

  // Elastic field: random vectors on a (g+1)^2 grid, bilinear in between.
  const std::size_t g = s.elastic_grid;
  std::array<float, (kMaxGrid + 1) * (kMaxGrid + 1)> field_y{}, field_x{};
  if (s.elastic_alpha > 0) {
    for (std::size_t i = 0; i < (g + 1) * (g + 1); ++i) {
      field_y[i] = rng.uniform(-s.elastic_alpha, s.elastic_alpha);
      field_x[i] = rng.uniform(-s.elastic_alpha, s.elastic_alpha);
    }
  }
  const float cell = static_cast<float>(kSide - 1) / static_cast<float>(g);
  for (int row = 0; row < kSide; ++row) {
    for (int col = 0; col < kSide; ++col) {
      const float dy = static_cast<float>(row) - kCentre - ty;
      const float dx = static_cast<float>(col) - kCentre - tx;
      float y = i00 * dy + i01 * dx + kCentre;
      float x = i10 * dy + i11 * dx + kCentre;
      if (s.elastic_alpha > 0) {
        const float gy = static_cast<float>(row) / cell, gx = static_cast<float>(col) / cell;
        const std::size_t r0 = std::min(static_cast<std::size_t>(gy), g - 1);
        const std::size_t c0 = std::min(static_cast<std::size_t>(gx), g - 1);
        const float wy = gy - static_cast<float>(r0), wx = gx - static_cast<float>(c0);
        auto lerp = [&](const auto& f) {
          const std::size_t at = r0 * (g + 1) + c0;
          return (1 - wy) * ((1 - wx) * f[at] + wx * f[at + 1]) +
                 wy * ((1 - wx) * f[at + g + 1] + wx * f[at + g + 2]);
        };
        y += lerp(field_y);
        x += lerp(field_x);
      }
      out[static_cast<std::size_t>(row * kSide + col)] = sample(pixels, y, x) / 255.0f;
    }
  }
}

}  // namespace dpmnist

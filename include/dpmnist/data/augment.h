// On-the-fly augmentation of training digits, on each rank, seeded: a random
// affine map (rotation, scale, shear, translation) and an elastic distortion
// (Simard et al. 2003: a smooth random displacement field, here drawn on a
// coarse grid and interpolated), sampled bilinearly. Training only.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>

#include "dpmnist/core/rng.h"

namespace dpmnist {

struct AugmentSettings {
  float rotate_degrees = 0;      // angle uniform in [-r, r]
  float scale = 0;               // factor uniform in [1 - s, 1 + s]
  float shear_degrees = 0;       // x-shear angle uniform in [-h, h]
  float translate = 0;           // pixels, each axis uniform in [-t, t]
  float elastic_alpha = 0;       // pixels: largest displacement of the elastic field
  std::size_t elastic_grid = 4;  // the field's coarse grid has (grid+1)^2 random vectors
  bool enabled() const {
    return rotate_degrees > 0 || scale > 0 || shear_degrees > 0 || translate > 0 ||
           elastic_alpha > 0;
  }
};

// pixels [28*28] in (uint8); out [28*28] out (overwritten): the transformed
// digit as pixel/255, zero where the map leaves the image. Draws from rng.
void augment_digit(std::span<const std::uint8_t> pixels, std::span<float> out,
                   const AugmentSettings& settings, Rng& rng);

}  // namespace dpmnist

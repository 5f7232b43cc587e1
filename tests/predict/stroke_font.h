// A handwriting-like stroke font for the digits 0-9: each glyph is a few pen
// strokes (polylines sampled from lines, arcs and curves), randomly varied
// per sample (variant, slant, rotation, width, wobble, pen width), rendered
// with antialiased round pens. Test data only: no real handwriting is needed.
#pragma once

#include <array>
#include <cstddef>
#include <vector>

#include "dpmnist/core/rng.h"
#include "dpmnist/data/dataset.h"

namespace dpmnist::test {

struct Point {
  float x = 0, y = 0;  // glyph units: y down, the digit about 1 tall
};

struct Glyph {
  std::vector<std::vector<Point>> strokes;  // each a polyline
  float pen_radius = 0.05f;                 // glyph units
  // Ink bounding box, the pen included.
  float x0 = 0, y0 = 0, x1 = 0, y1 = 0;
};

// Digit 0..9 as written by a random hand (rng drives every choice).
Glyph handwritten_glyph(std::size_t digit, Rng& rng);

// coverage [height,width] in/out: the glyph drawn with pixel = scale * glyph
// + (dx, dy), each pixel set to max(old, pen coverage in 0..1) (antialiased).
void render_glyph(const Glyph& glyph, float scale, float dx, float dy, std::size_t width,
                  std::size_t height, std::vector<float>& coverage);

// The glyph in MNIST form, made directly (no preprocessing involved): ink box
// scaled to 20 px on its longer side, centre of mass at `com` (default the
// centre, (14,14)) to within a small fraction of a pixel. Returns [784] in [0,1].
std::array<float, kImagePixels> render_mnist_form(const Glyph& glyph,
                                                  std::array<double, 2> com = {14.0, 14.0});

}  // namespace dpmnist::test

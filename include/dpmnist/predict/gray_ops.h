// The image operations preprocess.h is built from, on GrayImage planes:
// area resampling, box blur, quantiles, Otsu's threshold, speck removal and a
// lighting (background) fit. Plain loops, no allocation beyond the results;
// no policy (thresholds, polarity): that is preprocess.h.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <vector>

#include "dpmnist/predict/image.h"

namespace dpmnist {

// src in; its window [x0,x0+width) x [y0,y0+height) area-averaged to
// out_width x out_height: each output pixel is the mean of the source area
// it covers, partial pixels weighted by the covered fraction (antialiased
// when shrinking, box interpolation when enlarging). Returns the new image.
GrayImage resample_area(const GrayImage& src, std::size_t x0, std::size_t y0, std::size_t width,
                        std::size_t height, std::size_t out_width, std::size_t out_height);

// image in/out: mean over a (2r+1) x (2r+1) window, shrunk at the edges.
void box_blur(GrayImage& image, std::size_t radius);

// values copied; the q-quantile (q in [0,1], nearest rank) by selection.
float quantile(std::vector<float> values, double q);

// values in; {k-th smallest, k-th largest} (k = 0: min and max) in one
// pass without copying; k is clamped to values.size() - 1. values non-empty.
std::array<float, 2> kth_extremes(const std::vector<float>& values, std::size_t k);

// values in (clamped to 0..255); Otsu's threshold t over 256 bins: the
// split into [0,t) and [t,255] with the largest between-class variance.
float otsu_threshold(const std::vector<float>& values);

struct Components {
  std::size_t removed = 0;      // components cleared as specks
  std::size_t kept = 0;         // components left
  std::size_t largest = 0;      // pixels of the largest component
  std::size_t kept_pixels = 0;  // pixels left in the mask
};
// mask [height,width] in/out (1 = ink): 8-connected components smaller than
// max(min_pixels, fraction * the largest component) are cleared.
Components remove_specks(std::vector<std::uint8_t>& mask, std::size_t width, std::size_t height,
                         double fraction, std::size_t min_pixels);

// image in; the background as lighting makes it: a quadratic surface in x
// and y (gradient, vignette) fitted to the q-quantile of each tile (tiles of
// max(4, longer side / 16) px, at most 16 x 16 samples each), tiles straying from the fit by more
// than 2.5 robust sigmas (ink, a paper edge) dropped and the fit repeated twice. Returns the
// surface, the same size as image.
GrayImage fit_background(const GrayImage& image, double q);

}  // namespace dpmnist

// Real uploads -> the model's input, the way MNIST itself was made: a light
// digit on black, its ink box scaled to 20 px on the longer side with
// antialiasing, centred by centre of mass in 28x28, as pixel/255 floats.
// Does not decode files (image.h) or run the model (predictor.h).
#pragma once

#include <array>
#include <cstddef>
#include <span>
#include <string>

#include "dpmnist/core/mnist.h"
#include "dpmnist/predict/image.h"

namespace dpmnist {

struct PreprocessOptions {
  std::size_t box_side = 20;        // longer side of the ink box in the output (MNIST: 20)
  std::size_t max_work_side = 384;  // larger images: found at this size, then refined
  float min_contrast = 24.0f;       // ink must stand this far (0..255) above the background
  std::size_t min_ink_pixels = 12;  // kept ink at working resolution, else "too little ink"
  std::size_t min_box_side = 8;     // longer side of the ink box at working resolution
  double max_ink_fraction = 0.60;   // more "ink" than this is not a digit on a background
  double speck_fraction = 0.08;     // components under this share of the largest are specks
};

struct InkBox {
  std::size_t x0 = 0, y0 = 0, x1 = 0, y1 = 0;  // source pixels, half-open [x0,x1) x [y0,y1)
  std::size_t width() const { return x1 - x0; }
  std::size_t height() const { return y1 - y0; }
};

struct Preprocessed {
  bool found = false;  // false: no digit; input is all zeros and reason says why
  std::string reason;  // "blank image (no contrast)", "too little ink", ... (step 3)
  std::array<float, kImagePixels> input{};  // [28,28] row-major, pixel/255 form in [0,1]
  bool inverted = false;                    // the source was dark ink on a light background
  float background = 0;                     // estimated background level after polarity (0..255)
  float threshold = 0;             // ink threshold on the background-subtracted image (step 3)
  InkBox ink_box;                  // the kept ink, in source pixels (also set for "too little ink")
  double ink_fraction = 0;         // kept ink pixels / all pixels (at working resolution)
  std::size_t specks_removed = 0;  // connected components dropped as noise
};

// image in (any size >= 1x1; 0 black .. 255 white). Thread-safe. Steps:
//  0. size: an image longer than max_work_side is area-averaged down to it;
//     if the digit found there is under 4*box_side px, the steps run again
//     on the full-resolution crop around it (half its size as margin), so a
//     small digit in a corner of a large photo keeps its detail;
//  1. polarity: lighting is removed with a median background (step 2's fit
//     at q = 0.5, which either polarity leaves in place) from a lightly
//     blurred copy; the ink is on the side whose extreme (the k-th darkest
//     or lightest pixel, k = min(10, pixels/200): a few hot pixels do not
//     count, a small digit does) lies farther from it. Dark ink is inverted
//     (255 - v), so ink is light on dark as in MNIST. No extreme
//     min_contrast away from the background: "blank image";
//  2. background: a quadratic surface in x, y (gradient, vignette) fitted
//     to each tile's 20th percentile, ink tiles rejected as outliers
//     (gray_ops.h fit_background), is subtracted and the result clipped at
//     0: uneven lighting flattens, the ink's antialiased ramps stay;
//  3. ink: on a copy blurred by longer/300 px (noise averages out, strokes
//     do not), threshold = max(Otsu, 4 noise sigmas from the median absolute
//     deviation, min_contrast / 2); 8-connected components under
//     speck_fraction of the largest (or a few pixels) are specks and go.
//     No digit when there is too little ink (min_ink_pixels, min_box_side),
//     when most ink was specks or is many similar pieces with none
//     dominant, or when ink covers over max_ink_fraction of the image;
//  4. intensity: the kept ink's median level and above become 1 (pen
//     strokes saturate, as MNIST's binary NIST scans did), half the
//     threshold and below 0, linear between; pixels more than 1 (+ blur)
//     px from kept ink are 0;
//  5. crop to the ink box and scale its longer side to box_side by area
//     averaging (each source pixel weighted by the fraction of an output
//     pixel it covers), keeping the aspect ratio;
//  6. paste into 28x28 with a whole-pixel shift that puts the centre of
//     mass nearest (14,14) (pixel centres at i + 0.5), as MNIST did; the
//     shift is clamped so no ink leaves the frame. Values are in [0,1].
Preprocessed preprocess_digit(const GrayImage& image, const PreprocessOptions& options = {});

// input [784] in (pixel/255 form); returns it as a 28x28 GrayImage 0..255,
// e.g. for encode_png or --save-preprocessed.
GrayImage input_to_image(std::span<const float> input);

// input [784] in: (x, y) of the centre of mass in pixel units with pixel
// centres at i + 0.5, so a perfectly centred digit gives (14, 14).
std::array<double, 2> center_of_mass(std::span<const float> input);

}  // namespace dpmnist

// User-style digit images made by the tests: a stroke-font digit
// (stroke_font.h) in a photo of paper (dark ink, uneven light, noise, blur,
// JPEG) or a drawing-app export (light strokes on black, or strokes on a
// transparent background), any size and position; plus the same digit's clean
// MNIST form, and clean MNIST-form sets to train small models on.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "dpmnist/data/dataset.h"
#include "dpmnist/predict/image.h"
#include "stroke_font.h"

namespace dpmnist::test {

struct UserStyleImage {
  std::size_t label = 0;
  std::vector<std::uint8_t> file;           // encoded: PNG or JPEG bytes
  std::string kind;                         // "photo", "drawing" or "transparent"
  std::string format;                       // "png" or "jpeg"
  std::array<float, kImagePixels> clean{};  // the digit's MNIST form, [0,1]
  Glyph glyph;                              // the hand that drew it (render_mnist_form)
};

// Overrides for make_user_style_image; empty or 0 leaves the choice random.
struct UserStyleChoice {
  std::string kind;    // "photo", "drawing" or "transparent"
  std::string format;  // "png" or "jpeg" (transparent images are always PNG)
  std::size_t width = 0, height = 0;
  float digit_fraction = 0;  // digit height / the shorter side
};

// One image of `digit`, every choice drawn from seed unless `choice` sets it.
UserStyleImage make_user_style_image(std::size_t digit, std::uint64_t seed,
                                     const UserStyleChoice& choice = {});

// count images, labels cycling 0..9, each from derive_seed({seed, i}).
std::vector<UserStyleImage> make_user_style_set(std::size_t count, std::uint64_t seed);

// count clean MNIST-form digits (uint8, labels cycling 0..9) from random hands.
Digits make_clean_digits(std::size_t count, std::uint64_t seed);

// The baseline without preprocessing: the whole image averaged into 28x28
// cells (aspect ratio ignored), pixel/255, no inversion. Returns [784].
std::array<float, kImagePixels> naive_input(const GrayImage& image);

// Encoders for test files (stb_image_write): pixels [h,w,channels] 8-bit.
std::vector<std::uint8_t> encode_test_png(const std::vector<std::uint8_t>& pixels, int width,
                                          int height, int channels);
std::vector<std::uint8_t> encode_test_jpeg(const std::vector<std::uint8_t>& pixels, int width,
                                           int height, int channels, int quality);
std::vector<std::uint8_t> encode_test_bmp(const std::vector<std::uint8_t>& pixels, int width,
                                          int height, int channels);

}  // namespace dpmnist::test

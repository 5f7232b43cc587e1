#include "dpmnist/predict/preprocess.h"

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <vector>

#include "dpmnist/core/error.h"
#include "dpmnist/predict/gray_ops.h"

namespace dpmnist {

namespace {

Preprocessed no_digit(Preprocessed result, std::string reason) {
  result.found = false;
  result.reason = std::move(reason);
  result.input.fill(0.0f);
  return result;
}

// The k-th extreme pixel counts (k = min(10, n/200)), so a handful of hot
// pixels never decide anything but a small digit still does.
std::size_t extreme_rank(std::size_t n) {
  return std::min<std::size_t>(10, n / 200);
}

// values in; the q-quantile of at most 16384 of them taken at an even
// stride: medians and spreads of whole images need no more, extremes do.
float central_quantile(const std::vector<float>& values, double q) {
  const std::size_t stride = values.size() / 16384 + 1;
  std::vector<float> sample;
  sample.reserve(values.size() / stride + 1);
  for (std::size_t i = 0; i < values.size(); i += stride) sample.push_back(values[i]);
  return quantile(std::move(sample), q);
}

// mask [h,w] in: 1 within `ring` pixels (Chebyshev) of any set pixel.
std::vector<std::uint8_t> dilate(const std::vector<std::uint8_t>& mask, std::size_t w,
                                 std::size_t h, std::size_t ring) {
  std::vector<std::uint8_t> rows(mask.size(), 0), out(mask.size(), 0);
  for (std::size_t y = 0; y < h; ++y) {
    for (std::size_t x = 0; x < w; ++x) {
      if (!mask[y * w + x]) continue;
      for (std::size_t k = x >= ring ? x - ring : 0; k <= std::min(w - 1, x + ring); ++k)
        rows[y * w + k] = 1;
    }
  }
  for (std::size_t y = 0; y < h; ++y) {
    for (std::size_t x = 0; x < w; ++x) {
      if (!rows[y * w + x]) continue;
      for (std::size_t k = y >= ring ? y - ring : 0; k <= std::min(h - 1, y + ring); ++k)
        out[k * w + x] = 1;
    }
  }
  return out;
}

// Steps 5 and 6: ink [h,w] in (0..1); its box scaled so the longer side is
// box_side, pasted into input so the centre of mass lands on (14,14).
// Returns false (input untouched) when the box holds no ink at all.
bool place_centred(const GrayImage& ink, const InkBox& box, std::size_t box_side,
                   std::array<float, kImagePixels>& input) {
  const double f =
      static_cast<double>(std::max(box.width(), box.height())) / static_cast<double>(box_side);
  const auto fit = [&](std::size_t side) {
    return std::clamp<std::size_t>(
        static_cast<std::size_t>(std::lround(static_cast<double>(side) / f)), 1, box_side);
  };
  const std::size_t nw = fit(box.width()), nh = fit(box.height());
  const GrayImage patch = resample_area(ink, box.x0, box.y0, box.width(), box.height(), nw, nh);
  double mass = 0, mx = 0, my = 0;
  for (std::size_t y = 0; y < nh; ++y) {
    for (std::size_t x = 0; x < nw; ++x) {
      const double v = patch.at(y, x);
      mass += v;
      mx += v * (static_cast<double>(x) + 0.5);
      my += v * (static_cast<double>(y) + 0.5);
    }
  }
  if (mass <= 0) return false;
  // A whole-pixel shift, as MNIST's; clamped so no ink leaves the frame.
  const double centre = static_cast<double>(kImageSide) / 2.0;
  const auto offset = [&](double com, std::size_t size) {
    return static_cast<std::size_t>(
        std::clamp(std::round(centre - com), 0.0, static_cast<double>(kImageSide - size)));
  };
  const std::size_t ox = offset(mx / mass, nw), oy = offset(my / mass, nh);
  input.fill(0.0f);
  for (std::size_t y = 0; y < nh; ++y) {
    for (std::size_t x = 0; x < nw; ++x) {
      input[(oy + y) * kImageSide + ox + x] = std::clamp(patch.at(y, x), 0.0f, 1.0f);
    }
  }
  return true;
}

// 1. Polarity, from a lightly blurred copy with its median background
//    (which either polarity leaves in place) subtracted: work in/out, turned
//    dark-on-light digits into light ink. False: no contrast at all.
bool set_polarity(GrayImage& work, std::size_t blur_radius, const PreprocessOptions& options,
                  Preprocessed& result) {
  const std::size_t n = work.width * work.height;
  GrayImage residual = work;
  box_blur(residual, std::max<std::size_t>(1, blur_radius));
  const GrayImage level = fit_background(residual, 0.5);
  for (std::size_t i = 0; i < n; ++i) residual.pixels[i] -= level.pixels[i];
  const std::array<float, 2> extremes = kth_extremes(residual.pixels, extreme_rank(n));
  const float dark = -extremes[0], light = extremes[1];
  if (std::max(dark, light) < options.min_contrast) return false;
  result.inverted = dark > light;
  if (result.inverted) {
    for (float& v : work.pixels) v = 255.0f - v;
  }
  return true;
}

// The kept ink's pixel count, bounding box and blurred values (mask [h,w] in).
std::size_t kept_ink(const std::vector<std::uint8_t>& mask, const GrayImage& smooth, InkBox& box,
                     std::vector<float>& ink_values) {
  const std::size_t w = smooth.width, h = smooth.height;
  std::size_t kept = 0;
  box = {w, h, 0, 0};
  for (std::size_t y = 0; y < h; ++y) {
    for (std::size_t x = 0; x < w; ++x) {
      if (!mask[y * w + x]) continue;
      ++kept;
      ink_values.push_back(smooth.at(y, x));
      box = {std::min(box.x0, x), std::min(box.y0, y), std::max(box.x1, x + 1),
             std::max(box.y1, y + 1)};
    }
  }
  return kept;
}

// Steps 1-6 on the working image; the box and fraction are in its pixels.
Preprocessed run_steps(GrayImage work, const PreprocessOptions& options) {
  Preprocessed result;
  const std::size_t w = work.width, h = work.height, n = w * h;
  const std::size_t blur_radius = std::max(w, h) / 300;
  const std::size_t k = extreme_rank(n);

  if (!set_polarity(work, blur_radius, options, result))
    return no_digit(result, "blank image (no contrast)");

  // 2. Background subtraction (20th-percentile lighting fit), clipped at 0.
  const GrayImage background = fit_background(work, 0.2);
  result.background = central_quantile(background.pixels, 0.5);
  GrayImage ink = work;
  for (std::size_t i = 0; i < n; ++i) ink.pixels[i] = work.pixels[i] - background.pixels[i];
  GrayImage smooth = ink;
  box_blur(smooth, blur_radius);
  for (float& v : ink.pixels) v = std::max(0.0f, v);

  // 3. Ink mask: Otsu on the blurred residual, at least 4 noise sigmas
  //    (its median absolute deviation) and half the minimum contrast.
  std::vector<float> spread(smooth.pixels);
  const float mid = central_quantile(spread, 0.5);
  for (float& r : spread) r = std::abs(r - mid);
  const float sigma = 1.4826f * central_quantile(spread, 0.5);
  for (float& v : smooth.pixels) v = std::max(0.0f, v);
  if (kth_extremes(smooth.pixels, k)[1] < options.min_contrast) {
    return no_digit(result, "no ink above the background");
  }
  result.threshold =
      std::max({otsu_threshold(smooth.pixels), 4.0f * sigma, 0.5f * options.min_contrast});
  std::vector<std::uint8_t> mask(n);
  std::size_t raw_ink = 0;
  for (std::size_t i = 0; i < n; ++i) {
    mask[i] = smooth.pixels[i] >= result.threshold ? 1 : 0;
    raw_ink += mask[i];
  }
  const std::size_t speck_side = std::max(w, h) / 150;
  const Components parts = remove_specks(mask, w, h, options.speck_fraction,
                                         std::max<std::size_t>(2, speck_side * speck_side));
  result.specks_removed = parts.removed;
  InkBox box;
  std::vector<float> ink_values;
  const std::size_t kept = kept_ink(mask, smooth, box, ink_values);
  result.ink_fraction = static_cast<double>(kept) / static_cast<double>(n);
  if (kept > 0) result.ink_box = box;
  if (kept < options.min_ink_pixels || std::max(box.width(), box.height()) < options.min_box_side) {
    return no_digit(result, "too little ink");
  }
  // A digit is a few strokes: most of the ink above the threshold is kept,
  // and many similar pieces with none dominant is noise, not writing.
  if (2 * kept < raw_ink || (parts.kept > 8 && 10 * parts.largest < 3 * kept)) {
    return no_digit(result, "only scattered specks, nothing digit-like");
  }
  if (result.ink_fraction > options.max_ink_fraction) {
    return no_digit(result, "the ink covers most of the image: no digit on a background");
  }

  // 4. Intensity: the ink's median and above saturate, half the threshold
  //    and below is black; only pixels at or next to kept ink survive.
  const float hi = std::max(result.threshold + 1.0f, central_quantile(ink_values, 0.5));
  const float lo = 0.5f * result.threshold;
  const std::vector<std::uint8_t> near = dilate(mask, w, h, 1 + blur_radius);
  for (std::size_t i = 0; i < n; ++i) {
    ink.pixels[i] = near[i] ? std::clamp((ink.pixels[i] - lo) / (hi - lo), 0.0f, 1.0f) : 0.0f;
  }

  // 5 and 6.
  if (!place_centred(ink, box, options.box_side, result.input))
    return no_digit(result, "too little ink");
  result.found = true;
  return result;
}

}  // namespace

Preprocessed preprocess_digit(const GrayImage& image, const PreprocessOptions& options) {
  require(image.width > 0 && image.height > 0 && image.pixels.size() == image.width * image.height,
          "preprocess_digit: image ", image.width, "x", image.height, " with ", image.pixels.size(),
          " pixels; expected a non-empty image with width*height pixels");
  require(options.box_side >= 1 && options.box_side <= kImageSide, "preprocess_digit: box_side ",
          options.box_side, ", expected 1..", kImageSide);
  require(options.max_work_side >= 32, "preprocess_digit: max_work_side ", options.max_work_side,
          ", expected >= 32");
  const std::size_t longer = std::max(image.width, image.height);
  if (longer <= options.max_work_side) return run_steps(image, options);

  // Large: find the digit at working size, then, when it is small there,
  // once more on the full-resolution crop around it (margin: half the box).
  const double scale = static_cast<double>(longer) / static_cast<double>(options.max_work_side);
  const auto shrink = [&](std::size_t side) {
    return std::max<std::size_t>(
        1, static_cast<std::size_t>(std::lround(static_cast<double>(side) / scale)));
  };
  Preprocessed coarse = run_steps(resample_area(image, 0, 0, image.width, image.height,
                                                shrink(image.width), shrink(image.height)),
                                  options);
  const auto to_source = [&](std::size_t v, std::size_t limit) {
    return std::min(limit, static_cast<std::size_t>(std::lround(static_cast<double>(v) * scale)));
  };
  const InkBox b = coarse.ink_box;
  coarse.ink_box = {to_source(b.x0, image.width), to_source(b.y0, image.height),
                    to_source(b.x1, image.width), to_source(b.y1, image.height)};
  const std::size_t side = std::max(coarse.ink_box.width(), coarse.ink_box.height());
  if (!coarse.found || std::max(b.width(), b.height()) >= 4 * options.box_side) return coarse;

  const std::size_t margin = side / 2 + 8;
  const std::size_t x0 = coarse.ink_box.x0 > margin ? coarse.ink_box.x0 - margin : 0;
  const std::size_t y0 = coarse.ink_box.y0 > margin ? coarse.ink_box.y0 - margin : 0;
  const std::size_t x1 = std::min(image.width, coarse.ink_box.x1 + margin);
  const std::size_t y1 = std::min(image.height, coarse.ink_box.y1 + margin);
  GrayImage crop{x1 - x0, y1 - y0, {}};
  crop.pixels.reserve(crop.width * crop.height);
  for (std::size_t y = y0; y < y1; ++y) {
    crop.pixels.insert(crop.pixels.end(),
                       image.pixels.begin() + static_cast<std::ptrdiff_t>(y * image.width + x0),
                       image.pixels.begin() + static_cast<std::ptrdiff_t>(y * image.width + x1));
  }
  Preprocessed fine = preprocess_digit(crop, options);
  if (!fine.found) return coarse;
  fine.ink_box = {fine.ink_box.x0 + x0, fine.ink_box.y0 + y0, fine.ink_box.x1 + x0,
                  fine.ink_box.y1 + y0};
  fine.ink_fraction = coarse.ink_fraction;
  return fine;
}

GrayImage input_to_image(std::span<const float> input) {
  require(input.size() == kImagePixels, "input_to_image: ", input.size(), " values, expected ",
          kImagePixels);
  GrayImage image{kImageSide, kImageSide, std::vector<float>(kImagePixels)};
  for (std::size_t i = 0; i < kImagePixels; ++i) image.pixels[i] = 255.0f * input[i];
  return image;
}

std::array<double, 2> center_of_mass(std::span<const float> input) {
  require(input.size() == kImagePixels, "center_of_mass: ", input.size(), " values, expected ",
          kImagePixels);
  double mass = 0, mx = 0, my = 0;
  for (std::size_t y = 0; y < kImageSide; ++y) {
    for (std::size_t x = 0; x < kImageSide; ++x) {
      const double v = input[y * kImageSide + x];
      mass += v;
      mx += v * (static_cast<double>(x) + 0.5);
      my += v * (static_cast<double>(y) + 0.5);
    }
  }
  if (mass <= 0) return {0.0, 0.0};
  return {mx / mass, my / mass};
}

}  // namespace dpmnist

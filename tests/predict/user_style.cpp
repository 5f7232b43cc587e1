#include "user_style.h"

#include <stb_image_write.h>

#include <algorithm>
#include <cmath>

#include "dpmnist/core/error.h"
#include "dpmnist/core/rng.h"
#include "stroke_font.h"

// stb_image_write's functions are compiled into dpmnist_predict
// (src/predict/stb_image_impl.cpp); the tests only include its header.

namespace dpmnist::test {

namespace {

void append_bytes(void* context, void* data, int size) {
  auto* out = static_cast<std::vector<std::uint8_t>*>(context);
  const auto* first = static_cast<const std::uint8_t*>(data);
  out->insert(out->end(), first, first + size);
}

float normal(Rng& rng) {
  const float u = std::max(rng.uniform(), 1e-7f), v = rng.uniform();
  return std::sqrt(-2.0f * std::log(u)) * std::cos(6.2831853f * v);
}

std::uint8_t to_byte(float v) {
  return static_cast<std::uint8_t>(std::lround(std::clamp(v, 0.0f, 255.0f)));
}

// plane [h,w] in/out: box blur of radius r, rows then columns.
void blur(std::vector<float>& plane, std::size_t w, std::size_t h, std::size_t r) {
  if (r == 0) return;
  std::vector<float> copy(plane);
  for (std::size_t y = 0; y < h; ++y) {
    for (std::size_t x = 0; x < w; ++x) {
      float sum = 0;
      std::size_t count = 0;
      for (std::size_t k = x >= r ? x - r : 0; k <= std::min(w - 1, x + r); ++k, ++count)
        sum += copy[y * w + k];
      plane[y * w + x] = sum / static_cast<float>(count);
    }
  }
  copy = plane;
  for (std::size_t y = 0; y < h; ++y) {
    for (std::size_t x = 0; x < w; ++x) {
      float sum = 0;
      std::size_t count = 0;
      for (std::size_t k = y >= r ? y - r : 0; k <= std::min(h - 1, y + r); ++k, ++count)
        sum += copy[k * w + x];
      plane[y * w + x] = sum / static_cast<float>(count);
    }
  }
}

}  // namespace

std::vector<std::uint8_t> encode_test_png(const std::vector<std::uint8_t>& pixels, int width,
                                          int height, int channels) {
  std::vector<std::uint8_t> out;
  require(stbi_write_png_to_func(append_bytes, &out, width, height, channels, pixels.data(),
                                 width * channels) != 0,
          "encode_test_png failed");
  return out;
}

std::vector<std::uint8_t> encode_test_jpeg(const std::vector<std::uint8_t>& pixels, int width,
                                           int height, int channels, int quality) {
  std::vector<std::uint8_t> out;
  require(stbi_write_jpg_to_func(append_bytes, &out, width, height, channels, pixels.data(),
                                 quality) != 0,
          "encode_test_jpeg failed");
  return out;
}

std::vector<std::uint8_t> encode_test_bmp(const std::vector<std::uint8_t>& pixels, int width,
                                          int height, int channels) {
  std::vector<std::uint8_t> out;
  require(stbi_write_bmp_to_func(append_bytes, &out, width, height, channels, pixels.data()) != 0,
          "encode_test_bmp failed");
  return out;
}

UserStyleImage make_user_style_image(std::size_t digit, std::uint64_t seed,
                                     const UserStyleChoice& choice) {
  Rng rng(seed);
  UserStyleImage image;
  image.label = digit;
  image.glyph = handwritten_glyph(digit, rng);
  const Glyph& glyph = image.glyph;
  image.clean = render_mnist_form(glyph);

  const float pick = rng.uniform();
  image.kind = pick < 0.5f ? "photo" : pick < 0.8f ? "drawing" : "transparent";
  std::size_t w = 48 + rng.below(700);
  std::size_t h = std::clamp<std::size_t>(
      static_cast<std::size_t>(static_cast<float>(w) * rng.uniform(0.6f, 1.6f)), 32, 900);
  const bool tiny = image.kind == "photo" && rng.uniform() < 0.2f;
  float fraction = tiny ? rng.uniform(0.1f, 0.2f) : rng.uniform(0.25f, 0.85f);
  // The caller's choices replace the draws (made anyway, so the rest match).
  if (!choice.kind.empty()) image.kind = choice.kind;
  if (choice.width > 0) w = choice.width, h = choice.height;
  if (choice.digit_fraction > 0) fraction = choice.digit_fraction;
  const float gw = glyph.x1 - glyph.x0, gh = glyph.y1 - glyph.y0;
  const float tall = std::max(16.0f, fraction * static_cast<float>(std::min(w, h)));
  const float scale = std::min(tall / gh, 0.95f * static_cast<float>(w) / gw);
  const float dx = -glyph.x0 * scale + rng.uniform() * (static_cast<float>(w) - gw * scale);
  const float dy = -glyph.y0 * scale + rng.uniform() * (static_cast<float>(h) - gh * scale);
  std::vector<float> cover(w * h, 0.0f);
  render_glyph(glyph, scale, dx, dy, w, h, cover);

  const int iw = static_cast<int>(w), ih = static_cast<int>(h);
  if (image.kind == "transparent") {
    // Opaque strokes on a transparent background, black or white pen; the
    // colour under alpha 0 is what the app left there (black or the pen's).
    const bool white_pen = rng.uniform() < 0.4f;
    const bool keep_colour = rng.uniform() < 0.5f;
    std::vector<std::uint8_t> rgba(w * h * 4);
    for (std::size_t i = 0; i < w * h; ++i) {
      const std::uint8_t pen = white_pen ? 255 : 0;
      const std::uint8_t colour = cover[i] > 0 || keep_colour ? pen : 0;
      rgba[4 * i] = rgba[4 * i + 1] = rgba[4 * i + 2] = colour;
      rgba[4 * i + 3] = to_byte(255.0f * cover[i]);
    }
    image.format = "png";
    image.file = encode_test_png(rgba, iw, ih, 4);
    return image;
  }

  std::vector<float> gray(w * h);
  float noise = 0;
  std::size_t blur_radius = 0;
  bool colour = false;
  if (image.kind == "photo") {
    // Paper under uneven light: a gradient and a vignette; a pen, a little
    // defocus, sensor noise; often a blue pen in colour.
    const float paper = rng.uniform(150, 245), ink = rng.uniform(10, 90);
    const float gradient = rng.uniform(0.0f, 0.5f), angle = rng.uniform(0.0f, 6.28f);
    const float vignette = rng.uniform(0.0f, 0.35f);
    for (std::size_t y = 0; y < h; ++y) {
      for (std::size_t x = 0; x < w; ++x) {
        const float u = (static_cast<float>(x) + 0.5f) / static_cast<float>(w) - 0.5f;
        const float v = (static_cast<float>(y) + 0.5f) / static_cast<float>(h) - 0.5f;
        const float light = (1 + gradient * (u * std::cos(angle) + v * std::sin(angle))) *
                            (1 - vignette * (u * u + v * v) * 2);
        gray[y * w + x] = (paper * (1 - cover[y * w + x]) + ink * cover[y * w + x]) * light;
      }
    }
    noise = rng.uniform(0.0f, 10.0f);
    blur_radius = rng.below(3);
    colour = rng.uniform() < 0.5f;
    image.format = rng.uniform() < 0.7f ? "jpeg" : "png";
    if (!choice.format.empty()) image.format = choice.format;
  } else {
    // A drawing app: light strokes on black, or black on white (30%).
    const bool dark_on_light = rng.uniform() < 0.3f;
    const float background = rng.uniform(0, 40), stroke = rng.uniform(200, 255);
    for (std::size_t i = 0; i < w * h; ++i) {
      const float value = background * (1 - cover[i]) + stroke * cover[i];
      gray[i] = dark_on_light ? 255.0f - value : value;
    }
    noise = rng.uniform() < 0.3f ? rng.uniform(0.0f, 4.0f) : 0.0f;
    colour = rng.uniform() < 0.3f;
    image.format = rng.uniform() < 0.3f ? "jpeg" : "png";
    if (!choice.format.empty()) image.format = choice.format;
  }
  blur(gray, w, h, blur_radius);
  const int channels = colour ? 3 : 1;
  // Colour: the gray value as luma with a tint (blue pen, warm paper).
  const float tint_r = rng.uniform(-25, 10), tint_b = rng.uniform(0, 45);
  std::vector<std::uint8_t> pixels(w * h * static_cast<std::size_t>(channels));
  for (std::size_t i = 0; i < w * h; ++i) {
    const float v = gray[i] + noise * normal(rng);
    if (colour) {
      const float r = v + tint_r, b = v + tint_b;
      const float g = (v - 0.299f * r - 0.114f * b) / 0.587f;
      pixels[3 * i] = to_byte(r);
      pixels[3 * i + 1] = to_byte(g);
      pixels[3 * i + 2] = to_byte(b);
    } else {
      pixels[i] = to_byte(v);
    }
  }
  image.file = image.format == "jpeg" ? encode_test_jpeg(pixels, iw, ih, channels,
                                                         static_cast<int>(35 + rng.below(56)))
                                      : encode_test_png(pixels, iw, ih, channels);
  return image;
}

std::vector<UserStyleImage> make_user_style_set(std::size_t count, std::uint64_t seed) {
  std::vector<UserStyleImage> set;
  set.reserve(count);
  for (std::size_t i = 0; i < count; ++i) {
    set.push_back(make_user_style_image(i % kNumClasses, derive_seed({seed, i})));
  }
  return set;
}

Digits make_clean_digits(std::size_t count, std::uint64_t seed) {
  Digits digits;
  digits.images.resize(count * kImagePixels);
  digits.labels.resize(count);
  for (std::size_t i = 0; i < count; ++i) {
    Rng rng(derive_seed({seed, i, 1}));
    digits.labels[i] = static_cast<std::uint8_t>(i % kNumClasses);
    const std::array<float, kImagePixels> form =
        render_mnist_form(handwritten_glyph(i % kNumClasses, rng));
    for (std::size_t p = 0; p < kImagePixels; ++p) {
      digits.images[i * kImagePixels + p] = to_byte(255.0f * form[p]);
    }
  }
  return digits;
}

std::array<float, kImagePixels> naive_input(const GrayImage& image) {
  std::array<double, kImagePixels> sum{}, count{};
  for (std::size_t y = 0; y < image.height; ++y) {
    const std::size_t cy = y * kImageSide / image.height;
    for (std::size_t x = 0; x < image.width; ++x) {
      const std::size_t cell = cy * kImageSide + x * kImageSide / image.width;
      sum[cell] += image.at(y, x);
      count[cell] += 1;
    }
  }
  std::array<float, kImagePixels> input{};
  for (std::size_t i = 0; i < kImagePixels; ++i) {
    // Images under 28 px leave cells empty: take the nearest source pixel.
    const double value = count[i] > 0 ? sum[i] / count[i]
                                      : image.at((i / kImageSide) * image.height / kImageSide,
                                                 (i % kImageSide) * image.width / kImageSide);
    input[i] = static_cast<float>(value / 255.0);
  }
  return input;
}

}  // namespace dpmnist::test

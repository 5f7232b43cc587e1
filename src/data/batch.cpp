#include "dpmnist/data/batch.h"

#include <cstring>

#include "dpmnist/core/error.h"
#include "dpmnist/core/runtime.h"

namespace dpmnist {

namespace {

// A true division, not a multiply by 1/255 (which rounds differently); it
// vectorises, 16 lanes where the CPU has AVX-512, and IEEE division rounds
// alike in every clone.
DPMNIST_CLONES void divide_by_255(const std::uint8_t* __restrict in, float* __restrict out,
                                  std::size_t n) {
  for (std::size_t i = 0; i < n; ++i) out[i] = static_cast<float>(in[i]) / 255.0f;
}

}  // namespace

void pixels_to_input(std::span<const std::uint8_t> pixels, std::span<float> x) {
  require(x.size() >= pixels.size(), "pixels_to_input: ", pixels.size(), " pixels, room for ",
          x.size());
  divide_by_255(pixels.data(), x.data(), pixels.size());
}

void gather_batch(const Digits& digits, std::span<const std::uint32_t> indices, std::span<float> x,
                  std::span<std::uint8_t> labels) {
  const std::size_t B = indices.size();
  require(x.size() >= B * kImagePixels && labels.size() >= B, "gather_batch: buffers hold ",
          x.size(), " values and ", labels.size(), " labels for a batch of ", B);
  for (std::size_t r = 0; r < B; ++r) {
    const std::size_t row = indices[r];
    require(row < digits.size(), "gather_batch: row ", row, " outside [0,", digits.size(), ")");
    pixels_to_input(std::span(digits.images).subspan(row * kImagePixels, kImagePixels),
                    x.subspan(r * kImagePixels, kImagePixels));
    labels[r] = digits.labels[row];
  }
}

void gather_batch_augmented(const Digits& digits, std::span<const std::uint32_t> indices,
                            std::span<float> x, std::span<std::uint8_t> labels,
                            const AugmentSettings& settings, Rng& rng) {
  const std::size_t B = indices.size();
  require(x.size() >= B * kImagePixels && labels.size() >= B,
          "gather_batch_augmented: buffers hold ", x.size(), " values and ", labels.size(),
          " labels for a batch of ", B);
  for (std::size_t r = 0; r < B; ++r) {
    const std::size_t row = indices[r];
    require(row < digits.size(), "gather_batch_augmented: row ", row, " outside [0,", digits.size(),
            ")");
    augment_digit(std::span(digits.images).subspan(row * kImagePixels, kImagePixels),
                  x.subspan(r * kImagePixels, kImagePixels), settings, rng);
    labels[r] = digits.labels[row];
  }
}

void gather_rows(const Digits& digits, std::size_t begin, std::size_t batch, std::span<float> x,
                 std::span<std::uint8_t> labels) {
  require(
      begin + batch <= digits.size() && x.size() >= batch * kImagePixels && labels.size() >= batch,
      "gather_rows: rows [", begin, ",", begin + batch, ") of ", digits.size());
  pixels_to_input(std::span(digits.images).subspan(begin * kImagePixels, batch * kImagePixels), x);
  std::memcpy(labels.data(), digits.labels.data() + begin, batch);
}

}  // namespace dpmnist

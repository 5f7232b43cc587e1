// Gathers a batch of digits into one contiguous float block, the model's input:
// pixel / 255 exactly (a float division, not a multiply by 1/255, which rounds
// differently). No allocation.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>

#include "dpmnist/core/mnist.h"
#include "dpmnist/data/augment.h"

namespace dpmnist {

// indices [B] in (rows of digits); x [B,784] out (overwritten); labels [B] out.
void gather_batch(const Digits& digits, std::span<const std::uint32_t> indices, std::span<float> x,
                  std::span<std::uint8_t> labels);

// The same, each digit through augment_digit with draws from rng (training).
void gather_batch_augmented(const Digits& digits, std::span<const std::uint32_t> indices,
                            std::span<float> x, std::span<std::uint8_t> labels,
                            const AugmentSettings& settings, Rng& rng);

// Rows [begin, begin + B) of digits, without shuffling (evaluation).
void gather_rows(const Digits& digits, std::size_t begin, std::size_t batch, std::span<float> x,
                 std::span<std::uint8_t> labels);

// pixels [n] in; x [n] out = pixel / 255.
void pixels_to_input(std::span<const std::uint8_t> pixels, std::span<float> x);

}  // namespace dpmnist

// A small model trained in-process for the prediction tests (the suite cannot
// rely on runs/seed): Flatten/Dense on clean MNIST-form digits with the
// library's Network and Adam, single process, no MPI; and a checkpoint file
// holding it, as dpmnist-train would write.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "dpmnist/data/dataset.h"

namespace dpmnist::test {

struct TinyModel {
  std::vector<std::size_t> widths;  // {784, hidden..., 10}
  std::vector<float> params;        // flat, as Network::params()
};

// Adam (lr 2e-3), batch 32, shuffled by seed, for `epochs` passes over digits.
TinyModel train_tiny_model(const Digits& digits, std::vector<std::size_t> widths,
                           std::size_t epochs, std::uint64_t seed);

// A valid checkpoint of model at path: epoch 3, world_size 2, one history
// row per epoch whose last test accuracy is test_accuracy.
void save_tiny_checkpoint(const std::string& path, const TinyModel& model, double test_accuracy);

}  // namespace dpmnist::test

// Rectified linear unit, applied in place on a layer's output. The backward
// pass needs only the activated output (y > 0 exactly where the input was > 0).
#pragma once

#include <span>

namespace dpmnist {

// y [n] in/out: y = max(y, 0), in place.
void relu_forward(std::span<float> y);

// y [n] in (the forward output); dy [n] in/out: dy = dy * (y > 0), in place.
void relu_backward(std::span<const float> y, std::span<float> dy);

}  // namespace dpmnist

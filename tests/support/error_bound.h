// Tolerances derived from float error analysis, for tests that compare two
// computations of the same sums in different orders (ranks, reductions,
// kernels) instead of a literal read off one machine. Bounds, not estimates:
// a measured error above one is a bug. Not modelled: a ReLU pre-activation
// within its own rounding error of 0 (the two runs would mask it differently).
#pragma once

#include <gtest/gtest.h>

#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <vector>

#include "dpmnist/nn/adam.h"

namespace dpmnist::test {

constexpr double kUnitRoundoff = 0x1p-24;  // u: |fl(x) - x| <= u |x| in float

// gamma_k = k u / (1 - k u). A value formed by at most k roundings of sums and
// products differs from its exact value by at most gamma_k times the same
// computation over |terms|, in any order, with or without FMA (Higham,
// Accuracy and Stability of Numerical Algorithms, Lemma 3.1 and eq. 3.5).
double gamma(std::size_t k);

// What the error analysis of one mini-batch gradient needs, from a pass in
// double over its terms. The gradient is that of dpmnist::Network (flat
// params, each layer's kernel [in,out] then bias [out]) under softmax
// cross-entropy, mean over global_batch. Bounds over several batches, or
// several weights, merge by taking the larger of each.
struct GradientTerms {
  // [P] A_i = sum over the terms of gradient entry i of |term| (|x|^T |dy|
  // ...); also >= |g_i|.
  std::vector<double> abs_sums;
  // [P] L_i >= sum_j |d g_i / d w_j|, to first order: how far entry i (or its
  // A_i) moves when every weight moves by at most 1.
  std::vector<double> lipschitz;
  // Z = max over samples and classes of sum |terms| of a logit; T, how far
  // that moves when every weight moves by at most 1.
  double logit_abs_sum = 0, logit_tangent = 0;
  // The most roundings a term meets in the dot products up to the logits
  // (forward) and from them down to the first hidden layer (backward),
  // counting nonzero inputs only: zeros (blank pixels, units the ReLU cut)
  // add exactly.
  std::size_t forward_chain = 0, backward_chain = 0;

  double max_abs_sum() const;
  double max_lipschitz() const;
  void merge(const GradientTerms& other);
  // The terms at any weights within `drift` (max norm) of those these were
  // taken at, to first order (the same ReLU masks): A_i + drift L_i, Z + drift T.
  GradientTerms widened(double drift) const;
};

// x [B,widths[0]] in; labels [B] in; params [P] in.
GradientTerms gradient_terms(const std::vector<std::size_t>& widths, std::span<const float> params,
                             std::span<const float> x, std::span<const std::uint8_t> labels,
                             std::size_t batch, std::size_t global_batch);

// The same for ANY batch of at least smallest_batch distinct samples of
// x [count,widths[0]] (shuffled batches the test cannot see), each batch
// scaled by 1/(its size): per entry, the mean of its smallest_batch largest
// per-sample sums.
GradientTerms any_batch_terms(const std::vector<std::size_t>& widths, std::span<const float> params,
                              std::span<const float> x, std::span<const std::uint8_t> labels,
                              std::size_t count, std::size_t smallest_batch);

// rho: one float computation of the gradient, in any order, is within
// rho * A_i of the exact one in every entry i.
double gradient_rounding(const GradientTerms& terms, std::size_t global_batch);

// D: how far any weight can move in `steps` Adam steps (weight_decay 0) from
// where terms were taken, to first order. Throws unless steps lr L < eps.
double adam_drift(const AdamSettings& settings, std::size_t steps, const GradientTerms& terms);

// Bound on |w_i - w'_i|, per parameter, after `steps` Adam steps of two runs
// that start from the same weights and compute the same gradients in
// different orders.
struct TrajectoryBound {
  std::vector<double> bounds;      // [P]
  std::vector<double> per_step;    // [P] what one step adds (gradient sums, Adam, weight rounding)
  std::vector<double> propagated;  // [P] what differences elsewhere add through the gradients
  std::string detail;              // the inputs, for the report
};

// Adam with settings.epsilon large against the gradients (weight_decay 0),
// so that its update is Lipschitz in them. terms bound every step's batch and
// weights; weights [P] are those at either end of the run. Per parameter i:
//  1. each run's gradient is within rho A_i of the exact one: 2 rho A_i apart;
//  2. u = lr m_hat / (sqrt(v_hat) + eps) moves by at most c_i = lr/eps (1 + A_i/eps)
//     per unit change of the gradients (m_hat, sqrt(v_hat): means of g_t, |g_t|);
//  3. Adam's own float arithmetic adds at most 2 gamma_(3K+10) lr A_i / eps,
//     and rounding w - u to float one ulp <= 2 u |w_i|: per_step_i is the sum
//     of these and c_i 2 rho A_i;
//  4. weights that differ by at most e move g_i by at most L_i e, so
//     e_i(K) <= K per_step_i + c_i L_i (e(0) + ... + e(K-1)), where the
//     largest difference grows as e(t+1) <= (1 + max c max L) e(t) + max per_step.
TrajectoryBound adam_trajectory_bound(const AdamSettings& settings, std::size_t steps,
                                      const GradientTerms& terms, double gradient_rounding,
                                      std::span<const float> weights);

// Prints "what: error E = F of bound B (...)" on rank 0 for the parameter
// where |a_i - b_i| is the largest fraction F of its bound, and succeeds iff
// every |a_i - b_i| <= bounds[i] (for EXPECT_TRUE, which prints it too).
::testing::AssertionResult within_bound(int rank, const std::string& what, std::span<const float> a,
                                        std::span<const float> b, const TrajectoryBound& bound);

}  // namespace dpmnist::test

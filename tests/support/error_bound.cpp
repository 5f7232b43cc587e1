#include "support/error_bound.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <functional>
#include <numeric>

#include "dpmnist/core/error.h"

namespace dpmnist::test {

double gamma(std::size_t k) {
  const double ku = static_cast<double>(k) * kUnitRoundoff;
  require(ku < 1, "gamma(", k, "): k u >= 1, no bound");
  return ku / (1 - ku);
}

double GradientTerms::max_abs_sum() const {
  return abs_sums.empty() ? 0.0 : std::ranges::max(abs_sums);
}

double GradientTerms::max_lipschitz() const {
  return lipschitz.empty() ? 0.0 : std::ranges::max(lipschitz);
}

void GradientTerms::merge(const GradientTerms& other) {
  if (abs_sums.empty()) abs_sums.assign(other.abs_sums.size(), 0.0);
  if (lipschitz.empty()) lipschitz.assign(other.lipschitz.size(), 0.0);
  require(abs_sums.size() == other.abs_sums.size() && lipschitz.size() == other.lipschitz.size(),
          "GradientTerms::merge: ", abs_sums.size(), " and ", other.abs_sums.size(), " entries");
  for (std::size_t i = 0; i < abs_sums.size(); ++i) {
    abs_sums[i] = std::max(abs_sums[i], other.abs_sums[i]);
    lipschitz[i] = std::max(lipschitz[i], other.lipschitz[i]);
  }
  logit_abs_sum = std::max(logit_abs_sum, other.logit_abs_sum);
  logit_tangent = std::max(logit_tangent, other.logit_tangent);
  forward_chain = std::max(forward_chain, other.forward_chain);
  backward_chain = std::max(backward_chain, other.backward_chain);
}

GradientTerms GradientTerms::widened(double drift) const {
  GradientTerms wide = *this;
  for (std::size_t i = 0; i < abs_sums.size(); ++i) wide.abs_sums[i] += drift * lipschitz[i];
  wide.logit_abs_sum += drift * logit_tangent;
  return wide;
}

namespace {

// One sample through the network in double, per layer l = 0 (the input) ..
// L (the logits), widths[l] entries each:
//   value:   the activations (they fix the ReLU masks and the softmax);
//   abs:     the same sums over |x|, |W|, |b| (what gamma_k multiplies);
//   tangent: how far abs can move, to first order, when every weight moves
//            by at most 1; it bounds how far value moves too.
struct SamplePass {
  std::vector<std::vector<double>> value, abs, tangent;
  std::size_t forward_chain = 0, backward_chain = 0;  // as in GradientTerms
};

SamplePass forward_sample(const std::vector<std::size_t>& widths, std::span<const float> params,
                          const float* x) {
  // L layers; layer l maps I inputs to O outputs with W [I,O], b [O].
  const std::size_t L = widths.size() - 1;
  SamplePass s;
  s.value.emplace_back(x, x + widths[0]);
  s.abs.emplace_back(widths[0]);
  for (std::size_t i = 0; i < widths[0]; ++i) s.abs[0][i] = std::abs(s.value[0][i]);
  s.tangent.emplace_back(widths[0], 0.0);
  // A dot product of n terms (plus the bias) rounds each term at most n (+1)
  // times; zeros (blank pixels, units the ReLU cut) add exactly.
  const auto nonzero = [](const std::vector<double>& v) {
    return static_cast<std::size_t>(std::ranges::count_if(v, [](double e) { return e != 0; }));
  };
  std::size_t offset = 0;
  for (std::size_t l = 0; l < L; ++l) {
    const std::size_t I = widths[l], O = widths[l + 1];
    const float* W = params.data() + offset;
    const float* b = W + I * O;
    const std::vector<double>&a = s.value[l], &a_abs = s.abs[l], &a_tan = s.tangent[l];
    s.forward_chain += nonzero(a) + 1;
    if (l >= 2) s.backward_chain += nonzero(a);  // the delta of hidden layer l - 1 sums these
    // Moving a whole column of W by 1 moves its output by sum |a|, the bias by 1.
    const double a_l1 = std::accumulate(a_abs.begin(), a_abs.end(), 0.0);
    std::vector<double> z(O), z_abs(O), z_tan(O, a_l1 + 1);
    for (std::size_t o = 0; o < O; ++o) z[o] = b[o], z_abs[o] = std::abs(b[o]);
    for (std::size_t i = 0; i < I; ++i) {
      for (std::size_t o = 0; o < O; ++o) {
        const double w = W[i * O + o];
        z[o] += a[i] * w;
        z_abs[o] += a_abs[i] * std::abs(w);
        z_tan[o] += a_tan[i] * std::abs(w);
      }
    }
    if (l + 1 < L) {
      for (std::size_t o = 0; o < O; ++o) {
        if (z[o] <= 0) z[o] = z_abs[o] = z_tan[o] = 0;  // as relu_backward: y > 0 passes
      }
    }
    s.value.push_back(std::move(z));
    s.abs.push_back(std::move(z_abs));
    s.tangent.push_back(std::move(z_tan));
    offset += I * O + O;
  }
  s.backward_chain += L >= 2 ? widths[L] : 0;  // the first delta below the logits sums all classes
  return s;
}

// Adds one sample's terms into abs_sum [P] (sum of |term| per gradient entry)
// and lipschitz [P] (first-order change per unit change of every weight).
// dlogits_abs [C] in: |p - y| / global_batch. |d(p_c - y_c)| <= 2 |p_c - y_c|
// max_c' |dz_c'| for softmax cross-entropy, so its tangent is 2 |dlogits| T.
void backward_sample(const std::vector<std::size_t>& widths, std::span<const float> params,
                     const SamplePass& s, std::vector<double> delta_abs, std::span<double> abs_sum,
                     std::span<double> lipschitz) {
  // L layers; layer l maps I inputs to O outputs with W [I,O] at offset.
  const std::size_t L = widths.size() - 1;
  std::size_t offset = params.size();
  const double logit_tangent = std::ranges::max(s.tangent.back());
  std::vector<double> delta_tan(delta_abs.size());
  for (std::size_t c = 0; c < delta_abs.size(); ++c)
    delta_tan[c] = 2 * delta_abs[c] * logit_tangent;
  for (std::size_t l = L; l-- > 0;) {
    const std::size_t I = widths[l], O = widths[l + 1];
    offset -= I * O + O;
    const float* W = params.data() + offset;
    const std::vector<double>&a_abs = s.abs[l], &a_tan = s.tangent[l];
    for (std::size_t i = 0; i < I; ++i) {
      if (a_abs[i] == 0 && a_tan[i] == 0) continue;  // a zero input: no terms, no tangent
      for (std::size_t o = 0; o < O; ++o) {
        abs_sum[offset + i * O + o] += a_abs[i] * delta_abs[o];
        lipschitz[offset + i * O + o] += a_tan[i] * delta_abs[o] + a_abs[i] * delta_tan[o];
      }
    }
    for (std::size_t o = 0; o < O; ++o) {
      abs_sum[offset + I * O + o] += delta_abs[o];
      lipschitz[offset + I * O + o] += delta_tan[o];
    }
    if (l == 0) break;  // the input needs no gradient
    // Moving a whole row of W by 1 moves the delta below by sum |delta|.
    const double delta_l1 = std::accumulate(delta_abs.begin(), delta_abs.end(), 0.0);
    std::vector<double> below_abs(I, 0.0), below_tan(I, 0.0);
    for (std::size_t i = 0; i < I; ++i) {
      if (s.value[l][i] <= 0) continue;  // masked by the ReLU below
      below_tan[i] = delta_l1;
      for (std::size_t o = 0; o < O; ++o) {
        below_abs[i] += std::abs(W[i * O + o]) * delta_abs[o];
        below_tan[i] += std::abs(W[i * O + o]) * delta_tan[o];
      }
    }
    delta_abs = std::move(below_abs);
    delta_tan = std::move(below_tan);
  }
}

// Adds one sample's terms, its gradient scaled by `scale`, into abs_sum and
// lipschitz [P]; the per-sample maxima go to terms' scalars. x [widths[0]] in.
void add_sample_terms(const std::vector<std::size_t>& widths, std::span<const float> params,
                      const float* x, std::uint8_t label, double scale, std::span<double> abs_sum,
                      std::span<double> lipschitz, GradientTerms& terms) {
  const std::size_t C = widths.back();
  require(label < C, "gradient_terms: label ", int{label}, " outside [0,", C, ")");
  const SamplePass s = forward_sample(widths, params, x);
  const std::vector<double>& z = s.value.back();
  const double z_max = std::ranges::max(z);
  double denom = 0;
  for (double v : z) denom += std::exp(v - z_max);
  std::vector<double> dlogits_abs(C);
  for (std::size_t c = 0; c < C; ++c) {
    dlogits_abs[c] = std::abs(std::exp(z[c] - z_max) / denom - (c == label ? 1.0 : 0.0)) * scale;
  }
  terms.logit_abs_sum = std::max(terms.logit_abs_sum, std::ranges::max(s.abs.back()));
  terms.logit_tangent = std::max(terms.logit_tangent, std::ranges::max(s.tangent.back()));
  terms.forward_chain = std::max(terms.forward_chain, s.forward_chain);
  terms.backward_chain = std::max(terms.backward_chain, s.backward_chain);
  backward_sample(widths, params, s, std::move(dlogits_abs), abs_sum, lipschitz);
}

}  // namespace

GradientTerms gradient_terms(const std::vector<std::size_t>& widths, std::span<const float> params,
                             std::span<const float> x, std::span<const std::uint8_t> labels,
                             std::size_t batch, std::size_t global_batch) {
  require(widths.size() >= 2 && x.size() >= batch * widths[0] && labels.size() >= batch &&
              global_batch >= batch && global_batch > 0,
          "gradient_terms: sizes do not fit batch ", batch, ", global batch ", global_batch);
  GradientTerms terms;
  terms.abs_sums.assign(params.size(), 0.0);
  terms.lipschitz.assign(params.size(), 0.0);
  for (std::size_t r = 0; r < batch; ++r) {
    add_sample_terms(widths, params, x.data() + r * widths[0], labels[r],
                     1.0 / static_cast<double>(global_batch), terms.abs_sums, terms.lipschitz,
                     terms);
  }
  return terms;
}

GradientTerms any_batch_terms(const std::vector<std::size_t>& widths, std::span<const float> params,
                              std::span<const float> x, std::span<const std::uint8_t> labels,
                              std::size_t count, std::size_t smallest_batch) {
  // P parameters, m = smallest_batch.
  const std::size_t P = params.size(), m = smallest_batch;
  require(widths.size() >= 2 && x.size() >= count * widths[0] && labels.size() >= count && m > 0 &&
              m <= count,
          "any_batch_terms: sizes do not fit ", count, " samples, smallest batch ", m);
  // A batch of B >= m distinct samples has mean (1/B) sum_b a_b <= the mean
  // of the B largest a_b <= the mean of the m largest: keep those per entry,
  // as min-heaps of m.
  std::vector<double> abs_top(P * m, 0.0), lipschitz_top(P * m, 0.0);
  std::vector<double> abs_sum(P), lipschitz(P);
  auto keep = [m](double* heap, double value) {
    if (value <= heap[0]) return;
    std::pop_heap(heap, heap + m, std::greater<>{});
    heap[m - 1] = value;
    std::push_heap(heap, heap + m, std::greater<>{});
  };
  GradientTerms terms;
  for (std::size_t r = 0; r < count; ++r) {
    std::ranges::fill(abs_sum, 0.0);
    std::ranges::fill(lipschitz, 0.0);
    add_sample_terms(widths, params, x.data() + r * widths[0], labels[r], 1.0, abs_sum, lipschitz,
                     terms);
    for (std::size_t i = 0; i < P; ++i) {
      keep(&abs_top[i * m], abs_sum[i]);
      keep(&lipschitz_top[i * m], lipschitz[i]);
    }
  }
  const auto mean_of = [m](const double* heap) {
    return std::accumulate(heap, heap + m, 0.0) / static_cast<double>(m);
  };
  terms.abs_sums.resize(P);
  terms.lipschitz.resize(P);
  for (std::size_t i = 0; i < P; ++i) {
    terms.abs_sums[i] = mean_of(&abs_top[i * m]);
    terms.lipschitz[i] = mean_of(&lipschitz_top[i * m]);
  }
  return terms;
}

double gradient_rounding(const GradientTerms& terms, std::size_t global_batch) {
  // A term of a gradient entry is a product of an input, weights and one
  // (p_b - y_b) / B along a path through the network. It meets the forward
  // dot products below the entry's layer, two roundings in dlogits (float of
  // p - y, times 1/B), the backward dot products above the layer, one product
  // and the sum over the global batch (B terms in any tree, split over ranks
  // or not). So it carries at most k factors (1 + delta), and one run is
  // within gamma_k A of the exact sums.
  const std::size_t k = terms.forward_chain + 2 + terms.backward_chain + 1 + global_batch;
  // The softmax is no polynomial: logits off by at most dz <= gamma_kf Z move
  // each p_c - y_c by at most 2 |p_c - y_c| dz, to first order.
  return gamma(k) + 2 * gamma(terms.forward_chain) * terms.logit_abs_sum;
}

double adam_drift(const AdamSettings& settings, std::size_t steps, const GradientTerms& terms) {
  // Each step moves a weight by |u| <= lr |m_hat| / eps <= lr G / eps, and
  // G <= A + D L along the way: D = K lr/eps (A + D L), solved for D.
  const double reach = static_cast<double>(steps) * settings.learning_rate / settings.epsilon;
  const double L = terms.max_lipschitz();
  require(reach * L < 1, "adam_drift: K lr L / eps = ", reach * L,
          " >= 1; no first-order bound (lower the learning rate)");
  return reach * terms.max_abs_sum() / (1 - reach * L);
}

TrajectoryBound adam_trajectory_bound(const AdamSettings& settings, std::size_t steps,
                                      const GradientTerms& terms, double gradient_rounding,
                                      std::span<const float> weights) {
  // P parameters, K steps.
  const std::size_t P = weights.size(), K = steps;
  require(settings.weight_decay == 0, "adam_trajectory_bound: weight decay is not modelled");
  require(terms.abs_sums.size() == P, "adam_trajectory_bound: terms of ", terms.abs_sums.size(),
          " entries for ", P, " weights");
  const double lr = settings.learning_rate, eps = settings.epsilon;
  TrajectoryBound b;
  b.per_step.resize(P);
  std::vector<double> c(P);
  double c_max = 0, beta_max = 0;
  for (std::size_t i = 0; i < P; ++i) {
    const double A = terms.abs_sums[i];  // >= every |g_i| and so every |m_hat_i|
    // u = lr m_hat / (sqrt(v_hat) + eps), m_hat and sqrt(v_hat) weighted
    // means of the g_t and |g_t| (weights summing to 1): changing every g_t
    // by at most dg moves u by at most c dg.
    c[i] = lr / eps * (1 + A / eps);
    // Two runs, each within rho A of the exact gradient: 2 rho A apart.
    const double gradient_gap = c[i] * 2 * gradient_rounding * A;
    // Each run's own Adam rounding: m and v pass up to K steps of 3 roundings,
    // then the bias corrections, sqrt, + eps, /, * lr: gamma_(3K+10) of |u|.
    const double adam_gap = 2 * gamma(3 * K + 10) * lr * A / eps;
    // w - u rounds to float: |fl(a) - fl(b)| <= |a - b| + ulp <= |a - b| + 2 u |w|,
    // |w| at most the given one plus K steps of lr A / eps.
    const double weight = std::abs(double{weights[i]}) + static_cast<double>(K) * lr * A / eps;
    b.per_step[i] = gradient_gap + adam_gap + 2 * kUnitRoundoff * weight;
    c_max = std::max(c_max, c[i]);
    beta_max = std::max(beta_max, b.per_step[i]);
  }
  // The gradients also differ by up to L_i e where the weights differ by at
  // most e: e_i(t+1) <= e_i(t) + per_step_i + c_i L_i e(t), and the largest,
  // e(t+1) <= (1 + c L) e(t) + beta. So e_i(K) <= K per_step_i + c_i L_i S,
  // S = e(0) + ... + e(K-1) from e(0) = 0.
  const double cL = c_max * terms.max_lipschitz();
  double e = 0, S = 0;
  for (std::size_t t = 0; t < K; ++t) {
    S += e;
    e = (1 + cL) * e + beta_max;
  }
  b.bounds.resize(P);
  b.propagated.resize(P);
  for (std::size_t i = 0; i < P; ++i) {
    b.propagated[i] = c[i] * terms.lipschitz[i] * S;
    b.bounds[i] = static_cast<double>(K) * b.per_step[i] + b.propagated[i];
  }
  char line[320];
  std::snprintf(line, sizeof(line),
                "%zu steps, lr %g, eps %g, rho %.2g, max A %.3g, max L %.3g, c L K %.2g", K, lr,
                eps, gradient_rounding, terms.max_abs_sum(), terms.max_lipschitz(),
                cL * static_cast<double>(K));
  b.detail = line;
  return b;
}

::testing::AssertionResult within_bound(int rank, const std::string& what, std::span<const float> a,
                                        std::span<const float> b, const TrajectoryBound& bound) {
  require(a.size() == b.size() && a.size() == bound.bounds.size(), "within_bound: ", a.size(),
          " and ", b.size(), " weights, ", bound.bounds.size(), " bounds");
  std::size_t worst = 0;
  double worst_fraction = -1, largest = 0;
  for (std::size_t i = 0; i < a.size(); ++i) {
    const double error = std::abs(double{a[i]} - double{b[i]});
    largest = std::max(largest, error);
    if (error / bound.bounds[i] > worst_fraction)
      worst_fraction = error / bound.bounds[i], worst = i;
  }
  const double error = std::abs(double{a[worst]} - double{b[worst]});
  char line[640];
  std::snprintf(line, sizeof(line),
                "%s: error %.3g = %.3g of bound %.3g (parameter %zu: steps x %.2g per step + "
                "%.2g propagated; max |difference| %.3g; %s)",
                what.c_str(), error, worst_fraction, bound.bounds[worst], worst,
                bound.per_step[worst], bound.propagated[worst], largest, bound.detail.c_str());
  if (rank == 0) std::printf("%s\n", line);
  if (worst_fraction <= 1) return ::testing::AssertionSuccess();
  return ::testing::AssertionFailure() << line;
}

}  // namespace dpmnist::test

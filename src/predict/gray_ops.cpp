#include "dpmnist/predict/gray_ops.h"

#include <algorithm>
#include <array>
#include <cmath>

#include "dpmnist/core/error.h"

namespace dpmnist {

namespace {

// For output cells of size f = length/count over [0, length): each cell's
// (first source pixel, weights of the source pixels it overlaps / f).
struct AxisWeights {
  std::vector<std::size_t> first;           // [count]
  std::vector<std::vector<float>> weights;  // [count][overlapped pixels]
};

AxisWeights area_weights(std::size_t length, std::size_t count) {
  AxisWeights axis;
  const double f = static_cast<double>(length) / static_cast<double>(count);
  for (std::size_t j = 0; j < count; ++j) {
    const double begin = static_cast<double>(j) * f, end = begin + f;
    auto k = static_cast<std::size_t>(std::floor(begin));
    axis.first.push_back(k);
    std::vector<float> w;
    for (; static_cast<double>(k) < end && k < length; ++k) {
      const double overlap =
          std::min(end, static_cast<double>(k + 1)) - std::max(begin, static_cast<double>(k));
      w.push_back(static_cast<float>(std::max(0.0, overlap) / f));
    }
    axis.weights.push_back(std::move(w));
  }
  return axis;
}

// Solves the n x n system a x = b in place (Gaussian elimination with partial
// pivoting); a [n,n], b [n]. Returns false when singular.
bool solve(std::vector<double>& a, std::vector<double>& b, std::size_t n) {
  for (std::size_t c = 0; c < n; ++c) {
    std::size_t pivot = c;
    for (std::size_t r = c + 1; r < n; ++r) {
      if (std::abs(a[r * n + c]) > std::abs(a[pivot * n + c])) pivot = r;
    }
    if (std::abs(a[pivot * n + c]) < 1e-12) return false;
    for (std::size_t k = 0; k < n; ++k) std::swap(a[c * n + k], a[pivot * n + k]);
    std::swap(b[c], b[pivot]);
    for (std::size_t r = 0; r < n; ++r) {
      if (r == c) continue;
      const double f = a[r * n + c] / a[c * n + c];
      for (std::size_t k = c; k < n; ++k) a[r * n + k] -= f * a[c * n + k];
      b[r] -= f * b[c];
    }
  }
  for (std::size_t c = 0; c < n; ++c) b[c] /= a[c * n + c];
  return true;
}

}  // namespace

GrayImage resample_area(const GrayImage& src, std::size_t x0, std::size_t y0, std::size_t cw,
                        std::size_t ch, std::size_t nw, std::size_t nh) {
  require(cw > 0 && ch > 0 && nw > 0 && nh > 0 && x0 + cw <= src.width && y0 + ch <= src.height,
          "resample_area: window ", cw, "x", ch, " at (", x0, ",", y0, ") to ", nw, "x", nh,
          " in a ", src.width, "x", src.height, " image; expected a non-empty window inside it");
  const AxisWeights ax = area_weights(cw, nw), ay = area_weights(ch, nh);
  std::vector<float> rows(ch * nw, 0.0f);  // [ch,nw]: horizontal pass first
  for (std::size_t y = 0; y < ch; ++y) {
    const float* line = &src.pixels[(y0 + y) * src.width + x0];
    for (std::size_t j = 0; j < nw; ++j) {
      float sum = 0;
      for (std::size_t t = 0; t < ax.weights[j].size(); ++t) {
        sum += ax.weights[j][t] * line[ax.first[j] + t];
      }
      rows[y * nw + j] = sum;
    }
  }
  GrayImage out{nw, nh, std::vector<float>(nw * nh, 0.0f)};
  for (std::size_t i = 0; i < nh; ++i) {
    for (std::size_t t = 0; t < ay.weights[i].size(); ++t) {
      const float wy = ay.weights[i][t];
      const float* line = &rows[(ay.first[i] + t) * nw];
      for (std::size_t j = 0; j < nw; ++j) out.pixels[i * nw + j] += wy * line[j];
    }
  }
  return out;
}

std::array<float, 2> kth_extremes(const std::vector<float>& values, std::size_t k) {
  require(!values.empty(), "kth_extremes: no values");
  k = std::min(k, values.size() - 1);
  // The k+1 smallest and largest so far, kept sorted; most values fail the
  // first comparison, so this is one cheap pass.
  std::vector<float> low(values.begin(), values.begin() + static_cast<std::ptrdiff_t>(k + 1));
  std::sort(low.begin(), low.end());
  std::vector<float> high(low.rbegin(), low.rend());
  for (std::size_t i = k + 1; i < values.size(); ++i) {
    const float v = values[i];
    if (v < low.back()) {
      low.back() = v;
      for (std::size_t j = k; j > 0 && low[j] < low[j - 1]; --j) std::swap(low[j], low[j - 1]);
    }
    if (v > high.back()) {
      high.back() = v;
      for (std::size_t j = k; j > 0 && high[j] > high[j - 1]; --j) std::swap(high[j], high[j - 1]);
    }
  }
  return {low.back(), high.back()};
}

float quantile(std::vector<float> values, double q) {
  if (values.empty()) return 0.0f;
  const auto k = static_cast<std::size_t>(q * static_cast<double>(values.size() - 1));
  std::nth_element(values.begin(), values.begin() + static_cast<std::ptrdiff_t>(k), values.end());
  return values[k];
}

void box_blur(GrayImage& p, std::size_t r) {
  if (r == 0) return;
  const std::size_t w = p.width, h = p.height;
  // Rows: a prefix sum per row. Columns: whole rows at a time, so memory is
  // read in order: sums [w] over the window [lo, hi) of rows.
  std::vector<double> prefix(w + 1);
  for (std::size_t y = 0; y < h; ++y) {
    float* row = &p.pixels[y * w];
    for (std::size_t x = 0; x < w; ++x) prefix[x + 1] = prefix[x] + row[x];
    for (std::size_t x = 0; x < w; ++x) {
      const std::size_t lo = x >= r ? x - r : 0, hi = std::min(w, x + r + 1);
      row[x] = static_cast<float>((prefix[hi] - prefix[lo]) / static_cast<double>(hi - lo));
    }
  }
  const std::vector<float> rows(p.pixels);
  std::vector<double> sums(w, 0.0);
  std::size_t lo = 0, hi = 0;
  for (std::size_t y = 0; y < h; ++y) {
    const std::size_t want_lo = y >= r ? y - r : 0, want_hi = std::min(h, y + r + 1);
    for (; hi < want_hi; ++hi) {
      for (std::size_t x = 0; x < w; ++x) sums[x] += rows[hi * w + x];
    }
    for (; lo < want_lo; ++lo) {
      for (std::size_t x = 0; x < w; ++x) sums[x] -= rows[lo * w + x];
    }
    const double count = static_cast<double>(hi - lo);
    for (std::size_t x = 0; x < w; ++x) p.pixels[y * w + x] = static_cast<float>(sums[x] / count);
  }
}

GrayImage fit_background(const GrayImage& p, double q) {
  const std::size_t tile = std::max<std::size_t>(4, std::max(p.width, p.height) / 16);
  const std::size_t gx = (p.width + tile - 1) / tile, gy = (p.height + tile - 1) / tile;
  const double sx = 2.0 / static_cast<double>(p.width), sy = 2.0 / static_cast<double>(p.height);
  auto basis = [](double u, double v) {
    return std::array<double, 6>{1, u, v, u * u, u * v, v * v};
  };
  std::vector<std::array<double, 6>> rows;
  std::vector<double> level;
  std::vector<float> values;
  const std::size_t step = std::max<std::size_t>(1, tile / 16);  // at most 16 x 16 samples a tile
  for (std::size_t ty = 0; ty < gy; ++ty) {
    for (std::size_t tx = 0; tx < gx; ++tx) {
      values.clear();
      const std::size_t y1 = std::min(p.height, (ty + 1) * tile),
                        x1 = std::min(p.width, (tx + 1) * tile);
      for (std::size_t y = ty * tile; y < y1; y += step) {
        for (std::size_t x = tx * tile; x < x1; x += step)
          values.push_back(p.pixels[y * p.width + x]);
      }
      level.push_back(quantile(values, q));
      rows.push_back(basis(0.5 * static_cast<double>(tx * tile + x1) * sx - 1,
                           0.5 * static_cast<double>(ty * tile + y1) * sy - 1));
    }
  }
  std::vector<bool> use(level.size(), true);
  std::vector<double> coef(6, 0.0);
  coef[0] = quantile(std::vector<float>(level.begin(), level.end()), 0.5);
  for (int round = 0; round < 3; ++round) {
    std::vector<double> a(36, 0.0), b(6, 0.0);
    for (std::size_t t = 0; t < level.size(); ++t) {
      if (!use[t]) continue;
      for (std::size_t i = 0; i < 6; ++i) {
        b[i] += rows[t][i] * level[t];
        for (std::size_t k = 0; k < 6; ++k) a[i * 6 + k] += rows[t][i] * rows[t][k];
      }
    }
    if (!solve(a, b, 6)) break;  // too few tiles: keep the flat level
    coef = b;
    std::vector<float> misfit(level.size());
    for (std::size_t t = 0; t < level.size(); ++t) {
      double fit = 0;
      for (std::size_t i = 0; i < 6; ++i) fit += coef[i] * rows[t][i];
      misfit[t] = static_cast<float>(level[t] - fit);
    }
    std::vector<float> spread(misfit);
    for (float& m : spread) m = std::abs(m);
    const float limit = std::max(2.0f, 2.5f * 1.4826f * quantile(spread, 0.5));
    for (std::size_t t = 0; t < level.size(); ++t) use[t] = std::abs(misfit[t]) <= limit;
  }
  GrayImage bg{p.width, p.height, std::vector<float>(p.pixels.size())};
  for (std::size_t y = 0; y < p.height; ++y) {
    for (std::size_t x = 0; x < p.width; ++x) {
      const auto r =
          basis((static_cast<double>(x) + 0.5) * sx - 1, (static_cast<double>(y) + 0.5) * sy - 1);
      double fit = 0;
      for (std::size_t i = 0; i < 6; ++i) fit += coef[i] * r[i];
      bg.pixels[y * p.width + x] = static_cast<float>(fit);
    }
  }
  return bg;
}

float otsu_threshold(const std::vector<float>& values) {
  std::vector<double> hist(256, 0.0);
  for (float v : values) hist[static_cast<std::size_t>(std::clamp(v, 0.0f, 255.0f))] += 1.0;
  double total = 0, sum = 0;
  for (std::size_t i = 0; i < 256; ++i) {
    total += hist[i];
    sum += static_cast<double>(i) * hist[i];
  }
  double weight_bg = 0, sum_bg = 0, best = -1;
  std::size_t best_t = 0;
  for (std::size_t t = 0; t < 255; ++t) {
    weight_bg += hist[t];
    sum_bg += static_cast<double>(t) * hist[t];
    const double weight_fg = total - weight_bg;
    if (weight_bg == 0 || weight_fg == 0) continue;
    const double diff = sum_bg / weight_bg - (sum - sum_bg) / weight_fg;
    const double between = weight_bg * weight_fg * diff * diff;
    if (between > best) {
      best = between;
      best_t = t;
    }
  }
  return static_cast<float>(best_t) + 1.0f;  // ink: value >= threshold
}

Components remove_specks(std::vector<std::uint8_t>& mask, std::size_t w, std::size_t h,
                         double fraction, std::size_t min_pixels) {
  std::vector<std::int32_t> label(mask.size(), -1);
  std::vector<std::size_t> sizes, stack;
  for (std::size_t start = 0; start < mask.size(); ++start) {
    if (!mask[start] || label[start] >= 0) continue;
    const auto id = static_cast<std::int32_t>(sizes.size());
    std::size_t size = 0;
    stack.assign(1, start);
    label[start] = id;
    while (!stack.empty()) {
      const std::size_t i = stack.back();
      stack.pop_back();
      ++size;
      const std::size_t x = i % w, y = i / w;
      for (std::size_t ny = y ? y - 1 : 0; ny <= std::min(h - 1, y + 1); ++ny) {
        for (std::size_t nx = x ? x - 1 : 0; nx <= std::min(w - 1, x + 1); ++nx) {
          const std::size_t n = ny * w + nx;
          if (mask[n] && label[n] < 0) {
            label[n] = id;
            stack.push_back(n);
          }
        }
      }
    }
    sizes.push_back(size);
  }
  Components result;
  if (sizes.empty()) return result;
  result.largest = *std::max_element(sizes.begin(), sizes.end());
  const double keep_from =
      std::max(static_cast<double>(min_pixels), fraction * static_cast<double>(result.largest));
  std::vector<bool> drop(sizes.size());
  for (std::size_t c = 0; c < sizes.size(); ++c) {
    drop[c] = static_cast<double>(sizes[c]) < keep_from;
    result.removed += drop[c] ? 1 : 0;
    result.kept += drop[c] ? 0 : 1;
    result.kept_pixels += drop[c] ? 0 : sizes[c];
  }
  for (std::size_t i = 0; i < mask.size(); ++i) {
    if (mask[i] && drop[static_cast<std::size_t>(label[i])]) mask[i] = 0;
  }
  if (result.largest < min_pixels) result.largest = 0;  // it was cleared too
  return result;
}

}  // namespace dpmnist

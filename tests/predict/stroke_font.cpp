#include "stroke_font.h"

#include <algorithm>
#include <cmath>
#include <numbers>

#include "dpmnist/predict/preprocess.h"

namespace dpmnist::test {

namespace {

using Stroke = std::vector<Point>;
constexpr float kDegree = std::numbers::pi_v<float> / 180.0f;

Stroke line(std::initializer_list<Point> points) {
  Stroke out;
  const std::vector<Point> p(points);
  for (std::size_t i = 0; i + 1 < p.size(); ++i) {
    for (int k = 0; k < 8; ++k) {
      const float t = static_cast<float>(k) / 8.0f;
      out.push_back({p[i].x + t * (p[i + 1].x - p[i].x), p[i].y + t * (p[i + 1].y - p[i].y)});
    }
  }
  out.push_back(p.back());
  return out;
}

// Elliptic arc, angles in degrees, y down (0 right, 90 bottom, -90 top).
Stroke arc(float cx, float cy, float rx, float ry, float from, float to) {
  Stroke out;
  const int steps = std::max(8, static_cast<int>(std::abs(to - from) / 8.0f));
  for (int k = 0; k <= steps; ++k) {
    const float t =
        (from + (to - from) * static_cast<float>(k) / static_cast<float>(steps)) * kDegree;
    out.push_back({cx + rx * std::cos(t), cy + ry * std::sin(t)});
  }
  return out;
}

Stroke curve(Point a, Point control, Point b) {
  Stroke out;
  for (int k = 0; k <= 16; ++k) {
    const float t = static_cast<float>(k) / 16.0f, u = 1 - t;
    out.push_back({u * u * a.x + 2 * u * t * control.x + t * t * b.x,
                   u * u * a.y + 2 * u * t * control.y + t * t * b.y});
  }
  return out;
}

Stroke join(Stroke a, const Stroke& b) {
  a.insert(a.end(), b.begin(), b.end());
  return a;
}

// The skeleton of each digit in a unit box; `v` picks a variant, `j(s)` is a
// small random offset of size s that makes every hand a little different.
template <class Jitter>
std::vector<Stroke> skeleton(std::size_t digit, std::uint64_t v, Jitter j) {
  switch (digit) {
    case 0:
      return {arc(0.5f, 0.5f, 0.3f + j(0.05f), 0.48f, -90 + j(20), 280 + j(15))};
    case 1:
      if (v % 3 == 0)
        return {line({{0.32f, 0.2f + j(0.05f)}, {0.52f, 0.02f}, {0.5f + j(0.05f), 0.98f}})};
      return {line({{0.5f + j(0.06f), 0.02f}, {0.5f + j(0.06f), 0.98f}})};
    case 2:
      if (v % 2 == 0) {
        return {join(arc(0.5f, 0.3f, 0.27f, 0.27f + j(0.04f), -165 + j(10), 25 + j(15)),
                     line({{0.68f, 0.5f}, {0.18f, 0.97f}, {0.84f + j(0.06f), 0.97f + j(0.02f)}}))};
      }
      return {join(join(arc(0.5f, 0.3f, 0.27f, 0.27f, -165, 20),
                        curve({0.74f, 0.42f}, {0.3f, 0.75f}, {0.2f, 0.96f})),
                   arc(0.34f, 0.86f, 0.12f, 0.1f, 150, 60)),
              line({{0.3f, 0.95f}, {0.85f + j(0.05f), 0.95f}})};
    case 3:
      return {join(arc(0.48f, 0.27f, 0.25f + j(0.04f), 0.23f, -160 + j(10), 90),
                   arc(0.48f, 0.73f, 0.28f + j(0.04f), 0.25f, -90, 155 + j(10)))};
    case 4:
      if (v % 2 == 0) {
        return {line({{0.62f, 0.02f}, {0.12f, 0.66f + j(0.05f)}, {0.88f, 0.66f}}),
                line({{0.64f + j(0.04f), 0.3f}, {0.64f, 0.98f}})};
      }
      return {line({{0.2f + j(0.05f), 0.02f}, {0.14f, 0.58f}, {0.86f, 0.58f + j(0.04f)}}),
              line({{0.7f + j(0.04f), 0.02f}, {0.67f, 0.98f}})};
    case 5:
      return {join(line({{0.8f + j(0.04f), 0.03f}, {0.3f, 0.03f}, {0.24f + j(0.04f), 0.45f}}),
                   arc(0.47f, 0.69f, 0.3f, 0.28f + j(0.03f), -130, 150 + j(10)))};
    case 6:
      return {join(curve({0.66f + j(0.05f), 0.0f}, {0.27f + j(0.04f), 0.3f}, {0.25f, 0.74f}),
                   arc(0.5f, 0.75f, 0.25f, 0.23f + j(0.02f), 180, 520))};
    case 7:
      if (v % 4 == 0) {
        return {line({{0.15f, 0.04f}, {0.85f, 0.04f}, {0.42f + j(0.06f), 0.98f}}),
                line({{0.35f, 0.52f}, {0.78f, 0.5f}})};
      }
      return {line({{0.15f, 0.04f + j(0.05f)}, {0.85f, 0.04f}, {0.4f + j(0.08f), 0.98f}})};
    case 8:
      return {arc(0.5f + j(0.03f), 0.27f, 0.22f, 0.24f, 90, 450),
              arc(0.5f + j(0.03f), 0.72f, 0.27f + j(0.03f), 0.26f, -90, 270)};
    default:
      if (v % 2 == 0) {
        return {arc(0.5f, 0.3f, 0.25f + j(0.03f), 0.26f, 0, 360),
                line({{0.75f, 0.3f}, {0.7f + j(0.06f), 0.98f}})};
      }
      return {join(arc(0.48f, 0.3f, 0.25f, 0.25f, 5, 360),
                   curve({0.73f, 0.3f}, {0.74f, 0.8f}, {0.45f + j(0.08f), 0.98f}))};
  }
}

void update_box(Glyph& g) {
  g.x0 = g.y0 = 1e9f;
  g.x1 = g.y1 = -1e9f;
  for (const Stroke& s : g.strokes) {
    for (const Point& p : s) {
      g.x0 = std::min(g.x0, p.x - g.pen_radius);
      g.y0 = std::min(g.y0, p.y - g.pen_radius);
      g.x1 = std::max(g.x1, p.x + g.pen_radius);
      g.y1 = std::max(g.y1, p.y + g.pen_radius);
    }
  }
}

}  // namespace

Glyph handwritten_glyph(std::size_t digit, Rng& rng) {
  auto j = [&](float size) { return rng.uniform(-size, size); };
  Glyph g;
  g.strokes = skeleton(digit % 10, rng.next(), j);
  // Slant, rotation, width; then a smooth wobble, as a hand is never exact.
  const float slant = rng.uniform(-0.1f, 0.4f), angle = j(8.0f) * kDegree;
  const float widen = rng.uniform(0.75f, 1.3f);
  const float wave = rng.uniform(0.0f, 0.035f), phase = rng.uniform(0.0f, 6.28f);
  const float c = std::cos(angle), s = std::sin(angle);
  for (Stroke& stroke : g.strokes) {
    for (Point& p : stroke) {
      float x = (p.x - 0.5f) * widen + slant * (0.5f - p.y), y = p.y - 0.5f;
      x += wave * std::sin(5.0f * y + phase);
      y += wave * std::sin(4.0f * x + 2.0f * phase);
      p = {c * x - s * y, s * x + c * y};
    }
  }
  g.pen_radius = rng.uniform(0.035f, 0.09f);
  update_box(g);
  return g;
}

void render_glyph(const Glyph& glyph, float scale, float dx, float dy, std::size_t width,
                  std::size_t height, std::vector<float>& coverage) {
  const float r = std::max(0.5f, glyph.pen_radius * scale);
  for (const Stroke& stroke : glyph.strokes) {
    for (std::size_t i = 0; i + 1 < stroke.size(); ++i) {
      const float ax = stroke[i].x * scale + dx, ay = stroke[i].y * scale + dy;
      const float bx = stroke[i + 1].x * scale + dx, by = stroke[i + 1].y * scale + dy;
      const float vx = bx - ax, vy = by - ay, length2 = vx * vx + vy * vy;
      const float fx0 = std::min(ax, bx) - r - 1, fx1 = std::max(ax, bx) + r + 1;
      const float fy0 = std::min(ay, by) - r - 1, fy1 = std::max(ay, by) + r + 1;
      const auto clip = [](float v, std::size_t limit) {
        return static_cast<std::size_t>(std::clamp(v, 0.0f, static_cast<float>(limit)));
      };
      for (std::size_t y = clip(fy0, height); y < clip(fy1 + 1, height); ++y) {
        for (std::size_t x = clip(fx0, width); x < clip(fx1 + 1, width); ++x) {
          const float px = static_cast<float>(x) + 0.5f - ax,
                      py = static_cast<float>(y) + 0.5f - ay;
          const float t =
              length2 > 0 ? std::clamp((px * vx + py * vy) / length2, 0.0f, 1.0f) : 0.0f;
          const float ex = px - t * vx, ey = py - t * vy;
          const float cover = std::clamp(r + 0.5f - std::sqrt(ex * ex + ey * ey), 0.0f, 1.0f);
          float& out = coverage[y * width + x];
          out = std::max(out, cover);
        }
      }
    }
  }
}

std::array<float, kImagePixels> render_mnist_form(const Glyph& glyph, std::array<double, 2> com) {
  const float scale = 20.0f / std::max(glyph.x1 - glyph.x0, glyph.y1 - glyph.y0);
  // Box centred first, then shifted by the measured centre of mass (twice:
  // the pen's antialiasing makes the second correction tiny).
  float dx = static_cast<float>(com[0]) - scale * 0.5f * (glyph.x0 + glyph.x1);
  float dy = static_cast<float>(com[1]) - scale * 0.5f * (glyph.y0 + glyph.y1);
  std::vector<float> coverage;
  for (int pass = 0; pass < 3; ++pass) {
    coverage.assign(kImagePixels, 0.0f);
    render_glyph(glyph, scale, dx, dy, kImageSide, kImageSide, coverage);
    const std::array<double, 2> now = center_of_mass(coverage);
    dx += static_cast<float>(com[0] - now[0]);
    dy += static_cast<float>(com[1] - now[1]);
  }
  std::array<float, kImagePixels> out{};
  std::copy(coverage.begin(), coverage.end(), out.begin());
  return out;
}

}  // namespace dpmnist::test

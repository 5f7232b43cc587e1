#include "serve_support.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cmath>
#include <cstdint>

#include "dpmnist/data/checkpoint.h"
#include "dpmnist/nn/network.h"

namespace dpmnist::test {

std::string write_glorot_checkpoint(const std::string& dir,
                                    const std::vector<std::size_t>& widths) {
  Network network(widths, 1);
  network.init_glorot(11);
  Checkpoint c;
  c.widths = widths;
  c.params.assign(network.params().begin(), network.params().end());
  c.adam_m.assign(c.params.size(), 0.0f);
  c.adam_v.assign(c.params.size(), 0.0f);
  c.epoch = 1;
  c.global_step = 10;
  c.world_size = 2;
  c.seed = 11;
  c.config_text = "train.epochs = 1\n";
  EpochMetrics row;
  row.epoch = 1;
  row.train_acc = 0.25;
  row.test_acc = 0.5;
  row.test_loss = 2.0;
  row.world_size = 2;
  c.history = {row};
  const std::string path = dir + "/checkpoint.h5";
  save_checkpoint(path, c);
  return path;
}

namespace {

// Draws a segment of the given width with a one-pixel antialiased edge.
void draw_segment(GrayImage& image, double x0, double y0, double x1, double y1, double width) {
  const double dx = x1 - x0, dy = y1 - y0;
  const double length2 = std::max(dx * dx + dy * dy, 1e-12);
  for (std::size_t y = 0; y < image.height; ++y) {
    for (std::size_t x = 0; x < image.width; ++x) {
      const double px = static_cast<double>(x) + 0.5, py = static_cast<double>(y) + 0.5;
      const double t = std::clamp(((px - x0) * dx + (py - y0) * dy) / length2, 0.0, 1.0);
      const double distance = std::hypot(px - (x0 + t * dx), py - (y0 + t * dy));
      const double cover = std::clamp(width / 2 + 0.5 - distance, 0.0, 1.0);
      float& pixel = image.pixels[y * image.width + x];
      pixel = std::max(pixel, static_cast<float>(255.0 * cover));
    }
  }
}

GrayImage black(std::size_t side) {
  GrayImage image;
  image.width = image.height = side;
  image.pixels.assign(side * side, 0.0f);
  return image;
}

}  // namespace

GrayImage draw_seven(std::size_t side, bool dark_on_light) {
  GrayImage image = black(side);
  const double s = static_cast<double>(side);
  draw_segment(image, 0.25 * s, 0.2 * s, 0.72 * s, 0.2 * s, 0.1 * s);
  draw_segment(image, 0.72 * s, 0.2 * s, 0.42 * s, 0.82 * s, 0.1 * s);
  if (dark_on_light) {
    for (float& pixel : image.pixels) pixel = 255.0f - pixel;
  }
  return image;
}

GrayImage draw_zero(std::size_t side) {
  GrayImage image = black(side);
  const double s = static_cast<double>(side);
  constexpr int kSegments = 48;
  for (int k = 0; k < kSegments; ++k) {
    const double a0 = 2 * M_PI * k / kSegments, a1 = 2 * M_PI * (k + 1) / kSegments;
    draw_segment(image, s * (0.5 + 0.22 * std::cos(a0)), s * (0.5 + 0.32 * std::sin(a0)),
                 s * (0.5 + 0.22 * std::cos(a1)), s * (0.5 + 0.32 * std::sin(a1)), 0.1 * s);
  }
  return image;
}

std::string png_of(const GrayImage& image) {
  const std::vector<std::uint8_t> bytes = encode_png(image);
  return {bytes.begin(), bytes.end()};
}

std::string pgm_of(const GrayImage& image) {
  std::string out =
      "P5\n" + std::to_string(image.width) + " " + std::to_string(image.height) + "\n255\n";
  for (float pixel : image.pixels) {
    out += static_cast<char>(static_cast<std::uint8_t>(std::clamp(std::lround(pixel), 0L, 255L)));
  }
  return out;
}

namespace {

std::uint32_t crc32(const std::string& bytes, std::size_t begin, std::size_t end) {
  std::uint32_t crc = 0xFFFFFFFFu;
  for (std::size_t i = begin; i < end; ++i) {
    crc ^= static_cast<std::uint8_t>(bytes[i]);
    for (int bit = 0; bit < 8; ++bit) crc = (crc >> 1) ^ (0xEDB88320u & (0u - (crc & 1u)));
  }
  return ~crc;
}

void put_be32(std::string& bytes, std::size_t at, std::uint32_t value) {
  for (int k = 0; k < 4; ++k)
    bytes[at + static_cast<std::size_t>(k)] = static_cast<char>(value >> (24 - 8 * k));
}

}  // namespace

std::string png_claiming(std::size_t width, std::size_t height) {
  std::string png = png_of(draw_seven(32));
  // 8-byte signature, then the IHDR chunk: length(4) "IHDR"(4) width(4) height(4) ... crc.
  put_be32(png, 16, static_cast<std::uint32_t>(width));
  put_be32(png, 20, static_cast<std::uint32_t>(height));
  put_be32(png, 29, crc32(png, 12, 29));
  return png;
}

std::string raw_http(int port, const std::string& request, bool give_up) {
  const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  if (fd < 0) return "";
  timeval timeout{5, 0};
  ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, sizeof timeout);
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_port = htons(static_cast<std::uint16_t>(port));
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  std::string reply;
  if (::connect(fd, reinterpret_cast<const sockaddr*>(&address), sizeof address) == 0) {
    ::send(fd, request.data(), request.size(), MSG_NOSIGNAL);
    if (give_up) ::shutdown(fd, SHUT_WR);
    std::array<char, 4096> buffer;
    for (;;) {
      const std::size_t head_end = reply.find("\r\n\r\n");
      if (head_end != std::string::npos) {
        const std::size_t length_at = reply.find("Content-Length: ");
        const std::size_t length =
            length_at < head_end ? std::stoul(reply.substr(length_at + 16)) : 0;
        if (reply.size() >= head_end + 4 + length) break;
      }
      const ssize_t got = ::recv(fd, buffer.data(), buffer.size(), 0);
      if (got <= 0) break;
      reply.append(buffer.data(), static_cast<std::size_t>(got));
    }
  }
  ::close(fd);
  return reply;
}

}  // namespace dpmnist::test

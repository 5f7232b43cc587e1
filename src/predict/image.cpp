#include "dpmnist/predict/image.h"

#include <stb_image.h>
#include <stb_image_write.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <memory>
#include <utility>

#include "dpmnist/core/error.h"
#include "dpmnist/predict/jpeg_guard.h"

namespace dpmnist::detail {
// Defined in stb_image_impl.cpp: the largest single allocation stb may make on
// this thread, and whether it asked for more.
extern thread_local std::size_t stb_allocation_cap;
extern thread_local bool stb_allocation_refused;
}  // namespace dpmnist::detail

namespace dpmnist {

namespace {

// Sets the allocation cap for the decode on this thread, restores it after.
class AllocationCap {
 public:
  explicit AllocationCap(std::size_t cap) : saved_(detail::stb_allocation_cap) {
    detail::stb_allocation_cap = cap;
    detail::stb_allocation_refused = false;
  }
  ~AllocationCap() { detail::stb_allocation_cap = saved_; }
  AllocationCap(const AllocationCap&) = delete;
  AllocationCap& operator=(const AllocationCap&) = delete;

 private:
  std::size_t saved_;
};

struct StbFree {
  void operator()(stbi_uc* pixels) const { stbi_image_free(pixels); }
};

// The format from the magic bytes (stb does not say which decoder succeeded).
std::string sniff_format(std::span<const std::uint8_t> b) {
  auto starts = [&](std::initializer_list<int> magic) {
    if (b.size() < magic.size()) return false;
    std::size_t i = 0;
    for (int m : magic) {
      if (b[i++] != static_cast<std::uint8_t>(m)) return false;
    }
    return true;
  };
  if (starts({0x89, 'P', 'N', 'G'})) return "png";
  if (starts({0xFF, 0xD8})) return "jpeg";
  if (starts({'B', 'M'})) return "bmp";
  if (starts({'G', 'I', 'F', '8'})) return "gif";
  if (starts({'P', '5'}) || starts({'P', '6'})) return "pnm";
  return "";
}

// A PNG's IHDR width and height (big-endian at bytes 16 and 20); {0, 0} when
// the header is too short. stb refuses absurd PNG sizes inside its format
// probe, whose reason the probes of the other formats then overwrite.
std::pair<std::size_t, std::size_t> png_header_size(std::span<const std::uint8_t> b) {
  if (b.size() < 24) return {0, 0};
  const auto be32 = [&](std::size_t at) {
    return (std::size_t{b[at]} << 24) | (std::size_t{b[at + 1]} << 16) |
           (std::size_t{b[at + 2]} << 8) | b[at + 3];
  };
  return {be32(16), be32(20)};
}

void check_size(std::size_t w, std::size_t h, const std::string& name, const ImageLimits& limits) {
  require(w > 0 && h > 0, name, ": image is ", w, "x", h, " pixels; expected at least 1x1");
  require(w <= limits.max_side && h <= limits.max_side, name, ": image is ", w, "x", h,
          " pixels; each side may be at most ", limits.max_side);
  require(w * h <= limits.max_pixels, name, ": image is ", w, "x", h, " = ", w * h,
          " pixels, more than the limit of ", limits.max_pixels);
}

const char* stb_reason() {
  const char* reason = stbi_failure_reason();
  return reason ? reason : "unknown decoder error";
}

float luma(const stbi_uc* p) {
  return 0.299f * static_cast<float>(p[0]) + 0.587f * static_cast<float>(p[1]) +
         0.114f * static_cast<float>(p[2]);
}

// pixels [n, channels] in (stb's interleaved output); gray [n] out.
// Returns the background chosen for transparency.
AlphaBackground to_gray(const stbi_uc* pixels, std::size_t n, int channels,
                        std::vector<float>& gray) {
  const bool color = channels >= 3;
  const bool has_alpha = channels == 2 || channels == 4;
  const auto c = static_cast<std::size_t>(channels);
  for (std::size_t i = 0; i < n; ++i) {
    gray[i] = color ? luma(pixels + i * c) : static_cast<float>(pixels[i * c]);
  }
  if (!has_alpha) return AlphaBackground::kNone;
  double weighted = 0.0, weight = 0.0;
  bool translucent = false;
  for (std::size_t i = 0; i < n; ++i) {
    const stbi_uc a = pixels[i * c + c - 1];
    translucent = translucent || a < 255;
    weighted += static_cast<double>(a) * gray[i];
    weight += a;
  }
  if (!translucent) return AlphaBackground::kNone;
  // Fully transparent: nothing drawn; white leaves it blank either way.
  const double mean = weight > 0 ? weighted / weight : 0.0;
  const AlphaBackground background =
      mean < 128.0 ? AlphaBackground::kWhite : AlphaBackground::kBlack;
  const float base = background == AlphaBackground::kWhite ? 255.0f : 0.0f;
  for (std::size_t i = 0; i < n; ++i) {
    const float a = static_cast<float>(pixels[i * c + c - 1]) / 255.0f;
    gray[i] = a * gray[i] + (1.0f - a) * base;
  }
  return background;
}

}  // namespace

const char* alpha_background_name(AlphaBackground background) {
  switch (background) {
    case AlphaBackground::kWhite:
      return "white";
    case AlphaBackground::kBlack:
      return "black";
    case AlphaBackground::kNone:
      break;
  }
  return "none";
}

DecodedImage decode_image(std::span<const std::uint8_t> bytes, const std::string& name,
                          const ImageLimits& limits) {
  require(!bytes.empty(), name, ": empty file (0 bytes), expected an image");
  require(bytes.size() <= limits.max_bytes, name, ": ", bytes.size(),
          " bytes, more than the limit of ", limits.max_bytes, " bytes");
  const int length = to_int(bytes.size(), "image size");
  int width = 0, height = 0, channels = 0;
  if (!stbi_info_from_memory(bytes.data(), length, &width, &height, &channels)) {
    const std::string format = sniff_format(bytes);
    if (format == "png") {
      const auto [w, h] = png_header_size(bytes);
      if (w > 0 && h > 0) check_size(w, h, name, limits);
    }
    if (format.empty()) {
      std::string start;
      for (std::size_t i = 0; i < std::min<std::size_t>(4, bytes.size()); ++i) {
        start += concat(i ? " " : "", "0123456789abcdef"[bytes[i] >> 4],
                        "0123456789abcdef"[bytes[i] & 15]);
      }
      throw Error(concat(name, ": not a readable image: unknown format (", bytes.size(),
                         " bytes starting ", start, "); expected PNG, JPEG, BMP, GIF or PGM/PPM"));
    }
    // stb tried every decoder; its last reason is about another format.
    throw Error(
        concat(name, ": not a readable ", format, " image: the header is corrupt or truncated"));
  }
  const auto w = static_cast<std::size_t>(width), h = static_cast<std::size_t>(height);
  check_size(w, h, name, limits);
  if (sniff_format(bytes) == "jpeg") {
    const std::string unsafe = jpeg_unsafe_reason(bytes);
    require(unsafe.empty(), name, ": corrupt JPEG: ", unsafe);
  }

  // 16 bytes per pixel covers 16-bit RGBA PNG data twice over (stb grows its
  // inflate buffer by doubling), plus room for small tables and headers.
  const std::size_t cap = 16 * w * h + 2 * h + (std::size_t{1} << 20);
  std::unique_ptr<stbi_uc, StbFree> pixels;
  int decoded_w = 0, decoded_h = 0, file_channels = 0;
  bool refused = false;
  {
    AllocationCap guard(cap);
    pixels.reset(
        stbi_load_from_memory(bytes.data(), length, &decoded_w, &decoded_h, &file_channels, 0));
    refused = detail::stb_allocation_refused;
  }
  if (!pixels) {
    if (refused) {
      throw Error(concat(name, ": decompression bomb: decoding a ", w, "x", h,
                         " image needed more than ", cap, " bytes (", stb_reason(), ")"));
    }
    throw Error(concat(name, ": cannot decode ", sniff_format(bytes), " image ", w, "x", h, ": ",
                       stb_reason(), " (truncated or corrupt file?)"));
  }
  require(static_cast<std::size_t>(decoded_w) == w && static_cast<std::size_t>(decoded_h) == h,
          name, ": decoded size ", decoded_w, "x", decoded_h, " differs from the header's ", w, "x",
          h);

  DecodedImage out;
  out.format = sniff_format(bytes);
  out.channels = file_channels;
  out.gray.width = w;
  out.gray.height = h;
  out.gray.pixels.resize(w * h);
  out.alpha_background = to_gray(pixels.get(), w * h, file_channels, out.gray.pixels);
  return out;
}

DecodedImage read_image_file(const std::string& path, const ImageLimits& limits) {
  std::error_code ec;
  const auto status = std::filesystem::status(path, ec);
  require(!ec && std::filesystem::exists(status), path, ": no such file");
  require(std::filesystem::is_regular_file(status), path, ": not a regular file");
  const std::uintmax_t size = std::filesystem::file_size(path, ec);
  require(!ec, path, ": cannot read its size: ", ec.message());
  require(size <= limits.max_bytes, path, ": ", size, " bytes, more than the limit of ",
          limits.max_bytes, " bytes");
  std::ifstream in(path, std::ios::binary);
  require(in.good(), path, ": cannot open for reading: ", os_reason());
  std::vector<std::uint8_t> bytes(static_cast<std::size_t>(size));
  in.read(reinterpret_cast<char*>(bytes.data()), static_cast<std::streamsize>(bytes.size()));
  require(static_cast<std::uintmax_t>(in.gcount()) == size, path, ": read ", in.gcount(), " of ",
          size, " bytes");
  return decode_image(bytes, path, limits);
}

std::vector<std::uint8_t> encode_png(const GrayImage& image) {
  require(image.width > 0 && image.height > 0 && image.pixels.size() == image.width * image.height,
          "encode_png: image ", image.width, "x", image.height, " with ", image.pixels.size(),
          " pixels; expected a non-empty image with width*height pixels");
  std::vector<stbi_uc> gray(image.pixels.size());
  for (std::size_t i = 0; i < gray.size(); ++i) {
    gray[i] = static_cast<stbi_uc>(std::lround(std::clamp(image.pixels[i], 0.0f, 255.0f)));
  }
  std::vector<std::uint8_t> png;
  auto append = [](void* context, void* data, int size) {
    auto* out = static_cast<std::vector<std::uint8_t>*>(context);
    const auto* first = static_cast<const std::uint8_t*>(data);
    out->insert(out->end(), first, first + size);
  };
  const int w = to_int(image.width, "PNG width"), h = to_int(image.height, "PNG height");
  require(stbi_write_png_to_func(append, &png, w, h, 1, gray.data(), w) != 0,
          "encode_png: stb_image_write failed on a ", w, "x", h, " image");
  return png;
}

void write_png(const std::string& path, const GrayImage& image) {
  const std::vector<std::uint8_t> png = encode_png(image);
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  require(out.good(), path, ": cannot open for writing: ", os_reason());
  out.write(reinterpret_cast<const char*>(png.data()), static_cast<std::streamsize>(png.size()));
  out.close();
  if (!out.good()) {
    const std::string reason = os_reason();
    std::error_code ignored;
    std::filesystem::remove(path, ignored);  // no partial file
    require(false, path, ": write failed: ", reason);
  }
}

}  // namespace dpmnist

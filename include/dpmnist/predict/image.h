// Image files in, one gray float image out: PNG, JPEG, BMP, GIF (first frame)
// and PGM/PPM through stb_image, with size limits checked from the header
// BEFORE decoding and a cap on every decoder allocation (decompression bombs).
// Does not resize, threshold or invert: that is preprocess.h.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <vector>

namespace dpmnist {

// Row-major gray image, 0 = black .. 255 = white (floats, not rounded).
struct GrayImage {
  std::size_t width = 0, height = 0;
  std::vector<float> pixels;  // [height,width]

  float at(std::size_t y, std::size_t x) const { return pixels[y * width + x]; }
};

struct ImageLimits {
  std::size_t max_bytes = std::size_t{32} << 20;  // encoded size
  std::size_t max_side = 16384;                   // width and height, each
  std::size_t max_pixels = 36'000'000;            // width * height (6000 x 6000)
};

// How transparency was flattened (see decode_image).
enum class AlphaBackground { kNone, kWhite, kBlack };
const char* alpha_background_name(AlphaBackground background);  // "none", "white", "black"

struct DecodedImage {
  GrayImage gray;
  std::string format;  // "png", "jpeg", "bmp", "gif", "pnm"
  int channels = 0;    // in the file: 1 gray, 2 gray+alpha, 3 rgb, 4 rgba
  AlphaBackground alpha_background = AlphaBackground::kNone;
};

// bytes in (a whole file); `name` names the source in errors ("upload" or a
// path). Steps: reject empty / over max_bytes; read the header only
// (stbi_info_from_memory) and reject unknown formats, zero or over-limit
// dimensions; refuse JPEGs that stb 2.27 mishandles (oversized Huffman
// tables, scan bombs: jpeg_guard.h); decode with every allocation capped near the size the header
// implies (a PNG whose data inflates far beyond its dimensions fails instead
// of allocating gigabytes); gray = 0.299 R + 0.587 G + 0.114 B (Rec. 601,
// as libjpeg). Alpha: drawing apps export opaque strokes on a transparent
// background in either colour, so the background is chosen to contrast the
// strokes: white when the alpha-weighted mean gray of the image is below 128
// (dark strokes), else black; each pixel is then blended over it
// (a*gray + (1-a)*background). Fully opaque images are left as they are.
// Thread-safe. Throws Error "<name>: <reason>" (the decoder's reason included).
DecodedImage decode_image(std::span<const std::uint8_t> bytes, const std::string& name,
                          const ImageLimits& limits = {});

// Reads path (size checked against max_bytes before reading) and decodes it.
DecodedImage read_image_file(const std::string& path, const ImageLimits& limits = {});

// image in (values clamped to 0..255 and rounded); returns an 8-bit gray PNG.
std::vector<std::uint8_t> encode_png(const GrayImage& image);
// The same, written to path; throws naming the path when it cannot be written.
void write_png(const std::string& path, const GrayImage& image);

}  // namespace dpmnist

// A structural check of JPEG files before stb_image decodes them. Debian 12's
// libstb (stb_image 2.27) trusts the code counts of a DHT (Huffman table)
// segment: more than 256 codes overflow its tables (fixed upstream in 2.28,
// "bad DHT header"). This walks the markers the way stb reads them and
// refuses such a table, and files with more scans than any real progressive
// JPEG has (each scan costs stb a pass over the image: thousands of tiny
// scans are a CPU bomb). It does not decode or otherwise validate the image.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>
#include <string>

namespace dpmnist {

// Progressive encoders write about 10 scans; libjpeg-turbo's own limit is 500.
inline constexpr std::size_t kMaxJpegScans = 100;

// bytes in (a whole JPEG file). Returns "" when every DHT segment stb could
// reach is safe and there are at most kMaxJpegScans scans, else the reason,
// e.g. "Huffman table with 300 codes (at most 256)". Non-JPEG bytes give "".
std::string jpeg_unsafe_reason(std::span<const std::uint8_t> bytes);

}  // namespace dpmnist

#include "dpmnist/predict/jpeg_guard.h"

#include "dpmnist/core/error.h"

namespace dpmnist {

namespace {

// A cursor that reads 0 past the end, as stb's get8 does.
struct Reader {
  std::span<const std::uint8_t> bytes;
  std::size_t at = 0;
  bool done() const { return at >= bytes.size(); }
  std::uint8_t get8() { return at < bytes.size() ? bytes[at++] : 0; }
  std::size_t get16() {
    const std::size_t high = get8();
    return (high << 8) | get8();
  }
};

// The DHT segment's tables as stb reads them (reader at the length field).
// Returns "" or the reason; `consistent` false when stb would stop there.
std::string check_dht(Reader& r, bool& consistent) {
  long length = static_cast<long>(r.get16()) - 2;
  while (length > 0) {
    const std::uint8_t q = r.get8();
    if ((q >> 4) > 1 || (q & 15) > 3) {  // stb: "bad DHT header", before building
      consistent = false;
      return "";
    }
    std::size_t codes = 0;
    for (int i = 0; i < 16; ++i) codes += r.get8();
    if (codes > 256) return concat("Huffman table with ", codes, " codes (at most 256)");
    r.at += codes;
    length -= 17 + static_cast<long>(codes);
  }
  consistent = length == 0;
  return "";
}

}  // namespace

std::string jpeg_unsafe_reason(std::span<const std::uint8_t> bytes) {
  Reader r{bytes};
  if (r.get8() != 0xFF || r.get8() != 0xD8) return "";  // not a JPEG: stb's other decoders
  std::size_t scans = 0;
  while (!r.done()) {
    // The next marker: stb skips bytes up to 0xFF and any fill 0xFFs.
    if (r.get8() != 0xFF) continue;
    std::uint8_t m = r.get8();
    while (m == 0xFF && !r.done()) m = r.get8();
    if (m == 0xD9) return "";                                          // EOI
    if (m == 0x00 || m == 0x01 || (m >= 0xD0 && m <= 0xD8)) continue;  // no length
    if (m == 0xC4) {
      bool consistent = true;
      const std::string reason = check_dht(r, consistent);
      if (!reason.empty()) return reason;
      if (!consistent) return "";  // stb stops at this segment with an error
      continue;
    }
    const std::size_t length = r.get16();
    if (length < 2) return "";  // stb refuses the segment
    r.at += length - 2;
    if (m == 0xDA && ++scans > kMaxJpegScans) {
      return concat("more than ", kMaxJpegScans, " scans (each one a pass over the whole image)");
    }
    if (m == 0xDA) {
      // Entropy-coded data: the next marker is 0xFF followed by neither a
      // stuffed 0x00 nor a restart marker.
      while (!r.done()) {
        if (r.get8() != 0xFF) continue;
        std::uint8_t next = r.done() ? 0 : r.bytes[r.at];
        while (next == 0xFF && r.at + 1 < r.bytes.size()) next = r.bytes[++r.at];
        if (next != 0x00 && !(next >= 0xD0 && next <= 0xD7)) {
          --r.at;  // back at the 0xFF
          break;
        }
      }
    }
  }
  return "";
}

}  // namespace dpmnist

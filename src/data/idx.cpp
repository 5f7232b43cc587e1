#include "dpmnist/data/idx.h"

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iterator>

#include "dpmnist/core/error.h"
#include "dpmnist/data/dataset.h"

namespace dpmnist {
namespace {

constexpr std::size_t kImagesHeaderBytes = 16;
constexpr std::size_t kLabelsHeaderBytes = 8;
constexpr std::uint8_t kUbyteType = 0x08;

std::vector<std::uint8_t> read_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  require(in.good(), "file ", path, ": cannot open: ", os_reason());
  std::vector<std::uint8_t> bytes((std::istreambuf_iterator<char>(in)),
                                  std::istreambuf_iterator<char>());
  require(!in.bad(), "file ", path, ": read error");
  return bytes;
}

std::uint32_t big_endian_u32(const std::vector<std::uint8_t>& bytes, std::size_t offset) {
  return std::uint32_t{bytes[offset]} << 24 | std::uint32_t{bytes[offset + 1]} << 16 |
         std::uint32_t{bytes[offset + 2]} << 8 | std::uint32_t{bytes[offset + 3]};
}

std::string hex32(std::uint32_t value) {
  char text[11];
  std::snprintf(text, sizeof text, "0x%08x", value);
  return text;
}

std::string hex8(std::uint8_t value) {
  char text[5];
  std::snprintf(text, sizeof text, "0x%02x", value);
  return text;
}

const char* idx_type_name(std::uint8_t type) {
  switch (type) {
    case 0x08:
      return "unsigned byte";
    case 0x09:
      return "signed byte";
    case 0x0B:
      return "int16";
    case 0x0C:
      return "int32";
    case 0x0D:
      return "float32";
    case 0x0E:
      return "float64";
    default:
      return "not an IDX type";
  }
}

// What a magic number says the file is, for messages about the wrong file.
std::string describe_magic(std::uint32_t magic) {
  if (magic == kIdxImagesMagic) return "an IDX image file";
  if (magic == kIdxLabelsMagic) return "an IDX label file";
  if ((magic >> 16) == 0x1f8b) return "a gzip file: decompress it first";
  if ((magic >> 16) != 0) return "not an IDX file";
  return concat("an IDX file of ", magic & 0xff, " dims, ", idx_type_name((magic >> 8) & 0xff));
}

// Checks the magic (zero leading bytes, ubyte type, dimension count) first, so
// a wrong kind of file is named as such, then that the header is complete.
void check_header(const std::vector<std::uint8_t>& bytes, const std::string& path,
                  std::size_t header_bytes, std::uint32_t expected_magic, const char* expected) {
  require(bytes.size() >= 4, "file ", path, ": holds ", bytes.size(), " bytes, too short for the ",
          header_bytes, "-byte header of ", expected);
  const std::uint32_t magic = big_endian_u32(bytes, 0);
  if (magic != expected_magic) {
    const auto type = static_cast<std::uint8_t>((magic >> 8) & 0xff);
    if ((magic >> 16) == 0 && (magic & 0xff) == (expected_magic & 0xff) && type != kUbyteType) {
      throw Error(concat("file ", path, ": data type byte is ", hex8(type), " (",
                         idx_type_name(type), "), expected ", hex8(kUbyteType),
                         " (unsigned byte)"));
    }
    throw Error(concat("file ", path, ": magic is ", hex32(magic), " (", describe_magic(magic),
                       "), expected ", hex32(expected_magic), " (", expected, ")"));
  }
  require(bytes.size() >= header_bytes, "file ", path, ": holds ", bytes.size(),
          " bytes, too short for the ", header_bytes, "-byte header of ", expected);
}

void check_length(const std::vector<std::uint8_t>& bytes, const std::string& path,
                  std::size_t count, const char* what, std::size_t needed) {
  require(bytes.size() == needed, "file ", path, ": holds ", bytes.size(), " bytes, header says ",
          count, " ", what, " need ", needed,
          bytes.size() < needed ? " (truncated download?)" : " (trailing bytes)");
}

void write_file(const std::string& path, const std::vector<std::uint8_t>& bytes) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  require(out.good(), "file ", path, ": cannot create: ", os_reason());
  out.write(reinterpret_cast<const char*>(bytes.data()),
            static_cast<std::streamsize>(bytes.size()));
  out.close();
  if (!out.good()) {
    const std::string reason = os_reason();
    std::error_code ignored;
    std::filesystem::remove(path, ignored);  // no partial file
    require(false, "file ", path, ": write failed: ", reason);
  }
}

void append_u32(std::vector<std::uint8_t>& bytes, std::size_t value, const std::string& path) {
  require(value <= 0xffffffffu, "file ", path, ": IDX dimension ", value, " exceeds 2^32-1");
  for (int shift = 24; shift >= 0; shift -= 8) {
    bytes.push_back(static_cast<std::uint8_t>((value >> shift) & 0xff));
  }
}

}  // namespace

IdxImages read_idx_images(const std::string& path) {
  const char* expected = "IDX ubyte images [N,28,28]";
  std::vector<std::uint8_t> bytes = read_file(path);
  check_header(bytes, path, kImagesHeaderBytes, kIdxImagesMagic, expected);
  IdxImages images;
  images.count = big_endian_u32(bytes, 4);
  images.rows = big_endian_u32(bytes, 8);
  images.cols = big_endian_u32(bytes, 12);
  require(images.rows == kImageSide && images.cols == kImageSide, "file ", path, ": images are ",
          images.rows, "x", images.cols, ", expected ", kImageSide, "x", kImageSide, " (MNIST)");
  require(images.count > 0, "file ", path, ": header says 0 images, expected at least 1");
  check_length(bytes, path, images.count, "images",
               kImagesHeaderBytes + images.count * images.rows * images.cols);
  images.pixels.assign(bytes.begin() + kImagesHeaderBytes, bytes.end());
  return images;
}

std::vector<std::uint8_t> read_idx_labels(const std::string& path) {
  std::vector<std::uint8_t> bytes = read_file(path);
  check_header(bytes, path, kLabelsHeaderBytes, kIdxLabelsMagic, "IDX ubyte labels [N]");
  const std::size_t count = big_endian_u32(bytes, 4);
  require(count > 0, "file ", path, ": header says 0 labels, expected at least 1");
  check_length(bytes, path, count, "labels", kLabelsHeaderBytes + count);
  return std::vector<std::uint8_t>(bytes.begin() + kLabelsHeaderBytes, bytes.end());
}

void write_idx_images(const std::string& path, const IdxImages& images) {
  require(images.pixels.size() == images.count * images.rows * images.cols, "file ", path, ": ",
          images.pixels.size(), " pixels do not fill ", images.count, "x", images.rows, "x",
          images.cols, " images");
  std::vector<std::uint8_t> bytes;
  bytes.reserve(kImagesHeaderBytes + images.pixels.size());
  append_u32(bytes, kIdxImagesMagic, path);
  append_u32(bytes, images.count, path);
  append_u32(bytes, images.rows, path);
  append_u32(bytes, images.cols, path);
  bytes.insert(bytes.end(), images.pixels.begin(), images.pixels.end());
  write_file(path, bytes);
}

void write_idx_labels(const std::string& path, std::span<const std::uint8_t> labels) {
  std::vector<std::uint8_t> bytes;
  bytes.reserve(kLabelsHeaderBytes + labels.size());
  append_u32(bytes, kIdxLabelsMagic, path);
  append_u32(bytes, labels.size(), path);
  bytes.insert(bytes.end(), labels.begin(), labels.end());
  write_file(path, bytes);
}

}  // namespace dpmnist

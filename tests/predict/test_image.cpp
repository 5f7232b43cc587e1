// Image decoding: every accepted format written by the test itself (stb's
// writer for PNG/JPEG/BMP, PGM/PPM and GIF by hand), gray, colour and alpha;
// and every kind of bad input, each rejected with a reason and the name.
#include <gtest/gtest.h>
#include <zlib.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <string>
#include <thread>
#include <vector>

#include "dpmnist/core/error.h"
#include "dpmnist/core/rng.h"
#include "dpmnist/predict/image.h"
#include "dpmnist/predict/jpeg_guard.h"
#include "support/fixtures.h"
#include "user_style.h"

using namespace dpmnist;
using Bytes = std::vector<std::uint8_t>;

namespace {

// w x h gray gradient, the test pattern of most cases.
Bytes gradient(int w, int h, int channels) {
  Bytes pixels(static_cast<std::size_t>(w * h * channels));
  for (int y = 0; y < h; ++y) {
    for (int x = 0; x < w; ++x) {
      for (int c = 0; c < channels; ++c) {
        pixels[static_cast<std::size_t>((y * w + x) * channels + c)] =
            static_cast<std::uint8_t>((x * 255 / (w - 1) + 40 * c + 7 * y) % 256);
      }
    }
  }
  return pixels;
}

void append(Bytes& out, const std::string& text) {
  out.insert(out.end(), text.begin(), text.end());
}
void append_be32(Bytes& out, std::uint32_t v) {
  for (int s = 24; s >= 0; s -= 8) out.push_back(static_cast<std::uint8_t>(v >> s));
}

// A PNG chunk with its CRC.
void png_chunk(Bytes& out, const std::string& type, const Bytes& data) {
  append_be32(out, static_cast<std::uint32_t>(data.size()));
  Bytes body(type.begin(), type.end());
  body.insert(body.end(), data.begin(), data.end());
  out.insert(out.end(), body.begin(), body.end());
  append_be32(out,
              static_cast<std::uint32_t>(crc32(0, body.data(), static_cast<uInt>(body.size()))));
}

// An 8-bit gray PNG whose header says w x h and whose IDAT holds `zeros`
// zero bytes deflated (streamed: the test never holds them all).
Bytes handmade_png(std::uint32_t w, std::uint32_t h, std::size_t zeros) {
  Bytes out = {0x89, 'P', 'N', 'G', '\r', '\n', 0x1A, '\n'};
  Bytes ihdr;
  append_be32(ihdr, w);
  append_be32(ihdr, h);
  ihdr.insert(ihdr.end(), {8, 0, 0, 0, 0});
  png_chunk(out, "IHDR", ihdr);
  z_stream z{};
  deflateInit(&z, 9);
  Bytes idat, chunk(1 << 20, 0), buffer(1 << 16);
  for (std::size_t left = zeros;;) {
    const std::size_t take = std::min(left, chunk.size());
    left -= take;
    z.next_in = chunk.data();
    z.avail_in = static_cast<uInt>(take);
    do {
      z.next_out = buffer.data();
      z.avail_out = static_cast<uInt>(buffer.size());
      deflate(&z, left == 0 ? Z_FINISH : Z_NO_FLUSH);
      idat.insert(idat.end(), buffer.data(), buffer.data() + (buffer.size() - z.avail_out));
    } while (z.avail_out == 0);
    if (left == 0) break;
  }
  deflateEnd(&z);
  png_chunk(out, "IDAT", idat);
  png_chunk(out, "IEND", {});
  return out;
}

// A GIF89a with a 256-level gray palette; LZW with a clear code every 250
// pixels keeps every code 9 bits wide (no compression, still valid GIF).
Bytes handmade_gif(int w, int h, const Bytes& gray) {
  Bytes out;
  append(out, "GIF89a");
  auto le16 = [&](int v) {
    out.push_back(static_cast<std::uint8_t>(v & 0xFF));
    out.push_back(static_cast<std::uint8_t>(v >> 8));
  };
  le16(w);
  le16(h);
  out.insert(out.end(), {0xF7, 0, 0});
  for (int i = 0; i < 256; ++i) out.insert(out.end(), 3, static_cast<std::uint8_t>(i));
  out.push_back(0x2C);
  le16(0);
  le16(0);
  le16(w);
  le16(h);
  out.push_back(0);
  out.push_back(8);  // minimum code size
  Bytes packed;
  std::uint32_t bits = 0;
  int count = 0;
  auto emit = [&](int code) {
    bits |= static_cast<std::uint32_t>(code) << count;
    for (count += 9; count >= 8; count -= 8, bits >>= 8)
      packed.push_back(static_cast<std::uint8_t>(bits & 0xFF));
  };
  for (std::size_t i = 0; i < gray.size(); ++i) {
    if (i % 250 == 0) emit(256);
    emit(gray[i]);
  }
  emit(257);
  if (count > 0) packed.push_back(static_cast<std::uint8_t>(bits & 0xFF));
  for (std::size_t i = 0; i < packed.size(); i += 255) {
    const std::size_t n = std::min<std::size_t>(255, packed.size() - i);
    out.push_back(static_cast<std::uint8_t>(n));
    out.insert(out.end(), packed.begin() + static_cast<std::ptrdiff_t>(i),
               packed.begin() + static_cast<std::ptrdiff_t>(i + n));
  }
  out.push_back(0);
  out.push_back(0x3B);
  return out;
}

Bytes pnm(const std::string& magic, int w, int h, const Bytes& pixels) {
  Bytes out;
  append(out, magic + "\n# written by test_image\n" + std::to_string(w) + " " + std::to_string(h) +
                  "\n255\n");
  out.insert(out.end(), pixels.begin(), pixels.end());
  return out;
}

float luma(const std::uint8_t* p) {
  return 0.299f * p[0] + 0.587f * p[1] + 0.114f * p[2];
}

// Error message of decoding bytes, or "" when it decodes.
std::string decode_error(const Bytes& bytes, const ImageLimits& limits = {}) {
  try {
    decode_image(bytes, "upload", limits);
  } catch (const Error& e) {
    return e.what();
  }
  return "";
}

}  // namespace

TEST(Image, GrayPngPgmGifAndBmpDecodeExactly) {
  const int w = 37, h = 23;
  const Bytes gray = gradient(w, h, 1);
  const std::vector<std::pair<std::string, Bytes>> files = {
      {"png", test::encode_test_png(gray, w, h, 1)},
      {"pnm", pnm("P5", w, h, gray)},
      {"gif", handmade_gif(w, h, gray)},
      {"bmp", test::encode_test_bmp(gray, w, h, 1)}};
  for (const auto& [format, bytes] : files) {
    const DecodedImage d = decode_image(bytes, "upload");
    EXPECT_EQ(d.format, format);
    ASSERT_EQ(d.gray.width, static_cast<std::size_t>(w)) << format;
    ASSERT_EQ(d.gray.height, static_cast<std::size_t>(h)) << format;
    EXPECT_EQ(d.alpha_background, AlphaBackground::kNone);
    for (std::size_t i = 0; i < gray.size(); ++i) {
      ASSERT_NEAR(d.gray.pixels[i], gray[i], 0.51f) << format << " pixel " << i;
    }
  }
}

TEST(Image, ColourBecomesRec601Luma) {
  const int w = 19, h = 11;
  const Bytes rgb = gradient(w, h, 3);
  for (const Bytes& bytes : {test::encode_test_png(rgb, w, h, 3), pnm("P6", w, h, rgb),
                             test::encode_test_bmp(rgb, w, h, 3)}) {
    const DecodedImage d = decode_image(bytes, "upload");
    EXPECT_EQ(d.channels, 3);
    for (std::size_t i = 0; i < d.gray.pixels.size(); ++i) {
      ASSERT_NEAR(d.gray.pixels[i], luma(&rgb[3 * i]), 1e-3f) << d.format;
    }
  }
}

TEST(Image, JpegDecodesCloseToTheOriginal) {
  const int w = 64, h = 48;
  Bytes smooth(static_cast<std::size_t>(w * h));
  for (int i = 0; i < w * h; ++i)
    smooth[static_cast<std::size_t>(i)] = static_cast<std::uint8_t>(50 + (i % w) * 2);
  for (int channels : {1, 3}) {
    Bytes pixels;
    for (std::uint8_t v : smooth)
      pixels.insert(pixels.end(), static_cast<std::size_t>(channels), v);
    const DecodedImage d =
        decode_image(test::encode_test_jpeg(pixels, w, h, channels, 95), "upload");
    EXPECT_EQ(d.format, "jpeg");
    double error = 0;
    for (std::size_t i = 0; i < smooth.size(); ++i) error += std::abs(d.gray.pixels[i] - smooth[i]);
    EXPECT_LT(error / static_cast<double>(smooth.size()), 3.0) << channels << " channel(s)";
  }
}

TEST(Image, TransparentBackgroundIsChosenToContrastTheStrokes) {
  // A stroke (alpha 255) across a transparent field; half-covered edge pixels.
  const int w = 20, h = 10;
  for (std::uint8_t pen : {std::uint8_t{0}, std::uint8_t{255}}) {
    for (int channels : {2, 4}) {
      Bytes pixels(static_cast<std::size_t>(w * h * channels), 0);
      for (int y = 0; y < h; ++y) {
        for (int x = 0; x < w; ++x) {
          std::uint8_t* p = &pixels[static_cast<std::size_t>((y * w + x) * channels)];
          for (int c = 0; c + 1 < channels; ++c) p[c] = pen;
          p[channels - 1] = y == 4 ? 255 : y == 5 ? 128 : 0;
        }
      }
      const DecodedImage d = decode_image(test::encode_test_png(pixels, w, h, channels), "upload");
      const float background = pen == 0 ? 255.0f : 0.0f;
      EXPECT_EQ(d.alpha_background, pen == 0 ? AlphaBackground::kWhite : AlphaBackground::kBlack);
      EXPECT_FLOAT_EQ(d.gray.at(0, 3), background);
      EXPECT_FLOAT_EQ(d.gray.at(4, 3), static_cast<float>(pen));
      EXPECT_NEAR(d.gray.at(5, 3), 0.5f * (static_cast<float>(pen) + background), 1.0f);
    }
  }
  // Fully opaque RGBA: alpha plays no part.
  Bytes rgba = gradient(8, 8, 4);
  for (std::size_t i = 3; i < rgba.size(); i += 4) rgba[i] = 255;
  const DecodedImage d = decode_image(test::encode_test_png(rgba, 8, 8, 4), "upload");
  EXPECT_EQ(d.alpha_background, AlphaBackground::kNone);
  EXPECT_NEAR(d.gray.pixels[9], luma(&rgba[36]), 1e-3f);
}

TEST(Image, ReadsFilesAndWritesPngThatReadsBack) {
  const std::string dir = test::make_temp_dir("image");
  GrayImage image{5, 3, {0, 10, 20, 30, 40, 50, 60, 70, 80, 90, 100, 110, 120, 130, 255}};
  write_png(dir + "/out.png", image);
  const DecodedImage d = read_image_file(dir + "/out.png");
  EXPECT_EQ(d.gray.pixels, image.pixels);
  EXPECT_EQ(encode_png(image), [&] {
    std::ifstream in(dir + "/out.png", std::ios::binary);
    return Bytes(std::istreambuf_iterator<char>(in), {});
  }());
}

TEST(Image, BadInputIsRejectedWithTheNameAndTheReason) {
  const Bytes png = test::encode_test_png(gradient(40, 40, 1), 40, 40, 1);
  const auto expect_error = [](const std::string& message, const std::string& part) {
    EXPECT_NE(message.find("upload: "), std::string::npos) << message;
    EXPECT_NE(message.find(part), std::string::npos)
        << "'" << message << "' lacks '" << part << "'";
  };
  expect_error(decode_error({}), "empty file (0 bytes)");
  Bytes text;
  append(text, "this is not an image, just text\n");
  expect_error(decode_error(text),
               "not a readable image: unknown format (32 bytes starting 74 68 69 73)");
  expect_error(decode_error(Bytes(png.begin(), png.begin() + 20)),
               "not a readable png image: the header is corrupt or truncated");
  expect_error(
      decode_error(Bytes(png.begin(), png.begin() + static_cast<std::ptrdiff_t>(png.size() / 2))),
      "cannot decode png image 40x40");
  // A TGA-like header with no magic number: refused, not guessed at.
  expect_error(decode_error(Bytes{0, 0, 2, 0, 0, 0, 0, 0, 0, 0, 0, 0, 4, 0, 4, 0, 24, 0}),
               "not a readable image");
  expect_error(decode_error(png, ImageLimits{.max_bytes = 100}),
               "more than the limit of 100 bytes");
}

TEST(Image, AbsurdDimensionsAreRejectedFromTheHeaderAlone) {
  const auto start = std::chrono::steady_clock::now();
  EXPECT_NE(decode_error(handmade_png(100000, 100000, 1000)).find("image is 100000x100000 pixels"),
            std::string::npos);
  EXPECT_NE(decode_error(handmade_png(20000, 100, 1000)).find("each side may be at most 16384"),
            std::string::npos);
  EXPECT_NE(decode_error(handmade_png(10000, 10000, 1000)).find("more than the limit of 36000000"),
            std::string::npos);
  const Bytes pgm = pnm("P5", 15000, 15000, Bytes(10, 0));  // header claims 225 MB, holds 10 bytes
  EXPECT_NE(decode_error(pgm).find("more than the limit"), std::string::npos);
  EXPECT_NE(decode_error(handmade_png(0, 10, 0)).find("upload"), std::string::npos);
  const Bytes small = test::encode_test_png(gradient(40, 40, 1), 40, 40, 1);
  EXPECT_NE(decode_error(small, ImageLimits{.max_pixels = 1000}).find("40x40 = 1600 pixels"),
            std::string::npos);
  // Nothing was decoded: rejecting them all took no time.
  EXPECT_LT(std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count(), 2.0);
}

TEST(Image, DecompressionBombIsStoppedInsideTheDecoder) {
  // A 64 x 64 PNG whose data inflates to 256 MiB: the header passes every
  // limit, so the cap on the decoder's allocations is what stops it.
  const Bytes bomb = handmade_png(64, 64, std::size_t{256} << 20);
  ASSERT_LT(bomb.size(), std::size_t{1} << 20);
  const std::string message = decode_error(bomb);
  EXPECT_NE(message.find("upload: decompression bomb"), std::string::npos) << message;
  // The same file with honest data decodes.
  const DecodedImage d = decode_image(handmade_png(64, 64, 64 * 65), "upload");
  EXPECT_EQ(d.gray.width, 64u);
  // A huge-but-allowed image of zeros (the classic bomb) is refused by size.
  EXPECT_NE(decode_error(handmade_png(30000, 30000, 0)).find("at most 16384"), std::string::npos);
}

TEST(Image, JpegHuffmanTablesThatOverflowStbAreRefused) {
  // stb_image 2.27 (Debian 12) writes past its tables for a DHT segment
  // with more than 256 codes; the guard finds the segment the way stb would.
  const Bytes rgb = gradient(16, 16, 3);
  const Bytes jpeg = test::encode_test_jpeg(rgb, 16, 16, 3, 90);
  EXPECT_EQ(jpeg_unsafe_reason(jpeg), "");
  std::size_t dht = 0;
  for (std::size_t i = 2; i + 1 < jpeg.size(); ++i) {
    if (jpeg[i] == 0xFF && jpeg[i + 1] == 0xC4) {
      dht = i;
      break;
    }
  }
  ASSERT_GT(dht, 0u);
  Bytes evil = jpeg;
  for (std::size_t c = 0; c < 16; ++c) evil[dht + 5 + c] = 40;  // 16 lengths x 40 = 640 codes
  EXPECT_EQ(jpeg_unsafe_reason(evil), "Huffman table with 640 codes (at most 256)");
  EXPECT_EQ(decode_error(evil), "upload: corrupt JPEG: Huffman table with 640 codes (at most 256)");
  // Found behind fill bytes, after other segments, and not in a PNG.
  Bytes filled(jpeg.begin(), jpeg.begin() + static_cast<std::ptrdiff_t>(dht));
  filled.insert(filled.end(), {0xFF, 0xFF});
  filled.insert(filled.end(), evil.begin() + static_cast<std::ptrdiff_t>(dht), evil.end());
  EXPECT_NE(jpeg_unsafe_reason(filled), "");
  EXPECT_EQ(jpeg_unsafe_reason(test::encode_test_png(rgb, 16, 16, 3)), "");
  // A scan bomb: the one scan repeated 150 times before EOI.
  std::size_t sos = 0;
  for (std::size_t i = 2; i + 1 < jpeg.size(); ++i) {
    if (jpeg[i] == 0xFF && jpeg[i + 1] == 0xDA) sos = i;
  }
  Bytes scans(jpeg.begin(), jpeg.begin() + static_cast<std::ptrdiff_t>(sos));
  for (int k = 0; k < 150; ++k)
    scans.insert(scans.end(), jpeg.begin() + static_cast<std::ptrdiff_t>(sos), jpeg.end() - 2);
  scans.insert(scans.end(), {0xFF, 0xD9});
  EXPECT_EQ(jpeg_unsafe_reason(scans),
            "more than 100 scans (each one a pass over the whole image)");
}

TEST(Image, MissingFilesAndDirectoriesAreNamed) {
  const std::string dir = test::make_temp_dir("image-missing");
  try {
    read_image_file(dir + "/absent.png");
    FAIL();
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find(dir + "/absent.png: no such file"), std::string::npos);
  }
  try {
    read_image_file(dir);
    FAIL();
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("not a regular file"), std::string::npos);
  }
}

TEST(Image, ConcurrentDecodesKeepTheirOwnResultsAndReasons) {
  const Bytes good = test::encode_test_png(gradient(50, 30, 1), 50, 30, 1);
  const Bytes truncated(good.begin(), good.begin() + static_cast<std::ptrdiff_t>(good.size() / 2));
  const Bytes bomb = handmade_png(64, 64, std::size_t{64} << 20);
  std::vector<std::thread> threads;
  std::vector<int> failures(6, 0);
  for (int t = 0; t < 6; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < 20; ++i) {
        const int kind = (t + i) % 3;
        const std::string message = decode_error(kind == 0 ? good : kind == 1 ? truncated : bomb);
        const bool right = kind == 0   ? message.empty()
                           : kind == 1 ? message.find("cannot decode png") != std::string::npos
                                       : message.find("decompression bomb") != std::string::npos;
        failures[static_cast<std::size_t>(t)] += right ? 0 : 1;
      }
    });
  }
  for (std::thread& thread : threads) thread.join();
  for (int f : failures) EXPECT_EQ(f, 0);
}

TEST(Image, MutatedFilesFailCleanlyOrDecode) {
  // Random byte flips and truncations of a valid file of each format: every
  // outcome is an image or an Error, never a crash (run under ASan in CI's
  // sanitizer build as well).
  const Bytes gray = gradient(33, 21, 1), rgb = gradient(33, 21, 3);
  const std::vector<Bytes> originals = {
      test::encode_test_png(rgb, 33, 21, 3), test::encode_test_jpeg(rgb, 33, 21, 3, 80),
      test::encode_test_bmp(gray, 33, 21, 1), handmade_gif(33, 21, gray), pnm("P6", 33, 21, rgb)};
  Rng rng(99);
  std::size_t decoded = 0, rejected = 0;
  for (const Bytes& original : originals) {
    for (int trial = 0; trial < 300; ++trial) {
      Bytes bytes = original;
      const std::uint64_t flips = 1 + rng.below(8);
      for (std::uint64_t f = 0; f < flips; ++f) {
        bytes[rng.below(bytes.size())] = static_cast<std::uint8_t>(rng.below(256));
      }
      if (trial % 3 == 0) bytes.resize(1 + rng.below(bytes.size()));
      try {
        const DecodedImage d = decode_image(bytes, "upload", ImageLimits{.max_pixels = 1u << 22});
        EXPECT_EQ(d.gray.pixels.size(), d.gray.width * d.gray.height);
        ++decoded;
      } catch (const Error& e) {
        EXPECT_EQ(std::string(e.what()).rfind("upload: ", 0), 0u) << e.what();
        ++rejected;
      }
    }
  }
  EXPECT_GT(decoded, 0u);
  EXPECT_GT(rejected, 0u);
}

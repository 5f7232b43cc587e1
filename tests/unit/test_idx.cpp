// IDX reader: accepts a well-formed tiny file; rejects truncated, over-long,
// wrong-magic, wrong-dims and wrong-dtype files with messages naming the file.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "dpmnist/core/error.h"
#include "dpmnist/data/idx.h"

namespace dpmnist {
namespace {

class IdxTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ =
        std::filesystem::temp_directory_path() /
        ("dpmnist_test_idx_" + std::to_string(::testing::UnitTest::GetInstance()->random_seed()) +
         "_" + ::testing::UnitTest::GetInstance()->current_test_info()->name());
    std::filesystem::create_directories(dir_);
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }
  std::string path(const std::string& name) const { return (dir_ / name).string(); }

  static IdxImages tiny_images(std::size_t count, std::size_t rows = 28, std::size_t cols = 28) {
    IdxImages images{count, rows, cols, std::vector<std::uint8_t>(count * rows * cols)};
    for (std::size_t i = 0; i < images.pixels.size(); ++i) {
      images.pixels[i] = static_cast<std::uint8_t>(i * 7 % 256);
    }
    return images;
  }

  static std::vector<std::uint8_t> bytes_of(const std::string& file) {
    std::ifstream in(file, std::ios::binary);
    return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
  }
  static void put_bytes(const std::string& file, const std::vector<std::uint8_t>& bytes) {
    std::ofstream out(file, std::ios::binary | std::ios::trunc);
    out.write(reinterpret_cast<const char*>(bytes.data()),
              static_cast<std::streamsize>(bytes.size()));
  }

  std::filesystem::path dir_;
};

// The message of the Error that call throws, or a failure if it throws none.
template <class Call>
std::string error_of(Call call) {
  try {
    call();
  } catch (const Error& error) {
    return error.what();
  }
  ADD_FAILURE() << "expected dpmnist::Error";
  return "";
}

TEST_F(IdxTest, RoundTripsGoodFiles) {
  const IdxImages written = tiny_images(3);
  write_idx_images(path("images"), written);
  const std::vector<std::uint8_t> labels = {7, 0, 9};
  write_idx_labels(path("labels"), labels);
  const IdxImages read = read_idx_images(path("images"));
  EXPECT_EQ(read.count, 3u);
  EXPECT_EQ(read.rows, 28u);
  EXPECT_EQ(read.cols, 28u);
  EXPECT_EQ(read.pixels, written.pixels);
  EXPECT_EQ(read_idx_labels(path("labels")), labels);
  EXPECT_EQ(bytes_of(path("images")).size(), 16u + 3u * 784u);
}

TEST_F(IdxTest, RejectsTruncatedImages) {
  write_idx_images(path("images"), tiny_images(3));
  auto bytes = bytes_of(path("images"));
  bytes.resize(bytes.size() - 1);
  put_bytes(path("images"), bytes);
  const std::string message = error_of([&] { read_idx_images(path("images")); });
  EXPECT_NE(message.find(path("images")), std::string::npos) << message;
  EXPECT_NE(message.find("holds 2367 bytes, header says 3 images need 2368"), std::string::npos)
      << message;
}

TEST_F(IdxTest, RejectsOverlongLabels) {
  write_idx_labels(path("labels"), std::vector<std::uint8_t>{1, 2});
  auto bytes = bytes_of(path("labels"));
  bytes.push_back(0);
  put_bytes(path("labels"), bytes);
  const std::string message = error_of([&] { read_idx_labels(path("labels")); });
  EXPECT_NE(message.find(path("labels")), std::string::npos) << message;
  EXPECT_NE(message.find("holds 11 bytes, header says 2 labels need 10"), std::string::npos)
      << message;
}

TEST_F(IdxTest, RejectsFileShorterThanHeader) {
  put_bytes(path("stub"), {0, 0, 8, 3, 0});
  const std::string message = error_of([&] { read_idx_images(path("stub")); });
  EXPECT_NE(message.find(path("stub")), std::string::npos) << message;
  EXPECT_NE(message.find("holds 5 bytes, too short"), std::string::npos) << message;
}

TEST_F(IdxTest, RejectsLabelFileGivenAsImages) {
  write_idx_labels(path("labels"), std::vector<std::uint8_t>{1, 2});
  const std::string message = error_of([&] { read_idx_images(path("labels")); });
  EXPECT_NE(message.find(path("labels")), std::string::npos) << message;
  EXPECT_NE(message.find("magic is 0x00000801 (an IDX label file), expected 0x00000803"),
            std::string::npos)
      << message;
}

TEST_F(IdxTest, RejectsImageFileGivenAsLabels) {
  write_idx_images(path("images"), tiny_images(1));
  const std::string message = error_of([&] { read_idx_labels(path("images")); });
  EXPECT_NE(message.find("magic is 0x00000803 (an IDX image file), expected 0x00000801"),
            std::string::npos)
      << message;
}

TEST_F(IdxTest, RejectsGzipAndForeignFiles) {
  put_bytes(path("gz"), {0x1f, 0x8b, 0x08, 0x00, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0});
  const std::string gz = error_of([&] { read_idx_images(path("gz")); });
  EXPECT_NE(gz.find("gzip"), std::string::npos) << gz;
  put_bytes(path("text"), std::vector<std::uint8_t>(20, 'x'));
  const std::string text = error_of([&] { read_idx_labels(path("text")); });
  EXPECT_NE(text.find("not an IDX file"), std::string::npos) << text;
  EXPECT_NE(text.find(path("text")), std::string::npos) << text;
}

TEST_F(IdxTest, RejectsWrongDims) {
  write_idx_images(path("images"), tiny_images(2, 27, 28));
  const std::string message = error_of([&] { read_idx_images(path("images")); });
  EXPECT_NE(message.find(path("images")), std::string::npos) << message;
  EXPECT_NE(message.find("images are 27x28, expected 28x28"), std::string::npos) << message;
}

TEST_F(IdxTest, RejectsWrongDataType) {
  write_idx_images(path("images"), tiny_images(1));
  auto bytes = bytes_of(path("images"));
  bytes[2] = 0x0D;
  put_bytes(path("images"), bytes);
  const std::string message = error_of([&] { read_idx_images(path("images")); });
  EXPECT_NE(message.find(path("images")), std::string::npos) << message;
  EXPECT_NE(message.find("data type byte is 0x0d (float32), expected 0x08"), std::string::npos)
      << message;
}

TEST_F(IdxTest, RejectsZeroCount) {
  write_idx_images(path("images"), tiny_images(0));
  const std::string message = error_of([&] { read_idx_images(path("images")); });
  EXPECT_NE(message.find("header says 0 images"), std::string::npos) << message;
}

TEST_F(IdxTest, RejectsMissingFile) {
  const std::string message = error_of([&] { read_idx_labels(path("absent")); });
  EXPECT_NE(message.find(path("absent")), std::string::npos) << message;
  EXPECT_NE(message.find("cannot open"), std::string::npos) << message;
}

}  // namespace
}  // namespace dpmnist

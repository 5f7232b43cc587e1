#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>

#include "dpmnist/checkpoint.h"
#include "dpmnist/hdf5_file.h"
#include "dpmnist/network.h"
#include "support/fixtures.h"

using namespace dpmnist;

namespace {

Checkpoint sample_checkpoint() {
  Checkpoint c;
  c.widths = {6, 4, 3};
  Network net(c.widths, 1);
  net.init_glorot(5);
  c.params.assign(net.params().begin(), net.params().end());
  for (std::size_t i = 0; i < c.params.size(); ++i) {
    c.adam_m.push_back(0.001f * static_cast<float>(i));
    c.adam_v.push_back(0.0001f * static_cast<float>(i));
  }
  c.adam_step = 17;
  c.epoch = 2;
  c.global_step = 17;
  c.world_size = 3;
  c.seed = 42;
  c.config_text = "train.epochs = 5\n";
  EpochMetrics m;
  m.epoch = 1;
  m.test_acc = 0.5;
  m.world_size = 3;
  c.history = {m, m};
  c.history[1].epoch = 2;
  c.history[1].test_acc = 0.75;
  return c;
}

std::string error_of(const std::string& path) {
  try {
    load_checkpoint(path);
  } catch (const std::exception& e) {
    return e.what();
  }
  return "";
}

}  // namespace

TEST(Checkpoint, RoundTripIsExact) {
  const std::string path = test::make_temp_dir("ckpt") + "/checkpoint.h5";
  const Checkpoint c = sample_checkpoint();
  save_checkpoint(path, c);
  EXPECT_FALSE(std::filesystem::exists(path + ".tmp"));
  const Checkpoint r = load_checkpoint(path);
  EXPECT_EQ(r.widths, c.widths);
  EXPECT_EQ(r.params, c.params);
  EXPECT_EQ(r.adam_m, c.adam_m);
  EXPECT_EQ(r.adam_v, c.adam_v);
  EXPECT_EQ(r.adam_step, 17);
  EXPECT_EQ(r.epoch, 2);
  EXPECT_EQ(r.world_size, 3);
  EXPECT_EQ(r.config_text, c.config_text);
  ASSERT_EQ(r.history.size(), 2u);
  EXPECT_EQ(r.history[1].test_acc, 0.75);
  EXPECT_EQ(r.history[1].epoch, 2);
}

TEST(Checkpoint, KernelsAreStoredInKerasLayoutInOutUnderModelDenseN) {
  const std::string path = test::make_temp_dir("ckpt") + "/checkpoint.h5";
  const Checkpoint c = sample_checkpoint();
  save_checkpoint(path, c);
  const H5File file = H5File::open_read(path);
  EXPECT_EQ(file.shape("/model/dense_0/kernel"), (Shape{6, 4}));
  EXPECT_EQ(file.shape("/model/dense_1/bias"), (Shape{3}));
  EXPECT_EQ(file.read_attr_string("/model", "activation"), "relu");
  const std::vector<float> kernel = file.read<float>("/model/dense_1/kernel");
  // dense_1's kernel follows dense_0's kernel and bias in the flat buffer.
  EXPECT_EQ(kernel[0], c.params[6 * 4 + 4]);
}

TEST(Checkpoint, CorruptedTruncatedAndForeignFilesAreRejectedWithTheirName) {
  const std::string dir = test::make_temp_dir("ckpt");
  const std::string path = dir + "/checkpoint.h5";
  save_checkpoint(path, sample_checkpoint());

  // Change one weight in place behind the checkpoint's back (raw HDF5 calls):
  // the file stays valid HDF5, only the content checksum can catch it.
  const std::string tampered = dir + "/tampered.h5";
  std::filesystem::copy_file(path, tampered);
  {
    const hid_t file = H5Fopen(tampered.c_str(), H5F_ACC_RDWR, H5P_DEFAULT);
    ASSERT_GE(file, 0);
    const hid_t dataset = H5Dopen2(file, "/model/dense_1/bias", H5P_DEFAULT);
    const float changed[3] = {0.5f, 0.25f, 0.125f};
    H5Dwrite(dataset, H5T_NATIVE_FLOAT, H5S_ALL, H5S_ALL, H5P_DEFAULT, changed);
    H5Dclose(dataset);
    H5Fclose(file);
  }
  EXPECT_NE(error_of(tampered).find("checksum"), std::string::npos);
  EXPECT_NE(error_of(tampered).find("tampered.h5"), std::string::npos);

  // Flip bytes in the middle of the file: either HDF5 or the checksum objects.
  const std::string flipped = dir + "/flipped.h5";
  std::filesystem::copy_file(path, flipped);
  {
    std::fstream f(flipped, std::ios::in | std::ios::out | std::ios::binary);
    f.seekg(0, std::ios::end);
    const auto size = static_cast<std::streamoff>(f.tellg());
    // Weights are the bulk of the file; overwrite a run of them.
    for (std::streamoff at = size / 3; at < size / 3 + 64; ++at) {
      f.seekp(at);
      f.put('\x7f');
    }
  }
  EXPECT_NE(error_of(flipped).find("flipped.h5"), std::string::npos);

  const std::string truncated = dir + "/truncated.h5";
  std::filesystem::copy_file(path, truncated);
  std::filesystem::resize_file(truncated, std::filesystem::file_size(path) / 2);
  EXPECT_NE(error_of(truncated).find("truncated.h5"), std::string::npos);

  const std::string foreign = dir + "/foreign.h5";
  std::ofstream(foreign) << "not hdf5 at all";
  EXPECT_NE(error_of(foreign).find("foreign.h5"), std::string::npos);
  EXPECT_NE(error_of(dir + "/missing.h5").find("missing.h5"), std::string::npos);
}

TEST(Checkpoint, ASaveThatFailsLeavesThePreviousFileIntact) {
  const std::string dir = test::make_temp_dir("ckpt");
  const std::string path = dir + "/checkpoint.h5";
  const Checkpoint good = sample_checkpoint();
  save_checkpoint(path, good);
  Checkpoint bad = good;
  bad.adam_m.pop_back();  // inconsistent: rejected before anything is written
  EXPECT_THROW(save_checkpoint(path, bad), std::exception);
  EXPECT_EQ(load_checkpoint(path).params, good.params);
}

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <sstream>

#include "dpmnist/data/checkpoint.h"
#include "dpmnist/data/hdf5_file.h"
#include "dpmnist/nn/network.h"
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

  // Overwrite bytes of the stored weights on disk (where HDF5 keeps the
  // contiguous data of dense_0/kernel), as a failing disk would.
  const std::string flipped = dir + "/flipped.h5";
  std::filesystem::copy_file(path, flipped);
  haddr_t offset = HADDR_UNDEF;
  {
    const hid_t file = H5Fopen(flipped.c_str(), H5F_ACC_RDONLY, H5P_DEFAULT);
    const hid_t dataset = H5Dopen2(file, "/model/dense_0/kernel", H5P_DEFAULT);
    offset = H5Dget_offset(dataset);
    H5Dclose(dataset);
    H5Fclose(file);
  }
  ASSERT_NE(offset, HADDR_UNDEF);
  {
    std::fstream f(flipped, std::ios::in | std::ios::out | std::ios::binary);
    f.seekp(static_cast<std::streamoff>(offset) + 8);
    f.write("\x7f\x7f\x7f\x7f", 4);
  }
  EXPECT_NE(error_of(flipped).find("checksum"), std::string::npos) << error_of(flipped);
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

TEST(Checkpoint, RunDirectoryKeepsTheNewestKAndFallsBackPastACorruptedOne) {
  const std::string dir = test::make_temp_dir("ckpt");
  Checkpoint c = sample_checkpoint();
  std::vector<std::string> written;
  for (std::int64_t step = 10; step <= 40; step += 10) {
    c.global_step = step;
    c.params[0] = static_cast<float>(step);
    written.push_back(save_run_checkpoint(dir, c, 3));
  }
  EXPECT_FALSE(std::filesystem::exists(written[0])) << "only the newest 3 are kept";
  for (std::size_t i = 1; i < written.size(); ++i) EXPECT_TRUE(std::filesystem::exists(written[i]));
  EXPECT_EQ(load_checkpoint(dir + "/checkpoint.h5").global_step, 40);

  std::ostringstream log;
  auto found = find_newest_checkpoint(dir, log);
  ASSERT_TRUE(found.has_value());
  EXPECT_EQ(found->checkpoint.global_step, 40);

  // Corrupt the newest: the search reports it and takes the one before.
  std::filesystem::resize_file(written[3], std::filesystem::file_size(written[3]) / 2);
  found = find_newest_checkpoint(dir, log);
  ASSERT_TRUE(found.has_value());
  EXPECT_EQ(found->checkpoint.global_step, 30);
  EXPECT_EQ(found->checkpoint.params[0], 30.0f);
  EXPECT_NE(log.str().find(written[3]), std::string::npos) << log.str();

  EXPECT_FALSE(find_newest_checkpoint(test::make_temp_dir("empty"), log).has_value());
}

TEST(Checkpoint, MidEpochPositionRoundTrips) {
  const std::string path = test::make_temp_dir("ckpt") + "/checkpoint.h5";
  Checkpoint c = sample_checkpoint();
  c.step_in_epoch = 123;
  c.epoch_sums = {45.5, 300, 400};
  c.trained = {1, 0, 0, 1, 1, 0, 1};
  save_checkpoint(path, c);
  const Checkpoint r = load_checkpoint(path);
  EXPECT_EQ(r.step_in_epoch, 123);
  EXPECT_EQ(r.epoch_sums, c.epoch_sums);
  EXPECT_EQ(r.trained, c.trained);
  EXPECT_EQ(r.format_version, kCheckpointFormatVersion);

  // The progress is covered by the content checksum like the weights.
  const hid_t file = H5Fopen(path.c_str(), H5F_ACC_RDWR, H5P_DEFAULT);
  ASSERT_GE(file, 0);
  const hid_t dataset = H5Dopen2(file, "/progress/trained", H5P_DEFAULT);
  const std::uint8_t changed[7] = {1, 1, 0, 1, 1, 0, 1};
  H5Dwrite(dataset, H5T_NATIVE_UINT8, H5S_ALL, H5S_ALL, H5P_DEFAULT, changed);
  H5Dclose(dataset);
  H5Fclose(file);
  EXPECT_NE(error_of(path).find("checksum"), std::string::npos) << error_of(path);
}

namespace {
void set_format_version(const std::string& path, std::int64_t version) {
  const hid_t file = H5Fopen(path.c_str(), H5F_ACC_RDWR, H5P_DEFAULT);
  ASSERT_GE(file, 0);
  const hid_t attr = H5Aopen(file, "format_version", H5P_DEFAULT);
  ASSERT_GE(attr, 0);
  H5Awrite(attr, H5T_NATIVE_INT64, &version);
  H5Aclose(attr);
  H5Fclose(file);
}
}  // namespace

TEST(Checkpoint, FormatVersionOneIsReadAndANewerOneRefusedNeverRemoved) {
  const std::string dir = test::make_temp_dir("ckpt");
  const std::string path = dir + "/checkpoint.h5";
  Checkpoint c = sample_checkpoint();
  c.step_in_epoch = 9;  // version 1 recorded the step only
  save_checkpoint(path, c);
  set_format_version(path, 1);
  const Checkpoint old = load_checkpoint(path);
  EXPECT_EQ(old.format_version, 1);
  EXPECT_EQ(old.step_in_epoch, 9);
  EXPECT_TRUE(old.trained.empty());

  set_format_version(path, kCheckpointFormatVersion + 1);
  EXPECT_NE(error_of(path).find("written by a newer dpmnist"), std::string::npos) << error_of(path);
  std::ostringstream log;
  EXPECT_FALSE(find_newest_checkpoint(dir, log).has_value());
  EXPECT_TRUE(std::filesystem::exists(path));
}

TEST(Checkpoint, ALoneCheckpointH5IsACandidateAndAFreshStartSetsFilesAsideNotDeletes) {
  const std::string dir = test::make_temp_dir("ckpt");
  Checkpoint c = sample_checkpoint();
  c.global_step = 7;
  save_checkpoint(dir + "/checkpoint.h5", c);
  EXPECT_EQ(run_checkpoint_files(dir), std::vector<std::string>{dir + "/checkpoint.h5"});
  std::ostringstream log;
  auto found = find_newest_checkpoint(dir, log);
  ASSERT_TRUE(found.has_value());
  EXPECT_EQ(found->path, dir + "/checkpoint.h5");
  EXPECT_EQ(found->checkpoint.global_step, 7);

  // Numbered files come first, newest first, then checkpoint.h5 unless it is
  // a link to one of them.
  c.global_step = 20;
  const std::string numbered = save_run_checkpoint(dir, c, 3);
  EXPECT_EQ(run_checkpoint_files(dir), std::vector<std::string>{numbered});
  c.global_step = 5;
  std::filesystem::remove(dir + "/checkpoint.h5");
  save_checkpoint(dir + "/checkpoint.h5", c);
  EXPECT_EQ(run_checkpoint_files(dir),
            (std::vector<std::string>{numbered, dir + "/checkpoint.h5"}));

  const std::string aside = set_aside_run_checkpoints(dir);
  ASSERT_FALSE(aside.empty());
  EXPECT_TRUE(run_checkpoint_files(dir).empty());
  EXPECT_EQ(load_checkpoint(aside + "/checkpoint-0000000020.h5").global_step, 20);
  EXPECT_EQ(load_checkpoint(aside + "/checkpoint.h5").global_step, 5);
  EXPECT_EQ(set_aside_run_checkpoints(dir), "") << "nothing left to move";
  EXPECT_FALSE(find_newest_checkpoint(dir, log).has_value());
}

// Histories written before the comm phase was renamed call it "allreduce":
// they still load, into the comm phase, and unknown columns are skipped.
TEST(Metrics, OldCommPhaseColumnsAndUnknownOnesLoad) {
  const std::vector<std::string> names = {"epoch",         "allreduce_min",  "allreduce_median",
                                          "allreduce_max", "someday_column", "forward_median"};
  const std::vector<double> values = {3, 0.1, 0.2, 0.3, 99, 0.5};
  const EpochMetrics m = metrics_from_values(names, values);
  EXPECT_EQ(m.epoch, 3);
  EXPECT_EQ(m.phases[kCommPhase].min, 0.1);
  EXPECT_EQ(m.phases[kCommPhase].median, 0.2);
  EXPECT_EQ(m.phases[kCommPhase].max, 0.3);
  EXPECT_EQ(m.phases[kForwardPhase].median, 0.5);
  EXPECT_EQ(std::string(kPhaseNames[kCommPhase]), "comm");
}

// Output locations are checked before any work, with the path and the OS's reason.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <string>

#include "dpmnist/core/error.h"
#include "support/fixtures.h"

using namespace dpmnist;

TEST(Error, OutputLocationsAreCheckedWithThePathAndTheReason) {
  const std::string dir = test::make_temp_dir("out");
  const std::string file = dir + "/a-file";
  std::ofstream(file) << "x";
  EXPECT_EQ(cannot_write_file(dir + "/data.h5"), "");
  EXPECT_EQ(
      cannot_write_file(file + "/data.h5"),
      "output file " + file + "/data.h5: cannot write there: " + file + " is not a directory");
  EXPECT_EQ(cannot_write_file(dir + "/missing/data.h5"),
            "output file " + dir + "/missing/data.h5: cannot write there: " + dir +
                "/missing does not exist");
  EXPECT_EQ(cannot_write_file(dir), "output file " + dir + " is a directory");

  EXPECT_EQ(cannot_use_directory(dir + "/run/sub"), "");
  EXPECT_TRUE(std::filesystem::is_directory(dir + "/run/sub"));
  EXPECT_EQ(cannot_use_directory(file + "/run"),
            "output directory " + file + "/run: cannot create it: Not a directory");
}

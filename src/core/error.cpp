#include "dpmnist/core/error.h"

#include <unistd.h>

#include <cerrno>
#include <climits>
#include <cstring>
#include <filesystem>

namespace dpmnist {

namespace {

// "" when this process may create files in dir, else why not.
std::string cannot_write_in(const std::string& dir) {
  std::error_code error;
  if (!std::filesystem::exists(dir, error)) return concat(dir, " does not exist");
  if (!std::filesystem::is_directory(dir, error)) return concat(dir, " is not a directory");
  if (::access(dir.c_str(), W_OK | X_OK) != 0) return concat(dir, ": ", std::strerror(errno));
  return "";
}

}  // namespace

std::string os_reason() {
  return errno != 0 ? std::strerror(errno) : "no reason given by the system";
}

std::string cannot_write_file(const std::string& path) {
  const std::filesystem::path file(path);
  std::error_code error;
  if (std::filesystem::is_directory(file, error))
    return concat("output file ", path, " is a directory");
  const std::string dir = file.has_parent_path() ? file.parent_path().string() : ".";
  const std::string why = cannot_write_in(dir);
  return why.empty() ? "" : concat("output file ", path, ": cannot write there: ", why);
}

std::string cannot_use_directory(const std::string& path) {
  std::error_code error;
  std::filesystem::create_directories(path, error);
  if (error) return concat("output directory ", path, ": cannot create it: ", error.message());
  const std::string why = cannot_write_in(path);
  return why.empty() ? "" : concat("output directory ", path, ": cannot write there: ", why);
}

int to_int(std::size_t n, const char* what) {
  require(n <= static_cast<std::size_t>(INT_MAX), what, " = ", n,
          " does not fit in int (MPI and BLAS take int counts); use a smaller batch or layer");
  return static_cast<int>(n);
}

}  // namespace dpmnist

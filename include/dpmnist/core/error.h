// The one exception type of dpmnist, a message builder, and the checked size
// conversions every call into MPI, BLAS or HDF5 goes through.
// Library code throws dpmnist::Error; only the apps' main() catches and exits.
#pragma once

#include <cstddef>
#include <sstream>
#include <stdexcept>
#include <string>

namespace dpmnist {

class Error : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// concat("file ", path, ": ", n, " bytes") -> one string, for error messages.
template <class... Parts>
std::string concat(const Parts&... parts) {
  std::ostringstream out;
  (out << ... << parts);
  return out.str();
}

// Throws Error(concat(parts...)) unless ok.
template <class... Parts>
void require(bool ok, const Parts&... parts) {
  if (!ok) throw Error(concat(parts...));
}

// Checks of an output location, made before any work so a long run never
// ends on an unwritable path. Each returns "" when fine, else a message that
// names the path and the operating system's reason ("Permission denied").
// A file to be created at path: its directory exists and may be written.
std::string cannot_write_file(const std::string& path);
// A directory for output at path: created with its parents where missing,
// then checked to be writable.
std::string cannot_use_directory(const std::string& path);

// The operating system's reason for the last failed call (strerror(errno)),
// for messages built right after it: "No such file or directory".
std::string os_reason();

// n as int for MPI/BLAS; throws naming `what` if n exceeds INT_MAX.
int to_int(std::size_t n, const char* what);

}  // namespace dpmnist

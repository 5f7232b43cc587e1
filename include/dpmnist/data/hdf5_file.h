// The only door to HDF5: an open file, whole-dataset and row-range reads and
// writes of the few element types dpmnist stores, and scalar attributes.
// Groups are created on demand. Every read checks the stored type and shape.
#pragma once

#include <hdf5.h>
#include <mpi.h>

#include <cstdint>
#include <span>
#include <string>
#include <vector>

namespace dpmnist {

using Shape = std::vector<std::size_t>;

class H5File {
 public:
  static H5File open_read(const std::string& path);
  // Opens with the MPI-IO driver; reads through read_rows are collective.
  static H5File open_read_parallel(const std::string& path, MPI_Comm comm);
  // Creates or truncates path.
  static H5File create(const std::string& path);

  H5File(H5File&& other) noexcept;
  H5File& operator=(H5File&& other) noexcept;
  H5File(const H5File&) = delete;
  H5File& operator=(const H5File&) = delete;
  ~H5File();

  const std::string& path() const { return path_; }
  bool exists(const std::string& name) const;
  Shape shape(const std::string& dataset) const;

  // Supported T: std::uint8_t, std::int32_t, std::int64_t, float, double.
  template <class T>
  void write(const std::string& dataset, std::span<const T> values, const Shape& shape);
  // Whole dataset; throws unless the stored shape equals `expected`
  // (an empty `expected` accepts any shape).
  template <class T>
  std::vector<T> read(const std::string& dataset, const Shape& expected = {}) const;
  // Rows [begin, end) of the first dimension, into out (size = rows * row size).
  template <class T>
  void read_rows(const std::string& dataset, std::size_t begin, std::size_t end,
                 std::span<T> out) const;

  // Attributes on an object ("/" for the file, a group or a dataset).
  void write_attr(const std::string& object, const std::string& name, const std::string& value);
  void write_attr(const std::string& object, const std::string& name, std::int64_t value);
  void write_attr(const std::string& object, const std::string& name, double value);
  bool has_attr(const std::string& object, const std::string& name) const;
  std::string read_attr_string(const std::string& object, const std::string& name) const;
  std::int64_t read_attr_int(const std::string& object, const std::string& name) const;
  double read_attr_double(const std::string& object, const std::string& name) const;

  // Flushes HDF5's buffers to the operating system.
  void flush();
  // Closes now (the destructor also closes); errors surface here, not silently.
  void close();

 private:
  H5File(hid_t id, std::string path, bool parallel);
  hid_t id_ = H5I_INVALID_HID;
  std::string path_;
  bool parallel_ = false;
};

}  // namespace dpmnist

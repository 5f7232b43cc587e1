#include "dpmnist/data/hdf5_file.h"

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <utility>

#include "dpmnist/core/error.h"

namespace dpmnist {
namespace {

// errno after an HDF5 write (cleared before it): the system's reason, such as
// ": No space left on device", or a hint when HDF5 failed for its own reasons.
std::string write_reason(int error) {
  return error ? concat(": ", std::strerror(error)) : " (HDF5 gave no system error)";
}

template <class T>
hid_t native_type();
template <>
hid_t native_type<std::uint8_t>() {
  return H5T_NATIVE_UINT8;
}
template <>
hid_t native_type<std::int32_t>() {
  return H5T_NATIVE_INT32;
}
template <>
hid_t native_type<std::int64_t>() {
  return H5T_NATIVE_INT64;
}
template <>
hid_t native_type<float>() {
  return H5T_NATIVE_FLOAT;
}
template <>
hid_t native_type<double>() {
  return H5T_NATIVE_DOUBLE;
}

template <class T>
const char* type_name();
template <>
const char* type_name<std::uint8_t>() {
  return "uint8";
}
template <>
const char* type_name<std::int32_t>() {
  return "int32";
}
template <>
const char* type_name<std::int64_t>() {
  return "int64";
}
template <>
const char* type_name<float>() {
  return "float32";
}
template <>
const char* type_name<double>() {
  return "float64";
}

// Closes an HDF5 handle of any kind at scope exit.
class Handle {
 public:
  Handle(hid_t id, herr_t (*closer)(hid_t)) : id_(id), closer_(closer) {}
  ~Handle() {
    if (id_ >= 0) closer_(id_);
  }
  Handle(Handle&& other) noexcept
      : id_(std::exchange(other.id_, H5I_INVALID_HID)), closer_(other.closer_) {}
  Handle(const Handle&) = delete;
  Handle& operator=(const Handle&) = delete;
  Handle& operator=(Handle&&) = delete;
  hid_t get() const { return id_; }
  bool ok() const { return id_ >= 0; }

 private:
  hid_t id_;
  herr_t (*closer_)(hid_t);
};

std::string shape_text(const Shape& shape) {
  std::string text = "[";
  for (std::size_t i = 0; i < shape.size(); ++i) text += (i ? "," : "") + std::to_string(shape[i]);
  return text + "]";
}

void silence_hdf5() {
  H5Eset_auto2(H5E_DEFAULT, nullptr, nullptr);
}

Handle open_dataset(hid_t file, const std::string& path, const std::string& name) {
  Handle dataset(H5Dopen2(file, name.c_str(), H5P_DEFAULT), H5Dclose);
  require(dataset.ok(), "file ", path, ": dataset ", name, " is missing");
  return dataset;
}

Shape dataset_shape(hid_t dataset) {
  Handle space(H5Dget_space(dataset), H5Sclose);
  const int rank = H5Sget_simple_extent_ndims(space.get());
  std::vector<hsize_t> dims(static_cast<std::size_t>(rank > 0 ? rank : 0));
  H5Sget_simple_extent_dims(space.get(), dims.data(), nullptr);
  return Shape(dims.begin(), dims.end());
}

template <class T>
void check_type(hid_t dataset, const std::string& path, const std::string& name) {
  Handle stored(H5Dget_type(dataset), H5Tclose);
  Handle native(H5Tget_native_type(stored.get(), H5T_DIR_ASCEND), H5Tclose);
  require(H5Tequal(native.get(), native_type<T>()) > 0, "file ", path, ": dataset ", name,
          " has the wrong element type; expected ", type_name<T>());
}

std::size_t element_count(const Shape& shape) {
  std::size_t count = 1;
  for (std::size_t d : shape) count *= d;
  return count;
}

Handle open_object(hid_t file, const std::string& path, const std::string& object) {
  Handle handle(H5Oopen(file, object.c_str(), H5P_DEFAULT), H5Oclose);
  require(handle.ok(), "file ", path, ": object ", object, " is missing");
  return handle;
}

Handle open_attr(hid_t file, const std::string& path, const std::string& object,
                 const std::string& name) {
  Handle owner = open_object(file, path, object);
  Handle attr(H5Aopen(owner.get(), name.c_str(), H5P_DEFAULT), H5Aclose);
  require(attr.ok(), "file ", path, ": attribute ", object, "@", name, " is missing");
  return attr;
}

template <class T>
void write_scalar_attr(hid_t file, const std::string& path, const std::string& object,
                       const std::string& name, const T& value) {
  Handle owner = open_object(file, path, object);
  if (H5Aexists(owner.get(), name.c_str()) > 0) H5Adelete(owner.get(), name.c_str());
  Handle space(H5Screate(H5S_SCALAR), H5Sclose);
  Handle attr(H5Acreate2(owner.get(), name.c_str(), native_type<T>(), space.get(), H5P_DEFAULT,
                         H5P_DEFAULT),
              H5Aclose);
  require(attr.ok() && H5Awrite(attr.get(), native_type<T>(), &value) >= 0, "file ", path,
          ": cannot write attribute ", object, "@", name);
}

template <class T>
T read_scalar_attr(hid_t file, const std::string& path, const std::string& object,
                   const std::string& name) {
  Handle attr = open_attr(file, path, object, name);
  T value{};
  require(H5Aread(attr.get(), native_type<T>(), &value) >= 0, "file ", path, ": attribute ", object,
          "@", name, " is not a ", type_name<T>(), " scalar");
  return value;
}

void require_exists(const std::string& path) {
  std::error_code error;
  require(std::filesystem::exists(path, error), "file ", path, ": does not exist");
}

}  // namespace

H5File::H5File(hid_t id, std::string path, bool parallel)
    : id_(id), path_(std::move(path)), parallel_(parallel) {}

H5File H5File::open_read(const std::string& path) {
  silence_hdf5();
  require_exists(path);
#if H5_VERSION_GE(1, 12, 0)
  const bool is_hdf5 = H5Fis_accessible(path.c_str(), H5P_DEFAULT) > 0;
#else
  const bool is_hdf5 = H5Fis_hdf5(path.c_str()) > 0;
#endif
  require(is_hdf5, "file ", path,
          ": cannot open as HDF5 (unreadable, truncated or not an HDF5 file)");
  hid_t id = H5Fopen(path.c_str(), H5F_ACC_RDONLY, H5P_DEFAULT);
  require(id >= 0, "file ", path, ": cannot open as HDF5");
  return H5File(id, path, false);
}

H5File H5File::open_read_parallel(const std::string& path, MPI_Comm comm) {
  silence_hdf5();
  require_exists(path);
  Handle access(H5Pcreate(H5P_FILE_ACCESS), H5Pclose);
  H5Pset_fapl_mpio(access.get(), comm, MPI_INFO_NULL);
  hid_t id = H5Fopen(path.c_str(), H5F_ACC_RDONLY, access.get());
  require(id >= 0, "file ", path,
          ": cannot open as HDF5 with MPI-IO (unreadable, truncated or not an HDF5 file)");
  return H5File(id, path, true);
}

H5File H5File::create(const std::string& path) {
  silence_hdf5();
  hid_t id = H5Fcreate(path.c_str(), H5F_ACC_TRUNC, H5P_DEFAULT, H5P_DEFAULT);
  require(id >= 0, "file ", path, ": cannot create: ", os_reason());
  return H5File(id, path, false);
}

H5File::H5File(H5File&& other) noexcept
    : id_(std::exchange(other.id_, H5I_INVALID_HID)),
      path_(std::move(other.path_)),
      parallel_(other.parallel_) {}

H5File& H5File::operator=(H5File&& other) noexcept {
  if (this != &other) {
    if (id_ >= 0) H5Fclose(id_);
    id_ = std::exchange(other.id_, H5I_INVALID_HID);
    path_ = std::move(other.path_);
    parallel_ = other.parallel_;
  }
  return *this;
}

H5File::~H5File() {
  if (id_ >= 0) H5Fclose(id_);
}

bool H5File::exists(const std::string& name) const {
  // H5Lexists needs each parent to exist, so walk the path.
  std::size_t pos = 0;
  while ((pos = name.find('/', pos + 1)) != std::string::npos) {
    if (H5Lexists(id_, name.substr(0, pos).c_str(), H5P_DEFAULT) <= 0) return false;
  }
  return H5Lexists(id_, name.c_str(), H5P_DEFAULT) > 0;
}

Shape H5File::shape(const std::string& dataset) const {
  Handle handle = open_dataset(id_, path_, dataset);
  return dataset_shape(handle.get());
}

template <class T>
void H5File::write(const std::string& dataset, std::span<const T> values, const Shape& shape) {
  require(element_count(shape) == values.size(), "file ", path_, ": dataset ", dataset, " shape ",
          shape_text(shape), " does not match ", values.size(), " values");
  std::vector<hsize_t> dims(shape.begin(), shape.end());
  Handle space(H5Screate_simple(static_cast<int>(dims.size()), dims.data(), nullptr), H5Sclose);
  Handle links(H5Pcreate(H5P_LINK_CREATE), H5Pclose);
  H5Pset_create_intermediate_group(links.get(), 1);
  // No modification times: the same content gives the same bytes.
  Handle creation(H5Pcreate(H5P_DATASET_CREATE), H5Pclose);
  H5Pset_obj_track_times(creation.get(), 0);
  Handle handle(H5Dcreate2(id_, dataset.c_str(), native_type<T>(), space.get(), links.get(),
                           creation.get(), H5P_DEFAULT),
                H5Dclose);
  require(handle.ok(), "file ", path_, ": cannot create dataset ", dataset);
  errno = 0;
  const herr_t status =
      H5Dwrite(handle.get(), native_type<T>(), H5S_ALL, H5S_ALL, H5P_DEFAULT, values.data());
  require(status >= 0, "file ", path_, ": cannot write dataset ", dataset, write_reason(errno));
}

template <class T>
std::vector<T> H5File::read(const std::string& dataset, const Shape& expected) const {
  Handle handle = open_dataset(id_, path_, dataset);
  check_type<T>(handle.get(), path_, dataset);
  const Shape shape = dataset_shape(handle.get());
  require(expected.empty() || shape == expected, "file ", path_, ": dataset ", dataset,
          " has shape ", shape_text(shape), ", expected ", shape_text(expected));
  std::vector<T> values(element_count(shape));
  Handle transfer(H5Pcreate(H5P_DATASET_XFER), H5Pclose);
  if (parallel_) H5Pset_dxpl_mpio(transfer.get(), H5FD_MPIO_COLLECTIVE);
  require(
      H5Dread(handle.get(), native_type<T>(), H5S_ALL, H5S_ALL, transfer.get(), values.data()) >= 0,
      "file ", path_, ": cannot read dataset ", dataset);
  return values;
}

template <class T>
void H5File::read_rows(const std::string& dataset, std::size_t begin, std::size_t end,
                       std::span<T> out) const {
  Handle handle = open_dataset(id_, path_, dataset);
  check_type<T>(handle.get(), path_, dataset);
  const Shape shape = dataset_shape(handle.get());
  require(!shape.empty() && begin <= end && end <= shape[0], "file ", path_, ": dataset ", dataset,
          " has ", shape.empty() ? 0 : shape[0], " rows; cannot read rows [", begin, ",", end, ")");
  const std::size_t row = element_count(shape) / (shape[0] ? shape[0] : 1);
  require(out.size() == (end - begin) * row, "file ", path_, ": dataset ", dataset,
          ": buffer holds ", out.size(), " values, rows [", begin, ",", end, ") need ",
          (end - begin) * row);
  std::vector<hsize_t> start(shape.size(), 0), count(shape.begin(), shape.end());
  start[0] = begin;
  count[0] = end - begin;
  Handle file_space(H5Dget_space(handle.get()), H5Sclose);
  // Every rank must join a collective read, even one with zero rows.
  if (count[0] == 0) {
    H5Sselect_none(file_space.get());
  } else {
    H5Sselect_hyperslab(file_space.get(), H5S_SELECT_SET, start.data(), nullptr, count.data(),
                        nullptr);
  }
  Handle memory_space(H5Screate_simple(static_cast<int>(count.size()), count.data(), nullptr),
                      H5Sclose);
  if (count[0] == 0) H5Sselect_none(memory_space.get());
  Handle transfer(H5Pcreate(H5P_DATASET_XFER), H5Pclose);
  if (parallel_) H5Pset_dxpl_mpio(transfer.get(), H5FD_MPIO_COLLECTIVE);
  require(H5Dread(handle.get(), native_type<T>(), memory_space.get(), file_space.get(),
                  transfer.get(), out.data()) >= 0,
          "file ", path_, ": cannot read rows [", begin, ",", end, ") of dataset ", dataset);
}

void H5File::write_attr(const std::string& object, const std::string& name,
                        const std::string& value) {
  Handle owner = open_object(id_, path_, object);
  if (H5Aexists(owner.get(), name.c_str()) > 0) H5Adelete(owner.get(), name.c_str());
  Handle type(H5Tcopy(H5T_C_S1), H5Tclose);
  H5Tset_size(type.get(), value.empty() ? 1 : value.size());
  H5Tset_cset(type.get(), H5T_CSET_UTF8);
  Handle space(H5Screate(H5S_SCALAR), H5Sclose);
  Handle attr(
      H5Acreate2(owner.get(), name.c_str(), type.get(), space.get(), H5P_DEFAULT, H5P_DEFAULT),
      H5Aclose);
  const std::string padded = value.empty() ? std::string(1, '\0') : value;
  require(attr.ok() && H5Awrite(attr.get(), type.get(), padded.data()) >= 0, "file ", path_,
          ": cannot write attribute ", object, "@", name);
}

void H5File::write_attr(const std::string& object, const std::string& name, std::int64_t value) {
  write_scalar_attr(id_, path_, object, name, value);
}

void H5File::write_attr(const std::string& object, const std::string& name, double value) {
  write_scalar_attr(id_, path_, object, name, value);
}

bool H5File::has_attr(const std::string& object, const std::string& name) const {
  if (object != "/" && !exists(object)) return false;
  return H5Aexists_by_name(id_, object.c_str(), name.c_str(), H5P_DEFAULT) > 0;
}

std::string H5File::read_attr_string(const std::string& object, const std::string& name) const {
  Handle attr = open_attr(id_, path_, object, name);
  Handle type(H5Aget_type(attr.get()), H5Tclose);
  require(H5Tget_class(type.get()) == H5T_STRING, "file ", path_, ": attribute ", object, "@", name,
          " is not a string");
  if (H5Tis_variable_str(type.get()) > 0) {
    char* text = nullptr;
    Handle memory(H5Tcopy(H5T_C_S1), H5Tclose);
    H5Tset_size(memory.get(), H5T_VARIABLE);
    require(H5Aread(attr.get(), memory.get(), &text) >= 0, "file ", path_,
            ": cannot read attribute ", object, "@", name);
    std::string value = text ? text : "";
    H5free_memory(text);
    return value;
  }
  std::string value(H5Tget_size(type.get()), '\0');
  require(H5Aread(attr.get(), type.get(), value.data()) >= 0, "file ", path_,
          ": cannot read attribute ", object, "@", name);
  return value.substr(0, value.find('\0'));
}

std::int64_t H5File::read_attr_int(const std::string& object, const std::string& name) const {
  return read_scalar_attr<std::int64_t>(id_, path_, object, name);
}

double H5File::read_attr_double(const std::string& object, const std::string& name) const {
  return read_scalar_attr<double>(id_, path_, object, name);
}

void H5File::flush() {
  errno = 0;
  const herr_t status = H5Fflush(id_, H5F_SCOPE_GLOBAL);
  require(status >= 0, "file ", path_, ": flush failed", write_reason(errno));
}

void H5File::close() {
  if (id_ < 0) return;
  errno = 0;
  const herr_t status = H5Fclose(std::exchange(id_, H5I_INVALID_HID));
  require(status >= 0, "file ", path_, ": close failed", write_reason(errno));
}

#define DPMNIST_H5_INSTANTIATE(T)                                                                \
  template void H5File::write<T>(const std::string&, std::span<const T>, const Shape&);          \
  template std::vector<T> H5File::read<T>(const std::string&, const Shape&) const;               \
  template void H5File::read_rows<T>(const std::string&, std::size_t, std::size_t, std::span<T>) \
      const;
DPMNIST_H5_INSTANTIATE(std::uint8_t)
DPMNIST_H5_INSTANTIATE(std::int32_t)
DPMNIST_H5_INSTANTIATE(std::int64_t)
DPMNIST_H5_INSTANTIATE(float)
DPMNIST_H5_INSTANTIATE(double)
#undef DPMNIST_H5_INSTANTIATE

}  // namespace dpmnist

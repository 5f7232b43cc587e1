// stb_image and stb_image_write compiled once, with only the formats dpmnist
// accepts (no TGA, whose header has no magic number and would take random
// bytes for an image, nor PSD/HDR/PIC), and with every decoder allocation
// checked against a per-thread cap that image.cpp sets from the header's
// dimensions: a file whose data inflates far beyond them (a PNG zlib bomb)
// fails inside the decoder instead of allocating gigabytes.
#include <cstddef>
#include <cstdlib>

namespace dpmnist::detail {
thread_local std::size_t stb_allocation_cap = static_cast<std::size_t>(-1);
thread_local bool stb_allocation_refused = false;
}  // namespace dpmnist::detail

namespace {
void* capped_malloc(std::size_t size) {
  if (size > dpmnist::detail::stb_allocation_cap) {
    dpmnist::detail::stb_allocation_refused = true;
    return nullptr;
  }
  return std::malloc(size);
}
void* capped_realloc(void* pointer, std::size_t size) {
  if (size > dpmnist::detail::stb_allocation_cap) {
    dpmnist::detail::stb_allocation_refused = true;
    return nullptr;
  }
  return std::realloc(pointer, size);
}
}  // namespace

#define STBI_ONLY_PNG
#define STBI_ONLY_JPEG
#define STBI_ONLY_BMP
#define STBI_ONLY_GIF
#define STBI_ONLY_PNM
#define STBI_NO_STDIO
#define STBI_NO_HDR
#define STBI_NO_LINEAR
#define STBI_MALLOC(size) capped_malloc(size)
#define STBI_REALLOC(pointer, size) capped_realloc(pointer, size)
#define STBI_FREE(pointer) std::free(pointer)
#define STB_IMAGE_IMPLEMENTATION
#include <stb_image.h>

#define STBI_WRITE_NO_STDIO
#define STB_IMAGE_WRITE_IMPLEMENTATION
#include <stb_image_write.h>

// make_serve_fixtures DIR: what the browser test and the load benchmark need
// without MNIST: DIR/checkpoint.h5 (Glorot 784-64-10), and DIR/seven.png,
// DIR/seven_dark.png (dark ink on white), DIR/zero.png to upload or POST, and
// DIR/pad_seven.png, 280x280 like the page's drawing pad.
#include <cstdio>
#include <exception>
#include <fstream>
#include <string>

#include "serve_support.h"

namespace {

void write_file(const std::string& path, const std::string& bytes) {
  std::ofstream out(path, std::ios::binary);
  out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
  if (!out) throw std::runtime_error("cannot write " + path);
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 2) {
    std::fprintf(stderr, "usage: make_serve_fixtures DIR\n");
    return 2;
  }
  try {
    const std::string dir = argv[1];
    dpmnist::test::write_glorot_checkpoint(dir, {784, 64, 10});
    write_file(dir + "/seven.png", dpmnist::test::png_of(dpmnist::test::draw_seven(200)));
    write_file(dir + "/seven_dark.png",
               dpmnist::test::png_of(dpmnist::test::draw_seven(240, /*dark_on_light=*/true)));
    write_file(dir + "/zero.png", dpmnist::test::png_of(dpmnist::test::draw_zero(160)));
    write_file(dir + "/pad_seven.png", dpmnist::test::png_of(dpmnist::test::draw_seven(280)));
  } catch (const std::exception& e) {
    std::fprintf(stderr, "make_serve_fixtures: error: %s\n", e.what());
    return 1;
  }
  return 0;
}

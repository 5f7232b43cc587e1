// Fixtures the dpmnist-serve tests and tools make themselves: a checkpoint
// with Glorot weights (for the HTTP contract, not accuracy), digit-like images
// drawn in memory, and a raw TCP exchange for malformed HTTP. No GoogleTest
// here: make_serve_fixtures and the load client use it too.
#pragma once

#include <cstddef>
#include <string>
#include <vector>

#include "dpmnist/predict/image.h"

namespace dpmnist::test {

// Writes dir/checkpoint.h5 with Glorot weights for widths and one history row
// (test accuracy 0.5); returns its path.
std::string write_glorot_checkpoint(const std::string& dir, const std::vector<std::size_t>& widths);

// A side x side black image with a "7" (light strokes, ~1/10 of the side wide)
// drawn in it; dark_on_light inverts it, as a pen on paper.
GrayImage draw_seven(std::size_t side, bool dark_on_light = false);
// A "0": an upright ellipse ring.
GrayImage draw_zero(std::size_t side);
// image as the bytes of a gray PNG (image.h's encode_png), and of a binary PGM.
std::string png_of(const GrayImage& image);
std::string pgm_of(const GrayImage& image);
// A valid PNG whose header is rewritten to claim width x height (CRC fixed).
std::string png_claiming(std::size_t width, std::size_t height);

// Sends request over a new TCP connection to 127.0.0.1:port and returns the
// reply: one whole response (headers and Content-Length body), or whatever
// came before the server closed or 5 s passed. give_up: half-close right
// after sending, as a client that abandons its request (httplib then sees a
// dead peer and may not answer at all).
std::string raw_http(int port, const std::string& request, bool give_up = false);

}  // namespace dpmnist::test

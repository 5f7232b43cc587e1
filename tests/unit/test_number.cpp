#include <gtest/gtest.h>

#include <cstdint>
#include <string>

#include "dpmnist/core/number.h"

using namespace dpmnist;

namespace {

template <class T>
std::string error_of(const char* text, Allowed<T> allowed) {
  try {
    parse_number<T>("--key", text, allowed);
  } catch (const std::exception& e) {
    return e.what();
  }
  return "";
}

}  // namespace

TEST(Number, ReadsTheWholeTextAsTheType) {
  EXPECT_EQ(parse_number<std::size_t>("k", " 7 ", at_least<std::size_t>(0)), 7u);
  EXPECT_EQ(parse_number<std::size_t>("k", "+7", at_least<std::size_t>(0)), 7u);
  EXPECT_EQ(parse_number<int>("k", "-7", between(-10, 10)), -7);
  EXPECT_EQ(parse_number<double>("k", "1e3", above(0.0)), 1000.0);
  EXPECT_EQ(parse_number<float>("k", "0.25", from_below(0.0f, 1.0f)), 0.25f);
  EXPECT_EQ(parse_number<std::uint64_t>("k", "18446744073709551615", at_least<std::uint64_t>(0)),
            18446744073709551615ull);
}

TEST(Number, RefusesWhatStrtoulAndBoostWouldWrapOrTruncate) {
  // The value an unsigned read of "-1" used to become, and the other ways text goes wrong.
  for (const char* text : {"-1", "", " ", "12abc", "1.5", "0x10", "18446744073709551616", "- 1"}) {
    const std::string error = error_of<std::size_t>(text, at_least<std::size_t>(0));
    EXPECT_NE(error.find(std::string("--key = '") + text + "': expected an integer >= 0"),
              std::string::npos)
        << text << " gave: " << error;
  }
  for (const char* text : {"nan", "inf", "-inf", "1e999", "1,5", "abc"}) {
    EXPECT_NE(error_of<double>(text, at_least(0.0)).find("expected a number >= 0"),
              std::string::npos)
        << text;
  }
  EXPECT_NE(error_of<std::size_t>("18446744073709551616", at_least<std::size_t>(0))
                .find("(out of range)"),
            std::string::npos);
}

TEST(Number, RangeEndsAreOpenOrClosedAsDeclaredAndDescribedSo) {
  EXPECT_EQ(error_of<float>("0", from_below(0.0f, 1.0f)), "");
  EXPECT_NE(error_of<float>("1", from_below(0.0f, 1.0f)), "");
  EXPECT_NE(error_of<float>("0", above(0.0f)), "");
  EXPECT_EQ(error_of<int>("1024", between(1, 1024)), "");
  EXPECT_NE(error_of<int>("1025", between(1, 1024)), "");
  EXPECT_EQ(between(1, 1024).describe(), "an integer in [1, 1024]");
  EXPECT_EQ(from_below(0.0f, 1.0f).describe(), "a number in [0, 1)");
  EXPECT_EQ(above(0.0).describe(), "a number > 0");
  EXPECT_EQ(at_least<std::size_t>(0).describe(), "an integer >= 0");
  EXPECT_EQ(at_least(-1).describe(), "an integer >= -1");
}

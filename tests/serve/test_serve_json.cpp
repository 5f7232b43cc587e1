// JSON as every tool and the server write it (dpmnist/json.h over
// nlohmann-json) and data: URLs: escaping, invalid UTF-8, non-finite numbers,
// float digits, and base64 against RFC 4648's test vectors.
#include <gtest/gtest.h>

#include <cmath>
#include <limits>

#include "dpmnist/core/json.h"
#include "dpmnist/serve/api.h"

using namespace dpmnist::serve;
using dpmnist::Json;
using dpmnist::json_float;
using dpmnist::json_text;

namespace {

std::span<const std::uint8_t> bytes_of(std::string_view text) {
  return {reinterpret_cast<const std::uint8_t*>(text.data()), text.size()};
}

TEST(ServeJson, StringsAreEscapedAndInvalidUtf8Replaced) {
  EXPECT_EQ(json_text("plain"), "\"plain\"");
  EXPECT_EQ(json_text("a\"b\\c"), "\"a\\\"b\\\\c\"");
  EXPECT_EQ(json_text("line\nnext\ttab\r"), "\"line\\nnext\\ttab\\r\"");
  EXPECT_EQ(json_text(std::string("nul\0x", 5)), "\"nul\\u0000x\"");
  EXPECT_EQ(json_text("caf\xc3\xa9 \xe2\x82\xac"), "\"caf\xc3\xa9 \xe2\x82\xac\"");
  // A file name or message quoting bytes of an upload stays valid JSON.
  const std::string replaced = json_text("bad \xff\xc3 end");
  EXPECT_EQ(replaced, "\"bad \xef\xbf\xbd\xef\xbf\xbd end\"");
  EXPECT_TRUE(Json::parse(replaced).is_string());
  EXPECT_TRUE(Json::parse(json_text("\xed\xa0\x80")).is_string());  // a UTF-16 surrogate
  // A path with quotes and backslashes (issue 13: eval printed it bare).
  const std::string path = "runs/a \"quoted\" \\ dir/checkpoint.h5";
  EXPECT_EQ(Json::parse(json_text({{"checkpoint", path}}))["checkpoint"], path);
}

TEST(ServeJson, NonFiniteNumbersAreNullAndKeysKeepTheirOrder) {
  const Json json = {{"b", 1},
                     {"nan", std::numeric_limits<double>::quiet_NaN()},
                     {"inf", std::numeric_limits<double>::infinity()},
                     {"a", Json::array({1.5, true, nullptr})}};
  EXPECT_EQ(json_text(json), "{\"b\":1,\"nan\":null,\"inf\":null,\"a\":[1.5,true,null]}");
}

TEST(ServeJson, FloatsAreWrittenWithTheirOwnShortestDigits) {
  EXPECT_EQ(json_text({json_float(0.1f), json_float(1e-30f), json_float(-2.0f)}),
            "[0.1,1e-30,-2.0]");
  EXPECT_EQ(static_cast<float>(json_float(0.123456789f)), 0.123456789f);  // round-trips
  EXPECT_TRUE(std::isnan(json_float(std::numeric_limits<float>::quiet_NaN())));
}

TEST(ServeJson, Base64DataUrl) {
  EXPECT_EQ(data_url("image/png", bytes_of("")), "data:image/png;base64,");
  EXPECT_EQ(data_url("a/b", bytes_of("f")), "data:a/b;base64,Zg==");
  EXPECT_EQ(data_url("a/b", bytes_of("fo")), "data:a/b;base64,Zm8=");
  EXPECT_EQ(data_url("a/b", bytes_of("foo")), "data:a/b;base64,Zm9v");
  EXPECT_EQ(data_url("a/b", bytes_of("foob")), "data:a/b;base64,Zm9vYg==");
  EXPECT_EQ(data_url("a/b", bytes_of("fooba")), "data:a/b;base64,Zm9vYmE=");
  EXPECT_EQ(data_url("a/b", bytes_of("foobar")), "data:a/b;base64,Zm9vYmFy");
  EXPECT_EQ(data_url("a/b", bytes_of("\xff\xfe\xfd")), "data:a/b;base64,//79");
}

TEST(ServeJson, ErrorReply) {
  const Reply reply = error_reply(413, "too \"big\"");
  EXPECT_EQ(reply.status, 413);
  EXPECT_EQ(reply.body, "{\"error\":\"too \\\"big\\\"\",\"status\":413}");
}

}  // namespace

// The server's JSON writer and data: URLs: escaping, nesting, numbers,
// base64 against RFC 4648's test vectors.
#include <gtest/gtest.h>

#include <cmath>
#include <limits>

#include "dpmnist/serve/api.h"
#include "dpmnist/serve/json.h"

using namespace dpmnist::serve;

namespace {

std::span<const std::uint8_t> bytes_of(std::string_view text) {
  return {reinterpret_cast<const std::uint8_t*>(text.data()), text.size()};
}

TEST(ServeJson, QuotesAndEscapes) {
  EXPECT_EQ(json_quote("plain"), "\"plain\"");
  EXPECT_EQ(json_quote("a\"b\\c"), "\"a\\\"b\\\\c\"");
  EXPECT_EQ(json_quote("line\nnext\ttab\r"), "\"line\\nnext\\ttab\\r\"");
  EXPECT_EQ(json_quote(std::string("nul\0x", 5)), "\"nul\\u0000x\"");
  EXPECT_EQ(json_quote("\x7f"), "\"\\u007f\"");
  EXPECT_EQ(json_quote("caf\xc3\xa9 \xe2\x82\xac"),
            "\"caf\xc3\xa9 \xe2\x82\xac\"");  // valid UTF-8 kept
  EXPECT_EQ(json_quote("bad \xff\xc3 end"), "\"bad \\ufffd\\ufffd end\"");
  EXPECT_EQ(json_quote("\xed\xa0\x80"), "\"\\ufffd\\ufffd\\ufffd\"");  // a UTF-16 surrogate
}

TEST(ServeJson, WriterNestsAndSeparates) {
  JsonWriter json;
  json.begin_object().field("a", 1).key("list").begin_array().value(1.5).value(true).null();
  json.begin_object().field("x", "y").end_object().end_array();
  json.key("empty").begin_array().end_array();
  json.field("nan", std::numeric_limits<double>::quiet_NaN());
  json.field("none", std::optional<double>{}).field("size", std::size_t{7}).end_object();
  EXPECT_EQ(json.str(),
            "{\"a\":1,\"list\":[1.5,true,null,{\"x\":\"y\"}],\"empty\":[],\"nan\":null,"
            "\"none\":null,\"size\":7}");
}

TEST(ServeJson, FloatsRoundTrip) {
  JsonWriter json;
  json.begin_array().value(0.1f).value(1e-30f).value(-2.0).end_array();
  EXPECT_EQ(json.str(), "[0.100000001,1e-30,-2]");
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

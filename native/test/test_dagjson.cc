#include "cbor.h"
#include "check.h"
#include "dagjson.h"
#include "json_check.h"
#include "util.h"

using fh::Buffer;
using testutil::head;
using testutil::text;
using testutil::unhex;

static const std::string kCid = unhex("01711220d775286a80751e9ae80a10c0a009c328a09f8698fe55163974591ebfdd2056aa");

// The record's JSON, or "!" + the reason it was rejected.
static std::string record(const std::string& cbor) {
  Buffer out;
  out.append("prefix");
  std::string why;
  if (!fh::write_json_record(fh::Span(cbor), out, why)) {
    CHECK_EQ(out.view(), "prefix");  // a rejected record leaves nothing behind
    CHECK(!why.empty());
    return "!" + why;
  }
  CHECK_EQ(out.view().substr(0, 6), "prefix");
  return std::string(out.view().substr(6));
}

TEST(dagjson_record) {
  std::string r = head(5, 8) + text("a") + unhex("84 f4 f5 f6 80") + text("b") + testutil::bytes("foob") + text("f") +
                  unhex("fb 3f f8 00 00 00 00 00 00") + text("l") + testutil::link(kCid) + text("m") +
                  unhex("a1 61 71 60") + text("n") + unhex("3b ff ff ff ff ff ff ff ff") + text("t") +
                  text("caf\xc3\xa9 \"\n") + text("$type") + text("app.bsky.feed.post");
  std::string json = record(r);
  CHECK_EQ(json,
           "{\"a\":[false,true,null,[]],\"b\":{\"$bytes\":\"Zm9vYg\"},\"f\":1.5,"
           "\"l\":{\"$link\":\"bafyreigxouugvadvd2noqcqqycqatqziucpyngh6kulds5czd2752icwvi\"},"
           "\"m\":{\"q\":\"\"},\"n\":-18446744073709551616,\"t\":\"caf\xc3\xa9 \\\"\\n\","
           "\"$type\":\"app.bsky.feed.post\"}");
  CHECK(fuzzcheck::json_valid(json));
}

TEST(dagjson_record_rules) {
  std::string type = text("$type") + text("x.y");
  CHECK_EQ(record(head(5, 1) + type), "{\"$type\":\"x.y\"}");
  CHECK_EQ(record(head(5, 0)), "!record has no $type at byte 0");
  CHECK_EQ(record(head(5, 1) + text("$typf") + text("x.y")), "!record has no $type at byte 0");
  CHECK_EQ(record(head(5, 1) + text("$type") + text("")), "!record $type is not a non-empty string at byte 8");
  CHECK_EQ(record(head(5, 1) + text("$type") + unhex("01")), "!record $type is not a non-empty string at byte 8");
  // $type is only required at the top; a nested one is ordinary data.
  CHECK_EQ(record(head(5, 1) + text("o") + head(5, 1) + text("$type") + unhex("01")), "!record has no $type at byte 0");
  CHECK_EQ(record(head(4, 1) + head(5, 1) + type), "!record is not a map at byte 0");
  CHECK_EQ(record(text("x")), "!record is not a map at byte 0");
  CHECK_EQ(record(head(5, 1) + type + '\0'), "!trailing bytes after the record at byte 11");
  CHECK_EQ(record(head(5, 1) + type + head(5, 1) + type), "!trailing bytes after the record at byte 11");
  CHECK_EQ(record(""), "!unexpected end of input at byte 0");
  CHECK_EQ(record(head(5, 2) + type + text("a") + unhex("f7")),
           "!map key \"a\" out of canonical order (length first, then bytewise) at byte 11");
  CHECK_EQ(record(head(5, 2) + text("a") + unhex("f7") + type), "!undefined is not allowed at byte 3");
}

TEST(dagjson_depth) {
  std::string type = text("$type") + text("x.y");
  auto nested = [&](int arrays) {
    return head(5, 2) + text("a") + std::string(size_t(arrays), '\x81') + '\x00' + type;
  };
  // The record map is level 0, so 63 arrays reach the default limit of 64.
  CHECK(record(nested(63))[0] == '{');
  CHECK_EQ(record(nested(64)), "!nesting deeper than 64 levels at byte 67");

  Buffer out;
  std::string deep = std::string(65, '\x81') + '\x00';
  fh::CborReader r{fh::Span(deep)};
  CHECK(!fh::write_json_value(r, out));
  CHECK_EQ(r.error(), "nesting deeper than 64 levels at byte 65");
}

TEST(dagjson_value_matches_skip) {
  // write_json_value and skip_value accept the same values and stop at the
  // same place, so transcoding is the only pass over a record.
  for (const char* hex : {"00", "a0", "80", "a1 61 61 82 01 02", "83 01 02", "9b ff", "a1 01 02", "f7",
                          "fb 7f f8 00 00 00 00 00 00", "62 c3 a9 01"}) {
    std::string in = unhex(hex);
    fh::CborReader a{fh::Span(in)}, b{fh::Span(in)};
    Buffer out;
    bool wrote = fh::write_json_value(a, out);
    CHECK_EQ(wrote, b.skip_value(0));
    CHECK_EQ(a.pos(), b.pos());
    CHECK_EQ(a.error(), b.error());
    if (wrote) CHECK(fuzzcheck::json_valid(out.view()));
  }
}

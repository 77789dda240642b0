#include <cstring>

#include "cbor.h"
#include "check.h"
#include "util.h"

using fh::CborReader;
using fh::Item;
using fh::Kind;
using fh::LinkRule;
using testutil::head;
using testutil::link;
using testutil::span;
using testutil::text;
using testutil::unhex;

// "" when the input is exactly one acceptable value, else the reader's error.
static std::string error_of(const std::string& in, LinkRule rule = LinkRule::Dasl,
                            int max_depth = fh::kDefaultMaxDepth) {
  CborReader r(span(in), rule, max_depth);
  if (!r.skip_value(0)) {
    CHECK(!r.error().empty());
    return r.error();
  }
  return r.at_end() ? "" : "(trailing bytes)";
}

// The first item of in; its spans point into in.
static Item first_item(const std::string& in) {
  CborReader r(span(in));
  Item it;
  CHECK(r.next(it));
  return it;
}

static const std::string kCid = testutil::dasl_cid(0xab);

TEST(cbor_integers_of_every_width) {
  struct Case {
    const char* hex;
    Kind kind;
    uint64_t u;
  } cases[] = {
      {"00", Kind::Uint, 0},
      {"17", Kind::Uint, 23},
      {"18 18", Kind::Uint, 24},
      {"18 ff", Kind::Uint, 255},
      {"19 01 00", Kind::Uint, 256},
      {"19 ff ff", Kind::Uint, 65535},
      {"1a 00 01 00 00", Kind::Uint, 65536},
      {"1a ff ff ff ff", Kind::Uint, 0xffffffffULL},
      {"1b 00 00 00 01 00 00 00 00", Kind::Uint, 0x100000000ULL},
      {"1b ff ff ff ff ff ff ff ff", Kind::Uint, UINT64_MAX},
      {"20", Kind::Negint, 0},
      {"38 18", Kind::Negint, 24},
      {"3b ff ff ff ff ff ff ff ff", Kind::Negint, UINT64_MAX},
  };
  for (const Case& c : cases) {
    Item it = first_item(unhex(c.hex));
    CHECK_EQ(it.kind, c.kind);
    CHECK_EQ(it.u, c.u);
  }
}

TEST(cbor_shortest_form_for_each_width) {
  const std::string msg = "integer or length not in shortest form at byte 0";
  for (const char* hex :
       {"18 17", "19 00 ff", "1a 00 00 ff ff", "1b 00 00 00 00 ff ff ff ff", "38 00", "39 00 01", "58 00",
        "59 00 01 61", "78 01 61", "7a 00 00 00 01 61", "98 00", "b8 00", "9b 00 00 00 00 00 00 00 00"}) {
    CHECK_EQ(error_of(unhex(hex)), msg);
  }
  CHECK_EQ(error_of(unhex("d9 00 2a") + head(2, 37) + '\0' + kCid), msg);
  CHECK_EQ(error_of("\xd8\x2a\x58\x05" + std::string(5, '\0')), "integer or length not in shortest form at byte 2");
  CHECK_EQ(error_of(unhex("a1 78 01 61 01")), "integer or length not in shortest form at byte 1");
}

TEST(cbor_indefinite_lengths_and_reserved_info) {
  for (const char* hex : {"5f 41 00 ff", "7f 61 61 ff", "9f ff", "bf ff"}) {
    CHECK_EQ(error_of(unhex(hex)), "indefinite-length items are not allowed at byte 0");
  }
  for (const char* hex : {"1f", "3f", "df"}) {
    CHECK_EQ(error_of(unhex(hex)), "invalid additional info 31 at byte 0");
  }
  CHECK_EQ(error_of(unhex("ff")), "unexpected break code at byte 0");
  for (const char* hex : {"1c", "3d", "5e", "7c", "9d", "be", "dc", "fc", "fd", "fe"}) {
    CHECK_EQ(error_of(unhex(hex)), "reserved additional info at byte 0");
  }
}

TEST(cbor_simple_values) {
  CHECK_EQ(first_item(unhex("f4")).kind, Kind::Bool);
  CHECK(!first_item(unhex("f4")).b);
  CHECK(first_item(unhex("f5")).b);
  CHECK_EQ(first_item(unhex("f6")).kind, Kind::Null);
  CHECK_EQ(error_of(unhex("f7")), "undefined is not allowed at byte 0");
  for (const char* hex : {"e0", "f0", "f3", "f8 20", "f8 ff"}) {
    CHECK_EQ(error_of(unhex(hex)), "simple value is not allowed at byte 0");
  }
}

TEST(cbor_floats) {
  CHECK_EQ(error_of(unhex("f9 3c 00")), "only 64-bit floats are allowed at byte 0");
  CHECK_EQ(error_of(unhex("fa 3f c0 00 00")), "only 64-bit floats are allowed at byte 0");
  Item it = first_item(unhex("fb 3f f8 00 00 00 00 00 00"));
  CHECK_EQ(it.kind, Kind::Float);
  CHECK_EQ(it.f, 1.5);
  CHECK_EQ(first_item(unhex("fb 00 00 00 00 00 00 00 00")).f, 0.0);
  CHECK_EQ(first_item(unhex("fb 80 00 00 00 00 00 00 01")).f, -5e-324);
  for (const char* hex : {"fb 7f f8 00 00 00 00 00 00", "fb 7f f0 00 00 00 00 00 01", "fb ff f8 00 00 00 00 00 00"}) {
    CHECK_EQ(error_of(unhex(hex)), "NaN is not allowed at byte 0");
  }
  CHECK_EQ(error_of(unhex("fb 7f f0 00 00 00 00 00 00")), "Infinity is not allowed at byte 0");
  CHECK_EQ(error_of(unhex("fb ff f0 00 00 00 00 00 00")), "Infinity is not allowed at byte 0");
  CHECK_EQ(error_of(unhex("fb 80 00 00 00 00 00 00 00")), "negative zero is not allowed at byte 0");
  CHECK_EQ(error_of(unhex("fb 3f f8 00")), "unexpected end of input at byte 1");
}

TEST(cbor_tags) {
  CHECK_EQ(error_of(unhex("c0 60")), "tag 0 is not allowed (only 42, a CID) at byte 0");
  CHECK_EQ(error_of(unhex("c2 41 01")), "tag 2 is not allowed (only 42, a CID) at byte 0");
  CHECK_EQ(error_of(unhex("d8 2b 40")), "tag 43 is not allowed (only 42, a CID) at byte 0");
  CHECK_EQ(error_of(unhex("d9 d9 f7 00")), "tag 55799 is not allowed (only 42, a CID) at byte 0");

  std::string in = link(kCid);
  Item it = first_item(in);
  CHECK_EQ(it.kind, Kind::Link);
  CHECK(it.s.equals(span(kCid)));

  // Tag 42 without the 0x00 multibase prefix, empty, or around something else.
  CHECK_EQ(error_of("\xd8\x2a" + testutil::bytes(kCid + "x")),
           "CID link must start with the 0x00 identity multibase prefix at byte 4");
  CHECK_EQ(error_of(unhex("d8 2a 40")), "CID link must start with the 0x00 identity multibase prefix at byte 3");
  CHECK_EQ(error_of("\xd8\x2a" + text("bafy")), "tag 42 must wrap a definite byte string at byte 2");
  CHECK_EQ(error_of(unhex("d8 2a 5f 41 00 ff")), "tag 42 must wrap a definite byte string at byte 2");
  CHECK_EQ(error_of(unhex("d8 2a d8 2a 40")), "tag 42 must wrap a definite byte string at byte 2");
  CHECK_EQ(error_of(unhex("d8 2a 5c")), "reserved additional info in tag 42 at byte 2");
  CHECK_EQ(error_of(unhex("d8 2a")), "unexpected end of input at byte 2");
  CHECK_EQ(error_of(unhex("d8 2a 58 25 00 01")), "byte string runs past the end of input at byte 4");
  // A CID that is no DASL CID is named by the CID rules.
  CHECK_EQ(error_of(link(unhex("1220") + std::string(32, 'x'))),
           "CIDv0 is not allowed in a link (atproto uses CIDv1) at byte 2");
}

TEST(cbor_links_in_car_headers) {
  std::string blake2b = unhex("0171a0e40220") + std::string(32, 'x');
  CHECK_EQ(error_of(link(blake2b), LinkRule::AnyCid), "");
  CHECK_EQ(error_of(link(unhex("1220") + std::string(32, 'x')), LinkRule::AnyCid), "");
  CHECK(error_of(link(blake2b)) != "");
  CHECK_EQ(error_of(link(blake2b + "x"), LinkRule::AnyCid), "CID is followed by stray bytes inside its tag at byte 2");
  CHECK_EQ(error_of(link(unhex("0171")), LinkRule::AnyCid), "CID holds a malformed or truncated varint at byte 2");
}

TEST(cbor_strings) {
  std::string euro = unhex("63 e2 82 ac"), three = unhex("43 00 ff 01");
  Item it = first_item(euro);
  CHECK_EQ(it.kind, Kind::Text);
  CHECK_EQ(it.s, "\xe2\x82\xac");
  it = first_item(three);
  CHECK_EQ(it.kind, Kind::Bytes);
  CHECK_EQ(it.s.n, 3u);
  CHECK_EQ(error_of(unhex("62 c3 28")), "invalid UTF-8 in text string at byte 1");
  CHECK_EQ(error_of(unhex("64 61 ed a0 80")), "invalid UTF-8 in text string at byte 2");
  CHECK_EQ(error_of(unhex("62 c0 80")), "invalid UTF-8 in text string at byte 1");
  CHECK_EQ(error_of(unhex("40")), "");
  CHECK_EQ(error_of(unhex("60")), "");
}

TEST(cbor_map_keys) {
  CHECK_EQ(error_of(unhex("a2 61 61 01 61 62 02")), "");     // {"a", "b"}
  CHECK_EQ(error_of(unhex("a2 61 62 01 62 61 61 02")), "");  // {"b", "aa"}: shorter first
  CHECK_EQ(error_of(unhex("a2 60 01 61 61 02")), "");        // the empty key sorts first
  CHECK_EQ(error_of(unhex("a2 61 62 01 61 61 02")),
           "map key \"a\" out of canonical order (length first, then bytewise) at byte 4");
  CHECK_EQ(error_of(unhex("a2 62 61 61 01 61 62 02")),
           "map key \"b\" out of canonical order (length first, then bytewise) at byte 5");
  CHECK_EQ(error_of(unhex("a2 61 61 01 61 61 02")), "duplicate map key \"a\" at byte 4");
  CHECK_EQ(error_of(unhex("a1 01 02")), "map key is not a text string at byte 1");
  CHECK_EQ(error_of(unhex("a1 41 61 02")), "map key is not a text string at byte 1");
  CHECK_EQ(error_of(unhex("a1 f6 02")), "map key is not a text string at byte 1");
  CHECK_EQ(error_of(unhex("a1 80 02")), "map key is not a text string at byte 1");
  // Bytewise order compares unsigned bytes.
  CHECK_EQ(error_of(unhex("a2 61 7f 01 62 c3 a9 02")), "");
  CHECK_EQ(error_of(unhex("a2 62 c3 a9 01 62 c3 a8 02")),
           "map key \"\xc3\xa8\" out of canonical order (length first, then bytewise) at byte 5");
  // Keys nested in values are checked too, each map on its own.
  CHECK_EQ(error_of(unhex("a1 61 61 a2 61 62 01 61 62 02")), "duplicate map key \"b\" at byte 7");
  CHECK_EQ(error_of(unhex("82 a1 61 62 01 a1 61 61 01")), "");
}

TEST(cbor_depth_limit) {
  auto nested = [](int levels) { return std::string(size_t(levels), '\x81') + '\x00'; };
  CHECK_EQ(error_of(nested(64)), "");
  CHECK_EQ(error_of(nested(65)), "nesting deeper than 64 levels at byte 65");
  CHECK_EQ(error_of(nested(2), LinkRule::Dasl, 2), "");
  CHECK_EQ(error_of(nested(3), LinkRule::Dasl, 2), "nesting deeper than 2 levels at byte 3");
  std::string maps;
  for (int i = 0; i < 65; i++)
    maps +=
        "\xa1\x61"
        "a";
  CHECK_EQ(error_of(maps + '\x00'), "nesting deeper than 64 levels at byte 193");
  // Empty containers at the limit count as entered.
  CHECK_EQ(error_of(std::string(64, '\x81') + '\x80'), "nesting deeper than 64 levels at byte 65");
}

TEST(cbor_lengths_larger_than_input) {
  CHECK_EQ(error_of(unhex("5b ff ff ff ff ff ff ff ff 00")), "byte string runs past the end of input at byte 0");
  CHECK_EQ(error_of(unhex("7a 7f ff ff ff 61 62")), "text string runs past the end of input at byte 0");
  CHECK_EQ(error_of(unhex("9b ff ff ff ff ff ff ff ff 00")), "array length exceeds the remaining input at byte 0");
  CHECK_EQ(error_of(unhex("bb 80 00 00 00 00 00 00 00 00")), "map length exceeds the remaining input at byte 0");
  CHECK_EQ(error_of(unhex("a2 61 61 01")), "map length exceeds the remaining input at byte 0");
  CHECK_EQ(error_of(unhex("83 01 02")), "array length exceeds the remaining input at byte 0");
  CHECK_EQ(error_of(unhex("82 61 61")), "unexpected end of input at byte 3");
  CHECK_EQ(error_of(""), "unexpected end of input at byte 0");
}

TEST(cbor_every_truncation_of_a_valid_item_fails) {
  std::string v = head(5, 9) + text("a") + "\x17" + text("b") + unhex("3b ff ff ff ff ff ff ff ff") + text("c") +
                  testutil::bytes("xyz") + text("d") + link(kCid) + text("e") + unhex("fb 3f f8 00 00 00 00 00 00") +
                  text("f") + unhex("83 f4 f5 f6") + text("g") + unhex("a1 61 68 19 01 00") + text("ij") +
                  unhex("1b 00 00 00 01 00 00 00 00") + text("kl") + text("\xe2\x82\xac");
  CHECK_EQ(error_of(v), "");
  for (size_t n = 0; n < v.size(); n++) {
    CborReader r(fh::Span(reinterpret_cast<const uint8_t*>(v.data()), n));
    if (!CHECK(!r.skip_value(0))) std::fprintf(stderr, "  accepted %zu of %zu bytes\n", n, v.size());
    CHECK(!r.error().empty());
  }
}

TEST(cbor_reader_api) {
  std::string in = unhex("a2 61 61 01 61 62 82 02 03") + text("x");
  CborReader r(span(in));
  Item it;
  CHECK(r.expect(Kind::Map, it, "body"));
  CHECK_EQ(it.u, 2u);
  fh::Span prev, key;
  CHECK(r.next_key(key, prev));
  CHECK_EQ(key, "a");
  CHECK(r.skip_value(1));
  CHECK(r.next_key(key, prev));
  CHECK_EQ(key, "b");
  CHECK_EQ(prev, "b");
  CHECK(r.next(it));
  CHECK_EQ(it.kind, Kind::Array);
  CHECK(r.skip_contents(it, 1));
  CHECK_EQ(r.pos(), 9u);
  CHECK_EQ(r.rest(), text("x"));
  CHECK(!r.expect(Kind::Uint, it, "seq"));
  CHECK_EQ(r.error(), "seq is a text string, expected an unsigned integer at byte 9");
  // The first error is the one kept.
  CHECK(!r.fail("later"));
  CHECK_EQ(r.error(), "seq is a text string, expected an unsigned integer at byte 9");
  CHECK(std::strcmp(fh::kind_name(Kind::Link), "a CID link") == 0);
}

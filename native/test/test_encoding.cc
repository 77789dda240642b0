#include <string>

#include "check.h"
#include "encoding.h"
#include "util.h"

using testutil::unhex;

static size_t varint(const std::string& s, uint64_t& v) {
  return fh::read_uvarint(reinterpret_cast<const uint8_t*>(s.data()), s.size(), v);
}

TEST(varint) {
  uint64_t v = 99;
  CHECK_EQ(varint(unhex("00"), v), 1u);
  CHECK_EQ(v, 0u);
  CHECK_EQ(varint(unhex("7f"), v), 1u);
  CHECK_EQ(v, 127u);
  CHECK_EQ(varint(unhex("80 01"), v), 2u);
  CHECK_EQ(v, 128u);
  CHECK_EQ(varint(unhex("ac 02 ff"), v), 2u);  // stops at the first byte without 0x80
  CHECK_EQ(v, 300u);
  CHECK_EQ(varint(unhex("ff ff ff ff ff ff ff ff 7f"), v), 9u);
  CHECK_EQ(v, uint64_t(INT64_MAX));
  // Not minimal: a trailing zero group.
  CHECK_EQ(varint(unhex("80 00"), v), 0u);
  CHECK_EQ(varint(unhex("ff 80 00"), v), 0u);
  // Truncated, empty, and longer than nine bytes.
  CHECK_EQ(varint(unhex("80"), v), 0u);
  CHECK_EQ(varint("", v), 0u);
  CHECK_EQ(varint(unhex("ff ff ff ff ff ff ff ff ff 01"), v), 0u);
  CHECK_EQ(varint(unhex("80 80 80 80 80 80 80 80 80 01"), v), 0u);
}

static std::string b32(std::string_view in) {
  std::string out(fh::base32_len(in.size()), '?');
  fh::base32_lower(reinterpret_cast<const uint8_t*>(in.data()), in.size(), out.data());
  return out;
}

static std::string b64(std::string_view in) {
  std::string out(fh::base64_len(in.size()), '?');
  fh::base64_nopad(reinterpret_cast<const uint8_t*>(in.data()), in.size(), out.data());
  return out;
}

static std::string b58(std::string_view in) {
  std::string out(fh::base58btc_len(in.size()), '?');
  out.resize(fh::base58btc(reinterpret_cast<const uint8_t*>(in.data()), in.size(), out.data()));
  return out;
}

// RFC 4648 section 10, lower case and without padding as atproto prints them.
TEST(base32_rfc4648) {
  CHECK_EQ(b32(""), "");
  CHECK_EQ(b32("f"), "my");
  CHECK_EQ(b32("fo"), "mzxq");
  CHECK_EQ(b32("foo"), "mzxw6");
  CHECK_EQ(b32("foob"), "mzxw6yq");
  CHECK_EQ(b32("fooba"), "mzxw6ytb");
  CHECK_EQ(b32("foobar"), "mzxw6ytboi");
  CHECK_EQ(b32(std::string(5, '\xff')), "77777777");
}

TEST(base64_rfc4648) {
  CHECK_EQ(b64(""), "");
  CHECK_EQ(b64("f"), "Zg");
  CHECK_EQ(b64("fo"), "Zm8");
  CHECK_EQ(b64("foo"), "Zm9v");
  CHECK_EQ(b64("foob"), "Zm9vYg");
  CHECK_EQ(b64("fooba"), "Zm9vYmE");
  CHECK_EQ(b64("foobar"), "Zm9vYmFy");
  CHECK_EQ(b64(unhex("fb ff bf")), "+/+/");  // the standard alphabet, not base64url
}

// Vectors from draft-msporny-base58 and multiformats.
TEST(base58btc) {
  CHECK_EQ(b58(""), "");
  CHECK_EQ(b58("Hello World!"), "2NEpo7TZRRrLZSi2U");
  CHECK_EQ(b58("The quick brown fox jumps over the lazy dog."),
           "USm3fpXnKG5EUBx2ndxBDMPVciP5hGey2Jh4NDv6gmeo1LkMeiKrLJUUBk6Z");
  CHECK_EQ(b58(unhex("00 00 28 7f b4 cd")), "11233QC4");
  CHECK_EQ(b58(unhex("00")), "1");
  CHECK_EQ(b58(unhex("00 00 01")), "112");
  CHECK_EQ(b58(unhex("1220 e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855")),
           "QmdfTbBqBPQ7VNxZEYEj14VmRuZBkqFbiwReogJgS1zR1n");
  CHECK_EQ(b58(std::string(32, '\xff')).size(), 44u);
}

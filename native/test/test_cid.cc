#include "check.h"
#include "cid.h"
#include "util.h"

using testutil::span;
using testutil::unhex;

static const std::string kDigest = std::string(32, '\x5a');

static bool link_ok(const std::string& cid, std::string& why) {
  why.clear();
  return fh::cid_check_link(span(cid), why);
}

TEST(cid_check_link_rules) {
  std::string why;
  CHECK(link_ok(unhex("01711220") + kDigest, why));
  CHECK(link_ok(unhex("01551220") + kDigest, why));  // raw
  CHECK(link_ok(unhex("01711e20") + kDigest, why));  // blake3
  CHECK(link_ok(unhex("01551e20") + kDigest, why));

  CHECK(!link_ok(unhex("1220") + kDigest, why));
  CHECK_EQ(why, "CIDv0 is not allowed in a link (atproto uses CIDv1)");
  CHECK(!link_ok(unhex("017112"), why));
  CHECK_EQ(why, "CID of 3 bytes is too short");
  CHECK(!link_ok("", why));
  CHECK(!link_ok(unhex("02711220") + kDigest, why));
  CHECK_EQ(why, "CID version 2 is not 1");
  CHECK(!link_ok(unhex("01701220") + kDigest, why));  // dag-pb
  CHECK_EQ(why, "CID codec 0x70 is neither dag-cbor (0x71) nor raw (0x55)");
  CHECK(!link_ok(unhex("01711320") + kDigest, why));  // sha2-512 code
  CHECK_EQ(why, "CID hash 0x13 is neither sha2-256 (0x12) nor blake3 (0x1e)");
  // Multi-byte varints are reported whole: dag-json 0x0129, blake2b-256 0xb220.
  CHECK(!link_ok(unhex("01a9021220") + kDigest, why));
  CHECK_EQ(why, "CID codec 0x129 is neither dag-cbor (0x71) nor raw (0x55)");
  CHECK(!link_ok(unhex("0171a0e40220") + kDigest, why));
  CHECK_EQ(why, "CID hash 0xb220 is neither sha2-256 (0x12) nor blake3 (0x1e)");
  CHECK(!link_ok(unhex("01ff"), why));
  CHECK_EQ(why, "CID of 2 bytes is too short");
  CHECK(!link_ok(unhex("0171ffff"), why));
  CHECK_EQ(why, "CID holds a malformed or truncated varint");
  CHECK(!link_ok(unhex("01711240") + kDigest + kDigest, why));
  CHECK_EQ(why, "CID digest length 64 is not 32");
  CHECK(!link_ok(unhex("01711220") + kDigest.substr(1), why));
  CHECK_EQ(why, "CID is 35 bytes, a 32-byte digest makes it 36");
  CHECK(!link_ok(unhex("01711220") + kDigest + "x", why));
  CHECK_EQ(why, "CID is 37 bytes, a 32-byte digest makes it 36");
}

static size_t read_any(const std::string& s, std::string& why) {
  why.clear();
  return fh::cid_read_any(reinterpret_cast<const uint8_t*>(s.data()), s.size(), why);
}

TEST(cid_read_any_rules) {
  std::string why;
  // CIDv0: a bare sha2-256 multihash, with whatever follows left alone.
  CHECK_EQ(read_any(unhex("1220") + kDigest + "block", why), 34u);
  CHECK_EQ(read_any(unhex("1220") + kDigest.substr(1), why), 0u);
  CHECK_EQ(why, "CIDv0 runs past the end of its section");
  // CIDv1 with any codec and hash, multi-byte varints included
  // (blake2b-256 is 0xb220).
  CHECK_EQ(read_any(unhex("01711220") + kDigest + "block", why), 36u);
  CHECK_EQ(read_any(unhex("0171a0e40220") + kDigest, why), 38u);
  CHECK_EQ(read_any(unhex("01550004") + "abcd", why), 8u);  // identity hash
  CHECK_EQ(read_any(unhex("01700000"), why), 4u);           // empty digest
  CHECK_EQ(read_any(unhex("02711220") + kDigest, why), 0u);
  CHECK_EQ(why, "CID version 2 is not supported");
  CHECK_EQ(read_any(unhex("01711220") + kDigest.substr(1), why), 0u);
  CHECK_EQ(why, "CID digest of 32 bytes runs past the end of its section");
  for (const char* hex : {"", "01", "0171", "017112", "8100", "01f1", "0171ff", "01711280"}) {
    CHECK_EQ(read_any(unhex(hex), why), 0u);
    CHECK_EQ(why, "CID holds a malformed or truncated varint");
  }
  CHECK_EQ(read_any(unhex("0180001220") + kDigest, why), 0u);  // non-minimal codec varint
}

TEST(cid_string) {
  std::string cid = unhex("01711220d775286a80751e9ae80a10c0a009c328a09f8698fe55163974591ebfdd2056aa");
  CHECK_EQ(fh::cid_string_len(span(cid)), fh::kDaslCidChars);
  CHECK_EQ(fh::cid_to_string(span(cid)), "bafyreigxouugvadvd2noqcqqycqatqziucpyngh6kulds5czd2752icwvi");
}

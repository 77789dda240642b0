#include "car.h"
#include "check.h"
#include "invariants.h"
#include "util.h"

using fh::CarBlock;
using fh::CarReader;
using testutil::dasl_cid;
using testutil::head;
using testutil::make_car;
using testutil::span;
using testutil::text;
using testutil::unhex;
using testutil::uvarint;

static const size_t kMaxBlocks = 1u << 16;

static std::string parse_error(const std::string& car, size_t max_blocks = kMaxBlocks) {
  CarReader r;
  std::string why;
  if (r.parse(span(car), max_blocks, why)) return "";
  CHECK(!why.empty());
  return why;
}

static std::string with_header(const std::string& h) { return uvarint(h.size()) + h; }

TEST(car_header_errors) {
  const std::string roots = text("roots") + head(4, 0), version = text("version") + head(0, 1);
  CHECK_EQ(parse_error(""), "CAR is empty");
  CHECK_EQ(parse_error("\x80"), "CAR header length is not a valid varint");
  CHECK_EQ(parse_error(unhex("00 a0")), "CAR header length 0 is invalid for a CAR of 2 bytes");
  CHECK_EQ(parse_error(unhex("0a a0")), "CAR header length 10 is invalid for a CAR of 2 bytes");
  CHECK_EQ(parse_error(with_header(head(4, 0))), "CAR header is not a map");
  CHECK_EQ(parse_error(with_header(unhex("a1"))), "CAR header: map length exceeds the remaining input at byte 0");
  CHECK_EQ(parse_error(with_header(head(5, 1) + roots)), "CAR header has no version");
  CHECK_EQ(parse_error(with_header(head(5, 1) + version)), "CAR header has no roots");
  CHECK_EQ(parse_error(with_header(head(5, 1) + text("version") + text("1"))), "CAR header version is not an integer");
  CHECK_EQ(parse_error(make_car({}, {}, 2)), "unsupported CAR version 2 (expected 1)");
  CHECK_EQ(parse_error(with_header(head(5, 2) + text("roots") + head(5, 0) + version)),
           "CAR header: CAR header roots is a map, expected an array at byte 7");
  CHECK_EQ(parse_error(with_header(head(5, 2) + text("roots") + head(4, 1) + head(0, 7) + version)),
           "CAR header: CAR root is an unsigned integer, expected a CID link at byte 8");
  CHECK_EQ(parse_error(with_header(head(5, 2) + version + roots)),
           "CAR header: map key \"roots\" out of canonical order (length first, then bytewise) at byte 10");
  CHECK_EQ(parse_error(with_header(head(5, 2) + roots + version + '\0')), "CAR header has trailing bytes");
  // Unknown header keys are skipped.
  CHECK_EQ(parse_error(with_header(head(5, 3) + text("extra") + unhex("a1 61 61 01") + roots + version)), "");
  // Roots may be any CID; the header is not atproto data.
  CHECK_EQ(parse_error(make_car({unhex("1220") + std::string(32, 'r')}, {})), "");
}

TEST(car_section_errors) {
  std::string car = make_car({dasl_cid(1)}, {});
  size_t at = car.size();
  std::string block = dasl_cid(2) + "data";
  CHECK_EQ(parse_error(car), "");
  CHECK_EQ(parse_error(car + "\x80"), "CAR section length at byte " + std::to_string(at) + " is not a valid varint");
  CHECK_EQ(parse_error(car + '\0'), "CAR section at byte " + std::to_string(at) + " has length 0");
  CHECK_EQ(parse_error(car + uvarint(block.size()) + block + '\0'),
           "CAR section at byte " + std::to_string(at + 1 + block.size()) + " has length 0");
  CHECK_EQ(parse_error(car + uvarint(40) + "abc"),
           "CAR section at byte " + std::to_string(at) + " claims 40 bytes but only 3 remain");
  CHECK_EQ(parse_error(car + uvarint(3) + unhex("02 71 12")),
           "CAR section at byte " + std::to_string(at) + ": CID version 2 is not supported");
  CHECK_EQ(parse_error(car + uvarint(10) + dasl_cid(3).substr(0, 10)),
           "CAR section at byte " + std::to_string(at) + ": CID digest of 32 bytes runs past the end of its section");
  std::string three = make_car({}, {{dasl_cid(1), "a"}, {dasl_cid(2), "b"}, {dasl_cid(3), "c"}});
  CHECK_EQ(parse_error(three, 3), "");
  CHECK_EQ(parse_error(three, 2), "CAR has more than 2 blocks");

  // A section that is all CID holds an empty block.
  CarReader r;
  std::string why;
  CHECK(r.parse(span(car + uvarint(36) + dasl_cid(4)), kMaxBlocks, why));
  CHECK_EQ(r.blocks().size(), 1u);
  CHECK_EQ(r.blocks()[0].data.n, 0u);
}

TEST(car_go_car_fixtures) {
  auto error_of = [](const char* name) { return parse_error(testutil::read_fixture(std::string("go-car/") + name)); };
  CHECK_EQ(error_of("badheaderlength.car"), "CAR header length 216830324832 is invalid for a CAR of 38 bytes");
  CHECK_EQ(error_of("badsectionlength.car"), "CAR section at byte 18 claims 216830324832 bytes but only 46 remain");
  CHECK_EQ(error_of("sample-corrupt-pragma.car"), "CAR header length 18 is invalid for a CAR of 16 bytes");
  CHECK_EQ(error_of("sample-rootless-v42.car"), "unsupported CAR version 42 (expected 1)");
  CHECK_EQ(error_of("sample-rw-bs-v2.car"), "unsupported CAR version 2 (expected 1)");
  CHECK_EQ(error_of("sample-v1-with-zero-len-section2.car"), "CAR section at byte 20819 has length 0");
}

// n blocks whose CIDs differ in the first two digest bytes; with `collide` they
// share the last eight bytes, which is all the hash table looks at.
static std::vector<std::pair<std::string, std::string>> blocks(int n, int salt, bool collide) {
  std::vector<std::pair<std::string, std::string>> out;
  for (int i = 0; i < n; i++) {
    std::string cid = dasl_cid(uint8_t(salt), collide ? "tailtail" : std::string(8, char(i * 7 + 1)));
    cid[4] = char(i);
    cid[5] = char(i >> 8);
    out.push_back({cid, "block " + std::to_string(salt) + "/" + std::to_string(i)});
  }
  return out;
}

static void check_finds(CarReader& r, const std::vector<std::pair<std::string, std::string>>& bl) {
  for (const auto& [cid, data] : bl) {
    const CarBlock* b = r.find(span(cid));
    if (CHECK(b != nullptr)) CHECK_EQ(b->data, data);
  }
  std::string absent = bl[0].first;
  absent[10] ^= 1;
  CHECK(r.find(span(absent)) == nullptr);
  CHECK(r.find(fh::Span()) == nullptr);
}

TEST(car_lookup) {
  for (int n : {1, 16, 17, 100, 1000}) {
    for (bool collide : {false, true}) {
      auto bl = blocks(n, 9, collide);
      std::string car = make_car({bl[0].first}, bl);
      CarReader r;
      std::string why;
      if (!CHECK(r.parse(span(car), kMaxBlocks, why))) continue;
      CHECK_EQ(r.roots().size(), 1u);
      CHECK_EQ(r.blocks().size(), size_t(n));
      check_finds(r, bl);
      CHECK_EQ(fuzzcheck::check_car(reinterpret_cast<const uint8_t*>(car.data()), car.size()), "");
    }
  }
}

TEST(car_lookup_after_reuse) {
  CarReader r;
  std::string why;
  auto a = blocks(100, 1, false), b = blocks(100, 2, false), c = blocks(5, 3, false);
  std::string car_a = make_car({}, a), car_b = make_car({}, b), car_c = make_car({}, c);
  CHECK(r.parse(span(car_a), kMaxBlocks, why));
  check_finds(r, a);
  CHECK(r.parse(span(car_b), kMaxBlocks, why));
  check_finds(r, b);
  CHECK(r.find(span(a[3].first)) == nullptr);
  CHECK(r.parse(span(car_c), kMaxBlocks, why));
  check_finds(r, c);
  CHECK(r.find(span(b[3].first)) == nullptr);
  CHECK(!r.parse(span(std::string("\x01")), kMaxBlocks, why));
  CHECK(r.find(span(c[0].first)) == nullptr);
}

TEST(car_duplicate_cids_find_the_first) {
  for (int n : {4, 40}) {
    auto bl = blocks(n, 5, true);
    bl.push_back({bl[1].first, "a later copy"});
    std::string car = make_car({}, bl);
    CarReader r;
    std::string why;
    CHECK(r.parse(span(car), kMaxBlocks, why));
    CHECK(r.find(span(bl[1].first)) == &r.blocks()[1]);
  }
}

#include "check.h"
#include "utf8.h"
#include "util.h"

using testutil::unhex;

static size_t invalid_at(const std::string& s) {
  return fh::utf8_invalid_at(reinterpret_cast<const uint8_t*>(s.data()), s.size());
}

TEST(utf8_valid) {
  for (const char* hex : {"", "41", "c2 80", "c3 a9", "df bf", "e0 a0 80", "e2 82 ac", "ed 9f bf", "ee 80 80",
                          "ef bf bf", "f0 90 80 80", "f0 9f 98 80", "f4 8f bf bf"}) {
    std::string s = unhex(hex);
    CHECK_EQ(invalid_at(s), s.size());
  }
  // The eight-byte ASCII fast path, with a multibyte character on each side.
  std::string s = "abcdefghijklmnop\xc3\xa9qrstuvwxyz012345\xf0\x9f\x98\x80";
  CHECK_EQ(invalid_at(s), s.size());
}

TEST(utf8_invalid) {
  struct Case {
    const char* hex;
    size_t at;
  } cases[] = {
      {"80", 0},  // lone continuation byte
      {"bf", 0},
      {"c0 80", 0},     // overlong NUL
      {"c1 bf", 0},     // overlong two-byte form
      {"e0 80 80", 0},  // overlong three-byte forms
      {"e0 9f bf", 0},
      {"f0 80 80 80", 0},  // overlong four-byte forms
      {"f0 8f bf bf", 0},
      {"ed a0 80", 0},     // U+D800, a surrogate
      {"ed bf bf", 0},     // U+DFFF
      {"f4 90 80 80", 0},  // U+110000
      {"f5 80 80 80", 0},  // lead bytes that cannot occur
      {"f8 88 80 80 80", 0},
      {"fe", 0},
      {"ff", 0},
      {"c3", 0},  // truncated sequences
      {"e2 82", 0},
      {"f0 9f 98", 0},
      {"41 42 43 c3", 3},
      {"c3 28", 0},  // bad continuation bytes
      {"e2 28 a1", 0},
      {"e2 82 28", 0},
      {"f0 9f 98 28", 0},
      {"f0 9f 28 80", 0},
  };
  for (const Case& c : cases) {
    CHECK_EQ(invalid_at(unhex(c.hex)), c.at);
  }
  // An error just past and just inside an eight-byte ASCII word.
  CHECK_EQ(invalid_at(std::string(17, 'a') + "\x80"), 17u);
  CHECK_EQ(invalid_at(std::string(5, 'a') + "\xff" + std::string(10, 'a')), 5u);
  CHECK(!fh::utf8_valid(reinterpret_cast<const uint8_t*>("\xed\xa0\x80"), 3));
}

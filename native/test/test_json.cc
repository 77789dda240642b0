#include <cmath>
#include <limits>

#include "check.h"
#include "json.h"
#include "util.h"

using fh::Buffer;

template <class F>
static std::string out_of(F write) {
  Buffer b;
  write(b);
  return std::string(b.view());
}

static std::string str(std::string_view s) {
  return out_of([&](Buffer& b) { fh::json_string(b, fh::Span(s)); });
}

static std::string f64(double v) {
  return out_of([&](Buffer& b) { fh::json_f64(b, v); });
}

// Expected output as JSON.stringify prints it (checked with Node 20).
TEST(json_string_escaping) {
  std::string controls;
  for (int c = 0; c < 0x20; c++) controls += char(c);
  CHECK_EQ(str(controls),
           "\"\\u0000\\u0001\\u0002\\u0003\\u0004\\u0005\\u0006\\u0007\\b\\t\\n\\u000b\\f\\r"
           "\\u000e\\u000f\\u0010\\u0011\\u0012\\u0013\\u0014\\u0015\\u0016\\u0017\\u0018"
           "\\u0019\\u001a\\u001b\\u001c\\u001d\\u001e\\u001f\"");
  CHECK_EQ(str("\"\\/"), "\"\\\"\\\\/\"");
  CHECK_EQ(str(""), "\"\"");
  // DEL, non-ASCII and U+2028 pass through untouched.
  CHECK_EQ(str("\x7f \xc3\xa9 \xe2\x80\xa8 \xf0\x9f\x98\x80"), "\"\x7f \xc3\xa9 \xe2\x80\xa8 \xf0\x9f\x98\x80\"");
  // Escapes on either side of the eight-byte fast path.
  CHECK_EQ(str("abcdefgh\"ijklmnop\nq"), "\"abcdefgh\\\"ijklmnop\\nq\"");
  CHECK_EQ(str("abcdefg\\"), "\"abcdefg\\\\\"");
  for (int c = 0; c < 0x20; c++) {
    std::string s = std::string(9, 'x') + char(c) + std::string(9, 'y');
    std::string e = str(s);
    CHECK_EQ(e.substr(0, 10), "\"" + std::string(9, 'x'));
    CHECK_EQ(e.substr(e.size() - 10), std::string(9, 'y') + "\"");
    CHECK(e.size() == 22 || e.size() == 26);
  }
}

TEST(json_integers) {
  auto u64 = [](uint64_t v) { return out_of([&](Buffer& b) { fh::json_u64(b, v); }); };
  auto i64 = [](int64_t v) { return out_of([&](Buffer& b) { fh::json_i64(b, v); }); };
  auto neg = [](uint64_t n) { return out_of([&](Buffer& b) { fh::json_negint(b, n); }); };
  CHECK_EQ(u64(0), "0");
  CHECK_EQ(u64(UINT64_MAX), "18446744073709551615");
  CHECK_EQ(i64(INT64_MAX), "9223372036854775807");
  CHECK_EQ(i64(INT64_MIN), "-9223372036854775808");
  CHECK_EQ(i64(-1), "-1");
  CHECK_EQ(neg(0), "-1");
  CHECK_EQ(neg(uint64_t(INT64_MAX)), "-9223372036854775808");
  CHECK_EQ(neg(UINT64_MAX - 1), "-18446744073709551615");
  CHECK_EQ(neg(UINT64_MAX), "-18446744073709551616");
}

TEST(json_doubles_like_javascript) {
  CHECK_EQ(f64(1.5), "1.5");
  CHECK_EQ(f64(0.1), "0.1");
  CHECK_EQ(f64(-2.5), "-2.5");
  CHECK_EQ(f64(0.0), "0");
  CHECK_EQ(f64(-0.0), "0");
  CHECK_EQ(f64(100), "100");
  CHECK_EQ(f64(1e21), "1e+21");
  CHECK_EQ(f64(1e20), "100000000000000000000");
  CHECK_EQ(f64(123456789012345680000.0), "123456789012345680000");
  CHECK_EQ(f64(9007199254740992.0), "9007199254740992");
  CHECK_EQ(f64(1e-6), "0.000001");
  CHECK_EQ(f64(1.25e-5), "0.0000125");
  CHECK_EQ(f64(1e-7), "1e-7");
  CHECK_EQ(f64(-1e-7), "-1e-7");
  CHECK_EQ(f64(123e-20), "1.23e-18");
  CHECK_EQ(f64(1.0 / 3), "0.3333333333333333");
  CHECK_EQ(f64(5e-324), "5e-324");
  CHECK_EQ(f64(std::numeric_limits<double>::max()), "1.7976931348623157e+308");
  CHECK_EQ(f64(-std::numeric_limits<double>::max()), "-1.7976931348623157e+308");
}

TEST(json_bytes_and_links) {
  CHECK_EQ(out_of([](Buffer& b) { fh::json_bytes(b, fh::Span(std::string_view("foob"))); }), "{\"$bytes\":\"Zm9vYg\"}");
  CHECK_EQ(out_of([](Buffer& b) { fh::json_bytes(b, fh::Span()); }), "{\"$bytes\":\"\"}");
  std::string cid = testutil::unhex("01711220d775286a80751e9ae80a10c0a009c328a09f8698fe55163974591ebfdd2056aa");
  CHECK_EQ(out_of([&](Buffer& b) { fh::json_link(b, fh::Span(cid)); }),
           "{\"$link\":\"bafyreigxouugvadvd2noqcqqycqatqziucpyngh6kulds5czd2752icwvi\"}");
}

TEST(buffer_reuse) {
  Buffer b;
  for (int i = 0; i < 1000; i++) b.push('x');
  size_t cap = b.capacity();
  b.clear();
  fh::json_string(b, fh::Span(std::string_view("abc")));
  CHECK_EQ(b.view(), "\"abc\"");
  CHECK_EQ(b.capacity(), cap);
  b.truncate(1);
  CHECK_EQ(b.view(), "\"");
  b.shrink_to(cap);
  CHECK_EQ(b.capacity(), cap);
  b.shrink_to(16);
  CHECK_EQ(b.capacity(), 0u);
  CHECK_EQ(b.size(), 0u);
  Buffer moved(std::move(b));
  moved.append("ok");
  CHECK_EQ(moved.view(), "ok");
}

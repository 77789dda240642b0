#include "json.h"

#include <charconv>
#include <cstring>

#include "cid.h"
#include "encoding.h"

namespace fh {

namespace {

// 0: copy as is; otherwise the character after the backslash ('u': \u00XX).
struct EscapeTable {
  char t[256];
  constexpr EscapeTable() : t() {
    for (int i = 0; i < 0x20; i++) t[i] = 'u';
    t[0x08] = 'b';
    t[0x09] = 't';
    t[0x0a] = 'n';
    t[0x0c] = 'f';
    t[0x0d] = 'r';
    t[0x22] = '"';
    t[0x5c] = '\\';
  }
};
constexpr EscapeTable kEscape;

constexpr uint64_t kOnes = 0x0101010101010101ULL;
constexpr uint64_t kHighs = 0x8080808080808080ULL;

// True when any of the eight bytes needs escaping: < 0x20, '"' or '\'.
inline bool word_needs_escape(uint64_t w) {
  uint64_t lt20 = (w - kOnes * 0x20) & ~w & kHighs;
  uint64_t q = w ^ (kOnes * '"');
  uint64_t bs = w ^ (kOnes * '\\');
  uint64_t zq = (q - kOnes) & ~q & kHighs;
  uint64_t zb = (bs - kOnes) & ~bs & kHighs;
  return (lt20 | zq | zb) != 0;
}

}  // namespace

void json_string(Buffer& out, Span s) {
  // Worst case every byte becomes \u00XX.
  uint8_t* d = out.reserve(s.n * 6 + 2);
  uint8_t* start = d;
  *d++ = '"';
  const uint8_t* p = s.p;
  const uint8_t* end = s.p + s.n;
  while (p < end) {
    while (end - p >= 8) {
      uint64_t w;
      std::memcpy(&w, p, 8);
      if (word_needs_escape(w)) break;
      std::memcpy(d, p, 8);
      d += 8;
      p += 8;
    }
    if (p >= end) break;
    uint8_t c = *p++;
    char e = kEscape.t[c];
    if (!e) {
      *d++ = c;
    } else if (e != 'u') {
      *d++ = '\\';
      *d++ = uint8_t(e);
    } else {
      static const char kHex[] = "0123456789abcdef";
      std::memcpy(d, "\\u00", 4);
      d[4] = uint8_t(kHex[c >> 4]);
      d[5] = uint8_t(kHex[c & 15]);
      d += 6;
    }
  }
  *d++ = '"';
  out.commit(size_t(d - start));
}

void json_u64(Buffer& out, uint64_t v) {
  char* d = reinterpret_cast<char*>(out.reserve(20));
  auto r = std::to_chars(d, d + 20, v);
  out.commit(size_t(r.ptr - d));
}

void json_i64(Buffer& out, int64_t v) {
  char* d = reinterpret_cast<char*>(out.reserve(20));
  auto r = std::to_chars(d, d + 20, v);
  out.commit(size_t(r.ptr - d));
}

void json_negint(Buffer& out, uint64_t n) {
  if (n == UINT64_MAX) {  // -(2^64) has no 64-bit two's complement form
    out.append("-18446744073709551616");
    return;
  }
  out.push('-');
  json_u64(out, n + 1);
}

void json_f64(Buffer& out, double v) {
  if (v == 0) {
    out.push('0');
    return;
  }
  // Shortest round-trip digits, then laid out the way ECMAScript's
  // Number::toString does (which differs from printf's %g).
  char sci[32];
  auto r = std::to_chars(sci, sci + sizeof sci, v, std::chars_format::scientific);
  const char* q = sci;
  if (*q == '-') {
    out.push('-');
    q++;
  }
  char digits[24];
  int k = 0;
  while (q < r.ptr && *q != 'e') {
    if (*q != '.') digits[k++] = *q;
    q++;
  }
  int exp10 = 0;
  std::from_chars(q + 1 + (q[1] == '+'), r.ptr, exp10);
  int n = exp10 + 1;  // value = 0.digits * 10^n
  if (k <= n && n <= 21) {
    out.append(digits, size_t(k));
    for (int i = k; i < n; i++) out.push('0');
  } else if (0 < n && n <= 21) {
    out.append(digits, size_t(n));
    out.push('.');
    out.append(digits + n, size_t(k - n));
  } else if (-6 < n && n <= 0) {
    out.append("0.");
    for (int i = 0; i < -n; i++) out.push('0');
    out.append(digits, size_t(k));
  } else {
    out.push(uint8_t(digits[0]));
    if (k > 1) {
      out.push('.');
      out.append(digits + 1, size_t(k - 1));
    }
    out.push('e');
    out.push(n - 1 >= 0 ? '+' : '-');
    json_u64(out, uint64_t(n - 1 >= 0 ? n - 1 : -(n - 1)));
  }
}

void json_bytes(Buffer& out, Span b) {
  static const char kOpen[] = "{\"$bytes\":\"";
  size_t len = base64_len(b.n);
  uint8_t* d = out.reserve(sizeof kOpen - 1 + len + 2);
  std::memcpy(d, kOpen, sizeof kOpen - 1);
  base64_nopad(b.p, b.n, reinterpret_cast<char*>(d + sizeof kOpen - 1));
  std::memcpy(d + sizeof kOpen - 1 + len, "\"}", 2);
  out.commit(sizeof kOpen - 1 + len + 2);
}

void json_cid(Buffer& out, Span cid) {
  size_t len = cid_string_len(cid);
  uint8_t* d = out.reserve(len + 2);
  d[0] = '"';
  cid_to_string(cid, reinterpret_cast<char*>(d + 1));
  d[len + 1] = '"';
  out.commit(len + 2);
}

void json_link(Buffer& out, Span cid) {
  out.append("{\"$link\":");
  json_cid(out, cid);
  out.push('}');
}

}  // namespace fh

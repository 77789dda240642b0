#include "encoding.h"

namespace fh {

static const char kBase32[] = "abcdefghijklmnopqrstuvwxyz234567";
static const char kBase64[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

void base32_lower(const uint8_t* in, size_t n, char* out) {
  uint64_t acc = 0;
  int bits = 0;
  for (size_t i = 0; i < n; i++) {
    acc = (acc << 8) | in[i];
    bits += 8;
    while (bits >= 5) {
      bits -= 5;
      *out++ = kBase32[(acc >> bits) & 31];
    }
  }
  if (bits > 0) *out++ = kBase32[(acc << (5 - bits)) & 31];
}

void base64_nopad(const uint8_t* in, size_t n, char* out) {
  size_t i = 0;
  for (; i + 3 <= n; i += 3) {
    uint32_t v = (uint32_t(in[i]) << 16) | (uint32_t(in[i + 1]) << 8) | in[i + 2];
    out[0] = kBase64[v >> 18];
    out[1] = kBase64[(v >> 12) & 63];
    out[2] = kBase64[(v >> 6) & 63];
    out[3] = kBase64[v & 63];
    out += 4;
  }
  size_t rest = n - i;
  if (rest == 1) {
    uint32_t v = uint32_t(in[i]) << 16;
    out[0] = kBase64[v >> 18];
    out[1] = kBase64[(v >> 12) & 63];
  } else if (rest == 2) {
    uint32_t v = (uint32_t(in[i]) << 16) | (uint32_t(in[i + 1]) << 8);
    out[0] = kBase64[v >> 18];
    out[1] = kBase64[(v >> 12) & 63];
    out[2] = kBase64[(v >> 6) & 63];
  }
}

size_t base58btc(const uint8_t* in, size_t n, char* out) {
  static const char kAlphabet[] = "123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz";
  size_t zeros = 0;
  while (zeros < n && in[zeros] == 0) zeros++;
  // Big-endian base conversion, digits least significant first.
  size_t cap = base58btc_len(n), len = 0;
  uint8_t* digits = reinterpret_cast<uint8_t*>(out);
  for (size_t i = zeros; i < n; i++) {
    uint32_t carry = in[i];
    for (size_t k = 0; k < len; k++) {
      carry += uint32_t(digits[k]) << 8;
      digits[k] = uint8_t(carry % 58);
      carry /= 58;
    }
    while (carry && len < cap) {
      digits[len++] = uint8_t(carry % 58);
      carry /= 58;
    }
  }
  for (size_t k = 0; k < zeros; k++) digits[len++] = 0;
  for (size_t a = 0, b = len; a + 1 < b; a++, b--) {
    uint8_t t = digits[a];
    digits[a] = digits[b - 1];
    digits[b - 1] = t;
  }
  for (size_t k = 0; k < len; k++) out[k] = kAlphabet[digits[k]];
  return len;
}

}  // namespace fh

// Text encodings of binary data that atproto JSON uses: RFC 4648 base32
// (lower case, no padding) for CIDs and standard base64 (no padding) for
// byte strings; base58btc only to print the CIDv0 roots of generic CARs.
#pragma once

#include "bytes.h"

namespace fh {

inline size_t base32_len(size_t n) { return (n * 8 + 4) / 5; }
inline size_t base64_len(size_t n) { return (n * 4 + 2) / 3; }

// Upper bound of base58btc output; base58btc() returns the exact length.
inline size_t base58btc_len(size_t n) { return n * 138 / 100 + 1; }
size_t base58btc(const uint8_t* in, size_t n, char* out);

// Write exactly base32_len(n) / base64_len(n) characters to out.
void base32_lower(const uint8_t* in, size_t n, char* out);
void base64_nopad(const uint8_t* in, size_t n, char* out);

}  // namespace fh

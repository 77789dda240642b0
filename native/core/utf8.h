// Strict UTF-8 validation (RFC 3629): no overlong forms, no surrogates,
// nothing above U+10FFFF. Text is checked once while decoding so the JSON
// writer can copy it through untouched.
#pragma once

#include <cstddef>
#include <cstdint>

namespace fh {

// Returns the offset of the first invalid byte, or n when all of it is valid.
size_t utf8_invalid_at(const uint8_t* p, size_t n);

inline bool utf8_valid(const uint8_t* p, size_t n) { return utf8_invalid_at(p, n) == n; }

}  // namespace fh

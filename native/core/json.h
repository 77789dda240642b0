// JSON output primitives, written straight into a reused Buffer. Output
// matches what JSON.stringify prints for the same values, so the native
// entries equal those of a TypeScript producer byte for byte.
#pragma once

#include "bytes.h"

namespace fh {

// A quoted JSON string from text already known to be valid UTF-8.
void json_string(Buffer& out, Span utf8);
void json_u64(Buffer& out, uint64_t v);
void json_i64(Buffer& out, int64_t v);
// The CBOR negative integer -1-n, exact over the whole 64-bit range.
void json_negint(Buffer& out, uint64_t n);
// A finite double in ECMAScript Number::toString form.
void json_f64(Buffer& out, double v);
// {"$bytes":"<base64>"}
void json_bytes(Buffer& out, Span bytes);
// "b<base32>": a CID as a JSON string.
void json_cid(Buffer& out, Span cid);
// {"$link":"b<base32>"}
void json_link(Buffer& out, Span cid);

inline void json_raw(Buffer& out, std::string_view s) { out.append(s); }

}  // namespace fh

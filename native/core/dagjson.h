// DAG-CBOR to atproto JSON in one pass: links become {"$link": ...}, byte
// strings {"$bytes": ...}, integers stay exact. The input is validated as it
// is transcoded, so nothing is decoded twice.
#pragma once

#include "bytes.h"
#include "cbor.h"

namespace fh {

// Transcodes the next value from r into out. On failure r.error() says why
// and out holds a partial value that the caller should truncate away.
bool write_json_value(CborReader& r, Buffer& out, int depth = 0);

// Transcodes a whole record: the span must hold exactly one map whose
// "$type" is a non-empty string. On failure why is set and out is restored.
bool write_json_record(Span record, Buffer& out, std::string& why, int max_depth = kDefaultMaxDepth);

}  // namespace fh

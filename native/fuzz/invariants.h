// What the fuzz targets demand of every input. The libFuzzer entry points
// abort when a check fails; the unit tests replay native/test/regressions/
// through the same checks.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>

namespace fuzzcheck {

// Each returns "" when every invariant holds, else the one that broke.

// data[0] picks the decoder options (see options_for in invariants.cc), the
// rest is one relay message.
std::string check_frame(const uint8_t* data, size_t n);
// Arbitrary bytes as one DAG-CBOR value and as a record.
std::string check_cbor(const uint8_t* data, size_t n);
// Arbitrary bytes as a CAR v1.
std::string check_car(const uint8_t* data, size_t n);
// data[0] picks the message size limit, data[1] the chunk sizes, the rest is
// a server-to-client WebSocket byte stream (websocket_invariants.cc).
std::string check_websocket(const uint8_t* data, size_t n);

}  // namespace fuzzcheck

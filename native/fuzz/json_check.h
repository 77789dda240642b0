// A strict JSON checker for the fuzz targets and unit tests: it proves that
// what the decoder emits parses, independently of the code that wrote it.
#pragma once

#include <string_view>

namespace fuzzcheck {

// True when s is exactly one JSON value in the compact form JSON.stringify
// writes: RFC 8259 grammar, no whitespace between tokens, valid UTF-8.
bool json_valid(std::string_view s);

// The number of elements in the "ops" array of a commit entry, which starts
// {"repo":"...","ops":[; -1 when s does not start that way.
long commit_op_count(std::string_view s);

}  // namespace fuzzcheck

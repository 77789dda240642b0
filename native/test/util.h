// Helpers shared by the unit tests: fixture files, hex literals and a few
// DAG-CBOR / CAR builders for hand-made inputs.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "bytes.h"

#ifndef FIXTURES_DIR
#error "build with -DFIXTURES_DIR=\"...\" (see native/Makefile)"
#endif

namespace testutil {

// The file's bytes; a missing file is a test failure, reported at the caller.
std::string read_fixture(const std::string& rel);
// The messages of a capture file: [u32 LE length][message]...
std::vector<std::string> read_capture(const std::string& rel);

// "a1 61 61 01" -> bytes; spaces are ignored.
std::string unhex(std::string_view hex);

inline fh::Span span(const std::string& s) { return fh::Span(s); }

// DAG-CBOR pieces in shortest form.
std::string head(int major, uint64_t arg);
std::string text(std::string_view s);
std::string bytes(std::string_view b);
std::string link(std::string_view cid);  // tag 42 around 0x00 + cid
std::string uvarint(uint64_t v);

// A 36-byte DASL CID (dag-cbor, sha2-256) whose digest is the given byte
// pattern repeated, then `tail` in the last 8 bytes when non-empty.
std::string dasl_cid(uint8_t fill, std::string_view tail = {});

// A CAR v1: header {roots, version} then one section per (cid, data).
std::string make_car(const std::vector<std::string>& roots,
                     const std::vector<std::pair<std::string, std::string>>& blocks, uint64_t version = 1);

}  // namespace testutil

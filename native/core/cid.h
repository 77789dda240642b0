// Content identifiers: the strict form allowed in DAG-CBOR links, the looser
// form a CAR section may carry, and the string form atproto JSON prints.
#pragma once

#include <string>

#include "bytes.h"

namespace fh {

// A CID link inside DAG-CBOR data must be a DASL CID: CIDv1, codec dag-cbor
// (0x71) or raw (0x55), hash sha2-256 (0x12) or blake3 (0x1e) with a 32-byte
// digest, and nothing after it. Returns false and says why otherwise.
bool cid_check_link(Span cid, std::string& why);

// Length of the binary CID at the start of p (a CIDv0 multihash or any
// well-formed CIDv1), as CAR sections and headers may hold; 0 and a reason
// when it is malformed or runs past avail.
size_t cid_read_any(const uint8_t* p, size_t avail, std::string& why);

// 'b' + base32 lower case: the string form of a CIDv1.
constexpr size_t kDaslCidBytes = 36;
constexpr size_t kDaslCidChars = 59;
size_t cid_string_len(Span cid);
void cid_to_string(Span cid, char* out);
std::string cid_to_string(Span cid);

}  // namespace fh

#include "cid.h"

#include <cstdio>

#include "encoding.h"

namespace fh {

static std::string hex(uint64_t v) {
  char b[24];
  std::snprintf(b, sizeof b, "0x%llx", static_cast<unsigned long long>(v));
  return b;
}

bool cid_check_link(Span c, std::string& why) {
  if (c.n >= 2 && c.p[0] == 0x12 && c.p[1] == 0x20) {
    why = "CIDv0 is not allowed in a link (atproto uses CIDv1)";
    return false;
  }
  if (c.n < 4) {
    why = "CID of " + std::to_string(c.n) + " bytes is too short";
    return false;
  }
  // version, codec, hash function, digest length: varints, each printed
  // whole when wrong (0xb220 is blake2b-256, not its first byte).
  uint64_t v[4];
  size_t off = 0;
  for (uint64_t& x : v) {
    size_t k = read_uvarint(c.p + off, c.n - off, x);
    if (!k) {
      why = "CID holds a malformed or truncated varint";
      return false;
    }
    off += k;
  }
  if (v[0] != 1) {
    why = "CID version " + std::to_string(v[0]) + " is not 1";
    return false;
  }
  if (v[1] != 0x71 && v[1] != 0x55) {
    why = "CID codec " + hex(v[1]) + " is neither dag-cbor (0x71) nor raw (0x55)";
    return false;
  }
  if (v[2] != 0x12 && v[2] != 0x1e) {
    why = "CID hash " + hex(v[2]) + " is neither sha2-256 (0x12) nor blake3 (0x1e)";
    return false;
  }
  if (v[3] != 32) {
    why = "CID digest length " + std::to_string(v[3]) + " is not 32";
    return false;
  }
  if (c.n != kDaslCidBytes) {
    why = "CID is " + std::to_string(c.n) + " bytes, a 32-byte digest makes it 36";
    return false;
  }
  return true;
}

size_t cid_read_any(const uint8_t* p, size_t avail, std::string& why) {
  if (avail >= 2 && p[0] == 0x12 && p[1] == 0x20) {
    if (avail < 34) {
      why = "CIDv0 runs past the end of its section";
      return 0;
    }
    return 34;
  }
  size_t off = 0;
  uint64_t version, codec, hash, len;
  size_t k = read_uvarint(p, avail, version);
  if (!k) goto bad_varint;
  off += k;
  if (version != 1) {
    why = "CID version " + std::to_string(version) + " is not supported";
    return 0;
  }
  k = read_uvarint(p + off, avail - off, codec);
  if (!k) goto bad_varint;
  off += k;
  k = read_uvarint(p + off, avail - off, hash);
  if (!k) goto bad_varint;
  off += k;
  k = read_uvarint(p + off, avail - off, len);
  if (!k) goto bad_varint;
  off += k;
  if (len > avail - off) {
    why = "CID digest of " + std::to_string(len) + " bytes runs past the end of its section";
    return 0;
  }
  return off + len;
bad_varint:
  why = "CID holds a malformed or truncated varint";
  return 0;
}

size_t cid_string_len(Span cid) { return 1 + base32_len(cid.n); }

void cid_to_string(Span cid, char* out) {
  out[0] = 'b';
  base32_lower(cid.p, cid.n, out + 1);
}

std::string cid_to_string(Span cid) {
  std::string s(cid_string_len(cid), '\0');
  cid_to_string(cid, s.data());
  return s;
}

}  // namespace fh

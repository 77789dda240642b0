#include "car.h"

#include "cbor.h"
#include "cid.h"

namespace fh {

namespace {

// Past this many blocks a hash table beats comparing every CID.
constexpr size_t kLinearLookup = 16;

uint64_t cid_hash(Span cid) {
  // The digest sits at the end of the CID and is already uniformly random.
  uint64_t h = 0;
  size_t n = cid.n < 8 ? cid.n : 8;
  std::memcpy(&h, cid.p + cid.n - n, n);
  return h * 0x9e3779b97f4a7c15ULL;
}

bool parse_header(Span h, std::vector<Span>& roots, std::string& why) {
  CborReader r(h, LinkRule::AnyCid, 8);
  Item it;
  if (!r.next(it)) goto cbor_error;
  if (it.kind != Kind::Map) {
    why = "CAR header is not a map";
    return false;
  }
  {
    bool have_version = false, have_roots = false;
    uint64_t version = 0;
    Span prev, key;
    for (uint64_t i = 0; i < it.u; i++) {
      if (!r.next_key(key, prev)) goto cbor_error;
      Item v;
      if (key == "version") {
        if (!r.next(v)) goto cbor_error;
        if (v.kind != Kind::Uint) {
          why = "CAR header version is not an integer";
          return false;
        }
        version = v.u;
        have_version = true;
      } else if (key == "roots") {
        if (!r.expect(Kind::Array, v, "CAR header roots")) goto cbor_error;
        for (uint64_t k = 0; k < v.u; k++) {
          Item link;
          if (!r.expect(Kind::Link, link, "CAR root")) goto cbor_error;
          roots.push_back(link.s);
        }
        have_roots = true;
      } else if (!r.skip_value(1)) {
        goto cbor_error;
      }
    }
    if (!have_version) {
      why = "CAR header has no version";
      return false;
    }
    if (version != 1) {
      why = "unsupported CAR version " + std::to_string(version) + " (expected 1)";
      return false;
    }
    if (!have_roots) {
      why = "CAR header has no roots";
      return false;
    }
    if (!r.at_end()) {
      why = "CAR header has trailing bytes";
      return false;
    }
    return true;
  }
cbor_error:
  why = "CAR header: " + r.error();
  return false;
}

}  // namespace

bool CarReader::parse(Span car, size_t max_blocks, std::string& why) {
  roots_.clear();
  blocks_.clear();
  table_ready_ = false;
  const uint8_t* p = car.p;
  const uint8_t* end = car.p + car.n;

  uint64_t hlen;
  size_t k = read_uvarint(p, car.n, hlen);
  if (!k) {
    why = car.n == 0 ? "CAR is empty" : "CAR header length is not a valid varint";
    return false;
  }
  p += k;
  if (hlen == 0 || hlen > size_t(end - p)) {
    why = "CAR header length " + std::to_string(hlen) + " is invalid for a CAR of " + std::to_string(car.n) + " bytes";
    return false;
  }
  if (!parse_header(Span(p, size_t(hlen)), roots_, why)) return false;
  p += hlen;

  while (p < end) {
    size_t at = size_t(p - car.p);
    uint64_t len;
    k = read_uvarint(p, size_t(end - p), len);
    if (!k) {
      why = "CAR section length at byte " + std::to_string(at) + " is not a valid varint";
      return false;
    }
    p += k;
    if (len == 0) {
      why = "CAR section at byte " + std::to_string(at) + " has length 0";
      return false;
    }
    if (len > size_t(end - p)) {
      why = "CAR section at byte " + std::to_string(at) + " claims " + std::to_string(len) + " bytes but only " +
            std::to_string(end - p) + " remain";
      return false;
    }
    std::string cwhy;
    size_t clen = cid_read_any(p, size_t(len), cwhy);
    if (!clen) {
      why = "CAR section at byte " + std::to_string(at) + ": " + cwhy;
      return false;
    }
    if (blocks_.size() >= max_blocks) {
      why = "CAR has more than " + std::to_string(max_blocks) + " blocks";
      return false;
    }
    blocks_.push_back(CarBlock{Span(p, clen), Span(p + clen, size_t(len) - clen)});
    p += len;
  }
  return true;
}

void CarReader::build_table() {
  size_t cap = 32;
  while (cap < blocks_.size() * 2) cap *= 2;
  table_.assign(cap, 0);
  for (size_t i = 0; i < blocks_.size(); i++) {
    size_t slot = cid_hash(blocks_[i].cid) & (cap - 1);
    while (table_[slot]) slot = (slot + 1) & (cap - 1);
    table_[slot] = uint32_t(i + 1);
  }
  table_ready_ = true;
}

const CarBlock* CarReader::find(Span cid) {
  if (cid.n == 0) return nullptr;
  if (blocks_.size() <= kLinearLookup) {
    for (const CarBlock& b : blocks_) {
      if (b.cid.equals(cid)) return &b;
    }
    return nullptr;
  }
  if (!table_ready_) build_table();
  size_t mask = table_.size() - 1;
  for (size_t slot = cid_hash(cid) & mask; table_[slot]; slot = (slot + 1) & mask) {
    const CarBlock& b = blocks_[table_[slot] - 1];
    if (b.cid.equals(cid)) return &b;
  }
  return nullptr;
}

}  // namespace fh

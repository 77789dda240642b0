#include "cbor.h"

#include <cmath>

#include "cid.h"
#include "utf8.h"

namespace fh {

const char* kind_name(Kind k) {
  switch (k) {
    case Kind::Uint: return "an unsigned integer";
    case Kind::Negint: return "a negative integer";
    case Kind::Bytes: return "a byte string";
    case Kind::Text: return "a text string";
    case Kind::Array: return "an array";
    case Kind::Map: return "a map";
    case Kind::Link: return "a CID link";
    case Kind::Bool: return "a boolean";
    case Kind::Null: return "null";
    case Kind::Float: return "a float";
  }
  return "?";
}

bool CborReader::fail_at(size_t offset, const std::string& msg) {
  if (err_.empty()) err_ = msg + " at byte " + std::to_string(offset);
  return false;
}

bool CborReader::fail(const std::string& msg) { return fail_at(pos(), msg); }

bool CborReader::check_depth(int depth) {
  if (depth >= max_depth_) {
    return fail("nesting deeper than " + std::to_string(max_depth_) + " levels");
  }
  return true;
}

// The argument of a head whose additional info is ai (< 28), in shortest form.
bool CborReader::read_arg(uint8_t ai, uint64_t& arg) {
  if (ai < 24) {
    arg = ai;
    return true;
  }
  size_t n = size_t(1) << (ai - 24);  // 1, 2, 4 or 8 bytes
  if (size_t(end_ - p_) < n) return fail("unexpected end of input");
  uint64_t v = 0;
  for (size_t i = 0; i < n; i++) v = (v << 8) | p_[i];
  static const uint64_t kMin[] = {24, 0x100, 0x10000, 0x100000000ULL};
  if (v < kMin[ai - 24]) {
    return fail_at(pos() - 1, "integer or length not in shortest form");
  }
  p_ += n;
  arg = v;
  return true;
}

bool CborReader::read_link(Item& it) {
  size_t at = pos();
  if (p_ == end_) return fail("unexpected end of input");
  uint8_t b = *p_++;
  if ((b >> 5) != 2 || (b & 31) == 31) {
    return fail_at(at, "tag 42 must wrap a definite byte string");
  }
  uint64_t len;
  if ((b & 31) >= 28) return fail_at(at, "reserved additional info in tag 42");
  if (!read_arg(b & 31, len)) return false;
  if (len > size_t(end_ - p_)) return fail("byte string runs past the end of input");
  if (len == 0 || p_[0] != 0x00) {
    return fail("CID link must start with the 0x00 identity multibase prefix");
  }
  Span cid(p_ + 1, size_t(len) - 1);
  std::string why;
  if (links_ == LinkRule::Dasl) {
    if (!cid_check_link(cid, why)) return fail_at(at, why);
  } else {
    size_t n = cid_read_any(cid.p, cid.n, why);
    if (!n) return fail_at(at, why);
    if (n != cid.n) return fail_at(at, "CID is followed by stray bytes inside its tag");
  }
  p_ += len;
  it.kind = Kind::Link;
  it.s = cid;
  return true;
}

bool CborReader::next(Item& it) {
  if (p_ == end_) return fail("unexpected end of input");
  size_t at = pos();
  uint8_t b = *p_++;
  uint8_t major = b >> 5, ai = b & 31;

  if (major == 7) {
    switch (ai) {
      case 20:
        it.kind = Kind::Bool;
        it.b = false;
        return true;
      case 21:
        it.kind = Kind::Bool;
        it.b = true;
        return true;
      case 22: it.kind = Kind::Null; return true;
      case 23: return fail_at(at, "undefined is not allowed");
      case 25:
      case 26: return fail_at(at, "only 64-bit floats are allowed");
      case 27: {
        if (size_t(end_ - p_) < 8) return fail("unexpected end of input");
        uint64_t bits = 0;
        for (int i = 0; i < 8; i++) bits = (bits << 8) | p_[i];
        double d;
        static_assert(sizeof d == sizeof bits, "double is 64 bits");
        std::memcpy(&d, &bits, 8);
        if (std::isnan(d)) return fail_at(at, "NaN is not allowed");
        if (std::isinf(d)) return fail_at(at, "Infinity is not allowed");
        if (bits == 0x8000000000000000ULL) return fail_at(at, "negative zero is not allowed");
        p_ += 8;
        it.kind = Kind::Float;
        it.f = d;
        return true;
      }
      case 31: return fail_at(at, "unexpected break code");
      default:
        if (ai >= 28) return fail_at(at, "reserved additional info");
        return fail_at(at, "simple value is not allowed");
    }
  }
  if (ai == 31) {
    if (major >= 2 && major <= 5) return fail_at(at, "indefinite-length items are not allowed");
    return fail_at(at, "invalid additional info 31");
  }
  if (ai >= 28) return fail_at(at, "reserved additional info");

  uint64_t arg;
  if (!read_arg(ai, arg)) return false;
  size_t avail = size_t(end_ - p_);
  switch (major) {
    case 0:
      it.kind = Kind::Uint;
      it.u = arg;
      return true;
    case 1:
      it.kind = Kind::Negint;
      it.u = arg;
      return true;
    case 2:
    case 3:
      if (arg > avail) {
        return fail_at(
            at, major == 2 ? "byte string runs past the end of input" : "text string runs past the end of input");
      }
      it.s = Span(p_, size_t(arg));
      if (major == 3) {
        size_t bad = utf8_invalid_at(it.s.p, it.s.n);
        if (bad != it.s.n) return fail_at(pos() + bad, "invalid UTF-8 in text string");
        it.kind = Kind::Text;
      } else {
        it.kind = Kind::Bytes;
      }
      p_ += arg;
      return true;
    case 4:
      if (arg > avail) return fail_at(at, "array length exceeds the remaining input");
      it.kind = Kind::Array;
      it.u = arg;
      return true;
    case 5:
      if (arg > avail / 2) return fail_at(at, "map length exceeds the remaining input");
      it.kind = Kind::Map;
      it.u = arg;
      return true;
    default:  // 6: tag
      if (arg != 42) {
        return fail_at(at, "tag " + std::to_string(arg) + " is not allowed (only 42, a CID)");
      }
      return read_link(it);
  }
}

bool CborReader::next_key(Span& key, Span& prev) {
  size_t at = pos();
  Item it;
  if (!next(it)) return false;
  if (it.kind != Kind::Text) return fail_at(at, "map key is not a text string");
  key = it.s;
  if (prev.p) {
    int c;
    if (key.n != prev.n) {
      c = key.n < prev.n ? -1 : 1;
    } else {
      c = std::memcmp(key.p, prev.p, key.n);
    }
    if (c == 0) return fail_at(at, "duplicate map key \"" + std::string(key.view()) + "\"");
    if (c < 0) {
      return fail_at(
          at, "map key \"" + std::string(key.view()) + "\" out of canonical order (length first, then bytewise)");
    }
  }
  prev = key;
  return true;
}

bool CborReader::expect(Kind kind, Item& it, const char* what) {
  size_t at = pos();
  if (!next(it)) return false;
  if (it.kind != kind) {
    return fail_at(at, std::string(what) + " is " + kind_name(it.kind) + ", expected " + kind_name(kind));
  }
  return true;
}

bool CborReader::skip_contents(const Item& c, int depth) {
  if (c.kind != Kind::Array && c.kind != Kind::Map) return true;
  if (!check_depth(depth)) return false;
  if (c.kind == Kind::Array) {
    for (uint64_t i = 0; i < c.u; i++) {
      if (!skip_value(depth + 1)) return false;
    }
    return true;
  }
  Span prev, key;
  for (uint64_t i = 0; i < c.u; i++) {
    if (!next_key(key, prev)) return false;
    if (!skip_value(depth + 1)) return false;
  }
  return true;
}

bool CborReader::skip_value(int depth) {
  Item it;
  if (!next(it)) return false;
  return skip_contents(it, depth);
}

}  // namespace fh

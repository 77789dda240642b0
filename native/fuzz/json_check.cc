#include "json_check.h"

#include <cstdint>

#include "utf8.h"

namespace fuzzcheck {

namespace {

// Far deeper than any decoder output (records stop at 64 levels), shallow
// enough that recursion cannot exhaust the stack.
constexpr int kMaxDepth = 256;

struct Parser {
  const char* p;
  const char* end;

  bool eat(char c) {
    if (p == end || *p != c) return false;
    p++;
    return true;
  }

  bool literal(std::string_view word) {
    if (size_t(end - p) < word.size() || std::string_view(p, word.size()) != word) return false;
    p += word.size();
    return true;
  }

  bool digits() {
    const char* start = p;
    while (p != end && *p >= '0' && *p <= '9') p++;
    return p != start;
  }

  bool number() {
    eat('-');
    if (p == end || *p < '0' || *p > '9') return false;
    if (!eat('0')) digits();  // a leading 0 stands alone
    if (eat('.') && !digits()) return false;
    if (eat('e') || eat('E')) {
      if (!eat('+')) eat('-');
      if (!digits()) return false;
    }
    return true;
  }

  static bool hex(char c) { return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F'); }

  bool string() {
    if (!eat('"')) return false;
    while (p != end) {
      unsigned char c = uint8_t(*p++);
      if (c == '"') return true;
      if (c < 0x20) return false;
      if (c != '\\') continue;
      if (p == end) return false;
      char e = *p++;
      if (e == 'u') {
        for (int i = 0; i < 4; i++) {
          if (p == end || !hex(*p++)) return false;
        }
      } else if (std::string_view("\"\\/bfnrt").find(e) == std::string_view::npos) {
        return false;
      }
    }
    return false;
  }

  bool value(int depth) {
    if (p == end) return false;
    switch (*p) {
      case '{':
        if (depth >= kMaxDepth) return false;
        p++;
        if (eat('}')) return true;
        do {
          if (!string() || !eat(':') || !value(depth + 1)) return false;
        } while (eat(','));
        return eat('}');
      case '[':
        if (depth >= kMaxDepth) return false;
        p++;
        if (eat(']')) return true;
        do {
          if (!value(depth + 1)) return false;
        } while (eat(','));
        return eat(']');
      case '"': return string();
      case 't': return literal("true");
      case 'f': return literal("false");
      case 'n': return literal("null");
      default: return number();
    }
  }
};

}  // namespace

bool json_valid(std::string_view s) {
  if (!fh::utf8_valid(reinterpret_cast<const uint8_t*>(s.data()), s.size())) return false;
  Parser ps{s.data(), s.data() + s.size()};
  return ps.value(0) && ps.p == ps.end;
}

long commit_op_count(std::string_view s) {
  Parser ps{s.data(), s.data() + s.size()};
  if (!ps.literal("{\"repo\":") || !ps.string() || !ps.literal(",\"ops\":[")) return -1;
  if (ps.eat(']')) return 0;
  long n = 0;
  do {
    if (!ps.value(2)) return -1;
    n++;
  } while (ps.eat(','));
  return ps.eat(']') ? n : -1;
}

}  // namespace fuzzcheck

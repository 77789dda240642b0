#include "util.h"

#include <cstdio>
#include <fstream>
#include <sstream>

#include "check.h"

namespace testutil {

std::string read_fixture(const std::string& rel) {
  std::string path = std::string(FIXTURES_DIR) + "/" + rel;
  std::ifstream f(path, std::ios::binary);
  if (!CHECK(f.good())) {
    std::fprintf(stderr, "  missing fixture %s\n", path.c_str());
    return {};
  }
  std::ostringstream s;
  s << f.rdbuf();
  return s.str();
}

std::vector<std::string> read_capture(const std::string& rel) {
  std::string all = read_fixture(rel);
  std::vector<std::string> frames;
  size_t i = 0;
  while (i + 4 <= all.size()) {
    const auto* p = reinterpret_cast<const uint8_t*>(all.data() + i);
    size_t n = p[0] | p[1] << 8 | p[2] << 16 | size_t(p[3]) << 24;
    if (!CHECK(n <= all.size() - i - 4)) break;
    frames.push_back(all.substr(i + 4, n));
    i += 4 + n;
  }
  CHECK_EQ(i, all.size());
  return frames;
}

std::string unhex(std::string_view hex) {
  std::string out;
  int hi = -1;
  for (char c : hex) {
    if (c == ' ') continue;
    int v = c <= '9' ? c - '0' : (c | 0x20) - 'a' + 10;
    if (hi < 0) {
      hi = v;
    } else {
      out += char(hi << 4 | v);
      hi = -1;
    }
  }
  return out;
}

std::string head(int major, uint64_t arg) {
  std::string h;
  uint8_t m = uint8_t(major << 5);
  int n;
  if (arg < 24) {
    return std::string(1, char(m | arg));
  } else if (arg <= 0xff) {
    h += char(m | 24), n = 1;
  } else if (arg <= 0xffff) {
    h += char(m | 25), n = 2;
  } else if (arg <= 0xffffffffULL) {
    h += char(m | 26), n = 4;
  } else {
    h += char(m | 27), n = 8;
  }
  for (int i = n - 1; i >= 0; i--) h += char(arg >> (8 * i));
  return h;
}

std::string text(std::string_view s) { return head(3, s.size()) + std::string(s); }
std::string bytes(std::string_view b) { return head(2, b.size()) + std::string(b); }

std::string link(std::string_view cid) {
  return "\xd8\x2a" + head(2, cid.size() + 1) + std::string(1, '\0') + std::string(cid);
}

std::string uvarint(uint64_t v) {
  std::string out;
  do {
    uint8_t b = v & 0x7f;
    v >>= 7;
    out += char(v ? b | 0x80 : b);
  } while (v);
  return out;
}

std::string dasl_cid(uint8_t fill, std::string_view tail) {
  std::string cid = unhex("01711220") + std::string(32, char(fill));
  if (!tail.empty()) cid.replace(36 - tail.size(), tail.size(), tail);
  return cid;
}

std::string make_car(const std::vector<std::string>& roots,
                     const std::vector<std::pair<std::string, std::string>>& blocks, uint64_t version) {
  std::string h = head(5, 2) + text("roots") + head(4, roots.size());
  for (const std::string& r : roots) h += link(r);
  h += text("version") + head(0, version);
  std::string car = uvarint(h.size()) + h;
  for (const auto& [cid, data] : blocks) car += uvarint(cid.size() + data.size()) + cid + data;
  return car;
}

}  // namespace testutil

// Replays every input a fuzz target once failed on. A file's name says which
// target it belongs to: frame-*, cbor-*, car-* or websocket-*.
#include <filesystem>
#include <fstream>
#include <sstream>

#include "check.h"
#include "invariants.h"

#ifndef REGRESSIONS_DIR
#error "build with -DREGRESSIONS_DIR=\"...\" (see native/Makefile)"
#endif

TEST(fuzz_regressions) {
  namespace fs = std::filesystem;
  for (const fs::directory_entry& e : fs::directory_iterator(REGRESSIONS_DIR)) {
    std::string name = e.path().filename().string();
    if (name[0] == '.') continue;
    std::ifstream f(e.path(), std::ios::binary);
    std::ostringstream s;
    s << f.rdbuf();
    std::string in = s.str();
    const auto* p = reinterpret_cast<const uint8_t*>(in.data());
    std::string why;
    if (name.rfind("frame-", 0) == 0) {
      why = fuzzcheck::check_frame(p, in.size());
    } else if (name.rfind("cbor-", 0) == 0) {
      why = fuzzcheck::check_cbor(p, in.size());
    } else if (name.rfind("car-", 0) == 0) {
      why = fuzzcheck::check_car(p, in.size());
    } else if (name.rfind("websocket-", 0) == 0) {
      why = fuzzcheck::check_websocket(p, in.size());
    } else {
      why = "no target for this name";
    }
    CHECK_EQ(name + ": " + why, name + ": ");
  }
}

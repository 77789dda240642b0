// libFuzzer entry point; the checks live in websocket_invariants.cc.
#include <cstdio>
#include <cstdlib>

#include "invariants.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string why = fuzzcheck::check_websocket(data, size);
  if (!why.empty()) {
    std::fprintf(stderr, "check_websocket: %s\n", why.c_str());
    std::abort();
  }
  return 0;
}

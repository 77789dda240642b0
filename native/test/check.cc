#include "check.h"

#include <cstdio>
#include <cstring>
#include <exception>
#include <vector>

namespace check {

namespace {

struct Test {
  const char* name;
  void (*fn)();
};

std::vector<Test>& tests() {
  static std::vector<Test> all;
  return all;
}

const char* current = "";
long checks = 0, failures = 0;

}  // namespace

void add_test(const char* name, void (*fn)()) { tests().push_back({name, fn}); }

bool report(bool ok, const char* file, int line, const std::string& what) {
  checks++;
  if (!ok) {
    failures++;
    std::fprintf(stderr, "%s:%d: [%s] %s\n", file, line, current, what.c_str());
  }
  return ok;
}

std::string quote(std::string_view s) {
  std::string q = "\"";
  for (unsigned char c : s) {
    if (c >= 0x20 && c < 0x7f && c != '"' && c != '\\') {
      q += char(c);
    } else {
      char b[8];
      std::snprintf(b, sizeof b, "\\x%02x", c);
      q += b;
    }
  }
  return q + "\"";
}

}  // namespace check

// Runs every test, or those whose name contains argv[1].
int main(int argc, char** argv) {
  using namespace check;
  long ran = 0;
  for (const Test& t : tests()) {
    if (argc > 1 && !std::strstr(t.name, argv[1])) continue;
    current = t.name;
    ran++;
    try {
      t.fn();
    } catch (const std::exception& e) {
      report(false, __FILE__, __LINE__, std::string("uncaught exception: ") + e.what());
    }
  }
  std::printf("%ld tests, %ld checks, %ld failures\n", ran, checks, failures);
  return failures ? 1 : 0;
}

// RESP request encoding into a reusable buffer: formatting here (rather
// than per command in hiredis) costs one pass, and no allocation once the
// buffer has grown.
#pragma once

#include <initializer_list>
#include <string>
#include <string_view>
#include <vector>

#include "bytes.h"

namespace fh {

class RespWriter {
 public:
  explicit RespWriter(Buffer& out) : out_(out) {}
  void array(size_t n);
  void bulk(const void* p, size_t n);
  void bulk(std::string_view s) { bulk(s.data(), s.size()); }
  void bulk(Span s) { bulk(s.p, s.n); }
  void bulk(uint64_t v);

 private:
  Buffer& out_;
};

// A single command's RESP encoding, for the occasional GET or TYPE.
std::string resp_command(std::initializer_list<std::string_view> args);
std::string resp_command(const std::vector<std::string>& args);

}  // namespace fh

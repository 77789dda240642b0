#include "resp.h"

#include <charconv>

namespace fh {

void RespWriter::array(size_t n) {
  char* d = reinterpret_cast<char*>(out_.reserve(24));
  d[0] = '*';
  auto r = std::to_chars(d + 1, d + 22, n);
  r.ptr[0] = '\r';
  r.ptr[1] = '\n';
  out_.commit(size_t(r.ptr + 2 - d));
}

void RespWriter::bulk(const void* p, size_t n) {
  char* d = reinterpret_cast<char*>(out_.reserve(n + 26));
  d[0] = '$';
  auto r = std::to_chars(d + 1, d + 22, n);
  char* q = r.ptr;
  *q++ = '\r';
  *q++ = '\n';
  if (n) std::memcpy(q, p, n);
  q += n;
  *q++ = '\r';
  *q++ = '\n';
  out_.commit(size_t(q - d));
}

void RespWriter::bulk(uint64_t v) {
  char b[24];
  auto r = std::to_chars(b, b + sizeof b, v);
  bulk(b, size_t(r.ptr - b));
}

template <class Args>
static std::string encode(const Args& args) {
  Buffer b;
  RespWriter w(b);
  w.array(args.size());
  for (std::string_view a : args) w.bulk(a);
  return std::string(b.view());
}

std::string resp_command(std::initializer_list<std::string_view> args) { return encode(args); }
std::string resp_command(const std::vector<std::string>& args) { return encode(args); }

}  // namespace fh

#include "resp.h"

#include <charconv>

namespace fh {

RespBatch::RespBatch(std::string stream, std::string cursor_key, uint64_t max_len)
    : stream_(std::move(stream)),
      cursor_key_(std::move(cursor_key)),
      max_len_(max_len ? std::to_string(max_len) : std::string()) {}

void RespBatch::array(size_t n) {
  char* d = reinterpret_cast<char*>(buf_.reserve(24));
  d[0] = '*';
  auto r = std::to_chars(d + 1, d + 22, n);
  r.ptr[0] = '\r';
  r.ptr[1] = '\n';
  buf_.commit(size_t(r.ptr + 2 - d));
}

void RespBatch::bulk(const void* p, size_t n) {
  char* d = reinterpret_cast<char*>(buf_.reserve(n + 26));
  d[0] = '$';
  auto r = std::to_chars(d + 1, d + 22, n);
  char* q = r.ptr;
  *q++ = '\r';
  *q++ = '\n';
  if (n) std::memcpy(q, p, n);
  q += n;
  *q++ = '\r';
  *q++ = '\n';
  buf_.commit(size_t(q - d));
}

void RespBatch::begin() {
  buf_.clear();
  commands_ = entries_ = 0;
  has_cursor_ = false;
  array(1);
  bulk("MULTI");
  commands_++;
}

void RespBatch::xadd(std::string_view type, Span data, std::string_view seq) {
  bool trim = !max_len_.empty();
  array(trim ? 12 : 9);
  bulk("XADD");
  bulk(stream_);
  if (trim) {
    bulk("MAXLEN");
    bulk("~");
    bulk(max_len_);
  }
  bulk("*");
  bulk("type");
  bulk(type);
  bulk("data");
  bulk(data.p, data.n);
  bulk("seq");
  bulk(seq);
  commands_++;
  entries_++;
}

void RespBatch::set_cursor(std::string_view seq) {
  array(3);
  bulk("SET");
  bulk(cursor_key_);
  bulk(seq);
  commands_++;
  has_cursor_ = true;
}

void RespBatch::command(std::initializer_list<std::string_view> args) {
  array(args.size());
  for (std::string_view a : args) bulk(a);
  commands_++;
}

void RespBatch::end() {
  array(1);
  bulk("EXEC");
  commands_++;
}

std::string resp_command(std::initializer_list<std::string_view> args) {
  std::string s = "*" + std::to_string(args.size()) + "\r\n";
  for (std::string_view a : args) {
    s += "$" + std::to_string(a.size()) + "\r\n";
    s.append(a.data(), a.size());
    s += "\r\n";
  }
  return s;
}

}  // namespace fh

// RESP encoding of one batch: MULTI, an XADD per entry, SET of the cursor,
// EXEC, written into one buffer that is handed to the socket as it is.
// Formatting here (rather than per command in hiredis) costs one pass and no
// allocation once the buffer has grown.
#pragma once

#include <string>
#include <string_view>

#include "bytes.h"

namespace fh {

class RespBatch {
 public:
  // stream: XADD key; max_len: MAXLEN ~ N, or 0 for no trimming.
  RespBatch(std::string stream, std::string cursor_key, uint64_t max_len);

  void begin();                                  // MULTI
  void xadd(std::string_view type, Span data, std::string_view seq);
  void set_cursor(std::string_view seq);         // SET cursor_key seq
  void command(std::initializer_list<std::string_view> args);  // any other command
  void end();                                    // EXEC

  void set_cursor_key(std::string key) { cursor_key_ = std::move(key); }
  const std::string& cursor_key() const { return cursor_key_; }

  Span bytes() const { return buf_.span(); }
  size_t commands() const { return commands_; }
  size_t entries() const { return entries_; }
  bool empty() const { return entries_ == 0 && !has_cursor_; }

 private:
  void array(size_t n);
  void bulk(const void* p, size_t n);
  void bulk(std::string_view s) { bulk(s.data(), s.size()); }

  std::string stream_, cursor_key_, max_len_;
  Buffer buf_;
  size_t commands_ = 0;
  size_t entries_ = 0;
  bool has_cursor_ = false;
};

// A single command's RESP encoding, for the occasional GET/TYPE/AUTH.
std::string resp_command(std::initializer_list<std::string_view> args);

}  // namespace fh

// One Redis connection through hiredis, driven by poll() so that every wait
// has a deadline and can be cut short from another thread. hiredis keeps
// the protocol parsing; this class keeps the time.
#pragma once

#include <hiredis.h>

#include <chrono>
#include <memory>
#include <string>
#include <vector>

#include "bytes.h"

namespace fh {

struct RedisConfig {
  std::string host = "127.0.0.1";
  int port = 6379;
  std::string path;  // unix socket; replaces host and port
  std::string username;
  std::string password;
  int db = 0;
  bool tls = false;
  std::string tls_ca_file;    // empty: the system's trusted CAs
  std::string tls_cert_file;  // client certificate, for servers that ask
  std::string tls_key_file;
  int connect_timeout_ms = 5000;
  int command_timeout_ms = 10000;
};

enum class Fault : uint8_t {
  None,
  Transient,  // retry after a pause: I/O, timeouts, LOADING, OOM, READONLY ...
  Fatal,      // retrying cannot help: WRONGTYPE, NOAUTH, NOPERM, bad credentials
  Aborted,    // the writer is being stopped
};

struct RedisError {
  Fault fault = Fault::None;
  std::string message;
};

struct ReplyFree {
  void operator()(redisReply* r) const { freeReplyObject(r); }
};
using Reply = std::unique_ptr<redisReply, ReplyFree>;

// Transient or fatal, from the first word of an error reply.
Fault classify_error_reply(std::string_view message);

class RedisConn {
 public:
  // abort_fd: becoming readable cuts every wait short.
  RedisConn(RedisConfig cfg, int abort_fd) : cfg_(std::move(cfg)), abort_fd_(abort_fd) {}
  ~RedisConn();
  RedisConn(const RedisConn&) = delete;
  RedisConn& operator=(const RedisConn&) = delete;

  // Connects, then sends AUTH and SELECT (hiredis forgets them on reconnect).
  bool connect(RedisError& err);
  void disconnect();
  bool connected() const { return ctx_ != nullptr; }

  // Writes the request (one or more commands in RESP) and reads n replies.
  bool exchange(Span request, size_t n, std::vector<Reply>& out, RedisError& err);
  // The two halves of exchange(), so that work can happen in between.
  bool send(Span request, RedisError& err);
  bool receive(size_t n, std::vector<Reply>& out, RedisError& err);
  // One command, one reply.
  bool command(std::initializer_list<std::string_view> args, Reply& out, RedisError& err);

  // host:port/db or the socket path; never the credentials.
  std::string describe() const;

 private:
  bool wait(short events, std::chrono::steady_clock::time_point deadline, RedisError& err);
  bool io_error(RedisError& err);
  bool open(std::chrono::steady_clock::time_point deadline, RedisError& err);
  bool start_tls(std::chrono::steady_clock::time_point deadline, RedisError& err);
  bool tls_buffered() const;
  bool await_certificate_verdict(std::chrono::steady_clock::time_point deadline, RedisError& err);
  bool port_speaks_tls(std::chrono::steady_clock::time_point deadline);
  // A TLS alert refusing our certificate becomes a fatal err.
  bool client_certificate_error(RedisError& err);

  RedisConfig cfg_;
  int abort_fd_;
  redisContext* ctx_ = nullptr;
  void* tls_ctx_ = nullptr;  // SSL_CTX*, made on first use
  void* tls_ = nullptr;      // SSL* of ctx_, owned by hiredis once initiated
  bool certificate_asked_ = false;  // the server asked for a client certificate
};

}  // namespace fh

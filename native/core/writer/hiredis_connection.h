// The real Connection: hiredis over a non-blocking socket (TLS through
// hiredis_ssl), driven by poll() so that every wait has a deadline and can
// be cut short from another thread. hiredis parses the replies; requests
// are written to the socket directly, from the writer's own buffers.
#pragma once

#include <chrono>
#include <string>

#include "connection.h"

namespace fh {

class HiredisConnection : public Connection {
 public:
  // abort_fd: becoming readable cuts every wait short.
  HiredisConnection(RedisConfig cfg, int abort_fd) : cfg_(std::move(cfg)), abort_fd_(abort_fd) {}
  ~HiredisConnection() override;

  bool connect(const Endpoint& to, RedisError& err) override;
  void disconnect() override;
  bool connected() const override { return ctx_ != nullptr; }
  bool send(std::initializer_list<Span> parts, RedisError& err) override;
  bool receive(size_t n, std::vector<Reply>& out, RedisError& err) override;
  std::string describe() const override;

 private:
  using Deadline = std::chrono::steady_clock::time_point;
  bool wait(short events, Deadline deadline, RedisError& err);
  bool io_error(RedisError& err);
  bool open(Deadline deadline, RedisError& err);
  bool await_certificate_verdict(Deadline deadline, RedisError& err);
  bool port_speaks_tls(Deadline deadline);
  // A TLS alert refusing our certificate becomes a fatal err.
  bool client_certificate_error(RedisError& err);
  bool start_tls(Deadline deadline, RedisError& err);
  bool write_tls(const uint8_t* p, size_t n, Deadline deadline, RedisError& err);
  bool tls_buffered() const;
  bool handshake(RedisError& err);

  RedisConfig cfg_;
  int abort_fd_;
  Endpoint at_;
  redisContext* ctx_ = nullptr;
  void* tls_ctx_ = nullptr;         // SSL_CTX*, made on first use
  void* tls_ = nullptr;             // SSL* of ctx_, owned by hiredis once initiated
  bool certificate_asked_ = false;  // the server asked for a client certificate
};

}  // namespace fh

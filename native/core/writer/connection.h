// One Redis connection as the writer core sees it: connect to an endpoint,
// send bytes, read replies, every wait bounded. HiredisConnection is the
// real one; the unit tests' FakeConnection models a server instead.
#pragma once

#include <hiredis.h>

#include <initializer_list>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "bytes.h"
#include "config.h"

namespace fh {

// Every failure falls in one class, and the class decides what happens next.
enum class Fault : uint8_t {
  None,
  Transient,  // connection lost, timeout, LOADING, BUSY, TRYAGAIN ...: back off, retry
  Redirect,   // MOVED, ASK, READONLY, a demoted master: ask the topology again
  Fatal,      // credentials, ACL, wrong type, certificate: stop, say what to change
  Config,     // a misconfiguration found at connect: stop with exit code 2
  Aborted,    // the writer is being stopped
};

struct RedisError {
  Fault fault = Fault::None;
  std::string message;
  // Redis is restarting (connection refused, LOADING): worth asking again
  // soon rather than after the whole backoff.
  bool soon = false;
};

struct ReplyFree {
  void operator()(redisReply* r) const { freeReplyObject(r); }
};
using Reply = std::unique_ptr<redisReply, ReplyFree>;

inline std::string reply_text(const redisReply* r) { return r && r->str ? std::string(r->str, r->len) : std::string(); }
inline bool is_error(const redisReply* r) { return r && r->type == REDIS_REPLY_ERROR; }

// The class of an error reply, from its first word.
Fault classify_error_reply(std::string_view message);

class Connection {
 public:
  virtual ~Connection() = default;
  // Connects to `to` (ignored for a unix socket), then AUTH and SELECT.
  virtual bool connect(const Endpoint& to, RedisError& err) = 0;
  virtual void disconnect() = 0;
  virtual bool connected() const = 0;
  // Writes the request, given in parts to spare a copy, and returns once
  // all of it is on the socket.
  virtual bool send(std::initializer_list<Span> parts, RedisError& err) = 0;
  // Reads n replies.
  virtual bool receive(size_t n, std::vector<Reply>& out, RedisError& err) = 0;
  // host:port/db or the socket path; never the credentials.
  virtual std::string describe() const = 0;
};

// Redis refused `doing` with error reply `reply`: the class, and one line
// saying what to change (credentials, ACL, a server still loading ...).
RedisError refusal(const Connection& c, const std::string& doing, const std::string& reply);

// One command, one reply.
bool command(Connection& c, std::initializer_list<std::string_view> args, Reply& out, RedisError& err);
// Several commands in one round trip; out holds one reply per command.
bool pipeline(Connection& c, const std::vector<std::vector<std::string>>& commands, std::vector<Reply>& out,
              RedisError& err);

}  // namespace fh

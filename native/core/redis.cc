#include "redis.h"

#include <poll.h>
#include <sys/socket.h>

#include <cerrno>
#include <cstring>

#include "resp.h"

namespace fh {

using SteadyClock = std::chrono::steady_clock;

Fault classify_error_reply(std::string_view m) {
  std::string_view word = m.substr(0, m.find(' '));
  static const std::string_view kTransient[] = {
      "LOADING", "BUSY", "OOM", "READONLY", "MASTERDOWN", "TRYAGAIN",
      "CLUSTERDOWN", "NOREPLICAS", "MISCONF",
  };
  for (std::string_view t : kTransient) {
    if (word == t) return Fault::Transient;
  }
  // A full server is a passing condition, though it shares the generic ERR.
  if (m.rfind("ERR max number of clients reached", 0) == 0) return Fault::Transient;
  return Fault::Fatal;
}

std::string RedisConn::describe() const {
  if (!cfg_.path.empty()) return "unix:" + cfg_.path + "/" + std::to_string(cfg_.db);
  return cfg_.host + ":" + std::to_string(cfg_.port) + "/" + std::to_string(cfg_.db);
}

void RedisConn::disconnect() {
  if (ctx_) {
    redisFree(ctx_);
    ctx_ = nullptr;
  }
}

bool RedisConn::io_error(RedisError& err) {
  err.fault = Fault::Transient;
  err.message = std::string("connection to Redis at ") + describe() + " failed: " +
                (ctx_ && ctx_->err ? ctx_->errstr : std::strerror(errno));
  disconnect();
  return false;
}

bool RedisConn::wait(short events, SteadyClock::time_point deadline, RedisError& err) {
  for (;;) {
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - SteadyClock::now());
    if (left.count() <= 0) {
      err.fault = Fault::Transient;
      err.message = "Redis at " + describe() + " did not answer in time";
      disconnect();
      return false;
    }
    pollfd fds[2] = {{ctx_->fd, events, 0}, {abort_fd_, POLLIN, 0}};
    int r = poll(fds, 2, int(left.count()) + 1);
    if (r < 0) {
      if (errno == EINTR) continue;
      return io_error(err);
    }
    if (fds[1].revents) {
      err.fault = Fault::Aborted;
      err.message = "writer stopped";
      disconnect();
      return false;
    }
    if (r > 0) return true;
  }
}

bool RedisConn::connect(RedisError& err) {
  disconnect();
  auto deadline = SteadyClock::now() + std::chrono::milliseconds(cfg_.connect_timeout_ms);
  if (cfg_.tls) {
    err.fault = Fault::Fatal;
    err.message = "rediss:// needs hiredis with TLS support (hiredis >= 1.0 with hiredis_ssl); "
                  "this build uses hiredis " + std::to_string(HIREDIS_MAJOR) + "." +
                  std::to_string(HIREDIS_MINOR) + " without it";
    return false;
  }
  ctx_ = cfg_.path.empty() ? redisConnectNonBlock(cfg_.host.c_str(), cfg_.port)
                           : redisConnectUnixNonBlock(cfg_.path.c_str());
  if (!ctx_) {
    err.fault = Fault::Transient;
    err.message = "cannot allocate a Redis connection";
    return false;
  }
  if (ctx_->err) return io_error(err);
  // A non-blocking connect() finishes when the socket turns writable; its
  // outcome is then in SO_ERROR.
  if (!wait(POLLOUT, deadline, err)) return false;
  int soerr = 0;
  socklen_t len = sizeof soerr;
  if (getsockopt(ctx_->fd, SOL_SOCKET, SO_ERROR, &soerr, &len) != 0 || soerr != 0) {
    errno = soerr ? soerr : errno;
    return io_error(err);
  }
  if (cfg_.path.empty()) redisEnableKeepAlive(ctx_);

  Reply r;
  if (!cfg_.password.empty()) {
    bool ok = cfg_.username.empty() ? command({"AUTH", cfg_.password}, r, err)
                                    : command({"AUTH", cfg_.username, cfg_.password}, r, err);
    if (!ok) return false;
    if (r->type == REDIS_REPLY_ERROR) {
      err.fault = classify_error_reply(r->str) == Fault::Transient ? Fault::Transient : Fault::Fatal;
      err.message = std::string("Redis at ") + describe() +
                    " refused the credentials in REDIS_URL: " + r->str;
      disconnect();
      return false;
    }
  }
  if (cfg_.db != 0) {
    if (!command({"SELECT", std::to_string(cfg_.db)}, r, err)) return false;
    if (r->type == REDIS_REPLY_ERROR) {
      err.fault = classify_error_reply(r->str);
      err.message = "Redis at " + describe() + " refused SELECT " + std::to_string(cfg_.db) +
                    ": " + r->str;
      disconnect();
      return false;
    }
  }
  return true;
}

bool RedisConn::exchange(Span req, size_t n, std::vector<Reply>& out, RedisError& err) {
  out.clear();
  if (!ctx_) {
    err.fault = Fault::Transient;
    err.message = "not connected to Redis";
    return false;
  }
  auto deadline = SteadyClock::now() + std::chrono::milliseconds(cfg_.command_timeout_ms);
  if (redisAppendFormattedCommand(ctx_, reinterpret_cast<const char*>(req.p), req.n) != REDIS_OK) {
    return io_error(err);
  }
  int done = 0;
  for (;;) {
    if (redisBufferWrite(ctx_, &done) != REDIS_OK) return io_error(err);
    if (done) break;
    if (!wait(POLLOUT, deadline, err)) return false;
  }
  while (out.size() < n) {
    void* reply = nullptr;
    if (redisGetReplyFromReader(ctx_, &reply) != REDIS_OK) return io_error(err);
    if (reply) {
      out.emplace_back(static_cast<redisReply*>(reply));
      continue;
    }
    if (!wait(POLLIN, deadline, err)) return false;
    if (redisBufferRead(ctx_) != REDIS_OK) return io_error(err);
  }
  return true;
}

bool RedisConn::command(std::initializer_list<std::string_view> args, Reply& out,
                        RedisError& err) {
  std::string req = resp_command(args);
  std::vector<Reply> replies;
  if (!exchange(Span(req), 1, replies, err)) return false;
  out = std::move(replies[0]);
  return true;
}

}  // namespace fh

#include "hiredis_connection.h"

#include <arpa/inet.h>
#include <hiredis_ssl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/uio.h>

#include <cerrno>
#include <cstring>

namespace fh {

using SteadyClock = std::chrono::steady_clock;

std::string HiredisConnection::describe() const {
  if (!cfg_.path.empty()) return "unix:" + cfg_.path + "/" + std::to_string(cfg_.db);
  return at_.describe() + "/" + std::to_string(cfg_.db);
}

void HiredisConnection::disconnect() {
  if (ctx_) {
    redisFree(ctx_);  // frees the SSL object too
    ctx_ = nullptr;
  }
  tls_ = nullptr;
}

HiredisConnection::~HiredisConnection() {
  disconnect();
  if (tls_ctx_) SSL_CTX_free(static_cast<SSL_CTX*>(tls_ctx_));
}

// A TLS alert by which the server refuses our client certificate, or its
// absence: retrying will not change its mind.
static bool client_certificate_refused(unsigned long e) {
  if (ERR_GET_LIB(e) != ERR_LIB_SSL) return false;
  switch (ERR_GET_REASON(e)) {
    case SSL_R_TLSV13_ALERT_CERTIFICATE_REQUIRED:
    case SSL_R_SSLV3_ALERT_BAD_CERTIFICATE:
    case SSL_R_SSLV3_ALERT_CERTIFICATE_UNKNOWN:
    case SSL_R_SSLV3_ALERT_CERTIFICATE_EXPIRED:
    case SSL_R_SSLV3_ALERT_CERTIFICATE_REVOKED:
    case SSL_R_TLSV1_ALERT_UNKNOWN_CA: return true;
    default: return false;
  }
}

bool HiredisConnection::client_certificate_error(RedisError& err) {
  unsigned long e = ERR_peek_error();
  if (!client_certificate_refused(e)) return false;
  err.fault = Fault::Fatal;
  err.message = "Redis at " + describe() + " refused the TLS client certificate (" + ERR_reason_error_string(e) +
                "): set REDIS_TLS_CERT_FILE and REDIS_TLS_KEY_FILE to a certificate its CA signed";
  ERR_clear_error();
  return true;
}

static std::string openssl_error(const char* what) {
  unsigned long e = ERR_get_error();
  char buf[256] = "";
  if (e) ERR_error_string_n(e, buf, sizeof buf);
  ERR_clear_error();
  return std::string(what) + (e ? std::string(": ") + buf : std::string());
}

// TLS over the connected socket: certificate and host name checked against
// REDIS_TLS_CA_FILE or the system's CAs, handshake driven by poll() like
// every other wait.
bool HiredisConnection::start_tls(Deadline deadline, RedisError& err) {
  if (!tls_ctx_) {
    SSL_CTX* ctx = SSL_CTX_new(TLS_client_method());
    bool ok = ctx != nullptr;
    std::string why = "cannot create a TLS context";
    if (ok) {
      SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, nullptr);
      // Called when the server asks for a client certificate.
      SSL_CTX_set_cert_cb(
          ctx,
          [](SSL*, void* self) {
            static_cast<HiredisConnection*>(self)->certificate_asked_ = true;
            return 1;
          },
          this);
      ok = cfg_.tls_ca_file.empty() ? SSL_CTX_set_default_verify_paths(ctx) == 1
                                    : SSL_CTX_load_verify_locations(ctx, cfg_.tls_ca_file.c_str(), nullptr) == 1;
      why = "cannot load the CA certificates of REDIS_TLS_CA_FILE";
    }
    if (ok && !cfg_.tls_cert_file.empty()) {
      ok = SSL_CTX_use_certificate_chain_file(ctx, cfg_.tls_cert_file.c_str()) == 1 &&
           SSL_CTX_use_PrivateKey_file(ctx, cfg_.tls_key_file.c_str(), SSL_FILETYPE_PEM) == 1;
      why = "cannot load REDIS_TLS_CERT_FILE / REDIS_TLS_KEY_FILE";
    }
    if (!ok) {
      if (ctx) SSL_CTX_free(ctx);
      err.fault = Fault::Fatal;
      err.message = openssl_error(why.c_str());
      disconnect();
      return false;
    }
    tls_ctx_ = ctx;
  }
  SSL* ssl = SSL_new(static_cast<SSL_CTX*>(tls_ctx_));
  if (!ssl) {
    err.fault = Fault::Transient;
    err.message = openssl_error("cannot create a TLS session");
    disconnect();
    return false;
  }
  // Requests are written straight from the batch buffers, in pieces.
  SSL_set_mode(ssl, SSL_MODE_ENABLE_PARTIAL_WRITE | SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER);
  in6_addr addr6;
  in_addr addr4;
  X509_VERIFY_PARAM* param = SSL_get0_param(ssl);
  const std::string& host = at_.host;
  if (inet_pton(AF_INET, host.c_str(), &addr4) == 1 || inet_pton(AF_INET6, host.c_str(), &addr6) == 1) {
    X509_VERIFY_PARAM_set1_ip_asc(param, host.c_str());
  } else {
    SSL_set_tlsext_host_name(ssl, host.c_str());
    X509_VERIFY_PARAM_set1_host(param, host.c_str(), 0);
  }
  // An untrusted certificate will not become trusted by retrying.
  auto handshake_failed = [&](SSL* s) {
    long verify = SSL_get_verify_result(s);
    if (verify != X509_V_OK) {
      err.fault = Fault::Fatal;
      err.message = "the TLS certificate of Redis at " + describe() + " is not trusted (" +
                    X509_verify_cert_error_string(verify) +
                    "): set REDIS_TLS_CA_FILE to the CA that signed it, or use the host name it was issued for";
    } else if (!client_certificate_error(err)) {
      err.fault = Fault::Transient;
      err.message = openssl_error(("TLS handshake with Redis at " + describe() + " failed").c_str());
    }
    return false;
  };
  // hiredis starts the handshake itself and, on a failure, leaves the SSL
  // object to us.
  certificate_asked_ = false;
  if (redisInitiateSSL(ctx_, ssl) != REDIS_OK) {
    handshake_failed(ssl);
    SSL_free(ssl);
    disconnect();
    return false;
  }
  tls_ = ssl;
  for (;;) {
    ERR_clear_error();
    int r = SSL_do_handshake(ssl);
    if (r == 1) return !certificate_asked_ || await_certificate_verdict(deadline, err);
    int e = SSL_get_error(ssl, r);
    if (e == SSL_ERROR_WANT_READ || e == SSL_ERROR_WANT_WRITE) {
      if (!wait(e == SSL_ERROR_WANT_READ ? POLLIN : POLLOUT, deadline, err)) return false;
      continue;
    }
    handshake_failed(ssl);
    disconnect();
    return false;
  }
}

// In TLS 1.3 the server judges our certificate once the handshake is over
// for us. A refusal is an alert that a request sent meanwhile would lose to
// the TCP reset after it, so first wait for the verdict: a session ticket,
// or the alert. A server that sends no ticket costs the connect timeout.
bool HiredisConnection::await_certificate_verdict(Deadline deadline, RedisError& err) {
  SSL* ssl = static_cast<SSL*>(tls_);
  if (SSL_version(ssl) < TLS1_3_VERSION) return true;  // judged during the handshake
  for (;;) {
    char byte;
    ERR_clear_error();
    int r = SSL_peek(ssl, &byte, 1);  // reads the ticket or the alert
    if (r > 0 || SSL_SESSION_is_resumable(SSL_get0_session(ssl))) return true;
    if (SSL_get_error(ssl, r) != SSL_ERROR_WANT_READ) {
      if (!client_certificate_error(err)) {
        err.fault = Fault::Transient;
        err.message = openssl_error(("TLS with Redis at " + describe() + " failed").c_str());
      }
      disconnect();
      return false;
    }
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - SteadyClock::now());
    if (left.count() <= 0) return true;
    pollfd fds[2] = {{ctx_->fd, POLLIN, 0}, {abort_fd_, POLLIN, 0}};
    if (poll(fds, 2, int(left.count()) + 1) < 0 && errno != EINTR) return io_error(err);
    if (fds[1].revents) {
      err.fault = Fault::Aborted;
      err.message = "writer stopped";
      disconnect();
      return false;
    }
  }
}

bool HiredisConnection::tls_buffered() const { return tls_ && SSL_pending(static_cast<SSL*>(tls_)) > 0; }

bool HiredisConnection::io_error(RedisError& err) {
  if (tls_ && client_certificate_error(err)) {
    disconnect();
    return false;
  }
  err.fault = Fault::Transient;
  err.soon = errno == ECONNREFUSED;
  err.message = std::string("connection to Redis at ") + describe() +
                " failed: " + (ctx_ && ctx_->err ? ctx_->errstr : std::strerror(errno));
  disconnect();
  return false;
}

bool HiredisConnection::wait(short events, Deadline deadline, RedisError& err) {
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

bool HiredisConnection::open(Deadline deadline, RedisError& err) {
  disconnect();
  ctx_ = cfg_.path.empty() ? redisConnectNonBlock(at_.host.c_str(), at_.port)
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
  if (cfg_.path.empty()) {
    redisEnableKeepAlive(ctx_);
    // A batch goes out in a few writes: Nagle would hold the later ones
    // until Redis acknowledges the first, which it delays (40 ms a batch).
    int one = 1;
    setsockopt(ctx_->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  }
  return true;
}

// Whether the port answers a TLS ClientHello with a certificate: any
// certificate, since only the protocol is in question.
bool HiredisConnection::port_speaks_tls(Deadline deadline) {
  RedisError ignored;
  if (!open(deadline, ignored)) return false;
  SSL_CTX* ctx = SSL_CTX_new(TLS_client_method());
  SSL* ssl = ctx ? SSL_new(ctx) : nullptr;
  bool tls = false;
  if (ssl && SSL_set_fd(ssl, ctx_->fd) == 1) {
    for (;;) {
      int r = SSL_connect(ssl);
      if (r == 1) {
        tls = true;
        break;
      }
      int e = SSL_get_error(ssl, r);
      if ((e == SSL_ERROR_WANT_READ || e == SSL_ERROR_WANT_WRITE) &&
          wait(e == SSL_ERROR_WANT_READ ? POLLIN : POLLOUT, deadline, ignored)) {
        continue;
      }
      // It sent its certificate before asking for ours.
      tls = SSL_get_peer_cert_chain(ssl) != nullptr;
      break;
    }
  }
  SSL_free(ssl);
  SSL_CTX_free(ctx);
  ERR_clear_error();
  disconnect();
  return tls;
}

bool HiredisConnection::connect(const Endpoint& to, RedisError& err) {
  at_ = to;
  auto deadline = SteadyClock::now() + std::chrono::milliseconds(cfg_.connect_timeout_ms);
  if (!open(deadline, err)) return false;
  if (cfg_.tls && !start_tls(deadline, err)) return false;
  // A TLS port drops a plain connection at its first command without a
  // word, like any lost connection, which would be retried for ever. So
  // plain TCP starts with PING, and if that connection is dropped, a TLS
  // handshake tells which it was.
  if (!cfg_.tls && cfg_.path.empty()) {
    Reply r;
    if (!command(*this, {"PING"}, r, err)) {
      if (err.fault == Fault::Transient && port_speaks_tls(deadline)) {
        err.fault = Fault::Fatal;
        err.message = "Redis at " + describe() + ": this port speaks TLS: use rediss:// in REDIS_URL";
      }
      return false;
    }
    // Its errors (NOAUTH ...) are for AUTH and the commands after it to
    // report, except one that asks to come back later.
    if (is_error(r.get()) && classify_error_reply(r->str) == Fault::Transient) {
      err = refusal(*this, "answer PING", reply_text(r.get()));
      disconnect();
      return false;
    }
  }
  return handshake(err);
}

// AUTH and SELECT, which a new connection forgets.
bool HiredisConnection::handshake(RedisError& err) {
  Reply r;
  if (!cfg_.password.empty()) {
    bool ok = cfg_.username.empty() ? command(*this, {"AUTH", cfg_.password}, r, err)
                                    : command(*this, {"AUTH", cfg_.username, cfg_.password}, r, err);
    if (!ok) return false;
    if (is_error(r.get())) {
      err.fault = classify_error_reply(r->str) == Fault::Transient ? Fault::Transient : Fault::Fatal;
      err.message = "Redis at " + describe() + " refused the credentials in REDIS_URL: " + reply_text(r.get());
      disconnect();
      return false;
    }
  }
  if (cfg_.db != 0) {
    if (!command(*this, {"SELECT", std::to_string(cfg_.db)}, r, err)) return false;
    if (is_error(r.get())) {
      err.fault = classify_error_reply(r->str) == Fault::Transient ? Fault::Transient : Fault::Config;
      err.message = "Redis at " + describe() + " refused SELECT " + std::to_string(cfg_.db) + ": " +
                    reply_text(r.get()) + " (a Redis Cluster has only database 0: drop /" + std::to_string(cfg_.db) +
                    " from REDIS_URL)";
      disconnect();
      return false;
    }
  }
  return true;
}

bool HiredisConnection::write_tls(const uint8_t* p, size_t n, Deadline deadline, RedisError& err) {
  SSL* ssl = static_cast<SSL*>(tls_);
  while (n > 0) {
    ERR_clear_error();
    int r = SSL_write(ssl, p, int(n > (1u << 30) ? (1u << 30) : n));
    if (r <= 0) {
      int e = SSL_get_error(ssl, r);
      if (e == SSL_ERROR_WANT_WRITE || e == SSL_ERROR_WANT_READ) {
        if (!wait(e == SSL_ERROR_WANT_READ ? POLLIN : POLLOUT, deadline, err)) return false;
        continue;
      }
      errno = e == SSL_ERROR_SYSCALL && errno ? errno : EPIPE;
      return io_error(err);
    }
    p += r;
    n -= size_t(r);
  }
  return true;
}

bool HiredisConnection::send(std::initializer_list<Span> parts, RedisError& err) {
  if (!ctx_) {
    err.fault = Fault::Transient;
    err.message = "not connected to Redis";
    return false;
  }
  auto deadline = SteadyClock::now() + std::chrono::milliseconds(cfg_.command_timeout_ms);
  if (tls_) {
    for (const Span& s : parts) {
      if (!write_tls(s.p, s.n, deadline, err)) return false;
    }
    return true;
  }
  // One system call for all the parts, as long as the socket takes them.
  iovec iov[8];
  int count = 0;
  for (const Span& s : parts) {
    if (s.n && count < 8) iov[count++] = iovec{const_cast<uint8_t*>(s.p), s.n};
  }
  int at = 0;
  while (at < count) {
    msghdr msg{};
    msg.msg_iov = iov + at;
    msg.msg_iovlen = size_t(count - at);
    ssize_t w = ::sendmsg(ctx_->fd, &msg, MSG_NOSIGNAL);
    if (w < 0) {
      if (errno == EINTR) continue;
      if (errno == EAGAIN || errno == EWOULDBLOCK) {
        if (!wait(POLLOUT, deadline, err)) return false;
        continue;
      }
      return io_error(err);
    }
    size_t left = size_t(w);
    while (at < count && left >= iov[at].iov_len) left -= iov[at++].iov_len;
    if (at < count) {
      iov[at].iov_base = static_cast<uint8_t*>(iov[at].iov_base) + left;
      iov[at].iov_len -= left;
    }
  }
  return true;
}

bool HiredisConnection::receive(size_t n, std::vector<Reply>& out, RedisError& err) {
  out.clear();
  if (!ctx_) {
    err.fault = Fault::Transient;
    err.message = "not connected to Redis";
    return false;
  }
  auto deadline = SteadyClock::now() + std::chrono::milliseconds(cfg_.command_timeout_ms);
  while (out.size() < n) {
    void* reply = nullptr;
    if (redisGetReplyFromReader(ctx_, &reply) != REDIS_OK) return io_error(err);
    if (reply) {
      out.emplace_back(static_cast<redisReply*>(reply));
      continue;
    }
    // TLS may hold decrypted bytes that poll() cannot see.
    if (!tls_buffered() && !wait(POLLIN, deadline, err)) return false;
    if (redisBufferRead(ctx_) != REDIS_OK) return io_error(err);
  }
  return true;
}

}  // namespace fh

#include "lease.h"

#include <cstdio>
#include <random>

namespace fh {

Lease::Lease(const LeaseConfig& cfg, std::string key)
    : key_(std::move(key)), id_(cfg.instance_id), ttl_ms_(cfg.ttl_ms) {
  std::random_device rd;
  char token[20];
  std::snprintf(token, sizeof token, "%08x%08x", rd(), rd());
  holder_ = id_ + " " + token;
}

std::string Lease::instance_of(const std::string& holder) {
  size_t sp = holder.rfind(' ');
  return sp == std::string::npos ? holder : holder.substr(0, sp);
}

bool Lease::acquire(Connection& c, const std::string& sha, bool start, LeaseState& out, RedisError& err) {
  Reply r;
  if (!command(c, {"EVALSHA", sha, "1", key_, holder_, id_ + " ", std::to_string(ttl_ms_), start ? "start" : "take"}, r,
               err)) {
    return false;
  }
  if (is_error(r.get())) {
    err = refusal(c, "run the lease script on " + key_, reply_text(r.get()));
    return false;
  }
  if (r->type != REDIS_REPLY_ARRAY || r->elements != 3) {
    err.fault = Fault::Fatal;
    err.message = "the lease script on " + key_ + " gave an unexpected reply";
    return false;
  }
  out.held = r->element[0]->integer == 1;
  out.holder = reply_text(r->element[1]);
  out.ttl_ms = r->element[2]->integer;
  return true;
}

}  // namespace fh

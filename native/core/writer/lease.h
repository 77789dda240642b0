// Leadership: a lease key in Redis, "<INSTANCE_ID> <token>" with a TTL,
// taken by exactly one instance. The active renews it with every batch and
// on a timer; every batch checks it (the fence), so an instance that lost
// it can no longer write. A restart of the same INSTANCE_ID takes it back
// at once; anyone else waits for it to expire.
#pragma once

#include <string>

#include "clock.h"
#include "config.h"
#include "connection.h"

namespace fh {

struct LeaseState {
  bool held = false;
  std::string holder;  // who holds it ("" when nobody)
  int64_t ttl_ms = 0;  // how long it lasts from now
};

class Lease {
 public:
  Lease(const LeaseConfig& cfg, std::string key);
  const std::string& holder() const { return holder_; }
  const std::string& key() const { return key_; }
  int64_t ttl_ms() const { return ttl_ms_; }
  // The instance id of a holder value.
  static std::string instance_of(const std::string& holder);

  // Takes or renews the lease with the lease script. start: a holder with
  // this instance id is ours too (this process restarted).
  bool acquire(Connection& c, const std::string& sha, bool start, LeaseState& out, RedisError& err);

  // Renewal cadence: a third of the TTL, so two renewals may fail in a row.
  TimePoint renew_due() const { return renewed_ + Millis(ttl_ms_ / 3); }
  void renewed(TimePoint now) { renewed_ = now; }

 private:
  std::string key_, id_, holder_;
  int64_t ttl_ms_;
  TimePoint renewed_{};
};

}  // namespace fh

// Consumer pacing: the stream cap never deletes what a counted consumer
// group still needs (the groups script, run in each batch, trims no further
// than the oldest such entry), and when the slowest counted group's backlog (undelivered
// plus pending) reaches the cap, the writer stops taking frames until it
// falls under the low-water mark. This class keeps the groups' state from
// the scripts' replies, decides which groups count, and says when to wait.
#pragma once

#include <cstdint>
#include <deque>
#include <map>
#include <string>
#include <vector>

#include "batch.h"
#include "clock.h"
#include "config.h"
#include "connection.h"
#include "events.h"

namespace fh {

// A stream entry ID, "<ms>-<seq>".
struct StreamId {
  uint64_t ms = 0, seq = 0;
  static bool parse(std::string_view s, StreamId& out);
  bool operator<(const StreamId& o) const { return ms < o.ms || (ms == o.ms && seq < o.seq); }
  bool operator<=(const StreamId& o) const { return !(o < *this); }
};

class Pacing {
 public:
  // How often groups are looked at: backlog while paced, staleness always.
  static constexpr Millis kPollEvery{200};
  static constexpr Millis kStaleCheckEvery{1000};

  explicit Pacing(const WriterConfig& cfg);

  // Groups are read (in every batch) and pace the writer.
  bool enabled() const { return mode_ == TrimMode::Groups && cap_ > 0; }
  // The groups script's selection: which groups count.
  void selection(bool& only, std::vector<std::string>& names) const;
  // How a batch trims the stream.
  void trim(const std::string& groups_sha, BatchHeader& h) const;

  // Whether r has the groups script's shape (scripts.h).
  static bool well_formed(const redisReply* r);
  // Reads a well-formed groups script reply. Returns true when the paced
  // state changed.
  bool update(const redisReply* r, TimePoint now);

  // XINFO CONSUMERS per group: marks groups stale (all consumers idle past
  // the stale time, or none for that long) or fresh again. Returns the
  // groups whose state changed, for the log. The first call also checks
  // that the ACL lets this user run XINFO and XPENDING (else Fault::Fatal).
  bool check_stale(Connection& c, const std::string& stream, TimePoint now,
                   std::vector<std::pair<std::string, bool>>& changed, RedisError& err);

  bool paced() const { return paced_; }
  const std::string& slowest() const { return slowest_; }
  int64_t slowest_backlog() const { return slowest_backlog_; }
  int64_t xlen() const { return xlen_; }
  const std::vector<GroupState>& groups() const { return groups_; }
  TimePoint paced_since() const { return paced_since_; }

 private:
  int64_t estimate_undelivered(const StreamId& delivered, const StreamId& first, const StreamId& last,
                               int64_t added) const;
  bool probe(Connection& c, const std::string& stream, RedisError& err);
  void remember(const StreamId& last, int64_t added);
  bool decide(TimePoint now);

  TrimMode mode_;
  uint64_t cap_;
  int64_t low_;
  std::vector<std::string> only_;
  int64_t stale_after_ms_;
  std::vector<GroupState> groups_;
  std::map<std::string, TimePoint> no_consumers_since_;
  std::map<std::string, bool> stale_;
  // (newest id, entries added) samples, spaced about cap/1024 entries apart:
  // where a group stands when Redis cannot say (lag nil).
  std::deque<std::pair<StreamId, int64_t>> samples_;
  int64_t xlen_ = 0;
  bool probed_ = false;
  bool paced_ = false;
  TimePoint paced_since_{};
  std::string slowest_;
  int64_t slowest_backlog_ = 0;
};

}  // namespace fh

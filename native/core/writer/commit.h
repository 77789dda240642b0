// Did it land? After a reconnect, a redirect or a fence refusal the writer
// reads what Redis holds (cursor, fence, lease, the stream's newest entry)
// and compares it with what it believes: the batch it had in flight landed
// or not, Redis lost acknowledged writes (the cursor went back), came back
// empty, replayed half a transaction from a torn AOF, or someone else wrote.
// The decision is a pure function, so every case is tested without Redis.
#pragma once

#include <cstdint>
#include <deque>
#include <string>

#include "batch.h"
#include "config.h"
#include "connection.h"

namespace fh {

struct RedisState {
  FenceState keys;       // cursor and fence
  std::string holder;    // the lease
  std::string tail_id;   // the stream's newest entry ("" when none)
  std::string tail_seq;  // its seq field
};

// One round trip: key types (a wrong one is fatal), then the values.
bool read_state(Connection& c, const WriterConfig& cfg, RedisState& out, RedisError& err);

enum class Verdict : uint8_t {
  Same,       // Redis holds what we believe (no batch in flight)
  Landed,     // the batch in flight was applied
  NotLanded,  // it was not: send it again
  Torn,       // entries past the fence without their cursor: adopt the tail first
  Empty,      // Redis lost everything: carry on from our own cursor
  Behind,     // Redis lost acknowledged writes: fetch the span again
  Foreign,    // changed by someone else: follow Redis
};

// `base`: what the writer believes Redis holds; `b`: the batch in flight.
Verdict reconcile(const RedisState& st, const FenceState& base, const Batch* b);

// Numeric comparison of two cursors; false when either is not a number.
bool cursor_less(const std::string& a, const std::string& b);

// Where the writer resumed on a new connection: its first batch there went
// on top of fence `from` and ended at entry `to`, with `entries` entries.
// A crash can tear the AOF inside a batch's MULTI block; Redis 7.0 and
// Valkey 8.0 (aof-load-truncated yes) then leave the block open, the next
// batch closes it, and the next load replays the torn half just before
// that batch: more entries in (from, to] than it wrote. Only a writer that
// lives across both restarts can see it, by checking its seams.
struct Seam {
  std::string from, to;
  uint64_t entries = 0;
};

class Seams {
 public:
  static constexpr size_t kKept = 8;
  // A new connection: the next batch with entries opens a seam.
  void reconnected() { pending_ = true; }
  void written(const std::string& from, const std::string& to, uint64_t entries);
  const std::deque<Seam>& all() const { return seams_; }
  void drop(size_t i) { seams_.erase(seams_.begin() + long(i)); }
  // Redis will not let us check: stop keeping seams.
  void disable() {
    disabled_ = true;
    seams_.clear();
  }

 private:
  bool pending_ = false, disabled_ = false;
  std::deque<Seam> seams_;
};

// What the writer acknowledged, for "Redis lost N events" after a
// regression: (cursor, entries written so far) after each batch.
class AckHistory {
 public:
  void add(const std::string& cursor, uint64_t entries_total);
  // Entries acknowledged after `cursor`; -1 when it is older than the
  // history (or not numeric).
  int64_t lost_since(const std::string& cursor) const;
  void clear() { acks_.clear(); }

 private:
  std::deque<std::pair<int64_t, uint64_t>> acks_;
};

}  // namespace fh

// What the writer tells its owner: one stream of events, delivered on the
// writer thread to a sink that must not block.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "frame.h"

namespace fh {

struct FrameCounts {
  uint64_t commit = 0, identity = 0, account = 0, sync = 0, info = 0;
  uint64_t error = 0, legacy = 0, unknown = 0, filtered = 0, invalid = 0;
  uint64_t stale = 0;  // seq not above the previous one: nothing written
};

struct SkipNote {
  bool has_seq = false;
  int64_t seq = 0;
  std::string path, reason, detail;
};

struct InvalidNote {
  std::string error;
  size_t bytes = 0;
};

struct StaleNote {
  int64_t seq = 0, previous = 0;
};

// Error frames and #info: what the relay told us.
struct Notice {
  std::string frame, name, message;
};

struct BatchReport {
  bool has_cursor = false;
  std::string cursor;  // durable after this batch
  size_t entries = 0, frames = 0, bytes = 0, data_bytes = 0;
  double write_ms = 0, max_wait_ms = 0;
  uint32_t retries = 0;
  size_t queue_bytes = 0, queue_frames = 0;
  bool has_time = false;
  std::string last_time;
  FrameCounts counts;
  uint64_t ops_skipped = 0, ops_filtered = 0;
  uint64_t skipped_by_reason[kSkipReasons] = {};  // indexed by SkipReason
  std::vector<SkipNote> skipped;
  std::vector<InvalidNote> invalid;
  std::vector<StaleNote> stale;
  std::vector<Notice> notices;
  std::vector<std::string> unknown_types;
};

// One consumer group of the stream, as the last batch or poll saw it.
struct GroupState {
  std::string name;
  int64_t undelivered = 0;  // -1: Redis could not tell (lag nil)
  int64_t pending = 0;
  bool counted = true;  // paces the writer and bounds trimming
  bool stale = false;   // every consumer idle past the stale time
  int64_t backlog() const { return undelivered < 0 ? pending : undelivered + pending; }
};

struct WriterEvent {
  enum class Type : uint8_t {
    Ready,      // first time active: cursor
    Batch,      // batch
    RedisDown,  // error, attempt, retry_ms
    RedisUp,
    Drain,      // push() may be called again
    Fatal,      // error; config: a misconfiguration (exit 2), not a failure
    Closed,     // flushed, pending
    CursorKey,  // key, cursor
    Role,       // active, holder, message
    Resync,     // cursor (where Redis is), previous (what we had), lost, message, reconnect
    Pacing,     // paced, group, backlog, groups
    Node,       // node, message
    Log,        // level, message: rare conditions worth a line in the log
  };
  Type type = Type::Ready;
  bool has_cursor = false;
  std::string cursor;
  std::string key;
  BatchReport batch;
  std::string error;
  bool config = false;
  uint32_t attempt = 0;
  int64_t retry_ms = 0;
  bool flushed = false;
  size_t pending = 0;
  size_t queued = 0;  // Closed: of pending, those in the queue (which keeps taking pushes)
  bool active = false;
  std::string holder;
  std::string previous;
  int64_t lost = -1;
  bool reconnect = false;
  bool paced = false;
  std::string group;
  int64_t backlog = 0;
  std::vector<GroupState> groups;
  std::string node;
  std::string level;
  std::string message;
};

}  // namespace fh

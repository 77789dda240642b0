// One fenced batch: frames in, the EVALSHA of the batch script out. The
// frames are decoded once, into two RESP pieces (broadcast messages, and
// entries) sent as they are; the small prefix (script, keys, lease, fence, trim policy,
// dashboard) is encoded at each send, because what Redis holds can change
// between attempts while the entries stay the same.
#pragma once

#include <string>
#include <vector>

#include "bytes.h"
#include "clock.h"
#include "config.h"
#include "dashboard.h"
#include "events.h"
#include "frame.h"
#include "queue.h"

namespace fh {

// What the cursor and fence keys hold ("" when absent): a batch applies on
// top of exactly this, and leaves its own.
struct FenceState {
  std::string cursor, fence;
  bool operator==(const FenceState& o) const { return cursor == o.cursor && fence == o.fence; }
  bool operator!=(const FenceState& o) const { return !(*this == o); }
};

// The newest seq accepted so far: a frame at or below it is stale.
struct SeqFloor {
  bool has = false;
  int64_t seq = 0;
  // From a cursor value; a non-numeric one filters nothing.
  void set(const std::string& cursor);
};

struct Batch {
  Buffer messages, entries_resp;
  size_t entries = 0, message_count = 0;
  std::string cursor;  // the cursor after this batch; "" leaves it
  std::string recent;  // recent events JSON; "" leaves the key
  BatchReport rep;
  size_t frames = 0;
  TimePoint oldest{}, sent_at{};
  uint32_t attempts = 0;
  // Set at each send: what it was sent on top of, and the status with it.
  FenceState before;
  std::string status;

  // Nothing for Redis: no entry, no cursor move.
  bool empty() const { return entries == 0 && cursor.empty(); }
  // Where the keys stand once it applied (the fence from its reply).
  FenceState after(const std::string& last_id) const {
    return FenceState{cursor.empty() ? before.cursor : cursor, last_id.empty() ? before.fence : last_id};
  }
};

// The send-time part of a batch.
struct BatchHeader {
  std::string sha, holder;
  int64_t lease_ttl_ms = 0;
  std::string trim;  // "groups" | "maxlen" | "none"
  uint64_t cap = 0;
  bool only = false;  // names are the groups that count, not those that do not
  std::vector<std::string> names;
  bool recent_key = false, status_key = false;  // may these keys be written
};

class BatchBuilder {
 public:
  BatchBuilder(const DecoderOptions& opts, Dashboard& dash) : decoder_(opts), dash_(dash) {}
  // Decodes the frames into b, dropping (and noting) stale ones.
  void build(const std::vector<QueuedFrame>& frames, Batch& b, SeqFloor& floor);

 private:
  FrameDecoder decoder_;
  Dashboard& dash_;
};

// The EVALSHA up to the message count, for b sent on top of b.before.
void encode_prefix(const WriterConfig& cfg, const Batch& b, const BatchHeader& h, Buffer& out);

}  // namespace fh

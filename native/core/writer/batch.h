// One fenced batch. The fence is optimistic locking: the writer WATCHes
// the cursor, fence and lease keys and reads them (the check); only if they
// hold what the batch was built on does it send MULTI, one XADD per entry,
// the cursor, the fence, the lease renewal, the trim (with pacing, the
// groups script, scripts.h) and the dashboard, then EXEC. A change to any watched key in between, by another instance,
// a stale connection of this one or a failover, makes EXEC apply nothing.
// (A Lua script doing the same costs Redis about 28 % more CPU per entry:
// its XADDs go through the scripting layer.)
//
// The frames are decoded once, into the RESP of their XADDs and PUBLISHes,
// sent as they are at every attempt; what depends on Redis's state is
// encoded at each send.
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
#include "resp.h"

namespace fh {

// What the cursor and fence keys hold ("" when absent): a batch applies on
// top of exactly this, and leaves its own. The fence is "<token> <seq>":
// the token of the last committed batch (unique), and the seq of the
// newest entry that batches wrote, which must be the stream's tail.
struct FenceState {
  std::string cursor, fence;
  bool operator==(const FenceState& o) const { return cursor == o.cursor && fence == o.fence; }
  bool operator!=(const FenceState& o) const { return !(*this == o); }
};

// The seq part of a fence value.
std::string fence_seq(const std::string& fence);

// The newest seq accepted so far: a frame at or below it is stale.
struct SeqFloor {
  bool has = false;
  int64_t seq = 0;
  // From a cursor value; a non-numeric one filters nothing.
  void set(const std::string& cursor);
};

struct Batch {
  Buffer xadds, publishes;  // complete commands
  size_t entries = 0, messages = 0;
  size_t queued = 0;     // commands in its transaction, set at each send
  std::string token;     // this batch's, the same at every attempt
  std::string cursor;    // the cursor after this batch; "" leaves it
  std::string last_seq;  // seq of its last entry
  std::string recent;    // recent events JSON; "" leaves the key
  BatchReport rep;
  size_t frames = 0;
  TimePoint oldest{}, sent_at{};
  // Set at each send: what it was sent on top of, and what it leaves.
  FenceState before, after;
  bool groups = false;  // its transaction runs the groups script (pacing)
  std::string status;

  // Nothing for Redis: no entry, no cursor move.
  bool empty() const { return entries == 0 && cursor.empty(); }
};

// The send-time part of a batch.
struct BatchHeader {
  std::string holder;
  int64_t lease_ttl_ms = 0;
  // After the entries: no trim, XTRIM MAXLEN ~ cap, or the groups script
  // (reads the groups, trims as far as they allow).
  enum class Trim : uint8_t { None, MaxLen, Groups } trim = Trim::None;
  uint64_t cap = 0;
  std::string groups_sha;
  bool only = false;
  std::vector<std::string> names;
  bool recent_key = false, status_key = false;  // may these keys be written
};

class BatchBuilder {
 public:
  BatchBuilder(const WriterConfig& cfg, Dashboard& dash) : cfg_(cfg), decoder_(cfg.decoder), dash_(dash) {}
  // Decodes the frames into b, dropping (and noting) stale ones.
  void build(const std::vector<QueuedFrame>& frames, Batch& b, SeqFloor& floor);

 private:
  const WriterConfig& cfg_;
  FrameDecoder decoder_;
  Dashboard& dash_;
  uint64_t batches_ = 0;
};

// The check: UNWATCH, WATCH the keys, then read them (MGET cursor fence
// lease). Three replies.
void encode_check(const WriterConfig& cfg, Buffer& out);
constexpr size_t kCheckReplies = 3;

// The groups script's call (scripts.h).
void encode_groups(RespWriter& w, const std::string& stream, uint64_t cap, const std::string& sha, bool only,
                   const std::vector<std::string>& names);

// The transaction around b's XADDs: `head` is MULTI, `tail` everything
// after the entries up to EXEC. Returns how many commands were queued.
size_t encode_exec(const WriterConfig& cfg, const Batch& b, const BatchHeader& h, Buffer& head, Buffer& tail);

}  // namespace fh

// The writer: its own thread takes frames from the queue, decodes them and
// writes each batch as one MULTI/EXEC (XADDs, then SET of the cursor), so
// that the cursor never gets ahead of the entries in Redis. It retries what
// can succeed later, stops on what cannot, and tells its owner everything
// through one event sink, called on the writer thread.
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <deque>
#include <functional>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "frame.h"
#include "queue.h"
#include "redis.h"
#include "resp.h"

namespace fh {

struct WriterConfig {
  RedisConfig redis;
  std::string stream_key = "firehose:events";
  std::string cursor_key = "firehose:python_cursor";
  uint64_t max_stream_len = 500000;  // 0: no trimming
  size_t batch_max_events = 1000;
  size_t batch_max_bytes = 1u << 20;
  std::chrono::microseconds linger{1000};
  size_t queue_high = 64u << 20;
  size_t queue_low = 32u << 20;
  std::chrono::milliseconds retry_initial{100};
  std::chrono::milliseconds retry_max{5000};
  DecoderOptions decoder;
  // The dashboard keys of the contract; an empty name turns one off.
  std::string status_key;        // SETEX every 5 s: {"connected","url","currentCursor"}
  std::string recent_key;        // SETEX per batch: the last 50 event summaries
  std::string broadcast_channel; // PUBLISH per event summary
};

struct FrameCounts {
  uint64_t commit = 0, identity = 0, account = 0, sync = 0, info = 0;
  uint64_t error = 0, legacy = 0, unknown = 0, filtered = 0, invalid = 0;
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
  std::vector<Notice> notices;
  std::vector<std::string> unknown_types;
};

struct WriterEvent {
  enum class Type : uint8_t { Ready, Batch, RedisDown, RedisUp, Drain, Fatal, Closed, CursorKey };
  Type type = Type::Ready;
  bool has_cursor = false;   // Ready, CursorKey
  std::string cursor;        // Ready, CursorKey
  std::string key;           // CursorKey
  BatchReport batch;         // Batch
  std::string error;         // RedisDown, Fatal
  uint32_t attempt = 0;      // RedisDown
  int64_t retry_ms = 0;      // RedisDown
  bool flushed = false;      // Closed
  size_t pending = 0;        // Closed
};

class Writer {
 public:
  using Sink = std::function<void(WriterEvent&&)>;

  // Starts the thread, which connects at once (retrying) and reads the cursor.
  Writer(WriterConfig cfg, Sink sink);
  // Aborts and joins if still running.
  ~Writer();
  Writer(const Writer&) = delete;
  Writer& operator=(const Writer&) = delete;

  // From the owner's thread: copies the frame into the queue. false: over
  // the high-water mark (or stopped), pause until Drain.
  bool push(Span frame);
  // Flushes everything queued, writes the final cursor and stops; gives up
  // after timeout. Returns at once; Closed reports the outcome.
  void close(std::chrono::milliseconds timeout);
  // Stops now without flushing and joins the thread.
  void abort();
  // Writes the frames queued so far under the current cursor key, then
  // moves to `key` and reports the cursor stored there (CursorKey). Frames
  // pushed after this belong to the new key.
  void switch_cursor_key(std::string key);
  // What the status key says about the relay connection.
  void set_status(bool connected, std::string url);

  size_t queue_bytes() const { return queue_.bytes(); }
  size_t queue_frames() const { return queue_.frames(); }

 private:
  enum class Outcome : uint8_t { Written, Fatal, Stopped };

  // One batch: its RESP, the cursor it sets and what it reports. Two of
  // them let the next batch be decoded while Redis works on the last one;
  // only one is ever sent and unanswered.
  struct Batch {
    explicit Batch(const WriterConfig& c) : resp(c.stream_key, c.cursor_key, c.max_stream_len) {}
    RespBatch resp;
    std::string cursor;  // what it sets the cursor key to; "" = nothing
    BatchReport rep;
    size_t frames = 0;
    Clock::time_point oldest, sent_at;
  };

  void run();
  bool switch_key(Outcome& why);
  void write_status();
  void summarize(const FrameResult& r, std::string_view clock);
  bool connect_until_ready(uint32_t& attempt, Outcome& why);
  bool preflight(RedisError& err);
  void build_batch(std::vector<QueuedFrame>& frames, Batch& b);
  bool start_batch(Batch& b);
  Outcome finish_batch(Batch& b);
  Outcome write_batch(Batch& b, bool sent, uint32_t attempt);
  Outcome give_up(const RedisError& err);
  void written(Batch& b, uint32_t retries);
  void report(Batch& b);
  bool batch_applied(const Batch& b, RedisError& err, bool& applied);
  bool check_exec(const Batch& b, const std::vector<Reply>& replies, RedisError& err);
  bool pause(uint32_t attempt, const RedisError& err);
  bool should_stop() const;
  void emit(WriterEvent&& e) { sink_(std::move(e)); }

  WriterConfig cfg_;
  Sink sink_;
  FrameQueue queue_;
  FrameDecoder decoder_;
  Batch batch_a_, batch_b_;
  int abort_pipe_[2] = {-1, -1};
  std::unique_ptr<RedisConn> conn_;

  std::atomic<bool> closing_{false};
  std::atomic<bool> aborting_{false};
  std::atomic<bool> poke_{false};  // closing, or a key switch waiting
  std::atomic<bool> stopped_{false};
  Clock::time_point close_deadline_{};
  mutable std::mutex sleep_mu_;
  std::condition_variable sleep_cv_;

  // Shared with the owner's thread, under sleep_mu_.
  std::string next_key_;
  bool status_connected_ = false;
  std::string status_url_;
  bool status_dirty_ = true;

  // Writer-thread state.
  Clock::time_point next_status_{};
  std::deque<std::string> recent_;  // newest first
  Buffer summary_;
  std::vector<std::string> broadcasts_;
  bool has_durable_ = false;
  std::string durable_;        // the cursor value Redis holds
  std::string last_id_;        // the stream's newest entry ID, as we know it
  bool was_down_ = false;      // a RedisDown went out since the last success
  std::vector<Reply> replies_;

  std::thread thread_;
};

}  // namespace fh

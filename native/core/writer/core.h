// The writer's loop, on one thread: queue → batch → fenced send → reply →
// report, and around it the connection (topology, scripts, "did it land?"),
// the lease (active or standby), consumer pacing and the dashboard. It owns
// no thread and no socket: Writer gives it real ones, the unit tests a fake
// connection and a simulated clock, and then it runs deterministically.
#pragma once

#include <atomic>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "batch.h"
#include "clock.h"
#include "commit.h"
#include "config.h"
#include "connection.h"
#include "dashboard.h"
#include "events.h"
#include "lease.h"
#include "pacing.h"
#include "queue.h"
#include "topology.h"

namespace fh {

// What the owner's thread asks of the loop.
class WriterControl {
 public:
  void close(TimePoint deadline);
  void abort() { aborting_.store(true); }
  bool aborting() const { return aborting_.load(); }
  bool closing() const { return closing_.load(); }
  TimePoint deadline() const;
  void request_key(std::string key);
  // The requested key, if any ("" when none).
  std::string requested_key() const;
  void key_done(const std::string& key);

 private:
  mutable std::mutex mu_;
  std::atomic<bool> closing_{false}, aborting_{false};
  TimePoint deadline_{};
  std::string next_key_;
};

class WriterCore {
 public:
  using Sink = std::function<void(WriterEvent&&)>;

  WriterCore(WriterConfig cfg, WriterClock& clock, FrameQueue& queue, ConnectionFactory& factory,
             WriterControl& control, Dashboard& dashboard, Sink sink);
  ~WriterCore();

  // Runs until closed, aborted or stopped by a fatal error; the last event
  // is always Closed.
  void run();

 private:
  // Again: state changed, go round the outer loop; Failed: err says why.
  enum class Outcome : uint8_t { Done, Fatal, Stopped, Again, Failed, Continue };
  enum class Settled : uint8_t { Written, Standby, Resync, Fatal, Stopped };

  Outcome loop();
  bool connect_node(RedisError& err);
  bool connect_ready(RedisError& err);
  void redis_up();
  bool load_scripts(RedisError& err);
  bool check_slots(RedisError& err);
  bool take_role(RedisError& err);
  void become_standby(const std::string& holder);
  Outcome standby_wait(RedisError& err);
  bool follow_master();
  bool reconcile_idle(RedisState& st, bool reconnect, RedisError& err);
  bool adopt_tail(RedisState& st, RedisError& err);
  bool adopt_cursor(RedisState& st, RedisError& err);
  bool restore_cursor(RedisState& st, RedisError& err);
  bool check_seams(RedisError& err);
  void resync(const RedisState& st, Verdict v, bool reconnect);
  bool switch_key(const std::string& key, RedisError& err);

  Outcome active_loop(RedisError& err);
  Outcome chores(RedisError& err);
  bool poll_groups(RedisError& err);
  bool read_groups(const redisReply* x, RedisError& err);
  bool check_stale(RedisError& err);
  void update_pacing(bool changed);
  void write_status_alone();
  bool send(Batch& b, RedisError& err);
  bool check(RedisError& err);
  bool checked(const Reply* r, RedisError& err);
  Settled finish(Batch& b);
  bool receive_batch(Batch& b, RedisError& err);
  Settled settle(Batch& b, RedisError err);
  void landed(Batch& b, const std::string& last_id);
  bool written(Batch& b, const redisReply* r, RedisError& err);
  void report(Batch& b);

  bool pause(uint32_t attempt, const RedisError& err);
  bool stop_now() const;
  Outcome give_up(const RedisError& err);
  void emit(WriterEvent&& e) { sink_(std::move(e)); }
  void log(const char* level, std::string message);
  size_t pending_frames() const;
  void drop_batches();

  WriterConfig cfg_;
  WriterClock& clock_;
  FrameQueue& queue_;
  WriterControl& control_;
  Dashboard& dash_;
  Sink sink_;
  std::unique_ptr<Connection> conn_;
  Topology topology_;
  Lease lease_;
  Pacing pacing_;
  BatchBuilder builder_;
  Batch batch_a_, batch_b_;
  Batch* inflight_ = nullptr;  // sent, reply not read
  Batch* ready_ = nullptr;     // built, not sent
  std::vector<QueuedFrame> frames_;
  std::vector<Reply> replies_;
  Buffer head_, tail_, check_;

  std::string groups_sha_, lease_sha_, repair_sha_, seam_sha_;
  // This connection WATCHes the keys and read them as base_: the next
  // batch's transaction can go without a check of its own.
  bool checked_ = false;
  std::string tail_id_;  // the stream's newest entry, as far as we know
  bool active_ = false;
  bool ever_active_ = false;
  bool announced_standby_ = false;
  std::string standby_holder_;
  TimePoint standby_next_{};
  bool slots_checked_ = false;
  bool groups_checked_ = false;
  std::string announced_node_;
  FenceState base_;  // what Redis holds, as far as we know
  SeqFloor floor_;   // the newest seq accepted
  AckHistory acks_;
  Seams seams_;
  uint64_t entries_total_ = 0;
  bool was_down_ = false;
  bool torn_logged_ = false;
  std::string dash_error_;  // last dashboard failure logged
  RedisError refused_;      // came with a batch that landed: stops the writer once it is reported
  TimePoint next_stale_{}, next_poll_{}, next_sentinel_{}, next_groups_event_{};
};

}  // namespace fh

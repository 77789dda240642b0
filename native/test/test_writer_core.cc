// The writer core, deterministically: a fake Redis, a fake connection that
// fails where the test says, and a simulated clock. Every test asserts the
// one thing that matters at the end: the stream holds every expected seq
// exactly once, in order, and the cursor says how far it got.
#include <algorithm>
#include <functional>
#include <memory>

#include "check.h"
#include "core.h"
#include "fake_redis.h"
#include "scripts.h"
#include "util.h"

using fh::WriterEvent;
using T = fh::WriterEvent::Type;

namespace {

constexpr const char* kStream = "firehose:events";
constexpr const char* kCursor = "firehose:python_cursor";

fh::WriterConfig test_config() {
  fh::WriterConfig c;
  c.redis.endpoint = {"fake", 6379};
  c.redis.connect_timeout_ms = 1000;
  c.redis.command_timeout_ms = 2000;
  c.stream_key = kStream;
  c.cursor_key = kCursor;
  c.max_stream_len = 0;
  c.pacing.stale_after_ms = 60'000;
  c.lease.instance_id = "me";
  c.lease.ttl_ms = 3000;
  c.batch_max_events = 3;
  c.batch_max_bytes = 1 << 20;
  c.queue_high = 1 << 20;
  c.queue_low = 1 << 19;
  c.retry_initial = std::chrono::milliseconds(100);
  c.retry_max = std::chrono::milliseconds(1000);
  return c;
}

// A #identity frame: {op:1, t:"#identity"} {did, seq, time} (+ trailing garbage when corrupt).
std::string identity(int64_t seq, bool corrupt = false) {
  using namespace testutil;
  std::string h = head(5, 2) + text("t") + text("#identity") + text("op") + head(0, 1);
  std::string b = head(5, 3) + text("did") + text("did:plc:test") + text("seq") + head(0, uint64_t(seq)) +
                  text("time") + text("2026-11-30T10:00:00.000Z");
  return h + b + (corrupt ? std::string("\xff", 1) : std::string());
}

std::vector<std::string> range(int from, int to) {
  std::vector<std::string> v;
  for (int i = from; i <= to; i++) v.push_back(std::to_string(i));
  return v;
}

struct Rig {
  fh::WriterConfig cfg;
  fh::FrameQueue queue;
  fake::Clock clock{queue};
  std::shared_ptr<fake::Server> server;
  fake::Net net;
  fake::Factory factory{net};
  fh::WriterControl control;
  fh::Dashboard dash;
  std::vector<WriterEvent> events;
  std::function<void(const WriterEvent&)> on_event;
  std::unique_ptr<fh::WriterCore> core;

  explicit Rig(fh::WriterConfig c = test_config(), std::shared_ptr<fake::Server> s = nullptr)
      : cfg(std::move(c)),
        queue(cfg.queue_high, cfg.queue_low, cfg.batch_max_events, cfg.batch_max_bytes),
        server(s ? s : std::make_shared<fake::Server>(clock)),
        net(*server, clock),
        dash(cfg) {}

  bool push(int64_t seq, bool corrupt = false) {
    std::string f = identity(seq, corrupt);
    return queue.push(fh::Span(f), clock.now());
  }
  void push_range(int from, int to) {
    for (int i = from; i <= to; i++) push(i);
  }
  void close_in(int ms) { control.close(clock.now() + std::chrono::milliseconds(ms)); }
  // Runs to the end (the core's last event is Closed).
  void run() {
    core = std::make_unique<fh::WriterCore>(cfg, clock, queue, factory, control, dash, [this](WriterEvent&& e) {
      events.push_back(e);
      if (on_event) on_event(events.back());
    });
    core->run();
  }
  size_t count(T t) const {
    return size_t(std::count_if(events.begin(), events.end(), [t](const WriterEvent& e) { return e.type == t; }));
  }
  const WriterEvent* first(T t) const {
    for (const WriterEvent& e : events) {
      if (e.type == t) return &e;
    }
    return nullptr;
  }
  const WriterEvent& closed() const { return events.back(); }
  std::vector<std::string> seqs() const { return server->seqs(kStream); }
  std::string cursor() { return server->get(kCursor); }
};

void dump(const Rig& r) {
  for (const auto& cmd : r.server->executed) {
    std::string line;
    for (const std::string& a : cmd) line += " " + a.substr(0, 24);
    std::fprintf(stderr, "    exec%s\n", line.c_str());
  }
  for (const WriterEvent& e : r.events) {
    std::fprintf(stderr, "    event %d %s%s%s\n", int(e.type), e.error.c_str(), e.message.c_str(),
                 e.type == T::Batch ? (" cursor " + e.batch.cursor).c_str() : "");
  }
}

bool holds(Rig& r, const std::vector<std::string>& want) {
  bool ok = CHECK_EQ(r.seqs().size(), want.size());
  ok = CHECK(r.seqs() == want) && ok;
  if (!want.empty()) ok = CHECK_EQ(r.cursor(), want.back()) && ok;
  if (!ok) dump(r);
  return ok;
}

}  // namespace

TEST(writer_core_writes_every_frame_once_in_order) {
  Rig r;
  r.push_range(1, 10);
  r.close_in(10'000);
  r.run();
  holds(r, range(1, 10));
  CHECK_EQ(r.count(T::Ready), 1u);
  CHECK_EQ(r.count(T::Batch), 4u);  // 3 + 3 + 3 + 1
  CHECK(r.closed().type == T::Closed);
  CHECK(r.closed().flushed);
  CHECK_EQ(r.closed().pending, 0u);
  // The fence is the newest entry a committed batch wrote.
  if (CHECK(!r.server->streams[kStream].empty())) {
    CHECK_EQ(fh::fence_seq(r.server->get(std::string(kStream) + ":fence")), "10");
  }
  const WriterEvent* role = r.first(T::Role);
  CHECK(role && role->active);
}

// Every command the happy path sends, failed in every way: before the
// server sees it (a partial send), after it applied it, or with a reply
// that never comes. The stream must still hold each seq once.
TEST(writer_core_survives_a_fault_at_every_step) {
  Rig probe;
  probe.push_range(1, 7);
  probe.close_in(10'000);
  probe.run();
  std::vector<std::pair<std::string, int>> steps;
  for (const auto& [name, n] : probe.net.seen) {
    for (int i = 1; i <= n; i++) steps.emplace_back(name, i);
  }
  CHECK(steps.size() >= 6);
  for (fake::Act act : {fake::Act::Reset, fake::Act::ResetAfter, fake::Act::Timeout, fake::Act::TimeoutAfter}) {
    for (const auto& [name, n] : steps) {
      Rig r;
      r.net.rules.push_back({name, n, act, ""});
      r.push_range(1, 7);
      r.close_in(60'000);
      r.run();
      if (!holds(r, range(1, 7)) || !CHECK(r.closed().flushed)) {
        std::fprintf(stderr, "  fault %d at %s #%d\n", int(act), name.c_str(), n);
      }
    }
  }
}

TEST(writer_core_reports_retries_and_redis_up_after_a_reset) {
  Rig r;
  r.net.rules.push_back({"EXEC", 2, fake::Act::ResetAfter, ""});
  r.net.refuse_connects = 0;
  r.push_range(1, 6);
  r.close_in(10'000);
  r.run();
  holds(r, range(1, 6));
  CHECK_EQ(r.count(T::RedisDown), 1u);
  CHECK_EQ(r.count(T::RedisUp), 1u);
  bool retried = false;
  for (const WriterEvent& e : r.events) retried = retried || (e.type == T::Batch && e.batch.retries > 0);
  CHECK(retried);
}

// A stale transaction: the batch is held back in the network, the writer
// times out, reconnects and sends it again; the held copy arrives later.
TEST(writer_core_a_stale_transaction_landing_late_adds_nothing) {
  Rig r;
  r.net.rules.push_back({"EXEC", 2, fake::Act::Hold, ""});
  r.on_event = [&](const WriterEvent& e) {
    if (e.type == T::Batch && e.batch.cursor == "6") r.net.release();
  };
  r.push_range(1, 9);
  r.close_in(30'000);
  r.run();
  holds(r, range(1, 9));
  CHECK(r.net.held.empty());
}

// ... and when the held copy lands before the writer asks whether it did.
TEST(writer_core_a_late_copy_landing_first_is_recognised_as_landed) {
  Rig r;
  r.net.rules.push_back({"EXEC", 2, fake::Act::Hold, ""});
  r.clock.on_wait = [&] { r.net.release(); };  // during the backoff
  r.push_range(1, 9);
  r.close_in(30'000);
  r.run();
  holds(r, range(1, 9));
  // Written once by the late copy, not sent again by the writer.
  size_t xadds = 0;
  for (const auto& cmd : r.server->executed) xadds += cmd[0] == "XADD";
  CHECK_EQ(xadds, 9u);
}

TEST(writer_core_a_transient_refusal_is_retried_a_fatal_one_stops) {
  {
    Rig r;
    r.net.rules.push_back({"EXEC", 1, fake::Act::Error, "OOM command not allowed when used memory > 'maxmemory'."});
    r.push_range(1, 3);
    r.close_in(10'000);
    r.run();
    holds(r, range(1, 3));
    CHECK_EQ(r.count(T::Fatal), 0u);
  }
  {
    Rig r;
    r.net.rules.push_back({"EXEC", 1, fake::Act::Error, "ERR something unexpected"});
    r.push_range(1, 5);
    r.close_in(10'000);
    r.run();
    CHECK(r.seqs().empty());
    CHECK_EQ(r.count(T::Fatal), 1u);
    CHECK(!r.closed().flushed);
    CHECK_EQ(r.closed().pending, 5u);
    CHECK(r.first(T::Fatal)->error.find("something unexpected") != std::string::npos);
  }
}

TEST(writer_core_queue_watermarks_gate_and_discard) {
  fh::FrameQueue q(1000, 500, 10, 1 << 20);
  std::string f(600, 'x');
  auto now = fh::Clock::now();
  CHECK(q.push(fh::Span(f), now));
  CHECK(!q.push(fh::Span(f), now));  // 1200 > 1000: pause
  CHECK(!q.take_drained());
  std::vector<fh::QueuedFrame> out;
  fh::FrameQueue one(1000, 500, 1, 1 << 20);
  CHECK(one.push(fh::Span(f), now));
  CHECK(!one.push(fh::Span(f), now));
  CHECK_EQ(one.take(out), 1u);  // 600 left: above the low mark
  CHECK(!one.take_drained());
  one.release(out);
  CHECK_EQ(one.take(out), 1u);  // 0 left
  CHECK(one.take_drained());
  CHECK(!one.take_drained());  // once
  one.release(out);
  // The gate holds the producer back whatever the queue holds ...
  one.set_gate(false);
  std::string small(10, 'y');
  CHECK(!one.push(fh::Span(small), now));
  CHECK(!one.take_drained());
  one.set_gate(true);
  CHECK(one.take_drained());
  // ... and discarding drops frames.
  one.set_discard(true);
  CHECK(!one.push(fh::Span(small), now));
  CHECK_EQ(one.frames(), 1u);
  one.set_discard(false);
  CHECK(one.take_drained());
  CHECK_EQ(one.clear(), 1u);
  CHECK_EQ(one.bytes(), 0u);
}

TEST(writer_core_close_honours_its_deadline_in_every_state) {
  auto elapsed = [](Rig& r, fh::TimePoint t0) {
    return std::chrono::duration_cast<std::chrono::milliseconds>(r.clock.now() - t0).count();
  };
  {  // idle: at once
    Rig r;
    auto t0 = r.clock.now();
    r.close_in(5000);
    r.run();
    CHECK(r.closed().flushed);
    CHECK(elapsed(r, t0) < 100);
  }
  {  // Redis down, nothing to write: at once, and flushed
    Rig r;
    r.net.refuse_connects = 1'000'000;
    auto t0 = r.clock.now();
    r.close_in(5000);
    r.run();
    CHECK(r.closed().flushed);
    CHECK_EQ(r.closed().pending, 0u);
    CHECK(elapsed(r, t0) < 1000);
  }
  {  // Redis down with frames queued: at the deadline, not after
    Rig r;
    r.net.refuse_connects = 1'000'000;
    r.push_range(1, 5);
    auto t0 = r.clock.now();
    r.close_in(5000);
    r.run();
    CHECK(!r.closed().flushed);
    CHECK_EQ(r.closed().pending, 5u);
    CHECK(elapsed(r, t0) >= 5000);
    CHECK(elapsed(r, t0) <= 5000);
  }
  {  // in the backoff of a batch whose connection broke, with a long backoff
    fh::WriterConfig c = test_config();
    c.retry_initial = std::chrono::milliseconds(4000);
    c.retry_max = std::chrono::milliseconds(60'000);
    Rig r(c);
    r.net.rules.push_back({"EXEC", 1, fake::Act::Reset, ""});
    r.net.rules.push_back({"EVALSHA:lease", 2, fake::Act::Reset, ""});
    r.net.rules.push_back({"EVALSHA:lease", 3, fake::Act::Reset, ""});
    r.push_range(1, 3);
    auto t0 = r.clock.now();
    r.close_in(3000);
    r.run();
    CHECK_EQ(r.closed().pending, 3u);
    CHECK(elapsed(r, t0) <= 3000);
  }
  {  // standby: nothing to write, at once
    Rig r;
    r.server->strings[std::string(kStream) + ":lease"] = "other tok";
    r.server->expiry[std::string(kStream) + ":lease"] = r.clock.now() + std::chrono::seconds(60);
    auto t0 = r.clock.now();
    r.on_event = [&](const WriterEvent& e) {
      if (e.type == T::Role && !e.active) r.close_in(5000);
    };
    r.run();
    CHECK(r.closed().flushed);
    CHECK(elapsed(r, t0) < 1000);
  }
  {  // abort while waiting
    Rig r;
    r.net.refuse_connects = 1'000'000;
    r.push_range(1, 2);
    int waits = 0;
    r.clock.on_wait = [&] {
      if (++waits == 3) r.control.abort();
    };
    r.run();
    CHECK(!r.closed().flushed);
    CHECK_EQ(r.closed().pending, 2u);
  }
}

TEST(writer_core_an_undecodable_or_stale_frame_never_moves_the_cursor) {
  Rig r;
  r.push_range(1, 5);
  r.push(3);  // a relay replaying
  r.push(5);
  r.push(1'000'000'000'000'000, true);  // corrupt, with a huge seq: pushed last
  r.close_in(10'000);
  r.run();
  holds(r, range(1, 5));
  uint64_t stale = 0, invalid = 0;
  for (const WriterEvent& e : r.events) {
    if (e.type != T::Batch) continue;
    stale += e.batch.counts.stale;
    invalid += e.batch.counts.invalid;
  }
  CHECK_EQ(stale, 2u);
  CHECK_EQ(invalid, 1u);
  CHECK_EQ(r.closed().pending, 0u);
}

// Redis loses acknowledged writes (a crash under appendfsync everysec):
// the writer notices, drops what it queued, says how much was lost, and
// takes the frames again from Redis's cursor.
TEST(writer_core_redis_losing_acknowledged_writes_is_a_resync_from_its_cursor) {
  Rig r;
  fake::Server::Snapshot after_first;
  bool crashed = false, refetched = false;
  r.on_event = [&](const WriterEvent& e) {
    if (e.type == T::Batch && e.batch.cursor == "3" && !crashed) after_first = r.server->snapshot();
    if (e.type == T::Batch && e.batch.cursor == "6" && !crashed) {
      crashed = true;
      r.server->restore(after_first);  // seqs 4-6 gone with a crash
      r.push_range(7, 9);
    }
    if (e.type == T::Resync) {
      CHECK_EQ(e.cursor, "3");
      CHECK_EQ(e.previous, "6");
      CHECK_EQ(e.lost, 3);
      CHECK(e.reconnect);
      CHECK(!r.push(7));  // dropped until the relay is back
      r.control.request_key(kCursor);
    }
    if (e.type == T::CursorKey && !refetched) {
      refetched = true;
      CHECK_EQ(e.cursor, "3");
      r.push_range(4, 12);  // the relay, from cursor 3
      r.close_in(10'000);
    }
  };
  r.push_range(1, 6);
  r.run();
  holds(r, range(1, 12));
  CHECK_EQ(r.count(T::Resync), 1u);
  CHECK(r.closed().flushed);
}

TEST(writer_core_redis_back_empty_carries_on_from_our_cursor) {
  Rig r;
  bool wiped = false;
  r.on_event = [&](const WriterEvent& e) {
    if (e.type == T::Batch && e.batch.cursor == "3" && !wiped) {
      wiped = true;
      r.server->wipe();
      r.push_range(4, 6);
      r.close_in(10'000);
    }
  };
  r.push_range(1, 3);
  r.run();
  holds(r, range(4, 6));  // 1-3 went with Redis; nothing skipped after them
  CHECK_EQ(r.count(T::Resync), 0u);
  bool said = false;
  for (const WriterEvent& e : r.events)
    said = said || (e.type == T::Log && e.message.find("came back empty") != std::string::npos);
  CHECK(said);
}

// Redis 7.0 replaying half a transaction from a torn AOF: entries past
// the fence without the cursor. They are adopted, not written again.
TEST(writer_core_adopts_the_tail_of_a_torn_transaction) {
  Rig first;
  first.push_range(1, 3);
  first.close_in(10'000);
  first.run();
  holds(first, range(1, 3));
  // Entries 4 and 5 of a transaction whose cursor and fence never made it.
  auto& s = first.server->streams[kStream];
  std::string last = s.back().id;
  auto bump = [](const std::string& id, int k) {
    return id.substr(0, id.find('-')) + "-" + std::to_string(std::stoll(id.substr(id.find('-') + 1)) + k);
  };
  s.push_back({bump(last, 1), {"type", "identity", "data", "{}", "seq", "4"}});
  s.push_back({bump(last, 2), {"type", "identity", "data", "{}", "seq", "5"}});
  Rig second(test_config(), first.server);
  second.push_range(4, 8);  // the relay, from cursor 3
  second.close_in(10'000);
  second.run();
  holds(second, range(1, 8));
  bool said = false;
  for (const WriterEvent& e : second.events)
    said = said || (e.type == T::Log && e.message.find("part of a transaction") != std::string::npos);
  CHECK(said);
}

TEST(writer_core_waits_as_standby_until_the_lease_expires) {
  Rig r;
  const std::string lease = std::string(kStream) + ":lease";
  r.server->strings[lease] = "other tok";
  r.server->expiry[lease] = r.clock.now() + std::chrono::milliseconds(2500);
  auto t0 = r.clock.now();
  fh::TimePoint took{};
  r.on_event = [&](const WriterEvent& e) {
    if (e.type == T::Role && e.active) took = r.clock.now();
    if (e.type == T::Ready) {
      r.push_range(1, 4);
      r.close_in(10'000);
    }
  };
  r.run();
  holds(r, range(1, 4));
  const WriterEvent* standby = r.first(T::Role);
  CHECK(standby && !standby->active && standby->holder == "other tok");
  auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(took - t0).count();
  CHECK(ms >= 2500);
  CHECK(ms <= 2500 + 500);
}

TEST(writer_core_the_same_instance_takes_its_lease_back_at_once) {
  Rig r;
  const std::string lease = std::string(kStream) + ":lease";
  r.server->strings[lease] = "me oldtoken";
  r.server->expiry[lease] = r.clock.now() + std::chrono::seconds(10);
  r.push_range(1, 3);
  r.close_in(10'000);
  r.run();
  holds(r, range(1, 3));
  const WriterEvent* role = r.first(T::Role);
  CHECK(role && role->active);
  CHECK(r.server->get(lease) != "me oldtoken");
}

TEST(writer_core_a_fenced_writer_writes_nothing_and_stands_by) {
  Rig r;
  const std::string lease = std::string(kStream) + ":lease";
  r.on_event = [&](const WriterEvent& e) {
    if (e.type == T::Batch && e.batch.cursor == "3") {
      // Another instance took over while this one was frozen.
      r.server->set(lease, "other tok", std::chrono::seconds(60));
      r.push_range(4, 6);
    }
    if (e.type == T::Role && !e.active) r.close_in(1000);
  };
  r.push_range(1, 3);
  r.run();
  holds(r, range(1, 3));
  size_t standby = 0;
  for (const WriterEvent& e : r.events) {
    if (e.type == T::Role && !e.active) {
      standby++;
      CHECK(e.message.find("fenced") != std::string::npos);
    }
  }
  CHECK_EQ(standby, 1u);
}

// A consumer group far slower than the writer: the writer waits for it
// instead of trimming what it has not read.
TEST(writer_core_paces_by_the_slowest_group_and_trims_nothing_it_needs) {
  fh::WriterConfig c = test_config();
  c.max_stream_len = 10;
  Rig r(c);
  r.server->groups[kStream].push_back(fake::Group{"slow", "0-0", {}, 0});
  std::vector<std::string> read;
  size_t most = 0;
  r.clock.on_wait = [&] {
    auto& s = r.server->streams[kStream];
    most = std::max(most, s.size());
    // The group reads two entries whenever the writer waits.
    fake::Group& g = r.server->groups[kStream][0];
    size_t before = read.size();
    for (const fake::Entry& e : s) {
      auto parts = [](const std::string& id) {
        return std::make_pair(std::stoull(id.substr(0, id.find('-'))), std::stoull(id.substr(id.find('-') + 1)));
      };
      if (read.size() - before >= 2) break;
      if (parts(g.delivered) < parts(e.id)) {
        g.delivered = e.id;
        read.push_back(e.seq());
      }
    }
  };
  size_t paced = 0;
  r.on_event = [&](const WriterEvent& e) {
    if (e.type == T::Pacing && e.paced) paced++;
    if (e.type == T::Batch && e.batch.cursor == "40") r.close_in(60'000);
  };
  for (int i = 1; i <= 40; i++) r.push(i);
  r.run();
  CHECK_EQ(r.cursor(), "40");
  CHECK(paced >= 1);
  // Every entry reached the group, in order, although the cap is 10.
  std::vector<std::string> all = read;
  for (const fake::Entry& e : r.server->streams[kStream]) {
    if (std::find(all.begin(), all.end(), e.seq()) == all.end()) all.push_back(e.seq());
  }
  CHECK(all == range(1, 40));
  CHECK(most <= 10 + 3 + 3);  // the cap, plus the batch in flight when pacing began
}

// A group created while the writer is idle, between one batch and the
// next: the next batch's trim already spares everything the group needs.
TEST(writer_core_spares_what_a_group_created_between_batches_needs) {
  fh::WriterConfig c = test_config();
  c.max_stream_len = 10;
  Rig r(c);
  std::vector<std::string> before;
  r.on_event = [&](const WriterEvent& e) {
    if (e.type == T::Batch && e.batch.cursor == "15" && r.server->groups[kStream].empty()) {
      for (const fake::Entry& x : r.server->streams[kStream]) before.push_back(x.seq());
      r.server->groups[kStream].push_back(fake::Group{"late", "0-0", {}, 0});
      r.push_range(16, 20);
    }
    if (e.type == T::Batch && e.batch.cursor == "20") r.close_in(1000);
  };
  r.push_range(1, 15);
  r.run();
  CHECK_EQ(r.cursor(), "20");
  CHECK(!before.empty());
  std::vector<std::string> want = before;
  for (const std::string& s : range(16, 20)) want.push_back(s);
  CHECK(r.server->seqs(kStream) == want);
}

// A group created at '$' once entries exist: Redis 7.0 reports its lag as
// nil until it catches up. The writer estimates the backlog from the
// stream's counters, which every reply carries, also those from before the
// group existed: never less than the truth (pacing would come late), and
// more only by what one batch adds.
TEST(writer_core_estimates_the_backlog_of_a_group_whose_lag_redis_cannot_tell) {
  fh::WriterConfig c = test_config();
  c.max_stream_len = 10;
  Rig r(c);
  auto parts = [](const std::string& id) {
    return std::make_pair(std::stoull(id.substr(0, id.find('-'))), std::stoull(id.substr(id.find('-') + 1)));
  };
  auto undelivered = [&](const fake::Group& g) {
    int64_t n = 0;
    for (const fake::Entry& e : r.server->streams[kStream]) n += parts(g.delivered) < parts(e.id);
    return n;
  };
  std::vector<std::string> read;
  bool reading = false;
  r.clock.on_wait = [&] {
    if (!reading || r.server->groups[kStream].empty()) return;
    fake::Group& g = r.server->groups[kStream][0];
    size_t before = read.size();
    for (const fake::Entry& e : r.server->streams[kStream]) {
      if (read.size() - before >= 2) break;
      if (parts(g.delivered) < parts(e.id)) {
        g.delivered = e.id;
        read.push_back(e.seq());
      }
    }
  };
  size_t estimates = 0, paced = 0;
  r.on_event = [&](const WriterEvent& e) {
    if (e.type == T::Batch && e.batch.cursor == "9" && r.server->groups[kStream].empty()) {
      // XGROUP CREATE ... $: delivered up to the newest entry, lag unknown.
      r.server->groups[kStream].push_back(fake::Group{"late", r.server->streams[kStream].back().id, {}, 0, true});
      r.push_range(10, 40);
    }
    if (e.type == T::Pacing && !e.groups.empty()) {
      estimates++;
      int64_t truth = undelivered(r.server->groups[kStream][0]);
      CHECK(e.groups[0].undelivered >= truth);
      CHECK(e.groups[0].undelivered <= truth + int64_t(c.batch_max_events));
      if (e.paced) {
        paced++;
        reading = true;  // the group starts reading once it holds the writer back
      }
    }
    if (e.type == T::Batch && e.batch.cursor == "40") r.close_in(60'000);
  };
  r.push_range(1, 9);
  r.run();
  CHECK_EQ(r.cursor(), "40");
  CHECK(paced >= 1);
  CHECK(estimates >= 3);
  // Nothing the group had not read was trimmed: it read 10..40, or they are still there.
  std::vector<std::string> all = read;
  for (const fake::Entry& e : r.server->streams[kStream]) {
    if (parts(r.server->groups[kStream][0].delivered) < parts(e.id)) all.push_back(e.seq());
  }
  CHECK(all == range(10, 40));
}

// An ACL that refuses XINFO: said before the first batch, with what to
// change, and nothing written.
TEST(writer_core_stops_before_writing_when_the_acl_refuses_what_pacing_needs) {
  for (const char* cmd : {"XINFO", "XPENDING"}) {
    fh::WriterConfig c = test_config();
    c.max_stream_len = 10;
    Rig r(c);
    r.net.rules.push_back({cmd, 1, fake::Act::Error,
                           std::string("NOPERM this user has no permissions to run the '") + cmd + "' command"});
    r.push_range(1, 3);
    r.close_in(10'000);
    r.run();
    CHECK_EQ(r.count(T::Fatal), 1u);
    if (const WriterEvent* f = r.first(T::Fatal)) {
      CHECK(f->error.find(std::string("may not run ") + cmd + " on firehose:events") != std::string::npos);
      CHECK(f->error.find("REDIS_TRIM=maxlen") != std::string::npos);
    }
    CHECK(r.seqs().empty());
  }
}

TEST(writer_core_keeps_the_status_key_fresh_under_load) {
  fh::WriterConfig c = test_config();
  c.status_key = "firehose:status";
  Rig r(c);
  r.dash.set_relay(true, "wss://relay.example");
  int next = 4;
  bool lapsed = false;
  r.on_event = [&](const WriterEvent& e) {
    if (e.type != T::Batch) return;
    // Load: the next frames are always there before the batch is done, and
    // each batch takes 250 ms.
    r.clock.advance(std::chrono::milliseconds(250));
    if (r.server->get("firehose:status").empty()) lapsed = true;
    if (next <= 300) {
      r.push_range(next, next + 2);
      next += 3;
    } else {
      r.close_in(10'000);
    }
  };
  r.push_range(1, 3);
  r.run();
  holds(r, range(1, 300));
  CHECK(!lapsed);
  CHECK(r.server->get("firehose:status").find("\"connected\":true") != std::string::npos);
}

TEST(writer_core_an_exception_on_the_writer_thread_ends_in_fatal_and_closed) {
  Rig r;
  r.on_event = [&](const WriterEvent& e) {
    if (e.type == T::Ready) throw std::bad_alloc();
  };
  r.push_range(1, 3);
  r.run();
  CHECK_EQ(r.count(T::Fatal), 1u);
  CHECK(r.first(T::Fatal)->error.find("internal error") != std::string::npos);
  CHECK(r.closed().type == T::Closed);
  CHECK(!r.closed().flushed);
}

TEST(writer_core_config_invariants_are_asserted) {
  auto rejects = [](std::function<void(fh::WriterConfig&)> edit) {
    fh::WriterConfig c = test_config();
    edit(c);
    try {
      fh::validate(c);
    } catch (const std::invalid_argument&) {
      return true;
    }
    return false;
  };
  CHECK(!rejects([](fh::WriterConfig&) {}));
  CHECK(rejects([](fh::WriterConfig& c) { c.batch_max_events = 0; }));
  CHECK(rejects([](fh::WriterConfig& c) { c.queue_low = c.queue_high + 1; }));
  CHECK(rejects([](fh::WriterConfig& c) { c.retry_initial = std::chrono::milliseconds(0); }));
  CHECK(rejects([](fh::WriterConfig& c) { c.lease.instance_id.clear(); }));
  CHECK(rejects([](fh::WriterConfig& c) { c.stream_key.clear(); }));
}

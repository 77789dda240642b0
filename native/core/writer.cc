#include "writer.h"

#include <fcntl.h>
#include <pthread.h>
#include <unistd.h>

#include <charconv>
#include <cstdio>
#include <ctime>
#include <random>
#include <system_error>

#include "json.h"

namespace fh {

namespace {

// Keeps one batch report small however bad the batch.
constexpr size_t kMaxNotes = 100;
constexpr size_t kMaxUnknownTypes = 16;
// The dashboard's rhythm, as the application that reads it expects.
constexpr auto kStatusEvery = std::chrono::seconds(5);
constexpr std::string_view kDashboardTtl = "10";
constexpr size_t kRecentEvents = 50;
// How long the writer sleeps on an empty queue before it looks at chores.
constexpr auto kIdleTick = std::chrono::milliseconds(500);

// Wall-clock HH:MM:SS in UTC, as the old producer stamped its summaries.
std::string utc_clock() {
  std::time_t t = std::time(nullptr);
  std::tm tm;
  gmtime_r(&t, &tm);
  char b[16];
  std::snprintf(b, sizeof b, "%02d:%02d:%02d", tm.tm_hour, tm.tm_min, tm.tm_sec);
  return b;
}

double ms_between(Clock::time_point a, Clock::time_point b) {
  return std::chrono::duration<double, std::milli>(b - a).count();
}

std::string reply_text(const redisReply* r) {
  return r->str ? std::string(r->str, r->len) : std::string();
}

}  // namespace

Writer::Writer(WriterConfig cfg, Sink sink)
    : cfg_(std::move(cfg)),
      sink_(std::move(sink)),
      queue_(cfg_.queue_high, cfg_.queue_low, cfg_.batch_max_events, cfg_.batch_max_bytes),
      decoder_(cfg_.decoder),
      batch_a_(cfg_),
      batch_b_(cfg_) {
  if (pipe(abort_pipe_) != 0) throw std::system_error(errno, std::generic_category(), "pipe");
  fcntl(abort_pipe_[1], F_SETFL, O_NONBLOCK);
  conn_ = std::make_unique<RedisConn>(cfg_.redis, abort_pipe_[0]);
  thread_ = std::thread([this] { run(); });
}

Writer::~Writer() {
  abort();
  ::close(abort_pipe_[0]);
  ::close(abort_pipe_[1]);
}

bool Writer::push(Span frame) {
  if (stopped_.load() || closing_.load()) return false;
  return queue_.push(frame, Clock::now());
}

void Writer::close(std::chrono::milliseconds timeout) {
  {
    std::lock_guard<std::mutex> lock(sleep_mu_);
    close_deadline_ = Clock::now() + timeout;
    closing_.store(true);
    poke_.store(true);
  }
  sleep_cv_.notify_all();
  queue_.wake();
}

void Writer::abort() {
  if (!aborting_.exchange(true)) {
    char c = 1;
    (void)!write(abort_pipe_[1], &c, 1);
    { std::lock_guard<std::mutex> lock(sleep_mu_); }
    sleep_cv_.notify_all();
    queue_.wake();
  }
  if (thread_.joinable() && thread_.get_id() != std::this_thread::get_id()) thread_.join();
}

void Writer::switch_cursor_key(std::string key) {
  {
    std::lock_guard<std::mutex> lock(sleep_mu_);
    next_key_ = std::move(key);
    poke_.store(true);
  }
  queue_.wake();
}

void Writer::set_status(bool connected, std::string url) {
  std::lock_guard<std::mutex> lock(sleep_mu_);
  status_connected_ = connected;
  status_url_ = std::move(url);
  status_dirty_ = true;
}

bool Writer::should_stop() const {
  if (aborting_.load()) return true;
  if (!closing_.load()) return false;
  std::lock_guard<std::mutex> lock(sleep_mu_);
  return Clock::now() >= close_deadline_;
}

bool Writer::pause(uint32_t attempt, const RedisError& err) {
  auto cap = cfg_.retry_initial * (int64_t(1) << std::min<uint32_t>(attempt - 1, 20));
  if (cap > cfg_.retry_max) cap = cfg_.retry_max;
  // Half fixed, half random: spread out, but never a tight loop.
  thread_local std::minstd_rand rng{std::random_device{}()};
  auto half = cap / 2;
  auto delay = half + std::chrono::milliseconds(
                          std::uniform_int_distribution<int64_t>(0, half.count())(rng));
  was_down_ = true;
  WriterEvent e;
  e.type = WriterEvent::Type::RedisDown;
  e.error = err.message;
  e.attempt = attempt;
  e.retry_ms = delay.count();
  emit(std::move(e));

  std::unique_lock<std::mutex> lock(sleep_mu_);
  auto wake = Clock::now() + delay;
  if (closing_.load() && close_deadline_ < wake) wake = close_deadline_;
  sleep_cv_.wait_until(lock, wake, [this] { return aborting_.load(); });
  lock.unlock();
  return !should_stop();
}

bool Writer::preflight(RedisError& err) {
  Reply r;
  auto refused = [&](const std::string& what) {
    std::string m = reply_text(r.get());
    err.fault = classify_error_reply(m);
    if (m.rfind("NOAUTH", 0) == 0) {
      err.message = "Redis at " + conn_->describe() +
                    " requires a password: put it in REDIS_URL (redis://user:password@host:port)";
    } else if (m.rfind("NOPERM", 0) == 0) {
      err.message = "the Redis user in REDIS_URL may not " + what + ": " + m;
    } else {
      err.message = "Redis refused to " + what + ": " + m;
    }
    conn_->disconnect();
    return false;
  };
  for (const std::string* key : {&cfg_.stream_key, &cfg_.cursor_key}) {
    if (!conn_->command({"TYPE", *key}, r, err)) return false;
    if (r->type == REDIS_REPLY_ERROR) return refused("read the type of " + *key);
    std::string type = reply_text(r.get());
    bool stream = key == &cfg_.stream_key;
    if (type != "none" && type != (stream ? "stream" : "string")) {
      err.fault = Fault::Fatal;
      err.message = std::string(stream ? "REDIS_STREAM_KEY" : "REDIS_CURSOR_KEY") + " \"" +
                    *key + "\" holds a " + type + ", not a " + (stream ? "stream" : "string") +
                    ": choose another key or delete this one";
      conn_->disconnect();
      return false;
    }
  }
  if (!conn_->command({"GET", cfg_.cursor_key}, r, err)) return false;
  if (r->type == REDIS_REPLY_ERROR) return refused("read " + cfg_.cursor_key);
  has_durable_ = r->type == REDIS_REPLY_STRING;
  durable_ = has_durable_ ? reply_text(r.get()) : std::string();
  if (!conn_->command({"XREVRANGE", cfg_.stream_key, "+", "-", "COUNT", "1"}, r, err)) return false;
  if (r->type == REDIS_REPLY_ERROR) return refused("read " + cfg_.stream_key);
  last_id_.clear();
  if (r->type == REDIS_REPLY_ARRAY && r->elements == 1 &&
      r->element[0]->type == REDIS_REPLY_ARRAY && r->element[0]->elements >= 1) {
    last_id_ = reply_text(r->element[0]->element[0]);
  }
  return true;
}

// Connects if need be and runs the preflight checks, retrying with backoff
// until that works, stops, or meets an error that retrying cannot fix.
bool Writer::connect_until_ready(uint32_t& attempt, Outcome& why) {
  for (;;) {
    if (should_stop()) {
      why = Outcome::Stopped;
      return false;
    }
    RedisError err;
    if ((conn_->connected() || conn_->connect(err)) && preflight(err)) return true;
    if (err.fault != Fault::Transient) {
      why = give_up(err);
      return false;
    }
    conn_->disconnect();
    if (!pause(++attempt, err)) {
      why = Outcome::Stopped;
      return false;
    }
  }
}

void Writer::summarize(const FrameResult& r, std::string_view clock) {
  Buffer& o = summary_;
  o.clear();
  if (r.entry == EntryType::Commit) {
    if (r.first_path.empty()) return;  // as before: no ops, no summary
    std::string_view path = r.first_path.view();
    o.append("{\"type\":\"#commit\",\"lexicon\":");
    json_string(o, Span(path.substr(0, path.find('/'))));
    o.append(",\"did\":");
    json_string(o, r.did);
    o.append(",\"action\":");
    json_string(o, r.first_action);
  } else if (r.entry == EntryType::Identity) {
    o.append("{\"type\":\"#identity\",\"lexicon\":\"com.atproto.identity\",\"did\":");
    json_string(o, r.did);
    o.append(",\"action\":");
    std::string action = r.handle.empty() ? "update" : "\u2192 " + std::string(r.handle.view());
    json_string(o, Span(action));
  } else if (r.entry == EntryType::Account) {
    o.append("{\"type\":\"#account\",\"lexicon\":\"com.atproto.account\",\"did\":");
    json_string(o, r.did);
    o.append(r.active ? std::string_view(",\"action\":\"active\"") : std::string_view(",\"action\":\"inactive\""));
  } else {
    return;
  }
  o.append(",\"timestamp\":\"");
  o.append(clock);
  o.append("\"}");
  if (!cfg_.broadcast_channel.empty()) broadcasts_.emplace_back(o.view());
  if (!cfg_.recent_key.empty()) {
    recent_.emplace_front(o.view());
    if (recent_.size() > kRecentEvents) recent_.pop_back();
  }
}

void Writer::build_batch(std::vector<QueuedFrame>& frames, Batch& b) {
  b.rep = BatchReport();
  BatchReport& rep = b.rep;
  RespBatch& resp = b.resp;
  b.frames = frames.size();
  b.oldest = frames.front().arrival;
  resp.begin();
  b.cursor.clear();
  broadcasts_.clear();
  bool dashboard = !cfg_.recent_key.empty() || !cfg_.broadcast_channel.empty();
  std::string clock = dashboard ? utc_clock() : std::string();
  bool recent_changed = false;
  Span last_time;
  for (QueuedFrame& f : frames) {
    rep.frames++;
    rep.bytes += f.len;
    const FrameResult& r = decoder_.decode(f.span());
    char seqbuf[24];
    std::string_view seq;
    if (r.has_seq) {
      auto end = std::to_chars(seqbuf, seqbuf + sizeof seqbuf, r.seq).ptr;
      seq = std::string_view(seqbuf, size_t(end - seqbuf));
      b.cursor.assign(seq);
    }
    if (!r.time.empty()) last_time = r.time;
    FrameCounts& c = rep.counts;
    switch (r.kind) {
      case FrameKind::Entry:
        resp.xadd(entry_type_name(r.entry), r.data, seq);
        if (dashboard) {
          summarize(r, clock);
          recent_changed = recent_changed || summary_.size() > 0;
        }
        rep.entries++;
        rep.data_bytes += r.data.n;
        switch (r.entry) {
          case EntryType::Commit: c.commit++; break;
          case EntryType::Identity: c.identity++; break;
          case EntryType::Account: c.account++; break;
          case EntryType::Sync: c.sync++; break;
          case EntryType::Info: c.info++; break;
          case EntryType::None: break;
        }
        break;
      case FrameKind::Silent:
        switch (r.silence) {
          case Silence::ErrorFrame: c.error++; break;
          case Silence::Info: c.info++; break;
          case Silence::Sync: c.sync++; break;
          case Silence::Legacy: c.legacy++; break;
          case Silence::FilteredOut: c.filtered++; break;
          case Silence::Unknown: {
            c.unknown++;
            std::string t(r.type.view());
            bool seen = false;
            for (const std::string& u : rep.unknown_types) seen = seen || u == t;
            if (!seen && rep.unknown_types.size() < kMaxUnknownTypes) rep.unknown_types.push_back(t);
            break;
          }
          case Silence::None: break;
        }
        break;
      case FrameKind::Invalid:
        c.invalid++;
        if (rep.invalid.size() < kMaxNotes) rep.invalid.push_back(InvalidNote{r.error, f.len});
        break;
    }
    if (r.op == -1 || r.type == "#info") {
      if (rep.notices.size() < kMaxNotes) {
        rep.notices.push_back(Notice{r.op == -1 ? "error" : "#info",
                                     std::string(r.error_name.view()),
                                     std::string(r.message.view())});
      }
    }
    rep.ops_filtered += r.ops_filtered;
    for (const SkippedOp& s : r.skipped) {
      rep.ops_skipped++;
      rep.skipped_by_reason[size_t(s.reason)]++;
      if (rep.skipped.size() < kMaxNotes) {
        rep.skipped.push_back(SkipNote{r.has_seq, r.seq, std::string(s.path.view()),
                                       skip_reason_name(s.reason), s.detail});
      }
    }
  }
  if (!last_time.empty()) {
    rep.has_time = true;
    rep.last_time.assign(last_time.view());
  }
  // After every XADD, so that EXEC's first replies are the entry IDs.
  for (const std::string& m : broadcasts_) resp.command({"PUBLISH", cfg_.broadcast_channel, m});
  if (!cfg_.recent_key.empty() && recent_changed) {
    std::string list = "[";
    for (const std::string& e : recent_) {
      if (list.size() > 1) list += ',';
      list += e;
    }
    list += ']';
    resp.command({"SETEX", cfg_.recent_key, kDashboardTtl, list});
  }
  if (!b.cursor.empty()) resp.set_cursor(b.cursor);
  resp.end();
}

// Checks every reply of MULTI ... EXEC. A command refused while queueing
// aborts the whole transaction (nothing applied): its error decides whether
// to retry. A command failing inside EXEC leaves the others applied, so the
// cursor is put back before giving up.
bool Writer::check_exec(const Batch& b, const std::vector<Reply>& replies, RedisError& err) {
  size_t n = replies.size();
  std::string queue_error;
  for (size_t i = 0; i + 1 < n; i++) {
    const redisReply* r = replies[i].get();
    if (r->type == REDIS_REPLY_ERROR && queue_error.empty()) queue_error = reply_text(r);
  }
  const redisReply* exec = replies[n - 1].get();
  if (exec->type != REDIS_REPLY_ARRAY) {
    std::string m = !queue_error.empty() ? queue_error
                    : exec->type == REDIS_REPLY_ERROR ? reply_text(exec)
                                                      : std::string("EXEC returned no result");
    err.fault = classify_error_reply(m);
    err.message = "Redis refused the batch: " + m;
    if (m.rfind("NOAUTH", 0) == 0) {
      err.message = "Redis requires a password: put it in REDIS_URL (redis://user:password@host:port)";
    } else if (m.rfind("NOPERM", 0) == 0) {
      err.message = "the Redis user in REDIS_URL lacks a permission the writer needs: " + m;
    }
    return false;
  }
  std::string last_id;
  for (size_t i = 0; i < exec->elements; i++) {
    const redisReply* r = exec->element[i];
    if (r->type == REDIS_REPLY_ERROR) {
      err.fault = Fault::Fatal;
      err.message = std::string("Redis applied only part of a batch: ") +
                    (i < b.resp.entries() ? "XADD to " + cfg_.stream_key
                                         : "command " + std::to_string(i + 2) + " of the transaction") +
                    " failed with " + reply_text(r);
      Reply undo;
      RedisError ignored;
      if (has_durable_) conn_->command({"SET", cfg_.cursor_key, durable_}, undo, ignored);
      else conn_->command({"DEL", cfg_.cursor_key}, undo, ignored);
      return false;
    }
    if (i < b.resp.entries() && r->type == REDIS_REPLY_STRING) last_id = reply_text(r);
  }
  if (!last_id.empty()) last_id_ = std::move(last_id);
  return true;
}

// After a connection broke with a batch in flight: did EXEC happen? The
// cursor key answers when the batch moves it; otherwise the stream's newest
// entry does.
bool Writer::batch_applied(const Batch& b, RedisError& err, bool& applied) {
  std::string known_id = last_id_;
  bool known_cursor = has_durable_;
  std::string known = durable_;
  if (!preflight(err)) return false;  // refreshes durable_ and last_id_ from Redis
  if (b.resp.entries() == 0) {
    applied = false;  // only a SET: sending it again is harmless
  } else if (!b.cursor.empty() && (!known_cursor || b.cursor != known)) {
    applied = has_durable_ && durable_ == b.cursor;
  } else {
    applied = !last_id_.empty() && last_id_ != known_id;
  }
  return true;
}

void Writer::written(Batch& b, uint32_t retries) {
  b.rep.write_ms = ms_between(b.sent_at, Clock::now());
  b.rep.retries = retries;
  if (!b.cursor.empty()) {
    durable_ = b.cursor;
    has_durable_ = true;
  }
  if (was_down_) {
    was_down_ = false;
    WriterEvent e;
    e.type = WriterEvent::Type::RedisUp;
    emit(std::move(e));
  }
}

Writer::Outcome Writer::give_up(const RedisError& err) {
  if (err.fault == Fault::Aborted) return Outcome::Stopped;
  WriterEvent e;
  e.type = WriterEvent::Type::Fatal;
  e.error = err.message;
  emit(std::move(e));
  return Outcome::Fatal;
}

// Sends a batch without waiting for its replies; false when the connection
// is not up to it (write_batch then takes over).
bool Writer::start_batch(Batch& b) {
  if (!conn_->connected()) return false;
  RedisError err;
  b.sent_at = Clock::now();
  if (conn_->send(b.resp.bytes(), err)) return true;
  conn_->disconnect();
  return false;
}

Writer::Outcome Writer::finish_batch(Batch& b) {
  RedisError err;
  if (conn_->receive(b.resp.commands(), replies_, err) && check_exec(b, replies_, err)) {
    written(b, 0);
    return Outcome::Written;
  }
  if (err.fault != Fault::Transient) return give_up(err);
  conn_->disconnect();
  if (!pause(1, err)) return Outcome::Stopped;
  return write_batch(b, true, 1);
}

// Writes a batch whatever it takes: reconnects with backoff and, when the
// batch may already have been sent, first asks Redis whether it landed.
Writer::Outcome Writer::write_batch(Batch& b, bool sent, uint32_t attempt) {
  for (;;) {
    if (should_stop()) return Outcome::Stopped;
    RedisError err;
    bool ok = true;
    bool applied = false;
    if (!conn_->connected()) {
      ok = conn_->connect(err) && (sent ? batch_applied(b, err, applied) : preflight(err));
    }
    if (ok && !applied) {
      sent = true;
      b.sent_at = Clock::now();
      ok = conn_->exchange(b.resp.bytes(), b.resp.commands(), replies_, err) &&
           check_exec(b, replies_, err);
    }
    if (ok) {
      written(b, attempt);
      return Outcome::Written;
    }
    if (err.fault != Fault::Transient) return give_up(err);
    // A fresh connection also clears a transaction left open by the error.
    conn_->disconnect();
    if (!pause(++attempt, err)) return Outcome::Stopped;
  }
}

void Writer::report(Batch& b) {
  BatchReport& rep = b.rep;
  rep.max_wait_ms = ms_between(b.oldest, Clock::now());
  rep.has_cursor = has_durable_;
  rep.cursor = durable_;
  rep.queue_bytes = queue_.bytes();
  rep.queue_frames = queue_.frames();
  WriterEvent e;
  e.type = WriterEvent::Type::Batch;
  e.batch = std::move(rep);
  emit(std::move(e));
}

bool Writer::switch_key(Outcome& why) {
  std::string key;
  {
    std::lock_guard<std::mutex> lock(sleep_mu_);
    key = next_key_;
  }
  cfg_.cursor_key = key;
  batch_a_.resp.set_cursor_key(key);
  batch_b_.resp.set_cursor_key(key);
  // preflight() checks the new key's type and reads the cursor it holds.
  uint32_t attempt = 0;
  if (!connect_until_ready(attempt, why)) return false;
  {
    std::lock_guard<std::mutex> lock(sleep_mu_);
    if (next_key_ == key) next_key_.clear();
    poke_.store(closing_.load() || !next_key_.empty());
    status_dirty_ = true;
  }
  WriterEvent e;
  e.type = WriterEvent::Type::CursorKey;
  e.key = key;
  e.has_cursor = has_durable_;
  e.cursor = durable_;
  emit(std::move(e));
  return true;
}

// Best effort: the status key expires by itself when the writer cannot
// reach Redis, which is exactly what a dashboard should see.
void Writer::write_status() {
  if (cfg_.status_key.empty()) return;
  Clock::time_point now = Clock::now();
  bool connected;
  std::string url;
  {
    std::lock_guard<std::mutex> lock(sleep_mu_);
    if (!status_dirty_ && now < next_status_) return;
    status_dirty_ = false;
    connected = status_connected_;
    url = status_url_;
  }
  next_status_ = now + kStatusEvery;
  RedisError err;
  if (!conn_->connected() && !(conn_->connect(err) && preflight(err))) {
    conn_->disconnect();
    return;
  }
  Buffer json;
  json.append(connected ? std::string_view("{\"connected\":true,\"url\":")
                        : std::string_view("{\"connected\":false,\"url\":"));
  json_string(json, Span(url));
  json.append(",\"currentCursor\":");
  if (has_durable_) json_string(json, Span(durable_));
  else json.append("null");
  json.push('}');
  Reply r;
  conn_->command({"SETEX", cfg_.status_key, kDashboardTtl, json.view()}, r, err);
}

void Writer::run() {
  // Shows up in top -H and perf, next to Node's own threads.
  pthread_setname_np(pthread_self(), "fh-writer");
  uint32_t attempt = 0;
  Outcome outcome = Outcome::Written;
  size_t pending = 0;
  if (connect_until_ready(attempt, outcome)) {
    WriterEvent ready;
    ready.type = WriterEvent::Type::Ready;
    ready.has_cursor = has_durable_;
    ready.cursor = durable_;
    emit(std::move(ready));
    if (attempt > 0) {
      WriterEvent up;
      up.type = WriterEvent::Type::RedisUp;
      emit(std::move(up));
    }
    std::vector<QueuedFrame> frames;
    Batch* inflight = nullptr;  // sent, replies not read yet
    Batch* next = &batch_a_;
    for (;;) {
      if (aborting_.load()) {
        outcome = Outcome::Stopped;
        break;
      }
      // Chores only between batches: nothing may come between a batch and
      // its replies on the connection.
      if (!inflight) {
        if (queue_.frames() == 0) {
          bool switching;
          {
            std::lock_guard<std::mutex> lock(sleep_mu_);
            switching = !next_key_.empty();
          }
          if (switching) {
            if (!switch_key(outcome)) break;
            continue;
          }
          if (closing_.load()) break;
        }
        write_status();
      }
      // With a batch in flight, take only what is already queued: its
      // replies must not wait for new frames.
      size_t n = inflight ? queue_.take_ready(frames)
                          : queue_.take(frames, cfg_.linger, kIdleTick, poke_, aborting_);
      if (queue_.take_drained()) {
        WriterEvent d;
        d.type = WriterEvent::Type::Drain;
        emit(std::move(d));
      }
      if (n) {
        build_batch(frames, *next);
        queue_.release(frames);  // the RESP buffer holds all that is left to send
      }
      if (inflight) {
        outcome = finish_batch(*inflight);
        if (outcome != Outcome::Written) {
          pending = inflight->frames + n;
          break;
        }
        report(*inflight);
        inflight = nullptr;
      }
      if (n == 0) continue;
      if (next->resp.empty()) {
        report(*next);
      } else if (start_batch(*next)) {
        inflight = next;
        next = next == &batch_a_ ? &batch_b_ : &batch_a_;
      } else {
        outcome = write_batch(*next, true, 0);
        if (outcome != Outcome::Written) {
          pending = n;
          break;
        }
        report(*next);
      }
    }
  }
  // The last word on the dashboard: after a clean close the relay is gone.
  if (outcome == Outcome::Written && conn_->connected()) write_status();
  stopped_.store(true);
  conn_->disconnect();
  WriterEvent closed;
  closed.type = WriterEvent::Type::Closed;
  closed.pending = pending + queue_.frames();
  closed.flushed = outcome == Outcome::Written && closed.pending == 0;
  emit(std::move(closed));
}

}  // namespace fh

#include "core.h"

#include <algorithm>
#include <random>

#include "scripts.h"

namespace fh {

namespace {

// After a refused connect or LOADING, Redis is restarting: ask again at
// this pace instead of waiting out the backoff.
constexpr Millis kSoon{100};
// Groups for /metrics, at most this often when nothing changes.
constexpr Millis kGroupsEvery{1000};
// A standby asks for the lease at least this often.
constexpr int64_t kStandbyPollMs = 500;
// An idle writer looks at its chores at least this often.
constexpr Millis kIdleTick{1000};

bool numeric(const std::string& s) {
  return !s.empty() && std::all_of(s.begin(), s.end(), [](char c) { return c >= '0' && c <= '9'; });
}

}  // namespace

void WriterControl::close(TimePoint deadline) {
  std::lock_guard<std::mutex> lock(mu_);
  if (!closing_.load()) deadline_ = deadline;
  closing_.store(true);
}

TimePoint WriterControl::deadline() const {
  std::lock_guard<std::mutex> lock(mu_);
  return deadline_;
}

void WriterControl::request_key(std::string key) {
  std::lock_guard<std::mutex> lock(mu_);
  next_key_ = std::move(key);
}

std::string WriterControl::requested_key() const {
  std::lock_guard<std::mutex> lock(mu_);
  return next_key_;
}

void WriterControl::key_done(const std::string& key) {
  std::lock_guard<std::mutex> lock(mu_);
  if (next_key_ == key) next_key_.clear();
}

WriterCore::WriterCore(WriterConfig cfg, WriterClock& clock, FrameQueue& queue, ConnectionFactory& factory,
                       WriterControl& control, Dashboard& dashboard, Sink sink)
    : cfg_(std::move(cfg)),
      clock_(clock),
      queue_(queue),
      factory_(factory),
      control_(control),
      dash_(dashboard),
      sink_(std::move(sink)),
      conn_(factory.node()),
      topology_(cfg_, factory),
      lease_(cfg_.lease, cfg_.lease_key()),
      pacing_(cfg_),
      builder_(cfg_.decoder, dashboard) {}

WriterCore::~WriterCore() = default;

void WriterCore::log(const char* level, std::string message) {
  WriterEvent e;
  e.type = WriterEvent::Type::Log;
  e.level = level;
  e.message = std::move(message);
  emit(std::move(e));
}

size_t WriterCore::pending_frames() const {
  return queue_.frames() + (inflight_ ? inflight_->frames : 0) + (ready_ ? ready_->frames : 0);
}

void WriterCore::drop_batches() {
  inflight_ = nullptr;
  ready_ = nullptr;
}

bool WriterCore::stop_now() const {
  return control_.aborting() || (control_.closing() && clock_.now() >= control_.deadline());
}

void WriterCore::run() {
  Outcome out = Outcome::Stopped;
  try {
    out = loop();
    // The last word on the dashboard: after a clean close the relay is gone.
    if (out == Outcome::Done && active_ && conn_->connected()) write_status_alone();
  } catch (const std::exception& e) {
    give_up(RedisError{Fault::Fatal, std::string("internal error in the writer: ") + e.what()});
    out = Outcome::Fatal;
  } catch (...) {
    give_up(RedisError{Fault::Fatal, "internal error in the writer"});
    out = Outcome::Fatal;
  }
  size_t pending = pending_frames();
  conn_->disconnect();
  queue_.set_discard(true);
  WriterEvent closed;
  closed.type = WriterEvent::Type::Closed;
  closed.pending = pending;
  closed.flushed = out != Outcome::Fatal && pending == 0;
  emit(std::move(closed));
}

WriterCore::Outcome WriterCore::give_up(const RedisError& err) {
  if (err.fault == Fault::Aborted) return Outcome::Stopped;
  WriterEvent e;
  e.type = WriterEvent::Type::Fatal;
  e.error = err.message;
  e.config = err.fault == Fault::Config;
  emit(std::move(e));
  return Outcome::Fatal;
}

// Half fixed, half random: spread out, but never a tight loop. Every wait
// ends early for close() and abort().
bool WriterCore::pause(uint32_t attempt, const RedisError& err) {
  auto cap = cfg_.retry_initial * (int64_t(1) << std::min<uint32_t>(attempt - 1, 20));
  if (cap > cfg_.retry_max) cap = cfg_.retry_max;
  thread_local std::minstd_rand rng{std::random_device{}()};
  auto half = cap / 2;
  Millis delay = half + Millis(std::uniform_int_distribution<int64_t>(0, half.count())(rng));
  if (err.soon) delay = std::min(delay, kSoon);
  was_down_ = true;
  WriterEvent e;
  e.type = WriterEvent::Type::RedisDown;
  e.error = err.message;
  e.attempt = attempt;
  e.retry_ms = delay.count();
  emit(std::move(e));
  TimePoint wake = clock_.now() + delay;
  while (!stop_now() && clock_.now() < wake) {
    TimePoint until = wake;
    if (control_.closing()) until = std::min(until, control_.deadline());
    // Nothing left to write: a close need not wait for Redis.
    if (control_.closing() && pending_frames() == 0) return false;
    clock_.wait_until(until, false);
  }
  return !stop_now();
}

WriterCore::Outcome WriterCore::loop() {
  uint32_t attempt = 0;
  for (;;) {
    if (stop_now()) return Outcome::Stopped;
    if (control_.closing() && pending_frames() == 0 && (!active_ || !conn_->connected())) return Outcome::Done;
    RedisError err;
    Outcome o = Outcome::Again;
    if (!conn_->connected()) {
      if (!connect_ready(err)) o = Outcome::Failed;
    } else {
      o = active_ ? active_loop(err) : standby_wait(err);
    }
    if (o == Outcome::Again) {
      if (conn_->connected()) attempt = 0;
      continue;
    }
    if (o != Outcome::Failed) return o;
    if (err.fault == Fault::Fatal || err.fault == Fault::Config || err.fault == Fault::Aborted) return give_up(err);
    if (err.fault == Fault::Redirect) topology_.redirected(err.message);
    else topology_.lost();
    conn_->disconnect();
    if (!pause(++attempt, err)) return control_.aborting() || pending_frames() ? Outcome::Stopped : Outcome::Done;
  }
}

bool WriterCore::connect_node(RedisError& err) {
  bool ok = topology_.connect(*conn_, err);
  std::string change = topology_.take_change();
  std::string node = topology_.node().describe();
  if (!change.empty() || node != announced_node_) {
    announced_node_ = node;
    WriterEvent e;
    e.type = WriterEvent::Type::Node;
    e.node = node;
    e.message = change;
    emit(std::move(e));
  }
  if (!ok || !load_scripts(err) || !check_slots(err)) {
    conn_->disconnect();
    return false;
  }
  if (was_down_) {
    was_down_ = false;
    WriterEvent up;
    up.type = WriterEvent::Type::RedisUp;
    emit(std::move(up));
  }
  return true;
}

bool WriterCore::connect_ready(RedisError& err) { return connect_node(err) && take_role(err); }

bool WriterCore::load_scripts(RedisError& err) {
  std::vector<Reply> r;
  if (!pipeline(*conn_,
                {{"SCRIPT", "LOAD", kBatchScript}, {"SCRIPT", "LOAD", kGroupsScript},
                 {"SCRIPT", "LOAD", kLeaseScript}, {"SCRIPT", "LOAD", kRepairScript}},
                r, err)) {
    return false;
  }
  for (const Reply& x : r) {
    if (!is_error(x.get())) continue;
    err = refusal(*conn_, "load the writer's scripts (SCRIPT LOAD)", reply_text(x.get()));
    return false;
  }
  batch_sha_ = reply_text(r[0].get());
  groups_sha_ = reply_text(r[1].get());
  lease_sha_ = reply_text(r[2].get());
  repair_sha_ = reply_text(r[3].get());
  return true;
}

bool WriterCore::check_slots(RedisError& err) {
  if (topology_.kind() != Topology::Kind::Cluster || slots_checked_) return true;
  unsigned slot = topology_.slot();
  for (const std::string& k : {cfg_.cursor_key, cfg_.lease_key(), cfg_.fence_key()}) {
    if (key_slot(k) != slot) {
      err.fault = Fault::Config;
      err.message = "in a Redis Cluster the stream and cursor keys must share one slot (" + cfg_.stream_key +
                    " is in " + std::to_string(slot) + ", " + k + " in " + std::to_string(key_slot(k)) +
                    "): give them a hash tag, e.g. REDIS_STREAM_KEY={firehose}:events REDIS_CURSOR_KEY={firehose}:cursor";
      return false;
    }
  }
  if (dash_.status_on() && key_slot(dash_.status_key()) != slot) {
    log("warn", dash_.status_key() + " is in another cluster slot than " + cfg_.stream_key +
                    ": it is not written, so the dashboard shows the ingester as disconnected");
    dash_.drop_status();
  }
  if (dash_.recent_on() && key_slot(dash_.recent_key()) != slot) {
    log("warn", dash_.recent_key() + " is in another cluster slot than " + cfg_.stream_key + ": it is not written");
    dash_.drop_recent();
  }
  slots_checked_ = true;
  return true;
}

// The lease decides the role. Taking it over means adopting what Redis
// holds; keeping it across a reconnect means checking that Redis still
// holds what we wrote.
bool WriterCore::take_role(RedisError& err) {
  LeaseState ls;
  if (!lease_.acquire(*conn_, lease_sha_, !ever_active_, ls, err)) return false;
  if (!ls.held) {
    if (active_ || !announced_standby_ || standby_holder_ != ls.holder) become_standby(ls.holder);
    standby_next_ = clock_.now() + Millis(std::clamp<int64_t>(ls.ttl_ms, 10, kStandbyPollMs));
    return true;
  }
  lease_.renewed(clock_.now());
  RedisState st;
  if (!read_state(*conn_, cfg_, st, err)) return false;
  if (active_) return reconcile_idle(st, true, err);
  if (reconcile(st, st.keys, nullptr) == Verdict::Torn && !adopt_tail(st, err)) return false;
  base_ = st.keys;
  floor_.set(base_.cursor);
  acks_.clear();
  active_ = true;
  announced_standby_ = false;
  WriterEvent role;
  role.type = WriterEvent::Type::Role;
  role.active = true;
  role.holder = lease_.holder();
  role.message = ever_active_ ? "took over the lease " + lease_.key() : "holding the lease " + lease_.key();
  emit(std::move(role));
  if (!ever_active_) {
    ever_active_ = true;
    queue_.set_discard(false);
    WriterEvent ready;
    ready.type = WriterEvent::Type::Ready;
    ready.has_cursor = !base_.cursor.empty();
    ready.cursor = base_.cursor;
    emit(std::move(ready));
  }
  return true;
}

void WriterCore::become_standby(const std::string& holder) {
  bool was_active = active_;
  active_ = false;
  announced_standby_ = true;
  standby_holder_ = holder;
  drop_batches();
  queue_.clear();
  queue_.set_discard(true);
  WriterEvent e;
  e.type = WriterEvent::Type::Role;
  e.active = false;
  e.holder = holder;
  std::string who = holder.empty() ? "nobody" : "instance " + Lease::instance_of(holder);
  e.message = was_active ? "fenced: " + who + " holds the lease " + lease_.key() +
                               " now; this instance writes nothing and stands by"
                         : "standing by: " + who + " holds the lease " + lease_.key();
  emit(std::move(e));
}

WriterCore::Outcome WriterCore::standby_wait(RedisError& err) {
  while (clock_.now() < standby_next_) {
    if (stop_now()) return Outcome::Stopped;
    if (control_.closing()) return Outcome::Done;
    std::string key = control_.requested_key();
    if (!key.empty()) return switch_key(key, err) ? Outcome::Again : Outcome::Failed;
    clock_.wait_until(standby_next_, false);
  }
  if (control_.closing()) return Outcome::Done;
  return take_role(err) ? Outcome::Again : Outcome::Failed;
}

// Redis replayed part of a transaction: entries past the fence, without
// the cursor and fence that came last in it. They are in the stream, in
// order: adopt them, so that nothing is written twice.
bool WriterCore::adopt_tail(RedisState& st, RedisError& err) {
  FenceState next{st.keys.cursor, st.tail_id};
  if (numeric(st.tail_seq) && (st.keys.cursor.empty() || cursor_less(st.keys.cursor, st.tail_seq))) {
    next.cursor = st.tail_seq;
  }
  Reply r;
  if (!command(*conn_, {"EVALSHA", repair_sha_, "2", cfg_.cursor_key, cfg_.fence_key(), st.keys.cursor, st.keys.fence,
                        next.cursor, next.fence},
               r, err)) {
    return false;
  }
  if (is_error(r.get()) || r->integer != 1) {
    err.fault = is_error(r.get()) ? classify_error_reply(reply_text(r.get())) : Fault::Transient;
    err.message = "could not adopt the stream's tail: " + (is_error(r.get()) ? reply_text(r.get()) : "the keys moved");
    return false;
  }
  if (!torn_logged_) {
    torn_logged_ = true;
    log("error", "Redis replayed part of a transaction after a crash (Redis 7.0 with aof-load-truncated yes): " +
                     cfg_.stream_key + " holds entries up to " + st.tail_id + " (seq " + st.tail_seq +
                     ") without their cursor; adopted them, so none is written twice (Valkey, or Redis >= 7.2, avoids this)");
  }
  st.keys = next;
  return true;
}

void WriterCore::resync(const RedisState& st, Verdict v, bool reconnect) {
  std::string was = base_.cursor;
  int64_t lost = v == Verdict::Behind ? acks_.lost_since(st.keys.cursor) : -1;
  drop_batches();
  queue_.clear();
  if (reconnect) queue_.set_discard(true);
  base_ = st.keys;
  floor_.set(base_.cursor);
  acks_.clear();
  WriterEvent e;
  e.type = WriterEvent::Type::Resync;
  e.has_cursor = !base_.cursor.empty();
  e.cursor = base_.cursor;
  e.previous = was;
  e.lost = lost;
  e.reconnect = reconnect;
  std::string cur = base_.cursor.empty() ? "none" : base_.cursor;
  if (v == Verdict::Behind) {
    e.message = "Redis lost acknowledged writes: its cursor " + cfg_.cursor_key + " is " + cur + " but " + was +
                " was acknowledged (" + (lost >= 0 ? std::to_string(lost) : std::string("an unknown number of")) +
                " events lost); fetching them again from the relay";
  } else {
    e.message = "the cursor " + cfg_.cursor_key + " in Redis is " + cur + ", not " + (was.empty() ? "none" : was) +
                " as this instance wrote: another writer or a person changed it; following Redis";
  }
  emit(std::move(e));
}

// Nothing in flight: does Redis still hold what we wrote? `reconnect`: the
// relay must come back from Redis's cursor (false when it is reconnecting
// anyway, from the cursor this reads).
bool WriterCore::reconcile_idle(RedisState& st, bool reconnect, RedisError& err) {
  Verdict v = reconcile(st, base_, nullptr);
  if (v == Verdict::Torn) {
    if (!adopt_tail(st, err)) return false;
    v = reconcile(st, base_, nullptr);
  }
  switch (v) {
    case Verdict::Same:
      return true;
    case Verdict::Empty:
      log("error", "Redis came back empty (" + cfg_.stream_key + " and " + cfg_.cursor_key +
                       " are gone): the events before seq " + base_.cursor +
                       " went with it; carrying on from there, without skipping to live");
      base_ = st.keys;
      return true;
    case Verdict::Behind:
      // Only the cursor key went: the stream says how far it got.
      if (st.keys.cursor.empty() && numeric(st.tail_seq) && !adopt_cursor(st, err)) return false;
      resync(st, Verdict::Behind, reconnect);
      return true;
    default:
      resync(st, Verdict::Foreign, reconnect);
      return true;
  }
}

bool WriterCore::adopt_cursor(RedisState& st, RedisError& err) {
  Reply r;
  if (!command(*conn_, {"EVALSHA", repair_sha_, "2", cfg_.cursor_key, cfg_.fence_key(), st.keys.cursor, st.keys.fence,
                        st.tail_seq, st.keys.fence},
               r, err)) {
    return false;
  }
  if (is_error(r.get())) {
    err.fault = classify_error_reply(reply_text(r.get()));
    err.message = "could not restore " + cfg_.cursor_key + ": " + reply_text(r.get());
    return false;
  }
  st.keys.cursor = st.tail_seq;
  return true;
}

bool WriterCore::switch_key(const std::string& key, RedisError& err) {
  if (topology_.kind() == Topology::Kind::Cluster && key_slot(key) != topology_.slot()) {
    err.fault = Fault::Config;
    err.message = "cursor key " + key + " is in another cluster slot than " + cfg_.stream_key +
                  ": give REDIS_CURSOR_KEY the stream's hash tag";
    return false;
  }
  std::string old = cfg_.cursor_key;
  cfg_.cursor_key = key;
  RedisState st;
  if (!read_state(*conn_, cfg_, st, err)) {
    cfg_.cursor_key = old;
    return false;
  }
  if (active_) {
    // Every relay (re)connect passes here: the moment to notice that Redis
    // lost writes while nothing was in flight. The relay then resumes from
    // the cursor read here.
    if (key == old && !reconcile_idle(st, false, err)) {
      cfg_.cursor_key = old;
      return false;
    }
    base_ = st.keys;
    floor_.set(base_.cursor);
    queue_.set_discard(false);
  }
  control_.key_done(key);
  WriterEvent e;
  e.type = WriterEvent::Type::CursorKey;
  e.key = key;
  e.has_cursor = !st.keys.cursor.empty();
  e.cursor = st.keys.cursor;
  emit(std::move(e));
  return true;
}

WriterCore::Outcome WriterCore::chores(RedisError& err) {
  TimePoint now = clock_.now();
  std::string key = control_.requested_key();
  // The frames pushed before the switch belong to the old key: write them first.
  if (!key.empty() && !ready_ && queue_.frames() == 0) {
    if (!switch_key(key, err)) return Outcome::Failed;
    if (!active_) return Outcome::Again;
  }
  if (now >= lease_.renew_due()) {
    LeaseState ls;
    if (!lease_.acquire(*conn_, lease_sha_, false, ls, err)) return Outcome::Failed;
    if (!ls.held) {
      become_standby(ls.holder);
      standby_next_ = now;
      return Outcome::Again;
    }
    lease_.renewed(now);
  }
  if (topology_.kind() == Topology::Kind::Sentinel && now >= next_sentinel_) {
    next_sentinel_ = now + Topology::kSentinelPollEvery;
    RedisError e;
    if (topology_.master_moved(e)) {
      err.fault = Fault::Redirect;
      err.message = topology_.node().describe();
      conn_->disconnect();
      return Outcome::Failed;
    }
    if (e.fault == Fault::Aborted) return Outcome::Stopped;
  }
  if (pacing_.enabled() && now >= next_stale_) {
    next_stale_ = now + Pacing::kStaleCheckEvery;
    if (!check_stale(err)) return Outcome::Failed;
  }
  if (pacing_.paced() && now >= next_poll_) {
    next_poll_ = now + Pacing::kPollEvery;
    if (!poll_groups(err)) return Outcome::Failed;
  }
  if (!ready_ && queue_.frames() == 0) write_status_alone();
  return Outcome::Continue;
}

bool WriterCore::poll_groups(RedisError& err) {
  BatchHeader h;
  pacing_.fill_header(h);
  std::vector<std::string> cmd = {"EVALSHA", groups_sha_, "1", cfg_.stream_key, h.only ? "only" : "all",
                                  std::to_string(h.names.size())};
  cmd.insert(cmd.end(), h.names.begin(), h.names.end());
  std::vector<Reply> r;
  if (!pipeline(*conn_, {cmd}, r, err)) return false;
  const redisReply* x = r[0].get();
  if (is_error(x)) {
    err = refusal(*conn_, "read the consumer groups of " + cfg_.stream_key +
                              " (XINFO, XPENDING; or set REDIS_TRIM=maxlen)", reply_text(x));
    return false;
  }
  update_pacing(pacing_.update(x, 1, x->element[0]->integer, clock_.now()));
  return true;
}

bool WriterCore::check_stale(RedisError& err) {
  std::vector<std::pair<std::string, bool>> changed;
  if (!pacing_.check_stale(*conn_, cfg_.stream_key, clock_.now(), changed, err)) return false;
  for (const auto& [name, stale] : changed) {
    if (stale) {
      log("error", "consumer group " + name + " of " + cfg_.stream_key + ": every consumer has been idle for over " +
                       std::to_string(cfg_.pacing.stale_after_ms / 1000) +
                       " s while entries wait for it; it no longer paces the writer, so entries it has not read may be trimmed (PACE_STALE_AFTER_MS)");
    } else {
      log("info", "consumer group " + name + " of " + cfg_.stream_key + " is reading again: it paces the writer again");
    }
  }
  if (!groups_checked_ && !cfg_.pacing.only_groups.empty()) {
    groups_checked_ = true;
    // The groups as they are now: before the first batch none were read yet.
    if (!poll_groups(err)) return false;
    std::string have;
    for (const GroupState& g : pacing_.groups()) have += (have.empty() ? "" : ", ") + g.name;
    for (const std::string& want : cfg_.pacing.only_groups) {
      bool found = false;
      for (const GroupState& g : pacing_.groups()) found = found || g.name == want;
      if (!found) {
        log("error", "PACE_GROUPS names \"" + want + "\", but " + cfg_.stream_key + " has no such consumer group (it has: " +
                         (have.empty() ? "none" : have) + "): fix the name, or create the group");
      }
    }
  }
  return true;
}

void WriterCore::update_pacing(bool changed) {
  TimePoint now = clock_.now();
  if (!changed && (pacing_.groups().empty() || now < next_groups_event_)) return;
  next_groups_event_ = now + kGroupsEvery;
  if (changed) {
    queue_.set_gate(!pacing_.paced());
    next_poll_ = now + Pacing::kPollEvery;
  }
  WriterEvent e;
  e.type = WriterEvent::Type::Pacing;
  e.paced = pacing_.paced();
  e.group = pacing_.slowest();
  e.backlog = pacing_.slowest_backlog();
  e.groups = pacing_.groups();
  emit(std::move(e));
}

// Best effort, between batches: the status key expires by itself when the
// writer cannot reach Redis, which is exactly what a dashboard should see.
void WriterCore::write_status_alone() {
  if (!dash_.status_on()) return;
  TimePoint now = clock_.now();
  std::string json = dash_.status_due(now, !base_.cursor.empty(), base_.cursor);
  if (json.empty()) return;
  Reply r;
  RedisError err;
  if (command(*conn_, {"SETEX", dash_.status_key(), Dashboard::kTtlSeconds, json}, r, err) && !is_error(r.get())) {
    dash_.status_written(now);
  }
}

WriterCore::Outcome WriterCore::active_loop(RedisError& err) {
  for (;;) {
    if (stop_now()) return Outcome::Stopped;
    if (queue_.take_drained()) {
      WriterEvent d;
      d.type = WriterEvent::Type::Drain;
      emit(std::move(d));
    }
    if (!inflight_) {
      Outcome o = chores(err);
      if (o != Outcome::Continue) return o;
    }
    // Paced: take nothing more, unless closing (the queue is bounded, and
    // trimming still spares what the groups need).
    if (!ready_ && (!pacing_.paced() || control_.closing()) && queue_.take(frames_)) {
      Batch* b = inflight_ == &batch_a_ ? &batch_b_ : &batch_a_;
      builder_.build(frames_, *b, floor_);
      queue_.release(frames_);
      ready_ = b;
      continue;
    }
    if (inflight_) {
      Settled s = finish(*inflight_);
      if (s == Settled::Written) {
        report(*inflight_);
        inflight_ = nullptr;
        continue;
      }
      return s == Settled::Fatal ? Outcome::Fatal : s == Settled::Stopped ? Outcome::Stopped : Outcome::Again;
    }
    if (ready_) {
      Batch& b = *ready_;
      ready_ = nullptr;
      if (b.empty()) {
        report(b);
        continue;
      }
      inflight_ = &b;
      RedisError e;
      if (!send(b, e)) {
        Settled s = settle(b, e);
        if (s != Settled::Written) {
          return s == Settled::Fatal ? Outcome::Fatal : s == Settled::Stopped ? Outcome::Stopped : Outcome::Again;
        }
        report(b);
        inflight_ = nullptr;
      }
      continue;
    }
    if (control_.closing() && queue_.frames() == 0) return Outcome::Done;
    TimePoint next = clock_.now() + kIdleTick;
    next = std::min(next, lease_.renew_due());
    if (pacing_.enabled()) next = std::min(next, next_stale_);
    if (pacing_.paced()) next = std::min(next, next_poll_);
    if (topology_.kind() == Topology::Kind::Sentinel) next = std::min(next, next_sentinel_);
    if (dash_.status_on()) next = std::min(next, dash_.next_status());
    if (control_.closing()) next = std::min(next, control_.deadline());
    clock_.wait_until(next, !pacing_.paced() || control_.closing());
  }
}

bool WriterCore::send(Batch& b, RedisError& err) {
  TimePoint now = clock_.now();
  b.before = base_;
  b.status = dash_.status_due(now, !base_.cursor.empty(), base_.cursor);
  BatchHeader h;
  h.sha = batch_sha_;
  h.holder = lease_.holder();
  h.lease_ttl_ms = lease_.ttl_ms();
  pacing_.fill_header(h);
  h.recent_key = dash_.recent_on();
  h.status_key = dash_.status_on();
  encode_prefix(cfg_, b, h, prefix_);
  b.sent_at = now;
  b.attempts++;
  return conn_->send({prefix_.span(), b.messages.span(), b.entries_resp.span()}, err);
}

WriterCore::Settled WriterCore::finish(Batch& b) {
  RedisError err;
  if (!conn_->receive(1, replies_, err)) return settle(b, err);
  return on_reply(b, replies_[0].get());
}

WriterCore::Settled WriterCore::on_reply(Batch& b, const redisReply* r) {
  if (r->type == REDIS_REPLY_ARRAY && r->elements >= 3) {
    written(b, r);
    return Settled::Written;
  }
  std::string m = reply_text(r);
  RedisError err;
  if (m.rfind("FENCED", 0) == 0) {
    // Refused as a whole: the keys are not what the batch was built on.
    err.fault = Fault::None;
    err.message = m;
  } else if (m.rfind("NOSCRIPT", 0) == 0) {
    // A new or restarted server without our scripts: nothing ran.
    err.fault = Fault::Transient;
    err.message = "Redis at " + conn_->describe() + " lost the writer's scripts (restarted?)";
    conn_->disconnect();
  } else {
    if (is_error(r)) {
      err = refusal(*conn_, "write a batch", m);
    } else {
      err.fault = Fault::Fatal;
      err.message = "the batch script gave an unexpected reply";
    }
  }
  return settle(b, err);
}

// A batch whose outcome is unknown, or refused: reconnect if need be, ask
// Redis whether it landed, and send it again only if it did not.
WriterCore::Settled WriterCore::settle(Batch& b, RedisError err) {
  uint32_t attempt = 0;
  for (;;) {
    if (err.fault == Fault::Fatal || err.fault == Fault::Config) {
      give_up(err);
      return Settled::Fatal;
    }
    if (err.fault == Fault::Aborted) return Settled::Stopped;
    if (err.fault == Fault::Redirect) {
      topology_.redirected(err.message);
      conn_->disconnect();
    } else if (err.fault == Fault::Transient && !conn_->connected()) {
      topology_.lost();
    }
    if (err.fault != Fault::None && !pause(++attempt, err)) return Settled::Stopped;
    if (stop_now()) return Settled::Stopped;
    err = RedisError();
    if (!conn_->connected() && !connect_node(err)) continue;
    LeaseState ls;
    if (!lease_.acquire(*conn_, lease_sha_, false, ls, err)) continue;
    if (!ls.held) {
      become_standby(ls.holder);
      standby_next_ = clock_.now();
      return Settled::Standby;
    }
    lease_.renewed(clock_.now());
    RedisState st;
    if (!read_state(*conn_, cfg_, st, err)) continue;
    Verdict v = reconcile(st, base_, &b);
    if (v == Verdict::Torn) {
      if (!adopt_tail(st, err)) continue;
      v = reconcile(st, base_, &b);
    }
    if (v == Verdict::Landed) {
      b.rep.retries = attempt;
      landed(b, st.keys);
      return Settled::Written;
    }
    if (v == Verdict::Empty) {
      log("error", "Redis came back empty (" + cfg_.stream_key + " and " + cfg_.cursor_key +
                       " are gone): the events before seq " + base_.cursor +
                       " went with it; carrying on from there, without skipping to live");
      base_ = st.keys;
    } else if (v == Verdict::Behind || v == Verdict::Foreign) {
      if (v == Verdict::Behind && st.keys.cursor.empty() && numeric(st.tail_seq) && !adopt_cursor(st, err)) continue;
      resync(st, v, true);
      return Settled::Resync;
    }
    // Not landed (or Redis is empty): send it again on top of what Redis holds.
    if (!send(b, err)) continue;
    if (!conn_->receive(1, replies_, err)) continue;
    const redisReply* r = replies_[0].get();
    if (r->type == REDIS_REPLY_ARRAY && r->elements >= 3) {
      b.rep.retries = attempt;
      written(b, r);
      return Settled::Written;
    }
    std::string m = reply_text(r);
    if (m.rfind("FENCED", 0) == 0) {
      err.fault = Fault::None;
    } else if (m.rfind("NOSCRIPT", 0) == 0) {
      err.fault = Fault::Transient;
      conn_->disconnect();
    } else if (is_error(r)) {
      err = refusal(*conn_, "write a batch", m);
      continue;
    } else {
      err.fault = Fault::Fatal;
    }
    err.message = "Redis refused the batch: " + m;
  }
}

void WriterCore::landed(Batch& b, const FenceState& now_holds) {
  base_ = now_holds;
  entries_total_ += b.entries;
  acks_.add(base_.cursor, entries_total_);
  b.rep.write_ms = ms_between(b.sent_at, clock_.now());
  if (!b.status.empty()) dash_.status_written(b.sent_at);
}

void WriterCore::written(Batch& b, const redisReply* r) {
  landed(b, b.after(reply_text(r->element[0])));
  lease_.renewed(b.sent_at);
  std::string dash = reply_text(r->element[2]);
  if (!dash.empty() && dash != dash_error_) {
    dash_error_ = dash;
    log("warn", "Redis refused to trim the stream or write the dashboard (" + dash +
                    "): the entries are written; check the Redis user's permissions (XTRIM, SETEX, PUBLISH)");
  }
  if (pacing_.enabled()) {
    int64_t xlen = r->element[1]->integer;
    update_pacing(r->elements > 3 ? pacing_.update(r, 3, xlen, clock_.now()) : pacing_.update_none(xlen, clock_.now()));
  }
}

void WriterCore::report(Batch& b) {
  BatchReport& rep = b.rep;
  rep.max_wait_ms = ms_between(b.oldest, clock_.now());
  rep.has_cursor = !base_.cursor.empty();
  rep.cursor = base_.cursor;
  rep.queue_bytes = queue_.bytes();
  rep.queue_frames = queue_.frames();
  WriterEvent e;
  e.type = WriterEvent::Type::Batch;
  e.batch = std::move(rep);
  emit(std::move(e));
}

}  // namespace fh

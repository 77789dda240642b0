#include "core.h"

#include <algorithm>
#include <random>
#include <utility>

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
      control_(control),
      dash_(dashboard),
      sink_(std::move(sink)),
      conn_(factory.node()),
      topology_(cfg_, factory),
      lease_(cfg_.lease, cfg_.lease_key()),
      pacing_(cfg_),
      builder_(cfg_, dashboard) {}

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
  WriterEvent closed;
  closed.type = WriterEvent::Type::Closed;
  closed.pending = pending;
  closed.queued = queue_.frames();
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
    if (err.fault == Fault::Redirect)
      topology_.redirected(err.message);
    else
      topology_.lost();
    conn_->disconnect();
    if (!pause(++attempt, err)) return control_.aborting() || pending_frames() ? Outcome::Stopped : Outcome::Done;
  }
}

bool WriterCore::connect_node(RedisError& err) {
  if (!topology_.connect(*conn_, err) || !load_scripts(err) || !check_slots(err) || !check_seams(err)) {
    conn_->disconnect();
    return false;
  }
  // Named once usable: until then the node is only a guess (REDIS_URL's).
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
  seams_.reconnected();
  checked_ = false;  // WATCH belongs to a connection
  return true;
}

bool WriterCore::connect_ready(RedisError& err) {
  if (!connect_node(err) || !take_role(err)) return false;
  redis_up();
  return true;
}

// Said once Redis answered more than a connect: a slot in migration accepts
// connections and refuses the keys.
void WriterCore::redis_up() {
  if (!was_down_) return;
  was_down_ = false;
  WriterEvent up;
  up.type = WriterEvent::Type::RedisUp;
  emit(std::move(up));
}

bool WriterCore::load_scripts(RedisError& err) {
  std::vector<Reply> r;
  if (!pipeline(*conn_,
                {{"SCRIPT", "LOAD", kGroupsScript},
                 {"SCRIPT", "LOAD", kLeaseScript},
                 {"SCRIPT", "LOAD", kRepairScript},
                 {"SCRIPT", "LOAD", kSeamScript}},
                r, err)) {
    return false;
  }
  for (const Reply& x : r) {
    if (!is_error(x.get())) continue;
    err = refusal(*conn_, "load the writer's scripts (SCRIPT LOAD)", reply_text(x.get()));
    return false;
  }
  groups_sha_ = reply_text(r[0].get());
  lease_sha_ = reply_text(r[1].get());
  repair_sha_ = reply_text(r[2].get());
  seam_sha_ = reply_text(r[3].get());
  return true;
}

bool WriterCore::check_slots(RedisError& err) {
  if (topology_.kind() != Topology::Kind::Cluster || slots_checked_) return true;
  unsigned slot = topology_.slot();
  for (const std::string& k : {cfg_.cursor_key, cfg_.lease_key(), cfg_.fence_key()}) {
    if (key_slot(k) != slot) {
      err.fault = Fault::Config;
      err.message =
          "in a Redis Cluster the stream and cursor keys must share one slot (" + cfg_.stream_key + " is in " +
          std::to_string(slot) + ", " + k + " in " + std::to_string(key_slot(k)) +
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
  checked_ = false;
  if (!lease_.acquire(*conn_, lease_sha_, !ever_active_, ls, err)) return false;
  if (!ls.held) {
    if (active_ || !announced_standby_ || standby_holder_ != ls.holder) become_standby(ls.holder);
    standby_next_ = clock_.now() + Millis(std::clamp<int64_t>(ls.ttl_ms, 10, kStandbyPollMs));
    return true;
  }
  lease_.renewed(clock_.now());
  RedisState st;
  if (!read_state(*conn_, cfg_, st, err)) return false;
  tail_id_ = st.tail_id;
  if (active_) return reconcile_idle(st, true, err);
  if (reconcile(st, st.keys, nullptr) == Verdict::Torn && !adopt_tail(st, err)) return false;
  base_ = st.keys;
  floor_.set(base_.cursor);
  acks_.clear();
  active_ = true;
  // A standby that gets the lease took it over, whether it wrote before or not.
  bool takeover = announced_standby_;
  announced_standby_ = false;
  WriterEvent role;
  role.type = WriterEvent::Type::Role;
  role.active = true;
  role.holder = lease_.holder();
  role.message = takeover ? "took over the lease " + lease_.key() +
                                (standby_holder_.empty() ? "" : " from instance " + Lease::instance_of(standby_holder_))
                          : "holding the lease " + lease_.key();
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
  // A standby left on a demoted master would see the lease expire there.
  if (follow_master()) return Outcome::Again;
  return take_role(err) ? Outcome::Again : Outcome::Failed;
}

// Sentinel: asks a sentinel, at most once a second, whether the master
// moved. Not a failure when it did: the connection is dropped, and the next
// connect goes to the new master (connect_node says why).
bool WriterCore::follow_master() {
  if (topology_.kind() != Topology::Kind::Sentinel || clock_.now() < next_sentinel_) return false;
  next_sentinel_ = clock_.now() + Topology::kSentinelPollEvery;
  RedisError e;
  if (!topology_.master_moved(e)) {
    // No answer: ask less often while the sentinels are away (the next
    // question goes to the next sentinel).
    if (e.fault != Fault::None) next_sentinel_ = clock_.now() + 5 * Topology::kSentinelPollEvery;
    return false;
  }
  conn_->disconnect();
  return true;
}

// Redis replayed part of a transaction: entries past the fence, without
// the cursor and fence that came last in it. They are in the stream, in
// order: adopt them, so that nothing is written twice.
bool WriterCore::adopt_tail(RedisState& st, RedisError& err) {
  checked_ = false;
  FenceState next{st.keys.cursor, "adopted " + st.tail_seq};
  if (numeric(st.tail_seq) && (st.keys.cursor.empty() || cursor_less(st.keys.cursor, st.tail_seq))) {
    next.cursor = st.tail_seq;
  }
  Reply r;
  if (!command(*conn_,
               {"EVALSHA", repair_sha_, "2", cfg_.cursor_key, cfg_.fence_key(), st.keys.cursor, st.keys.fence,
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
    log("error",
        "Redis replayed part of a transaction that a crash had cut (a torn AOF loaded with aof-load-truncated yes): " +
            cfg_.stream_key + " holds entries up to " + st.tail_id + " (seq " + st.tail_seq +
            ") without their cursor; adopted them, so none is written twice. Such a replay can also duplicate entries: "
            "run redis-check-aof --fix before Redis starts (README, Redis durability)");
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
    case Verdict::Same: return true;
    case Verdict::Empty: return restore_cursor(st, err);
    case Verdict::Behind:
      // Only the cursor key went: the stream says how far it got.
      if (st.keys.cursor.empty() && numeric(st.tail_seq) && !adopt_cursor(st, err)) return false;
      resync(st, Verdict::Behind, reconnect);
      return true;
    default: resync(st, Verdict::Foreign, reconnect); return true;
  }
}

// Redis lost everything, our cursor with it. Put the cursor back, so that
// whoever asks next (a relay reconnect, this service restarted) resumes from
// it instead of going live over the gap, and the next batch applies on top.
bool WriterCore::restore_cursor(RedisState& st, RedisError& err) {
  checked_ = false;
  if (!base_.cursor.empty()) {
    Reply r;
    if (!command(*conn_,
                 {"EVALSHA", repair_sha_, "2", cfg_.cursor_key, cfg_.fence_key(), st.keys.cursor, st.keys.fence,
                  base_.cursor, ""},
                 r, err)) {
      return false;
    }
    if (is_error(r.get()) || r->integer != 1) {
      err.fault = is_error(r.get()) ? classify_error_reply(reply_text(r.get())) : Fault::Transient;
      err.message =
          "could not restore " + cfg_.cursor_key + ": " + (is_error(r.get()) ? reply_text(r.get()) : "the keys moved");
      return false;
    }
  }
  log("error", "Redis came back empty (" + cfg_.stream_key + " and " + cfg_.cursor_key +
                   " are gone): the events up to seq " + base_.cursor +
                   " went with it; carrying on from there, without skipping to live");
  st.keys = FenceState{base_.cursor, ""};
  base_ = st.keys;
  return true;
}

bool WriterCore::adopt_cursor(RedisState& st, RedisError& err) {
  checked_ = false;
  Reply r;
  if (!command(*conn_,
               {"EVALSHA", repair_sha_, "2", cfg_.cursor_key, cfg_.fence_key(), st.keys.cursor, st.keys.fence,
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

// On a new connection (Redis may have restarted): has a torn transaction
// been replayed into one of the seams? Logged once each; a seam whose
// entries were trimmed away is forgotten. Best effort: a Redis user that
// may not run the check gets one warning, never a stop.
bool WriterCore::check_seams(RedisError& err) {
  const auto& all = seams_.all();
  if (all.empty()) return true;
  std::vector<std::string> cmd = {"EVALSHA", seam_sha_, "1", cfg_.stream_key};
  for (const Seam& s : all) {
    cmd.push_back(s.from.empty() ? "-" : "(" + s.from);
    cmd.push_back(s.to);
    cmd.push_back(std::to_string(s.entries));
  }
  std::vector<Reply> r;
  if (!pipeline(*conn_, {cmd}, r, err)) return false;
  const redisReply* x = r[0].get();
  if (is_error(x) || x->type != REDIS_REPLY_ARRAY) {
    seams_.disable();
    log("warn", "cannot look for entries that Redis replayed twice from a torn AOF (" + reply_text(x) +
                    "): allow the Redis user XRANGE on " + cfg_.stream_key + " for this check");
    return true;
  }
  for (size_t i = all.size(); i-- > 0;) {
    const redisReply* e = i < x->elements ? x->element[i] : nullptr;
    if (!e || e->elements != 3) continue;
    uint64_t now = uint64_t(e->element[0]->integer);
    const Seam& s = all[i];
    if (now > s.entries) {
      log("error",
          "Redis replayed part of a transaction that a crash had cut (a torn AOF loaded with aof-load-truncated "
          "yes): " +
              std::to_string(now - s.entries) + " entries of " + cfg_.stream_key + ", seq " +
              reply_text(e->element[1]) + " to " + reply_text(e->element[2]) + ", are now in it twice (after entry " +
              (s.from.empty() ? "0-0" : s.from) +
              "); run redis-check-aof --fix before Redis starts (README, Redis durability)");
    }
    if (now != s.entries) seams_.drop(i);
  }
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
  checked_ = false;
  RedisState st;
  if (!read_state(*conn_, cfg_, st, err)) {
    cfg_.cursor_key = old;
    return false;
  }
  if (active_ && !st.holder.empty() && st.holder != lease_.holder()) {
    // Another instance took the lease while this one was frozen or cut
    // off: what it wrote is not ours to follow.
    become_standby(st.holder);
    standby_next_ = clock_.now();
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
    checked_ = false;
    if (!lease_.acquire(*conn_, lease_sha_, false, ls, err)) return Outcome::Failed;
    if (!ls.held) {
      become_standby(ls.holder);
      standby_next_ = now;
      return Outcome::Again;
    }
    lease_.renewed(now);
  }
  if (follow_master()) return Outcome::Again;
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
  bool only = false;
  std::vector<std::string> names;
  pacing_.selection(only, names);
  std::vector<std::string> cmd = {
      "EVALSHA", groups_sha_, "1", cfg_.stream_key, "0", only ? "only" : "all", std::to_string(names.size())};
  cmd.insert(cmd.end(), names.begin(), names.end());
  std::vector<Reply> r;
  return pipeline(*conn_, {cmd}, r, err) && read_groups(r[0].get(), err);
}

// The groups script's reply, alone or in a batch's transaction.
bool WriterCore::read_groups(const redisReply* x, RedisError& err) {
  if (is_error(x)) {
    err = refusal(*conn_,
                  "read the consumer groups of " + cfg_.stream_key + " (XINFO, XPENDING; or set REDIS_TRIM=maxlen)",
                  reply_text(x));
    return false;
  }
  if (!Pacing::well_formed(x)) {
    err.fault = Fault::Fatal;
    err.message = "the consumer groups script on " + cfg_.stream_key + " gave an unexpected reply";
    return false;
  }
  update_pacing(pacing_.update(x, clock_.now()));
  return true;
}

bool WriterCore::check_stale(RedisError& err) {
  std::vector<std::pair<std::string, bool>> changed;
  if (!pacing_.check_stale(*conn_, cfg_.stream_key, clock_.now(), changed, err)) return false;
  for (const auto& [name, stale] : changed) {
    if (stale) {
      log("error", "consumer group " + name + " of " + cfg_.stream_key + ": every consumer has been idle for over " +
                       std::to_string(cfg_.pacing.stale_after_ms / 1000) +
                       " s while entries wait for it; it no longer paces the writer, so entries it has not read may be "
                       "trimmed (PACE_STALE_AFTER_MS)");
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
        log("error", "PACE_GROUPS names \"" + want + "\", but " + cfg_.stream_key +
                         " has no such consumer group (it has: " + (have.empty() ? "none" : have) +
                         "): fix the name, or create the group");
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
    // A batch that landed is reported; a refusal that came with it (the
    // trim, say) stops the writer only then.
    auto settled = [&](Settled s) {
      if (s == Settled::Written) {
        report(*inflight_);
        inflight_ = nullptr;
        if (refused_.fault == Fault::None) return Outcome::Continue;
        err = std::exchange(refused_, RedisError());
        return Outcome::Failed;
      }
      return s == Settled::Fatal ? Outcome::Fatal : s == Settled::Stopped ? Outcome::Stopped : Outcome::Again;
    };
    if (inflight_) {
      Outcome o = settled(finish(*inflight_));
      if (o != Outcome::Continue) return o;
      continue;
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
        Outcome o = settled(settle(b, e));
        if (o != Outcome::Continue) return o;
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

// Sends b: its transaction, and behind it the next batch's check, so that
// in steady state a batch costs one round trip. Without a check already on
// this connection, it first makes one (a round trip) and refuses to send on
// top of keys that are not what b was built on (err.fault None).
bool WriterCore::send(Batch& b, RedisError& err) {
  TimePoint now = clock_.now();
  b.before = base_;
  b.after = FenceState{b.cursor.empty() ? base_.cursor : b.cursor,
                       b.token + " " + (b.entries ? b.last_seq : fence_seq(base_.fence))};
  if (!checked_ && !check(err)) return false;
  checked_ = false;
  b.status = dash_.status_due(now, !base_.cursor.empty(), base_.cursor);
  BatchHeader h;
  h.holder = lease_.holder();
  h.lease_ttl_ms = lease_.ttl_ms();
  pacing_.trim(groups_sha_, h);
  b.groups = h.trim == BatchHeader::Trim::Groups;
  h.recent_key = dash_.recent_on();
  h.status_key = dash_.status_on();
  b.queued = encode_exec(cfg_, b, h, head_, tail_);
  encode_check(cfg_, check_);
  b.sent_at = now;
  return conn_->send({head_.span(), b.xadds.span(), b.publishes.span(), tail_.span(), check_.span()}, err);
}

// The check alone: WATCH and read the keys, now.
bool WriterCore::check(RedisError& err) {
  encode_check(cfg_, check_);
  std::vector<Reply> r;
  if (!conn_->send({check_.span()}, err) || !conn_->receive(kCheckReplies, r, err)) return false;
  return checked(r.data(), err);
}

// The check's replies: UNWATCH, WATCH, MGET of cursor, fence and lease.
// True when the keys hold what this writer believes.
bool WriterCore::checked(const Reply* r, RedisError& err) {
  for (size_t i = 0; i < kCheckReplies; i++) {
    if (is_error(r[i].get())) {
      err = refusal(*conn_, "read the writer's keys", reply_text(r[i].get()));
      return false;
    }
  }
  const redisReply* v = r[2].get();
  if (v->type != REDIS_REPLY_ARRAY || v->elements != 3) {
    err.fault = Fault::Fatal;
    err.message = "MGET of the writer's keys gave an unexpected reply";
    return false;
  }
  FenceState now{reply_text(v->element[0]), reply_text(v->element[1])};
  std::string holder = reply_text(v->element[2]);
  if (now == base_ && holder == lease_.holder()) {
    checked_ = true;
    return true;
  }
  // Not what the batch was built on: nothing is sent, and settle() asks why.
  err.fault = Fault::None;
  err.message = "the writer's keys changed";
  return false;
}

WriterCore::Settled WriterCore::finish(Batch& b) {
  RedisError err;
  if (receive_batch(b, err)) return Settled::Written;
  return settle(b, err);
}

// Reads b's replies: MULTI, one per queued command, EXEC, then the next
// check's. True when EXEC applied the batch.
bool WriterCore::receive_batch(Batch& b, RedisError& err) {
  size_t exec = 1 + b.queued;
  size_t n = exec + 1 + kCheckReplies;
  if (!conn_->receive(n, replies_, err)) return false;
  const redisReply* x = replies_[exec].get();
  if (x->type == REDIS_REPLY_ARRAY) {
    if (!written(b, x, err)) return false;
    // The check of the next batch, made right after this one applied.
    RedisError ignored;
    checked(&replies_[exec + 1], ignored);
    return true;
  }
  if (x->type == REDIS_REPLY_NIL) {
    // A watched key changed between the check and EXEC: nothing applied.
    err.fault = Fault::None;
    err.message = "the writer's keys changed";
    return false;
  }
  // EXECABORT: a command was refused while queued (ACL, OOM ...), nothing
  // applied; its own error says why (EXEC itself refused says it after
  // the EXECABORT).
  std::string why = reply_text(x);
  size_t noperm = why.find("NOPERM");
  if (why.rfind("EXECABORT", 0) == 0 && noperm != std::string::npos) why = why.substr(noperm);
  for (size_t i = 0; i < exec; i++) {
    if (is_error(replies_[i].get())) {
      why = reply_text(replies_[i].get());
      break;
    }
  }
  err = refusal(*conn_, "write a batch", why);
  return false;
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
    // A master refusing writes (NOREPLICAS, OOM) may be one the sentinels
    // have just replaced: retrying it would only wait for its demotion.
    RedisError ask;
    if (conn_->connected() && topology_.master_moved(ask)) conn_->disconnect();
    if (!conn_->connected() && !connect_node(err)) continue;
    LeaseState ls;
    if (!lease_.acquire(*conn_, lease_sha_, false, ls, err)) continue;
    if (!ls.held) {
      become_standby(ls.holder);
      standby_next_ = clock_.now();
      return Settled::Standby;
    }
    lease_.renewed(clock_.now());
    checked_ = false;
    RedisState st;
    if (!read_state(*conn_, cfg_, st, err)) continue;
    tail_id_ = st.tail_id;
    redis_up();
    Verdict v = reconcile(st, base_, &b);
    if (v == Verdict::Torn) {
      if (!adopt_tail(st, err)) continue;
      v = reconcile(st, base_, &b);
    }
    if (v == Verdict::Landed) {
      b.rep.retries = attempt;
      landed(b, "");  // its entries' IDs went with the lost reply
      return Settled::Written;
    }
    if (v == Verdict::Empty) {
      if (!restore_cursor(st, err)) continue;
    } else if (v == Verdict::Behind || v == Verdict::Foreign) {
      if (v == Verdict::Behind && st.keys.cursor.empty() && numeric(st.tail_seq) && !adopt_cursor(st, err)) continue;
      resync(st, v, true);
      return Settled::Resync;
    }
    // Not landed (or Redis is empty): send it again on top of what Redis holds.
    if (send(b, err) && receive_batch(b, err)) {
      b.rep.retries = attempt;
      return Settled::Written;
    }
  }
}

// b applied; `last_id` is its newest entry's ID ("" when unknown).
void WriterCore::landed(Batch& b, const std::string& last_id) {
  if (b.entries && !last_id.empty()) {
    seams_.written(tail_id_, last_id, b.entries);
    tail_id_ = last_id;
  }
  base_ = b.after;
  entries_total_ += b.entries;
  acks_.add(base_.cursor, entries_total_);
  b.rep.write_ms = ms_between(b.sent_at, clock_.now());
  lease_.renewed(b.sent_at);
  if (!b.status.empty()) dash_.status_written(b.sent_at);
}

// EXEC's results: an ID per XADD, then the other commands' replies. An
// error among the entries or the keys means Redis applied part of the
// batch (a key changed type under it): that needs a person. The trim (or
// the groups script) and the dashboard may fail alone, leaving the stream
// untrimmed or the dashboard stale; that is worth a warning.
bool WriterCore::written(Batch& b, const redisReply* r, RedisError& err) {
  if (r->elements != b.queued) {
    err.fault = Fault::Fatal;
    err.message = "EXEC of a batch gave " + std::to_string(r->elements) + " replies for " + std::to_string(b.queued) +
                  " commands";
    return false;
  }
  std::string last_id = b.entries ? reply_text(r->element[b.entries - 1]) : std::string();
  size_t keys_end = b.entries + b.messages + (b.cursor.empty() ? 0 : 1) + 2;
  if (b.groups && !is_error(r->element[keys_end]) && !read_groups(r->element[keys_end], err)) return false;
  for (size_t i = 0; i < r->elements; i++) {
    if (!is_error(r->element[i])) continue;
    std::string m = reply_text(r->element[i]);
    bool part = i < b.entries || (i >= b.entries + b.messages && i < keys_end);
    if (part) {
      err.fault = Fault::Fatal;
      err.message = "Redis applied only part of a batch (" + m + "): " + cfg_.stream_key + " or " + cfg_.cursor_key +
                    " changed type under the writer; check them before starting again";
      return false;
    }
    RedisError why =
        refusal(*conn_, b.groups && i == keys_end ? "trim " + cfg_.stream_key : std::string("write the dashboard"), m);
    if (why.fault == Fault::Fatal) {
      refused_ = why;
    } else if (m != dash_error_) {
      dash_error_ = m;
      log("warn", "Redis refused to trim the stream or write the dashboard (" + m + "): the entries are written");
    }
  }
  landed(b, last_id);
  return true;
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

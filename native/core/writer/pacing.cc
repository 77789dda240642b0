#include "pacing.h"

#include <algorithm>
#include <charconv>

namespace fh {

namespace {
constexpr size_t kMaxSamples = 2048;
constexpr size_t kGroupFields = 5;  // name, undelivered, pending, counted, last delivered id
}  // namespace

bool StreamId::parse(std::string_view s, StreamId& out) {
  size_t dash = s.find('-');
  if (dash == std::string_view::npos) return false;
  auto a = std::from_chars(s.data(), s.data() + dash, out.ms);
  auto b = std::from_chars(s.data() + dash + 1, s.data() + s.size(), out.seq);
  return a.ec == std::errc() && a.ptr == s.data() + dash && b.ec == std::errc() && b.ptr == s.data() + s.size();
}

Pacing::Pacing(const WriterConfig& cfg)
    : mode_(cfg.pacing.mode),
      cap_(cfg.max_stream_len),
      // Resume below 80 % of the cap, so that a paced writer moves in
      // strides rather than one batch at a time.
      low_(int64_t(cfg.max_stream_len) - int64_t(cfg.max_stream_len / 5)),
      only_(cfg.pacing.only_groups),
      stale_after_ms_(cfg.pacing.stale_after_ms) {}

void Pacing::selection(bool& only, std::vector<std::string>& names) const {
  names.clear();
  // 'all' names the groups that do not count (the stale ones); 'only' the
  // listed groups that still do.
  only = !only_.empty();
  auto stale = [&](const std::string& n) {
    auto it = stale_.find(n);
    return it != stale_.end() && it->second;
  };
  if (only) {
    for (const std::string& n : only_) {
      if (!stale(n)) names.push_back(n);
    }
  } else {
    for (const auto& [name, is_stale] : stale_) {
      if (is_stale) names.push_back(name);
    }
  }
}

// The blind policy trims as the old producers did (MAXLEN ~ cap); pacing
// runs the groups script in every batch, which trims no further than the
// groups allow and tells where they stand.
void Pacing::trim(const std::string& groups_sha, BatchHeader& h) const {
  h.trim = BatchHeader::Trim::None;
  if (cap_ == 0) return;
  h.cap = cap_;
  if (mode_ == TrimMode::Blind) {
    h.trim = BatchHeader::Trim::MaxLen;
    return;
  }
  h.trim = BatchHeader::Trim::Groups;
  h.groups_sha = groups_sha;
  selection(h.only, h.names);
}

void Pacing::remember(const StreamId& last, int64_t added) {
  int64_t spacing = std::max<int64_t>(1, int64_t(cap_ / 1024));
  if (!samples_.empty() && added - samples_.back().second < spacing) return;
  if (!samples_.empty() && !(samples_.back().first < last)) samples_.clear();  // the stream went back
  samples_.emplace_back(last, added);
  if (samples_.size() > kMaxSamples) samples_.pop_front();
}

// Entries after `delivered`: from the newest sample at or before it (an
// over-estimate by at most the sample spacing), else by time between the
// first and last entries.
int64_t Pacing::estimate_undelivered(const StreamId& delivered, const StreamId& first, const StreamId& last,
                                     int64_t added) const {
  if (last <= delivered) return 0;
  if (delivered < first) return xlen_;
  for (auto it = samples_.rbegin(); it != samples_.rend(); ++it) {
    if (it->first <= delivered) return std::min<int64_t>(xlen_, added - it->second);
  }
  double span = double(last.ms - first.ms);
  double behind = span > 0 ? double(last.ms - std::min(delivered.ms, last.ms)) / span : 1.0;
  return std::min<int64_t>(xlen_, int64_t(double(xlen_) * behind + 0.5) + 1);
}

bool Pacing::well_formed(const redisReply* r) {
  auto is = [&](size_t i, int type) { return r->element[i]->type == type; };
  if (r->type != REDIS_REPLY_ARRAY || r->elements < 4 || (r->elements - 4) % kGroupFields != 0) return false;
  if (!is(0, REDIS_REPLY_INTEGER) || !is(1, REDIS_REPLY_STRING) || !is(2, REDIS_REPLY_STRING) ||
      !is(3, REDIS_REPLY_INTEGER)) {
    return false;
  }
  for (size_t i = 4; i < r->elements; i += kGroupFields) {
    if (!is(i, REDIS_REPLY_STRING) || !is(i + 1, REDIS_REPLY_INTEGER) || !is(i + 2, REDIS_REPLY_INTEGER) ||
        !is(i + 3, REDIS_REPLY_INTEGER) || !is(i + 4, REDIS_REPLY_STRING)) {
      return false;
    }
  }
  return true;
}

bool Pacing::update(const redisReply* r, TimePoint now) {
  constexpr size_t at = 1;  // after xlen
  xlen_ = r->element[0]->integer;
  StreamId first, last;
  StreamId::parse(reply_text(r->element[at]), first);
  StreamId::parse(reply_text(r->element[at + 1]), last);
  int64_t added = r->element[at + 2]->integer;
  remember(last, added);
  groups_.clear();
  for (size_t i = at + 3; i + kGroupFields <= r->elements; i += kGroupFields) {
    GroupState g;
    g.name = reply_text(r->element[i]);
    g.undelivered = r->element[i + 1]->integer;
    g.pending = r->element[i + 2]->integer;
    g.counted = r->element[i + 3]->integer == 1;
    auto s = stale_.find(g.name);
    g.stale = s != stale_.end() && s->second;
    if (g.undelivered < 0) {
      StreamId delivered;
      if (StreamId::parse(reply_text(r->element[i + 4]), delivered)) {
        g.undelivered = estimate_undelivered(delivered, first, last, added);
      }
    }
    groups_.push_back(std::move(g));
  }
  return decide(now);
}

bool Pacing::decide(TimePoint now) {
  slowest_.clear();
  slowest_backlog_ = 0;
  for (const GroupState& g : groups_) {
    if (g.counted && g.backlog() >= slowest_backlog_) {
      slowest_ = g.name;
      slowest_backlog_ = g.backlog();
    }
  }
  bool was = paced_;
  if (!enabled())
    paced_ = false;
  else if (!paced_ && slowest_backlog_ >= int64_t(cap_))
    paced_ = true;
  else if (paced_ && slowest_backlog_ <= low_)
    paced_ = false;
  if (paced_ && !was) paced_since_ = now;
  return paced_ != was;
}

// Before the first batch: may this user run what pacing needs? Inside the
// groups script an ACL refusal could only be reported in general terms.
bool Pacing::probe(Connection& c, const std::string& stream, RedisError& err) {
  std::vector<Reply> replies;
  if (!pipeline(c, {{"XINFO", "GROUPS", stream}, {"XPENDING", stream, "firehose-redis-probe"}}, replies, err))
    return false;
  std::string denied;
  for (size_t i = 0; i < replies.size(); i++) {
    const redisReply* r = replies[i].get();
    if (is_error(r) && reply_text(r).rfind("NOPERM", 0) == 0)
      denied += denied.empty() ? (i ? "XPENDING" : "XINFO") : " and XPENDING";
  }
  if (denied.empty()) {
    probed_ = true;
    return true;
  }
  err.fault = Fault::Fatal;
  err.message = "the Redis user in REDIS_URL may not run " + denied + " on " + stream +
                ", which pacing by consumer groups needs: grant them (ACL SETUSER <user> +xinfo +xpending), or set "
                "REDIS_TRIM=maxlen";
  return false;
}

bool Pacing::check_stale(Connection& c, const std::string& stream, TimePoint now,
                         std::vector<std::pair<std::string, bool>>& changed, RedisError& err) {
  if (!enabled()) return true;
  if (!probed_ && !probe(c, stream, err)) return false;
  std::vector<std::vector<std::string>> cmds;
  for (const GroupState& g : groups_) cmds.push_back({"XINFO", "CONSUMERS", stream, g.name});
  if (cmds.empty()) {
    stale_.clear();
    no_consumers_since_.clear();
    return true;
  }
  std::vector<Reply> replies;
  if (!pipeline(c, cmds, replies, err)) return false;
  std::map<std::string, bool> next;
  for (size_t i = 0; i < groups_.size(); i++) {
    const GroupState& g = groups_[i];
    const redisReply* r = replies[i].get();
    if (is_error(r)) {
      std::string m = reply_text(r);
      if (m.rfind("NOPERM", 0) == 0) {
        err.fault = Fault::Fatal;
        err.message = "the Redis user in REDIS_URL may not run XINFO on " + stream +
                      ", which pacing by consumer groups needs: grant them (ACL SETUSER <user> +xinfo +xpending), or "
                      "set REDIS_TRIM=maxlen";
        return false;
      }
      next[g.name] = stale_.count(g.name) && stale_[g.name];  // the group went away meanwhile
      continue;
    }
    // A group that keeps up is never stale, however idle its consumers.
    bool behind = g.backlog() > 0;
    int64_t min_idle = -1;
    for (size_t k = 0; k < r->elements; k++) {
      const redisReply* cons = r->element[k];
      for (size_t f = 0; f + 1 < cons->elements; f += 2) {
        if (reply_text(cons->element[f]) == "idle") {
          int64_t idle = cons->element[f + 1]->integer;
          if (min_idle < 0 || idle < min_idle) min_idle = idle;
        }
      }
    }
    bool stale;
    if (r->elements == 0) {
      auto it = no_consumers_since_.emplace(g.name, now).first;
      stale = behind && ms_between(it->second, now) > double(stale_after_ms_);
    } else {
      no_consumers_since_.erase(g.name);
      stale = behind && min_idle > stale_after_ms_;
    }
    next[g.name] = stale;
    bool was = stale_.count(g.name) && stale_[g.name];
    if (stale != was) changed.emplace_back(g.name, stale);
  }
  stale_.swap(next);
  for (GroupState& g : groups_) g.stale = stale_[g.name];
  return true;
}

}  // namespace fh

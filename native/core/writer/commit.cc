#include "commit.h"

#include <charconv>

namespace fh {

namespace {
constexpr size_t kHistory = 65536;

bool parse_i64(const std::string& s, int64_t& v) {
  auto r = std::from_chars(s.data(), s.data() + s.size(), v);
  return !s.empty() && r.ec == std::errc() && r.ptr == s.data() + s.size();
}
}  // namespace

bool cursor_less(const std::string& a, const std::string& b) {
  int64_t x, y;
  return parse_i64(a, x) && parse_i64(b, y) && x < y;
}

bool read_state(Connection& c, const WriterConfig& cfg, RedisState& out, RedisError& err) {
  std::vector<Reply> r;
  if (!pipeline(
          c, {{"TYPE", cfg.stream_key}, {"TYPE", cfg.cursor_key}, {"TYPE", cfg.fence_key()}, {"GET", cfg.lease_key()}},
          r, err)) {
    return false;
  }
  struct Want {
    const std::string& key;
    const char* setting;
    const char* type;
  };
  std::string fence = cfg.fence_key();
  const Want want[] = {{cfg.stream_key, "REDIS_STREAM_KEY", "stream"},
                       {cfg.cursor_key, "REDIS_CURSOR_KEY", "string"},
                       {fence, "REDIS_STREAM_KEY", "string"}};
  for (size_t i = 0; i < 4; i++) {
    if (is_error(r[i].get())) {
      err = refusal(c, "read the writer's keys", reply_text(r[i].get()));
      return false;
    }
  }
  for (size_t i = 0; i < 3; i++) {
    std::string type = reply_text(r[i].get());
    if (type != "none" && type != want[i].type) {
      err.fault = Fault::Fatal;
      err.message = std::string(want[i].setting) + " \"" + cfg.stream_key + "\": key \"" + want[i].key + "\" holds a " +
                    type + ", not a " + want[i].type + ": choose another key or delete this one";
      if (i == 1) {
        err.message = "REDIS_CURSOR_KEY \"" + cfg.cursor_key + "\" holds a " + type +
                      ", not a string: choose another key or delete this one";
      } else if (i == 0) {
        err.message = "REDIS_STREAM_KEY \"" + cfg.stream_key + "\" holds a " + type +
                      ", not a stream: choose another key or delete this one";
      }
      return false;
    }
  }
  out.holder = reply_text(r[3].get());
  std::vector<Reply> v;
  if (!pipeline(c, {{"GET", cfg.cursor_key}, {"GET", fence}, {"XREVRANGE", cfg.stream_key, "+", "-", "COUNT", "1"}}, v,
                err)) {
    return false;
  }
  for (const Reply& x : v) {
    if (is_error(x.get())) {
      err = refusal(c, "read the writer's keys", reply_text(x.get()));
      return false;
    }
  }
  out.keys.cursor = reply_text(v[0].get());
  out.keys.fence = reply_text(v[1].get());
  out.tail_id.clear();
  out.tail_seq.clear();
  const redisReply* t = v[2].get();
  if (t->type == REDIS_REPLY_ARRAY && t->elements == 1 && t->element[0]->elements == 2) {
    out.tail_id = reply_text(t->element[0]->element[0]);
    const redisReply* fields = t->element[0]->element[1];
    for (size_t i = 0; i + 1 < fields->elements; i += 2) {
      if (reply_text(fields->element[i]) == "seq") out.tail_seq = reply_text(fields->element[i + 1]);
    }
  }
  return true;
}

Verdict reconcile(const RedisState& st, const FenceState& base, const Batch* b) {
  // The stream's tail is not the last entry a committed batch wrote: the
  // tail of a transaction whose cursor and fence never made it (a torn AOF
  // replayed with aof-load-truncated yes).
  if (!st.keys.fence.empty() && !st.tail_id.empty() && st.tail_seq != fence_seq(st.keys.fence)) return Verdict::Torn;
  if (b) {
    if (st.keys == b->before) return Verdict::NotLanded;
    // The fence holds the batch's own token: only this batch writes it.
    if (st.keys == b->after) return Verdict::Landed;
  } else if (st.keys == base) {
    return Verdict::Same;
  }
  if (st.keys.cursor.empty() && st.keys.fence.empty() && st.tail_id.empty()) return Verdict::Empty;
  if (cursor_less(st.keys.cursor, base.cursor)) return Verdict::Behind;
  // The cursor key alone was deleted: the stream still says how far it got.
  if (st.keys.cursor.empty() && !base.cursor.empty()) return Verdict::Behind;
  return Verdict::Foreign;
}

void Seams::written(const std::string& from, const std::string& to, uint64_t entries) {
  if (!pending_ || entries == 0 || disabled_) return;
  pending_ = false;
  seams_.push_back(Seam{from, to, entries});
  if (seams_.size() > kKept) seams_.pop_front();
}

void AckHistory::add(const std::string& cursor, uint64_t entries_total) {
  int64_t c;
  if (!parse_i64(cursor, c)) return;
  if (!acks_.empty() && acks_.back().first == c) {
    acks_.back().second = entries_total;
    return;
  }
  acks_.emplace_back(c, entries_total);
  if (acks_.size() > kHistory) acks_.pop_front();
}

int64_t AckHistory::lost_since(const std::string& cursor) const {
  int64_t c;
  if (acks_.empty() || !parse_i64(cursor, c)) return -1;
  for (auto it = acks_.rbegin(); it != acks_.rend(); ++it) {
    if (it->first <= c) return int64_t(acks_.back().second - it->second);
  }
  return -1;
}

}  // namespace fh

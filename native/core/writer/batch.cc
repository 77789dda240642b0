#include "batch.h"

#include <charconv>

#include "resp.h"

namespace fh {

namespace {
// Keeps one batch report small however bad the batch.
constexpr size_t kMaxNotes = 100;
constexpr size_t kMaxUnknownTypes = 16;
}  // namespace

void SeqFloor::set(const std::string& cursor) {
  int64_t v = 0;
  auto r = std::from_chars(cursor.data(), cursor.data() + cursor.size(), v);
  has = !cursor.empty() && r.ec == std::errc() && r.ptr == cursor.data() + cursor.size();
  seq = has ? v : 0;
}

static void count_entry(FrameCounts& c, EntryType t) {
  switch (t) {
    case EntryType::Commit: c.commit++; break;
    case EntryType::Identity: c.identity++; break;
    case EntryType::Account: c.account++; break;
    case EntryType::Sync: c.sync++; break;
    case EntryType::Info: c.info++; break;
    case EntryType::None: break;
  }
}

static void count_silent(BatchReport& rep, const FrameResult& r) {
  FrameCounts& c = rep.counts;
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
}

void BatchBuilder::build(const std::vector<QueuedFrame>& frames, Batch& b, SeqFloor& floor) {
  b.rep = BatchReport();
  b.messages.clear();
  b.entries_resp.clear();
  b.entries = b.message_count = 0;
  b.cursor.clear();
  b.recent.clear();
  b.attempts = 0;
  b.frames = frames.size();
  b.oldest = frames.front().arrival;
  BatchReport& rep = b.rep;
  RespWriter msgs(b.messages), entries(b.entries_resp);
  std::string clock = dash_.any_events() ? Dashboard::clock_now() : std::string();
  bool recent_changed = false;
  Span last_time;
  for (const QueuedFrame& f : frames) {
    rep.frames++;
    rep.bytes += f.len;
    const FrameResult& r = decoder_.decode(f.span());
    if (r.kind == FrameKind::Invalid) {
      // Whatever seq it seems to carry, an undecodable frame moves nothing.
      rep.counts.invalid++;
      if (rep.invalid.size() < kMaxNotes) rep.invalid.push_back(InvalidNote{r.error, f.len});
      continue;
    }
    if (r.has_seq && floor.has && r.seq <= floor.seq) {
      rep.counts.stale++;
      if (rep.stale.size() < kMaxNotes) rep.stale.push_back(StaleNote{r.seq, floor.seq});
      continue;
    }
    char seqbuf[24];
    std::string_view seq;
    if (r.has_seq) {
      auto end = std::to_chars(seqbuf, seqbuf + sizeof seqbuf, r.seq).ptr;
      seq = std::string_view(seqbuf, size_t(end - seqbuf));
      b.cursor.assign(seq);
      floor.has = true;
      floor.seq = r.seq;
    }
    if (!r.time.empty()) last_time = r.time;
    if (r.kind == FrameKind::Entry) {
      entries.bulk(entry_type_name(r.entry));
      entries.bulk(r.data);
      entries.bulk(seq);
      b.entries++;
      rep.entries++;
      rep.data_bytes += r.data.n;
      count_entry(rep.counts, r.entry);
      if (dash_.any_events()) {
        Span msg = dash_.summarize(r, clock);
        if (!msg.empty()) {
          recent_changed = true;
          if (dash_.broadcast_on()) {
            msgs.bulk(msg);
            b.message_count++;
          }
        }
      }
    } else {
      count_silent(rep, r);
    }
    if (r.op == -1 || r.type == "#info") {
      if (rep.notices.size() < kMaxNotes) {
        rep.notices.push_back(Notice{r.op == -1 ? "error" : "#info", std::string(r.error_name.view()),
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
  if (dash_.recent_on() && recent_changed) b.recent = dash_.recent_json();
}

void encode_prefix(const WriterConfig& cfg, const Batch& b, const BatchHeader& h, Buffer& out) {
  out.clear();
  RespWriter w(out);
  std::vector<std::string_view> keys = {cfg.stream_key, cfg.cursor_key};
  std::string lease = cfg.lease_key(), fence = cfg.fence_key();
  keys.push_back(lease);
  keys.push_back(fence);
  size_t recent_at = 0, status_at = 0;
  if (h.recent_key && !b.recent.empty()) {
    keys.push_back(cfg.recent_key);
    recent_at = keys.size();
  }
  if (h.status_key && !b.status.empty()) {
    keys.push_back(cfg.status_key);
    status_at = keys.size();
  }
  size_t args = 9 + h.names.size() + 7;
  w.array(3 + keys.size() + args + b.message_count + 3 * b.entries);
  w.bulk("EVALSHA");
  w.bulk(h.sha);
  w.bulk(uint64_t(keys.size()));
  for (std::string_view k : keys) w.bulk(k);
  w.bulk(h.holder);
  w.bulk(uint64_t(h.lease_ttl_ms));
  w.bulk(b.before.cursor);
  w.bulk(b.before.fence);
  w.bulk(b.cursor);
  w.bulk(h.trim);
  w.bulk(h.cap);
  w.bulk(h.only ? "only" : "all");
  w.bulk(uint64_t(h.names.size()));
  for (const std::string& n : h.names) w.bulk(n);
  w.bulk(uint64_t(recent_at));
  w.bulk(recent_at ? std::string_view(b.recent) : std::string_view());
  w.bulk(uint64_t(status_at));
  w.bulk(status_at ? std::string_view(b.status) : std::string_view());
  w.bulk(Dashboard::kTtlSeconds);
  w.bulk(b.message_count ? std::string_view(cfg.broadcast_channel) : std::string_view());
  w.bulk(uint64_t(b.message_count));
}

}  // namespace fh

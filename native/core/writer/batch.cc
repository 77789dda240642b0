#include "batch.h"

#include <charconv>
#include <cstdio>
#include <random>
#include <tuple>

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

std::string fence_seq(const std::string& fence) {
  size_t sp = fence.find(' ');
  return sp == std::string::npos ? std::string() : fence.substr(sp + 1);
}

static std::string process_token() {
  std::random_device rd;
  char t[20];
  std::snprintf(t, sizeof t, "%08x%08x", rd(), rd());
  return t;
}

void BatchBuilder::build(const std::vector<QueuedFrame>& frames, Batch& b, SeqFloor& floor) {
  // Unique across batches and processes, the same across one batch's attempts.
  static const std::string kProcess = process_token();
  b.token = kProcess + "." + std::to_string(++batches_);
  b.rep = BatchReport();
  b.xadds.clear();
  b.publishes.clear();
  b.entries = b.messages = 0;
  b.cursor.clear();
  b.last_seq.clear();
  b.recent.clear();
  b.frames = frames.size();
  b.oldest = frames.front().arrival;
  BatchReport& rep = b.rep;
  RespWriter xadd(b.xadds), publish(b.publishes);
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
      xadd.array(9);
      xadd.bulk("XADD");
      xadd.bulk(cfg_.stream_key);
      xadd.bulk("*");
      xadd.bulk("type");
      xadd.bulk(entry_type_name(r.entry));
      xadd.bulk("data");
      xadd.bulk(r.data);
      xadd.bulk("seq");
      xadd.bulk(seq);
      b.last_seq.assign(seq);
      b.entries++;
      rep.entries++;
      rep.data_bytes += r.data.n;
      count_entry(rep.counts, r.entry);
      if (dash_.any_events()) {
        Span msg = dash_.summarize(r, clock);
        if (!msg.empty()) {
          recent_changed = true;
          if (dash_.broadcast_on()) {
            publish.array(3);
            publish.bulk("PUBLISH");
            publish.bulk(dash_.channel());
            publish.bulk(msg);
            b.messages++;
          }
        }
      }
    } else {
      count_silent(rep, r);
    }
    if (r.op == -1 || r.type == "#info") {
      if (rep.notices.size() < kMaxNotes) {
        rep.notices.push_back(
            Notice{r.op == -1 ? "error" : "#info", std::string(r.error_name.view()), std::string(r.message.view())});
      }
    }
    rep.ops_filtered += r.ops_filtered;
    for (const SkippedOp& s : r.skipped) {
      rep.ops_skipped++;
      rep.skipped_by_reason[size_t(s.reason)]++;
      if (rep.skipped.size() < kMaxNotes) {
        rep.skipped.push_back(
            SkipNote{r.has_seq, r.seq, std::string(s.path.view()), skip_reason_name(s.reason), s.detail});
      }
    }
  }
  if (!last_time.empty()) {
    rep.has_time = true;
    rep.last_time.assign(last_time.view());
  }
  if (dash_.recent_on() && recent_changed) b.recent = dash_.recent_json();
}

void encode_check(const WriterConfig& cfg, Buffer& out) {
  out.clear();
  RespWriter w(out);
  std::string lease = cfg.lease_key(), fence = cfg.fence_key();
  // WATCH adds to what the connection watches, and a key changed since it
  // was first watched (by our own lease renewal, say) keeps failing EXEC:
  // start from nothing.
  w.array(1);
  w.bulk("UNWATCH");
  w.array(4);
  w.bulk("WATCH");
  w.bulk(cfg.cursor_key);
  w.bulk(fence);
  w.bulk(lease);
  w.array(4);
  w.bulk("MGET");
  w.bulk(cfg.cursor_key);
  w.bulk(fence);
  w.bulk(lease);
}

void encode_groups(RespWriter& w, const std::string& stream, uint64_t cap, const std::string& sha, bool only,
                   const std::vector<std::string>& names) {
  w.array(7 + names.size());
  w.bulk("EVALSHA");
  w.bulk(sha);
  w.bulk("1");
  w.bulk(stream);
  w.bulk(cap);
  w.bulk(only ? "only" : "all");
  w.bulk(uint64_t(names.size()));
  for (const std::string& n : names) w.bulk(n);
}

size_t encode_exec(const WriterConfig& cfg, const Batch& b, const BatchHeader& h, Buffer& head, Buffer& tail) {
  head.clear();
  tail.clear();
  RespWriter mh(head), w(tail);
  mh.array(1);
  mh.bulk("MULTI");
  size_t queued = b.entries + b.messages;
  if (!b.cursor.empty()) {
    w.array(3);
    w.bulk("SET");
    w.bulk(cfg.cursor_key);
    w.bulk(b.cursor);
    queued++;
  }
  w.array(3);
  w.bulk("SET");
  w.bulk(cfg.fence_key());
  w.bulk(b.after.fence);
  w.array(3);
  w.bulk("PEXPIRE");
  w.bulk(cfg.lease_key());
  w.bulk(uint64_t(h.lease_ttl_ms));
  queued += 2;
  if (h.trim == BatchHeader::Trim::MaxLen) {
    w.array(5);
    w.bulk("XTRIM");
    w.bulk(cfg.stream_key);
    w.bulk("MAXLEN");
    w.bulk("~");
    w.bulk(h.cap);
    queued++;
  } else if (h.trim == BatchHeader::Trim::Groups) {
    encode_groups(w, cfg.stream_key, h.cap, h.groups_sha, h.only, h.names);
    queued++;
  }
  for (const auto& [on, key, json] :
       {std::tuple{h.recent_key, &cfg.recent_key, &b.recent}, std::tuple{h.status_key, &cfg.status_key, &b.status}}) {
    if (!on || json->empty()) continue;
    w.array(4);
    w.bulk("SETEX");
    w.bulk(*key);
    w.bulk(Dashboard::kTtlSeconds);
    w.bulk(*json);
    queued++;
  }
  w.array(1);
  w.bulk("EXEC");
  return queued;
}

}  // namespace fh

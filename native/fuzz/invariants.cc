#include "invariants.h"

#include <unordered_map>

#include "car.h"
#include "cid.h"
#include "dagjson.h"
#include "encoding.h"
#include "frame.h"
#include "json_check.h"
#include "utf8.h"

namespace fuzzcheck {

using namespace fh;

namespace {

bool utf8(std::string_view s) { return utf8_valid(reinterpret_cast<const uint8_t*>(s.data()), s.size()); }

// The option byte: 0x01 emits #sync, 0x02 emits #info, 0x0c picks a
// collection filter (exact, prefix + exact, "*"), 0x10 sets limits small
// enough for every limit check to be reachable.
DecoderOptions options_for(uint8_t v) {
  DecoderOptions o;
  o.emit_sync = v & 1;
  o.emit_info = v & 2;
  switch ((v >> 2) & 3) {
    case 1: o.filter.add("app.bsky.feed.post"); break;
    case 2:
      o.filter.add("app.bsky.feed.*");
      o.filter.add("app.bsky.graph.follow");
      break;
    case 3: o.filter.add("*"); break;
  }
  if (v & 16) {
    o.max_message_bytes = 8192;
    o.max_blocks_bytes = 4096;
    o.max_ops = 4;
    o.max_depth = 8;
  }
  return o;
}

// The parts of a result that must not depend on what was decoded before.
struct Snapshot {
  FrameKind kind;
  EntryType entry;
  Silence silence;
  bool has_seq, active;
  int64_t seq;
  std::string data, error, did, first_path, handle;
  size_t skipped;
  uint32_t ops_total, ops_filtered;

  explicit Snapshot(const FrameResult& r)
      : kind(r.kind),
        entry(r.entry),
        silence(r.silence),
        has_seq(r.has_seq),
        active(r.active),
        seq(r.seq),
        data(r.data.view()),
        error(r.error),
        did(r.did.view()),
        first_path(r.first_path.view()),
        handle(r.handle.view()),
        skipped(r.skipped.size()),
        ops_total(r.ops_total),
        ops_filtered(r.ops_filtered) {}
  bool operator==(const Snapshot& o) const {
    return kind == o.kind && entry == o.entry && silence == o.silence && has_seq == o.has_seq && active == o.active &&
           seq == o.seq && data == o.data && error == o.error && did == o.did && first_path == o.first_path &&
           handle == o.handle && skipped == o.skipped && ops_total == o.ops_total && ops_filtered == o.ops_filtered;
  }
};

std::string check_result(const FrameResult& r, const DecoderOptions& o) {
  switch (r.kind) {
    case FrameKind::Entry: {
      if (r.entry == EntryType::None || r.silence != Silence::None || !r.error.empty()) {
        return "an entry without a type, or with a silence or an error";
      }
      if (!json_valid(r.data.view()) || r.data.p[0] != '{') {
        return "entry data is not a valid JSON object";
      }
      if ((r.entry == EntryType::Sync && !o.emit_sync) || (r.entry == EntryType::Info && !o.emit_info)) {
        return "an opt-in entry type was emitted without the option";
      }
      if (r.entry == EntryType::Commit &&
          commit_op_count(r.data.view()) != long(r.ops_total) - long(r.ops_filtered) - long(r.skipped.size())) {
        return "ops in the entry + skipped + filtered != ops in the commit";
      }
      break;
    }
    case FrameKind::Silent:
      if (r.silence == Silence::None || !r.data.empty() || !r.error.empty()) {
        return "a silent frame without a silence, or with data or an error";
      }
      if ((r.silence == Silence::Sync && o.emit_sync) || (r.silence == Silence::Info && o.emit_info)) {
        return "an opt-in entry type was silenced despite the option";
      }
      if (r.silence == Silence::FilteredOut && (!o.filter.active() || r.ops_filtered != r.ops_total)) {
        return "a commit was filtered out although the filter kept some of its ops";
      }
      break;
    case FrameKind::Invalid:
      if (r.error.empty() || !r.data.empty()) return "an invalid frame without an error, or with data";
      break;
  }
  if (!r.skipped.empty() && r.entry != EntryType::Commit) return "skipped ops outside a commit entry";
  if (r.ops_filtered + r.skipped.size() > r.ops_total) return "more ops dropped than the commit had";
  if (!utf8(r.type.view()) || !utf8(r.time.view()) || !utf8(r.error_name.view()) || !utf8(r.message.view()) ||
      !utf8(r.error) || !utf8(r.did.view()) || !utf8(r.first_path.view()) || !utf8(r.first_action.view()) ||
      !utf8(r.handle.view())) {
    return "a result string is not valid UTF-8";
  }
  for (const SkippedOp& s : r.skipped) {
    if (!utf8(s.path.view()) || !utf8(s.detail)) return "a skipped op's path or detail is not valid UTF-8";
  }
  return "";
}

// Bounds the CAR index as the frame decoder does.
constexpr size_t kMaxCarBlocks = 1u << 16;

std::string check_lookups(CarReader& car) {
  const std::vector<CarBlock>& blocks = car.blocks();
  std::unordered_map<std::string_view, const CarBlock*> first;
  for (const CarBlock& b : blocks) first.emplace(b.cid.view(), &b);
  for (const CarBlock& b : blocks) {
    if (car.find(b.cid) != first[b.cid.view()]) return "find() missed the first block with a CID";
    std::string other(b.cid.view());
    other.back() ^= 1;
    auto it = first.find(other);
    if (car.find(Span(other)) != (it == first.end() ? nullptr : it->second)) {
      return "find() of a CID one bit away returned the wrong block";
    }
  }
  if (car.find(Span())) return "find() of an empty CID returned a block";
  return "";
}

// The addon prints every CID of a CAR: CIDv0 in base58btc, others in base32.
std::string check_cid_text(Span cid) {
  if (cid.n == 34 && cid.p[0] == 0x12) {
    std::string s(base58btc_len(cid.n), '\0');
    size_t len = base58btc(cid.p, cid.n, s.data());
    if (len > s.size() || s.compare(0, 2, "Qm") != 0) return "a CIDv0 does not print as Qm...";
  } else if (cid_to_string(cid).size() != cid_string_len(cid)) {
    return "a CID's string has the wrong length";
  }
  return "";
}

}  // namespace

std::string check_frame(const uint8_t* data, size_t n) {
  if (n == 0) return "";
  DecoderOptions opts = options_for(data[0]);
  Span msg(data + 1, n - 1);
  FrameDecoder d(opts);
  const FrameResult& r = d.decode(msg);
  std::string why = check_result(r, opts);
  if (!why.empty()) return why;
  Snapshot first(r);
  why = check_result(d.decode(Span(msg.p, msg.n / 2)), opts);
  if (!why.empty()) return "on the first half: " + why;
  if (!(Snapshot(d.decode(msg)) == first)) return "a reused decoder gave a different result";
  return "";
}

std::string check_cbor(const uint8_t* data, size_t n) {
  Span in(data, n);
  CborReader w(in), s(in), any(in, LinkRule::AnyCid);
  Buffer value;
  bool wrote = write_json_value(w, value);
  bool skipped = s.skip_value(0);
  if (wrote != skipped || (wrote && w.pos() != s.pos())) {
    return "write_json_value and skip_value disagree";
  }
  if (!wrote && (w.error().empty() || s.error().empty())) return "rejected without an error";
  if (wrote && !json_valid(value.view())) return "write_json_value wrote invalid JSON";
  if (skipped && (!any.skip_value(0) || any.pos() != s.pos())) {
    return "a value valid with DASL links is rejected with LinkRule::AnyCid";
  }

  Buffer record;
  record.append("x");
  std::string why;
  if (write_json_record(in, record, why)) {
    if (!wrote || !s.at_end()) return "a record was accepted but its value was not";
    if (record.view().substr(1) != value.view()) return "a record and its value transcode differently";
  } else if (record.size() != 1 || why.empty()) {
    return "a rejected record left output behind or gave no reason";
  }
  return "";
}

std::string check_car(const uint8_t* data, size_t n) {
  Span in(data, n);
  CarReader car;
  std::string why;
  if (!car.parse(in, kMaxCarBlocks, why)) return why.empty() ? "rejected without a reason" : "";
  for (const CarBlock& b : car.blocks()) {
    if (b.cid.p < data || b.data.p + b.data.n > data + n || b.cid.p + b.cid.n != b.data.p) {
      return "a block's CID and data are not adjacent spans of the CAR";
    }
    if (cid_read_any(b.cid.p, b.cid.n, why) != b.cid.n) return "a block's CID does not read back";
    why = check_cid_text(b.cid);
    if (!why.empty()) return why;
  }
  for (Span root : car.roots()) {
    if (root.empty() || cid_read_any(root.p, root.n, why) != root.n) return "a root does not read back";
    why = check_cid_text(root);
    if (!why.empty()) return why;
  }
  why = check_lookups(car);
  if (!why.empty()) return why;
  // A reader reused for a shorter CAR must forget it completely.
  size_t count = car.blocks().size();
  car.parse(Span(data, n / 2), kMaxCarBlocks, why);
  if (!car.parse(in, kMaxCarBlocks, why) || car.blocks().size() != count) {
    return "a reused reader parsed the same CAR differently";
  }
  return check_lookups(car);
}

}  // namespace fuzzcheck

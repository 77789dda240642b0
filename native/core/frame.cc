#include "frame.h"

#include "cid.h"
#include "dagjson.h"
#include "json.h"

namespace fh {

const char* entry_type_name(EntryType t) {
  switch (t) {
    case EntryType::Commit: return "commit";
    case EntryType::Identity: return "identity";
    case EntryType::Account: return "account";
    case EntryType::Sync: return "sync";
    case EntryType::Info: return "info";
    case EntryType::None: break;
  }
  return "";
}

const char* silence_name(Silence s) {
  switch (s) {
    case Silence::ErrorFrame: return "error";
    case Silence::Info: return "info";
    case Silence::Sync: return "sync";
    case Silence::Legacy: return "legacy";
    case Silence::Unknown: return "unknown";
    case Silence::FilteredOut: return "filtered";
    case Silence::None: break;
  }
  return "";
}

const char* skip_reason_name(SkipReason r) {
  switch (r) {
    case SkipReason::BlockMissing: return "block_missing";
    case SkipReason::BadRecord: return "bad_record";
    case SkipReason::BadCar: return "bad_car";
    case SkipReason::NoCid: return "no_cid";
    case SkipReason::BadOp: return "bad_op";
  }
  return "";
}

namespace {

// Frames nest shallowly: body (0) > ops array (1) > op map (2) > values (3).
constexpr int kBodyValue = 1;
constexpr int kOpValue = 3;

// Bounds the CAR index; 2 MB of blocks holds far fewer real blocks.
constexpr size_t kMaxCarBlocks = 1u << 16;

void key(Buffer& out, std::string_view k) { out.append(k); }

std::string collection_of(Span path) {
  std::string_view v = path.view();
  return std::string(v.substr(0, v.find('/')));
}

}  // namespace

bool FrameDecoder::invalid(const std::string& why) {
  res_.kind = FrameKind::Invalid;
  res_.entry = EntryType::None;
  res_.data = Span();
  // Fuzzing found commits rejected after their ops were written (trailing
  // bytes): ops skipped for an entry that is never written were not skipped.
  res_.skipped.clear();
  if (res_.error.empty()) res_.error = why;
  return false;
}

bool FrameDecoder::cbor_error(CborReader& r, const char* where) {
  return invalid(std::string(where) + ": " + r.error());
}

void FrameDecoder::skip(Span path, SkipReason reason, std::string detail) {
  res_.skipped.push_back(SkippedOp{path, reason, std::move(detail)});
}

const FrameResult& FrameDecoder::decode(Span msg) {
  res_.kind = FrameKind::Invalid;
  res_.entry = EntryType::None;
  res_.silence = Silence::None;
  res_.op = 0;
  res_.type = Span();
  res_.has_seq = false;
  res_.seq = 0;
  res_.data = Span();
  res_.time = Span();
  res_.error_name = Span();
  res_.message = Span();
  res_.did = res_.first_path = res_.first_action = res_.handle = Span();
  res_.active = false;
  res_.ops_total = res_.ops_filtered = 0;
  res_.skipped.clear();
  res_.error.clear();
  out_.clear();
  // A huge frame once should not pin its buffer forever.
  out_.shrink_to(8u << 20);

  if (msg.n > opts_.max_message_bytes) {
    invalid("message of " + std::to_string(msg.n) + " bytes exceeds the limit of " +
            std::to_string(opts_.max_message_bytes) + " (MAX_MESSAGE_BYTES)");
    return res_;
  }
  if (msg.n == 0) {
    invalid("empty message");
    return res_;
  }
  CborReader r(msg, LinkRule::Dasl, opts_.max_depth);
  Span type;
  int op = 0;
  if (!read_header(r, type, op)) return res_;
  res_.op = op;
  res_.type = type;

  bool ok;
  if (op == -1) {
    ok = body_notice(r, true);
  } else if (type == "#commit") {
    ok = body_commit(r);
  } else if (type == "#identity") {
    ok = body_identity(r);
  } else if (type == "#account") {
    ok = body_account(r);
  } else if (type == "#sync") {
    ok = body_sync(r);
  } else if (type == "#info") {
    ok = body_notice(r, false);
  } else if (type == "#handle" || type == "#migrate" || type == "#tombstone") {
    ok = body_other(r, Silence::Legacy);
  } else {
    ok = body_other(r, Silence::Unknown);
  }
  if (ok && !r.at_end()) {
    invalid(std::to_string(r.rest().n) + " trailing bytes after the body");
  }
  return res_;
}

bool FrameDecoder::read_header(CborReader& r, Span& type, int& op) {
  Item it;
  if (!r.next(it)) return cbor_error(r, "header");
  if (it.kind != Kind::Map) {
    return invalid(std::string("header is ") + kind_name(it.kind) + ", expected a map");
  }
  bool have_op = false;
  int64_t opv = 0;
  Span prev, k;
  for (uint64_t i = 0; i < it.u; i++) {
    if (!r.next_key(k, prev)) return cbor_error(r, "header");
    Item v;
    if (!r.next(v)) return cbor_error(r, "header");
    if (k == "op") {
      if (v.kind == Kind::Uint && v.u <= 1000) {
        opv = int64_t(v.u);
      } else if (v.kind == Kind::Negint && v.u < 1000) {
        opv = -1 - int64_t(v.u);
      } else {
        if (!r.skip_contents(v, kBodyValue)) return cbor_error(r, "header");
        return invalid(std::string("header op is ") + kind_name(v.kind) + ", expected a small integer");
      }
      have_op = true;
    } else if (k == "t") {
      if (v.kind != Kind::Text) {
        if (!r.skip_contents(v, kBodyValue)) return cbor_error(r, "header");
        return invalid(std::string("header t is ") + kind_name(v.kind) + ", expected a text string");
      }
      type = v.s;
    } else if (!r.skip_contents(v, kBodyValue)) {
      return cbor_error(r, "header");
    }
  }
  if (!have_op) return invalid("header has no op");
  if (opv != 1 && opv != -1) {
    return invalid("header op " + std::to_string(opv) + " is neither 1 (message) nor -1 (error)");
  }
  if (opv == 1 && type.empty()) return invalid("header has no t");
  op = int(opv);
  return true;
}

bool FrameDecoder::read_seq(CborReader& r) {
  Item v;
  if (!r.next(v)) return cbor_error(r, "body");
  if (v.kind != Kind::Uint || v.u > uint64_t(INT64_MAX)) {
    if (!r.skip_contents(v, kBodyValue)) return cbor_error(r, "body");
    return invalid(v.kind == Kind::Uint
                       ? std::string("seq is larger than 2^63-1")
                       : std::string("seq is ") + kind_name(v.kind) + ", expected an unsigned integer");
  }
  res_.has_seq = true;
  res_.seq = int64_t(v.u);
  return true;
}

bool FrameDecoder::read_text(CborReader& r, Span& out, const char* what) {
  Item v;
  if (!r.next(v)) return cbor_error(r, "body");
  if (v.kind != Kind::Text) {
    if (!r.skip_contents(v, kBodyValue)) return cbor_error(r, "body");
    return invalid(std::string(what) + " is " + kind_name(v.kind) + ", expected a text string");
  }
  out = v.s;
  return true;
}

bool FrameDecoder::read_optional_text(CborReader& r, Span& out, const char* what) {
  Item v;
  if (!r.next(v)) return cbor_error(r, "body");
  if (v.kind == Kind::Text) {
    out = v.s;
  } else if (v.kind != Kind::Null) {
    if (!r.skip_contents(v, kBodyValue)) return cbor_error(r, "body");
    return invalid(std::string(what) + " is " + kind_name(v.kind) + ", expected a text string");
  }
  return true;
}

bool FrameDecoder::open_body(CborReader& r, const char* what, Item& it) {
  if (!r.next(it)) return cbor_error(r, what);
  if (it.kind != Kind::Map) return invalid(std::string(what) + " is not a map");
  return true;
}

void FrameDecoder::text_field(std::string_view json_key, Span value) {
  if (value.empty()) return;
  key(out_, json_key);
  json_string(out_, value);
}

// Every entry ends with the event's time, when it has one.
bool FrameDecoder::finish_entry(EntryType type) {
  text_field(",\"time\":", res_.time);
  out_.push('}');
  res_.kind = FrameKind::Entry;
  res_.entry = type;
  res_.data = out_.span();
  return true;
}

bool FrameDecoder::read_op(CborReader& r, OpRef& op) {
  op.action = op.path = op.cid = Span();
  op.bad = false;
  op.why.clear();
  Item m;
  if (!r.next(m)) return cbor_error(r, "#commit ops");
  if (m.kind != Kind::Map) {
    op.bad = true;
    op.why = std::string("op is ") + kind_name(m.kind) + ", expected a map";
    return r.skip_contents(m, 2) || cbor_error(r, "#commit ops");
  }
  if (!r.check_depth(2)) return cbor_error(r, "#commit ops");
  Span prev, k;
  for (uint64_t i = 0; i < m.u; i++) {
    if (!r.next_key(k, prev)) return cbor_error(r, "#commit ops");
    Item v;
    if (!r.next(v)) return cbor_error(r, "#commit ops");
    if (k == "action" || k == "path") {
      if (v.kind == Kind::Text) {
        (k == "action" ? op.action : op.path) = v.s;
      } else {
        op.bad = true;
        op.why = std::string(k.view()) + " is " + kind_name(v.kind) + ", expected a text string";
      }
    } else if (k == "cid") {
      if (v.kind == Kind::Link) {
        op.cid = v.s;
      } else if (v.kind != Kind::Null) {
        op.bad = true;
        op.why = std::string("cid is ") + kind_name(v.kind) + ", expected a CID link or null";
      }
    }
    if (!r.skip_contents(v, kOpValue)) return cbor_error(r, "#commit ops");
  }
  if (!op.bad) {
    if (op.action.empty()) {
      op.bad = true;
      op.why = "op has no action";
    } else if (op.path.empty()) {
      op.bad = true;
      op.why = "op has no path";
    } else {
      std::string_view p = op.path.view();
      size_t slash = p.find('/');
      if (slash == 0 || slash == std::string_view::npos || slash + 1 == p.size()) {
        op.bad = true;
        op.why = "path \"" + std::string(p) + "\" is not <collection>/<rkey>";
      }
    }
  }
  return true;
}

bool FrameDecoder::body_commit(CborReader& r) {
  Item it;
  if (!open_body(r, "#commit body", it)) return false;
  Span repo, rev, commit, blocks;
  bool have_repo = false, have_ops = false, have_blocks = false, too_big = false;
  size_t nops = 0;
  Span prev, k;
  for (uint64_t i = 0; i < it.u; i++) {
    if (!r.next_key(k, prev)) return cbor_error(r, "#commit body");
    if (k == "seq") {
      if (!read_seq(r)) return false;
    } else if (k == "repo") {
      if (!read_text(r, repo, "#commit repo")) return false;
      have_repo = true;
    } else if (k == "rev") {
      if (!read_text(r, rev, "#commit rev")) return false;
    } else if (k == "time") {
      if (!read_text(r, res_.time, "#commit time")) return false;
    } else if (k == "commit" || k == "blocks" || k == "tooBig") {
      Item v;
      if (!r.next(v)) return cbor_error(r, "#commit body");
      if (!r.skip_contents(v, kBodyValue)) return cbor_error(r, "#commit body");
      if (k == "commit") {
        if (v.kind == Kind::Link)
          commit = v.s;
        else if (v.kind != Kind::Null)
          return invalid(std::string("#commit commit is ") + kind_name(v.kind) + ", expected a CID link");
      } else if (k == "blocks") {
        if (v.kind != Kind::Bytes) {
          return invalid(std::string("#commit blocks is ") + kind_name(v.kind) + ", expected a byte string");
        }
        if (v.s.n > opts_.max_blocks_bytes) {
          return invalid("#commit blocks of " + std::to_string(v.s.n) + " bytes exceed the limit of " +
                         std::to_string(opts_.max_blocks_bytes) + " (MAX_BLOCKS_BYTES)");
        }
        blocks = v.s;
        have_blocks = true;
      } else {
        too_big = v.kind == Kind::Bool && v.b;
      }
    } else if (k == "ops") {
      Item v;
      if (!r.next(v)) return cbor_error(r, "#commit body");
      if (v.kind != Kind::Array) {
        if (!r.skip_contents(v, kBodyValue)) return cbor_error(r, "#commit body");
        return invalid(std::string("#commit ops is ") + kind_name(v.kind) + ", expected an array");
      }
      if (v.u > opts_.max_ops) {
        return invalid("#commit has " + std::to_string(v.u) + " ops, more than the limit of " +
                       std::to_string(opts_.max_ops) + " (MAX_COMMIT_OPS)");
      }
      if (!r.check_depth(1)) return cbor_error(r, "#commit ops");
      for (uint64_t j = 0; j < v.u; j++) {
        if (nops == ops_.size()) ops_.emplace_back();
        if (!read_op(r, ops_[nops++])) return false;
      }
      have_ops = true;
    } else if (!r.skip_value(kBodyValue)) {
      return cbor_error(r, "#commit body");
    }
  }
  if (!have_repo) return invalid("#commit body has no repo");
  if (!have_ops) return invalid("#commit body has no ops");

  res_.ops_total = uint32_t(nops);
  res_.did = repo;
  if (nops) {
    res_.first_path = ops_[0].path;
    res_.first_action = ops_[0].action;
  }
  size_t kept = 0;
  const CollectionFilter& filter = opts_.filter;
  for (size_t i = 0; i < nops; i++) {
    OpRef& op = ops_[i];
    op.filtered_out = filter.active() && !op.bad && !filter.keeps(collection_of(op.path));
    if (op.filtered_out)
      res_.ops_filtered++;
    else
      kept++;
  }
  if (filter.active() && kept == 0) {
    res_.kind = FrameKind::Silent;
    res_.silence = Silence::FilteredOut;
    return true;
  }

  key(out_, "{\"repo\":");
  json_string(out_, repo);
  key(out_, ",\"ops\":[");
  write_ops(nops, blocks, have_blocks, too_big);
  out_.push(']');
  text_field(",\"rev\":", rev);
  if (!commit.empty()) {
    key(out_, ",\"commit\":");
    json_cid(out_, commit);
  }
  return finish_entry(EntryType::Commit);
}

void FrameDecoder::write_ops(size_t nops, Span blocks, bool have_blocks, bool too_big) {
  bool car_tried = false, car_ok = false;
  std::string car_why;
  bool first = true;
  for (size_t i = 0; i < nops; i++) {
    OpRef& op = ops_[i];
    if (op.filtered_out) continue;
    if (op.bad) {
      skip(op.path, SkipReason::BadOp, op.why);
      continue;
    }
    size_t mark = out_.size();
    if (!first) out_.push(',');
    if (op.action == "delete") {
      key(out_, "{\"action\":\"delete\",\"path\":");
      json_string(out_, op.path);
      out_.push('}');
      first = false;
      continue;
    }
    if (!(op.action == "create" || op.action == "update")) {
      out_.truncate(mark);
      skip(op.path, SkipReason::BadOp, "unknown action \"" + std::string(op.action.view()) + "\"");
      continue;
    }
    if (op.cid.empty()) {
      out_.truncate(mark);
      skip(op.path, SkipReason::NoCid, std::string(op.action.view()) + " op has no cid");
      continue;
    }
    if (!car_tried) {
      car_tried = true;
      if (too_big) {
        car_why = "commit is tooBig: the relay left its records out of the frame";
      } else if (!have_blocks) {
        car_why = "commit has no blocks";
      } else {
        car_ok = car_.parse(blocks, kMaxCarBlocks, car_why);
      }
    }
    if (!car_ok) {
      out_.truncate(mark);
      skip(op.path, SkipReason::BadCar, car_why);
      continue;
    }
    const CarBlock* block = car_.find(op.cid);
    if (!block) {
      out_.truncate(mark);
      skip(op.path, SkipReason::BlockMissing,
           "record block " + cid_to_string(op.cid) + " is not in the commit's blocks");
      continue;
    }
    key(out_, "{\"action\":");
    json_string(out_, op.action);
    key(out_, ",\"path\":");
    json_string(out_, op.path);
    key(out_, ",\"cid\":");
    json_cid(out_, op.cid);
    key(out_, ",\"record\":");
    std::string why;
    if (!write_json_record(block->data, out_, why, opts_.max_depth)) {
      out_.truncate(mark);
      skip(op.path, SkipReason::BadRecord, "record " + cid_to_string(op.cid) + ": " + why);
      continue;
    }
    out_.push('}');
    first = false;
  }
}

bool FrameDecoder::body_identity(CborReader& r) {
  Item it;
  if (!open_body(r, "#identity body", it)) return false;
  Span did, handle;
  Span prev, k;
  for (uint64_t i = 0; i < it.u; i++) {
    if (!r.next_key(k, prev)) return cbor_error(r, "#identity body");
    if (k == "seq") {
      if (!read_seq(r)) return false;
    } else if (k == "did") {
      if (!read_text(r, did, "#identity did")) return false;
    } else if (k == "time") {
      if (!read_text(r, res_.time, "#identity time")) return false;
    } else if (k == "handle") {
      if (!read_optional_text(r, handle, "#identity handle")) return false;
    } else if (!r.skip_value(kBodyValue)) {
      return cbor_error(r, "#identity body");
    }
  }
  if (did.empty()) return invalid("#identity body has no did");
  res_.did = did;
  res_.handle = handle;
  key(out_, "{\"did\":");
  json_string(out_, did);
  key(out_, ",\"handle\":");
  json_string(out_, handle.empty() ? did : handle);
  return finish_entry(EntryType::Identity);
}

bool FrameDecoder::body_account(CborReader& r) {
  Item it;
  if (!open_body(r, "#account body", it)) return false;
  Span did, status;
  bool have_active = false, active = false;
  Span prev, k;
  for (uint64_t i = 0; i < it.u; i++) {
    if (!r.next_key(k, prev)) return cbor_error(r, "#account body");
    if (k == "seq") {
      if (!read_seq(r)) return false;
    } else if (k == "did") {
      if (!read_text(r, did, "#account did")) return false;
    } else if (k == "time") {
      if (!read_text(r, res_.time, "#account time")) return false;
    } else if (k == "status") {
      if (!read_optional_text(r, status, "#account status")) return false;
    } else if (k == "active") {
      Item v;
      if (!r.next(v)) return cbor_error(r, "#account body");
      if (v.kind != Kind::Bool) {
        if (!r.skip_contents(v, kBodyValue)) return cbor_error(r, "#account body");
        return invalid(std::string("#account active is ") + kind_name(v.kind) + ", expected a boolean");
      }
      have_active = true;
      active = v.b;
    } else if (!r.skip_value(kBodyValue)) {
      return cbor_error(r, "#account body");
    }
  }
  if (did.empty()) return invalid("#account body has no did");
  if (!have_active) return invalid("#account body has no active");
  res_.did = did;
  res_.active = active;
  key(out_, "{\"did\":");
  json_string(out_, did);
  key(out_, active ? std::string_view(",\"active\":true") : std::string_view(",\"active\":false"));
  text_field(",\"status\":", status);
  return finish_entry(EntryType::Account);
}

bool FrameDecoder::body_sync(CborReader& r) {
  Item it;
  if (!open_body(r, "#sync body", it)) return false;
  Span did, rev;
  Span prev, k;
  for (uint64_t i = 0; i < it.u; i++) {
    if (!r.next_key(k, prev)) return cbor_error(r, "#sync body");
    if (k == "seq") {
      if (!read_seq(r)) return false;
    } else if (k == "did") {
      if (!read_text(r, did, "#sync did")) return false;
    } else if (k == "rev") {
      if (!read_text(r, rev, "#sync rev")) return false;
    } else if (k == "time") {
      if (!read_text(r, res_.time, "#sync time")) return false;
    } else if (!r.skip_value(kBodyValue)) {
      return cbor_error(r, "#sync body");
    }
  }
  if (!opts_.emit_sync) {
    res_.kind = FrameKind::Silent;
    res_.silence = Silence::Sync;
    return true;
  }
  if (did.empty()) return invalid("#sync body has no did");
  key(out_, "{\"did\":");
  json_string(out_, did);
  text_field(",\"rev\":", rev);
  return finish_entry(EntryType::Sync);
}

// An error frame ({error, message}) or #info ({name, message}): the relay
// telling us something, read the same way.
bool FrameDecoder::body_notice(CborReader& r, bool error_frame) {
  const char* what = error_frame ? "error frame body" : "#info body";
  std::string_view name_key = error_frame ? "error" : "name";
  Item it;
  if (!open_body(r, what, it)) return false;
  Span prev, k;
  for (uint64_t i = 0; i < it.u; i++) {
    if (!r.next_key(k, prev)) return cbor_error(r, what);
    if (k == name_key) {
      if (!read_text(r, res_.error_name, error_frame ? "error frame error" : "#info name")) return false;
    } else if (k == "message") {
      Item v;
      if (!r.next(v)) return cbor_error(r, what);
      if (v.kind == Kind::Text) res_.message = v.s;
      if (!r.skip_contents(v, kBodyValue)) return cbor_error(r, what);
    } else if (!r.skip_value(kBodyValue)) {
      return cbor_error(r, what);
    }
  }
  if (error_frame && res_.error_name.empty()) return invalid("error frame has no error name");
  if (error_frame || !opts_.emit_info) {
    res_.kind = FrameKind::Silent;
    res_.silence = error_frame ? Silence::ErrorFrame : Silence::Info;
    return true;
  }
  key(out_, "{\"name\":");
  json_string(out_, res_.error_name);
  text_field(",\"message\":", res_.message);
  out_.push('}');
  res_.kind = FrameKind::Entry;
  res_.entry = EntryType::Info;
  res_.data = out_.span();
  return true;
}

bool FrameDecoder::body_other(CborReader& r, Silence why) {
  Item it;
  if (!open_body(r, "body", it)) return false;
  Span prev, k;
  for (uint64_t i = 0; i < it.u; i++) {
    if (!r.next_key(k, prev)) return cbor_error(r, "body");
    Item v;
    if (!r.next(v)) return cbor_error(r, "body");
    // A seq lets the cursor move past frames that make no entry.
    if (k == "seq" && v.kind == Kind::Uint && v.u <= uint64_t(INT64_MAX)) {
      res_.has_seq = true;
      res_.seq = int64_t(v.u);
    } else if (k == "time" && v.kind == Kind::Text) {
      res_.time = v.s;
    }
    if (!r.skip_contents(v, kBodyValue)) return cbor_error(r, "body");
  }
  res_.kind = FrameKind::Silent;
  res_.silence = why;
  return true;
}

}  // namespace fh

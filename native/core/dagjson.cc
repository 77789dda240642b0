#include "dagjson.h"

#include "json.h"

namespace fh {

static bool write_item(CborReader& r, const Item& it, Buffer& out, int depth);

static bool write_map(CborReader& r, uint64_t count, Buffer& out, int depth, bool* has_type) {
  if (!r.check_depth(depth)) return false;
  out.push('{');
  Span prev, key;
  for (uint64_t i = 0; i < count; i++) {
    if (i) out.push(',');
    if (!r.next_key(key, prev)) return false;
    json_string(out, key);
    out.push(':');
    Item v;
    if (!r.next(v)) return false;
    if (has_type && key == "$type") {
      if (v.kind != Kind::Text || v.s.empty()) {
        return r.fail("record $type is not a non-empty string");
      }
      *has_type = true;
    }
    if (!write_item(r, v, out, depth + 1)) return false;
  }
  out.push('}');
  return true;
}

static bool write_item(CborReader& r, const Item& it, Buffer& out, int depth) {
  switch (it.kind) {
    case Kind::Uint: json_u64(out, it.u); return true;
    case Kind::Negint: json_negint(out, it.u); return true;
    case Kind::Bytes: json_bytes(out, it.s); return true;
    case Kind::Text: json_string(out, it.s); return true;
    case Kind::Link: json_link(out, it.s); return true;
    case Kind::Bool: out.append(it.b ? std::string_view("true") : std::string_view("false")); return true;
    case Kind::Null: out.append("null"); return true;
    case Kind::Float: json_f64(out, it.f); return true;
    case Kind::Array:
      if (!r.check_depth(depth)) return false;
      out.push('[');
      for (uint64_t i = 0; i < it.u; i++) {
        if (i) out.push(',');
        if (!write_json_value(r, out, depth + 1)) return false;
      }
      out.push(']');
      return true;
    case Kind::Map: return write_map(r, it.u, out, depth, nullptr);
  }
  return r.fail("unreachable item kind");
}

bool write_json_value(CborReader& r, Buffer& out, int depth) {
  Item it;
  if (!r.next(it)) return false;
  return write_item(r, it, out, depth);
}

bool write_json_record(Span record, Buffer& out, std::string& why, int max_depth) {
  size_t mark = out.size();
  CborReader r(record, LinkRule::Dasl, max_depth);
  Item top;
  bool has_type = false;
  bool ok = r.next(top);
  if (ok && top.kind != Kind::Map) ok = r.fail_at(0, "record is not a map");
  if (ok) ok = write_map(r, top.u, out, 0, &has_type);
  if (ok && !r.at_end()) ok = r.fail("trailing bytes after the record");
  if (ok && !has_type) ok = r.fail_at(0, "record has no $type");
  if (!ok) {
    why = r.error();
    out.truncate(mark);
  }
  return ok;
}

}  // namespace fh

// A strict DAG-CBOR pull reader over a byte span.
//
// It accepts exactly the atproto data model's encoding: definite lengths,
// shortest-form integers and lengths, text map keys in canonical order (by
// length, then bytewise; so no duplicates), valid UTF-8, 64-bit floats that
// are finite and not negative zero, false/true/null, and tag 42 holding a
// CID. Everything else is an error with a message that names the rule and
// the byte offset. The reader never allocates except to format an error.
#pragma once

#include <string>

#include "bytes.h"

namespace fh {

enum class Kind : uint8_t { Uint, Negint, Bytes, Text, Array, Map, Link, Bool, Null, Float };

// One data item as read by CborReader::next. Arrays and maps only carry
// their length; their contents follow in the stream.
struct Item {
  Kind kind = Kind::Null;
  bool b = false;  // Bool
  uint64_t u = 0;  // Uint: value; Negint: n for the value -1-n; Array/Map: count
  double f = 0;    // Float
  Span s;          // Bytes, Text: payload; Link: CID bytes without the 0x00 prefix
};

// Which CIDs a tag 42 may hold: DASL CIDs in atproto data, any CID in a CAR
// header (roots are not data, and generic CARs hash with other functions).
enum class LinkRule : uint8_t { Dasl, AnyCid };

constexpr int kDefaultMaxDepth = 64;

class CborReader {
 public:
  explicit CborReader(Span in, LinkRule links = LinkRule::Dasl, int max_depth = kDefaultMaxDepth)
      : start_(in.p), p_(in.p), end_(in.p + in.n), links_(links), max_depth_(max_depth) {}

  // Reads the next item's head; strings and links are consumed whole.
  bool next(Item& it);
  // Reads a map key, checking that it follows prev (nullptr span: first key).
  bool next_key(Span& key, Span& prev);
  // Reads the next item, requiring a kind.
  bool expect(Kind kind, Item& it, const char* what);
  // Consumes the contents of an array or map just read by next(), checking
  // everything in it. depth is the nesting level of that container.
  bool skip_contents(const Item& container, int depth);
  // Reads and discards one whole value at nesting level depth.
  bool skip_value(int depth);
  // Fails when entering a container at this depth would exceed the limit.
  bool check_depth(int depth);

  size_t pos() const { return size_t(p_ - start_); }
  bool at_end() const { return p_ == end_; }
  Span rest() const { return Span(p_, size_t(end_ - p_)); }

  // Records an error at the current offset; always returns false so that
  // callers can `return r.fail(...)`.
  bool fail(const std::string& msg);
  bool fail_at(size_t offset, const std::string& msg);
  const std::string& error() const { return err_; }

 private:
  bool read_arg(uint8_t ai, uint64_t& arg);
  bool read_link(Item& it);

  const uint8_t* start_;
  const uint8_t* p_;
  const uint8_t* end_;
  LinkRule links_;
  int max_depth_;
  std::string err_;
};

const char* kind_name(Kind k);

}  // namespace fh

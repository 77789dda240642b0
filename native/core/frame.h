// The frame mapper: one subscribeRepos WebSocket message (a DAG-CBOR header
// and a DAG-CBOR body) in, one contract stream entry (or a description of a
// frame that produces none) out.
#pragma once

#include <string>
#include <vector>

#include "bytes.h"
#include "car.h"
#include "cbor.h"
#include "filter.h"

namespace fh {

struct DecoderOptions {
  // Protocol limits; exceeding one rejects the frame with a message naming
  // the setting that raises it.
  size_t max_message_bytes = 5u << 20;
  size_t max_blocks_bytes = 2u << 20;
  size_t max_ops = 200;
  int max_depth = kDefaultMaxDepth;
  // The contract makes #sync and #info entries opt-in.
  bool emit_sync = false;
  bool emit_info = false;
  CollectionFilter filter;
};

enum class FrameKind : uint8_t {
  Entry,    // becomes one stream entry
  Silent,   // understood, but no entry (see FrameResult::silence)
  Invalid,  // could not be decoded; FrameResult::error says why
};

enum class EntryType : uint8_t { None, Commit, Identity, Account, Sync, Info };
const char* entry_type_name(EntryType t);

enum class Silence : uint8_t {
  None,
  ErrorFrame,   // op -1: error_name / message
  Info,         // #info: error_name holds the info name
  Sync,         // #sync, not emitted
  Legacy,       // #handle, #migrate, #tombstone
  Unknown,      // a type this decoder does not know
  FilteredOut,  // a commit the collection filter left without ops
};
const char* silence_name(Silence s);

enum class SkipReason : uint8_t {
  BlockMissing,  // the record's CID is not in the CAR
  BadRecord,     // the block is not valid DAG-CBOR, not a map, or lacks $type
  BadCar,        // blocks could not be read as a CAR
  NoCid,         // a create/update without a CID
  BadOp,         // action or path missing, mistyped or unknown
};
constexpr size_t kSkipReasons = 5;
const char* skip_reason_name(SkipReason r);

struct SkippedOp {
  Span path;  // into the message; may be empty for a malformed op
  SkipReason reason;
  std::string detail;  // human-readable, for the log
};

struct FrameResult {
  FrameKind kind = FrameKind::Invalid;
  EntryType entry = EntryType::None;
  Silence silence = Silence::None;
  int op = 0;  // header op: 1 or -1
  Span type;   // header t, e.g. "#commit"; may be empty for op -1
  bool has_seq = false;
  int64_t seq = 0;
  Span data;        // the entry's JSON; valid until the next decode
  Span time;        // the event's time string, when it has one
  Span error_name;  // op -1: error; #info: name
  Span message;     // op -1 and #info: message
  // For the dashboard's one-line summary of an event.
  Span did;         // commit repo, identity/account did
  Span first_path;  // first op of a commit, before filtering
  Span first_action;
  Span handle;                // identity
  bool active = false;        // account
  uint32_t ops_total = 0;     // ops in the commit
  uint32_t ops_filtered = 0;  // dropped by the collection filter
  std::vector<SkippedOp> skipped;
  std::string error;  // Invalid: why
};

// Reuses its buffers: after warming up, decoding a frame does not allocate
// unless something has to be reported.
class FrameDecoder {
 public:
  explicit FrameDecoder(DecoderOptions opts = {}) : opts_(std::move(opts)) {}

  // The result (and the spans in it) stays valid until the next call and
  // while the message bytes do.
  const FrameResult& decode(Span message);

  const DecoderOptions& options() const { return opts_; }

 private:
  struct OpRef {
    Span action;
    Span path;
    Span cid;  // empty when null or absent
    bool bad = false;
    bool filtered_out = false;
    std::string why;
  };

  bool invalid(const std::string& why);
  bool read_header(CborReader& r, Span& type, int& op);
  bool body_commit(CborReader& r);
  bool body_identity(CborReader& r);
  bool body_account(CborReader& r);
  bool body_sync(CborReader& r);
  bool body_notice(CborReader& r, bool error_frame);
  bool body_other(CborReader& r, Silence why);
  bool open_body(CborReader& r, const char* what, Item& it);
  bool read_optional_text(CborReader& r, Span& out, const char* what);
  void text_field(std::string_view json_key, Span value);
  bool finish_entry(EntryType type);
  bool read_op(CborReader& r, OpRef& op);
  bool read_seq(CborReader& r);
  bool read_text(CborReader& r, Span& out, const char* what);
  bool cbor_error(CborReader& r, const char* where);
  void skip(Span path, SkipReason reason, std::string detail);
  void write_ops(size_t nops, Span blocks, bool have_blocks, bool too_big);

  DecoderOptions opts_;
  FrameResult res_;
  Buffer out_;
  CarReader car_;
  std::vector<OpRef> ops_;
};

}  // namespace fh

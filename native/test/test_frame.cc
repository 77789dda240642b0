#include <map>

#include "check.h"
#include "frame.h"
#include "invariants.h"
#include "util.h"

using fh::DecoderOptions;
using fh::FrameDecoder;
using fh::FrameKind;
using fh::FrameResult;
using testutil::read_capture;
using testutil::span;

namespace {

struct Tally {
  std::map<std::string, int> entries;  // by entry type
  std::map<std::string, int> silent;   // by silence
  int invalid = 0;
  long ops = 0, kept = 0, skipped = 0;
  std::vector<int64_t> seqs;
};

Tally decode_all(const std::vector<std::string>& frames, DecoderOptions opts = {}) {
  FrameDecoder d(std::move(opts));
  Tally t;
  for (const std::string& f : frames) {
    const FrameResult& r = d.decode(span(f));
    if (r.kind == FrameKind::Entry) t.entries[fh::entry_type_name(r.entry)]++;
    if (r.kind == FrameKind::Silent) t.silent[fh::silence_name(r.silence)]++;
    if (r.kind == FrameKind::Invalid) {
      t.invalid++;
      std::fprintf(stderr, "  invalid frame: %s\n", r.error.c_str());
    }
    t.ops += r.ops_total;
    t.kept += r.ops_total - r.ops_filtered;
    t.skipped += long(r.skipped.size());
    if (r.has_seq) t.seqs.push_back(r.seq);
  }
  return t;
}

// Every invariant the frame fuzzer checks, under every option byte.
void check_invariants(const std::vector<std::string>& frames) {
  for (const std::string& f : frames) {
    for (int v = 0; v < 32; v++) {
      std::string in = char(v) + f;
      CHECK_EQ(fuzzcheck::check_frame(reinterpret_cast<const uint8_t*>(in.data()), in.size()), "");
    }
  }
}

void check_truncations(const std::vector<std::string>& frames) {
  FrameDecoder d;
  long accepted = 0;
  for (const std::string& f : frames) {
    for (size_t n = 0; n < f.size(); n++) {
      const FrameResult& r = d.decode(fh::Span(reinterpret_cast<const uint8_t*>(f.data()), n));
      if (r.kind != FrameKind::Invalid || r.error.empty()) accepted++;
    }
  }
  CHECK_EQ(accepted, 0);
}

}  // namespace

TEST(frame_pds_capture) {
  auto frames = read_capture("pds-capture/frames.bin");
  CHECK_EQ(frames.size(), 305u);
  Tally t = decode_all(frames);
  CHECK_EQ(t.entries["commit"], 269);
  CHECK_EQ(t.entries["identity"], 12);
  CHECK_EQ(t.entries["account"], 14);
  CHECK_EQ(t.silent["sync"], 10);
  CHECK_EQ(t.entries.size(), 3u);
  CHECK_EQ(t.silent.size(), 1u);
  CHECK_EQ(t.invalid, 0);
  CHECK_EQ(t.ops, 419);  // 372 creates, 15 updates, 32 deletes
  CHECK_EQ(t.skipped, 0);
  CHECK_EQ(t.seqs.size(), 305u);
  for (size_t i = 0; i < t.seqs.size(); i++) CHECK_EQ(t.seqs[i], int64_t(i + 1));

  DecoderOptions sync;
  sync.emit_sync = true;
  CHECK_EQ(decode_all(frames, std::move(sync)).entries["sync"], 10);
}

TEST(frame_pds_capture_filters) {
  auto frames = read_capture("pds-capture/frames.bin");
  DecoderOptions likes;
  likes.filter.add("app.bsky.feed.like");
  Tally t = decode_all(frames, std::move(likes));
  CHECK_EQ(t.kept, 115);
  CHECK_EQ(t.entries["commit"] + t.silent["filtered"], 269);
  CHECK(t.silent["filtered"] > 0);

  DecoderOptions graph;
  graph.filter.add("app.bsky.graph.*");
  CHECK_EQ(decode_all(frames, std::move(graph)).kept, 45);  // follow, block, list, listblock, listitem
}

TEST(frame_jetstream_capture) {
  auto frames = read_capture("jetstream-corpus/frames.bin");
  CHECK_EQ(frames.size(), 100u);
  Tally t = decode_all(frames);
  CHECK_EQ(t.entries["commit"], 99);
  CHECK_EQ(t.entries["identity"], 1);
  CHECK_EQ(t.entries.size(), 2u);
  CHECK_EQ(t.silent.size(), 0u);
  CHECK_EQ(t.invalid, 0);
  CHECK_EQ(t.ops, 99);
  CHECK_EQ(t.skipped, 0);
  CHECK_EQ(t.seqs.size(), 100u);
  CHECK_EQ(t.seqs.front(), 31527015322);
  for (size_t i = 1; i < t.seqs.size(); i++) CHECK(t.seqs[i] > t.seqs[i - 1]);
}

TEST(frame_error_frame) {
  auto frames = read_capture("pds-capture/error-frame-futurecursor/frames.bin");
  if (!CHECK_EQ(frames.size(), 1u)) return;
  FrameDecoder d;
  const FrameResult& r = d.decode(span(frames[0]));
  CHECK_EQ(r.kind, FrameKind::Silent);
  CHECK_EQ(r.silence, fh::Silence::ErrorFrame);
  CHECK_EQ(r.op, -1);
  CHECK(r.type.empty());
  CHECK_EQ(r.error_name, "FutureCursor");
  CHECK_EQ(r.message, "Cursor in the future.");
  CHECK(!r.has_seq);
  CHECK(r.data.empty());
}

TEST(frame_invariants_on_real_frames) {
  check_invariants(read_capture("pds-capture/frames.bin"));
  check_invariants(read_capture("jetstream-corpus/frames.bin"));
  check_invariants(read_capture("pds-capture/error-frame-futurecursor/frames.bin"));
}

TEST(frame_every_truncation_is_rejected) {
  check_truncations(read_capture("pds-capture/frames.bin"));
  check_truncations(read_capture("jetstream-corpus/frames.bin"));
  check_truncations(read_capture("pds-capture/error-frame-futurecursor/frames.bin"));
}

TEST(frame_limits) {
  auto frames = read_capture("jetstream-corpus/frames.bin");
  DecoderOptions small;
  small.max_message_bytes = 100;
  FrameDecoder d(std::move(small));
  const FrameResult& r = d.decode(span(frames[0]));
  CHECK_EQ(r.kind, FrameKind::Invalid);
  CHECK(r.error.find("(MAX_MESSAGE_BYTES)") != std::string::npos);
  CHECK_EQ(FrameDecoder().decode(fh::Span()).error, "empty message");
}

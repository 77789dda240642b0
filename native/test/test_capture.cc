#include <unistd.h>

#include <cerrno>
#include <csignal>
#include <cstdio>

#include "capture.h"
#include "check.h"
#include "frame.h"
#include "line_writer.h"
#include "util.h"

using fh::CaptureEnd;
using fh::CaptureWalker;
using fh::CapturedMessage;
using testutil::span;
using testutil::unhex;

namespace {

std::string le32(uint32_t n) {
  return std::string{char(n), char(n >> 8), char(n >> 16), char(n >> 24)};
}

// The messages a walk yields, and how it ended.
struct Walk {
  std::vector<std::string> messages;
  std::vector<size_t> offsets;
  CaptureEnd end;
};

Walk walk(const std::string& capture) {
  CaptureWalker w(span(capture));
  Walk r;
  CapturedMessage m;
  while (w.next(m)) {
    CHECK_EQ(m.index, r.messages.size());
    r.messages.emplace_back(m.bytes.view());
    r.offsets.push_back(m.offset);
  }
  r.end = w.end();
  return r;
}

// The header of a #commit message, {"t": "#commit", "op": 1}, then a body.
const std::string kCommit = unhex("a2 61 74 67 23 63 6f 6d 6d 69 74 62 6f 70 01 a0");
const std::string kError = unhex("a1 62 6f 70 20 a0");  // {"op": -1}, {}

}  // namespace

TEST(capture_whole) {
  Walk r = walk(le32(uint32_t(kCommit.size())) + kCommit + le32(uint32_t(kError.size())) + kError);
  CHECK(r.end.kind == CaptureEnd::Kind::Complete);
  CHECK_EQ(r.messages.size(), 2u);
  CHECK_EQ(r.messages[0], kCommit);
  CHECK_EQ(r.messages[1], kError);
  CHECK_EQ(r.offsets[1], 4 + kCommit.size());
}

TEST(capture_real_fixture) {
  std::string all = testutil::read_fixture("jetstream-corpus/frames.bin");
  Walk r = walk(all);
  CHECK(r.end.kind == CaptureEnd::Kind::Complete);
  CHECK_EQ(r.messages.size(), 100u);
}

TEST(capture_empty_file_has_no_messages) {
  Walk r = walk("");
  CHECK(r.end.kind == CaptureEnd::Kind::Complete);
  CHECK(r.messages.empty());
}

TEST(capture_not_a_capture) {
  // 1-3 bytes cannot hold a length prefix.
  for (size_t n = 1; n < 4; n++) {
    Walk r = walk(kCommit.substr(0, n));
    CHECK(r.end.kind == CaptureEnd::Kind::TooShort);
    CHECK(r.end.not_a_capture());
    CHECK(r.messages.empty());
  }
  // Text: "# fi" is a length of 1768300579 bytes.
  Walk text = walk("# firehose-redis\n");
  CHECK(text.end.kind == CaptureEnd::Kind::BadLength);
  CHECK_EQ(text.end.length, 0x69662023u);
  CHECK(walk(le32(0) + kCommit).end.kind == CaptureEnd::Kind::BadLength);
  CHECK(walk(le32(fh::kMaxCaptureMessage + 1) + kCommit).end.kind == CaptureEnd::Kind::BadLength);
  // A plausible length, but no header map after it.
  Walk json = walk(le32(2) + "{}");
  CHECK(json.end.kind == CaptureEnd::Kind::NotAMessage);
  CHECK(json.messages.empty());
  CHECK(walk(le32(4) + unhex("a2 61 78 01")).end.kind == CaptureEnd::Kind::NotAMessage);
  CHECK(walk(le32(4) + unhex("a3 61 74 01")).end.kind == CaptureEnd::Kind::NotAMessage);
}

TEST(capture_start_judged_on_what_is_there) {
  // Cut inside the first message's header: still a capture, truncated.
  for (size_t n = 0; n < 4; n++) {
    Walk r = walk(le32(uint32_t(kCommit.size())) + kCommit.substr(0, n));
    CHECK(r.end.kind == CaptureEnd::Kind::Truncated);
    CHECK_EQ(r.end.frame, 0u);
    CHECK_EQ(r.end.remain, n);
  }
  // A one-byte first message is judged on that byte alone.
  Walk one = walk(le32(1) + "\xa1");
  CHECK(one.end.kind == CaptureEnd::Kind::Complete);
  CHECK_EQ(one.messages.size(), 1u);
  // The maximum length itself is plausible.
  CHECK(walk(le32(fh::kMaxCaptureMessage) + kCommit).end.kind == CaptureEnd::Kind::Truncated);
}

TEST(capture_truncated_keeps_complete_messages) {
  std::string two = le32(uint32_t(kCommit.size())) + kCommit + le32(uint32_t(kError.size())) + kError;
  Walk r = walk(two + le32(100) + "abc");
  CHECK_EQ(r.messages.size(), 2u);
  CHECK(r.end.kind == CaptureEnd::Kind::Truncated);
  CHECK_EQ(r.end.frame, 2u);
  CHECK_EQ(r.end.offset, two.size());
  CHECK_EQ(r.end.length, 100u);
  CHECK_EQ(r.end.remain, 3u);
  for (size_t n = 1; n < 4; n++) {
    Walk s = walk(two + std::string(n, '\0'));
    CHECK_EQ(s.messages.size(), 2u);
    CHECK(s.end.kind == CaptureEnd::Kind::Stray);
    CHECK_EQ(s.end.frame, 2u);
    CHECK_EQ(s.end.offset, two.size());
    CHECK_EQ(s.end.remain, n);
  }
}

TEST(line_writer_lines) {
  std::FILE* out = std::tmpfile();
  std::FILE* err = std::tmpfile();
  if (!CHECK(out && err)) return;
  fh::FrameDecoder decoder;
  {
    fh::LineWriter lines(fileno(out), fileno(err), true);
    std::string bad = unhex("a1 61 74");
    std::string future = unhex("a1 62 6f 70 20 a2") + testutil::text("error") +
                         testutil::text("FutureCursor") + testutil::text("message") +
                         testutil::text("cursor \"ahead\"");
    CHECK(lines.add(CapturedMessage{0, 0, span(kError)}, decoder.decode(span(kError))));
    CHECK(lines.add(CapturedMessage{1, 10, span(bad)}, decoder.decode(span(bad))));
    CHECK(lines.add(CapturedMessage{2, 17, span(future)}, decoder.decode(span(future))));
    CHECK(lines.finish());
    const fh::DecodeTally& t = lines.tally();
    CHECK_EQ(t.frames, 3u);
    CHECK_EQ(t.failed, 2u);
    CHECK_EQ(t.silent, 1u);
    CHECK_EQ(t.entries, 0u);
  }
  auto read_all = [](std::FILE* f) {
    std::rewind(f);
    std::string s;
    char buf[4096];
    size_t n;
    while ((n = std::fread(buf, 1, sizeof buf, f)) > 0) s.append(buf, n);
    std::fclose(f);
    return s;
  };
  std::string o = read_all(out), e = read_all(err);
  // The first error frame has no error name: it is invalid.
  CHECK_EQ(o,
           "{\"index\":0,\"offset\":0,\"error\":\"error frame has no error name\"}\n"
           "{\"index\":1,\"offset\":10,\"error\":\"header: unexpected end of input at byte 3\"}\n"
           "{\"frame\":\"error\",\"reason\":\"error\",\"seq\":null,\"error\":\"FutureCursor\","
           "\"message\":\"cursor \\\"ahead\\\"\"}\n");
  CHECK_EQ(e,
           "frame 0 (offset 0, 6 bytes): error frame has no error name\n"
           "frame 1 (offset 10, 3 bytes): header: unexpected end of input at byte 3\n");
}

TEST(line_writer_reports_a_failed_write) {
  int fds[2];
  if (!CHECK(pipe(fds) == 0)) return;
  close(fds[0]);  // nobody reads: EPIPE (Node ignores SIGPIPE; so does this test)
  std::signal(SIGPIPE, SIG_IGN);
  fh::FrameDecoder decoder;
  fh::LineWriter lines(fds[1], fds[1], true);
  CHECK(lines.add(CapturedMessage{0, 0, span(kError)}, decoder.decode(span(kError))));
  CHECK(!lines.finish());
  CHECK_EQ(lines.error(), EPIPE);
  close(fds[1]);
}

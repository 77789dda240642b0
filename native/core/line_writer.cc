#include "line_writer.h"

#include <poll.h>
#include <unistd.h>

#include <cerrno>

#include "json.h"

namespace fh {

namespace {

// JavaScript prints the seq as a Number (a double), so the native text must
// be that double's text too.
void seq_text(Buffer& b, const FrameResult& r, std::string_view none) {
  if (r.has_seq) {
    json_f64(b, double(r.seq));
  } else {
    b.append(none);
  }
}

}  // namespace

int write_all(int fd, Span bytes) {
  const uint8_t* p = bytes.p;
  size_t n = bytes.n;
  while (n > 0) {
    ssize_t w = ::write(fd, p, n);
    if (w >= 0) {
      p += w;
      n -= size_t(w);
    } else if (errno == EAGAIN || errno == EWOULDBLOCK) {
      pollfd pfd{fd, POLLOUT, 0};
      poll(&pfd, 1, -1);
    } else if (errno != EINTR) {
      return errno;
    }
  }
  return 0;
}

void DecodeTally::count_entry(EntryType t, size_t n) {
  entries += n;
  for (auto& [type, count] : types) {
    if (type == t) {
      count += n;
      return;
    }
  }
  types.emplace_back(t, n);
}

void DecodeTally::add(const DecodeTally& later) {
  frames += later.frames;
  silent += later.silent;
  failed += later.failed;
  ops_skipped += later.ops_skipped;
  // A type new to this tally first appeared where `later` first saw it.
  for (const auto& [type, n] : later.types) count_entry(type, n);
}

void LineWriter::clear() {
  out_.clear();
  err_.clear();
  tally_ = DecodeTally();
}

void LineWriter::add(const CapturedMessage& m, const FrameResult& r) {
  Buffer& out = out_;
  Buffer& err = err_;
  tally_.frames++;
  if (r.kind == FrameKind::Invalid) {
    tally_.failed++;
    err.append("frame ");
    json_u64(err, m.index);
    err.append(" (offset ");
    json_u64(err, m.offset);
    err.append(", ");
    json_u64(err, m.bytes.n);
    err.append(" bytes): ");
    err.append(r.error);
    err.push('\n');
    if (all_) {
      out.append("{\"index\":");
      json_u64(out, m.index);
      out.append(",\"offset\":");
      json_u64(out, m.offset);
      out.append(",\"error\":");
      json_string(out, Span(r.error));
      out.append("}\n");
    }
  } else {
    for (const SkippedOp& s : r.skipped) {
      tally_.ops_skipped++;
      err.append("frame ");
      json_u64(err, m.index);
      err.append(" seq ");
      seq_text(err, r, "-");
      err.append(": op ");
      err.append(s.path);
      err.append(" left out (");
      err.append(std::string_view(skip_reason_name(s.reason)));
      err.append("): ");
      err.append(s.detail);
      err.push('\n');
    }
    if (r.kind == FrameKind::Entry) {
      tally_.count_entry(r.entry);
      out.append("{\"type\":\"");
      out.append(std::string_view(entry_type_name(r.entry)));
      out.append("\",\"seq\":");
      seq_text(out, r, "null");
      out.append(",\"data\":");
      out.append(r.data);
      out.append("}\n");
    } else {
      tally_.silent++;
      if (all_) {
        out.append("{\"frame\":");
        if (r.op == -1) {
          out.append("\"error\"");
        } else {
          json_string(out, r.type);
        }
        out.append(",\"reason\":\"");
        out.append(std::string_view(silence_name(r.silence)));
        out.append("\",\"seq\":");
        seq_text(out, r, "null");
        if (r.op == -1) {
          out.append(",\"error\":");
          json_string(out, r.error_name);
        } else if (!r.error_name.empty()) {
          out.append(",\"name\":");
          json_string(out, r.error_name);
        }
        if (!r.message.empty()) {
          out.append(",\"message\":");
          json_string(out, r.message);
        }
        out.append("}\n");
      }
    }
  }
}

}  // namespace fh

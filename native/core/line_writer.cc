#include "line_writer.h"

#include <poll.h>
#include <unistd.h>

#include <cerrno>

#include "json.h"

namespace fh {

namespace {

// Big enough that write(2) calls cost nothing per line, small enough to
// stay in cache between being built and being written.
constexpr size_t kFlushBytes = 1u << 20;

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

bool FdWriter::flush() {
  const uint8_t* p = buf_.data();
  size_t n = buf_.size();
  while (n > 0 && error_ == 0) {
    ssize_t w = ::write(fd_, p, n);
    if (w >= 0) {
      p += w;
      n -= size_t(w);
    } else if (errno == EAGAIN || errno == EWOULDBLOCK) {
      pollfd pfd{fd_, POLLOUT, 0};
      poll(&pfd, 1, -1);
    } else if (errno != EINTR) {
      error_ = errno;
    }
  }
  buf_.clear();
  return error_ == 0;
}

void LineWriter::count_entry(EntryType t) {
  tally_.entries++;
  for (auto& [type, n] : tally_.types) {
    if (type == t) {
      n++;
      return;
    }
  }
  tally_.types.emplace_back(t, 1);
}

bool LineWriter::add(const CapturedMessage& m, const FrameResult& r) {
  Buffer& out = out_.buf();
  Buffer& err = err_.buf();
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
      count_entry(r.entry);
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
  if (out.size() < kFlushBytes && err.size() < kFlushBytes) return true;
  return finish();
}

bool LineWriter::finish() {
  // Both streams advance together, so a terminal shows each frame's
  // problems near its lines.
  return out_.flush() && err_.flush();
}

}  // namespace fh

#include "capture.h"

#include <sys/mman.h>
#include <sys/stat.h>

#include <cerrno>
#include <cstring>

namespace fh {

namespace {

uint32_t u32le(const uint8_t* p) {
  return uint32_t(p[0]) | uint32_t(p[1]) << 8 | uint32_t(p[2]) << 16 | uint32_t(p[3]) << 24;
}

// Whether the n bytes at p can begin a header map {t, op}: a map of one or
// two entries whose first key is "t" (DAG-CBOR order) or "op".
bool begins_header(const uint8_t* p, size_t n) {
  static const uint8_t kT[] = {0x61, 't'};
  static const uint8_t kOp[] = {0x62, 'o', 'p'};
  if (n == 0) return true;
  if (p[0] != 0xa1 && p[0] != 0xa2) return false;
  size_t k = n - 1;
  return std::memcmp(p + 1, kT, k < 2 ? k : 2) == 0 || std::memcmp(p + 1, kOp, k < 3 ? k : 3) == 0;
}

}  // namespace

const char* capture_end_name(CaptureEnd::Kind k) {
  switch (k) {
    case CaptureEnd::Kind::Complete: return "complete";
    case CaptureEnd::Kind::TooShort: return "too-short";
    case CaptureEnd::Kind::BadLength: return "bad-length";
    case CaptureEnd::Kind::NotAMessage: return "not-a-message";
    case CaptureEnd::Kind::Truncated: return "truncated";
    case CaptureEnd::Kind::Stray: return "stray";
  }
  return "";
}

CaptureWalker::CaptureWalker(Span capture) : all_(capture) {
  if (all_.n == 0) return;
  if (all_.n < 4) {
    end_.kind = CaptureEnd::Kind::TooShort;
    end_.remain = all_.n;
  } else if (uint32_t len = u32le(all_.p); len == 0 || len > kMaxCaptureMessage) {
    end_.kind = CaptureEnd::Kind::BadLength;
    end_.length = len;
  } else {
    size_t have = all_.n - 4 < len ? all_.n - 4 : len;
    if (!begins_header(all_.p + 4, have < 4 ? have : 4)) end_.kind = CaptureEnd::Kind::NotAMessage;
  }
  done_ = end_.not_a_capture();
}

bool CaptureWalker::next(CapturedMessage& m) {
  if (done_) return false;
  size_t rest = all_.n - off_;
  if (rest == 0) {
    done_ = true;
    return false;
  }
  if (rest < 4) {
    end_ = CaptureEnd{CaptureEnd::Kind::Stray, index_, off_, 0, rest};
    done_ = true;
    return false;
  }
  uint32_t len = u32le(all_.p + off_);
  if (len > rest - 4) {
    end_ = CaptureEnd{CaptureEnd::Kind::Truncated, index_, off_, len, rest - 4};
    done_ = true;
    return false;
  }
  m.index = index_++;
  m.offset = off_;
  m.bytes = Span(all_.p + off_ + 4, len);
  off_ += 4 + size_t(len);
  return true;
}

MappedFile::~MappedFile() {
  if (addr_) munmap(addr_, size_);
}

bool MappedFile::map(int fd, std::string& why) {
  struct stat st;
  if (fstat(fd, &st) != 0) {
    why = std::strerror(errno);
    return false;
  }
  size_ = size_t(st.st_size);
  if (size_ == 0) return true;  // mmap refuses empty mappings; there is nothing to read
  void* p = mmap(nullptr, size_, PROT_READ, MAP_PRIVATE, fd, 0);
  if (p == MAP_FAILED) {
    why = std::strerror(errno);
    size_ = 0;
    return false;
  }
  addr_ = p;
  // Read front to back once: let the kernel read ahead far and drop behind.
  madvise(addr_, size_, MADV_SEQUENTIAL);
  return true;
}

}  // namespace fh

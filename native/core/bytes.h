// Byte spans, a growable output buffer and unsigned varints: the vocabulary
// every other part of the core is written in.
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <new>
#include <string_view>

namespace fh {

// A view of bytes owned by someone else (a frame, a CAR, a buffer).
struct Span {
  const uint8_t* p = nullptr;
  size_t n = 0;

  Span() = default;
  Span(const uint8_t* data, size_t len) : p(data), n(len) {}
  explicit Span(std::string_view s) : p(reinterpret_cast<const uint8_t*>(s.data())), n(s.size()) {}

  bool empty() const { return n == 0; }
  std::string_view view() const { return std::string_view(reinterpret_cast<const char*>(p), n); }
  bool operator==(std::string_view s) const { return view() == s; }
  bool equals(Span o) const { return n == o.n && (n == 0 || std::memcmp(p, o.p, n) == 0); }
};

// Growable byte buffer that keeps its capacity across reuse, so the hot path
// stops allocating once it has seen its largest frame.
class Buffer {
 public:
  Buffer() = default;
  Buffer(const Buffer&) = delete;
  Buffer& operator=(const Buffer&) = delete;
  Buffer(Buffer&& o) noexcept : data_(o.data_), size_(o.size_), cap_(o.cap_) {
    o.data_ = nullptr;
    o.size_ = o.cap_ = 0;
  }
  Buffer& operator=(Buffer&& o) noexcept {
    if (this != &o) {
      std::free(data_);
      data_ = o.data_;
      size_ = o.size_;
      cap_ = o.cap_;
      o.data_ = nullptr;
      o.size_ = o.cap_ = 0;
    }
    return *this;
  }
  ~Buffer() { std::free(data_); }

  uint8_t* data() { return data_; }
  const uint8_t* data() const { return data_; }
  size_t size() const { return size_; }
  size_t capacity() const { return cap_; }
  Span span() const { return Span(data_, size_); }
  std::string_view view() const { return std::string_view(reinterpret_cast<const char*>(data_), size_); }

  void clear() { size_ = 0; }
  void truncate(size_t n) {
    if (n < size_) size_ = n;
  }
  // Releases memory kept from an unusually large frame.
  void shrink_to(size_t cap) {
    if (cap_ > cap) {
      std::free(data_);
      data_ = nullptr;
      size_ = cap_ = 0;
    }
  }

  // Makes room for n more bytes and returns where they go; commit() after.
  uint8_t* reserve(size_t n) {
    if (cap_ - size_ < n) grow(n);
    return data_ + size_;
  }
  void commit(size_t n) { size_ += n; }

  void append(const void* p, size_t n) {
    if (n == 0) return;
    std::memcpy(reserve(n), p, n);
    size_ += n;
  }
  void append(std::string_view s) { append(s.data(), s.size()); }
  void append(Span s) { append(s.p, s.n); }
  void push(uint8_t c) {
    if (size_ == cap_) grow(1);
    data_[size_++] = c;
  }

 private:
  void grow(size_t n) {
    size_t want = size_ + n;
    size_t cap = cap_ ? cap_ : 256;
    while (cap < want) cap *= 2;
    void* p = std::realloc(data_, cap);
    if (!p) throw std::bad_alloc();
    data_ = static_cast<uint8_t*>(p);
    cap_ = cap;
  }

  uint8_t* data_ = nullptr;
  size_t size_ = 0;
  size_t cap_ = 0;
};

// Unsigned LEB128 as multiformats uses it: at most 9 bytes, minimal form
// only (a trailing zero byte would give one value two encodings).
// Returns the number of bytes read, or 0 when malformed or truncated.
inline size_t read_uvarint(const uint8_t* p, size_t avail, uint64_t& out) {
  uint64_t v = 0;
  for (size_t i = 0; i < 9; i++) {
    if (i >= avail) return 0;
    uint8_t b = p[i];
    v |= uint64_t(b & 0x7f) << (7 * i);
    if (!(b & 0x80)) {
      if (b == 0 && i > 0) return 0;
      out = v;
      return i + 1;
    }
  }
  return 0;
}

}  // namespace fh

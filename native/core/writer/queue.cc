#include "queue.h"

#include <algorithm>
#include <cstring>

namespace fh {

namespace {

constexpr size_t kChunkBytes = 1u << 20;
// Spare chunks beyond this are freed: enough to refill the queue's usual
// working set without holding on to a burst's worth forever.
constexpr size_t kMaxSpare = 8;

}  // namespace

struct QueueChunk {
  std::unique_ptr<uint8_t[]> mem;
  size_t cap = 0;
  size_t used = 0;
  size_t live = 0;  // frames in it not yet released
};

FrameQueue::FrameQueue(size_t high_water, size_t low_water, size_t batch_frames, size_t batch_bytes)
    : high_(high_water), low_(low_water), batch_frames_(batch_frames), batch_bytes_(batch_bytes) {}

FrameQueue::~FrameQueue() {
  std::lock_guard<std::mutex> lock(mu_);
  std::vector<QueueChunk*> all(spare_);
  if (current_) all.push_back(current_);
  for (const QueuedFrame& f : q_) {
    if (f.chunk != current_) all.push_back(f.chunk);
  }
  // A chunk can hold many queued frames: delete each once.
  std::sort(all.begin(), all.end());
  all.erase(std::unique(all.begin(), all.end()), all.end());
  for (QueueChunk* c : all) delete c;
}

// Called with mu_ held.
QueueChunk* FrameQueue::chunk_for(size_t n) {
  if (current_ && current_->cap - current_->used >= n) return current_;
  if (current_) {
    QueueChunk* old = current_;
    current_ = nullptr;
    if (old->live == 0) {
      old->used = 0;
      spare_.push_back(old);
    }
  }
  QueueChunk* c = nullptr;
  if (n <= kChunkBytes && !spare_.empty()) {
    c = spare_.back();
    spare_.pop_back();
  } else {
    c = new QueueChunk;
    c->cap = n > kChunkBytes ? n : kChunkBytes;
    c->mem.reset(new uint8_t[c->cap]);
  }
  c->used = 0;
  current_ = c;
  return c;
}

// Called with mu_ held.
void FrameQueue::unref(QueueChunk* c) {
  if (--c->live > 0 || c == current_) return;
  if (c->cap == kChunkBytes && spare_.size() < kMaxSpare) {
    c->used = 0;
    spare_.push_back(c);
  } else {
    delete c;
  }
}

bool FrameQueue::append_locked(Span frame, Clock::time_point now) {
  QueueChunk* c = chunk_for(frame.n ? frame.n : 1);
  uint8_t* dst = c->mem.get() + c->used;
  if (frame.n) std::memcpy(dst, frame.p, frame.n);
  c->used += frame.n;
  c->live++;
  bool was_empty = q_.empty();
  q_.push_back(QueuedFrame{dst, uint32_t(frame.n), now, c});
  bytes_.store(bytes_.load(std::memory_order_relaxed) + frame.n, std::memory_order_relaxed);
  return was_empty;
}

bool FrameQueue::push(Span frame, Clock::time_point now) { return push_many(&frame, 1, now); }

bool FrameQueue::push_many(const Span* frames, size_t n, Clock::time_point now) {
  bool go_on;
  bool notify = false;
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (discard_) {
      refused_ = true;
      return false;
    }
    for (size_t i = 0; i < n; i++) notify = append_locked(frames[i], now) || notify;
    count_.store(q_.size(), std::memory_order_relaxed);
    go_on = bytes_.load(std::memory_order_relaxed) <= high_ && gate_open_;
    if (!go_on) refused_ = true;
  }
  // The writer only sleeps on an empty queue: only the first frame needs
  // the (costly) wake-up.
  if (notify) cv_.notify_one();
  return go_on;
}

size_t FrameQueue::take(std::vector<QueuedFrame>& out) {
  std::lock_guard<std::mutex> lock(mu_);
  size_t n = 0, b = 0;
  while (!q_.empty() && n < batch_frames_ && (n == 0 || b + q_.front().len <= batch_bytes_)) {
    b += q_.front().len;
    out.push_back(q_.front());
    q_.pop_front();
    n++;
  }
  bytes_.store(bytes_.load(std::memory_order_relaxed) - b, std::memory_order_relaxed);
  count_.store(q_.size(), std::memory_order_relaxed);
  check_drained();
  return n;
}

size_t FrameQueue::clear() {
  std::lock_guard<std::mutex> lock(mu_);
  size_t n = q_.size();
  for (const QueuedFrame& f : q_) unref(f.chunk);
  q_.clear();
  bytes_.store(0, std::memory_order_relaxed);
  count_.store(0, std::memory_order_relaxed);
  check_drained();
  return n;
}

// Called with mu_ held.
void FrameQueue::check_drained() {
  if (refused_ && gate_open_ && !discard_ && bytes_.load(std::memory_order_relaxed) <= low_) {
    refused_ = false;
    drained_ = true;
  }
}

void FrameQueue::release(std::vector<QueuedFrame>& frames) {
  if (frames.empty()) return;
  std::lock_guard<std::mutex> lock(mu_);
  for (const QueuedFrame& f : frames) unref(f.chunk);
  frames.clear();
}

void FrameQueue::wait(Clock::time_point deadline, bool for_frames) {
  std::unique_lock<std::mutex> lock(mu_);
  while (!woken_ && !(for_frames && !q_.empty()) && Clock::now() < deadline) {
    cv_.wait_until(lock, deadline);
  }
  woken_ = false;
}

void FrameQueue::wake() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    woken_ = true;
  }
  cv_.notify_all();
}

void FrameQueue::set_gate(bool open) {
  std::lock_guard<std::mutex> lock(mu_);
  gate_open_ = open;
  check_drained();
}

void FrameQueue::set_discard(bool on) {
  std::lock_guard<std::mutex> lock(mu_);
  discard_ = on;
  check_drained();
}

bool FrameQueue::take_drained() {
  std::lock_guard<std::mutex> lock(mu_);
  bool d = drained_;
  drained_ = false;
  return d;
}

}  // namespace fh

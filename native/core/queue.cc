#include "queue.h"

#include <cstring>

namespace fh {

bool FrameQueue::push(Span frame, Clock::time_point now) {
  QueuedFrame f;
  f.data.reset(new uint8_t[frame.n ? frame.n : 1]);
  if (frame.n) std::memcpy(f.data.get(), frame.p, frame.n);
  f.len = uint32_t(frame.n);
  f.arrival = now;
  bool over;
  bool notify;
  {
    std::lock_guard<std::mutex> lock(mu_);
    bool was_ready = batch_ready();
    bool was_empty = q_.empty();
    q_.push_back(std::move(f));
    size_t b = bytes_.load(std::memory_order_relaxed) + frame.n;
    bytes_.store(b, std::memory_order_relaxed);
    count_.store(q_.size(), std::memory_order_relaxed);
    over = b > high_;
    if (over) refused_ = true;
    // The writer sleeps either for a first frame or for a batch to fill up:
    // only those two moments need a (costly) wake-up.
    notify = was_empty || (!was_ready && batch_ready());
  }
  if (notify) cv_.notify_one();
  return !over;
}

size_t FrameQueue::take(std::vector<QueuedFrame>& out, Clock::duration linger,
                        Clock::duration idle, const std::atomic<bool>& poke,
                        const std::atomic<bool>& stop) {
  std::unique_lock<std::mutex> lock(mu_);
  Clock::time_point idle_until = Clock::now() + idle;
  for (;;) {
    if (stop.load()) return 0;
    if (!q_.empty()) {
      if (batch_ready() || poke.load()) break;
      Clock::time_point due = q_.front().arrival + linger;
      if (Clock::now() >= due) break;
      cv_.wait_until(lock, due);
    } else {
      if (poke.load() || Clock::now() >= idle_until) return 0;
      cv_.wait_until(lock, idle_until);
    }
  }
  size_t n = 0, b = 0;
  while (!q_.empty() && n < batch_frames_ && (n == 0 || b + q_.front().len <= batch_bytes_)) {
    b += q_.front().len;
    out.push_back(std::move(q_.front()));
    q_.pop_front();
    n++;
  }
  size_t left = bytes_.load(std::memory_order_relaxed) - b;
  bytes_.store(left, std::memory_order_relaxed);
  count_.store(q_.size(), std::memory_order_relaxed);
  if (refused_ && left <= low_) {
    refused_ = false;
    drained_ = true;
  }
  return n;
}

void FrameQueue::wake() {
  { std::lock_guard<std::mutex> lock(mu_); }
  cv_.notify_all();
}

bool FrameQueue::take_drained() {
  std::lock_guard<std::mutex> lock(mu_);
  bool d = drained_;
  drained_ = false;
  return d;
}

}  // namespace fh

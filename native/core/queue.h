// The frame queue between the JavaScript thread (push) and the writer
// thread (take). Bounded in bytes by watermarks rather than by refusing
// frames: push() reports when the producer should pause, and the writer
// raises `drain` once the queue has fallen back under the low mark.
//
// Frames are copied into 1 MiB chunks that are recycled, not allocated one
// by one: a malloc on one thread and a free on the other, per frame, cost
// more than the copy itself.
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <memory>
#include <mutex>
#include <vector>

#include "bytes.h"

namespace fh {

using Clock = std::chrono::steady_clock;

struct QueueChunk;

struct QueuedFrame {
  const uint8_t* data = nullptr;
  uint32_t len = 0;
  Clock::time_point arrival;
  QueueChunk* chunk = nullptr;
  Span span() const { return Span(data, len); }
};

class FrameQueue {
 public:
  FrameQueue(size_t high_water, size_t low_water, size_t batch_frames, size_t batch_bytes);
  ~FrameQueue();
  FrameQueue(const FrameQueue&) = delete;
  FrameQueue& operator=(const FrameQueue&) = delete;

  // Copies the frame in. Returns false when the queue is over the high-water
  // mark: the caller should stop reading until drained. Never drops.
  bool push(Span frame, Clock::time_point now);

  // Waits until a full batch is queued, the oldest frame has waited `linger`
  // or `poke` is set, then moves up to one batch into out. Returns 0 without
  // frames when `stop` is set, when `poke` is set on an empty queue, or when
  // the queue stayed empty for `idle`, so the caller can do other chores.
  // The frames stay valid until release().
  size_t take(std::vector<QueuedFrame>& out, Clock::duration linger, Clock::duration idle,
              const std::atomic<bool>& poke, const std::atomic<bool>& stop);

  // Moves up to one batch into out without waiting; 0 when empty.
  size_t take_ready(std::vector<QueuedFrame>& out);

  // Gives back the memory of frames returned by take(), and clears frames.
  void release(std::vector<QueuedFrame>& frames);

  // Wakes a waiting take() so it rechecks poke/stop.
  void wake();

  // True once after the queue drained below the low mark following a
  // refused push.
  bool take_drained();

  size_t bytes() const { return bytes_.load(std::memory_order_relaxed); }
  size_t frames() const { return count_.load(std::memory_order_relaxed); }

 private:
  bool batch_ready() const {
    return q_.size() >= batch_frames_ || bytes_.load(std::memory_order_relaxed) >= batch_bytes_;
  }
  QueueChunk* chunk_for(size_t n);
  size_t take_locked(std::vector<QueuedFrame>& out);
  void unref(QueueChunk* c);

  const size_t high_, low_, batch_frames_, batch_bytes_;
  std::mutex mu_;
  std::condition_variable cv_;
  std::deque<QueuedFrame> q_;
  QueueChunk* current_ = nullptr;      // where push() appends
  std::vector<QueueChunk*> spare_;     // emptied chunks, kept for reuse
  std::atomic<size_t> bytes_{0};
  std::atomic<size_t> count_{0};
  bool refused_ = false;  // a push returned false since the last drain
  bool drained_ = false;
};

}  // namespace fh

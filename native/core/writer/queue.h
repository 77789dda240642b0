// The frame queue between the JavaScript thread (push) and the writer
// thread (take). Bounded in bytes by watermarks rather than by refusing
// frames: push() reports when the producer should pause, and the writer
// raises `drain` once the queue has fallen back under the low mark and the
// gate is open. The gate is how the writer holds the relay back without
// filling memory (consumer pacing); discarding is how it drops what it must
// not write (a standby, or frames that Redis's cursor has gone back past).
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

  // Copies the frame in (or drops it while discarding). Returns false when
  // the producer should pause: over the high-water mark, gate closed, or
  // discarding. Never drops a frame it was not told to.
  bool push(Span frame, Clock::time_point now);
  // The same for several frames, under one lock.
  bool push_many(const Span* frames, size_t n, Clock::time_point now);

  // Moves up to one batch into out without waiting; 0 when empty. The
  // frames stay valid until release().
  size_t take(std::vector<QueuedFrame>& out);
  // Gives back the memory of frames returned by take(), and clears frames.
  void release(std::vector<QueuedFrame>& frames);
  // Drops every queued frame; returns how many.
  size_t clear();

  // Waits until deadline, a wake(), or (for_frames) a queued frame.
  void wait(Clock::time_point deadline, bool for_frames);
  void wake();

  // Closed: push() asks the producer to pause, whatever the queue holds.
  void set_gate(bool open);
  // On: push() drops frames and asks the producer to pause.
  void set_discard(bool on);

  // True once after the producer was asked to pause and may go on again.
  bool take_drained();

  size_t bytes() const { return bytes_.load(std::memory_order_relaxed); }
  size_t frames() const { return count_.load(std::memory_order_relaxed); }

 private:
  QueueChunk* chunk_for(size_t n);
  // Called with mu_ held: copies one frame in; true when the queue was empty.
  bool append_locked(Span frame, Clock::time_point now);
  void unref(QueueChunk* c);
  void check_drained();

  const size_t high_, low_, batch_frames_, batch_bytes_;
  std::mutex mu_;
  std::condition_variable cv_;
  std::deque<QueuedFrame> q_;
  QueueChunk* current_ = nullptr;   // where push() appends
  std::vector<QueueChunk*> spare_;  // emptied chunks, kept for reuse
  std::atomic<size_t> bytes_{0};
  std::atomic<size_t> count_{0};
  bool gate_open_ = true;
  bool discard_ = false;
  bool woken_ = false;
  bool refused_ = false;  // a push asked to pause since the last drain
  bool drained_ = false;
};

}  // namespace fh

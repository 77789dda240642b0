// The writer: a thread of its own running WriterCore over a real Redis
// connection, fed by the frame queue. The owner pushes frames and asks for
// close, abort or a cursor key switch; everything else comes back as
// events, delivered on the writer thread to the sink.
#pragma once

#include <functional>
#include <memory>
#include <thread>

#include "clock.h"
#include "config.h"
#include "core.h"
#include "dashboard.h"
#include "events.h"
#include "queue.h"
#include "topology.h"

namespace fh {

class Writer {
 public:
  using Sink = std::function<void(WriterEvent&&)>;

  // Validates cfg (std::invalid_argument) and makes everything that can
  // fail; start() then runs the thread, which connects at once, retrying.
  explicit Writer(WriterConfig cfg);
  void start(Sink sink);
  // Aborts and joins if still running.
  ~Writer();
  Writer(const Writer&) = delete;
  Writer& operator=(const Writer&) = delete;

  // From the owner's thread: copies the frame into the queue. false: pause
  // until Drain (queue full, consumers behind, or frames being dropped).
  bool push(Span frame) { return queue_.push(frame, Clock::now()); }
  bool push_many(const Span* frames, size_t n) { return queue_.push_many(frames, n, Clock::now()); }
  // Writes everything queued, then stops; gives up after timeout. Returns
  // at once; Closed reports the outcome.
  void close(std::chrono::milliseconds timeout);
  // Stops now without writing and joins the thread.
  void abort();
  // Writes the frames queued so far under the current cursor key, then
  // moves to `key` and reports what it holds (CursorKey). Also ends the
  // dropping of frames after a Resync or a takeover.
  void switch_cursor_key(std::string key);
  // What the status key says about the relay connection.
  void set_status(bool connected, std::string url) { dashboard_.set_relay(connected, std::move(url)); }

  size_t queue_bytes() const { return queue_.bytes(); }
  size_t queue_frames() const { return queue_.frames(); }

 private:
  class Factory;

  int abort_pipe_[2] = {-1, -1};
  FrameQueue queue_;
  SteadyWriterClock clock_;
  WriterControl control_;
  Dashboard dashboard_;
  std::unique_ptr<Factory> factory_;
  WriterConfig cfg_;
  std::unique_ptr<WriterCore> core_;
  std::thread thread_;
};

}  // namespace fh

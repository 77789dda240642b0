// Time as the writer core sees it. The real clock sleeps on the frame
// queue's condition variable, so that a frame, close() or abort() ends a
// wait early; the unit tests' clock is simulated and never blocks.
#pragma once

#include <chrono>

#include "queue.h"

namespace fh {

using TimePoint = Clock::time_point;
using Millis = std::chrono::milliseconds;

class WriterClock {
 public:
  virtual ~WriterClock() = default;
  virtual TimePoint now() = 0;
  // Returns at `deadline`, or earlier after wake(), or (when for_frames)
  // as soon as the queue holds a frame.
  virtual void wait_until(TimePoint deadline, bool for_frames) = 0;
  virtual void wake() = 0;
};

class SteadyWriterClock : public WriterClock {
 public:
  explicit SteadyWriterClock(FrameQueue& q) : q_(q) {}
  TimePoint now() override { return Clock::now(); }
  void wait_until(TimePoint deadline, bool for_frames) override { q_.wait(deadline, for_frames); }
  void wake() override { q_.wake(); }

 private:
  FrameQueue& q_;
};

inline double ms_between(TimePoint a, TimePoint b) { return std::chrono::duration<double, std::milli>(b - a).count(); }

}  // namespace fh

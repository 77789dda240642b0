// The keys the existing application's dashboard reads: firehose:status
// (refreshed on its own timer, so that it never lapses under load),
// firehose:recent_events and the broadcast channel. Their commands ride in
// the fenced batch, or go alone when the writer is idle; a standby writes
// none of them.
#pragma once

#include <deque>
#include <mutex>
#include <string>
#include <vector>

#include "bytes.h"
#include "clock.h"
#include "config.h"
#include "frame.h"

namespace fh {

class Dashboard {
 public:
  static constexpr std::chrono::seconds kStatusEvery{5};
  static constexpr std::string_view kTtlSeconds = "10";

  explicit Dashboard(const WriterConfig& cfg);

  // Any thread: what the status key says about the relay connection.
  void set_relay(bool connected, std::string url);

  bool status_on() const { return !status_key_.empty(); }
  bool recent_on() const { return !recent_key_.empty(); }
  bool broadcast_on() const { return !channel_.empty(); }
  bool any_events() const { return recent_on() || broadcast_on(); }
  const std::string& status_key() const { return status_key_; }
  const std::string& recent_key() const { return recent_key_; }
  const std::string& channel() const { return channel_; }
  // Cluster mode: keys outside the stream's slot cannot join its batch.
  void drop_status() { status_key_.clear(); }
  void drop_recent() { recent_key_.clear(); }

  // The status JSON when it is due (or changed), else empty; `cursor` is
  // what Redis holds.
  std::string status_due(TimePoint now, bool has_cursor, const std::string& cursor);
  // The status went out: next one in kStatusEvery.
  void status_written(TimePoint now);
  TimePoint next_status() const { return next_status_; }

  // Wall-clock HH:MM:SS for one batch's summaries.
  static std::string clock_now();
  // One event's summary, added to the recent list; returns the message to
  // broadcast (empty when the event has no summary).
  Span summarize(const FrameResult& r, std::string_view clock);
  // The recent list as JSON (newest first), built once per batch.
  std::string recent_json() const;

 private:
  std::string status_key_, recent_key_, channel_;
  std::mutex mu_;  // guards the relay fields, set from the owner's thread
  bool connected_ = false;
  std::string url_;
  bool dirty_ = true;
  TimePoint next_status_{};
  std::deque<std::string> recent_;  // newest first
  Buffer summary_;
};

}  // namespace fh

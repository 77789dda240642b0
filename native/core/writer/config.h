// Everything the writer is told. TypeScript validates and defaults every
// value (src/config.ts); validate() only asserts the invariants the writer
// relies on, so that a caller that skips TypeScript fails loudly instead of
// spinning or hanging.
#pragma once

#include <chrono>
#include <cstdint>
#include <string>
#include <vector>

#include "frame.h"

namespace fh {

struct Endpoint {
  std::string host;
  int port = 0;

  bool operator==(const Endpoint& o) const { return port == o.port && host == o.host; }
  bool operator!=(const Endpoint& o) const { return !(*this == o); }
  // host:port, IPv6 hosts in brackets.
  std::string describe() const;
};

struct RedisConfig {
  Endpoint endpoint;  // from REDIS_URL; with sentinels, where not to look
  std::string path;   // unix socket; replaces the endpoint
  std::string username, password;
  int db = 0;
  bool tls = false;
  std::string tls_ca_file, tls_cert_file, tls_key_file;
  int connect_timeout_ms = 0;
  int command_timeout_ms = 0;
};

struct SentinelConfig {
  std::vector<Endpoint> sentinels;  // empty: no Sentinel
  std::string master_name;
  std::string username, password;
};

enum class TrimMode : uint8_t {
  Groups,  // never trim what a counted consumer group still needs; pace instead
  Blind,   // XADD ... MAXLEN ~ N semantics, as the old producers did
};

struct PacingConfig {
  TrimMode mode = TrimMode::Groups;
  std::vector<std::string> only_groups;  // empty: every group of the stream
  int64_t stale_after_ms = 0;            // a group whose consumers are all idle this long stops counting
};

struct LeaseConfig {
  std::string instance_id;
  int64_t ttl_ms = 0;
};

struct WriterConfig {
  RedisConfig redis;
  SentinelConfig sentinel;
  std::string stream_key, cursor_key;
  uint64_t max_stream_len = 0;  // 0: never trim
  PacingConfig pacing;
  LeaseConfig lease;
  size_t batch_max_events = 0, batch_max_bytes = 0;
  size_t queue_high = 0, queue_low = 0;
  std::chrono::milliseconds retry_initial{0}, retry_max{0};
  DecoderOptions decoder;
  // The dashboard keys of the contract; an empty name turns one off.
  std::string status_key, recent_key, broadcast_channel;

  // Keys derived from the stream key, so that a hash tag in it puts them in
  // its cluster slot: the lease of the active instance, and the fence (the
  // newest entry ID that a committed batch wrote).
  std::string lease_key() const { return stream_key + ":lease"; }
  std::string fence_key() const { return stream_key + ":fence"; }
};

// Throws std::invalid_argument naming the first broken invariant.
void validate(const WriterConfig& c);

}  // namespace fh

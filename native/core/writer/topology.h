// Where the writer's connection goes: the REDIS_URL node, the master that
// the sentinels name, or the cluster node that owns the keys' slot. Asked
// again on every connect and every redirect, since each is the moment the
// answer may have changed. hiredis knows neither Sentinel nor Cluster:
// discovery and redirection are here.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "clock.h"
#include "config.h"
#include "connection.h"

namespace fh {

// Makes unconnected connections: to Redis nodes, and to sentinels (with
// their own credentials).
class ConnectionFactory {
 public:
  virtual ~ConnectionFactory() = default;
  virtual std::unique_ptr<Connection> node() = 0;
  virtual std::unique_ptr<Connection> sentinel() = 0;
};

// The cluster hash slot of a key (CRC16/XMODEM of the key or its hash tag).
unsigned key_slot(std::string_view key);

class Topology {
 public:
  enum class Kind : uint8_t { Unknown, Single, Sentinel, Cluster };
  static constexpr Millis kSentinelPollEvery{1000};
  // Sentinels are asked between batches: one that hangs must not hold the
  // writes up for the whole Redis timeouts.
  static constexpr int kSentinelTimeoutMs = 1000;

  Topology(const WriterConfig& cfg, ConnectionFactory& factory);

  // Connects `conn` to the node that takes the writes, after discovery.
  bool connect(Connection& conn, RedisError& err);
  // A MOVED, ASK or READONLY reply on the current node (or a message quoting one).
  void redirected(const std::string& message);
  // The connection failed: discover again before the next connect.
  void lost() { stale_ = true; }
  // Sentinel: has the master moved since we connected? Asks one sentinel
  // (err says why it could not answer); the reason is in take_change().
  bool master_moved(RedisError& err);

  Kind kind() const { return kind_; }
  const Endpoint& node() const { return node_; }
  // Why the node changed last ("master changed: ..."); cleared when read.
  std::string take_change();
  unsigned slot() const { return slot_; }

 private:
  bool discover_sentinel(Endpoint& out, RedisError& err, size_t tries = SIZE_MAX);
  bool sentinel_ask(Connection& s, const Endpoint& at, Endpoint& out, bool& unknown, RedisError& err);
  bool check_role(Connection& conn, RedisError& err);
  bool read_slots(Connection& conn, bool& cluster, RedisError& err);
  bool refresh_slots(RedisError& err);
  void set_node(const Endpoint& e, const std::string& why);

  const WriterConfig& cfg_;
  ConnectionFactory& factory_;
  Kind kind_;
  unsigned slot_;
  Endpoint node_;
  bool stale_ = true;
  std::string change_;
  std::unique_ptr<Connection> sentinel_;  // kept open between polls
  size_t sentinel_at_ = 0;
  std::vector<Endpoint> cluster_nodes_;  // the nodes of the last CLUSTER SLOTS
  bool probed_url_ = false;
  bool resolved_ = false;  // connected once: from now on a new node is a change
};

}  // namespace fh

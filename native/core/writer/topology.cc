#include "topology.h"

#include <algorithm>

namespace fh {

unsigned key_slot(std::string_view key) {
  size_t open = key.find('{');
  if (open != std::string_view::npos) {
    size_t close = key.find('}', open + 1);
    if (close != std::string_view::npos && close > open + 1) key = key.substr(open + 1, close - open - 1);
  }
  uint16_t crc = 0;
  for (unsigned char c : key) {
    crc ^= uint16_t(c) << 8;
    for (int i = 0; i < 8; i++) crc = (crc & 0x8000) ? uint16_t((crc << 1) ^ 0x1021) : uint16_t(crc << 1);
  }
  return crc & 16383;
}

Topology::Topology(const WriterConfig& cfg, ConnectionFactory& factory)
    : cfg_(cfg),
      factory_(factory),
      kind_(cfg.sentinel.sentinels.empty() ? (cfg.redis.path.empty() ? Kind::Unknown : Kind::Single) : Kind::Sentinel),
      slot_(key_slot(cfg.stream_key)),
      node_(cfg.redis.endpoint) {}

std::string Topology::take_change() {
  std::string c;
  c.swap(change_);
  return c;
}

// Before the first connect, finding the node is no change: REDIS_URL only
// said where to start looking.
void Topology::set_node(const Endpoint& e, const std::string& why) {
  if (e == node_) return;
  if (resolved_) change_ = why + " " + e.describe() + " (was " + node_.describe() + ")";
  node_ = e;
}

void Topology::redirected(const std::string& message) {
  // MOVED <slot> <host>:<port>: the slot has a new owner. ASK is a
  // migration in progress: the owner stays, the batch waits it out.
  size_t at = message.find("MOVED ");
  if (at != std::string::npos) {
    std::string moved = message.substr(at, message.find_first_of(")\r\n", at) - at);
    std::string addr = moved.substr(moved.rfind(' ') + 1);
    size_t colon = addr.rfind(':');
    if (colon != std::string::npos) {
      Endpoint e{addr.substr(0, colon), std::atoi(addr.c_str() + colon + 1)};
      if (e.host.empty()) e.host = node_.host;  // Redis leaves it out when unknown
      set_node(e, "slot " + std::to_string(slot_) + " moved to");
      return;
    }
  }
  if (message.find("ASK ") == std::string::npos) stale_ = true;  // READONLY: a demoted master
}

// A sentinel's refusal of our credentials, or of none: its own settings.
static RedisError sentinel_credentials(const Endpoint& at, const std::string& why) {
  RedisError e;
  e.fault = Fault::Config;
  e.message = "sentinel at " + at.describe() + " " + why +
              ": set REDIS_SENTINEL_PASSWORD (and REDIS_SENTINEL_USERNAME) to what the sentinels require";
  return e;
}

bool Topology::sentinel_ask(Connection& s, const Endpoint& at, Endpoint& out, bool& unknown, RedisError& err) {
  Reply r;
  if (!command(s, {"SENTINEL", "get-master-addr-by-name", cfg_.sentinel.master_name}, r, err)) return false;
  if (is_error(r.get())) {
    std::string m = reply_text(r.get());
    if (m.rfind("NOAUTH", 0) == 0) {
      err = sentinel_credentials(at, "requires a password");
    } else if (m.rfind("NOPERM", 0) == 0) {
      err = sentinel_credentials(at, "refused SENTINEL get-master-addr-by-name to this user (" + m + ")");
    } else {
      err = refusal(s, "run SENTINEL get-master-addr-by-name", m);
    }
    return false;
  }
  if (r->type != REDIS_REPLY_ARRAY || r->elements != 2) {
    unknown = true;
    return false;
  }
  out.host = reply_text(r->element[0]);
  out.port = std::atoi(reply_text(r->element[1]).c_str());
  return true;
}

// Asks up to `tries` sentinels in turn, starting with the one that answered
// last, skipping those that are down; after a failure the next call starts
// with the next one.
bool Topology::discover_sentinel(Endpoint& out, RedisError& err, size_t tries) {
  const auto& all = cfg_.sentinel.sentinels;
  size_t unknown = 0;
  std::string tried;
  size_t first = sentinel_at_;
  tries = std::min(tries, all.size());
  for (size_t i = 0; i < tries; i++) {
    size_t at = (first + i) % all.size();
    sentinel_at_ = (at + 1) % all.size();
    if (!sentinel_ || at != first || !sentinel_->connected()) {
      sentinel_ = factory_.sentinel();
      RedisError e;
      if (!sentinel_->connect(all[at], e)) {
        if (e.fault == Fault::Aborted) return err = e, false;
        if (e.fault == Fault::Fatal) {
          // The connection names REDIS_URL's credentials: the AUTH reply
          // follows its last ": ". A TLS refusal is the same for sentinels.
          if (e.message.find("refused the credentials") != std::string::npos) {
            std::string reply = e.message.substr(e.message.rfind(": ") + 2);
            err = sentinel_credentials(all[at], "refused the credentials (" + reply + ")");
          } else {
            err = RedisError{Fault::Config, "sentinel at " + all[at].describe() + ": " + e.message};
          }
          return false;
        }
        tried += (tried.empty() ? "" : ", ") + all[at].describe();
        continue;
      }
    }
    bool nil = false;
    RedisError e;
    if (sentinel_ask(*sentinel_, all[at], out, nil, e)) {
      sentinel_at_ = at;
      return true;
    }
    if (e.fault == Fault::Aborted || e.fault == Fault::Config) return err = e, false;
    if (nil)
      unknown++;
    else
      tried += (tried.empty() ? "" : ", ") + all[at].describe();
    sentinel_.reset();
  }
  // Sentinels that answer but know no such master: the name is wrong, even
  // if others are down.
  if (unknown > 0) {
    err.fault = Fault::Config;
    err.message =
        "no sentinel knows a master named \"" + cfg_.sentinel.master_name +
        "\": set REDIS_SENTINEL_NAME to the name in the sentinels' configuration (sentinel monitor <name> ...)";
    return false;
  }
  err.fault = Fault::Transient;
  err.message = "no sentinel could name the master \"" + cfg_.sentinel.master_name + "\" (unreachable: " + tried +
                "); check REDIS_SENTINELS";
  return false;
}

bool Topology::check_role(Connection& conn, RedisError& err) {
  Reply r;
  if (!command(conn, {"ROLE"}, r, err)) return false;
  if (r->type == REDIS_REPLY_ARRAY && r->elements > 0 && reply_text(r->element[0]) == "master") return true;
  err.fault = Fault::Redirect;
  err.message = "sentinel named " + conn.describe() + " as master of \"" + cfg_.sentinel.master_name +
                "\" but it is not one (failover in progress?)";
  stale_ = true;
  return false;
}

// CLUSTER SLOTS: [[start, end, [host, port, id], replicas...], ...]. An
// error saying cluster support is disabled means a plain server.
bool Topology::read_slots(Connection& conn, bool& cluster, RedisError& err) {
  Reply r;
  if (!command(conn, {"CLUSTER", "SLOTS"}, r, err)) return false;
  if (is_error(r.get())) {
    std::string m = reply_text(r.get());
    cluster = false;
    // A user without CLUSTER may still write; MOVED replies lead the way then.
    if (m.find("cluster support disabled") != std::string::npos || m.rfind("ERR unknown command", 0) == 0 ||
        m.rfind("NOPERM", 0) == 0) {
      return true;
    }
    err = refusal(conn, "run CLUSTER SLOTS", m);
    return false;
  }
  cluster = true;
  // Redis leaves a node's host out when it is the one we asked.
  std::string asked = conn.describe().substr(0, conn.describe().rfind(':'));
  auto endpoint = [&](const redisReply* n) {
    Endpoint e{reply_text(n->element[0]), int(n->element[1]->integer)};
    if (e.host.empty()) e.host = asked;
    return e;
  };
  // The nodes of this answer replace the last one's: failed nodes drop out.
  std::vector<Endpoint> nodes;
  bool owned = false;
  for (size_t i = 0; i < r->elements; i++) {
    const redisReply* range = r->element[i];
    if (range->elements < 3 || range->element[2]->elements < 2) continue;
    for (size_t k = 2; k < range->elements; k++) {
      const redisReply* n = range->element[k];
      if (n->elements < 2) continue;
      Endpoint e = endpoint(n);
      if (std::find(nodes.begin(), nodes.end(), e) == nodes.end()) nodes.push_back(e);
    }
    long long lo = range->element[0]->integer, hi = range->element[1]->integer;
    if (lo <= slot_ && slot_ <= hi) {
      set_node(endpoint(range->element[2]), "slot " + std::to_string(slot_) + " is served by");
      owned = true;
    }
  }
  if (!nodes.empty()) cluster_nodes_ = std::move(nodes);
  if (!owned) {
    err.fault = Fault::Transient;
    err.message = "no node of the cluster serves slot " + std::to_string(slot_) + " of " + cfg_.stream_key +
                  ": assign it (redis-cli --cluster fix)";
    return false;
  }
  return true;
}

// Any node that answers will do. The current one goes last: a refresh
// follows a lost connection, and a dead node may take the whole connect
// timeout to say so.
bool Topology::refresh_slots(RedisError& err) {
  std::vector<Endpoint> seeds;
  for (const Endpoint& e : cluster_nodes_) {
    if (e != node_) seeds.push_back(e);
  }
  if (cfg_.redis.endpoint != node_) seeds.push_back(cfg_.redis.endpoint);
  seeds.push_back(node_);
  RedisError last;
  for (const Endpoint& e : seeds) {
    auto c = factory_.node();
    bool cluster = false;
    if (c->connect(e, last) && read_slots(*c, cluster, last)) {
      if (cluster) return true;
      last = RedisError{Fault::Transient, "Redis at " + e.describe() + " is no longer a cluster node"};
    }
    if (last.fault == Fault::Aborted || last.fault == Fault::Fatal || last.fault == Fault::Config) break;
  }
  err = last;
  return false;
}

bool Topology::connect(Connection& conn, RedisError& err) {
  if (kind_ == Kind::Sentinel) {
    if (!probed_url_) {
      // Sentinel and Cluster do not mix: a REDIS_URL naming a cluster node
      // is a mistake worth stopping for (an unreachable one is ignored: it
      // only carries credentials then).
      probed_url_ = true;
      auto probe = factory_.node();
      RedisError e;
      bool cluster = false;
      if (probe->connect(cfg_.redis.endpoint, e) && read_slots(*probe, cluster, e) && cluster) {
        err.fault = Fault::Config;
        err.message =
            "REDIS_URL points at a Redis Cluster node, but REDIS_SENTINELS is set: Sentinel and Cluster do not mix; "
            "unset REDIS_SENTINELS for a cluster";
        return false;
      }
    }
    Endpoint master;
    if (!discover_sentinel(master, err)) return false;
    set_node(master, "master changed: sentinel reports");
    if (!conn.connect(node_, err)) {
      if (err.fault == Fault::Transient) {
        err.message += " (the sentinels still name it the master of \"" + cfg_.sentinel.master_name +
                       "\"; waiting for them to fail over)";
      }
      stale_ = true;
      return false;
    }
    stale_ = false;
    if (!check_role(conn, err)) return false;
    resolved_ = true;
    return true;
  }
  if (kind_ == Kind::Cluster && stale_ && !refresh_slots(err)) return false;
  if (!conn.connect(node_, err)) {
    if (kind_ == Kind::Cluster) stale_ = true;
    return false;
  }
  if (kind_ == Kind::Unknown || (kind_ == Kind::Cluster && stale_)) {
    bool cluster = false;
    Endpoint before = node_;
    if (!read_slots(conn, cluster, err)) {
      conn.disconnect();
      return false;
    }
    kind_ = cluster ? Kind::Cluster : Kind::Single;
    stale_ = false;
    // Another node owns the slot: go there.
    if (cluster && node_ != before && !conn.connect(node_, err)) {
      stale_ = true;
      return false;
    }
  }
  stale_ = false;
  resolved_ = true;
  return true;
}

bool Topology::master_moved(RedisError& err) {
  if (kind_ != Kind::Sentinel) return false;
  Endpoint master;
  // One sentinel per question: this runs between batches, and a sentinel
  // that does not answer holds them up (at most kSentinelTimeoutMs).
  if (!discover_sentinel(master, err, 1)) return false;
  if (master == node_) return false;
  set_node(master, "master changed: sentinel reports");
  return true;
}

}  // namespace fh

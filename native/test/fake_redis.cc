#include "fake_redis.h"

#include <algorithm>
#include <charconv>

#include "scripts.h"

namespace fake {

namespace {

std::string simple(const std::string& s) { return "+" + s + "\r\n"; }
std::string error(const std::string& s) { return "-" + s + "\r\n"; }
std::string integer(int64_t v) { return ":" + std::to_string(v) + "\r\n"; }
std::string bulk(const std::string& s) { return "$" + std::to_string(s.size()) + "\r\n" + s + "\r\n"; }
const std::string kNil = "$-1\r\n";
std::string array(const std::vector<std::string>& encoded) {
  std::string out = "*" + std::to_string(encoded.size()) + "\r\n";
  for (const std::string& e : encoded) out += e;
  return out;
}

std::string upper(std::string s) {
  for (char& c : s) c = char(std::toupper(static_cast<unsigned char>(c)));
  return s;
}

std::pair<uint64_t, uint64_t> id_parts(const std::string& id) {
  uint64_t ms = 0, seq = 0;
  size_t dash = id.find('-');
  std::from_chars(id.data(), id.data() + dash, ms);
  std::from_chars(id.data() + dash + 1, id.data() + id.size(), seq);
  return {ms, seq};
}
bool id_less(const std::string& a, const std::string& b) { return id_parts(a) < id_parts(b); }
std::string next_id(const std::string& id) {
  auto [ms, seq] = id_parts(id);
  return std::to_string(ms) + "-" + std::to_string(seq + 1);
}

// Parses complete RESP requests (arrays of bulk strings).
std::vector<std::vector<std::string>> parse_requests(const std::string& in) {
  std::vector<std::vector<std::string>> out;
  size_t p = 0;
  auto line = [&]() {
    size_t e = in.find("\r\n", p);
    std::string l = in.substr(p, e - p);
    p = e + 2;
    return l;
  };
  while (p < in.size()) {
    std::string head = line();
    size_t n = std::stoul(head.substr(1));
    std::vector<std::string> cmd;
    for (size_t i = 0; i < n; i++) {
      size_t len = std::stoul(line().substr(1));
      cmd.push_back(in.substr(p, len));
      p += len + 2;
    }
    out.push_back(std::move(cmd));
  }
  return out;
}

}  // namespace

void Clock::wait_until(TimePoint deadline, bool for_frames) {
  if (on_wait) on_wait();
  if (for_frames && q_.frames() > 0) return;
  if (deadline > now_) now_ = deadline;
}

void Server::expire() {
  for (auto it = expiry.begin(); it != expiry.end();) {
    if (it->second <= clock_.now()) {
      strings.erase(it->first);
      touch(it->first);
      it = expiry.erase(it);
    } else {
      ++it;
    }
  }
}

void Server::set(const std::string& key, const std::string& value, std::chrono::milliseconds ttl) {
  strings[key] = value;
  expiry.erase(key);
  if (ttl.count() > 0) expiry[key] = clock_.now() + ttl;
  touch(key);
}

std::string Server::get(const std::string& key) {
  expire();
  auto it = strings.find(key);
  return it == strings.end() ? std::string() : it->second;
}

std::vector<std::string> Server::seqs(const std::string& stream) const {
  std::vector<std::string> out;
  auto it = streams.find(stream);
  if (it != streams.end()) {
    for (const Entry& e : it->second) out.push_back(e.seq());
  }
  return out;
}

void Server::consume(const std::string& stream, const std::string& g, size_t n) {
  for (Group& grp : groups[stream]) {
    if (grp.name != g) continue;
    for (const Entry& e : streams[stream]) {
      if (n == 0) break;
      if (id_less(grp.delivered, e.id)) {
        grp.delivered = e.id;
        n--;
      }
    }
  }
}

void Server::restore(const Snapshot& s) {
  strings = s.strings;
  streams = s.streams;
  expiry.clear();
  epoch_++;
}

void Server::wipe() {
  epoch_++;
  strings.clear();
  streams.clear();
  expiry.clear();
  groups.clear();
  added_.clear();
}

std::string Server::xadd(const std::string& stream, std::vector<std::string> fields) {
  uint64_t ms =
      uint64_t(std::chrono::duration_cast<std::chrono::milliseconds>(clock_.now().time_since_epoch()).count());
  if (ms > last_ms_) {
    last_ms_ = ms;
    last_seq_ = 0;
  } else {
    last_seq_++;
  }
  std::string id = std::to_string(last_ms_) + "-" + std::to_string(last_seq_);
  streams[stream].push_back(Entry{id, std::move(fields)});
  touch(stream);
  added_[stream]++;
  return id;
}

void Server::scan(const std::string& stream, bool only, const std::vector<std::string>& names,
                  std::vector<std::string>& out, std::string& floor) {
  for (const Group& g : groups[stream]) {
    bool listed = std::find(names.begin(), names.end(), g.name) != names.end();
    bool counted = only == listed;
    int64_t lag = 0;
    for (const Entry& e : streams[stream]) lag += id_less(g.delivered, e.id);
    if (counted) {
      std::string need = next_id(g.delivered);
      for (const std::string& p : g.pending) {
        if (id_less(p, need)) need = p;
      }
      if (floor.empty() || id_less(need, floor)) floor = need;
    }
    out.push_back(bulk(g.name));
    out.push_back(integer(g.lag_nil ? -1 : lag));
    out.push_back(integer(int64_t(g.pending.size())));
    out.push_back(integer(counted ? 1 : 0));
    out.push_back(bulk(g.delivered));
  }
}

std::string Server::groups_script(const std::vector<std::string>& a) {
  const std::string& stream = a[3];
  size_t cap = std::stoul(a[4]);
  bool only = a[5] == "only";
  size_t kn = std::stoul(a[6]);
  std::vector<std::string> names(a.begin() + 7, a.begin() + 7 + long(kn));
  std::vector<std::string> g;
  std::string floor;
  scan(stream, only, names, g, floor);
  std::vector<Entry>& s = streams[stream];
  if (cap > 0 && s.size() > cap) {
    // Exact where Redis is approximate (~): never more than Redis would trim.
    size_t excess = s.size() - cap, n = excess;
    if (!floor.empty()) {
      n = 0;
      while (n < excess && id_less(s[n].id, floor)) n++;
    }
    s.erase(s.begin(), s.begin() + long(n));
    if (n) touch(stream);
  }
  std::vector<std::string> reply = {integer(int64_t(s.size()))};
  reply.push_back(bulk(s.empty() ? "0-0" : s.front().id));
  reply.push_back(bulk(std::to_string(last_ms_) + "-" + std::to_string(last_seq_)));
  reply.push_back(integer(added_[stream]));
  for (std::string& x : g) reply.push_back(std::move(x));
  return array(reply);
}

std::string Server::lease(const std::vector<std::string>& a) {
  const std::string& key = a[3];
  const std::string &holder = a[4], &prefix = a[5], &mode = a[7];
  int64_t ttl = std::stoll(a[6]);
  std::string cur = get(key);
  auto set = [&] {
    touch(key);
    strings[key] = holder;
    expiry[key] = clock_.now() + std::chrono::milliseconds(ttl);
    return array({integer(1), bulk(holder), integer(ttl)});
  };
  if (cur == holder) return set();
  if (cur.empty() || (mode == "start" && cur.rfind(prefix, 0) == 0)) return set();
  auto left = std::chrono::duration_cast<std::chrono::milliseconds>(expiry[key] - clock_.now()).count();
  return array({integer(0), bulk(cur), integer(left)});
}

std::string Server::repair(const std::vector<std::string>& a) {
  const std::string &cursor = a[3], &fence = a[4];
  if (get(cursor) != a[5] || get(fence) != a[6]) return integer(0);
  strings[cursor] = a[7];
  strings[fence] = a[8];
  touch(cursor);
  touch(fence);
  return integer(1);
}

std::string Server::seam(const std::vector<std::string>& a) {
  const std::vector<Entry>& s = streams[a[3]];
  std::vector<std::string> out;
  for (size_t i = 4; i + 3 <= a.size(); i += 3) {
    std::string from = a[i], to = a[i + 1];
    std::vector<const Entry*> in;
    for (const Entry& e : s) {
      bool after = from == "-" || id_less(from.substr(1), e.id);
      if (after && !id_less(to, e.id)) in.push_back(&e);
    }
    int64_t extra = int64_t(in.size()) - std::stoll(a[i + 2]);
    out.push_back(array({integer(int64_t(in.size())), bulk(extra > 0 ? in.front()->seq() : ""),
                         bulk(extra > 0 ? in[size_t(extra) - 1]->seq() : "")}));
  }
  return array(out);
}

std::string Server::execute(const std::vector<std::string>& cmd, Session& session) {
  std::string name = upper(cmd[0]);
  if (session.in_multi && name != "EXEC" && name != "MULTI" && name != "WATCH" && name != "UNWATCH") {
    session.queued.push_back(cmd);
    return simple("QUEUED");
  }
  if (name == "WATCH") {
    expire();
    // As Redis: a key watched already keeps its first record (and whatever
    // changed since); only EXEC, DISCARD or UNWATCH forget it.
    if (session.watched.empty()) session.epoch = epoch_;
    for (size_t i = 1; i < cmd.size(); i++) session.watched.emplace(cmd[i], versions_[cmd[i]]);
    return simple("OK");
  }
  if (name == "UNWATCH") {
    session.watched.clear();
    return simple("OK");
  }
  if (name == "MULTI") {
    session.in_multi = true;
    session.queued.clear();
    return simple("OK");
  }
  if (name == "EXEC") return exec(session);
  return run(cmd);
}

std::string Server::exec(Session& s) {
  expire();
  bool changed = s.epoch != epoch_;
  for (const auto& [key, v] : s.watched) changed = changed || versions_[key] != v;
  auto queued = std::move(s.queued);
  s = Session();
  if (changed) return kNil;
  std::vector<std::string> replies;
  for (const auto& cmd : queued) replies.push_back(run(cmd));
  return array(replies);
}

std::string Server::run(const std::vector<std::string>& cmd) {
  executed.push_back(cmd);
  expire();
  std::string name = upper(cmd[0]);
  if (name == "SCRIPT") {
    const std::string& text = cmd[2];
    std::string which = text == fh::kGroupsScript   ? "groups"
                        : text == fh::kLeaseScript  ? "lease"
                        : text == fh::kRepairScript ? "repair"
                        : text == fh::kSeamScript   ? "seam"
                                                    : "unknown";
    sha_["sha-" + which] = which;
    return bulk("sha-" + which);
  }
  if (name == "EVALSHA") {
    auto it = sha_.find(cmd[1]);
    if (it == sha_.end()) return error("NOSCRIPT No matching script. Please use EVAL.");
    if (it->second == "groups") return groups_script(cmd);
    if (it->second == "lease") return lease(cmd);
    if (it->second == "seam") return seam(cmd);
    return repair(cmd);
  }
  if (name == "GET" || name == "MGET") {
    std::vector<std::string> values;
    for (size_t i = 1; i < cmd.size(); i++) {
      if (streams.count(cmd[i]) && name == "GET")
        return error("WRONGTYPE Operation against a key holding the wrong kind of value");
      values.push_back(strings.count(cmd[i]) ? bulk(get(cmd[i])) : kNil);
    }
    return name == "GET" ? values[0] : array(values);
  }
  if (name == "SET") {
    bool xx = cmd.size() > 3 && upper(cmd[3]) == "XX";
    if (xx && !strings.count(cmd[1])) return kNil;
    strings[cmd[1]] = cmd[2];
    expiry.erase(cmd[1]);
    touch(cmd[1]);
    return simple("OK");
  }
  if (name == "SETEX") {
    strings[cmd[1]] = cmd[3];
    expiry[cmd[1]] = clock_.now() + std::chrono::seconds(std::stoll(cmd[2]));
    touch(cmd[1]);
    return simple("OK");
  }
  if (name == "PEXPIRE") {
    if (!strings.count(cmd[1])) return integer(0);
    expiry[cmd[1]] = clock_.now() + std::chrono::milliseconds(std::stoll(cmd[2]));
    touch(cmd[1]);
    return integer(1);
  }
  if (name == "XADD") {
    std::vector<std::string> fields(cmd.begin() + 3, cmd.end());
    return bulk(xadd(cmd[1], std::move(fields)));
  }
  if (name == "XLEN") return integer(int64_t(streams[cmd[1]].size()));
  if (name == "XTRIM") {
    // Exact where Redis is approximate (~): never more than Redis would trim.
    std::vector<Entry>& st = streams[cmd[1]];
    size_t before = st.size();
    if (upper(cmd[2]) == "MAXLEN") {
      size_t cap = std::stoul(cmd[4]);
      if (st.size() > cap) st.erase(st.begin(), st.end() - long(cap));
    } else {
      size_t limit = cmd.size() > 6 ? std::stoul(cmd[6]) : st.size(), n = 0;
      while (n < limit && n < st.size() && id_less(st[n].id, cmd[4])) n++;
      st.erase(st.begin(), st.begin() + long(n));
    }
    if (st.size() != before) touch(cmd[1]);
    return integer(int64_t(before - st.size()));
  }
  if (name == "TYPE") {
    if (streams.count(cmd[1]) && !streams[cmd[1]].empty()) return simple("stream");
    return simple(strings.count(cmd[1]) ? "string" : "none");
  }
  if (name == "XREVRANGE") {
    auto it = streams.find(cmd[1]);
    if (it == streams.end() || it->second.empty()) return array({});
    const Entry& e = it->second.back();
    std::vector<std::string> fields;
    for (const std::string& f : e.fields) fields.push_back(bulk(f));
    return array({array({bulk(e.id), array(fields)})});
  }
  if (name == "XINFO" && upper(cmd[1]) == "GROUPS") {
    if (!streams.count(cmd[2])) return error("ERR no such key");
    std::vector<std::string> out;
    for (const Group& g : groups[cmd[2]]) out.push_back(array({bulk("name"), bulk(g.name)}));
    return array(out);
  }
  if (name == "XPENDING") return error("NOGROUP No such key '" + cmd[1] + "' or consumer group '" + cmd[2] + "'");
  if (name == "XINFO") {
    for (const Group& g : groups[cmd[2]]) {
      if (g.name != cmd[3]) continue;
      return array({array({bulk("name"), bulk("c1"), bulk("pending"), integer(int64_t(g.pending.size())), bulk("idle"),
                           integer(g.idle_ms)})});
    }
    return error("NOGROUP No such consumer group");
  }
  if (name == "CLUSTER") return error("ERR This instance has cluster support disabled");
  if (name == "PUBLISH") {
    published.push_back(cmd[2]);
    return integer(0);
  }
  if (name == "AUTH" || name == "SELECT" || name == "PING") return simple(name == "PING" ? "PONG" : "OK");
  return error("ERR unknown command '" + cmd[0] + "'");
}

void Net::release() {
  auto held_now = std::move(held);
  held.clear();
  for (auto& [cmd, session] : held_now) server.execute(cmd, session);
}

bool Connection::fail(fh::RedisError& err, const std::string& why) {
  up_ = false;
  err.fault = fh::Fault::Transient;
  err.message = "connection to Redis at fake:6379 failed: " + why;
  return false;
}

bool Connection::connect(const fh::Endpoint&, fh::RedisError& err) {
  net_.connects++;
  if (net_.refuse_connects > 0) {
    net_.refuse_connects--;
    err.soon = true;
    return fail(err, "Connection refused");
  }
  up_ = true;
  broken_ = timeout_ = false;
  inbox_.clear();
  reader_.reset(redisReaderCreate());
  session_ = Session();
  return true;
}

bool Connection::send(std::initializer_list<fh::Span> parts, fh::RedisError& err) {
  if (!up_) return fail(err, "not connected");
  std::string req;
  for (const fh::Span& s : parts) req.append(s.view());
  for (auto& cmd : parse_requests(req)) {
    std::string name = upper(cmd[0]);
    if (name == "EVALSHA") {
      std::string sha = cmd[1];
      name += ":" + (sha.rfind("sha-", 0) == 0 ? sha.substr(4) : sha);
    }
    int n = ++net_.seen[name];
    const Rule* rule = nullptr;
    for (const Rule& r : net_.rules) {
      if (r.command == name && r.nth == n) rule = &r;
    }
    if (!rule) {
      inbox_ += net_.server.execute(cmd, session_);
      continue;
    }
    switch (rule->act) {
      case Act::Reset: return fail(err, "Connection reset by peer");
      case Act::ResetAfter:
        net_.server.execute(cmd, session_);
        broken_ = true;
        return true;
      case Act::Timeout: timeout_ = true; return true;
      case Act::TimeoutAfter:
        net_.server.execute(cmd, session_);
        timeout_ = true;
        return true;
      case Act::Hold:
        net_.held.emplace_back(cmd, session_);
        session_ = Session();
        timeout_ = true;
        return true;
      case Act::Error:
        inbox_ += error(rule->error);
        if (name == "EXEC") session_ = Session();  // the transaction is gone either way
        break;
    }
  }
  return true;
}

bool Connection::receive(size_t n, std::vector<fh::Reply>& out, fh::RedisError& err) {
  out.clear();
  if (!up_) return fail(err, "not connected");
  if (timeout_) {
    net_.clock.advance(std::chrono::seconds(2));
    up_ = false;
    err.fault = fh::Fault::Transient;
    err.message = "Redis at fake:6379 did not answer in time";
    return false;
  }
  if (broken_) return fail(err, "Connection reset by peer");
  redisReaderFeed(reader_.get(), inbox_.data(), inbox_.size());
  inbox_.clear();
  while (out.size() < n) {
    void* reply = nullptr;
    if (redisReaderGetReply(reader_.get(), &reply) != REDIS_OK || !reply) break;
    out.emplace_back(static_cast<redisReply*>(reply));
  }
  if (out.size() < n) return fail(err, "missing replies");
  return true;
}

}  // namespace fake

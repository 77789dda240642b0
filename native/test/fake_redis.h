// A Redis for the writer core's unit tests: an in-memory model of the few
// commands the writer sends, and of its four scripts' contract (see
// scripts.h), behind the Connection interface, on a simulated clock. Faults
// are injected per command: a reset before or after the server applies it,
// a reply that never comes, a request held back and applied later (a stale
// transaction), an error reply, a refused connect.
#pragma once

#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "clock.h"
#include "connection.h"
#include "queue.h"
#include "topology.h"

namespace fake {

using fh::TimePoint;

// Simulated time: a wait returns at once, moving the clock to its deadline
// (or not at all when it waits for frames that are already queued).
class Clock : public fh::WriterClock {
 public:
  explicit Clock(fh::FrameQueue& q) : q_(q) {}
  TimePoint now() override { return now_; }
  void wait_until(TimePoint deadline, bool for_frames) override;
  void wake() override {}
  void advance(std::chrono::milliseconds d) { now_ += d; }
  // Called on every wait: the test's chance to act "meanwhile".
  std::function<void()> on_wait;

 private:
  fh::FrameQueue& q_;
  TimePoint now_{std::chrono::hours(1)};
};

struct Entry {
  std::string id;
  std::vector<std::string> fields;  // type, <t>, data, <json>, seq, <seq>
  std::string seq() const { return fields.size() >= 6 ? fields[5] : std::string(); }
};

struct Group {
  std::string name;
  std::string delivered = "0-0";
  std::vector<std::string> pending;  // entry ids
  int64_t idle_ms = 0;
  // Redis cannot tell its lag (XINFO GROUPS lag nil), as for a group
  // created at '$' that has not caught up yet.
  bool lag_nil = false;
};

// One connection's state on the server: WATCHed keys, a MULTI under way.
struct Session {
  std::map<std::string, uint64_t> watched;  // key -> version when watched
  uint64_t epoch = 0;                       // the server's epoch then
  bool in_multi = false, aborted = false;   // aborted: a command refused while queued
  std::vector<std::vector<std::string>> queued;
};

class Server {
 public:
  explicit Server(Clock& clock) : clock_(clock) {}

  // Runs one command of a connection; returns the RESP reply.
  std::string execute(const std::vector<std::string>& cmd, Session& session);

  // State, for assertions and for faults set up by hand.
  std::map<std::string, std::string> strings;
  std::map<std::string, TimePoint> expiry;
  std::map<std::string, std::vector<Entry>> streams;
  std::map<std::string, std::vector<Group>> groups;
  std::vector<std::string> published;
  std::vector<std::vector<std::string>> executed;  // every command, in order

  std::string get(const std::string& key);
  // A write as a client's would be: WATCHes see it.
  void set(const std::string& key, const std::string& value, std::chrono::milliseconds ttl = {});
  std::vector<std::string> seqs(const std::string& stream) const;
  // Consumer group `g` reads n entries and acknowledges them.
  void consume(const std::string& stream, const std::string& g, size_t n);
  // Everything lost since a snapshot: what a crash of an everysec AOF does.
  struct Snapshot {
    std::map<std::string, std::string> strings;
    std::map<std::string, std::vector<Entry>> streams;
  };
  Snapshot snapshot() const { return {strings, streams}; }
  void restore(const Snapshot& s);
  void wipe();

 private:
  std::string run(const std::vector<std::string>& cmd);
  std::string exec(Session& s);
  std::string groups_script(const std::vector<std::string>& a);
  std::string lease(const std::vector<std::string>& a);
  std::string repair(const std::vector<std::string>& a);
  std::string seam(const std::vector<std::string>& a);
  std::string xadd(const std::string& stream, std::vector<std::string> fields);
  void touch(const std::string& key) { versions_[key]++; }
  void expire();
  void scan(const std::string& stream, bool only, const std::vector<std::string>& names, std::vector<std::string>& out,
            std::string& floor);

  Clock& clock_;
  uint64_t last_ms_ = 0, last_seq_ = 0;
  std::map<std::string, int64_t> added_;    // entries ever added, per stream
  std::map<std::string, std::string> sha_;  // sha -> script name
  std::map<std::string, uint64_t> versions_;
  uint64_t epoch_ = 0;  // moves on restore() and wipe(): every watch is void
};

// What happens to a command (counted per name, 1-based).
enum class Act { Reset, ResetAfter, Timeout, TimeoutAfter, Hold, Error };
struct Rule {
  std::string command;  // "EVALSHA:groups", "EVALSHA:lease", "GET", "SCRIPT", ...
  int nth;
  Act act;
  std::string error;  // for Act::Error
};

// The connections' shared network: the server, the rules, the held requests.
class Net {
 public:
  Net(Server& s, Clock& c) : server(s), clock(c) {}
  Server& server;
  Clock& clock;
  std::vector<Rule> rules;
  int refuse_connects = 0;  // the next n connects are refused
  int connects = 0;
  std::map<std::string, int> seen;
  // Requests held back, with the state of the connection that sent them.
  std::vector<std::pair<std::vector<std::string>, Session>> held;
  // Applies the held requests, as a stale connection's late delivery would.
  void release();
};

class Connection : public fh::Connection {
 public:
  explicit Connection(Net& net) : net_(net) {}
  bool connect(const fh::Endpoint& to, fh::RedisError& err) override;
  void disconnect() override {
    up_ = false;
    inbox_.clear();
  }
  bool connected() const override { return up_; }
  bool send(std::initializer_list<fh::Span> parts, fh::RedisError& err) override;
  bool receive(size_t n, std::vector<fh::Reply>& out, fh::RedisError& err) override;
  std::string describe() const override { return "fake:6379/0"; }

 private:
  bool fail(fh::RedisError& err, const std::string& why);
  struct ReaderFree {
    void operator()(redisReader* r) const { redisReaderFree(r); }
  };
  Net& net_;
  bool up_ = false;
  std::unique_ptr<redisReader, ReaderFree> reader_;
  Session session_;
  std::string inbox_;    // reply bytes not fed to the reader yet
  bool broken_ = false;  // the next receive fails
  bool timeout_ = false;
};

class Factory : public fh::ConnectionFactory {
 public:
  explicit Factory(Net& net) : net_(net) {}
  std::unique_ptr<fh::Connection> node() override { return std::make_unique<Connection>(net_); }
  std::unique_ptr<fh::Connection> sentinel() override { return std::make_unique<Connection>(net_); }

 private:
  Net& net_;
};

}  // namespace fake

#include "connection.h"

#include "resp.h"

namespace fh {

Fault classify_error_reply(std::string_view m) {
  std::string_view word = m.substr(0, m.find(' '));
  static const std::string_view kTransient[] = {
      "LOADING", "BUSY", "OOM", "MASTERDOWN", "TRYAGAIN", "CLUSTERDOWN", "NOREPLICAS", "MISCONF",
  };
  static const std::string_view kRedirect[] = {"MOVED", "ASK", "READONLY"};
  for (std::string_view t : kTransient) {
    if (word == t) return Fault::Transient;
  }
  for (std::string_view t : kRedirect) {
    if (word == t) return Fault::Redirect;
  }
  // A full server is a passing condition, though it shares the generic ERR.
  if (m.rfind("ERR max number of clients reached", 0) == 0) return Fault::Transient;
  return Fault::Fatal;
}

RedisError refusal(const Connection& c, const std::string& doing, const std::string& m) {
  RedisError e;
  e.fault = classify_error_reply(m);
  std::string at = "Redis at " + c.describe();
  if (m.rfind("NOAUTH", 0) == 0) {
    e.message = at + " requires a password: put it in REDIS_URL (redis://user:password@host:port)";
  } else if (m.rfind("WRONGPASS", 0) == 0) {
    e.message = at + " refused the credentials in REDIS_URL: " + m;
  } else if (m.rfind("NOPERM", 0) == 0 || m.find("can't run this command") != std::string::npos) {
    e.fault = Fault::Fatal;
    e.message = "the Redis user in REDIS_URL may not " + doing + " (" + m +
                "): grant what the README lists under Redis permissions, with ACL SETUSER";
  } else if (m.rfind("LOADING", 0) == 0) {
    e.message = at + " is starting (loading its data into memory); writing resumes once it is ready";
    e.soon = true;
  } else if (m.rfind("MOVED ", 0) == 0) {
    // Cluster replies: the cluster is busy moving things, and will be done
    // soon; ask again at the pace of a restart rather than the backoff's.
    e.message = at + " no longer serves the keys' cluster slot (" + m + "): following it";
    e.soon = true;
  } else if (m.rfind("ASK ", 0) == 0 || m.rfind("TRYAGAIN", 0) == 0) {
    e.message = "the keys' cluster slot is being migrated away from " + c.describe() + " (" + m +
                "): writing resumes once the migration is done";
    e.soon = true;
  } else if (m.rfind("CLUSTERDOWN", 0) == 0) {
    e.message = "the Redis Cluster is down (" + m + " at " + c.describe() + "): writing resumes once it is up";
    e.soon = true;
  } else if (m.rfind("NOREPLICAS", 0) == 0) {
    e.message = at + " has fewer replicas in sync than its min-replicas-to-write (" + m.substr(0, m.find(". ")) +
                "): writing resumes once they catch up";
  } else if (m.rfind("READONLY", 0) == 0) {
    e.message = at + " is a replica now (" + m + "): looking for the master";
  } else {
    e.message = at + " refused to " + doing + ": " + m;
  }
  return e;
}

bool command(Connection& c, std::initializer_list<std::string_view> args, Reply& out, RedisError& err) {
  std::string req = resp_command(args);
  std::vector<Reply> replies;
  if (!c.send({Span(req)}, err) || !c.receive(1, replies, err)) return false;
  out = std::move(replies[0]);
  return true;
}

bool pipeline(Connection& c, const std::vector<std::vector<std::string>>& commands, std::vector<Reply>& out,
              RedisError& err) {
  std::string req;
  for (const auto& cmd : commands) req += resp_command(cmd);
  return c.send({Span(req)}, err) && c.receive(commands.size(), out, err);
}

}  // namespace fh

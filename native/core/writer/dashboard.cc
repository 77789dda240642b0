#include "dashboard.h"

#include <ctime>

#include "json.h"

namespace fh {

namespace {
constexpr size_t kRecentEvents = 50;
}

Dashboard::Dashboard(const WriterConfig& cfg)
    : status_key_(cfg.status_key), recent_key_(cfg.recent_key), channel_(cfg.broadcast_channel) {}

void Dashboard::set_relay(bool connected, std::string url) {
  std::lock_guard<std::mutex> lock(mu_);
  connected_ = connected;
  url_ = std::move(url);
  dirty_ = true;
}

std::string Dashboard::status_due(TimePoint now, bool has_cursor, const std::string& cursor) {
  if (status_key_.empty()) return {};
  bool connected;
  std::string url;
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (!dirty_ && now < next_status_) return {};
    connected = connected_;
    url = url_;
  }
  Buffer json;
  json.append(connected ? std::string_view("{\"connected\":true,\"url\":")
                        : std::string_view("{\"connected\":false,\"url\":"));
  json_string(json, Span(url));
  json.append(",\"currentCursor\":");
  if (has_cursor)
    json_string(json, Span(cursor));
  else
    json.append("null");
  json.push('}');
  return std::string(json.view());
}

void Dashboard::status_written(TimePoint now) {
  std::lock_guard<std::mutex> lock(mu_);
  dirty_ = false;
  next_status_ = now + kStatusEvery;
}

std::string Dashboard::clock_now() {
  std::time_t t = std::time(nullptr);
  std::tm tm;
  gmtime_r(&t, &tm);
  char b[16];
  std::snprintf(b, sizeof b, "%02d:%02d:%02d", tm.tm_hour, tm.tm_min, tm.tm_sec);
  return b;
}

Span Dashboard::summarize(const FrameResult& r, std::string_view clock) {
  Buffer& o = summary_;
  o.clear();
  if (r.entry == EntryType::Commit) {
    if (r.first_path.empty()) return {};  // as before: no ops, no summary
    std::string_view path = r.first_path.view();
    o.append("{\"type\":\"#commit\",\"lexicon\":");
    json_string(o, Span(path.substr(0, path.find('/'))));
    o.append(",\"did\":");
    json_string(o, r.did);
    o.append(",\"action\":");
    json_string(o, r.first_action);
  } else if (r.entry == EntryType::Identity) {
    o.append("{\"type\":\"#identity\",\"lexicon\":\"com.atproto.identity\",\"did\":");
    json_string(o, r.did);
    o.append(",\"action\":");
    std::string action = r.handle.empty() ? "update" : "\u2192 " + std::string(r.handle.view());
    json_string(o, Span(action));
  } else if (r.entry == EntryType::Account) {
    o.append("{\"type\":\"#account\",\"lexicon\":\"com.atproto.account\",\"did\":");
    json_string(o, r.did);
    o.append(r.active ? std::string_view(",\"action\":\"active\"") : std::string_view(",\"action\":\"inactive\""));
  } else {
    return {};
  }
  o.append(",\"timestamp\":\"");
  o.append(clock);
  o.append("\"}");
  if (!recent_key_.empty()) {
    recent_.emplace_front(o.view());
    if (recent_.size() > kRecentEvents) recent_.pop_back();
  }
  return o.span();
}

std::string Dashboard::recent_json() const {
  std::string list = "[";
  for (const std::string& e : recent_) {
    if (list.size() > 1) list += ',';
    list += e;
  }
  list += ']';
  return list;
}

}  // namespace fh

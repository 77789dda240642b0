#include "config.h"

#include <stdexcept>

namespace fh {

std::string Endpoint::describe() const {
  bool v6 = host.find(':') != std::string::npos;
  return (v6 ? "[" + host + "]" : host) + ":" + std::to_string(port);
}

void validate(const WriterConfig& c) {
  auto require = [](bool ok, const char* what) {
    if (!ok) throw std::invalid_argument(std::string("writer options: ") + what);
  };
  require(!c.stream_key.empty() && !c.cursor_key.empty(), "streamKey and cursorKey must not be empty");
  require(c.redis.path.empty() ? (!c.redis.endpoint.host.empty() && c.redis.endpoint.port > 0)
                               : c.sentinel.sentinels.empty(),
          "redis needs a host and port, or a socket path without sentinels");
  require(c.sentinel.sentinels.empty() || !c.sentinel.master_name.empty(), "sentinels need a master name");
  require(c.batch_max_events > 0 && c.batch_max_bytes > 0, "batch limits must be above 0");
  require(c.queue_low <= c.queue_high && c.queue_high > 0, "queue low-water mark must not exceed the high one");
  require(c.retry_initial.count() > 0 && c.retry_initial <= c.retry_max,
          "retry delays must be above 0, initial <= max");
  require(c.redis.connect_timeout_ms > 0 && c.redis.command_timeout_ms > 0, "timeouts must be above 0");
  require(!c.lease.instance_id.empty() && c.lease.ttl_ms > 0, "lease needs an instance id and a ttl above 0");
  require(c.pacing.stale_after_ms > 0, "pacing stale time must be above 0");
}

}  // namespace fh

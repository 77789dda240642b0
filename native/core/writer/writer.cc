#include "writer.h"

#include <fcntl.h>
#include <pthread.h>
#include <unistd.h>

#include <algorithm>
#include <system_error>

#include "hiredis_connection.h"

namespace fh {

class Writer::Factory : public ConnectionFactory {
 public:
  Factory(const WriterConfig& cfg, int abort_fd) : node_(cfg.redis), sentinel_(cfg.redis), abort_fd_(abort_fd) {
    // Sentinels have credentials of their own, no database, and answer fast.
    sentinel_.path.clear();
    sentinel_.username = cfg.sentinel.username;
    sentinel_.password = cfg.sentinel.password;
    sentinel_.db = 0;
    sentinel_.connect_timeout_ms = std::min(sentinel_.connect_timeout_ms, Topology::kSentinelTimeoutMs);
    sentinel_.command_timeout_ms = std::min(sentinel_.command_timeout_ms, Topology::kSentinelTimeoutMs);
  }
  std::unique_ptr<Connection> node() override { return std::make_unique<HiredisConnection>(node_, abort_fd_); }
  std::unique_ptr<Connection> sentinel() override { return std::make_unique<HiredisConnection>(sentinel_, abort_fd_); }

 private:
  RedisConfig node_, sentinel_;
  int abort_fd_;
};

static const WriterConfig& validated(const WriterConfig& cfg) {
  validate(cfg);
  return cfg;
}

Writer::Writer(WriterConfig cfg)
    : queue_(validated(cfg).queue_high, cfg.queue_low, cfg.batch_max_events, cfg.batch_max_bytes),
      clock_(queue_),
      dashboard_(cfg),
      cfg_(std::move(cfg)) {
  if (pipe(abort_pipe_) != 0) throw std::system_error(errno, std::generic_category(), "pipe");
  fcntl(abort_pipe_[1], F_SETFL, O_NONBLOCK);
  factory_ = std::make_unique<Factory>(cfg_, abort_pipe_[0]);
}

void Writer::start(Sink sink) {
  core_ = std::make_unique<WriterCore>(cfg_, clock_, queue_, *factory_, control_, dashboard_, std::move(sink));
  thread_ = std::thread([this] {
    // Shows up in top -H and perf, next to Node's own threads.
    pthread_setname_np(pthread_self(), "fh-writer");
    core_->run();
  });
}

Writer::~Writer() {
  abort();
  if (abort_pipe_[0] >= 0) ::close(abort_pipe_[0]);
  if (abort_pipe_[1] >= 0) ::close(abort_pipe_[1]);
}

void Writer::close(std::chrono::milliseconds timeout) {
  control_.close(Clock::now() + timeout);
  clock_.wake();
}

void Writer::abort() {
  if (!control_.aborting()) {
    control_.abort();
    char c = 1;
    (void)!write(abort_pipe_[1], &c, 1);
    clock_.wake();
  }
  if (thread_.joinable() && thread_.get_id() != std::this_thread::get_id()) thread_.join();
}

void Writer::switch_cursor_key(std::string key) {
  control_.request_key(std::move(key));
  clock_.wake();
}

}  // namespace fh

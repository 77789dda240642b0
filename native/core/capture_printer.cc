#include "capture_printer.h"

#include <sys/mman.h>
#include <unistd.h>

#include <condition_variable>
#include <exception>
#include <mutex>
#include <thread>
#include <vector>

namespace fh {

namespace {

// Batches decoded ahead of the one being written, per thread: enough to keep
// every thread busy while the writer catches up, few enough to bound memory.
constexpr size_t kAheadPerThread = 4;

struct Batch {
  std::vector<CapturedMessage> messages;
  LineWriter lines;
  bool ready = false;

  explicit Batch(bool all) : lines(all) {}
};

class Printer {
 public:
  Printer(Span capture, const DecoderOptions& decoder, const PrintOptions& opts)
      : walker_(capture), decoder_(decoder), opts_(opts) {
    unsigned threads = opts.threads ? opts.threads : std::thread::hardware_concurrency();
    threads_ = threads ? threads : 1;
    for (size_t i = 0; i < threads_ * kAheadPerThread; i++) slots_.emplace_back(opts.all);
  }

  PrintResult run() {
    std::vector<std::thread> workers;
    for (unsigned i = 0; i < threads_; i++) workers.emplace_back([this] { work(); });
    try {
      write_in_order();
    } catch (...) {
      fail(std::current_exception());
    }
    for (std::thread& t : workers) t.join();
    if (failure_) std::rethrow_exception(failure_);
    result_.end = walker_.end();
    return std::move(result_);
  }

 private:
  // Worker: takes the next batch of messages, decodes it into its slot.
  void work() {
    try {
      FrameDecoder decoder(decoder_);
      std::unique_lock<std::mutex> lock(mu_);
      for (;;) {
        cv_.wait(lock, [&] { return stop_ || walked_ || next_ < written_ + slots_.size(); });
        if (stop_ || walked_) return;
        size_t k = next_++;
        Batch& b = slots_[k % slots_.size()];
        cut(b);
        if (b.messages.empty()) {
          walked_ = true;
          batches_ = k;
          cv_.notify_all();
          return;
        }
        lock.unlock();
        for (const CapturedMessage& m : b.messages) b.lines.add(m, decoder.decode(m.bytes));
        lock.lock();
        b.ready = true;
        cv_.notify_all();
      }
    } catch (...) {
      fail(std::current_exception());
    }
  }

  // Stops everyone; run() rethrows the first failure (memory, most likely).
  void fail(std::exception_ptr e) {
    std::lock_guard<std::mutex> lock(mu_);
    if (!failure_) failure_ = e;
    stop_ = true;
    cv_.notify_all();
  }

  // The next batch_bytes of messages (at least one), under the lock.
  void cut(Batch& b) {
    b.messages.clear();
    size_t bytes = 0;
    CapturedMessage m;
    while (bytes < opts_.batch_bytes && walker_.next(m)) {
      b.messages.push_back(m);
      bytes += 4 + m.bytes.n;
    }
  }

  // Calling thread: writes each batch's lines as soon as it and every batch
  // before it are decoded.
  void write_in_order() {
    for (size_t k = 0;; k++) {
      Batch* b;
      {
        std::unique_lock<std::mutex> lock(mu_);
        Batch& slot = slots_[k % slots_.size()];
        cv_.wait(lock, [&] { return stop_ || slot.ready || (walked_ && k >= batches_); });
        if (!slot.ready) return;
        b = &slot;
      }
      // Both streams advance together, so a terminal shows each batch's
      // problems near its lines.
      int e = write_all(opts_.out_fd, b->lines.out().span());
      if (!e) e = write_all(opts_.err_fd, b->lines.err().span());
      if (opts_.release_input) release(*b);
      result_.tally.add(b->lines.tally());
      b->lines.clear();
      std::lock_guard<std::mutex> lock(mu_);
      b->ready = false;
      written_ = k + 1;
      if (e) {
        result_.write_error = e;
        stop_ = true;
      }
      cv_.notify_all();
      if (e) return;
    }
  }

  // Drops the whole pages of the batch's part of the mapping; pages shared
  // with its neighbours stay.
  void release(const Batch& b) {
    static const uintptr_t page = uintptr_t(sysconf(_SC_PAGESIZE));
    const CapturedMessage& last = b.messages.back();
    uintptr_t from = uintptr_t(b.messages.front().bytes.p) - 4;
    uintptr_t to = uintptr_t(last.bytes.p + last.bytes.n);
    from = (from + page - 1) & ~(page - 1);
    to &= ~(page - 1);
    if (from < to) madvise(reinterpret_cast<void*>(from), to - from, MADV_DONTNEED);
  }

  CaptureWalker walker_;
  const DecoderOptions& decoder_;
  const PrintOptions& opts_;
  unsigned threads_;
  std::vector<Batch> slots_;
  PrintResult result_;

  std::mutex mu_;
  std::condition_variable cv_;
  size_t next_ = 0;     // the next batch to cut
  size_t written_ = 0;  // batches written
  size_t batches_ = 0;  // how many there are, once walked_
  bool walked_ = false;
  bool stop_ = false;
  std::exception_ptr failure_;
};

}  // namespace

PrintResult print_capture(Span capture, const DecoderOptions& decoder, const PrintOptions& opts) {
  return Printer(capture, decoder, opts).run();
}

}  // namespace fh

// Ingester: the JavaScript face of the writer. push() copies a frame into
// the native queue and returns; everything else happens on the writer's
// thread, which reports back through one thread-safe function. Reports are
// gathered under a lock and turned into JavaScript values on the main
// thread in one go (the node-rdkafka pattern), one wake-up per burst.
#include <memory>
#include <mutex>
#include <vector>

#include "addon.h"
#include "websocket.h"
#include "writer.h"

namespace fh {

namespace {

class Ingester;
void CallJs(Napi::Env env, Napi::Function cb, Ingester* self, void* data);
using Tsfn = Napi::TypedThreadSafeFunction<Ingester, void, CallJs>;

// The options arrive validated by TypeScript (src/ingester.ts); reading
// them strictly still turns a caller's mistake into ERR_INVALID_ARG.
Napi::Value Field(const Napi::Object& o, const char* key) {
  Napi::Value v = o.Get(key);
  if (v.IsUndefined()) throw MakeError(o.Env(), "ERR_INVALID_ARG", std::string("writer option ") + key + " is missing");
  return v;
}

std::string Str(const Napi::Object& o, const char* key) {
  Napi::Value v = Field(o, key);
  if (!v.IsString())
    throw MakeError(o.Env(), "ERR_INVALID_ARG", std::string("writer option ") + key + " must be a string");
  return v.As<Napi::String>().Utf8Value();
}

std::string OptStr(const Napi::Object& o, const char* key) {
  return o.Get(key).IsUndefined() ? std::string() : Str(o, key);
}

int64_t Int(const Napi::Object& o, const char* key) {
  Napi::Value v = Field(o, key);
  if (!v.IsNumber())
    throw MakeError(o.Env(), "ERR_INVALID_ARG", std::string("writer option ") + key + " must be a number");
  return v.As<Napi::Number>().Int64Value();
}

std::vector<std::string> Strings(const Napi::Object& o, const char* key) {
  Napi::Value v = Field(o, key);
  if (!v.IsArray())
    throw MakeError(o.Env(), "ERR_INVALID_ARG", std::string("writer option ") + key + " must be an array");
  Napi::Array a = v.As<Napi::Array>();
  std::vector<std::string> out;
  for (uint32_t i = 0; i < a.Length(); i++) out.push_back(a.Get(i).ToString().Utf8Value());
  return out;
}

WriterConfig ReadConfig(const Napi::Object& o) {
  WriterConfig c;
  Napi::Object r = Field(o, "redis").As<Napi::Object>();
  c.redis.endpoint.host = OptStr(r, "host");
  c.redis.endpoint.port = r.Get("port").IsNumber() ? int(Int(r, "port")) : 0;
  c.redis.path = OptStr(r, "path");
  c.redis.username = OptStr(r, "username");
  c.redis.password = OptStr(r, "password");
  c.redis.db = int(Int(r, "db"));
  c.redis.tls = r.Get("tls").ToBoolean().Value();
  c.redis.tls_ca_file = OptStr(r, "tlsCaFile");
  c.redis.tls_cert_file = OptStr(r, "tlsCertFile");
  c.redis.tls_key_file = OptStr(r, "tlsKeyFile");
  c.redis.connect_timeout_ms = int(Int(r, "connectTimeoutMs"));
  c.redis.command_timeout_ms = int(Int(r, "commandTimeoutMs"));
  Napi::Object s = Field(o, "sentinel").As<Napi::Object>();
  Napi::Array nodes = Field(s, "sentinels").As<Napi::Array>();
  for (uint32_t i = 0; i < nodes.Length(); i++) {
    Napi::Object n = nodes.Get(i).As<Napi::Object>();
    c.sentinel.sentinels.push_back(Endpoint{Str(n, "host"), int(Int(n, "port"))});
  }
  c.sentinel.master_name = Str(s, "name");
  c.sentinel.username = Str(s, "username");
  c.sentinel.password = Str(s, "password");
  c.stream_key = Str(o, "streamKey");
  c.cursor_key = Str(o, "cursorKey");
  c.max_stream_len = uint64_t(Int(o, "maxStreamLen"));
  std::string trim = Str(o, "trim");
  if (trim != "groups" && trim != "maxlen")
    throw MakeError(o.Env(), "ERR_INVALID_ARG", "writer option trim must be groups or maxlen");
  c.pacing.mode = trim == "groups" ? TrimMode::Groups : TrimMode::Blind;
  c.pacing.only_groups = Strings(o, "paceGroups");
  c.pacing.stale_after_ms = Int(o, "paceStaleAfterMs");
  c.lease.instance_id = Str(o, "instanceId");
  c.lease.ttl_ms = Int(o, "leaseTtlMs");
  c.batch_max_events = size_t(Int(o, "batchMaxEvents"));
  c.batch_max_bytes = size_t(Int(o, "batchMaxBytes"));
  c.queue_high = size_t(Int(o, "queueHighBytes"));
  c.queue_low = size_t(Int(o, "queueLowBytes"));
  c.retry_initial = std::chrono::milliseconds(Int(o, "retryInitialMs"));
  c.retry_max = std::chrono::milliseconds(Int(o, "retryMaxMs"));
  c.status_key = Str(o, "statusKey");
  c.recent_key = Str(o, "recentKey");
  c.broadcast_channel = Str(o, "broadcastChannel");
  c.decoder = ReadDecoderOptions(Field(o, "decoder").As<Napi::Object>());
  return c;
}

Napi::Value NullableString(Napi::Env env, bool has, const std::string& s) {
  return has ? Napi::Value(Napi::String::New(env, s)) : env.Null();
}

Napi::Object BatchToJs(Napi::Env env, const BatchReport& b) {
  Napi::Object o = Napi::Object::New(env);
  o.Set("type", "batch");
  o.Set("cursor", NullableString(env, b.has_cursor, b.cursor));
  o.Set("entries", double(b.entries));
  o.Set("frames", double(b.frames));
  o.Set("bytes", double(b.bytes));
  o.Set("dataBytes", double(b.data_bytes));
  o.Set("writeMs", b.write_ms);
  o.Set("maxWaitMs", b.max_wait_ms);
  o.Set("retries", double(b.retries));
  o.Set("queueBytes", double(b.queue_bytes));
  o.Set("queueFrames", double(b.queue_frames));
  o.Set("lastTime", NullableString(env, b.has_time, b.last_time));
  const FrameCounts& c = b.counts;
  Napi::Object counts = Napi::Object::New(env);
  counts.Set("commit", double(c.commit));
  counts.Set("identity", double(c.identity));
  counts.Set("account", double(c.account));
  counts.Set("sync", double(c.sync));
  counts.Set("info", double(c.info));
  counts.Set("error", double(c.error));
  counts.Set("legacy", double(c.legacy));
  counts.Set("unknown", double(c.unknown));
  counts.Set("filtered", double(c.filtered));
  counts.Set("invalid", double(c.invalid));
  counts.Set("stale", double(c.stale));
  o.Set("counts", counts);
  o.Set("opsSkipped", double(b.ops_skipped));
  o.Set("opsFiltered", double(b.ops_filtered));
  Napi::Object by_reason = Napi::Object::New(env);
  for (size_t i = 0; i < kSkipReasons; i++) {
    if (b.skipped_by_reason[i]) {
      by_reason.Set(skip_reason_name(SkipReason(i)), double(b.skipped_by_reason[i]));
    }
  }
  o.Set("skippedByReason", by_reason);
  Napi::Array skipped = Napi::Array::New(env, b.skipped.size());
  for (size_t i = 0; i < b.skipped.size(); i++) {
    const SkipNote& s = b.skipped[i];
    Napi::Object so = Napi::Object::New(env);
    so.Set("seq", s.has_seq ? Napi::Value(Napi::Number::New(env, double(s.seq))) : env.Null());
    so.Set("path", s.path);
    so.Set("reason", s.reason);
    so.Set("detail", s.detail);
    skipped.Set(uint32_t(i), so);
  }
  o.Set("skipped", skipped);
  Napi::Array invalid = Napi::Array::New(env, b.invalid.size());
  for (size_t i = 0; i < b.invalid.size(); i++) {
    Napi::Object io = Napi::Object::New(env);
    io.Set("error", b.invalid[i].error);
    io.Set("bytes", double(b.invalid[i].bytes));
    invalid.Set(uint32_t(i), io);
  }
  o.Set("invalid", invalid);
  Napi::Array stale = Napi::Array::New(env, b.stale.size());
  for (size_t i = 0; i < b.stale.size(); i++) {
    Napi::Object so = Napi::Object::New(env);
    so.Set("seq", double(b.stale[i].seq));
    so.Set("previous", double(b.stale[i].previous));
    stale.Set(uint32_t(i), so);
  }
  o.Set("stale", stale);
  Napi::Array notices = Napi::Array::New(env, b.notices.size());
  for (size_t i = 0; i < b.notices.size(); i++) {
    const Notice& n = b.notices[i];
    Napi::Object no = Napi::Object::New(env);
    no.Set("frame", n.frame);
    no.Set("name", n.name);
    no.Set("message", NullableString(env, !n.message.empty(), n.message));
    notices.Set(uint32_t(i), no);
  }
  o.Set("notices", notices);
  Napi::Array unknown = Napi::Array::New(env, b.unknown_types.size());
  for (size_t i = 0; i < b.unknown_types.size(); i++) unknown.Set(uint32_t(i), b.unknown_types[i]);
  o.Set("unknownTypes", unknown);
  return o;
}

Napi::Array GroupsToJs(Napi::Env env, const std::vector<GroupState>& groups) {
  Napi::Array a = Napi::Array::New(env, groups.size());
  for (size_t i = 0; i < groups.size(); i++) {
    const GroupState& g = groups[i];
    Napi::Object go = Napi::Object::New(env);
    go.Set("name", g.name);
    go.Set("undelivered", double(g.undelivered));
    go.Set("pending", double(g.pending));
    go.Set("counted", g.counted);
    go.Set("stale", g.stale);
    a.Set(uint32_t(i), go);
  }
  return a;
}

Napi::Value EventToJs(Napi::Env env, const WriterEvent& e) {
  using T = WriterEvent::Type;
  if (e.type == T::Batch) return BatchToJs(env, e.batch);
  Napi::Object o = Napi::Object::New(env);
  switch (e.type) {
    case T::Ready:
      o.Set("type", "ready");
      o.Set("cursor", NullableString(env, e.has_cursor, e.cursor));
      break;
    case T::RedisDown:
      o.Set("type", "redis-down");
      o.Set("error", e.error);
      o.Set("attempt", double(e.attempt));
      o.Set("retryInMs", double(e.retry_ms));
      break;
    case T::RedisUp: o.Set("type", "redis-up"); break;
    case T::Drain: o.Set("type", "drain"); break;
    case T::Fatal:
      o.Set("type", "fatal");
      o.Set("error", MakeError(env, e.config ? "ERR_CONFIG" : "ERR_REDIS_FATAL", e.error).Value());
      break;
    case T::Closed:
      o.Set("type", "closed");
      o.Set("flushed", e.flushed);
      o.Set("pendingFrames", double(e.pending));
      break;
    case T::CursorKey:
      o.Set("type", "cursor-key");
      o.Set("key", e.key);
      o.Set("cursor", NullableString(env, e.has_cursor, e.cursor));
      break;
    case T::Role:
      o.Set("type", "role");
      o.Set("role", e.active ? "active" : "standby");
      o.Set("holder", e.holder);
      o.Set("message", e.message);
      break;
    case T::Resync:
      o.Set("type", "resync");
      o.Set("cursor", NullableString(env, e.has_cursor, e.cursor));
      o.Set("previous", NullableString(env, !e.previous.empty(), e.previous));
      o.Set("lost", e.lost < 0 ? env.Null() : Napi::Value(Napi::Number::New(env, double(e.lost))));
      o.Set("reconnect", e.reconnect);
      o.Set("message", e.message);
      break;
    case T::Pacing:
      o.Set("type", "pacing");
      o.Set("paced", e.paced);
      o.Set("group", NullableString(env, !e.group.empty(), e.group));
      o.Set("backlog", double(e.backlog));
      o.Set("groups", GroupsToJs(env, e.groups));
      break;
    case T::Node:
      o.Set("type", "node");
      o.Set("node", e.node);
      o.Set("message", e.message);
      break;
    case T::Log:
      o.Set("type", "log");
      o.Set("level", e.level);
      o.Set("message", e.message);
      break;
    case T::Batch: break;
  }
  return o;
}

// Reads just the header map: is this an error frame or #info?
bool IsControlFrame(Span msg) {
  CborReader r(msg);
  Item it;
  if (!r.next(it) || it.kind != Kind::Map || it.u > 4) return false;
  Span prev, k;
  for (uint64_t i = 0; i < it.u; i++) {
    Item v;
    if (!r.next_key(k, prev) || !r.next(v)) return false;
    if (k == "op" && v.kind == Kind::Negint) return true;
    if (k == "t" && v.kind == Kind::Text && Span(v.s) == "#info") return true;
    if (v.kind == Kind::Array || v.kind == Kind::Map) return false;
  }
  return false;
}

class Ingester : public Napi::ObjectWrap<Ingester> {
 public:
  static void Init(Napi::Env env, Napi::Object exports) {
    exports.Set(
        "Ingester",
        DefineClass(
            env, "Ingester",
            {InstanceMethod("push", &Ingester::Push), InstanceMethod("openSocket", &Ingester::OpenSocket),
             InstanceMethod("feed", &Ingester::Feed), InstanceMethod("close", &Ingester::Close),
             InstanceMethod("stats", &Ingester::Stats), InstanceMethod("switchCursorKey", &Ingester::SwitchCursorKey),
             InstanceMethod("setStatus", &Ingester::SetStatus)}));
  }

  explicit Ingester(const Napi::CallbackInfo& info) : Napi::ObjectWrap<Ingester>(info) {
    Napi::Env env = info.Env();
    if (!info[0].IsObject() || !info[1].IsFunction()) {
      throw MakeError(env, "ERR_INVALID_ARG", "new Ingester(options, onEvent)");
    }
    // What can fail comes first: nothing is running yet if it does.
    WriterConfig cfg = ReadConfig(info[0].As<Napi::Object>());
    try {
      writer_ = std::make_unique<Writer>(std::move(cfg));
    } catch (const std::exception& e) {
      throw MakeError(env, "ERR_INVALID_ARG", e.what());
    }
    // The finalizer runs once the writer has sent its last event: only then
    // may this object be collected.
    tsfn_ = Tsfn::New(env, info[1].As<Napi::Function>(), "firehose-redis writer", 0, 1, this,
                      [](Napi::Env, void*, Ingester* self) {
                        self->writer_.reset();
                        if (!self->tearing_down_) self->Unref();
                      });
    // Registered after the thread-safe function so that it runs before the
    // function's own teardown at environment exit.
    napi_add_env_cleanup_hook(env, Teardown, this);
    Ref();  // alive until the writer has closed, even if JavaScript lets go
    writer_->start([this](WriterEvent&& e) { OnEvent(std::move(e)); });
  }

  ~Ingester() override {
    napi_remove_env_cleanup_hook(Env(), Teardown, this);
    StopWriter();
  }

  // Main thread, from the thread-safe function: turn the gathered events
  // into JavaScript calls. A listener that throws does not stop the others:
  // every event is delivered, then the first error is rethrown here, where
  // it surfaces as an uncaught exception, as from any event emitter.
  void Deliver(Napi::Env env, Napi::Function cb) {
    std::vector<WriterEvent> events;
    {
      std::lock_guard<std::mutex> lock(mu_);
      events.swap(pending_);
      signalled_ = false;
    }
    Napi::ObjectReference first_error;
    for (WriterEvent& e : events) {
      Napi::HandleScope scope(env);
      if (e.type == WriterEvent::Type::Fatal) failed_ = true;
      if (e.type == WriterEvent::Type::Closed) {
        // Frames pushed after the writer stopped, before JavaScript knew:
        // not written either.
        size_t late = writer_ ? writer_->queue_frames() - e.queued : 0;
        e.pending += late;
        e.flushed = e.flushed && late == 0;
        closed_ = true;
        close_result_ = Napi::Persistent(EventToJs(env, e).As<Napi::Object>());
        for (Napi::Promise::Deferred& d : close_waiters_) d.Resolve(close_result_.Value());
        close_waiters_.clear();
      }
      try {
        cb.Call({EventToJs(env, e)});
      } catch (const Napi::Error& err) {
        if (first_error.IsEmpty()) first_error = Napi::Persistent(err.Value());
      }
    }
    if (!first_error.IsEmpty()) Napi::Error(env, first_error.Value()).ThrowAsJavaScriptException();
  }

 private:
  // Writer thread.
  void OnEvent(WriterEvent&& e) {
    std::lock_guard<std::mutex> lock(mu_);
    if (tearing_down_ || released_) return;
    bool closed = e.type == WriterEvent::Type::Closed;
    pending_.push_back(std::move(e));
    if (!signalled_) {
      signalled_ = true;
      tsfn_.NonBlockingCall();
    }
    if (closed) {
      released_ = true;
      tsfn_.Release();
    }
  }

  static void Teardown(void* arg) {
    Ingester* self = static_cast<Ingester*>(arg);
    {
      std::lock_guard<std::mutex> lock(self->mu_);
      self->tearing_down_ = true;
    }
    self->StopWriter();
  }

  void StopWriter() {
    if (writer_) writer_->abort();
  }

  Napi::Value Push(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    if (!info[0].IsTypedArray()) {
      throw MakeError(env, "ERR_INVALID_ARG", "push() takes a Buffer or Uint8Array");
    }
    if (!writer_ || closed_ || closing_ || failed_) {
      throw MakeError(env, "ERR_CLOSED",
                      failed_ ? "push() after a fatal error: the writer has stopped; create a new ingester"
                              : "push() after close(): the writer is closed");
    }
    auto a = info[0].As<Napi::Uint8Array>();
    Span frame(a.Data(), a.ByteLength());
    bool room = writer_->push(frame);
    if (!IsControlFrame(frame)) return Napi::Boolean::New(env, room);
    // The relay closes the socket right after an error frame: JavaScript
    // needs its name now, not when the writer reaches it.
    const FrameResult& r = control_.decode(frame);
    Napi::Object o = Napi::Object::New(env);
    o.Set("frame", r.op == -1 ? "error" : "#info");
    o.Set("name", Napi::String::New(env, reinterpret_cast<const char*>(r.error_name.p), r.error_name.n));
    o.Set("message", r.message.empty() ? env.Null()
                                       : Napi::Value(Napi::String::New(env, reinterpret_cast<const char*>(r.message.p),
                                                                       r.message.n)));
    o.Set("full", !room);
    return o;
  }

  // A new relay connection: a parser of its own for its bytes.
  Napi::Value OpenSocket(const Napi::CallbackInfo& info) {
    if (!info[0].IsNumber())
      throw MakeError(info.Env(), "ERR_INVALID_ARG", "openSocket(maxMessageBytes) takes a number");
    parser_ = std::make_unique<WsParser>(size_t(info[0].As<Napi::Number>().Int64Value()));
    return info.Env().Undefined();
  }

  // What one chunk of the socket held besides binary messages: rare, so
  // copied out as plain values and turned into JavaScript afterwards.
  struct Note {
    std::string type, name, text;
    uint16_t code = 0;
  };

  // The binary messages of a chunk go to the queue in one lock; those the
  // parser had to assemble (across chunks, or fragmented) live only during
  // its call, so they go at once.
  struct FeedSink : WsSink {
    Writer& writer;
    FrameDecoder& control;
    Span chunk;
    std::vector<Span> spans;
    std::vector<Note> notes;
    bool room = true;
    size_t messages = 0;
    FeedSink(Writer& w, FrameDecoder& c, Span ch) : writer(w), control(c), chunk(ch) {}

    void flush() {
      if (spans.empty()) return;
      room = writer.push_many(spans.data(), spans.size()) && room;
      spans.clear();
    }
    void binary(Span m) override {
      messages++;
      if (m.p >= chunk.p && m.p + m.n <= chunk.p + chunk.n) {
        spans.push_back(m);
      } else {
        flush();
        room = writer.push(m) && room;
      }
      // The relay closes the socket right after an error frame: JavaScript
      // needs its name now, not when the writer reaches it.
      if (IsControlFrame(m)) {
        const FrameResult& r = control.decode(m);
        notes.push_back(Note{r.op == -1 ? "error-frame" : "info", std::string(r.error_name.view()),
                             std::string(r.message.view()), 0});
      }
    }
    void event(const WsEvent& e) override {
      static const char* kinds[] = {"text", "ping", "pong", "close", "error"};
      notes.push_back(Note{kinds[int(e.kind)], "", std::string(e.data.view()), e.code});
    }
  };

  // feed(chunk): parses the socket's bytes and queues every binary message.
  // true: keep reading; false: pause until 'drain'; an object when the
  // chunk held anything else: {full, messages (binary ones), events: [...]}.
  Napi::Value Feed(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    if (!info[0].IsTypedArray()) throw MakeError(env, "ERR_INVALID_ARG", "feed() takes a Buffer or Uint8Array");
    if (!writer_ || closed_ || closing_ || failed_) {
      throw MakeError(env, "ERR_CLOSED",
                      failed_ ? "feed() after a fatal error: the writer has stopped"
                              : "feed() after close(): the writer is closed");
    }
    if (!parser_) throw MakeError(env, "ERR_INVALID_ARG", "feed() before openSocket()");
    auto a = info[0].As<Napi::Uint8Array>();
    Span chunk(a.Data(), a.ByteLength());
    FeedSink sink(*writer_, control_, chunk);
    parser_->feed(chunk, sink);
    sink.flush();
    if (sink.notes.empty()) return Napi::Boolean::New(env, sink.room);
    Napi::Array events = Napi::Array::New(env, sink.notes.size());
    for (size_t i = 0; i < sink.notes.size(); i++) {
      const Note& n = sink.notes[i];
      Napi::Object o = Napi::Object::New(env);
      o.Set("type", n.type);
      if (n.type == "error-frame" || n.type == "info") {
        o.Set("name", n.name);
        o.Set("message", n.text.empty() ? env.Null() : Napi::Value(Napi::String::New(env, n.text)));
      } else if (n.type == "ping" || n.type == "pong") {
        o.Set("data", Napi::Buffer<uint8_t>::Copy(env, reinterpret_cast<const uint8_t*>(n.text.data()), n.text.size()));
      } else if (n.type == "close" || n.type == "error") {
        o.Set("code", n.code);
        o.Set(n.type == "close" ? "reason" : "message", n.text);
      }
      events.Set(uint32_t(i), o);
    }
    Napi::Object o = Napi::Object::New(env);
    o.Set("full", !sink.room);
    o.Set("messages", double(sink.messages));
    o.Set("events", events);
    return o;
  }

  Napi::Value Close(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    auto deferred = Napi::Promise::Deferred::New(env);
    if (closed_) {
      deferred.Resolve(close_result_.Value());
    } else {
      if (!info[0].IsNumber()) throw MakeError(env, "ERR_INVALID_ARG", "close(timeoutMs) takes a number");
      int64_t ms = info[0].As<Napi::Number>().Int64Value();
      closing_ = true;
      close_waiters_.push_back(deferred);
      writer_->close(std::chrono::milliseconds(ms));
    }
    return deferred.Promise();
  }

  Napi::Value SwitchCursorKey(const Napi::CallbackInfo& info) {
    if (!info[0].IsString()) throw MakeError(info.Env(), "ERR_INVALID_ARG", "switchCursorKey(key) takes a string");
    if (writer_ && !closed_) writer_->switch_cursor_key(info[0].As<Napi::String>().Utf8Value());
    return info.Env().Undefined();
  }

  Napi::Value SetStatus(const Napi::CallbackInfo& info) {
    if (writer_ && !closed_) {
      writer_->set_status(info[0].ToBoolean().Value(), info[1].As<Napi::String>().Utf8Value());
    }
    return info.Env().Undefined();
  }

  Napi::Value Stats(const Napi::CallbackInfo& info) {
    Napi::Object o = Napi::Object::New(info.Env());
    o.Set("queueBytes", writer_ ? double(writer_->queue_bytes()) : 0.0);
    o.Set("queueFrames", writer_ ? double(writer_->queue_frames()) : 0.0);
    return o;
  }

  std::unique_ptr<Writer> writer_;
  Tsfn tsfn_;
  FrameDecoder control_;              // main thread only
  std::unique_ptr<WsParser> parser_;  // the current relay connection's

  std::mutex mu_;
  std::vector<WriterEvent> pending_;
  bool signalled_ = false;
  bool released_ = false;
  bool tearing_down_ = false;

  bool closing_ = false;
  bool failed_ = false;
  bool closed_ = false;
  Napi::ObjectReference close_result_;
  std::vector<Napi::Promise::Deferred> close_waiters_;
};

void CallJs(Napi::Env env, Napi::Function cb, Ingester* self, void*) {
  if (env != nullptr && self != nullptr) self->Deliver(env, cb);
}

}  // namespace

void InitIngester(Napi::Env env, Napi::Object exports) { Ingester::Init(env, exports); }

}  // namespace fh

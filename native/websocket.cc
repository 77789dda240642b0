// WebSocketParser: core/websocket's parser with every event turned into a
// JavaScript object, for the differential test against `ws`. The service
// does not use it: the ingester runs the parser without a value per message.
#include "websocket.h"

#include "addon.h"

namespace fh {

namespace {

class WebSocketParser : public Napi::ObjectWrap<WebSocketParser> {
 public:
  static void Init(Napi::Env env, Napi::Object exports) {
    exports.Set("WebSocketParser",
                DefineClass(env, "WebSocketParser", {InstanceMethod("feed", &WebSocketParser::Feed)}));
  }

  explicit WebSocketParser(const Napi::CallbackInfo& info)
      : Napi::ObjectWrap<WebSocketParser>(info), parser_(size_t(info[0].As<Napi::Number>().Int64Value())) {}

 private:
  // Appends one object per event to an array.
  struct Sink : WsSink {
    Napi::Env env;
    Napi::Array out;
    Sink(Napi::Env e) : env(e), out(Napi::Array::New(e)) {}

    void add(const char* type, Span data) {
      Napi::Object o = Napi::Object::New(env);
      o.Set("type", type);
      o.Set("data", Napi::Buffer<uint8_t>::Copy(env, data.p, data.n));
      out.Set(out.Length(), o);
    }
    void binary(Span m) override { add("binary", m); }
    void event(const WsEvent& e) override {
      static const char* names[] = {"text", "ping", "pong", "close", "error"};
      add(names[int(e.kind)], e.data);
      if (e.kind == WsEventKind::Close || e.kind == WsEventKind::Error) {
        out.Get(out.Length() - 1).As<Napi::Object>().Set("code", e.code);
      }
    }
  };

  // feed(chunk): the events the chunk completed, in order.
  Napi::Value Feed(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    if (!info[0].IsTypedArray()) {
      throw MakeError(env, "ERR_INVALID_ARG", "feed() takes a Buffer or Uint8Array");
    }
    auto a = info[0].As<Napi::Uint8Array>();
    Sink sink(env);
    parser_.feed(Span(a.Data(), a.ByteLength()), sink);
    return sink.out;
  }

  WsParser parser_;
};

}  // namespace

void InitWebSocket(Napi::Env env, Napi::Object exports) { WebSocketParser::Init(env, exports); }

}  // namespace fh

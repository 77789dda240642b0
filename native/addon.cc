// Module entry point: registers the classes and holds the error class that
// every native error is made from.
#include "addon.h"

#include <hiredis.h>

namespace fh {

namespace {

struct AddonData {
  Napi::FunctionReference error_class;
};

Napi::Value SetErrorClass(const Napi::CallbackInfo& info) {
  AddonData* d = info.Env().GetInstanceData<AddonData>();
  d->error_class = Napi::Persistent(info[0].As<Napi::Function>());
  return info.Env().Undefined();
}

}  // namespace

Napi::Error MakeError(Napi::Env env, const char* code, const std::string& message) {
  AddonData* d = env.GetInstanceData<AddonData>();
  if (d && !d->error_class.IsEmpty()) {
    Napi::Object e = d->error_class.New({Napi::String::New(env, message), Napi::String::New(env, code)});
    return Napi::Error(env, e);
  }
  Napi::Error e = Napi::Error::New(env, message);
  e.Set("code", Napi::String::New(env, code));
  return e;
}

static Napi::Object Init(Napi::Env env, Napi::Object exports) {
  env.SetInstanceData(new AddonData());
  exports.Set("setErrorClass", Napi::Function::New(env, SetErrorClass, "setErrorClass"));
  exports.Set("hiredisVersion",
              Napi::String::New(env, std::to_string(HIREDIS_MAJOR) + "." + std::to_string(HIREDIS_MINOR) + "." +
                                         std::to_string(HIREDIS_PATCH)));
  InitDecoder(env, exports);
  InitIngester(env, exports);
  InitWebSocket(env, exports);
  return exports;
}

}  // namespace fh

static Napi::Object InitModule(Napi::Env env, Napi::Object exports) { return fh::Init(env, exports); }

NODE_API_MODULE(firehose_redis, InitModule)

// What the binding files share: the per-environment state and the one error
// type that JavaScript hands to the addon when it loads.
#pragma once

#include <napi.h>

#include <string>

#include "frame.h"

namespace fh {

// FirehoseError from src/errors.ts, registered once by setErrorClass.
Napi::Error MakeError(Napi::Env env, const char* code, const std::string& message);

// Options arrive already validated by TypeScript; only their shape is read.
DecoderOptions ReadDecoderOptions(const Napi::Object& o);

// Turns one decoded frame into the object decode() returns.
Napi::Value FrameToJs(Napi::Env env, const FrameResult& r);

void InitDecoder(Napi::Env env, Napi::Object exports);
void InitIngester(Napi::Env env, Napi::Object exports);
void InitWebSocket(Napi::Env env, Napi::Object exports);

}  // namespace fh

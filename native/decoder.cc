// The decoding core exposed to JavaScript: frames and whole captures (for
// the `decode` command, tests and benchmarks), single DAG-CBOR values and
// CAR files (for tests and tools). The service itself decodes on the writer
// thread.
#include "addon.h"

#include <chrono>
#include <cstring>

#include "capture.h"
#include "capture_printer.h"
#include "car.h"
#include "cid.h"
#include "dagjson.h"
#include "encoding.h"

namespace fh {

namespace {

size_t ReadSize(const Napi::Object& o, const char* key, size_t fallback) {
  Napi::Value v = o.Get(key);
  return v.IsNumber() ? size_t(v.As<Napi::Number>().Int64Value()) : fallback;
}

bool ReadBool(const Napi::Object& o, const char* key) {
  Napi::Value v = o.Get(key);
  return v.IsBoolean() && v.As<Napi::Boolean>().Value();
}

Napi::Value SpanString(Napi::Env env, Span s) {
  return Napi::String::New(env, reinterpret_cast<const char*>(s.p), s.n);
}

class Decoder : public Napi::ObjectWrap<Decoder> {
 public:
  static void Init(Napi::Env env, Napi::Object exports) {
    exports.Set("Decoder", DefineClass(env, "Decoder",
                                       {InstanceMethod("decode", &Decoder::Decode),
                                        InstanceMethod("decodeCapture", &Decoder::DecodeCapture),
                                        InstanceMethod("printCapture", &Decoder::PrintCapture)}));
  }

  explicit Decoder(const Napi::CallbackInfo& info)
      : Napi::ObjectWrap<Decoder>(info),
        decoder_(info[0].IsObject() ? ReadDecoderOptions(info[0].As<Napi::Object>()) : DecoderOptions{}) {}

 private:
  Napi::Value Decode(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    if (!info[0].IsTypedArray()) {
      throw MakeError(env, "ERR_INVALID_ARG", "decode() takes a Buffer or Uint8Array");
    }
    auto a = info[0].As<Napi::Uint8Array>();
    const FrameResult& r = decoder_.decode(Span(a.Data(), a.ByteLength()));
    if (r.kind == FrameKind::Invalid) throw MakeError(env, "ERR_FRAME_INVALID", r.error);
    return FrameToJs(env, r);
  }

  // decodeCapture(capture, repeat): decodes every frame of a capture buffer
  // `repeat` times without creating a JavaScript value per frame, as the
  // writer thread does; returns counts and the time taken. For benchmarks.
  Napi::Value DecodeCapture(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    if (!info[0].IsTypedArray()) {
      throw MakeError(env, "ERR_INVALID_ARG", "decodeCapture() takes a capture Buffer");
    }
    auto a = info[0].As<Napi::Uint8Array>();
    int64_t repeat = info[1].IsNumber() ? info[1].As<Napi::Number>().Int64Value() : 1;
    double frames = 0, bytes = 0, entries = 0, invalid = 0;
    auto t0 = std::chrono::steady_clock::now();
    for (int64_t r = 0; r < repeat; r++) {
      CaptureWalker walker(Span(a.Data(), a.ByteLength()));
      CapturedMessage m;
      while (walker.next(m)) {
        const FrameResult& res = decoder_.decode(m.bytes);
        frames++;
        bytes += double(m.bytes.n);
        entries += res.kind == FrameKind::Entry;
        invalid += res.kind == FrameKind::Invalid;
      }
      if (walker.end().kind != CaptureEnd::Kind::Complete) {
        throw MakeError(env, "ERR_CAPTURE", std::string("capture is ") + capture_end_name(walker.end().kind));
      }
    }
    double ns = std::chrono::duration<double, std::nano>(std::chrono::steady_clock::now() - t0).count();
    Napi::Object o = Napi::Object::New(env);
    o.Set("frames", frames);
    o.Set("bytes", bytes);
    o.Set("entries", entries);
    o.Set("invalid", invalid);
    o.Set("nanoseconds", ns);
    return o;
  }

  // printCapture(source, outFd, errFd, all): the `decode` command's lines
  // for a whole capture, decoded on one thread per core and written to the
  // two descriptors in order, with no JavaScript value per message. source
  // is an open regular file's descriptor (mapped) or the capture's bytes.
  // Returns the summary's counts, where the capture ended, and what failed:
  // mapping the file or writing the lines.
  Napi::Value PrintCapture(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    if (!(info[0].IsNumber() || info[0].IsTypedArray()) || !info[1].IsNumber() || !info[2].IsNumber()) {
      throw MakeError(env, "ERR_INVALID_ARG", "printCapture() takes a descriptor or bytes, then two descriptors");
    }
    Napi::Object o = Napi::Object::New(env);
    MappedFile file;
    Span capture;
    if (info[0].IsNumber()) {
      // A file that cannot be mapped is reported, and walked as empty.
      std::string why;
      if (!file.map(info[0].As<Napi::Number>().Int32Value(), why)) o.Set("readError", why);
      capture = file.bytes();
    } else {
      auto a = info[0].As<Napi::Uint8Array>();
      capture = Span(a.Data(), a.ByteLength());
    }
    PrintOptions opts;
    opts.out_fd = info[1].As<Napi::Number>().Int32Value();
    opts.err_fd = info[2].As<Napi::Number>().Int32Value();
    opts.all = info[3].ToBoolean().Value();
    opts.release_input = info[0].IsNumber();
    PrintResult r = print_capture(capture, decoder_.options(), opts);
    if (r.write_error) o.Set("writeError", std::strerror(r.write_error));

    const DecodeTally& t = r.tally;
    o.Set("frames", double(t.frames));
    o.Set("entries", double(t.entries));
    o.Set("silent", double(t.silent));
    o.Set("failed", double(t.failed));
    o.Set("opsSkipped", double(t.ops_skipped));
    Napi::Array types = Napi::Array::New(env, t.types.size());
    for (size_t i = 0; i < t.types.size(); i++) {
      Napi::Array pair = Napi::Array::New(env, 2);
      pair.Set(0u, entry_type_name(t.types[i].first));
      pair.Set(1u, double(t.types[i].second));
      types.Set(uint32_t(i), pair);
    }
    o.Set("types", types);
    const CaptureEnd& e = r.end;
    Napi::Object end = Napi::Object::New(env);
    end.Set("kind", capture_end_name(e.kind));
    end.Set("frame", double(e.frame));
    end.Set("offset", double(e.offset));
    end.Set("length", double(e.length));
    end.Set("remain", double(e.remain));
    o.Set("end", end);
    return o;
  }

  FrameDecoder decoder_;
};

// decodeValue(bytes, asRecord): one DAG-CBOR value as atproto JSON text.
// As a record it must also be a map with a $type.
Napi::Value DecodeValue(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (!info[0].IsTypedArray()) {
    throw MakeError(env, "ERR_INVALID_ARG", "decodeValue() takes a Buffer or Uint8Array");
  }
  auto a = info[0].As<Napi::Uint8Array>();
  Span in(a.Data(), a.ByteLength());
  Buffer out;
  std::string why;
  if (info[1].ToBoolean().Value()) {
    if (!write_json_record(in, out, why)) throw MakeError(env, "ERR_CBOR_INVALID", why);
  } else {
    CborReader r(in);
    if (!write_json_value(r, out)) throw MakeError(env, "ERR_CBOR_INVALID", r.error());
    if (!r.at_end()) {
      r.fail("trailing bytes after the value");
      throw MakeError(env, "ERR_CBOR_INVALID", r.error());
    }
  }
  return SpanString(env, out.span());
}

// CIDv0 roots exist in generic CARs; print them the way IPFS does.
std::string CidText(Span cid) {
  if (cid.n == 34 && cid.p[0] == 0x12) {
    std::string s(base58btc_len(cid.n), '\0');
    s.resize(base58btc(cid.p, cid.n, s.data()));
    return s;
  }
  return cid_to_string(cid);
}

// readCar(bytes): {roots, blocks: [{cid, data}]}, or an ERR_CAR_INVALID error.
Napi::Value ReadCar(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (!info[0].IsTypedArray()) {
    throw MakeError(env, "ERR_INVALID_ARG", "readCar() takes a Buffer or Uint8Array");
  }
  auto a = info[0].As<Napi::Uint8Array>();
  CarReader car;
  std::string why;
  if (!car.parse(Span(a.Data(), a.ByteLength()), SIZE_MAX, why)) {
    throw MakeError(env, "ERR_CAR_INVALID", why);
  }
  Napi::Array roots = Napi::Array::New(env, car.roots().size());
  for (size_t i = 0; i < car.roots().size(); i++) {
    roots.Set(uint32_t(i), CidText(car.roots()[i]));
  }
  Napi::Array blocks = Napi::Array::New(env, car.blocks().size());
  for (size_t i = 0; i < car.blocks().size(); i++) {
    const CarBlock& b = car.blocks()[i];
    Napi::Object o = Napi::Object::New(env);
    o.Set("cid", CidText(b.cid));
    o.Set("data", Napi::Buffer<uint8_t>::Copy(env, b.data.p, b.data.n));
    blocks.Set(uint32_t(i), o);
  }
  Napi::Object r = Napi::Object::New(env);
  r.Set("roots", roots);
  r.Set("blocks", blocks);
  return r;
}

}  // namespace

DecoderOptions ReadDecoderOptions(const Napi::Object& o) {
  DecoderOptions d;
  d.max_message_bytes = ReadSize(o, "maxMessageBytes", d.max_message_bytes);
  d.max_blocks_bytes = ReadSize(o, "maxBlocksBytes", d.max_blocks_bytes);
  d.max_ops = ReadSize(o, "maxOps", d.max_ops);
  d.emit_sync = ReadBool(o, "emitSync");
  d.emit_info = ReadBool(o, "emitInfo");
  Napi::Value c = o.Get("collections");
  if (c.IsArray()) {
    Napi::Array arr = c.As<Napi::Array>();
    for (uint32_t i = 0; i < arr.Length(); i++) {
      d.filter.add(arr.Get(i).As<Napi::String>().Utf8Value());
    }
  }
  return d;
}

Napi::Value FrameToJs(Napi::Env env, const FrameResult& r) {
  Napi::Object o = Napi::Object::New(env);
  bool entry = r.kind == FrameKind::Entry;
  o.Set("kind", entry ? "entry" : "silent");
  if (entry) {
    o.Set("type", entry_type_name(r.entry));
  } else {
    o.Set("reason", silence_name(r.silence));
  }
  o.Set("frame", r.op == -1 ? Napi::Value(Napi::String::New(env, "error")) : SpanString(env, r.type));
  o.Set("seq", r.has_seq ? Napi::Value(Napi::Number::New(env, double(r.seq))) : env.Null());
  if (entry) o.Set("data", SpanString(env, r.data));
  if (!r.time.empty()) o.Set("time", SpanString(env, r.time));
  if (r.op == -1) {
    o.Set("error", SpanString(env, r.error_name));
  } else if (!r.error_name.empty()) {
    o.Set("name", SpanString(env, r.error_name));
  }
  if (!r.message.empty()) o.Set("message", SpanString(env, r.message));
  if (r.entry == EntryType::Commit || r.silence == Silence::FilteredOut) {
    o.Set("opsTotal", r.ops_total);
    o.Set("opsFiltered", r.ops_filtered);
  }
  Napi::Array skipped = Napi::Array::New(env, r.skipped.size());
  for (size_t i = 0; i < r.skipped.size(); i++) {
    const SkippedOp& s = r.skipped[i];
    Napi::Object so = Napi::Object::New(env);
    so.Set("path", SpanString(env, s.path));
    so.Set("reason", skip_reason_name(s.reason));
    so.Set("detail", s.detail);
    skipped.Set(uint32_t(i), so);
  }
  o.Set("skipped", skipped);
  return o;
}

void InitDecoder(Napi::Env env, Napi::Object exports) {
  Decoder::Init(env, exports);
  exports.Set("decodeValue", Napi::Function::New(env, DecodeValue, "decodeValue"));
  exports.Set("readCar", Napi::Function::New(env, ReadCar, "readCar"));
}

}  // namespace fh

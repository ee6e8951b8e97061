// SPDX-License-Identifier: Apache-2.0
#include "errors.h"

#include <cstring>

namespace aegis {

Napi::Error MakeError(Napi::Env env, const char *code, int errnum, const std::string &message,
                      const std::string &log) {
  std::string text = message;
  if (errnum > 0) {
    text += ": ";
    text += std::strerror(errnum);
    text += " (errno ";
    text += std::to_string(errnum);
    text += ")";
  }
  Napi::Error err = Napi::Error::New(env, text);
  err.Set("code", Napi::String::New(env, code));
  err.Set("errno", Napi::Number::New(env, errnum));
  if (!log.empty()) err.Set("log", Napi::String::New(env, log));
  return err;
}

std::string ArgString(const Napi::CallbackInfo &info, size_t index, const char *name) {
  if (info.Length() <= index || !info[index].IsString())
    throw MakeError(info.Env(), kErrInvalidArg, 0, std::string("argument '") + name + "' must be a string");
  return info[index].As<Napi::String>().Utf8Value();
}

Napi::Buffer<uint8_t> ArgBuffer(const Napi::CallbackInfo &info, size_t index, const char *name) {
  if (info.Length() <= index || !info[index].IsBuffer())
    throw MakeError(info.Env(), kErrInvalidArg, 0, std::string("argument '") + name + "' must be a Buffer");
  return info[index].As<Napi::Buffer<uint8_t>>();
}

uint32_t ArgUint32(const Napi::CallbackInfo &info, size_t index, const char *name) {
  if (info.Length() <= index || !info[index].IsNumber())
    throw MakeError(info.Env(), kErrInvalidArg, 0, std::string("argument '") + name + "' must be a number");
  double v = info[index].As<Napi::Number>().DoubleValue();
  if (v < 0 || v > 4294967295.0 || v != static_cast<double>(static_cast<uint64_t>(v)))
    throw MakeError(info.Env(), kErrInvalidArg, 0, std::string("argument '") + name + "' must be a u32");
  return static_cast<uint32_t>(v);
}

bool ArgBool(const Napi::CallbackInfo &info, size_t index, const char *name) {
  if (info.Length() <= index || !info[index].IsBoolean())
    throw MakeError(info.Env(), kErrInvalidArg, 0, std::string("argument '") + name + "' must be a boolean");
  return info[index].As<Napi::Boolean>().Value();
}

}  // namespace aegis

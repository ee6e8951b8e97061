// SPDX-License-Identifier: Apache-2.0
// Native errors -> JS Error with a stable `code` (AEGIS_ERR_*) and `errno`.
// The list of codes is mirrored in src/native/errors.ts (must match).
#pragma once

#include <napi.h>

#include <string>

namespace aegis {

inline constexpr const char *kErrInvalidArg = "AEGIS_ERR_NATIVE_INVALID_ARG";
inline constexpr const char *kErrBpfOpen = "AEGIS_ERR_BPF_OPEN";
inline constexpr const char *kErrBpfLoad = "AEGIS_ERR_BPF_LOAD";
inline constexpr const char *kErrBpfAttach = "AEGIS_ERR_BPF_ATTACH";
inline constexpr const char *kErrBpfNotFound = "AEGIS_ERR_BPF_NOT_FOUND";
inline constexpr const char *kErrBpfState = "AEGIS_ERR_BPF_STATE";
inline constexpr const char *kErrMapOp = "AEGIS_ERR_MAP_OP";
inline constexpr const char *kErrMapFull = "AEGIS_ERR_MAP_FULL";
inline constexpr const char *kErrRing = "AEGIS_ERR_RING";
inline constexpr const char *kErrMount = "AEGIS_ERR_MOUNT";

// Builds the error; callers `throw` it (NAPI_CPP_EXCEPTIONS is on).
// errnum is a positive errno (0 when not applicable); its strerror text is
// appended to the message. log, when not empty, becomes the `log` property
// (libbpf/verifier output around the failure).
Napi::Error MakeError(Napi::Env env, const char *code, int errnum, const std::string &message,
                      const std::string &log = std::string());

// Argument helpers that throw AEGIS_ERR_NATIVE_INVALID_ARG with the argument's name.
std::string ArgString(const Napi::CallbackInfo &info, size_t index, const char *name);
Napi::Buffer<uint8_t> ArgBuffer(const Napi::CallbackInfo &info, size_t index, const char *name);
uint32_t ArgUint32(const Napi::CallbackInfo &info, size_t index, const char *name);
bool ArgBool(const Napi::CallbackInfo &info, size_t index, const char *name);

}  // namespace aegis

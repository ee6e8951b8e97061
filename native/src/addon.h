// SPDX-License-Identifier: Apache-2.0
// Per-environment addon state: constructors of the wrapped classes, so C++
// can create JS instances (e.g. a map handle from BpfObject.map()).
#pragma once

#include <napi.h>

namespace aegis {

struct AddonData {
  Napi::FunctionReference bpf_map_ctor;
  Napi::FunctionReference ring_reader_ctor;
};

inline AddonData *GetAddonData(Napi::Env env) { return env.GetInstanceData<AddonData>(); }

}  // namespace aegis

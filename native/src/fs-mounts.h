// SPDX-License-Identifier: Apache-2.0
// The two pseudo file systems libbpf needs and that minimal hosts may not
// mount: tracefs (tracepoint ids for tp/ programs) and bpffs (pinning).
// Pairs with src/sensor/fs-mounts.ts, which decides when to mount.
#pragma once

#include <napi.h>

namespace aegis {

// statfsType(path) -> f_type magic number, or null if statfs fails.
Napi::Value StatfsType(const Napi::CallbackInfo &info);
// mountFs(fstype, target, data) -> undefined; throws AEGIS_ERR_MOUNT.
Napi::Value MountFs(const Napi::CallbackInfo &info);

}  // namespace aegis

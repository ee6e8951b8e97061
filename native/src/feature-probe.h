// SPDX-License-Identifier: Apache-2.0
// Feature probing by doing: load (and optionally attach) one program of
// bpf/build/probe.bpf.o and report what the kernel said. Pairs with
// src/sensor/feature-probe.ts, which decides what to probe and what it means.
#pragma once

#include <napi.h>

namespace aegis {

// probeProgram(objectPath, programName, { attach?: boolean, cgroupPath?: string })
//   -> { loaded, loadErrno, attached, attachErrno, log }
// Never throws for kernel refusals: a refusal is the answer.
Napi::Value ProbeProgram(const Napi::CallbackInfo &info);

}  // namespace aegis

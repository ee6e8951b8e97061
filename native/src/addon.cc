// SPDX-License-Identifier: Apache-2.0
// Module entry. Pairs with src/native/binding.ts, the only TS file that
// loads this addon; the exported names below are its typed interface and
// test/native/binding.test.ts checks them without root.
#include <bpf/libbpf.h>
#include <napi.h>

#include "addon.h"
#include "aegis_abi.h"
#include "bpf-map.h"
#include "bpf-object.h"
#include "crc32c.h"
#include "errors.h"
#include "feature-probe.h"
#include "fs-mounts.h"
#include "journal-socket.h"
#include "libbpf-log.h"
#include "ring-reader.h"

namespace aegis {

namespace {

Napi::Value LibbpfVersion(const Napi::CallbackInfo &info) {
  return Napi::String::New(info.Env(), std::to_string(libbpf_major_version()) + "." +
                                           std::to_string(libbpf_minor_version()));
}

Napi::Value NumPossibleCpus(const Napi::CallbackInfo &info) {
  return Napi::Number::New(info.Env(), libbpf_num_possible_cpus());
}

Napi::Object Init(Napi::Env env, Napi::Object exports) {
  InstallLibbpfLog();
  auto *data = new AddonData();
  env.SetInstanceData(data);

  Napi::Function map_ctor = BpfMap::Init(env);
  data->bpf_map_ctor = Napi::Persistent(map_ctor);
  Napi::Function ring_ctor = RingReader::Init(env);
  data->ring_reader_ctor = Napi::Persistent(ring_ctor);

  exports.Set("BpfObject", BpfObject::Init(env));
  exports.Set("BpfMap", map_ctor);
  exports.Set("RingReader", ring_ctor);
  exports.Set("openPinnedMap", Napi::Function::New(env, BpfMap::OpenPinned, "openPinnedMap"));
  exports.Set("probeProgram", Napi::Function::New(env, ProbeProgram, "probeProgram"));
  exports.Set("statfsType", Napi::Function::New(env, StatfsType, "statfsType"));
  exports.Set("mountFs", Napi::Function::New(env, MountFs, "mountFs"));
  exports.Set("journalSend", Napi::Function::New(env, JournalSend, "journalSend"));
  exports.Set("journalProbe", Napi::Function::New(env, JournalProbe, "journalProbe"));
  exports.Set("libbpfVersion", Napi::Function::New(env, LibbpfVersion, "libbpfVersion"));
  exports.Set("numPossibleCpus", Napi::Function::New(env, NumPossibleCpus, "numPossibleCpus"));
  exports.Set("crc32c", Napi::Function::New(env, Crc32c, "crc32c"));
  exports.Set("crc32cRecords", Napi::Function::New(env, Crc32cRecords, "crc32cRecords"));

  Napi::Array codes = Napi::Array::New(env);
  const char *all[] = {kErrInvalidArg, kErrBpfOpen, kErrBpfLoad, kErrBpfAttach, kErrBpfNotFound,
                       kErrBpfState,   kErrMapOp,   kErrMapFull, kErrRing,      kErrMount};
  for (uint32_t i = 0; i < sizeof(all) / sizeof(all[0]); i++) codes.Set(i, all[i]);
  exports.Set("errorCodes", codes);
  // Lets JS refuse an addon built from a different ABI header than the TS decoder.
  exports.Set("abiOpMax", Napi::Number::New(env, AEGIS_OP_MAX));
  return exports;
}

}  // namespace

}  // namespace aegis

static Napi::Object InitAddon(Napi::Env env, Napi::Object exports) { return aegis::Init(env, exports); }

NODE_API_MODULE(aegis_native, InitAddon)

// SPDX-License-Identifier: Apache-2.0
// A BPF map handle: lookup/update/delete/iterate by fd. Pairs with
// src/sensor/bpf-map.ts. Handles come from BpfObject.map(name) (fd owned by
// the libbpf object, which must stay alive: `alive` turns false when it is
// destroyed) or from openPinnedMap(path) (fd owned by the handle).
#pragma once

#include <napi.h>

#include <memory>
#include <string>

namespace aegis {

struct MapInfo {
  std::string name;
  uint32_t type = 0;
  uint32_t key_size = 0;
  uint32_t value_size = 0;
  uint32_t max_entries = 0;
};

class BpfMap : public Napi::ObjectWrap<BpfMap> {
 public:
  static Napi::Function Init(Napi::Env env);
  // Creates a JS handle. owned: close fd when the handle closes.
  // alive: shared with the owning object (nullptr for owned fds).
  static Napi::Object Create(Napi::Env env, int fd, bool owned, const MapInfo &info,
                             std::shared_ptr<bool> alive, Napi::Object owner);
  // Opens a pinned map: openPinnedMap(path).
  static Napi::Value OpenPinned(const Napi::CallbackInfo &info);

  explicit BpfMap(const Napi::CallbackInfo &info);
  ~BpfMap() override;

  int fd() const { return fd_; }
  bool IsUsable() const;

 private:
  Napi::Value Lookup(const Napi::CallbackInfo &info);
  Napi::Value Update(const Napi::CallbackInfo &info);
  Napi::Value Delete(const Napi::CallbackInfo &info);
  Napi::Value Entries(const Napi::CallbackInfo &info);
  Napi::Value Close(const Napi::CallbackInfo &info);

  int CheckUsable(Napi::Env env) const;
  void CheckKey(Napi::Env env, const Napi::Buffer<uint8_t> &key) const;

  int fd_ = -1;
  bool owned_ = false;
  bool closed_ = false;
  MapInfo info_;
  uint32_t value_bytes_ = 0;  // value_size, or round_up(value_size, 8) * ncpus for per-CPU maps
  std::shared_ptr<bool> alive_;
  Napi::ObjectReference owner_;
};

}  // namespace aegis

// SPDX-License-Identifier: Apache-2.0
#include "bpf-map.h"

#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <unistd.h>

#include <cerrno>
#include <vector>

#include "addon.h"
#include "errors.h"

namespace aegis {

namespace {

bool IsPercpu(uint32_t type) {
  return type == BPF_MAP_TYPE_PERCPU_ARRAY || type == BPF_MAP_TYPE_PERCPU_HASH ||
         type == BPF_MAP_TYPE_LRU_PERCPU_HASH || type == BPF_MAP_TYPE_PERCPU_CGROUP_STORAGE;
}

// Maps without keys in the usual sense: no lookup/iterate from user space.
bool IsKeyless(uint32_t type) { return type == BPF_MAP_TYPE_RINGBUF || type == BPF_MAP_TYPE_USER_RINGBUF; }

}  // namespace

Napi::Function BpfMap::Init(Napi::Env env) {
  return DefineClass(env, "BpfMap",
                     {
                         InstanceMethod<&BpfMap::Lookup>("lookup"),
                         InstanceMethod<&BpfMap::Update>("update"),
                         InstanceMethod<&BpfMap::Delete>("delete"),
                         InstanceMethod<&BpfMap::Entries>("entries"),
                         InstanceMethod<&BpfMap::Close>("close"),
                     });
}

// JS cannot construct a map handle: the constructor takes an External that
// only Create() can make.
BpfMap::BpfMap(const Napi::CallbackInfo &info) : Napi::ObjectWrap<BpfMap>(info) {
  if (info.Length() != 1 || !info[0].IsExternal())
    throw MakeError(info.Env(), kErrInvalidArg, 0,
                    "BpfMap cannot be constructed directly; use BpfObject.map() or openPinnedMap()");
}

BpfMap::~BpfMap() {
  if (owned_ && !closed_ && fd_ >= 0) close(fd_);
}

Napi::Object BpfMap::Create(Napi::Env env, int fd, bool owned, const MapInfo &info,
                            std::shared_ptr<bool> alive, Napi::Object owner) {
  Napi::Object obj = GetAddonData(env)->bpf_map_ctor.New({Napi::External<void>::New(env, nullptr)});
  BpfMap *self = BpfMap::Unwrap(obj);
  self->fd_ = fd;
  self->owned_ = owned;
  self->info_ = info;
  self->alive_ = std::move(alive);
  if (!owner.IsEmpty()) self->owner_ = Napi::Persistent(owner);
  self->value_bytes_ = info.value_size;
  if (IsPercpu(info.type)) {
    int ncpus = libbpf_num_possible_cpus();
    self->value_bytes_ = ((info.value_size + 7) / 8) * 8 * static_cast<uint32_t>(ncpus > 0 ? ncpus : 1);
    obj.Set("possibleCpus", Napi::Number::New(env, ncpus));
  }
  obj.Set("name", Napi::String::New(env, info.name));
  obj.Set("type", Napi::Number::New(env, info.type));
  obj.Set("keySize", Napi::Number::New(env, info.key_size));
  obj.Set("valueSize", Napi::Number::New(env, info.value_size));
  obj.Set("valueBytes", Napi::Number::New(env, self->value_bytes_));
  obj.Set("maxEntries", Napi::Number::New(env, info.max_entries));
  obj.Set("percpu", Napi::Boolean::New(env, IsPercpu(info.type)));
  return obj;
}

Napi::Value BpfMap::OpenPinned(const Napi::CallbackInfo &info) {
  Napi::Env env = info.Env();
  std::string path = ArgString(info, 0, "path");
  int fd = bpf_obj_get(path.c_str());
  if (fd < 0) throw MakeError(env, kErrBpfOpen, errno, "cannot open pinned map " + path);
  struct bpf_map_info mi = {};
  __u32 len = sizeof(mi);
  if (bpf_obj_get_info_by_fd(fd, &mi, &len) != 0) {
    int e = errno;
    close(fd);
    throw MakeError(env, kErrBpfOpen, e, "cannot read map info of " + path);
  }
  MapInfo m;
  m.name = mi.name;
  m.type = mi.type;
  m.key_size = mi.key_size;
  m.value_size = mi.value_size;
  m.max_entries = mi.max_entries;
  return Create(env, fd, true, m, nullptr, Napi::Object());
}

bool BpfMap::IsUsable() const { return !closed_ && fd_ >= 0 && (!alive_ || *alive_); }

int BpfMap::CheckUsable(Napi::Env env) const {
  if (!IsUsable())
    throw MakeError(env, kErrBpfState, 0, "map '" + info_.name + "' is closed (its object was destroyed?)");
  if (IsKeyless(info_.type))
    throw MakeError(env, kErrInvalidArg, 0, "map '" + info_.name + "' has no keys (ring buffer)");
  return fd_;
}

void BpfMap::CheckKey(Napi::Env env, const Napi::Buffer<uint8_t> &key) const {
  if (key.Length() != info_.key_size)
    throw MakeError(env, kErrInvalidArg, 0,
                    "key for map '" + info_.name + "' must be " + std::to_string(info_.key_size) + " bytes, got " +
                        std::to_string(key.Length()));
}

Napi::Value BpfMap::Lookup(const Napi::CallbackInfo &info) {
  Napi::Env env = info.Env();
  int fd = CheckUsable(env);
  auto key = ArgBuffer(info, 0, "key");
  CheckKey(env, key);
  auto value = Napi::Buffer<uint8_t>::New(env, value_bytes_);
  if (bpf_map_lookup_elem(fd, key.Data(), value.Data()) != 0) {
    if (errno == ENOENT) return env.Null();
    throw MakeError(env, kErrMapOp, errno, "lookup in map '" + info_.name + "' failed");
  }
  return value;
}

Napi::Value BpfMap::Update(const Napi::CallbackInfo &info) {
  Napi::Env env = info.Env();
  int fd = CheckUsable(env);
  auto key = ArgBuffer(info, 0, "key");
  auto value = ArgBuffer(info, 1, "value");
  uint32_t flags = info.Length() > 2 ? ArgUint32(info, 2, "flags") : static_cast<uint32_t>(BPF_ANY);
  CheckKey(env, key);
  if (value.Length() != value_bytes_)
    throw MakeError(env, kErrInvalidArg, 0,
                    "value for map '" + info_.name + "' must be " + std::to_string(value_bytes_) + " bytes, got " +
                        std::to_string(value.Length()));
  if (bpf_map_update_elem(fd, key.Data(), value.Data(), flags) != 0) {
    int e = errno;
    // Hash maps say E2BIG when full, LPM tries ENOSPC.
    if (e == E2BIG || e == ENOSPC)
      throw MakeError(env, kErrMapFull, e,
                      "map '" + info_.name + "' is full (capacity " + std::to_string(info_.max_entries) + ")");
    throw MakeError(env, kErrMapOp, e, "update of map '" + info_.name + "' failed");
  }
  return env.Undefined();
}

Napi::Value BpfMap::Delete(const Napi::CallbackInfo &info) {
  Napi::Env env = info.Env();
  int fd = CheckUsable(env);
  auto key = ArgBuffer(info, 0, "key");
  CheckKey(env, key);
  if (bpf_map_delete_elem(fd, key.Data()) != 0) {
    if (errno == ENOENT) return Napi::Boolean::New(env, false);
    throw MakeError(env, kErrMapOp, errno, "delete from map '" + info_.name + "' failed");
  }
  return Napi::Boolean::New(env, true);
}

// Returns { count, keys: Buffer(count * keySize), values: Buffer(count * valueBytes) }:
// two buffers instead of 2 * count small ones; the policy code slices them.
// Entries deleted concurrently are skipped; iteration restarts from the first
// key if the current key vanished (get_next_key semantics), bounded by
// max_entries so a busy map cannot loop forever.
Napi::Value BpfMap::Entries(const Napi::CallbackInfo &info) {
  Napi::Env env = info.Env();
  int fd = CheckUsable(env);
  const size_t ks = info_.key_size;
  std::vector<uint8_t> keys;
  std::vector<uint8_t> values;
  std::vector<uint8_t> cur(ks), next(ks);
  const void *prev = nullptr;
  size_t count = 0;
  for (uint64_t guard = 0; guard <= static_cast<uint64_t>(info_.max_entries); guard++) {
    if (bpf_map_get_next_key(fd, prev, next.data()) != 0) {
      if (errno == ENOENT) break;
      throw MakeError(env, kErrMapOp, errno, "iterating map '" + info_.name + "' failed");
    }
    size_t voff = values.size();
    values.resize(voff + value_bytes_);
    if (bpf_map_lookup_elem(fd, next.data(), values.data() + voff) != 0) {
      values.resize(voff);
      if (errno != ENOENT) throw MakeError(env, kErrMapOp, errno, "lookup in map '" + info_.name + "' failed");
    } else {
      keys.insert(keys.end(), next.begin(), next.end());
      count++;
    }
    cur.swap(next);
    prev = cur.data();
  }
  Napi::Object out = Napi::Object::New(env);
  out.Set("count", Napi::Number::New(env, static_cast<double>(count)));
  out.Set("keys", Napi::Buffer<uint8_t>::Copy(env, keys.data(), keys.size()));
  out.Set("values", Napi::Buffer<uint8_t>::Copy(env, values.data(), values.size()));
  return out;
}

Napi::Value BpfMap::Close(const Napi::CallbackInfo &info) {
  if (owned_ && !closed_ && fd_ >= 0) close(fd_);
  closed_ = true;
  owner_.Reset();
  return info.Env().Undefined();
}

}  // namespace aegis

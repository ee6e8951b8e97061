// SPDX-License-Identifier: Apache-2.0
#include "bpf-object.h"

#include <bpf/bpf.h>
#include <bpf/btf.h>
#include <bpf/libbpf.h>
#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <vector>

#include "bpf-map.h"
#include "errors.h"
#include "libbpf-log.h"

namespace aegis {

Napi::Function BpfObject::Init(Napi::Env env) {
  return DefineClass(env, "BpfObject",
                     {
                         InstanceMethod<&BpfObject::Programs>("programs"),
                         InstanceMethod<&BpfObject::ProgramStats>("programStats"),
                         InstanceMethod<&BpfObject::TestRun>("testRun"),
                         InstanceMethod<&BpfObject::Maps>("maps"),
                         InstanceMethod<&BpfObject::RodataVars>("rodataVars"),
                         InstanceMethod<&BpfObject::SetAutoload>("setAutoload"),
                         InstanceMethod<&BpfObject::SetMaxEntries>("setMaxEntries"),
                         InstanceMethod<&BpfObject::SetRodata>("setRodata"),
                         InstanceMethod<&BpfObject::SetPinPath>("setPinPath"),
                         InstanceMethod<&BpfObject::Load>("load"),
                         InstanceMethod<&BpfObject::Attach>("attach"),
                         InstanceMethod<&BpfObject::Detach>("detach"),
                         InstanceMethod<&BpfObject::Map>("map"),
                         InstanceMethod<&BpfObject::Destroy>("destroy"),
                         InstanceAccessor<&BpfObject::GetState>("state"),
                     });
}

BpfObject::BpfObject(const Napi::CallbackInfo &info) : Napi::ObjectWrap<BpfObject>(info) {
  Napi::Env env = info.Env();
  path_ = ArgString(info, 0, "path");
  LibbpfLogCapture log;
  struct bpf_object *obj = bpf_object__open_file(path_.c_str(), nullptr);
  if (obj == nullptr) {
    int e = errno;
    throw MakeError(env, kErrBpfOpen, e, "cannot open BPF object " + path_, log.Text());
  }
  obj_ = obj;
  alive_ = std::make_shared<bool>(true);
}

BpfObject::~BpfObject() { Release(); }

void BpfObject::Release() {
  for (auto &it : links_) bpf_link__destroy(it.second);
  links_.clear();
  for (auto &it : fd_links_) close(it.second);
  fd_links_.clear();
  if (obj_ != nullptr) bpf_object__close(obj_);
  obj_ = nullptr;
  if (alive_) *alive_ = false;
}

void BpfObject::RequireState(Napi::Env env, bool want_loaded, const char *what) const {
  if (obj_ == nullptr) throw MakeError(env, kErrBpfState, 0, std::string(what) + ": object was destroyed");
  if (loaded_ != want_loaded)
    throw MakeError(env, kErrBpfState, 0,
                    std::string(what) + (want_loaded ? ": object is not loaded yet" : ": object is already loaded"));
}

struct bpf_program *BpfObject::FindProgram(Napi::Env env, const std::string &name) const {
  struct bpf_program *prog = bpf_object__find_program_by_name(obj_, name.c_str());
  if (prog == nullptr) throw MakeError(env, kErrBpfNotFound, ENOENT, "no program '" + name + "' in " + path_);
  return prog;
}

struct bpf_map *BpfObject::FindMap(Napi::Env env, const std::string &name) const {
  struct bpf_map *map = bpf_object__find_map_by_name(obj_, name.c_str());
  if (map == nullptr) throw MakeError(env, kErrBpfNotFound, ENOENT, "no map '" + name + "' in " + path_);
  return map;
}

// libbpf names the internal map "<object name prefix>.rodata".
struct bpf_map *BpfObject::RodataMap() const {
  struct bpf_map *map;
  bpf_object__for_each_map(map, obj_) {
    const char *name = bpf_map__name(map);
    size_t len = std::strlen(name);
    if (bpf_map__is_internal(map) && len >= 7 && std::strcmp(name + len - 7, ".rodata") == 0) return map;
  }
  return nullptr;
}

Napi::Value BpfObject::Programs(const Napi::CallbackInfo &info) {
  Napi::Env env = info.Env();
  if (obj_ == nullptr) throw MakeError(env, kErrBpfState, 0, "programs: object was destroyed");
  Napi::Array out = Napi::Array::New(env);
  struct bpf_program *prog;
  uint32_t i = 0;
  bpf_object__for_each_program(prog, obj_) {
    Napi::Object p = Napi::Object::New(env);
    p.Set("name", bpf_program__name(prog));
    p.Set("section", bpf_program__section_name(prog));
    p.Set("autoload", bpf_program__autoload(prog));
    p.Set("type", static_cast<double>(bpf_program__type(prog)));
    p.Set("insns", static_cast<double>(bpf_program__insn_cnt(prog)));
    out.Set(i++, p);
  }
  return out;
}

// [{ name, id, runTimeNs, runCount, recursionMisses }] for loaded programs,
// from bpf_prog_info. run_time_ns/run_cnt only advance while the
// kernel.bpf_stats_enabled sysctl is 1.
// testRun(program, packet, repeat) -> { retval, durationNs }: BPF_PROG_TEST_RUN
// of a loaded packet program (XDP, skb) on a copy of `packet`, `repeat`
// times in the kernel; durationNs is the kernel's mean per run. For tests
// and benchmarks of the packet programs without a network.
Napi::Value BpfObject::TestRun(const Napi::CallbackInfo &info) {
  Napi::Env env = info.Env();
  RequireState(env, true, "testRun");
  std::string name = ArgString(info, 0, "program");
  if (info.Length() < 2 || !info[1].IsBuffer()) throw Napi::TypeError::New(env, "packet must be a Buffer");
  Napi::Buffer<uint8_t> pkt = info[1].As<Napi::Buffer<uint8_t>>();
  uint32_t repeat = info.Length() > 2 ? ArgUint32(info, 2, "repeat") : 1;
  struct bpf_program *prog = FindProgram(env, name);
  std::vector<uint8_t> in(pkt.Data(), pkt.Data() + pkt.Length());
  std::vector<uint8_t> out(in.size() + 256);
  LIBBPF_OPTS(bpf_test_run_opts, opts, .data_in = in.data(), .data_out = out.data(),
              .data_size_in = static_cast<uint32_t>(in.size()),
              .data_size_out = static_cast<uint32_t>(out.size()), .repeat = static_cast<int>(repeat));
  int err = bpf_prog_test_run_opts(bpf_program__fd(prog), &opts);
  if (err) throw MakeError(env, kErrBpfLoad, -err, "test run of " + name + " failed");
  Napi::Object r = Napi::Object::New(env);
  r.Set("retval", Napi::Number::New(env, opts.retval));
  r.Set("durationNs", Napi::Number::New(env, opts.duration));
  return r;
}

Napi::Value BpfObject::ProgramStats(const Napi::CallbackInfo &info) {
  Napi::Env env = info.Env();
  RequireState(env, true, "programStats");
  Napi::Array out = Napi::Array::New(env);
  struct bpf_program *prog;
  uint32_t i = 0;
  bpf_object__for_each_program(prog, obj_) {
    int fd = bpf_program__fd(prog);
    if (fd < 0) continue;  // not loaded (autoload off)
    struct bpf_prog_info pi = {};
    __u32 len = sizeof(pi);
    if (bpf_obj_get_info_by_fd(fd, &pi, &len) != 0)
      throw MakeError(env, kErrMapOp, errno, std::string("cannot read info of program ") + bpf_program__name(prog));
    Napi::Object p = Napi::Object::New(env);
    p.Set("name", bpf_program__name(prog));
    p.Set("id", static_cast<double>(pi.id));
    p.Set("runTimeNs", static_cast<double>(pi.run_time_ns));
    p.Set("runCount", static_cast<double>(pi.run_cnt));
    p.Set("recursionMisses", static_cast<double>(pi.recursion_misses));
    out.Set(i++, p);
  }
  return out;
}

Napi::Value BpfObject::Maps(const Napi::CallbackInfo &info) {
  Napi::Env env = info.Env();
  if (obj_ == nullptr) throw MakeError(env, kErrBpfState, 0, "maps: object was destroyed");
  Napi::Array out = Napi::Array::New(env);
  struct bpf_map *map;
  uint32_t i = 0;
  bpf_object__for_each_map(map, obj_) {
    Napi::Object m = Napi::Object::New(env);
    m.Set("name", bpf_map__name(map));
    m.Set("type", static_cast<double>(bpf_map__type(map)));
    m.Set("keySize", static_cast<double>(bpf_map__key_size(map)));
    m.Set("valueSize", static_cast<double>(bpf_map__value_size(map)));
    m.Set("maxEntries", static_cast<double>(bpf_map__max_entries(map)));
    m.Set("internal", bpf_map__is_internal(map));
    out.Set(i++, m);
  }
  return out;
}

// [{ name, offset, size }] of the .rodata variables, from the object's BTF.
Napi::Value BpfObject::RodataVars(const Napi::CallbackInfo &info) {
  Napi::Env env = info.Env();
  if (obj_ == nullptr) throw MakeError(env, kErrBpfState, 0, "rodataVars: object was destroyed");
  Napi::Array out = Napi::Array::New(env);
  struct btf *btf = bpf_object__btf(obj_);
  if (btf == nullptr) return out;
  int id = btf__find_by_name_kind(btf, ".rodata", BTF_KIND_DATASEC);
  if (id < 0) return out;
  const struct btf_type *sec = btf__type_by_id(btf, id);
  const struct btf_var_secinfo *vs = btf_var_secinfos(sec);
  for (uint32_t i = 0; i < btf_vlen(sec); i++, vs++) {
    const struct btf_type *var = btf__type_by_id(btf, vs->type);
    Napi::Object v = Napi::Object::New(env);
    v.Set("name", btf__name_by_offset(btf, var->name_off));
    v.Set("offset", static_cast<double>(vs->offset));
    v.Set("size", static_cast<double>(vs->size));
    out.Set(i, v);
  }
  return out;
}

Napi::Value BpfObject::SetAutoload(const Napi::CallbackInfo &info) {
  Napi::Env env = info.Env();
  RequireState(env, false, "setAutoload");
  std::string name = ArgString(info, 0, "program");
  bool on = ArgBool(info, 1, "autoload");
  int err = bpf_program__set_autoload(FindProgram(env, name), on);
  if (err) throw MakeError(env, kErrBpfState, -err, "setAutoload(" + name + ") failed");
  return env.Undefined();
}

Napi::Value BpfObject::SetMaxEntries(const Napi::CallbackInfo &info) {
  Napi::Env env = info.Env();
  RequireState(env, false, "setMaxEntries");
  std::string name = ArgString(info, 0, "map");
  uint32_t n = ArgUint32(info, 1, "maxEntries");
  int err = bpf_map__set_max_entries(FindMap(env, name), n);
  if (err) throw MakeError(env, kErrInvalidArg, -err, "setMaxEntries(" + name + ", " + std::to_string(n) + ") failed");
  return env.Undefined();
}

// setRodata(name, bytes): writes a `const volatile` global before load. The
// byte length must equal the variable's size; encoding is the caller's job.
Napi::Value BpfObject::SetRodata(const Napi::CallbackInfo &info) {
  Napi::Env env = info.Env();
  RequireState(env, false, "setRodata");
  std::string name = ArgString(info, 0, "name");
  auto bytes = ArgBuffer(info, 1, "value");
  struct btf *btf = bpf_object__btf(obj_);
  struct bpf_map *map = RodataMap();
  int id = btf ? btf__find_by_name_kind(btf, ".rodata", BTF_KIND_DATASEC) : -1;
  if (map == nullptr || id < 0) throw MakeError(env, kErrBpfNotFound, ENOENT, "object has no .rodata section");
  size_t data_size = 0;
  auto *data = static_cast<uint8_t *>(const_cast<void *>(bpf_map__initial_value(map, &data_size)));
  const struct btf_type *sec = btf__type_by_id(btf, id);
  const struct btf_var_secinfo *vs = btf_var_secinfos(sec);
  for (uint32_t i = 0; i < btf_vlen(sec); i++, vs++) {
    const struct btf_type *var = btf__type_by_id(btf, vs->type);
    if (name != btf__name_by_offset(btf, var->name_off)) continue;
    if (bytes.Length() != vs->size)
      throw MakeError(env, kErrInvalidArg, 0,
                      "rodata '" + name + "' is " + std::to_string(vs->size) + " bytes, got " +
                          std::to_string(bytes.Length()));
    if (data == nullptr || vs->offset + vs->size > data_size)
      throw MakeError(env, kErrBpfState, 0, "rodata '" + name + "' is outside the .rodata image");
    std::memcpy(data + vs->offset, bytes.Data(), vs->size);
    return env.Undefined();
  }
  throw MakeError(env, kErrBpfNotFound, ENOENT, "no rodata variable '" + name + "'");
}

// setPinPath(map, path | null): libbpf reuses a compatible map pinned there
// at load time, or pins the new one there.
Napi::Value BpfObject::SetPinPath(const Napi::CallbackInfo &info) {
  Napi::Env env = info.Env();
  RequireState(env, false, "setPinPath");
  std::string name = ArgString(info, 0, "map");
  std::string path;
  bool clear = info.Length() < 2 || info[1].IsNull();
  if (!clear) path = ArgString(info, 1, "path");
  int err = bpf_map__set_pin_path(FindMap(env, name), clear ? nullptr : path.c_str());
  if (err) throw MakeError(env, kErrInvalidArg, -err, "setPinPath(" + name + ") failed");
  return env.Undefined();
}

Napi::Value BpfObject::Load(const Napi::CallbackInfo &info) {
  Napi::Env env = info.Env();
  RequireState(env, false, "load");
  LibbpfLogCapture log;
  int err = bpf_object__load(obj_);
  if (err) throw MakeError(env, kErrBpfLoad, -err, "loading " + path_ + " failed", log.Text());
  loaded_ = true;
  return env.Undefined();
}

// attach(program, { cgroupPath?, ifindex? }) -> link id. Programs attach the
// way their section says (tp/, tp_btf/, lsm/); cgroup programs need the
// cgroup v2 directory to attach to, XDP programs the interface index.
Napi::Value BpfObject::Attach(const Napi::CallbackInfo &info) {
  Napi::Env env = info.Env();
  RequireState(env, true, "attach");
  std::string name = ArgString(info, 0, "program");
  std::string cgroup;
  int ifindex = 0;
  uint32_t xdp_flags = 0;
  if (info.Length() > 1 && info[1].IsObject()) {
    Napi::Value v = info[1].As<Napi::Object>().Get("cgroupPath");
    if (v.IsString()) cgroup = v.As<Napi::String>().Utf8Value();
    Napi::Value ifv = info[1].As<Napi::Object>().Get("ifindex");
    if (ifv.IsNumber()) ifindex = ifv.As<Napi::Number>().Int32Value();
    Napi::Value fv = info[1].As<Napi::Object>().Get("xdpFlags");
    if (fv.IsNumber()) xdp_flags = fv.As<Napi::Number>().Uint32Value();
  }
  struct bpf_program *prog = FindProgram(env, name);
  LibbpfLogCapture log;
  struct bpf_link *link;
  if (ifindex > 0 && xdp_flags != 0) {
    // XDP in a forced mode (XDP_FLAGS_SKB_MODE: generic), still a bpf_link
    // so the kernel detaches it when the fd closes or the process exits.
    LIBBPF_OPTS(bpf_link_create_opts, opts, .flags = xdp_flags);
    int lfd = bpf_link_create(bpf_program__fd(prog), ifindex, BPF_XDP, &opts);
    if (lfd < 0) {
      int e = -lfd;  // libbpf 1.x low-level calls return -errno
      throw MakeError(env, kErrBpfAttach, e, "attaching " + name + " failed", log.Text());
    }
    uint32_t id = next_link_id_++;
    fd_links_[id] = lfd;
    return Napi::Number::New(env, id);
  }
  if (ifindex > 0) {
    // XDP through a bpf_link: the kernel picks driver mode when the driver
    // has it, generic (skb) mode otherwise, and detaches when the link is
    // destroyed or the process exits.
    link = bpf_program__attach_xdp(prog, ifindex);
  } else if (!cgroup.empty()) {
    int fd = open(cgroup.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0) throw MakeError(env, kErrBpfAttach, errno, "cannot open cgroup " + cgroup + " for " + name);
    link = bpf_program__attach_cgroup(prog, fd);
    int e = errno;
    close(fd);
    errno = e;
  } else {
    link = bpf_program__attach(prog);
  }
  if (link == nullptr) {
    int e = errno;
    throw MakeError(env, kErrBpfAttach, e, "attaching " + name + " failed", log.Text());
  }
  uint32_t id = next_link_id_++;
  links_[id] = link;
  return Napi::Number::New(env, id);
}

Napi::Value BpfObject::Detach(const Napi::CallbackInfo &info) {
  Napi::Env env = info.Env();
  uint32_t id = ArgUint32(info, 0, "linkId");
  auto fit = fd_links_.find(id);
  if (fit != fd_links_.end()) {
    close(fit->second);
    fd_links_.erase(fit);
    return Napi::Boolean::New(env, true);
  }
  auto it = links_.find(id);
  if (it == links_.end()) return Napi::Boolean::New(env, false);
  bpf_link__destroy(it->second);
  links_.erase(it);
  return Napi::Boolean::New(env, true);
}

Napi::Value BpfObject::Map(const Napi::CallbackInfo &info) {
  Napi::Env env = info.Env();
  RequireState(env, true, "map");
  std::string name = ArgString(info, 0, "name");
  struct bpf_map *map = FindMap(env, name);
  MapInfo mi;
  mi.name = bpf_map__name(map);
  mi.type = bpf_map__type(map);
  mi.key_size = bpf_map__key_size(map);
  mi.value_size = bpf_map__value_size(map);
  mi.max_entries = bpf_map__max_entries(map);
  return BpfMap::Create(env, bpf_map__fd(map), false, mi, alive_, Value());
}

Napi::Value BpfObject::Destroy(const Napi::CallbackInfo &info) {
  Release();
  return info.Env().Undefined();
}

Napi::Value BpfObject::GetState(const Napi::CallbackInfo &info) {
  Napi::Env env = info.Env();
  const char *s = obj_ == nullptr ? "destroyed" : loaded_ ? "loaded" : "opened";
  return Napi::String::New(env, s);
}

}  // namespace aegis

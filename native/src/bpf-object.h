// SPDX-License-Identifier: Apache-2.0
// A libbpf object through its lifecycle: open -> configure (autoload,
// rodata, map sizes, pin paths) -> load -> attach/detach -> destroy.
// Pairs with src/sensor/bpf-object.ts, which decides what to configure.
#pragma once

#include <napi.h>

#include <map>
#include <memory>
#include <string>

struct bpf_object;
struct bpf_link;
struct bpf_map;
struct bpf_program;

namespace aegis {

class BpfObject : public Napi::ObjectWrap<BpfObject> {
 public:
  static Napi::Function Init(Napi::Env env);
  explicit BpfObject(const Napi::CallbackInfo &info);  // new BpfObject(path)
  ~BpfObject() override;

 private:
  Napi::Value Programs(const Napi::CallbackInfo &info);
  Napi::Value ProgramStats(const Napi::CallbackInfo &info);
  Napi::Value TestRun(const Napi::CallbackInfo &info);
  Napi::Value Maps(const Napi::CallbackInfo &info);
  Napi::Value RodataVars(const Napi::CallbackInfo &info);
  Napi::Value SetAutoload(const Napi::CallbackInfo &info);
  Napi::Value SetMaxEntries(const Napi::CallbackInfo &info);
  Napi::Value SetRodata(const Napi::CallbackInfo &info);
  Napi::Value SetPinPath(const Napi::CallbackInfo &info);
  Napi::Value Load(const Napi::CallbackInfo &info);
  Napi::Value Attach(const Napi::CallbackInfo &info);
  Napi::Value Detach(const Napi::CallbackInfo &info);
  Napi::Value Map(const Napi::CallbackInfo &info);
  Napi::Value Destroy(const Napi::CallbackInfo &info);
  Napi::Value GetState(const Napi::CallbackInfo &info);

  void Release();
  void RequireState(Napi::Env env, bool want_loaded, const char *what) const;
  struct bpf_program *FindProgram(Napi::Env env, const std::string &name) const;
  struct bpf_map *FindMap(Napi::Env env, const std::string &name) const;
  struct bpf_map *RodataMap() const;

  std::string path_;
  struct bpf_object *obj_ = nullptr;
  bool loaded_ = false;
  std::map<uint32_t, struct bpf_link *> links_;
  // XDP links made with explicit mode flags (bpf_link_create): plain link
  // fds, closed to detach. Same id space as links_.
  std::map<uint32_t, int> fd_links_;
  uint32_t next_link_id_ = 1;
  // Shared with every map handle handed out: flips to false on destroy so a
  // stale handle fails cleanly instead of using a closed (or reused) fd.
  std::shared_ptr<bool> alive_;
};

}  // namespace aegis

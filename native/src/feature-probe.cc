// SPDX-License-Identifier: Apache-2.0
#include "feature-probe.h"

#include <bpf/libbpf.h>
#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <string>

#include "errors.h"
#include "libbpf-log.h"

namespace aegis {

Napi::Value ProbeProgram(const Napi::CallbackInfo &info) {
  Napi::Env env = info.Env();
  std::string path = ArgString(info, 0, "objectPath");
  std::string name = ArgString(info, 1, "programName");
  bool attach = false;
  std::string cgroup;
  if (info.Length() > 2 && info[2].IsObject()) {
    Napi::Object opts = info[2].As<Napi::Object>();
    attach = opts.Get("attach").ToBoolean().Value();
    if (opts.Get("cgroupPath").IsString()) cgroup = opts.Get("cgroupPath").As<Napi::String>().Utf8Value();
  }

  LibbpfLogCapture log;
  Napi::Object out = Napi::Object::New(env);
  out.Set("loaded", false);
  out.Set("loadErrno", 0);
  out.Set("attached", false);
  out.Set("attachErrno", 0);

  struct bpf_object *obj = bpf_object__open_file(path.c_str(), nullptr);
  if (obj == nullptr) throw MakeError(env, kErrBpfOpen, errno, "cannot open probe object " + path, log.Text());
  struct bpf_program *target = nullptr;
  struct bpf_program *prog;
  bpf_object__for_each_program(prog, obj) {
    bool mine = name == bpf_program__name(prog);
    bpf_program__set_autoload(prog, mine);
    if (mine) target = prog;
  }
  if (target == nullptr) {
    bpf_object__close(obj);
    throw MakeError(env, kErrBpfNotFound, ENOENT, "no program '" + name + "' in " + path);
  }

  int err = bpf_object__load(obj);
  if (err) {
    out.Set("loadErrno", -err);
  } else {
    out.Set("loaded", true);
    if (attach) {
      struct bpf_link *link;
      errno = 0;
      if (!cgroup.empty()) {
        int fd = open(cgroup.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        link = fd < 0 ? nullptr : bpf_program__attach_cgroup(target, fd);
        int e = errno;
        if (fd >= 0) close(fd);
        errno = e;
      } else {
        link = bpf_program__attach(target);
      }
      if (link == nullptr) {
        out.Set("attachErrno", errno ? errno : EINVAL);
      } else {
        out.Set("attached", true);
        bpf_link__destroy(link);  // probes never stay attached
      }
    }
  }
  out.Set("log", log.Text());
  bpf_object__close(obj);
  return out;
}

}  // namespace aegis

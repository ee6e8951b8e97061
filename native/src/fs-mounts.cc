// SPDX-License-Identifier: Apache-2.0
#include "fs-mounts.h"

#include <sys/mount.h>
#include <sys/vfs.h>

#include <cerrno>
#include <string>

#include "errors.h"

namespace aegis {

Napi::Value StatfsType(const Napi::CallbackInfo &info) {
  Napi::Env env = info.Env();
  std::string path = ArgString(info, 0, "path");
  struct statfs st;
  if (statfs(path.c_str(), &st) != 0) return env.Null();
  return Napi::Number::New(env, static_cast<double>(static_cast<unsigned long>(st.f_type)));
}

Napi::Value MountFs(const Napi::CallbackInfo &info) {
  Napi::Env env = info.Env();
  std::string fstype = ArgString(info, 0, "fstype");
  std::string target = ArgString(info, 1, "target");
  std::string data = info.Length() > 2 && info[2].IsString() ? info[2].As<Napi::String>().Utf8Value() : "";
  if (fstype != "tracefs" && fstype != "bpf")
    throw MakeError(env, kErrInvalidArg, 0, "mountFs only mounts tracefs or bpf, not " + fstype);
  if (mount(fstype.c_str(), target.c_str(), fstype.c_str(), MS_NOSUID | MS_NODEV | MS_NOEXEC,
            data.empty() ? nullptr : data.c_str()) != 0)
    throw MakeError(env, kErrMount, errno, "cannot mount " + fstype + " on " + target);
  return env.Undefined();
}

}  // namespace aegis

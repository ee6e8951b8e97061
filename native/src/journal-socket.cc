// SPDX-License-Identifier: Apache-2.0
#include "journal-socket.h"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <string>

#include "errors.h"

namespace aegis {

namespace {

// One socket for the process: sendto names the destination each time, so
// sinks with different socket paths share it. Only the JS thread uses it.
int journal_fd = -1;

// A unix datagram stays charged to the sender's send buffer until journald
// reads it, so the default (about 208 KiB) would make a burst of entries fail
// with EAGAIN while journald is merely behind. libsystemd asks for 8 MiB too;
// SO_SNDBUFFORCE passes net.core.wmem_max where we have CAP_NET_ADMIN.
constexpr int kSendBufferBytes = 8 * 1024 * 1024;

int JournalFd() {
  if (journal_fd >= 0) return journal_fd;
  journal_fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
  if (journal_fd >= 0) {
    int size = kSendBufferBytes;
    if (setsockopt(journal_fd, SOL_SOCKET, SO_SNDBUFFORCE, &size, sizeof(size)) != 0)
      setsockopt(journal_fd, SOL_SOCKET, SO_SNDBUF, &size, sizeof(size));
  }
  return journal_fd;
}

bool FillAddress(const std::string &path, sockaddr_un *addr, socklen_t *len) {
  if (path.empty() || path.size() >= sizeof(addr->sun_path)) return false;
  std::memset(addr, 0, sizeof(*addr));
  addr->sun_family = AF_UNIX;
  std::memcpy(addr->sun_path, path.data(), path.size());
  *len = static_cast<socklen_t>(offsetof(sockaddr_un, sun_path) + path.size() + 1);
  return true;
}

// The entry in a memfd sealed against any change (journald refuses an
// unsealed one: the sender could alter it while journald reads it), passed
// as the only content of an otherwise empty datagram.
int SendThroughMemfd(int fd, const sockaddr_un &addr, socklen_t addr_len, const uint8_t *data, size_t size) {
  int mfd = memfd_create("aegisbpf-journal", MFD_CLOEXEC | MFD_ALLOW_SEALING);
  if (mfd < 0) return -errno;
  size_t done = 0;
  while (done < size) {
    ssize_t n = write(mfd, data + done, size - done);
    if (n < 0) {
      if (errno == EINTR) continue;
      int err = errno;
      close(mfd);
      return -err;
    }
    done += static_cast<size_t>(n);
  }
  if (fcntl(mfd, F_ADD_SEALS, F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_WRITE | F_SEAL_SEAL) < 0) {
    int err = errno;
    close(mfd);
    return -err;
  }
  union {
    struct cmsghdr header;
    char buffer[CMSG_SPACE(sizeof(int))];
  } control;
  std::memset(&control, 0, sizeof(control));
  struct msghdr msg;
  std::memset(&msg, 0, sizeof(msg));
  msg.msg_name = const_cast<sockaddr_un *>(&addr);
  msg.msg_namelen = addr_len;
  msg.msg_control = control.buffer;
  msg.msg_controllen = sizeof(control.buffer);
  struct cmsghdr *cmsg = CMSG_FIRSTHDR(&msg);
  cmsg->cmsg_level = SOL_SOCKET;
  cmsg->cmsg_type = SCM_RIGHTS;
  cmsg->cmsg_len = CMSG_LEN(sizeof(int));
  std::memcpy(CMSG_DATA(cmsg), &mfd, sizeof(int));
  ssize_t sent = sendmsg(fd, &msg, MSG_NOSIGNAL);
  int err = sent < 0 ? errno : 0;
  close(mfd);  // journald holds its own copy of the descriptor once sent
  return sent < 0 ? -err : 1;
}

}  // namespace

Napi::Value JournalSend(const Napi::CallbackInfo &info) {
  Napi::Env env = info.Env();
  std::string path = ArgString(info, 0, "socketPath");
  if (info.Length() < 2 || !info[1].IsTypedArray())
    throw MakeError(env, kErrInvalidArg, 0, "journalSend: payload must be a Buffer");
  Napi::Uint8Array payload = info[1].As<Napi::Uint8Array>();
  bool force_memfd = info.Length() > 2 && info[2].IsBoolean() && info[2].As<Napi::Boolean>().Value();
  sockaddr_un addr;
  socklen_t addr_len;
  if (!FillAddress(path, &addr, &addr_len))
    throw MakeError(env, kErrInvalidArg, 0, "journalSend: socket path is empty or longer than 107 bytes");
  int fd = JournalFd();
  if (fd < 0) return Napi::Number::New(env, -errno);
  const uint8_t *data = payload.Data();
  size_t size = payload.ByteLength();
  if (!force_memfd) {
    ssize_t sent = sendto(fd, data, size, MSG_NOSIGNAL, reinterpret_cast<sockaddr *>(&addr), addr_len);
    if (sent >= 0) return Napi::Number::New(env, 0);
    // EMSGSIZE: larger than the socket's send buffer allows in one datagram;
    // ENOBUFS: the kernel could not allocate it.
    if (errno != EMSGSIZE && errno != ENOBUFS) return Napi::Number::New(env, -errno);
  }
  return Napi::Number::New(env, SendThroughMemfd(fd, addr, addr_len, data, size));
}

Napi::Value JournalProbe(const Napi::CallbackInfo &info) {
  Napi::Env env = info.Env();
  std::string path = ArgString(info, 0, "socketPath");
  sockaddr_un addr;
  socklen_t addr_len;
  if (!FillAddress(path, &addr, &addr_len))
    throw MakeError(env, kErrInvalidArg, 0, "journalProbe: socket path is empty or longer than 107 bytes");
  int fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
  if (fd < 0) return Napi::Number::New(env, -errno);
  int rc = connect(fd, reinterpret_cast<sockaddr *>(&addr), addr_len) == 0 ? 0 : -errno;
  close(fd);
  return Napi::Number::New(env, rc);
}

}  // namespace aegis

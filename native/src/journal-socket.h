// SPDX-License-Identifier: Apache-2.0
// Sending one entry to systemd-journald over its native protocol socket
// (/run/systemd/journal/socket, an AF_UNIX datagram socket). Node has no
// unix datagram sockets and cannot pass file descriptors (SCM_RIGHTS) on
// one, which journald's large-entry path needs, so the two system calls
// live here. Pairs with src/sinks/journald/transport.ts.
#pragma once

#include <napi.h>

namespace aegis {

// journalSend(socketPath, payload, forceMemfd?) -> number:
//   0  the entry went as one datagram;
//   1  it went through a sealed memfd passed with SCM_RIGHTS (forceMemfd, or
//      too large for one datagram);
//   <0 minus errno of the failure (-EAGAIN: journald's queue is full).
// Never blocks: the socket is non-blocking.
Napi::Value JournalSend(const Napi::CallbackInfo &info);

// journalProbe(socketPath) -> 0 when a process listens on the socket (a
// datagram connect() succeeds), else minus errno (ECONNREFUSED: the socket
// file is left over from a journald that stopped). Sends nothing.
Napi::Value JournalProbe(const Napi::CallbackInfo &info);

}  // namespace aegis

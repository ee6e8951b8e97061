// SPDX-License-Identifier: Apache-2.0
#include "libbpf-log.h"

#include <bpf/libbpf.h>

#include <cstdarg>
#include <cstdio>

namespace aegis {

namespace {

// Bound on captured text: verifier logs of big programs run to megabytes and
// the interesting part is the end.
constexpr size_t kMaxLogBytes = 16 * 1024;

// All libbpf calls happen on the JS thread, so one active capture suffices.
thread_local LibbpfLogCapture *g_active = nullptr;
thread_local std::string g_text;

int Print(enum libbpf_print_level level, const char *fmt, va_list args) {
  if (level == LIBBPF_DEBUG || g_active == nullptr) return 0;
  char line[1024];
  int n = vsnprintf(line, sizeof(line), fmt, args);
  if (n <= 0) return 0;
  g_text.append(line, static_cast<size_t>(n) < sizeof(line) ? static_cast<size_t>(n) : sizeof(line) - 1);
  if (g_text.size() > kMaxLogBytes) g_text.erase(0, g_text.size() - kMaxLogBytes);
  return 0;
}

}  // namespace

void InstallLibbpfLog() { libbpf_set_print(Print); }

LibbpfLogCapture::LibbpfLogCapture() : prev_(g_active) {
  g_active = this;
  g_text.clear();
}

LibbpfLogCapture::~LibbpfLogCapture() { g_active = prev_; }

std::string LibbpfLogCapture::Text() const { return g_text; }

}  // namespace aegis

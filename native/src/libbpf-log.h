// SPDX-License-Identifier: Apache-2.0
// libbpf prints warnings and verifier logs through one global callback. We
// capture them per operation so a failed load can hand the verifier's words
// to JS (error.log) instead of spraying stderr; debug output is dropped.
#pragma once

#include <string>

namespace aegis {

void InstallLibbpfLog();

// RAII: while alive, libbpf output is collected (bounded, keeps the tail).
class LibbpfLogCapture {
 public:
  LibbpfLogCapture();
  ~LibbpfLogCapture();
  std::string Text() const;

 private:
  LibbpfLogCapture *prev_;
};

}  // namespace aegis

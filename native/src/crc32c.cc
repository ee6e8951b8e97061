// SPDX-License-Identifier: Apache-2.0
#include "crc32c.h"

#include <cstdint>
#include <cstring>

#include "errors.h"

#if defined(__x86_64__)
#include <nmmintrin.h>
#endif

namespace aegis {

namespace {

// must match: src/sinks/core/disk-format.ts RECORD_HEADER_BYTES
constexpr size_t kRecordHeaderBytes = 16;

// Reflected Castagnoli polynomial, as src/util/crc32c.ts.
constexpr uint32_t kPoly = 0x82F63B78u;

struct Table {
  uint32_t t[256];
  Table() {
    for (uint32_t n = 0; n < 256; n++) {
      uint32_t c = n;
      for (int k = 0; k < 8; k++) c = (c & 1) ? kPoly ^ (c >> 1) : c >> 1;
      t[n] = c;
    }
  }
};

uint32_t SoftUpdate(uint32_t c, const uint8_t *p, size_t n) {
  static const Table table;
  while (n--) c = table.t[(c ^ *p++) & 0xff] ^ (c >> 8);
  return c;
}

#if defined(__x86_64__)
// The SSE4.2 crc32 instruction computes exactly this polynomial, 8 bytes per step.
__attribute__((target("sse4.2"))) uint32_t HardUpdate(uint32_t c, const uint8_t *p, size_t n) {
  uint64_t c64 = c;
  for (; n >= 8; n -= 8, p += 8) {
    uint64_t v;
    std::memcpy(&v, p, 8);
    c64 = _mm_crc32_u64(c64, v);
  }
  uint32_t c32 = static_cast<uint32_t>(c64);
  for (; n > 0; n--) c32 = _mm_crc32_u8(c32, *p++);
  return c32;
}

const bool kHasSse42 = __builtin_cpu_supports("sse4.2");
#endif

uint32_t Checksum(const uint8_t *p, size_t n) {
#if defined(__x86_64__)
  if (kHasSse42) return ~HardUpdate(~0u, p, n);
#endif
  return ~SoftUpdate(~0u, p, n);
}

uint32_t ReadLe32(const uint8_t *p) {
  return static_cast<uint32_t>(p[0]) | (static_cast<uint32_t>(p[1]) << 8) | (static_cast<uint32_t>(p[2]) << 16) |
         (static_cast<uint32_t>(p[3]) << 24);
}

void WriteLe32(uint8_t *p, uint32_t v) {
  p[0] = v & 0xff;
  p[1] = (v >> 8) & 0xff;
  p[2] = (v >> 16) & 0xff;
  p[3] = (v >> 24) & 0xff;
}

}  // namespace

Napi::Value Crc32c(const Napi::CallbackInfo &info) {
  Napi::Buffer<uint8_t> bytes = ArgBuffer(info, 0, "bytes");
  const uint32_t start = ArgUint32(info, 1, "start");
  const uint32_t end = ArgUint32(info, 2, "end");
  if (start > end || end > bytes.Length())
    throw MakeError(info.Env(), kErrInvalidArg, 0, "crc32c: start and end must satisfy start <= end <= length");
  return Napi::Number::New(info.Env(), Checksum(bytes.Data() + start, end - start));
}

Napi::Value Crc32cRecords(const Napi::CallbackInfo &info) {
  Napi::Buffer<uint8_t> buf = ArgBuffer(info, 0, "buf");
  const size_t end = ArgUint32(info, 1, "end");
  if (end > buf.Length()) throw MakeError(info.Env(), kErrInvalidArg, 0, "crc32cRecords: end is past the buffer");
  uint8_t *data = buf.Data();
  size_t at = 0;
  uint32_t count = 0;
  while (at < end) {
    if (end - at < kRecordHeaderBytes || end - at - kRecordHeaderBytes < ReadLe32(data + at))
      throw MakeError(info.Env(), kErrInvalidArg, 0, "crc32cRecords: a record runs past end");
    const size_t payload = ReadLe32(data + at);
    // The checksum covers seq (8 bytes) and payload, as writeRecordHeader in disk-format.ts.
    WriteLe32(data + at + 4, Checksum(data + at + 8, 8 + payload));
    at += kRecordHeaderBytes + payload;
    count++;
  }
  return Napi::Number::New(info.Env(), count);
}

}  // namespace aegis

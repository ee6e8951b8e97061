// SPDX-License-Identifier: Apache-2.0
// CRC-32C for the disk buffer's records. Pairs with src/sinks/core/disk-format.ts
// (the record layout) and src/util/crc32c.ts (the same checksum in TypeScript,
// used when the addon is not built): the disk buffer checksums one write's
// records with one call instead of one JavaScript pass per record.
#pragma once

#include <napi.h>

namespace aegis {

// crc32c(bytes, start, end) -> CRC-32C of bytes[start, end).
Napi::Value Crc32c(const Napi::CallbackInfo &info);
// crc32cRecords(buf, end) -> records checksummed. buf[0, end) holds whole
// records (u32 length | u32 crc | u64 seq | payload, little-endian) whose crc
// field is filled with the CRC-32C of seq and payload. Throws AEGIS_ERR_NATIVE_INVALID_ARG
// when a record's length runs past end.
Napi::Value Crc32cRecords(const Napi::CallbackInfo &info);

}  // namespace aegis

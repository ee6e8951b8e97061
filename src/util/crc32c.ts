/**
 * CRC-32C (Castagnoli, reflected polynomial 0x82F63B78), slicing-by-8: the checksum of the disk buffer's records.
 *
 * Why CRC-32C and not xxhash: it is a checksum designed to detect corruption (Hamming distance 6 for records up to
 * about 5 KiB, every burst error up to 32 bits), it is what ext4, iSCSI, Kafka's record batches and LevelDB/RocksDB
 * logs use, and it is simple enough to implement here from its definition (no dependency, no native code). xxhash
 * is a faster hash, but gives no burst-error guarantee. Node's zlib.crc32 is the IEEE polynomial, not this one.
 * Throughput in JavaScript is about 1 byte per ns, well above what a sink delivers.
 */

const TABLES: Uint32Array[] = (() => {
  const tables: Uint32Array[] = [];
  const t0 = new Uint32Array(256);
  for (let n = 0; n < 256; n++) {
    let c = n;
    for (let k = 0; k < 8; k++) c = c & 1 ? 0x82f63b78 ^ (c >>> 1) : c >>> 1;
    t0[n] = c >>> 0;
  }
  tables.push(t0);
  for (let t = 1; t < 8; t++) {
    const prev = tables[t - 1] as Uint32Array;
    const cur = new Uint32Array(256);
    for (let n = 0; n < 256; n++) cur[n] = ((prev[n] as number) >>> 8) ^ (t0[(prev[n] as number) & 0xff] as number);
    tables.push(cur);
  }
  return tables;
})();

/** CRC-32C of bytes[start, end), continuing from `crc` (0 for a new checksum). */
export function crc32c(bytes: Uint8Array, start = 0, end = bytes.length, crc = 0): number {
  const [t0, t1, t2, t3, t4, t5, t6, t7] = TABLES as [
    Uint32Array,
    Uint32Array,
    Uint32Array,
    Uint32Array,
    Uint32Array,
    Uint32Array,
    Uint32Array,
    Uint32Array,
  ];
  let c = ~crc >>> 0;
  let i = start;
  for (; i + 8 <= end; i += 8) {
    const a = (c ^ (bytes[i]! | (bytes[i + 1]! << 8) | (bytes[i + 2]! << 16) | (bytes[i + 3]! << 24))) >>> 0;
    c =
      t7[a & 0xff]! ^
      t6[(a >>> 8) & 0xff]! ^
      t5[(a >>> 16) & 0xff]! ^
      t4[a >>> 24]! ^
      t3[bytes[i + 4]!]! ^
      t2[bytes[i + 5]!]! ^
      t1[bytes[i + 6]!]! ^
      t0[bytes[i + 7]!]!;
  }
  for (; i < end; i++) c = t0[(c ^ bytes[i]!) & 0xff]! ^ (c >>> 8);
  return ~c >>> 0;
}

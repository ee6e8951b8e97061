/**
 * A batch's records as one request or write body, written straight into one Buffer of the known size: no batch-sized
 * string is built first, which would be a V8 large object (a batch is ~1 MiB; anything above ~128 KiB is one) that
 * only a full GC frees, and then copied once more into bytes (docs/benchmarks.md, pipeline).
 */
import type { EncodedRecord } from './types';

/**
 * Room after the last record of a body written from measured sizes: a record longer than its `bytes` then always
 * writes more than `bytes` (a UTF-8 character is at most 4 bytes), so the mismatch is seen, never truncated away.
 */
export const SIZE_SLACK = 4;

/**
 * The records back to back, or one per line with `newlines`. `bytes` of a record is its UTF-8 length as the sink
 * core measured it; a record whose written size differs (a custom size function) makes the body be built the plain
 * way instead: never a truncated or padded body.
 */
export function concatRecords(records: readonly EncodedRecord<string>[], newlines: boolean): Buffer {
  let total = 0;
  for (const r of records) total += r.bytes + (newlines ? 1 : 0);
  const out = Buffer.allocUnsafe(total + SIZE_SLACK);
  let at = 0;
  for (const r of records) {
    const written = out.write(r.data, at, 'utf8');
    if (written !== r.bytes) return Buffer.from(records.map((x) => x.data + (newlines ? '\n' : '')).join(''), 'utf8');
    at += written;
    if (newlines) out[at++] = 0x0a;
  }
  return out.subarray(0, total);
}

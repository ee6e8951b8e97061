/**
 * Typed helpers over native map handles (pairs with native/src/bpf-map.cc): key/value encoding for the ABI
 * structs and per-CPU sums.
 */
import type { StructLayout } from './abi';

const ZERO_KEY = Buffer.alloc(4);

/** The u32 key 0 (single-entry array maps: stats, config). */
export function zeroKey(): Buffer {
  return ZERO_KEY;
}

/**
 * Sums a u64 field (or array of u64 of `field.size / 8`) over all CPUs of a per-CPU array value.
 * Per-CPU values are laid out CPU after CPU, each rounded up to 8 bytes.
 */
export function sumPercpuU64(value: Buffer, layout: StructLayout, field: string, possibleCpus: number): number[] {
  const f = layout.fields[field];
  if (f === undefined) throw new Error(`no field ${field} in ${layout.cName}`);
  const stride = Math.ceil(layout.size / 8) * 8;
  const slots = f.size / 8;
  const out = new Array<number>(slots).fill(0);
  for (let cpu = 0; cpu < possibleCpus; cpu++) {
    const base = cpu * stride + f.offset;
    if (base + f.size > value.length) break;
    for (let i = 0; i < slots; i++) {
      out[i] =
        (out[i] as number) + value.readUInt32LE(base + i * 8) + value.readUInt32LE(base + i * 8 + 4) * 4294967296;
    }
  }
  return out;
}

/**
 * Turning kernel bytes into JSON-safe values, deterministically.
 *
 * Strings from the kernel (comm, paths, argv) are attacker-controlled bytes, not text. They are decoded as UTF-8
 * with the WHATWG replacement rule: every maximal ill-formed subsequence becomes one U+FFFD. Valid UTF-8 passes
 * through unchanged (so every legitimate path round-trips), the same bytes always give the same string, and the
 * result is always a well-formed JS string without lone surrogates, which JSON.stringify can always encode. The
 * cost is that distinct invalid byte sequences can map to the same string; `path` fields are for humans and SIEM
 * rules, while `ino`/`dev` identify the file exactly.
 */

/** Decoder instance: TextDecoder is WHATWG-conformant by definition (Buffer#toString is too, but says less). */
const utf8 = new TextDecoder('utf-8', { fatal: false, ignoreBOM: true });

/** Bytes [start, end) as text; ASCII fast path (most paths, every comm of a normal process). */
export function decodeText(buf: Buffer, start: number, end: number): string {
  if (end <= start) return '';
  for (let i = start; i < end; i++) {
    if ((buf[i] as number) >= 0x80) return utf8.decode(buf.subarray(start, end));
  }
  return buf.toString('latin1', start, end);
}

/** A NUL-terminated string stored in a fixed field of `size` bytes. */
export function decodeCString(buf: Buffer, start: number, size: number): string {
  let end = start;
  const limit = start + size;
  while (end < limit && buf[end] !== 0) end++;
  return decodeText(buf, start, end);
}

/** NUL-separated strings (argv). A trailing string without NUL (truncated) is kept. */
export function decodeStringList(buf: Buffer, start: number, end: number): string[] {
  const out: string[] = [];
  let s = start;
  for (let i = start; i < end; i++) {
    if (buf[i] === 0) {
      out.push(decodeText(buf, s, i));
      s = i + 1;
    }
  }
  if (s < end) out.push(decodeText(buf, s, end));
  return out;
}

const TWO_32 = 4294967296;
/** Above this, a u64 is no longer exactly representable as a JS number. */
const EXACT_HI_LIMIT = 0x200000; // 2^53 / 2^32

/**
 * u64 as a JS number: exact below 2^53 (ns since boot: 104 days of uptime), rounded above. Callers that need the
 * exact digits (exec_id) use u64Text().
 */
export function readU64(buf: Buffer, off: number): number {
  return buf.readUInt32LE(off) + buf.readUInt32LE(off + 4) * TWO_32;
}

/** The exact decimal digits of a little-endian u64. */
export function u64Text(buf: Buffer, off: number): string {
  const hi = buf.readUInt32LE(off + 4);
  if (hi < EXACT_HI_LIMIT) return String(buf.readUInt32LE(off) + hi * TWO_32);
  return buf.readBigUInt64LE(off).toString();
}

/**
 * Kernel-internal dev_t (MAJOR << 20 | MINOR, what inode->i_sb->s_dev holds) to the user-space encoding stat(2)
 * returns in st_dev (glibc's makedev), so `dev` in events equals `stat -c %d`.
 */
export function kernelDevToUser(kdev: number): number {
  const major = Math.floor(kdev / 0x100000) & 0xfff;
  const minor = kdev & 0xfffff;
  return (minor & 0xff) + major * 0x100 + Math.floor(minor / 0x100) * 0x100000;
}

/** Inverse of kernelDevToUser (policy keys are in the kernel encoding). */
export function userDevToKernel(udev: number): number {
  const major = Math.floor(udev / 0x100) & 0xfff;
  const minor = (udev & 0xff) + (Math.floor(udev / 0x100000) & 0xfff) * 0x100;
  return major * 0x100000 + minor;
}

export function formatIpv4(buf: Buffer, off: number): string {
  return `${buf[off] as number}.${buf[off + 1] as number}.${buf[off + 2] as number}.${buf[off + 3] as number}`;
}

/** RFC 5952 text form: lower case, longest run (>= 2) of zero groups as `::`, IPv4-mapped as ::ffff:a.b.c.d. */
export function formatIpv6(buf: Buffer, off: number): string {
  const groups: number[] = [];
  for (let i = 0; i < 8; i++) groups.push(buf.readUInt16BE(off + i * 2));
  if (groups[0] === 0 && groups[1] === 0 && groups[2] === 0 && groups[3] === 0 && groups[4] === 0 && groups[5] === 0xffff) {
    return `::ffff:${formatIpv4(buf, off + 12)}`;
  }
  let bestStart = -1;
  let bestLen = 0;
  for (let i = 0; i < 8; ) {
    if (groups[i] !== 0) {
      i++;
      continue;
    }
    let j = i;
    while (j < 8 && groups[j] === 0) j++;
    if (j - i > bestLen) {
      bestStart = i;
      bestLen = j - i;
    }
    i = j;
  }
  const hex = (g: number): string => g.toString(16);
  if (bestLen < 2) return groups.map(hex).join(':');
  const head = groups.slice(0, bestStart).map(hex).join(':');
  const tail = groups.slice(bestStart + bestLen).map(hex).join(':');
  return `${head}::${tail}`;
}

const PROTOCOLS: Readonly<Record<number, string>> = { 1: 'icmp', 6: 'tcp', 17: 'udp', 58: 'icmpv6', 132: 'sctp', 136: 'udplite' };

/** IPPROTO_* number to the name events carry (`tcp`, `udp`, …; the number as text when unknown). */
export function protocolName(proto: number): string {
  return PROTOCOLS[proto] ?? String(proto);
}

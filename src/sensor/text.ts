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

/*
 * Buffer#latin1Slice is what Buffer#toString('latin1', s, e) ends up calling after normalising its arguments; that
 * normalisation was a third of the decode profile. It has been on Buffer.prototype since Node 0.x (Node's own
 * modules call it); if a runtime ever drops it, toString is used instead.
 */
type Latin1Slice = (this: Buffer, start: number, end: number) => string;
const latin1Slice: Latin1Slice =
  (Buffer.prototype as unknown as { latin1Slice?: Latin1Slice }).latin1Slice ??
  function (this: Buffer, start: number, end: number): string {
    return this.toString('latin1', start, end);
  };

/** Bytes [start, end) as text; ASCII fast path (most paths, every comm of a normal process). */
export function decodeText(buf: Buffer, start: number, end: number): string {
  if (end <= start) return '';
  for (let i = start; i < end; i++) {
    if ((buf[i] as number) >= 0x80) return utf8.decode(buf.subarray(start, end));
  }
  return latin1Slice.call(buf, start, end);
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
/** Above this high word, a u64 is no longer exactly representable as a JS number. */
const EXACT_HI_LIMIT = 0x200000; // 2^53 / 2^32

/**
 * u64 as a JS number: exact below 2^53 (ns since boot: 104 days of uptime), rounded above. Callers that need the
 * exact digits (exec_id) use u64ExactText().
 */
export function readU64(view: DataView, off: number): number {
  return view.getUint32(off, true) + view.getUint32(off + 4, true) * TWO_32;
}

/** The exact decimal digits of a little-endian u64 when it is >= 2^53 (where readU64 rounds), else undefined. */
export function u64ExactText(view: DataView, off: number): string | undefined {
  return view.getUint32(off + 4, true) < EXACT_HI_LIMIT ? undefined : view.getBigUint64(off, true).toString();
}

/*
 * comm is 16 bytes and the same few dozen values make up almost every record, so decoded strings are cached in a
 * small direct-mapped table keyed by all 16 bytes (compared in full on every hit: a collision costs a decode,
 * never a wrong string). This removes a native string allocation from most records.
 */
const COMM_CACHE_BITS = 9;
const commWords = new Uint32Array((1 << COMM_CACHE_BITS) * 4);
const commStrings = new Array<string | undefined>(1 << COMM_CACHE_BITS).fill(undefined);

/** A 16-byte, NUL-padded task comm at `off`. */
export function decodeComm(view: DataView, buf: Buffer, off: number): string {
  const w0 = view.getUint32(off, true);
  const w1 = view.getUint32(off + 4, true);
  const w2 = view.getUint32(off + 8, true);
  const w3 = view.getUint32(off + 12, true);
  const slot =
    Math.imul(w0 ^ Math.imul(w1, 0x9e3779b1) ^ Math.imul(w2, 0x85ebca6b) ^ Math.imul(w3, 0xc2b2ae35), 0x27d4eb2d) >>>
    (32 - COMM_CACHE_BITS);
  const i = slot * 4;
  const hit = commStrings[slot];
  if (
    hit !== undefined &&
    commWords[i] === w0 &&
    commWords[i + 1] === w1 &&
    commWords[i + 2] === w2 &&
    commWords[i + 3] === w3
  )
    return hit;
  const text = decodeCString(buf, off, 16);
  commWords[i] = w0;
  commWords[i + 1] = w1;
  commWords[i + 2] = w2;
  commWords[i + 3] = w3;
  commStrings[slot] = text;
  return text;
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
  if (
    groups[0] === 0 &&
    groups[1] === 0 &&
    groups[2] === 0 &&
    groups[3] === 0 &&
    groups[4] === 0 &&
    groups[5] === 0xffff
  ) {
    return `::ffff:${formatIpv4(buf, off + 12)}`;
  }
  let bestStart = -1;
  let bestLen = 0;
  for (let i = 0; i < 8;) {
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
  const tail = groups
    .slice(bestStart + bestLen)
    .map(hex)
    .join(':');
  return `${head}::${tail}`;
}

const PROTOCOLS: Readonly<Record<number, string>> = {
  1: 'icmp',
  6: 'tcp',
  17: 'udp',
  58: 'icmpv6',
  132: 'sctp',
  136: 'udplite',
};

/** IPPROTO_* number to the name events carry (`tcp`, `udp`, …; the number as text when unknown). */
export function protocolName(proto: number): string {
  return PROTOCOLS[proto] ?? String(proto);
}

/**
 * Framing, the sink's part of the wire format (formatters never frame). Pure functions over strings and bytes.
 *
 * - Octet counting (RFC 6587 §3.4.1, the only framing of RFC 5425): `MSG-LEN SP SYSLOG-MSG`, MSG-LEN the number of
 *   octets of the message, decimal, no leading zeros, no trailer. Transparent: a message may contain LF or NUL.
 * - LF (RFC 6587 §3.4.2, "non-transparent"): the message followed by LF. A message must not contain LF, so each
 *   embedded LF is sent as the two characters `\n`; a receiver cannot tell that from a literal backslash-n, which
 *   is why this framing is documented as lossy and only offered for old receivers.
 * - Truncation (UDP's size limit, `max_message_bytes`): RFC 5424 §6.1 allows cutting a message only at its end; the
 *   cut is moved back to a UTF-8 character boundary so the rest stays valid UTF-8.
 */
import { SIZE_SLACK } from '../core/concat';

/** Largest n ≤ max such that bytes[0, n) ends on a UTF-8 character boundary. */
export function utf8Boundary(bytes: Uint8Array, max: number): number {
  if (bytes.length <= max) return bytes.length;
  let cut = max;
  // Step back over continuation bytes (10xxxxxx) to the lead byte, which then starts the cut-off character.
  while (cut > 0 && cut > max - 4 && ((bytes[cut] as number) & 0xc0) === 0x80) cut--;
  return cut;
}

/** The message truncated to at most `maxBytes` (0: no limit), and whether it was. */
export function truncateMessage(
  message: string,
  maxBytes: number,
): { readonly bytes: Buffer; readonly truncated: boolean } {
  const bytes = Buffer.from(message, 'utf8');
  if (maxBytes <= 0 || bytes.length <= maxBytes) return { bytes, truncated: false };
  return { bytes: bytes.subarray(0, utf8Boundary(bytes, maxBytes)), truncated: true };
}

/** LF framing: embedded LF becomes the two characters `\n` (lossy, see above). */
export function escapeNewlines(message: string): string {
  return message.includes('\n') ? message.replace(/\n/g, '\\n') : message;
}

export type FrameStyle = 'octet_counting' | 'lf';

export interface EncodedChunk {
  readonly data: Buffer;
  /** Records [first, end) of the batch are in this chunk. */
  readonly first: number;
  readonly end: number;
}

/** Chunks are written with one write() each; their size bounds what a failed write can leave half-sent. */
export const CHUNK_TARGET_BYTES = 64 * 1024;

/** A message with its UTF-8 length as the sink core measured it. */
export interface SizedMessage {
  readonly data: string;
  readonly bytes: number;
}

/** Decimal digits of a non-negative integer. */
function decimalDigits(n: number): number {
  let digits = 1;
  for (let x = n; x >= 10; x = Math.floor(x / 10)) digits++;
  return digits;
}

/** Write `n` in decimal at `at`; returns the position after it. */
function writeDecimal(out: Buffer, at: number, n: number): number {
  const end = at + decimalDigits(n);
  let x = n;
  for (let k = end - 1; k >= at; k--) {
    out[k] = 0x30 + (x % 10);
    x = Math.floor(x / 10);
  }
  return end;
}

/**
 * Frame `messages` into chunks of whole frames of about CHUNK_TARGET_BYTES, each written straight into one Buffer of
 * its size (no chunk-sized string first). A message's UTF-8 length is taken from `bytes` when the sink core measured
 * it (measuring again scans every message once more); a message whose written size differs from it makes its chunk
 * be built the plain way, so a wrong size can never produce a wrong octet count. `onTruncated` is called once per
 * message cut to `maxBytes`.
 */
export function frameMessages(
  messages: readonly (string | SizedMessage)[],
  style: FrameStyle,
  maxBytes: number,
  onTruncated: () => void,
): EncodedChunk[] {
  const chunks: EncodedChunk[] = [];
  let first = 0;
  while (first < messages.length) {
    // This chunk's frames: the text to write (or the cut bytes of a truncated message) and its UTF-8 length.
    const texts: string[] = [];
    const cuts: (Buffer | undefined)[] = [];
    const lengths: number[] = [];
    let size = 0;
    let end = first;
    while (end < messages.length && (end === first || size < CHUNK_TARGET_BYTES)) {
      const m = messages[end] as string | SizedMessage;
      const raw = typeof m === 'string' ? m : m.data;
      const message = style === 'lf' ? escapeNewlines(raw) : raw;
      let length = typeof m !== 'string' && message === raw ? m.bytes : Buffer.byteLength(message, 'utf8');
      let cut: Buffer | undefined;
      if (maxBytes > 0 && length > maxBytes) {
        cut = truncateMessage(message, maxBytes).bytes;
        onTruncated();
        length = cut.length;
      }
      texts.push(message);
      cuts.push(cut);
      lengths.push(length);
      size += length + (style === 'octet_counting' ? decimalDigits(length) + 1 : 1);
      end++;
    }
    chunks.push({ data: writeChunk(texts, cuts, lengths, size, style), first, end });
    first = end;
  }
  return chunks;
}

function writeChunk(
  texts: readonly string[],
  cuts: readonly (Buffer | undefined)[],
  lengths: readonly number[],
  size: number,
  style: FrameStyle,
): Buffer {
  const out = Buffer.allocUnsafe(size + SIZE_SLACK);
  let at = 0;
  for (let k = 0; k < texts.length; k++) {
    const length = lengths[k] as number;
    if (style === 'octet_counting') {
      at = writeDecimal(out, at, length);
      out[at++] = 0x20;
    }
    const cut = cuts[k];
    const written = cut !== undefined ? cut.copy(out, at) : out.write(texts[k] as string, at, 'utf8');
    if (written !== length) return writeChunkPlainly(texts, cuts, style);
    at += written;
    if (style === 'lf') out[at++] = 0x0a;
  }
  return out.subarray(0, size);
}

/** The same frames with every length measured here (when a given size was wrong). */
function writeChunkPlainly(texts: readonly string[], cuts: readonly (Buffer | undefined)[], style: FrameStyle): Buffer {
  const parts: Buffer[] = [];
  for (let k = 0; k < texts.length; k++) {
    const bytes = cuts[k] ?? Buffer.from(texts[k] as string, 'utf8');
    if (style === 'octet_counting') parts.push(Buffer.from(`${bytes.length} `, 'ascii'), bytes);
    else parts.push(bytes, Buffer.from('\n', 'ascii'));
  }
  return Buffer.concat(parts);
}

/** One message framed alone (tests, healthchecks). */
export function frameOne(message: string, style: FrameStyle): Buffer {
  return Buffer.concat(frameMessages([message], style, 0, () => undefined).map((c) => c.data));
}

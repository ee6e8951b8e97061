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

/** Largest n ≤ max such that bytes[0, n) ends on a UTF-8 character boundary. */
export function utf8Boundary(bytes: Uint8Array, max: number): number {
  if (bytes.length <= max) return bytes.length;
  let cut = max;
  // Step back over continuation bytes (10xxxxxx) to the lead byte, which then starts the cut-off character.
  while (cut > 0 && cut > max - 4 && ((bytes[cut] as number) & 0xc0) === 0x80) cut--;
  return cut;
}

/** The message truncated to at most `maxBytes` (0: no limit), and whether it was. */
export function truncateMessage(message: string, maxBytes: number): { readonly bytes: Buffer; readonly truncated: boolean } {
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

/**
 * Chunks are written with one write() each; their size bounds what a failed write can leave half-sent. 64 KiB keeps
 * each chunk's text below V8's regular-object limit (~128 KiB): a larger string is a large object that only a full
 * GC frees (docs/benchmarks.md, pipeline).
 */
export const CHUNK_TARGET_BYTES = 64 * 1024;

/**
 * Frame `messages` into chunks of whole frames of about CHUNK_TARGET_BYTES. `onTruncated` is called once per
 * message cut to `maxBytes`.
 */
export function frameMessages(messages: readonly string[], style: FrameStyle, maxBytes: number, onTruncated: () => void): EncodedChunk[] {
  const chunks: EncodedChunk[] = [];
  let parts: Buffer[] = [];
  let text = '';
  let size = 0;
  let first = 0;
  const flushText = (): void => {
    if (text !== '') {
      parts.push(Buffer.from(text, 'utf8'));
      text = '';
    }
  };
  for (let i = 0; i < messages.length; i++) {
    const raw = messages[i] as string;
    const message = style === 'lf' ? escapeNewlines(raw) : raw;
    let length = Buffer.byteLength(message, 'utf8');
    if (maxBytes > 0 && length > maxBytes) {
      const cut = truncateMessage(message, maxBytes);
      onTruncated();
      length = cut.bytes.length;
      flushText();
      if (style === 'octet_counting') parts.push(Buffer.from(`${length} `, 'ascii'), cut.bytes);
      else parts.push(cut.bytes, Buffer.from('\n', 'ascii'));
    } else if (style === 'octet_counting') {
      text += `${length} ${message}`;
    } else {
      text += message + '\n';
    }
    size += length + 8;
    if (size >= CHUNK_TARGET_BYTES || i === messages.length - 1) {
      flushText();
      chunks.push({ data: parts.length === 1 ? (parts[0] as Buffer) : Buffer.concat(parts), first, end: i + 1 });
      parts = [];
      size = 0;
      first = i + 1;
    }
  }
  return chunks;
}

/** One message framed alone (tests, healthchecks). */
export function frameOne(message: string, style: FrameStyle): Buffer {
  return Buffer.concat(frameMessages([message], style, 0, () => undefined).map((c) => c.data));
}

/** Read an RFC 6587 octet-counted byte stream (`LEN SP MSG` …) back into its messages; throws on a malformed frame. */
export function parseOctetCounted(bytes: Buffer): string[] {
  const out: string[] = [];
  for (let at = 0; at < bytes.length;) {
    const space = bytes.indexOf(0x20, at);
    const length = space === -1 ? NaN : Number(bytes.subarray(at, space).toString('ascii'));
    if (!Number.isSafeInteger(length) || space + 1 + length > bytes.length)
      throw new Error(`malformed octet-counted frame at byte ${at}`);
    out.push(bytes.subarray(space + 1, space + 1 + length).toString('utf8'));
    at = space + 1 + length;
  }
  return out;
}

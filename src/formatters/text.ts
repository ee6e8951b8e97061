/**
 * Text helpers shared by the line formats (CEF, LEEF): making a JS string encodable as well-formed UTF-8 and cutting
 * an encoded value to a byte budget at a character boundary.
 */

const LONE_SURROGATE = /[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/g;

/**
 * Replace lone surrogates (a string that was not decoded from valid UTF-8, e.g. built by hand) with U+FFFD. UTF-8
 * cannot encode them; Buffer.from would silently do the same replacement, this makes it visible and deterministic
 * in the string the formatter returns.
 */
export function replaceLoneSurrogates(s: string): string {
  return s.replace(LONE_SURROGATE, '\ufffd');
}

/**
 * Longest prefix of `escaped` whose UTF-8 encoding fits in `maxBytes`, never splitting a character or a two-character
 * escape sequence (`\` and the character after it). `escaped` must be well-formed (no lone surrogates).
 */
export function cutToBytes(escaped: string, maxBytes: number): string {
  let bytes = 0;
  let i = 0;
  const n = escaped.length;
  while (i < n) {
    const c = escaped.charCodeAt(i);
    let units = 1;
    let size: number;
    if (c === 0x5c) {
      units = 2;
      size = 2;
    } else if (c < 0x80) size = 1;
    else if (c < 0x800) size = 2;
    else if (c >= 0xd800 && c <= 0xdbff) {
      units = 2;
      size = 4;
    } else size = 3;
    if (bytes + size > maxBytes) break;
    bytes += size;
    i += units;
  }
  return escaped.slice(0, i);
}

/** UTF-8 byte length of `s`, without Buffer when the answer is obvious (at most 3 bytes per UTF-16 unit). */
export function fitsInBytes(s: string, maxBytes: number): boolean {
  return s.length * 3 <= maxBytes || Buffer.byteLength(s, 'utf8') <= maxBytes;
}

/** `labels` as compact JSON with sorted keys (deterministic whatever the insertion order). */
export function labelsJson(labels: Readonly<Record<string, string>>): string | undefined {
  const keys = Object.keys(labels).sort();
  if (keys.length === 0) return undefined;
  let out = '{';
  for (let i = 0; i < keys.length; i++) {
    const k = keys[i] as string;
    out += (i === 0 ? '' : ',') + JSON.stringify(k) + ':' + JSON.stringify(labels[k]);
  }
  return out + '}';
}

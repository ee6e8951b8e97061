/**
 * Byte sizes in the configuration (`*_bytes` keys): an integer number of bytes, or a string with a unit, e.g.
 * `max_bytes: 2GiB`. Units follow Vector and Kubernetes: SI units are powers of 1000 (kB/KB, MB, GB, TB), IEC units
 * powers of 1024 (KiB, MiB, GiB, TiB); `B` is bytes. One optional space may separate number and unit (`2 GiB`). A
 * decimal number needs a unit (`1.5GiB`) and is rounded down to whole bytes.
 *
 * The schema accepts the string form (byteSizeSchema); config loading replaces every such string by its integer
 * before validation (normalizeByteSizes in config/byte-sizes.ts), so the code only ever sees integers and the
 * schema's minimum/maximum apply to the converted value.
 */

const UNITS: Readonly<Record<string, number>> = {
  B: 1,
  kB: 1000,
  KB: 1000,
  MB: 1000 ** 2,
  GB: 1000 ** 3,
  TB: 1000 ** 4,
  KiB: 1024,
  MiB: 1024 ** 2,
  GiB: 1024 ** 3,
  TiB: 1024 ** 4,
};

/** The schema's pattern for the string form (also how config loading recognises a byte-size key). */
export const BYTE_SIZE_PATTERN = '^[0-9]+(\\.[0-9]+)? ?(B|kB|KB|MB|GB|TB|KiB|MiB|GiB|TiB)?$';

const BYTE_SIZE_RE = /^([0-9]+(?:\.[0-9]+)?) ?(B|kB|KB|MB|GB|TB|KiB|MiB|GiB|TiB)?$/;

/** What a byte size may look like, for error messages. */
export const BYTE_SIZE_HELP =
  'an integer number of bytes, or a number and a unit: 512KiB, 64MiB, 2GiB, 1GB; KB = 1000, KiB = 1024';

/** The bytes a configured size stands for, or undefined when `value` is not a byte size. */
export function parseByteSize(value: unknown): number | undefined {
  if (typeof value === 'number') return Number.isSafeInteger(value) && value >= 0 ? value : undefined;
  if (typeof value !== 'string') return undefined;
  const m = BYTE_SIZE_RE.exec(value);
  if (m === null) return undefined;
  const [, digits, unit] = m as unknown as [string, string, string | undefined];
  if (unit === undefined && digits.includes('.')) return undefined; // "1.5" bytes: a unit was forgotten
  const bytes = Math.floor(Number(digits) * (unit === undefined ? 1 : (UNITS[unit] as number)));
  return Number.isSafeInteger(bytes) ? bytes : undefined;
}

/**
 * The JSON Schema of a byte-size key: an integer in [minimum, maximum], or a string with a unit (converted to that
 * integer, and then range-checked, before validation).
 */
export function byteSizeSchema(
  minimum: number,
  description: string,
  maximum?: number,
): { readonly [key: string]: unknown } {
  return {
    type: ['integer', 'string'],
    minimum,
    ...(maximum === undefined ? {} : { maximum }),
    pattern: BYTE_SIZE_PATTERN,
    description: `${description} Bytes, or with a unit: 64MiB, 2GiB, 1GB.`,
  };
}

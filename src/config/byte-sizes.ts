/**
 * Replace the string form of every byte-size key (`max_bytes: 2GiB`, util/byte-size.ts) by its integer, before the
 * schema validates the document. The keys are found through the schema itself (a property whose schema carries
 * BYTE_SIZE_PATTERN), so a byte-size key added anywhere with byteSizeSchema is converted without a list to keep.
 * Pure: returns a converted copy and reports each string that is not a byte size with its key path.
 */
import { BYTE_SIZE_HELP, BYTE_SIZE_PATTERN, parseByteSize } from '../util/byte-size';

type Schema = { readonly [key: string]: unknown };

const isRecord = (value: unknown): value is Record<string, unknown> =>
  value !== null && typeof value === 'object' && !Array.isArray(value);

const isByteSize = (schema: Schema): boolean => schema.pattern === BYTE_SIZE_PATTERN;

/** The schemas that apply to one value: `schema` with its $ref resolved and its allOf/anyOf/oneOf/then/else branches. */
function expand(schema: unknown, root: Schema, out: Schema[], depth = 0): Schema[] {
  if (!isRecord(schema) || depth > 32) return out;
  out.push(schema);
  if (typeof schema.$ref === 'string' && schema.$ref.startsWith('#/$defs/')) {
    const defs = root.$defs;
    if (isRecord(defs)) expand(defs[schema.$ref.slice('#/$defs/'.length)], root, out, depth + 1);
  }
  for (const key of ['allOf', 'anyOf', 'oneOf'])
    if (Array.isArray(schema[key])) for (const s of schema[key] as unknown[]) expand(s, root, out, depth + 1);
  // Every branch: a byte-size key has one meaning in every type, and a key of the wrong type is refused anyway.
  expand(schema.then, root, out, depth + 1);
  expand(schema.else, root, out, depth + 1);
  return out;
}

function convert(value: unknown, schemas: readonly Schema[], root: Schema, at: string, problems: string[]): unknown {
  if (typeof value === 'string' && schemas.some(isByteSize)) {
    const bytes = parseByteSize(value);
    if (bytes !== undefined) return bytes;
    problems.push(`${at}: ${JSON.stringify(value)} is not a byte size (${BYTE_SIZE_HELP})`);
    return value;
  }
  if (Array.isArray(value)) {
    const items: Schema[] = [];
    for (const s of schemas) expand(s.items, root, items);
    return items.length === 0
      ? value
      : value.map((v, i) => convert(v, items, root, at === '' ? String(i) : `${at}.${i}`, problems));
  }
  if (!isRecord(value)) return value;
  let out: Record<string, unknown> | undefined;
  for (const [key, v] of Object.entries(value)) {
    const inner: Schema[] = [];
    for (const s of schemas) {
      const props = s.properties;
      if (isRecord(props) && props[key] !== undefined) expand(props[key], root, inner);
      else if (isRecord(s.additionalProperties)) expand(s.additionalProperties, root, inner);
    }
    if (inner.length === 0) continue;
    const converted = convert(v, inner, root, at === '' ? key : `${at}.${key}`, problems);
    if (converted !== v) {
      out ??= { ...value };
      out[key] = converted;
    }
  }
  return out ?? value;
}

/** `document` with every byte-size string converted to bytes; `problems` gets `key.path: …` for the rest. */
export function normalizeByteSizes(document: unknown, schema: Schema, problems: string[]): unknown {
  return convert(document, expand(schema, schema, []), schema, '', problems);
}

/** Byte sizes with units in the configuration (`buffer: { max_bytes: 2GiB }`): util/byte-size.ts, config/byte-sizes.ts. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { buildConfigSchema } from '../../src/config/schema';
import { validateConfigText } from '../../src/config/load';
import { BYTE_SIZE_PATTERN, parseByteSize } from '../../src/util/byte-size';
import { DEFAULT_CORE_OPTIONS } from '../../src/sinks/core/types';
import { parseCoreOptions } from '../../src/sinks/core/config';

const config = (sink: string, extra = ''): string => `
sources:
  r: { type: replay, path: /tmp/in.ndjson }
sinks:
  f:
    type: file
    path: /tmp/out.ndjson
${sink}
${extra}`;

test('parseByteSize: SI units are powers of 1000, IEC units powers of 1024, integers are bytes', () => {
  assert.equal(parseByteSize(4096), 4096);
  assert.equal(parseByteSize('4096'), 4096);
  assert.equal(parseByteSize('512KiB'), 512 * 1024);
  assert.equal(parseByteSize('64MiB'), 64 * 1024 * 1024);
  assert.equal(parseByteSize('2GiB'), 2 * 1024 ** 3);
  assert.equal(parseByteSize('2 GiB'), 2 * 1024 ** 3);
  assert.equal(parseByteSize('1GB'), 1e9);
  assert.equal(parseByteSize('1KB'), 1000);
  assert.equal(parseByteSize('1kB'), 1000);
  assert.equal(parseByteSize('1TiB'), 1024 ** 4);
  assert.equal(parseByteSize('10B'), 10);
  assert.equal(parseByteSize('1.5KiB'), 1536);
  assert.equal(parseByteSize('0.3KB'), 300);
  for (const bad of ['2 GiB x', '2GIB', '2gib', 'GiB', '-1', '1.5', '2  GiB', ' 2GiB', '1e3', '99999999TiB', 1.5, -1])
    assert.equal(parseByteSize(bad), undefined, String(bad));
});

test('buffer max_bytes: 2GiB (the issue’s config shape) validates and reaches the sink as 2147483648 bytes', () => {
  const r = validateConfigText(
    config(
      '    batch: { max_bytes: 512KiB }\n    rotate: { max_bytes: 1GB }\n' +
        '    buffer: { type: disk, max_bytes: 2GiB, when_full: block, fsync: interval }',
      'dead_letter: { max_bytes: 64MiB }',
    ),
    {},
  );
  assert.deepEqual(r.problems, []);
  const raw = r.config?.sinks[0]?.raw as Record<string, Record<string, unknown>>;
  assert.equal(raw.buffer?.max_bytes, 2 * 1024 ** 3);
  assert.equal(raw.batch?.max_bytes, 512 * 1024);
  assert.equal(raw.rotate?.max_bytes, 1e9);
  assert.equal((r.config?.document.dead_letter as Record<string, unknown>).max_bytes, 64 * 1024 * 1024);
});

test('a byte size that is not one gets an error naming the key and the accepted forms', () => {
  const r = validateConfigText(config('    buffer: { type: disk, max_bytes: 2 GiB x }'), {});
  assert.deepEqual(r.problems, [
    'sinks.f.buffer.max_bytes: "2 GiB x" is not a byte size (an integer number of bytes, or a number and a unit: ' +
      '512KiB, 64MiB, 2GiB, 1GB; KB = 1000, KiB = 1024)',
  ]);
  const float = validateConfigText(config('    buffer: { type: disk, max_bytes: 1.5 }'), {});
  assert.match(float.problems.join('\n'), /^sinks\.f\.buffer\.max_bytes: must be a byte size \(/);
});

test('the range of a byte-size key applies to the converted value', () => {
  const zero = validateConfigText(config('    buffer: { type: disk, max_bytes: 0KiB }'), {});
  assert.deepEqual(zero.problems, ['sinks.f.buffer.max_bytes: must be >= 1']);
  const big = validateConfigText(config('', 'api: { max_body_bytes: 65MiB }'), {});
  assert.match(big.problems.join('\n'), /^api\.max_body_bytes: must be <= 67108864/m);
  const batch = validateConfigText(config('    batch: { max_bytes: 2MiB }\n    buffer: { max_bytes: 1MiB }'), {});
  assert.deepEqual(batch.problems, ['sinks.f.buffer.max_bytes: must be >= batch.max_bytes (2097152)']);
});

test('regression: a batch raised alone (batch.max_bytes 10MB, max_events 30000) still validates; the default buffer grows to hold one batch', () => {
  const r = validateConfigText(config('    batch: { max_bytes: 10MB, max_events: 30000 }'), {});
  assert.deepEqual(r.problems, []);
  const o = parseCoreOptions({ batch: { max_bytes: 10_000_000, max_events: 30_000 } }, DEFAULT_CORE_OPTIONS);
  assert.equal(o.buffer.maxBytes, 10_000_000);
  assert.equal(o.buffer.maxEvents, 30_000);
  const small = parseCoreOptions({ batch: { max_bytes: 1000 } }, DEFAULT_CORE_OPTIONS);
  assert.equal(small.buffer.maxBytes, DEFAULT_CORE_OPTIONS.buffer.maxBytes, 'a smaller batch keeps the default bound');
});

test('a byte size from an environment variable is converted too', () => {
  const r = validateConfigText(config('    buffer: { type: disk, max_bytes: "${BUF:-1GiB}" }'), { BUF: '256MiB' });
  assert.deepEqual(r.problems, []);
  const raw = r.config?.sinks[0]?.raw as Record<string, Record<string, unknown>>;
  assert.equal(raw.buffer?.max_bytes, 256 * 1024 * 1024);
});

/** Every property named `*_bytes` in the config schema, with its path. */
function byteKeys(node: unknown, at: string, out: { path: string; schema: Record<string, unknown> }[]): typeof out {
  if (Array.isArray(node)) node.forEach((n, i) => byteKeys(n, `${at}[${i}]`, out));
  else if (node !== null && typeof node === 'object') {
    for (const [k, v] of Object.entries(node as Record<string, unknown>)) {
      if (k === 'properties' && v !== null && typeof v === 'object')
        for (const [name, s] of Object.entries(v as Record<string, unknown>))
          if (name.endsWith('_bytes')) out.push({ path: `${at}.${name}`, schema: s as Record<string, unknown> });
      byteKeys(v, `${at}.${k}`, out);
    }
  }
  return out;
}

test('every *_bytes key of the config schema takes units (byteSizeSchema), so none refuses "64MiB"', () => {
  const found = byteKeys(buildConfigSchema(), '#', []);
  // batch and buffer max_bytes of every sink, dead_letter, api, the sources' line and ring sizes, file rotation…
  assert.ok(found.length > 20, `found only ${found.length} *_bytes keys`);
  for (const { path: where, schema } of found) assert.equal(schema.pattern, BYTE_SIZE_PATTERN, where);
});

/** rules/schema/config.schema.json is the published configuration schema; it must equal what the code builds. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import { buildConfigSchema } from '../../src/config/schema';
import { validateConfigText } from '../../src/config/load';
import { packagePath } from '../../src/util/paths';
import { MAX_TIMER_MILLIS } from '../../src/util/duration-schema';

test('rules/schema/config.schema.json is up to date (regenerate: aegisbpf schema config > rules/schema/config.schema.json)', () => {
  const published = JSON.parse(
    fs.readFileSync(packagePath('rules', 'schema', 'config.schema.json'), 'utf8'),
  ) as unknown;
  assert.deepEqual(published, JSON.parse(JSON.stringify(buildConfigSchema())));
});

test('every example configuration under examples/ validates', () => {
  const dir = packagePath('examples');
  const files = fs.readdirSync(dir).filter((f) => f.endsWith('.yml') || f.endsWith('.yaml'));
  assert.ok(files.length > 0);
  for (const f of files) {
    const r = validateConfigText(fs.readFileSync(`${dir}/${f}`, 'utf8'), {
      SPLUNK_HEC_TOKEN: 't',
      AEGIS_DATA_DIR: '/tmp/x',
    });
    assert.deepEqual(r.problems, [], f);
  }
});

/** Every property named `*_ms` anywhere in the schema, with its path, for the duration bound below. */
function durationKeys(node: unknown, at: string, out: { path: string; schema: Record<string, unknown> }[]): typeof out {
  if (Array.isArray(node)) node.forEach((n, i) => durationKeys(n, `${at}[${i}]`, out));
  else if (node !== null && typeof node === 'object') {
    for (const [k, v] of Object.entries(node as Record<string, unknown>)) {
      if (k === 'properties' && v !== null && typeof v === 'object') {
        for (const [name, s] of Object.entries(v as Record<string, unknown>)) {
          if (name.endsWith('_ms')) out.push({ path: `${at}.${name}`, schema: s as Record<string, unknown> });
        }
      }
      durationKeys(v, `${at}.${k}`, out);
    }
  }
  return out;
}

test('timer values above 2^31-1 ms are refused: every *_ms key of the config schema has a maximum of at most 2147483647', () => {
  const found = durationKeys(buildConfigSchema(), '#', []);
  // The core's batch/request/retry keys, the top-level shutdown timeout, the metrics healthcheck interval, the
  // processors' windows, syslog's connect timeout, HEC's ack keys: far more than 10, so the walk did find them.
  assert.ok(found.length > 10, `found only ${found.length} *_ms keys`);
  for (const { path: where, schema } of found) {
    assert.equal(schema.type, 'integer', where);
    assert.equal(typeof schema.maximum, 'number', `${where} has no maximum`);
    assert.ok((schema.maximum as number) <= MAX_TIMER_MILLIS, `${where}: maximum ${String(schema.maximum)}`);
  }
});

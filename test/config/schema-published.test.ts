/** rules/schema/config.schema.json is the published configuration schema; it must equal what the code builds. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import { buildConfigSchema } from '../../src/config/schema';
import { validateConfigText } from '../../src/config/load';
import { packagePath } from '../../src/util/paths';

test('rules/schema/config.schema.json is up to date (regenerate: aegisbpf schema config > rules/schema/config.schema.json)', () => {
  const published = JSON.parse(fs.readFileSync(packagePath('rules', 'schema', 'config.schema.json'), 'utf8')) as unknown;
  assert.deepEqual(published, JSON.parse(JSON.stringify(buildConfigSchema())));
});

test('every example configuration under examples/ validates', () => {
  const dir = packagePath('examples');
  const files = fs.readdirSync(dir).filter((f) => f.endsWith('.yml') || f.endsWith('.yaml'));
  assert.ok(files.length > 0);
  for (const f of files) {
    const r = validateConfigText(fs.readFileSync(`${dir}/${f}`, 'utf8'), { SPLUNK_HEC_TOKEN: 't', AEGIS_DATA_DIR: '/tmp/x' });
    assert.deepEqual(r.problems, [], f);
  }
});

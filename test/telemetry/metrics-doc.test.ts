/** docs/metrics.md documents every exported metric with its type and labels, and nothing else. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import { METRICS } from '../../src/telemetry/metric-catalog';
import { packagePath } from '../../src/util/paths';
import { headingAnchors } from '../helpers/markdown';

const doc = fs.readFileSync(packagePath('docs', 'metrics.md'), 'utf8');

test('every metric in the catalog has a row in docs/metrics.md with the exported type and labels, and every row is a metric', () => {
  const rows = new Map<string, { type: string; labels: string[]; guide: boolean }>();
  for (const m of doc.matchAll(
    /^\| `(aegisbpf_[a-z0-9_]+)`( ★)? \| (counter|gauge|histogram|summary) \| ([^|]+) \|/gm,
  )) {
    const labels =
      (m[4] as string).trim() === '—' ? [] : [...(m[4] as string).matchAll(/`([a-z_]+)`/g)].map((x) => x[1] as string);
    assert.ok(!rows.has(m[1] as string), `${m[1]} documented twice`);
    rows.set(m[1] as string, { type: m[3] as string, labels, guide: m[2] !== undefined });
  }
  for (const spec of METRICS) {
    const row = rows.get(spec.name);
    assert.ok(row !== undefined, `${spec.name} is not documented`);
    assert.equal(row.type, spec.type, `${spec.name}: type`);
    assert.deepEqual(row.labels, [...spec.labels], `${spec.name}: labels`);
    assert.equal(row.guide, spec.guide, `${spec.name}: ★ marks exactly the guide's names`);
  }
  assert.deepEqual(
    [...rows.keys()].filter((n) => !METRICS.some((s) => s.name === n)),
    [],
    'documented metrics that are not exported',
  );
});

test('the anchors other files link to exist', () => {
  const anchors = headingAnchors(doc);
  for (const a of ['differences-from-the-aegisbpf-guides', 'the-kernel-sensor-in-the-daemon', 'span-logs'])
    assert.ok(anchors.has(a), a);
});

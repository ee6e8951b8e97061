/**
 * Regression: the `sensor` source once imported config/load, which imports the source registry, which imports the
 * sensor source. Loading the sensor module first (as `aegisbpf policy` does, for DEFAULT_PIN_DIR) then ran the
 * registry while the sensor module was half-initialised: an undefined entry, and every command crashed at start.
 * This file imports in that order on purpose.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { DEFAULT_PIN_DIR } from '../../../src/pipeline/sources/sensor';
import { validateConfigDocument } from '../../../src/config/load';
import { getSourceDefinition, sourceTypes } from '../../../src/pipeline/sources/registry';

void test('the source registry loads completely when the sensor source module is imported first', () => {
  assert.equal(DEFAULT_PIN_DIR, '/sys/fs/bpf/aegisbpf');
  assert.deepEqual(sourceTypes(), ['activity', 'host', 'kafka', 'replay', 'sensor', 'stdin', 'trends']);
  for (const t of sourceTypes()) assert.equal(getSourceDefinition(t)?.type, t);
});

void test('a sensor source configuration validates, and its options are checked', () => {
  const ok = validateConfigDocument({
    data_dir: '/tmp/x',
    sources: { s: { type: 'sensor', ring_bytes: 65536, coalesce_us: 500 } },
    sinks: { o: { type: 'stdout' } },
  });
  assert.deepEqual(ok.problems, []);
  const bad = validateConfigDocument({
    data_dir: '/tmp/x',
    sources: { s: { type: 'sensor', ring_bytes: 100, backend: 'kprobe' } },
    sinks: { o: { type: 'stdout' } },
  });
  assert.ok(
    bad.problems.some((p) => p.startsWith('sources.s.ring_bytes')),
    bad.problems.join('\n'),
  );
  assert.ok(
    bad.problems.some((p) => p.startsWith('sources.s.backend')),
    bad.problems.join('\n'),
  );
});

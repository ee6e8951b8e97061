import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createReadiness, formatReadiness } from '../../src/telemetry/readiness';

test('ready only when every registered check passes; the report names each part and why', () => {
  const r = createReadiness();
  let sinkOk = true;
  r.register('sink.hec', () => (sinkOk ? { ready: true } : { ready: false, reason: 'connection refused' }));
  const unregisterSensor = r.register('sensor', () => ({ ready: false, reason: 'not attached' }));
  let report = r.evaluate();
  assert.equal(report.ready, false);
  assert.deepEqual(
    report.checks.map((c) => [c.name, c.ready, c.detail]),
    [
      ['sensor', false, 'not attached'],
      ['sink.hec', true, undefined],
    ],
  );
  assert.equal(formatReadiness(report), 'sensor: not ready: not attached\nsink.hec: ok\nnot ready: sensor\n');
  unregisterSensor();
  assert.equal(r.evaluate().ready, true);
  sinkOk = false;
  report = r.evaluate();
  assert.equal(report.ready, false);
  assert.match(formatReadiness(report), /^sink\.hec: not ready: connection refused$/m);
});

test('a check that throws is not ready, with the error as reason; re-registering a name replaces the check', () => {
  const r = createReadiness();
  r.register('x', () => {
    throw new Error('boom');
  });
  assert.deepEqual(r.evaluate().checks, [{ name: 'x', ready: false, detail: 'readiness check threw: boom' }]);
  const off = r.register('x', () => ({ ready: true, detail: 'fine' }));
  assert.deepEqual(r.evaluate(), { ready: true, checks: [{ name: 'x', ready: true, detail: 'fine' }] });
  off();
  assert.deepEqual(r.evaluate(), { ready: true, checks: [] });
});

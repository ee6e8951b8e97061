import { test } from 'node:test';
import assert from 'node:assert/strict';
import { validateConfigDocument } from '../../src/config/load';
import { resolveControlOptions, resolveControlSocketPath, resolveMetricsOptions } from '../../src/config/endpoints';

const base = { sources: { s: { type: 'stdin' } }, sinks: { o: { type: 'stdout' } } };

test('the metrics and control sections are validated with the rest of the configuration', () => {
  const ok = validateConfigDocument({
    ...base,
    metrics: { listen: '127.0.0.1', port: 0, detailed: true, healthcheck_interval_ms: 0 },
    control: { socket: '/run/x.sock' },
  });
  assert.deepEqual(ok.problems, []);
  const bad = validateConfigDocument({
    ...base,
    metrics: { port: 70000, listen: '', detialed: true },
    control: { socket: `/tmp/${'x'.repeat(120)}` },
  });
  assert.deepEqual(bad.problems, [
    'control.socket: must NOT have more than 107 characters',
    "metrics.detialed: unknown key; did you mean 'detailed'? (known keys: detailed, enabled, healthcheck_interval_ms, listen, port)",
    'metrics.listen: must NOT have fewer than 1 characters',
    'metrics.port: must be <= 65535',
  ]);
  const multibyte = validateConfigDocument({ ...base, control: { socket: `/run/${'é'.repeat(60)}.sock` } });
  assert.deepEqual(multibyte.problems, ['control.socket: longer than the 107 bytes a Unix socket path may have']);
});

test('port precedence: --metrics-port, then AEGIS_METRICS_PORT, then metrics.port, then 9090; off disables', () => {
  const doc = { metrics: { port: 9100, listen: '127.0.0.1' } };
  assert.deepEqual(resolveMetricsOptions({}, {}, undefined), {
    enabled: true,
    listen: '0.0.0.0',
    port: 9090,
    detailed: false,
    healthcheckIntervalMillis: 15000,
  });
  assert.equal(resolveMetricsOptions(doc, {}, undefined).port, 9100);
  assert.equal(resolveMetricsOptions(doc, { AEGIS_METRICS_PORT: '0' }, undefined).port, 0);
  assert.equal(resolveMetricsOptions(doc, { AEGIS_METRICS_PORT: '0' }, '9200').port, 9200);
  assert.equal(resolveMetricsOptions(doc, {}, 'off').enabled, false);
  assert.equal(resolveMetricsOptions({ metrics: { enabled: false } }, {}, undefined).enabled, false);
  assert.equal(
    resolveMetricsOptions({ metrics: { enabled: false } }, {}, '9300').enabled,
    true,
    'an explicit port turns it on',
  );
  assert.throws(
    () => resolveMetricsOptions({}, { AEGIS_METRICS_PORT: '99999' }, undefined),
    /AEGIS_METRICS_PORT must be a port number/,
  );
});

test('control socket: AEGIS_CONTROL_SOCKET, then control.socket, then /run/aegisbpf/control.sock as root', () => {
  assert.deepEqual(resolveControlOptions({ control: { socket: '/a.sock' } }, { AEGIS_CONTROL_SOCKET: '/b.sock' }), {
    enabled: true,
    socketPath: '/b.sock',
  });
  assert.deepEqual(resolveControlOptions({ control: { socket: '/a.sock', enabled: false } }, {}), {
    enabled: false,
    socketPath: '/a.sock',
  });
  assert.equal(resolveControlSocketPath('/flag.sock', { AEGIS_CONTROL_SOCKET: '/b.sock' }), '/flag.sock');
  if (process.getuid?.() === 0) assert.equal(resolveControlSocketPath(undefined, {}), '/run/aegisbpf/control.sock');
  else
    assert.equal(
      resolveControlSocketPath(undefined, { XDG_RUNTIME_DIR: '/run/user/1000' }),
      '/run/user/1000/aegisbpf/control.sock',
    );
});

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createSpanTracer, spansEnabled, withChildSpan } from '../../src/telemetry/spans';
import { createLogger } from '../../src/util/logger';

function capture(): { lines: Record<string, unknown>[]; logger: ReturnType<typeof createLogger> } {
  const lines: Record<string, unknown>[] = [];
  return { lines, logger: createLogger({ write: (l) => void lines.push(JSON.parse(l) as Record<string, unknown>) }) };
}

test('AEGIS_OTEL_SPANS accepts 1/true/yes/on, anything else is off', () => {
  for (const v of ['1', 'true', 'YES', 'on']) assert.equal(spansEnabled({ AEGIS_OTEL_SPANS: v }), true, v);
  for (const v of [undefined, '', '0', 'false', 'off', 'no'])
    assert.equal(spansEnabled({ AEGIS_OTEL_SPANS: v }), false, String(v));
});

test('spans log otel_span_start/otel_span_end with W3C ids; children found through async calls share the trace', async () => {
  const { lines, logger } = capture();
  const tracer = createSpanTracer({ logger, enabled: true });
  const result = await tracer.withSpan('daemon.run', async () => {
    await new Promise((r) => setTimeout(r, 5));
    withChildSpan('daemon.load_bpf', () => undefined);
    await withChildSpan('daemon.attach_programs', async () => {
      await new Promise((r) => setTimeout(r, 1));
    });
    return 42;
  });
  assert.equal(result, 42);
  assert.deepEqual(
    lines.map((l) => [l.msg, l.span_name]),
    [
      ['otel_span_start', 'daemon.run'],
      ['otel_span_start', 'daemon.load_bpf'],
      ['otel_span_end', 'daemon.load_bpf'],
      ['otel_span_start', 'daemon.attach_programs'],
      ['otel_span_end', 'daemon.attach_programs'],
      ['otel_span_end', 'daemon.run'],
    ],
  );
  const root = lines[0]!;
  assert.match(String(root.trace_id), /^[0-9a-f]{32}$/);
  assert.match(String(root.span_id), /^[0-9a-f]{16}$/);
  assert.equal(root.parent_span_id, undefined);
  assert.equal(root.message, 'otel_span_start', 'the guide names the field `message`');
  for (const l of lines.slice(1, 5)) {
    assert.equal(l.trace_id, root.trace_id);
    assert.equal(l.parent_span_id, root.span_id);
  }
  const end = lines[5]!;
  assert.equal(end.status, 'ok');
  assert.ok(typeof end.duration_ms === 'number' && end.duration_ms >= 5, `duration ${String(end.duration_ms)}`);
});

test('a throwing or rejecting span ends with status error and the error; the error propagates', async () => {
  const { lines, logger } = capture();
  const tracer = createSpanTracer({ logger, enabled: true });
  assert.throws(
    () =>
      tracer.withSpan('policy.apply', () => {
        throw new Error('map full');
      }),
    /map full/,
  );
  await assert.rejects(
    tracer.withSpan('cli.policy_apply', () => Promise.reject(new Error('bad signature'))),
    /bad signature/,
  );
  const ends = lines.filter((l) => l.msg === 'otel_span_end');
  assert.deepEqual(
    ends.map((l) => [l.span_name, l.status, l.error]),
    [
      ['policy.apply', 'error', 'map full'],
      ['cli.policy_apply', 'error', 'bad signature'],
    ],
  );
});

test('disabled: nothing is logged and functions still run; withChildSpan outside a span just runs', () => {
  const { lines, logger } = capture();
  const tracer = createSpanTracer({ logger, env: {} });
  assert.equal(
    tracer.withSpan('daemon.run', () => withChildSpan('x', () => 7)),
    7,
  );
  assert.equal(
    withChildSpan('y', () => 8),
    8,
  );
  assert.deepEqual(lines, []);
});

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import Ajv2020 from 'ajv/dist/2020';
import type { AegisEvent } from '../../src/event/types';
import { EVENT_SCHEMA_VERSION } from '../../src/formatters/common';
import type { KafkaRecord } from '../../src/formatters/kafka';
import { createFormatter, formatSpecSchema, getFormatterDefinition } from '../../src/formatters/registry';
import { packagePath } from '../../src/util/paths';
import { compareGolden, GOLDEN_CONTEXT, goldenBytes, goldenCases } from './golden';

const cases = goldenCases();
const ev = (name: string): AegisEvent => cases.find((c) => c.name === name)!.event;
const kafka = (spec: Record<string, unknown> = {}): { format(e: AegisEvent): KafkaRecord } =>
  createFormatter<KafkaRecord>({ type: 'kafka', ...spec }, GOLDEN_CONTEXT);

test('kafka golden files: every event type and edge case as {key, headers, value}', () => {
  const f = kafka();
  const problems: string[] = [];
  for (const { name, event } of cases) {
    const m = compareGolden('kafka', name, 'json', goldenBytes(f.format(event)));
    if (m !== undefined) problems.push(m);
  }
  assert.deepEqual(problems, []);
  assert.equal(getFormatterDefinition('kafka')?.output, 'record');
});

test('key: host (default) orders a host, exec_id a process, none is a null key', () => {
  const e = ev('exec-full');
  assert.equal(kafka().format(e).key, 'web-1');
  assert.equal(kafka({ key: 'host' }).format(e).key, 'web-1');
  assert.equal(kafka({ key: 'exec_id' }).format(e).key, '4242:987654321000');
  assert.equal(kafka({ key: 'none' }).format(e).key, null);
});

test('headers: content type, format, schema and version of the value, event type; all strings', () => {
  const json = kafka().format(ev('block-audit'));
  assert.deepEqual(json.headers, {
    'content-type': 'application/json',
    format: 'json',
    schema: 'aegisbpf',
    'schema-version': EVENT_SCHEMA_VERSION,
    'event-type': 'block',
  });
  const ocsf = kafka({ inner: { type: 'ocsf', version: '1.1.0' } }).format(ev('connect-ipv4'));
  assert.deepEqual(ocsf.headers, {
    'content-type': 'application/json',
    format: 'ocsf',
    schema: 'ocsf',
    'schema-version': '1.1.0',
    'event-type': 'connect',
  });
  const cef = kafka({ inner: 'cef' }).format(ev('sensor-started'));
  assert.equal(cef.headers['content-type'], 'text/plain; charset=utf-8');
  assert.equal(cef.headers['event-type'], 'sensor');
  for (const r of [json, ocsf, cef]) for (const v of Object.values(r.headers)) assert.equal(typeof v, 'string');
});

test('value: exactly the inner formatter output, for every string format and its options', () => {
  for (const inner of [
    'json',
    'cef',
    'leef',
    'ocsf',
    { type: 'leef', delimiter: '^', version: '2.0' },
    { type: 'cef', space_after_header: true },
  ] as const) {
    const f = kafka({ inner });
    const plain = createFormatter<string>(inner, GOLDEN_CONTEXT);
    for (const { event } of cases) assert.equal(f.format(event).value, plain.format(event));
  }
});

test('records are immutable and independent of each other', () => {
  const f = kafka();
  const a = f.format(ev('exec-full'));
  const b = f.format(ev('exec-minimal'));
  assert.ok(Object.isFrozen(a.headers));
  assert.throws(() => {
    (a.headers as Record<string, string>)['event-type'] = 'x';
  });
  assert.equal(b.headers['event-type'], 'exec');
  assert.notEqual(a.value, b.value);
});

test('options schema: inner is any string format with its own options; kafka cannot wrap kafka; key is an enum', () => {
  const validate = new Ajv2020({ strict: false }).compile(formatSpecSchema());
  assert.ok(
    validate({ type: 'kafka', key: 'exec_id', inner: { type: 'leef', delimiter: '^' } }),
    JSON.stringify(validate.errors),
  );
  assert.ok(validate({ type: 'kafka', inner: 'ocsf' }));
  assert.ok(!validate({ type: 'kafka', inner: 'kafka' }), 'a record format cannot be the inner format');
  assert.ok(!validate({ type: 'kafka', key: 'pid' }));
  assert.ok(
    !validate({ type: 'kafka', inner: { type: 'leef', delimiter: '=' } }),
    "the inner format's options are validated",
  );
  assert.throws(() => kafka({ inner: 'kafka' }), /must produce a string/);
});

test('no import cycle: loading kafka.ts before the registry works', () => {
  const script = `
    const { createKafkaFormatterDefinition } = require(${JSON.stringify(packagePath('dist', 'src', 'formatters', 'kafka.js'))});
    const registry = require(${JSON.stringify(packagePath('dist', 'src', 'formatters', 'registry.js'))});
    if (typeof createKafkaFormatterDefinition !== 'function') throw new Error('kafka module incomplete');
    const f = registry.createFormatter({ type: 'kafka', inner: 'cef' }, { hostname: 'h', version: '1' });
    if (!registry.formatterNames().includes('kafka')) throw new Error('kafka not registered');
    process.stdout.write(f.format(${JSON.stringify(ev('exec-minimal'))}).value.slice(0, 4));`;
  const r = spawnSync(process.execPath, ['-e', script], { encoding: 'utf8' });
  assert.equal(r.status, 0, r.stderr);
  assert.equal(r.stdout, 'CEF:');
});

test('replay --log-format=kafka previews the records as JSON lines {topic, key, headers, value}', () => {
  const sample = packagePath('samples', 'events.ndjson');
  const r = spawnSync(process.execPath, [packagePath('bin', 'aegisbpf.js'), 'replay', sample, '--log-format=kafka'], {
    encoding: 'utf8',
  });
  assert.equal(r.status, 0, r.stderr);
  const inputs = fs
    .readFileSync(sample, 'utf8')
    .split('\n')
    .filter((l) => l.trim() !== '')
    .map((l) => JSON.parse(l) as AegisEvent);
  const lines = r.stdout.trimEnd().split('\n');
  assert.equal(lines.length, inputs.length);
  lines.forEach((line, i) => {
    const rec = JSON.parse(line) as {
      topic: string;
      key: string | null;
      headers: Record<string, string>;
      value: string;
    };
    assert.deepEqual(Object.keys(rec), ['topic', 'key', 'headers', 'value']);
    assert.equal(rec.topic, 'aegisbpf.events');
    const input = inputs[i] as AegisEvent;
    assert.equal(rec.key, input.host);
    assert.equal(rec.headers['event-type'], input.type);
    assert.equal((JSON.parse(rec.value) as AegisEvent).type, input.type);
  });
});

test('the CLI refuses kafka as a --log-format for a file (records are not lines) with a usage error', () => {
  const r = spawnSync(
    process.execPath,
    [packagePath('bin', 'aegisbpf.js'), 'run', '--log=file', '--log-format=kafka'],
    { encoding: 'utf8' },
  );
  assert.equal(r.status, 2, r.stderr);
  assert.match(r.stderr, /--log-format 'kafka' produces records, not lines; formats for --log-format: .*cef.*json/);
  assert.equal(r.stdout, '');
});

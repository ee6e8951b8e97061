import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { validateConfigText } from '../../../src/config/load';
import { parseHecConfig } from '../../../src/sinks/splunk-hec/config';
import { getSinkDefinition } from '../../../src/sinks/registry';
import { resolveSecretFiles } from '../../../src/util/secrets';
import { makeTempDir } from '../../helpers/tmp';

const ENV = { SPLUNK_HEC_TOKEN: 'tok-123456', AEGIS_DATA_DIR: '/tmp/x' };

function problems(sink: string): readonly string[] {
  return validateConfigText(
    `sources: { s: { type: replay, path: samples/events.ndjson } }\nsinks:\n  splunk: ${sink}\n`,
    ENV,
  ).problems;
}

test('splunk_hec is registered; a minimal config validates and parses with the documented defaults', () => {
  assert.ok(getSinkDefinition('splunk_hec'));
  assert.deepEqual(
    problems('{ type: splunk_hec, endpoint: "https://splunk.example.com:8088", token: "${SPLUNK_HEC_TOKEN}" }'),
    [],
  );
  const c = parseHecConfig({ endpoint: 'https://splunk.example.com:8088/', token: 't' });
  assert.equal(c.endpoint, 'https://splunk.example.com:8088');
  assert.equal(c.endpointTarget, 'event');
  assert.equal(c.compression, 'gzip');
  assert.equal(c.compressionLevel, 1);
  assert.deepEqual(c.acknowledgements, { enabled: true, pollIntervalMillis: 500, timeoutMillis: 60_000 });
  assert.deepEqual(c.tls, { verify: true });
  assert.equal(c.channel, undefined);
  assert.equal(c.maxSockets, 17);
});

test('every problem is named by key', () => {
  const cases: [string, RegExp][] = [
    [
      '{ type: splunk_hec, endpoint: "https://s:8088" }',
      /sinks\.splunk\.token: is required \(set token, or token_file/,
    ],
    [
      '{ type: splunk_hec, endpoint: "https://s:8088/services/collector/event", token: t }',
      /sinks\.splunk\.endpoint: give the base URL only/,
    ],
    [
      '{ type: splunk_hec, endpoint: "https://user:pw@s:8088", token: t }',
      /sinks\.splunk\.endpoint: must not contain credentials/,
    ],
    ['{ type: splunk_hec, endpoint: "ftp://s", token: t }', /sinks\.splunk\.endpoint/],
    [
      '{ type: splunk_hec, endpoint: "https://s:8088", token: t, format: json }',
      /sinks\.splunk\.format: endpoint_target event needs the hec format/,
    ],
    [
      '{ type: splunk_hec, endpoint: "https://s:8088", token: t, endpoint_target: raw }',
      /sinks\.splunk\.format: is required with endpoint_target: raw/,
    ],
    [
      '{ type: splunk_hec, endpoint: "https://s:8088", token: t, endpoint_target: raw, format: hec }',
      /sinks\.splunk\.format: hec envelopes belong on endpoint_target: event/,
    ],
    [
      '{ type: splunk_hec, endpoint: "https://s:8088", token: t, index: main }',
      /sinks\.splunk\.index: applies to endpoint_target: raw only/,
    ],
    [
      '{ type: splunk_hec, endpoint: "https://s:8088", token: t, acknowledgements: { timeout_ms: 100000 } }',
      /sinks\.splunk\.acknowledgements\.timeout_ms: must be < request\.timeout_ms \(90000\)/,
    ],
    ['{ type: splunk_hec, endpoint: "https://s:8088", token: t, channel: not-a-guid }', /sinks\.splunk\.channel/],
    [
      '{ type: splunk_hec, endpoint: "http://s:8088", token: t, tls: { verify: false } }',
      /sinks\.splunk\.tls: applies to https endpoints only/,
    ],
    [
      '{ type: splunk_hec, endpoint: "https://s:8088", token: t, token_file: /x }',
      /sinks\.splunk\.token: set either token or token_file, not both/,
    ],
    ['{ type: splunk_hec, endpoint: "https://s:8088", token: t, compression: br }', /sinks\.splunk\.compression/],
  ];
  for (const [sink, re] of cases) {
    const p = problems(sink);
    assert.ok(
      p.some((x) => re.test(x)),
      `${sink}\n  → ${JSON.stringify(p)}`,
    );
  }
  assert.deepEqual(
    problems(
      '{ type: splunk_hec, endpoint: "https://s:8088", token: t, endpoint_target: raw, format: json, sourcetype: aegisbpf, index: edr }',
    ),
    [],
  );
  assert.deepEqual(
    problems(
      '{ type: splunk_hec, endpoint: "https://s:8088", token: t, format: { type: hec, index: edr, sourcetype: "aegisbpf" } }',
    ),
    [],
  );
});

test('token_file: read when the sink is built, trailing newline removed; the value is never part of validation output', () => {
  const { dir, cleanup } = makeTempDir();
  const file = path.join(dir, 'hec-token');
  fs.writeFileSync(file, 'secret-token-value\n', { mode: 0o600 });
  const raw = resolveSecretFiles('sinks.splunk', { type: 'splunk_hec', endpoint: 'https://s:8088', token_file: file }, [
    'token',
  ]);
  assert.equal(parseHecConfig(raw).token, 'secret-token-value');
  const r = validateConfigText(
    `sources: { s: { type: replay, path: x } }\nsinks: { splunk: { type: splunk_hec, endpoint: "https://s:8088", token_file: ${file}, compression: zz } }\n`,
    ENV,
  );
  assert.ok(!JSON.stringify(r).includes('secret-token-value'));
  cleanup();
});

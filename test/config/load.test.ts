import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { validateConfigText, loadConfigFile } from '../../src/config/load';
import { allowedFormats } from '../../src/config/schema';
import { substituteEnv } from '../../src/config/env';
import { resolveSecretFiles, redactSecrets } from '../../src/util/secrets';
import { makeTempDir } from '../helpers/tmp';
import { sinkTypes } from '../../src/sinks/registry';

const VALID = `
data_dir: /tmp/aegis-data
sources:
  sample: { type: replay, path: samples/events.ndjson, rate: 100 }
processors:
  - { type: filter, condition: 'type != "exit"' }
  - { type: dedupe, fields: [type, exec_id, path, action], window_ms: 5000 }
routes:
  - { name: blocks, when: 'type == "block"', sinks: [archive] }
  - { name: everything, sinks: [console] }
sinks:
  console: { type: stdout, format: json }
  archive:
    type: file
    path: /tmp/aegis-data/blocks.ndjson
    rotate: { max_bytes: 1000000, max_files: 3 }
    batch: { max_events: 500 }
`;

test('a valid configuration passes and is normalized', () => {
  const r = validateConfigText(VALID, {});
  assert.deepEqual(r.problems, []);
  const c = r.config!;
  assert.equal(c.dataDir, '/tmp/aegis-data');
  assert.equal(c.deadLetter.path, '/tmp/aegis-data/dead-letter.ndjson');
  assert.deepEqual(
    c.sources.map((s) => `${s.name}:${s.type}`),
    ['sample:replay'],
  );
  assert.deepEqual(
    c.processors.map((p) => p.name),
    ['filter#0', 'dedupe#1'],
  );
  assert.deepEqual(
    c.routes.map((r) => r.sinks),
    [['archive'], ['console']],
  );
});

test('every problem is listed with its key path', () => {
  const text = `
sources:
  s: { type: replay }
processors:
  - { type: filter, condition: 'typ == 1' }
  - { type: sample }
sinks:
  hec:
    type: file
    path: /tmp/x
    batch: { max_events: 0, max_bytse: 10 }
    buffer: { when_full: sometimes }
  other: { type: stdout, format: xml }
routes:
  - { name: r, sinks: [hecc] }
`;
  const r = validateConfigText(text, {});
  assert.equal(r.config, undefined);
  // Schema and semantic problems together (the filter's unknown field, the route's unknown sink).
  assert.deepEqual(
    r.problems.map((p) => p.replace(/; known fields: .*/, '')),
    [
      'processors.0.condition: unknown field \'typ\' in expression "typ == 1"',
      'processors.1.rate: is required',
      "routes.0.sinks.0: unknown sink 'hecc'; did you mean 'hec'?; defined sinks: hec, other",
      "sinks.hec.batch.max_bytse: unknown key; did you mean 'max_bytes'? (known keys: max_bytes, max_events, timeout_ms)",
      'sinks.hec.batch.max_events: must be >= 1',
      'sinks.hec.buffer.when_full: must be one of block, drop_newest (got "sometimes")',
      // Every registered string format, whoever added it.
      `sinks.other.format: unknown format "xml"; formats this sink can write: ${allowedFormats(['*', 'kafka']).join(', ')}`,
      'sources.s.path: is required',
    ],
  );
});

test('validate stops at schema errors and hides semantic problems: both kinds are listed together', () => {
  const r = validateConfigText(
    `
sources: { s: { type: stdin } }
sinks: { out: { type: stdout, batch: { max_events: 0 } } }
routes: [{ name: r, sinks: [ot] }]
`,
    {},
  );
  assert.deepEqual(r.problems, [
    "routes.0.sinks.0: unknown sink 'ot'; did you mean 'out'?; defined sinks: out",
    'sinks.out.batch.max_events: must be >= 1',
  ]);
});

test('semantic checks survive documents that failed the schema (wrong types everywhere), reporting without throwing', () => {
  const docs = [
    'sources: { s: null, t: [1], u: { type: replay, path: 5 } }\nsinks: { a: null, b: 7, c: { type: file, path: [] } }\nroutes: [5, null, { name: r, sinks: x }, { name: q, when: 3, sinks: [1, null, c] }]',
    'sources: []\nsinks: []\nprocessors: { a: 1 }\nroutes: {}\nmetrics: 5\ncontrol: []',
    'sources: { s: { type: stdin } }\nprocessors: [null, 3, { type: filter, condition: 7 }, { type: dedupe, fields: 5 }, { type: redact, fields: {} }]\nsinks: { o: { type: stdout, batch: 3, retry: { max_backoff_ms: "x" } } }',
  ];
  for (const text of docs) {
    const r = validateConfigText(text, {});
    assert.ok(r.problems.length > 0, text);
    assert.equal(r.config, undefined);
  }
});

test('error reasons have no size bound: validate lists at most 100 problems, each bounded, and says how many there were', () => {
  // A key of 1000 characters (YAML's longest implicit key is 1024) makes a problem line longer than the bound.
  const keys = Array.from({ length: 5000 }, (_, i) =>
    i === 0 ? `k_${'x'.repeat(1000)}: 1` : `k${i}_${'x'.repeat(10)}: 1`,
  ).join('\n');
  const r = validateConfigText(`sources: { s: { type: stdin } }\nsinks: { o: { type: stdout } }\n${keys}\n`, {});
  assert.equal(r.problems.length, 101);
  assert.equal(r.problemCount, 5000);
  assert.match(r.problems[100]!, /^… and 4900 more problems \(5000 in all\)$/);
  for (const p of r.problems) assert.ok(p.length < 1200, `${p.length} characters`);
});

test('semantic problems are reported once the schema passes', () => {
  const text = `
sources: { s: { type: stdin } }
processors: [{ type: filter, condition: 'typ == 1' }]
sinks: { out: { type: stdout, batch: { max_events: 5000 }, buffer: { max_events: 100 } } }
routes: [{ name: r, when: 'type ==', sinks: [ot] }]
`;
  const r = validateConfigText(text, {});
  assert.deepEqual(
    r.problems.map((p) => p.replace(/; known fields: .*/, '')),
    [
      'processors.0.condition: unknown field \'typ\' in expression "typ == 1"',
      "routes.0.sinks.0: unknown sink 'ot'; did you mean 'out'?; defined sinks: out",
      'routes.0.when: the expression ended early at position 8 in expression "type =="',
      'sinks.out.buffer.max_events: must be >= batch.max_events (5000), or no batch could ever fill',
    ],
  );
});

test('unknown sink, source and processor types list the known ones', () => {
  const r = validateConfigText(
    `
sources: { s: { type: kafkaa } }
processors: [{ type: filtr }]
sinks: { x: { type: splunk } }
`,
    {},
  );
  assert.ok(
    r.problems.some((p) =>
      p.startsWith(`sinks.x.type: unknown sink type "splunk"; known sink types: ${sinkTypes().join(', ')}`),
    ),
    r.problems.join('\n'),
  );
  assert.ok(
    r.problems.some((p) =>
      /^sources\.s\.type: unknown source type "kafkaa"; did you mean 'kafka'\?; known source types: activity, host, kafka, replay, sensor, stdin, trends/.test(
        p,
      ),
    ),
    r.problems.join('\n'),
  );
  assert.ok(
    r.problems.some((p) =>
      /^processors\.0\.type: unknown processor type "filtr"; did you mean 'filter'\?; known processor types: anomaly, dedupe, enrich, filter, redact, sample, throttle/.test(
        p,
      ),
    ),
    r.problems.join('\n'),
  );
});

test('one sensor source and one stdin source at most, with the reason; one of each and any number of replays are fine', () => {
  const two = validateConfigText(
    `
sources: { k1: { type: sensor }, r1: { type: replay, path: /a }, k2: { type: sensor }, i1: { type: stdin }, i2: { type: stdin }, r2: { type: replay, path: /b } }
sinks: { o: { type: stdout } }
`,
    {},
  );
  assert.deepEqual(two.problems, [
    "sources.i2: a second stdin source ('i1' is one); only one is allowed: a process has one standard input; two readers would split its lines between them",
    "sources.k2: a second sensor source ('k1' is one); only one is allowed: the kernel sensor is one per host: one set of BPF programs, one ring buffer, one policy",
  ]);
  const one = validateConfigText(
    `
sources: { k1: { type: sensor }, i1: { type: stdin }, r1: { type: replay, path: /a }, r2: { type: replay, path: /b } }
sinks: { o: { type: stdout } }
`,
    {},
  );
  assert.deepEqual(one.problems, []);
});

test('YAML syntax errors and non-mapping documents are clear', () => {
  assert.match(validateConfigText('sources: [unclosed', {}).problems[0]!, /^\(yaml\): /);
  assert.deepEqual(validateConfigText('- just\n- a list', {}).problems, [
    '(root): the configuration must be a YAML mapping (key: value pairs)',
  ]);
  assert.match(validateConfigText('a: 1\na: 2', {}).problems[0]!, /^\(yaml\): .*[Mm]ap keys must be unique/);
});

test('${VAR} and ${VAR:-default} substitution, typed whole scalars, $${ escape, missing variables named', () => {
  const problems: { path: string; message: string }[] = [];
  const out = substituteEnv(
    {
      a: '${HOST}:${PORT}',
      b: '${PORT}',
      c: '${MISSING:-fallback}',
      d: '$${literal}',
      e: ['${FLAG}'],
      f: '${NOPE}',
      g: '${EMPTY:-dflt}',
    },
    { HOST: 'h', PORT: '8088', FLAG: 'true', EMPTY: '' },
    problems as never,
  );
  assert.deepEqual(out, { a: 'h:8088', b: 8088, c: 'fallback', d: '${literal}', e: [true], f: '${NOPE}', g: 'dflt' });
  assert.deepEqual(
    problems.map((p) => `${p.path}: ${p.message}`),
    ['f: environment variable NOPE is not set (use ${NOPE:-default} for a default)'],
  );
  const r = validateConfigText(
    'sources: { s: { type: replay, path: "${EVENTS}" } }\nsinks: { o: { type: stdout } }',
    {},
  );
  assert.deepEqual(r.problems, [
    'sources.s.path: environment variable EVENTS is not set (use ${EVENTS:-default} for a default)',
  ]);
  const ok = validateConfigText(
    'sources: { s: { type: replay, path: "${EVENTS}", rate: "${RATE}" } }\nsinks: { o: { type: stdout } }',
    { EVENTS: '/x.ndjson', RATE: '50' },
  );
  assert.deepEqual(ok.problems, []);
  assert.equal(ok.config!.sources[0]!.raw.rate, 50);
});

test('*_file secrets are read at build time, trimmed, never both forms; redaction hides them', () => {
  const { dir, cleanup } = makeTempDir();
  const f = path.join(dir, 'salt');
  fs.writeFileSync(f, 'super-secret-salt-value\n', { mode: 0o600 });
  assert.deepEqual(resolveSecretFiles('processors.0', { type: 'redact', salt_file: f }, ['salt']), {
    type: 'redact',
    salt: 'super-secret-salt-value',
  });
  assert.throws(
    () => resolveSecretFiles('processors.0', { salt_file: path.join(dir, 'missing') }, ['salt']),
    /processors\.0\.salt_file: cannot read/,
  );
  assert.deepEqual(redactSecrets({ salt: 'x', fields: ['a'] }, ['salt']), { salt: '<redacted>', fields: ['a'] });
  const both = validateConfigText(
    `sources: { s: { type: stdin } }\nprocessors: [{ type: redact, fields: [exe], mode: hash, salt: aaaaaaaaaaaaaaaa, salt_file: ${f} }]\nsinks: { o: { type: stdout } }`,
    {},
  );
  assert.deepEqual(both.problems, ['processors.0.salt: set either salt or salt_file, not both']);
  const fileOnly = validateConfigText(
    `sources: { s: { type: stdin } }\nprocessors: [{ type: redact, fields: [exe], mode: hash, salt_file: ${f} }]\nsinks: { o: { type: stdout } }`,
    {},
  );
  assert.deepEqual(fileOnly.problems, []);
  cleanup();
});

test('loadConfigFile throws a ConfigError listing the problems, and AEGIS_ERR_CONFIG_READ for a missing file', () => {
  const { dir, cleanup } = makeTempDir();
  const f = path.join(dir, 'c.yml');
  fs.writeFileSync(f, 'sources: {}\nsinks: {}\n');
  assert.throws(
    () => loadConfigFile(f, {}),
    (err: Error & { code?: string; problems?: string[] }) =>
      err.code === 'AEGIS_ERR_CONFIG_INVALID' &&
      err.problems!.includes('sources: must NOT have fewer than 1 properties'),
  );
  assert.throws(
    () => loadConfigFile(path.join(dir, 'none.yml'), {}),
    (err: Error & { code?: string }) => err.code === 'AEGIS_ERR_CONFIG_READ',
  );
  cleanup();
});

test('a sink no route uses is a warning, not an error', () => {
  const r = validateConfigText(
    'sources: { s: { type: stdin } }\nroutes: [{ name: r, sinks: [a] }]\nsinks: { a: { type: stdout }, b: { type: stdout } }',
    {},
  );
  assert.deepEqual(r.problems, []);
  assert.deepEqual(r.warnings, ['sinks.b: no route sends events to this sink']);
});

test('timer values above 2^31-1 ms are refused by validate, saying it is the largest timer Node supports', () => {
  const r = validateConfigText(
    `
shutdown_timeout_ms: 2147483648
metrics: { healthcheck_interval_ms: 9999999999 }
sources: { s: { type: stdin } }
processors: [{ type: throttle, threshold: 1, window_ms: 3000000000 }]
sinks:
  x:
    type: stdout
    batch: { timeout_ms: 2147483648 }
    request: { timeout_ms: 2147483647 }
    retry: { max_backoff_ms: 1e12, max_duration_ms: 2147483648 }
`,
    {},
  );
  const bound = '2147483647 (the largest timer Node supports: 2^31-1 ms, about 24.8 days)';
  assert.deepEqual(r.problems, [
    `metrics.healthcheck_interval_ms: must be <= ${bound}`,
    `processors.0.window_ms: must be <= ${bound}`,
    `shutdown_timeout_ms: must be <= ${bound}`,
    `sinks.x.batch.timeout_ms: must be <= ${bound}`,
    `sinks.x.retry.max_backoff_ms: must be <= ${bound}`,
    `sinks.x.retry.max_duration_ms: must be <= ${bound}`,
  ]);
});

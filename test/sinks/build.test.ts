/**
 * buildSink: a configured entry becomes a running sink, with its secret files read, its counters and readiness
 * check registered, the sink type's core defaults applied, and its healthcheck options returned. And the layering
 * it made possible: nothing under src/sinks or src/pipeline imports src/config (the layer above them).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { buildSink } from '../../src/sinks/build';
import { createDeadLetterQueue } from '../../src/sinks/core/dead-letter';
import { createStatsRegistry } from '../../src/telemetry/stats';
import { silentLogger } from '../../src/util/logger';
import { generateEvents } from '../helpers/events';
import { makeTempDir } from '../helpers/tmp';

function context(dir: string) {
  const stats = createStatsRegistry();
  const deadLetter = createDeadLetterQueue({
    path: path.join(dir, 'dlq'),
    maxBytes: 1e9,
    logger: silentLogger,
    stats: stats.deadLetter,
  });
  return {
    stats,
    deadLetter,
    ctx: { logger: silentLogger, hostname: 'h', version: 't', dataDir: dir, stats, deadLetter },
  };
}

test('a file sink is built from its entry: counters and readiness registered, events delivered to the file', async () => {
  const { dir, cleanup } = makeTempDir();
  const { stats, deadLetter, ctx } = context(dir);
  const out = path.join(dir, 'events.ndjson');
  const built = buildSink(
    { name: 'f', type: 'file', raw: { type: 'file', path: out, healthcheck: { require: true } } },
    ctx,
  );
  assert.equal(built.sink.name, 'f');
  assert.deepEqual(built.healthcheck, { enabled: true, require: true, timeoutMillis: 10_000 });
  assert.equal(stats.sinks.get('f'), built.sink.stats);
  // Not ready until its start-up healthcheck ended (the pipeline starts it; sources do not wait for it).
  assert.match(
    stats.readiness.evaluate().checks.find((c) => c.name === 'sink.f')?.detail ?? '',
    /^sink 'f': start-up healthcheck pending$/,
  );
  assert.deepEqual(await built.startupHealthcheck(), { healthy: true });
  assert.ok(stats.readiness.evaluate().checks.some((c) => c.name === 'sink.f' && c.ready));
  built.sink.stats.healthy = false;
  built.sink.stats.lastError = 'disk full';
  assert.match(
    stats.readiness.evaluate().checks.find((c) => c.name === 'sink.f')?.detail ?? '',
    /sink 'f' is unhealthy: disk full/,
  );
  await built.sink.accept(generateEvents(3));
  await built.sink.close(5000);
  assert.equal(fs.readFileSync(out, 'utf8').trim().split('\n').length, 3);
  await deadLetter.close();
  cleanup();
});

test('secret files are read when the sink is built; an unreadable one names the key', async () => {
  const { dir, cleanup } = makeTempDir();
  const { deadLetter, ctx } = context(dir);
  const raw = { type: 'splunk_hec', endpoint: 'http://127.0.0.1:9', token_file: path.join(dir, 'missing') };
  assert.throws(() => buildSink({ name: 'hec', type: 'splunk_hec', raw }, ctx), /sinks\.hec\.token_file: cannot read/);
  fs.writeFileSync(path.join(dir, 'token'), 'tok-123\n', { mode: 0o600 });
  const built = buildSink(
    { name: 'hec', type: 'splunk_hec', raw: { ...raw, token_file: path.join(dir, 'token') } },
    ctx,
  );
  assert.equal(built.sink.type, 'splunk_hec');
  await built.sink.close(0);
  await deadLetter.close();
  cleanup();
});

test('an unknown sink type is a configuration error', () => {
  const { dir, cleanup } = makeTempDir();
  assert.throws(
    () => buildSink({ name: 'x', type: 'nope', raw: { type: 'nope' } }, context(dir).ctx),
    /Unknown sink type 'nope'/,
  );
  cleanup();
});

test('layering: nothing under src/sinks or src/pipeline imports src/config', () => {
  const root = path.join(__dirname, '..', '..', '..', 'src');
  const offenders: string[] = [];
  const walk = (dir: string): void => {
    for (const e of fs.readdirSync(dir, { withFileTypes: true })) {
      const p = path.join(dir, e.name);
      if (e.isDirectory()) walk(p);
      else if (p.endsWith('.ts')) {
        for (const m of fs.readFileSync(p, 'utf8').matchAll(/from '([^']+)'/g)) {
          const target = path.resolve(path.dirname(p), m[1] as string);
          if (target.startsWith(path.join(root, 'config') + path.sep))
            offenders.push(`${path.relative(root, p)} → ${m[1] as string}`);
        }
      }
    }
  };
  for (const layer of ['sinks', 'pipeline']) walk(path.join(root, layer));
  assert.deepEqual(offenders, []);
});

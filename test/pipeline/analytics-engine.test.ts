/**
 * The analytics pieces inside the engine: the anomaly processor's findings reach the sink as events and the
 * AnalyticsView (pipeline.analytics), and its learned state is written to the data dir when the engine shuts down.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { createPipeline } from '../../src/pipeline/engine';
import { validateConfigDocument } from '../../src/config/load';
import type { AegisEvent } from '../../src/event/types';
import { formatJson } from '../../src/formatters/json';
import { silentLogger } from '../../src/util/logger';
import { formatTimestampFromMillis } from '../../src/util/time';
import { makeTempDir } from '../helpers/tmp';

test('engine: a first-seen pair is an anomaly event in the sink and in pipeline.analytics; state saved at shutdown', async () => {
  const { dir, cleanup } = makeTempDir('aegis-analytics-engine-');
  try {
    const t0 = Date.UTC(2026, 10, 21);
    const exec = (i: number, at: number, exe: string): AegisEvent => ({
      ts: formatTimestampFromMillis(at),
      type: 'exec',
      host: 'web-1',
      pid: 100 + i,
      ppid: 1,
      start_time: i,
      exec_id: `${100 + i}:${i}`,
      trace_id: `${100 + i}:${i}`,
      cgid: 1,
      cgroup_path: '/',
      comm: 'x',
      exe,
      parent_exe: '/usr/sbin/nginx',
      event_id: `e${i}`,
    });
    const input = path.join(dir, 'in.ndjson');
    const lines = [exec(0, t0, '/usr/sbin/nginx'), exec(1, t0 + 2 * 3_600_000, '/bin/sh')].map((e) => formatJson(e));
    fs.writeFileSync(input, lines.join('\n') + '\n');
    const out = path.join(dir, 'out.ndjson');
    const result = validateConfigDocument({
      data_dir: dir,
      sources: { r: { type: 'replay', path: input } },
      processors: [{ type: 'anomaly', name: 'ids', detectors: [{ kind: 'rare', learn: '1h' }] }],
      sinks: { f: { type: 'file', path: out, fsync: 'never', rotate: { max_bytes: 0 } } },
    });
    assert.deepEqual(result.problems, []);
    const pipeline = createPipeline(result.config!, { logger: silentLogger, version: 't' });
    await pipeline.run();
    await pipeline.shutdown(5000);
    const written = fs
      .readFileSync(out, 'utf8')
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as AegisEvent);
    assert.deepEqual(
      written.map((e) => e.type),
      ['exec', 'exec', 'anomaly'],
    );
    const a = written[2] as Extract<AegisEvent, { type: 'anomaly' }>;
    assert.equal(a.anomaly_key, 'parent_exe=/usr/sbin/nginx exe=/bin/sh');
    assert.equal(a.trigger_event_id, 'e1');
    assert.deepEqual(
      pipeline.analytics.anomalies(t0).map((x) => x.event_id),
      ['e1:anomaly:rare'],
    );
    assert.deepEqual(pipeline.analytics.anomalies(t0 + 3 * 3_600_000), []);
    const state = JSON.parse(fs.readFileSync(path.join(dir, 'analytics', 'anomaly-ids.json'), 'utf8')) as {
      detectors: { kind: string; state: { seen: string[] } }[];
    };
    assert.deepEqual(state.detectors[0]!.state.seen.sort(), [
      'parent_exe=/usr/sbin/nginx exe=/bin/sh',
      'parent_exe=/usr/sbin/nginx exe=/usr/sbin/nginx',
    ]);
  } finally {
    cleanup();
  }
});

/**
 * The summary line of the real `aegisbpf run` ("aegisbpf stopped.") and its exit code: `lost` counts every event
 * nothing kept, wherever it was refused, and agrees with aegisbpf_dead_letter_failed_total.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { packagePath } from '../../src/util/paths';
import { runCli } from '../helpers/cli';
import { makeTempDir } from '../helpers/tmp';

test('regression: the summary counts as lost the invalid input lines the dead-letter file could not take', () => {
  const { dir, cleanup } = makeTempDir();
  try {
    const valid = fs.readFileSync(packagePath('samples', 'events.ndjson'), 'utf8');
    const lines = valid.trim().split('\n').slice(0, 5);
    const invalid = Array.from({ length: 9 }, (_, i) => `{"not an event": ${i}}`);
    const input = path.join(dir, 'in.ndjson');
    fs.writeFileSync(input, [...lines, ...invalid].join('\n') + '\n');
    const cfg = path.join(dir, 'c.yml');
    fs.writeFileSync(
      cfg,
      [
        `data_dir: ${dir}`,
        // Too small for any entry: every dead-letter write is refused and counted as failed.
        `dead_letter: { path: ${dir}/dlq.ndjson, max_bytes: 10 }`,
        `sources: { r: { type: replay, path: ${input} } }`,
        `sinks: { out: { type: file, path: ${dir}/out.ndjson } }`,
      ].join('\n'),
    );
    const r = runCli(['run', '--config', cfg], { env: { AEGIS_METRICS_PORT: 'off' } });
    assert.equal(r.code, 3, r.stderr);
    const summary = r.logs.find((l) => l.msg === 'aegisbpf stopped.');
    assert.ok(summary !== undefined, r.stderr);
    assert.equal(summary.invalid_input, 9);
    assert.equal(summary.dead_letter_written, 0);
    assert.equal(summary.lost, 9, 'every invalid line the dead-letter file refused is lost');
    assert.equal((summary.sinks as Record<string, { delivered: number }>).out?.delivered, 5);
  } finally {
    cleanup();
  }
});

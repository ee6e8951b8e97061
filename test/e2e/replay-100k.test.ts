/**
 * End to end: 100 000 generated events (every type, adversarial strings) replayed through filter → json → file by
 * the real binary, compared with the input event by event: zero lost, zero duplicated, order kept.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { runCli } from '../helpers/cli';
import { formatJson } from '../../src/formatters/json';
import { compileExpression } from '../../src/pipeline/expr';
import { makeEventFactory } from '../helpers/events';
import { makeTempDir } from '../helpers/tmp';

test('replay 100 000 events through filter → json → file: zero lost, zero duplicated, order kept', () => {
  const { dir, cleanup } = makeTempDir();
  const input = path.join(dir, 'in.ndjson');
  const make = makeEventFactory({ adversarial: true, seed: 7 });
  const fd = fs.openSync(input, 'w');
  const events = [];
  for (let i = 0; i < 100_000; i++) {
    const e = make(i);
    events.push(e);
    fs.writeSync(fd, formatJson(e) + '\n');
  }
  fs.closeSync(fd);
  const condition = 'type != "exit" && !(type == "connect" && remote_port < 100)';
  const out = path.join(dir, 'out.ndjson');
  const cfg = path.join(dir, 'c.yml');
  fs.writeFileSync(
    cfg,
    [
      `data_dir: ${dir}`,
      `sources: { r: { type: replay, path: ${input} } }`,
      `processors: [{ type: filter, condition: '${condition}' }]`,
      `sinks: { f: { type: file, path: ${out}, format: json, rotate: { max_bytes: 0 } } }`,
    ].join('\n'),
  );
  const r = runCli(['run', '--config', cfg]);
  assert.equal(r.code, 0, r.stderr);
  const keep = compileExpression(condition).test;
  const expected = events.filter(keep).map((e) => formatJson(e));
  const actual = fs.readFileSync(out, 'utf8').split('\n');
  assert.equal(actual.pop(), '', 'file ends with a newline');
  assert.equal(actual.length, expected.length, 'count');
  for (let i = 0; i < expected.length; i++)
    if (actual[i] !== expected[i]) assert.fail(`event ${i} differs:\n${actual[i]}\n${expected[i]}`);
  assert.equal(new Set(actual).size, actual.length, 'no duplicates');
  const summary = r.logs.find((l) => l.msg === 'aegisbpf stopped.')!;
  assert.equal(summary.events_in, 100_000);
  assert.equal((summary.removed_by_processors as Record<string, number>)['filter#0'], 100_000 - expected.length);
  cleanup();
});

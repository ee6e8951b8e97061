import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { execFileSync } from 'node:child_process';
import { createFileTransport } from '../../../src/sinks/file/transport';
import { parseFileConfig } from '../../../src/sinks/file/config';
import type { AegisEvent } from '../../../src/event/types';
import type { Batch } from '../../../src/sinks/core/types';
import { formatJson } from '../../../src/formatters/json';
import { runCli } from '../../helpers/cli';
import { generateEvents } from '../../helpers/events';
import { makeTempDir } from '../../helpers/tmp';
import { batchOf, runTransportContract } from '../transport-contract';

const readEvents = (file: string): AegisEvent[] =>
  fs.existsSync(file)
    ? fs
        .readFileSync(file, 'utf8')
        .split('\n')
        .filter(Boolean)
        .map((l) => JSON.parse(l) as AegisEvent)
    : [];

runTransportContract({
  name: 'file',
  create: () => {
    const { dir, cleanup } = makeTempDir();
    const file = path.join(dir, 'sub', 'events.ndjson');
    const transport = createFileTransport(parseFileConfig({ path: file }));
    return Promise.resolve({
      transport,
      received: () => Promise.resolve(readEvents(file)),
      // Break: replace the directory by a regular file, so the path cannot be opened (works as root too).
      breakReceiver: async () => {
        await transport.reopen!();
        if (fs.existsSync(path.join(dir, 'sub'))) fs.renameSync(path.join(dir, 'sub'), path.join(dir, 'sub.saved'));
        fs.writeFileSync(path.join(dir, 'sub'), 'not a directory');
      },
      restoreReceiver: async () => {
        fs.rmSync(path.join(dir, 'sub'));
        if (fs.existsSync(path.join(dir, 'sub.saved')))
          fs.renameSync(path.join(dir, 'sub.saved'), path.join(dir, 'sub'));
        await transport.reopen!();
      },
      cleanup: () => Promise.resolve(cleanup()),
    });
  },
});

test('file: size-based rotation keeps max_files rotated files, newest first, none torn', async () => {
  const { dir, cleanup } = makeTempDir();
  const file = path.join(dir, 'e.ndjson');
  const t = createFileTransport(
    parseFileConfig({ path: file, rotate: { max_bytes: 20_000, max_files: 3 }, fsync: 'never' }),
  );
  const events = generateEvents(500);
  for (let i = 0; i < events.length; i += 25)
    assert.equal((await t.send(batchOf(events.slice(i, i + 25)), new AbortController().signal)).kind, 'delivered');
  await t.close();
  const files = fs.readdirSync(dir).sort();
  assert.deepEqual(files, ['e.ndjson', 'e.ndjson.1', 'e.ndjson.2', 'e.ndjson.3']);
  for (const f of files) assert.ok(fs.statSync(path.join(dir, f)).size <= 20_000, `${f} exceeds the bound`);
  // Newest file holds the last events; together, the kept files are a contiguous tail of the stream.
  const kept = [
    ...readEvents(`${file}.3`),
    ...readEvents(`${file}.2`),
    ...readEvents(`${file}.1`),
    ...readEvents(file),
  ];
  assert.deepEqual(
    kept.map((e) => e.exec_id),
    events.slice(events.length - kept.length).map((e) => e.exec_id),
  );
  cleanup();
});

test('file: reopen (SIGHUP) after logrotate moved the file writes to a new file at the path', async () => {
  const { dir, cleanup } = makeTempDir();
  const file = path.join(dir, 'e.ndjson');
  const t = createFileTransport(parseFileConfig({ path: file }));
  const events = generateEvents(20);
  await t.send(batchOf(events.slice(0, 10)), new AbortController().signal);
  fs.renameSync(file, `${file}.rotated`); // what logrotate does
  await t.send(batchOf(events.slice(10, 15)), new AbortController().signal); // still the old inode
  await t.reopen!();
  await t.send(batchOf(events.slice(15)), new AbortController().signal);
  await t.close();
  assert.deepEqual(
    readEvents(`${file}.rotated`).map((e) => e.exec_id),
    events.slice(0, 15).map((e) => e.exec_id),
  );
  assert.deepEqual(
    readEvents(file).map((e) => e.exec_id),
    events.slice(15).map((e) => e.exec_id),
  );
  assert.equal((fs.statSync(file).mode & 0o777).toString(8), '640', 'new files are 0640');
  cleanup();
});

test('file: fsync policy — batch syncs once per batch, always once per record, never not at all', async () => {
  const { dir, cleanup } = makeTempDir();
  const probe = await fs.promises.open(path.join(dir, 'probe'), 'w');
  const proto = Object.getPrototypeOf(probe) as { datasync: () => Promise<void> };
  await probe.close();
  const original = proto.datasync;
  let syncs = 0;
  proto.datasync = function (this: unknown) {
    syncs++;
    return original.call(this);
  };
  try {
    for (const [policy, expected] of [
      ['never', 0],
      ['batch', 2],
      ['always', 20],
    ] as const) {
      syncs = 0;
      const t = createFileTransport(parseFileConfig({ path: path.join(dir, `${policy}.ndjson`), fsync: policy }));
      const events = generateEvents(20);
      await t.send(batchOf(events.slice(0, 10)), new AbortController().signal);
      await t.send(batchOf(events.slice(10)), new AbortController().signal);
      assert.equal(syncs, expected, `fsync: ${policy}`);
      await t.close();
    }
  } finally {
    proto.datasync = original;
  }
  cleanup();
});

test('file: a full disk (ENOSPC) rolls the partial write back, marks the sink unhealthy, and delivers once space returns', async (t) => {
  const { dir, cleanup } = makeTempDir();
  const mnt = path.join(dir, 'small');
  fs.mkdirSync(mnt);
  try {
    execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=128k', 'tmpfs', mnt], { stdio: 'pipe' });
  } catch (err) {
    t.skip(
      `cannot mount a small tmpfs to produce a real ENOSPC (needs root and mount rights): ${(err as Error).message.split('\n')[0] ?? ''}`,
    );
    cleanup();
    return;
  }
  try {
    fs.writeFileSync(path.join(mnt, 'filler'), Buffer.alloc(100 * 1024));
    const file = path.join(mnt, 'e.ndjson');
    const tr = createFileTransport(parseFileConfig({ path: file, fsync: 'batch', rotate: { max_bytes: 0 } }));
    const events = generateEvents(200);
    const delivered: AegisEvent[] = [];
    let failure: { kind: string; unhealthy?: boolean; reason?: string } | undefined;
    for (let i = 0; i < events.length; i += 20) {
      const batch = events.slice(i, i + 20);
      const r = await tr.send(batchOf(batch), new AbortController().signal);
      if (r.kind !== 'delivered') {
        failure = r;
        fs.rmSync(path.join(mnt, 'filler'), { force: true }); // space comes back
        const again = await tr.send(batchOf(batch, undefined, 2), new AbortController().signal);
        assert.equal(again.kind, 'delivered');
      }
      delivered.push(...batch);
    }
    await tr.close();
    assert.ok(failure !== undefined, 'the disk must have filled up at some point');
    assert.equal(failure.kind, 'retryable');
    assert.equal(failure.unhealthy, true);
    assert.match(failure.reason ?? '', /ENOSPC/);
    // Exactly the events, once each, no torn line.
    assert.deepEqual(
      readEvents(file).map((e) => e.exec_id),
      delivered.map((e) => e.exec_id),
    );
  } finally {
    execFileSync('umount', ['-l', mnt]);
    cleanup();
  }
});

test('file: each record is written byte-exact with its LF (multi-byte UTF-8 too), also when a record size is wrong', async () => {
  const { dir, cleanup } = makeTempDir();
  const file = path.join(dir, 'e.ndjson');
  const t = createFileTransport(parseFileConfig({ path: file, fsync: 'never' }));
  const lines = ['{"a":"plain"}', '{"p":"/tmp/é/日本/😀"}', '', '{"z":"\\u0000 end"}'];
  const recs = (sizes: (s: string) => number): Batch<string> => {
    const records = lines.map((data) => ({ event: generateEvents(1)[0] as AegisEvent, data, bytes: sizes(data) }));
    return { id: 1, attempt: 1, records, bytes: records.reduce((n, r) => n + r.bytes, 0) };
  };
  assert.equal(
    (
      await t.send(
        recs((s) => Buffer.byteLength(s)),
        new AbortController().signal,
      )
    ).kind,
    'delivered',
  );
  // A size that is not the UTF-8 length (a transport must not trust it blindly): same bytes on disk.
  assert.equal(
    (
      await t.send(
        recs((s) => s.length),
        new AbortController().signal,
      )
    ).kind,
    'delivered',
  );
  await t.close();
  const expected = lines.map((l) => l + '\n').join('');
  assert.equal(fs.readFileSync(file, 'utf8'), expected + expected);
  assert.equal(t.size(), 2 * Buffer.byteLength(expected));
  cleanup();
});

for (const fsync of ['batch', 'always'] as const) {
  test(`regression: the file sink does not duplicate without counting when attempts time out (request.timeout_ms: 1, fsync: ${fsync})`, () => {
    // Every attempt is aborted after 1 ms, mostly while its write is in the kernel. Retrying at once while the
    // abandoned write went on gave 5 000 events → 15 376 lines with "delivered 0, dead_lettered 5000".
    const { dir, cleanup } = makeTempDir();
    try {
      const events = generateEvents(5000, { seed: 3 });
      const input = path.join(dir, 'in.ndjson');
      fs.writeFileSync(input, events.map((e) => formatJson(e) + '\n').join(''));
      const out = path.join(dir, 'out.ndjson');
      const dlq = path.join(dir, 'dlq.ndjson');
      const cfg = path.join(dir, 'aegisbpf.yml');
      fs.writeFileSync(
        cfg,
        [
          `data_dir: ${dir}`,
          `dead_letter: { path: ${dlq} }`,
          `sources: { in: { type: replay, path: ${input} } }`,
          `sinks: { out: { type: file, path: ${out}, fsync: ${fsync}, request: { timeout_ms: 1 },`,
          `  retry: { initial_backoff_ms: 1, max_backoff_ms: 5, max_duration_ms: 100 }, batch: { max_events: 250 } } }`,
        ].join('\n'),
      );
      const r = runCli(['run', '--config', cfg]);
      assert.ok(r.code === 0 || r.code === 3, r.stderr);
      const lines = fs.existsSync(out) ? fs.readFileSync(out, 'utf8').split('\n').filter(Boolean) : [];
      const dead = fs.existsSync(dlq) ? fs.readFileSync(dlq, 'utf8').split('\n').filter(Boolean) : [];
      const inFile = lines.map((l) => (JSON.parse(l) as AegisEvent).exec_id);
      const inDlq = dead.map((l) => (JSON.parse(l) as { event: AegisEvent }).event.exec_id);
      assert.equal(new Set(inFile).size, inFile.length, 'no event twice in the file');
      assert.equal(lines.length + dead.length, 5000, `file ${lines.length} + dead-lettered ${dead.length} = 5000`);
      const both = inDlq.filter((id) => new Set(inFile).has(id));
      assert.deepEqual(both, [], 'no event both in the file and dead-lettered');
      const summary = r.logs.find((l) => l.msg === 'aegisbpf stopped.') as {
        sinks: { out: { delivered: number; dead_lettered: number; duplicates: number } };
      };
      assert.equal(summary.sinks.out.delivered, lines.length, 'the summary counts what the file holds');
      assert.equal(summary.sinks.out.dead_lettered, dead.length);
      assert.equal(summary.sinks.out.duplicates, 0);
    } finally {
      cleanup();
    }
  });
}

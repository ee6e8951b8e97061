/**
 * One process per disk-buffer directory (src/sinks/core/disk-format.ts lockBufferDir): a second `aegisbpf run` on
 * the same buffer refuses to start, naming the directory and the holder's pid, instead of interleaving segments
 * with the first; a lock left by a kill -9 never blocks the restart; `buffer repair` refuses under a running buffer.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { LOCK_FILE, bufferLockHolder, lockBufferDir } from '../../src/sinks/core/disk-format';
import { AegisError } from '../../src/util/errors';
import { formatJson } from '../../src/formatters/json';
import { generateEvents } from '../helpers/events';
import { runCli, spawnCli, waitExit } from '../helpers/cli';
import { startDaemon } from '../helpers/daemon';
import { makeTempDir } from '../helpers/tmp';

test('a second aegisbpf run on the same buffer directory refuses with its path and the holder’s pid; after kill -9 of the holder a restart takes the stale lock over', async () => {
  const { dir, cleanup } = makeTempDir();
  const bufferDir = path.join(dir, 'buf');
  const input = path.join(dir, 'in.ndjson');
  fs.writeFileSync(
    input,
    generateEvents(5)
      .map((e) => formatJson(e) + '\n')
      .join(''),
  );
  // A replay that never ends (loop, 20 events/s), so that the daemon runs until it is stopped.
  const config = `
data_dir: ${JSON.stringify(path.join(dir, 'data'))}
sources: { s: { type: replay, path: ${JSON.stringify(input)}, loop: true, rate: 20 } }
sinks:
  f:
    type: file
    path: ${JSON.stringify(path.join(dir, 'out.ndjson'))}
    buffer: { type: disk, path: ${JSON.stringify(bufferDir)}, max_bytes: 64MiB }
metrics: { listen: 127.0.0.1, port: 0 }
`;
  const first = await startDaemon(dir, config);
  try {
    const cfg = path.join(dir, 'second.yml');
    fs.writeFileSync(cfg, config);
    const second = await waitExit(
      spawnCli(['run', '--config', cfg], { AEGIS_CONTROL_SOCKET: path.join(dir, 'second.sock') }),
    );
    assert.notEqual(second.code, 0);
    assert.match(second.stderr, /AEGIS_ERR_BUFFER_LOCKED/);
    assert.ok(second.stderr.includes(bufferDir), second.stderr);
    assert.ok(second.stderr.includes(`pid ${first.child.pid}`), second.stderr);

    const repair = runCli(['buffer', 'repair', bufferDir]);
    assert.equal(repair.code, 1);
    assert.ok(repair.stderr.includes(`pid ${first.child.pid}`), repair.stderr);

    first.child.kill('SIGKILL');
    await first.exited();
    assert.ok(fs.existsSync(path.join(bufferDir, LOCK_FILE)), 'kill -9 leaves the lock file behind');
    assert.equal(bufferLockHolder(bufferDir), undefined, 'its holder is gone: stale');

    const restarted = await startDaemon(dir, config);
    assert.equal(bufferLockHolder(bufferDir)?.pid, restarted.child.pid);
    const stopped = await restarted.stop();
    assert.equal(stopped.code, 0, stopped.stderr);
    assert.equal(fs.existsSync(path.join(bufferDir, LOCK_FILE)), false, 'a clean stop removes the lock');
  } finally {
    if (first.child.exitCode === null) first.child.kill('SIGKILL');
    cleanup();
  }
});

test('lockBufferDir: a second sink of this process is refused; a live holder is refused; a reused pid (other start time) and an unreadable lock are stale', async () => {
  const { dir, cleanup } = makeTempDir();
  const release = lockBufferDir(dir);
  assert.throws(
    () => lockBufferDir(dir),
    (err: unknown) =>
      err instanceof AegisError && err.code === 'AEGIS_ERR_BUFFER_LOCKED' && /this one/.test(err.message),
  );
  release();
  assert.equal(fs.existsSync(path.join(dir, LOCK_FILE)), false);

  // A live process that holds the lock (its real start time): refused, named.
  const sleeper = spawn('sleep', ['30']);
  try {
    await new Promise((resolve) => sleeper.once('spawn', resolve));
    const pid = sleeper.pid as number;
    const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
    const start = stat.slice(stat.lastIndexOf(')') + 2).split(' ')[19] as string;
    fs.writeFileSync(path.join(dir, LOCK_FILE), `${pid} ${start}\n`);
    assert.throws(() => lockBufferDir(dir), new RegExp(`in use by another aegisbpf process \\(pid ${pid}\\)`));
    // The same pid with another start time is a reused pid: the holder is gone.
    fs.writeFileSync(path.join(dir, LOCK_FILE), `${pid} 1\n`);
    lockBufferDir(dir)();
  } finally {
    sleeper.kill('SIGKILL');
  }
  fs.writeFileSync(path.join(dir, LOCK_FILE), ''); // emptied by a power loss
  const again = lockBufferDir(dir);
  assert.equal(bufferLockHolder(dir)?.pid, process.pid);
  again();
  assert.deepEqual(
    fs.readdirSync(dir).filter((f) => f.startsWith(LOCK_FILE)),
    [],
    'no temporary or stale lock file left behind',
  );
  cleanup();
});

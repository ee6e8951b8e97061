/**
 * bin/aegisbpf.js re-executes the long-running commands with V8's young generation capped at 16 MiB per semi-space
 * (Node 24's default of 64 MiB doubled the pipeline's peak RSS; docs/benchmarks.md). Checked on the real process:
 * its command line as the kernel has it (/proc/PID/cmdline) and its pid (execve keeps it).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { makeTempDir } from '../helpers/tmp';
import { packagePath } from '../../src/util/paths';

const bin = packagePath('bin', 'aegisbpf.js');
const execveSkip =
  typeof (process as { execve?: unknown }).execve === 'function'
    ? false
    : `process.execve is not in Node ${process.versions.node}: the launcher runs without re-executing`;

function cmdline(pid: number): string[] {
  try {
    return fs.readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0').filter(Boolean);
  } catch {
    return [];
  }
}

/** Start `aegisbpf run` on a slow replay (it keeps running) and return the child once it logged its start. */
async function startDaemon(nodeArgs: string[]): Promise<{ child: ChildProcess; cleanup: () => Promise<void> }> {
  const { dir, cleanup: removeDir } = makeTempDir('aegis-launcher-');
  const config = path.join(dir, 'config.yml');
  fs.writeFileSync(
    config,
    [
      `data_dir: ${dir}`,
      `sources: { s: { type: replay, path: ${packagePath('samples', 'events.ndjson')}, rate: 1 } }`,
      `sinks: { out: { type: file, path: ${path.join(dir, 'out.ndjson')} } }`,
      'metrics: { listen: 127.0.0.1, port: 0 }',
      `control: { socket: ${path.join(dir, 'control.sock')} }`,
    ].join('\n'),
  );
  const child = spawn(process.execPath, [...nodeArgs, bin, 'run', '--config', config], {
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  let stderr = '';
  await new Promise<void>((resolve, reject) => {
    child.stderr.on('data', (d: Buffer) => {
      stderr += d.toString();
      if (stderr.includes('aegisbpf started.')) resolve();
    });
    child.once('exit', (code) => reject(new Error(`exited ${String(code)} before starting: ${stderr}`)));
  });
  return {
    child,
    cleanup: async () => {
      const exited = new Promise((resolve) => child.once('exit', resolve));
      child.kill('SIGTERM');
      await exited;
      removeDir();
    },
  };
}

test(
  'launcher: `run` re-executes itself with --max-semi-space-size=16, keeping its pid',
  { skip: execveSkip },
  async () => {
    const { child, cleanup } = await startDaemon([]);
    try {
      const argv = cmdline(child.pid!);
      assert.ok(argv.includes('--max-semi-space-size=16'), `command line: ${argv.join(' ')}`);
      assert.equal(argv.filter((a) => a === bin).length, 1, 'the script once, after the flag');
      assert.deepEqual(argv.slice(argv.indexOf(bin) + 1, argv.indexOf(bin) + 2), ['run']);
    } finally {
      await cleanup();
    }
  },
);

test('launcher: a semi-space size the user gave wins (no re-exec, no second flag)', { skip: execveSkip }, async () => {
  const { child, cleanup } = await startDaemon(['--max-semi-space-size=8']);
  try {
    const argv = cmdline(child.pid!);
    assert.ok(argv.includes('--max-semi-space-size=8'), `command line: ${argv.join(' ')}`);
    assert.ok(!argv.includes('--max-semi-space-size=16'), `command line: ${argv.join(' ')}`);
  } finally {
    await cleanup();
  }
});

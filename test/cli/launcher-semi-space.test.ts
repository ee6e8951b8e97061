/**
 * bin/aegisbpf.js re-executes the long-running commands with V8's young generation capped at 16 MiB per semi-space
 * (Node 24's default of 64 MiB doubled the pipeline's peak RSS; docs/benchmarks.md), a major GC once the old
 * generation doubled (--heap-growing-percent=100) and glibc's arenas capped at 2 (MALLOC_ARENA_MAX): issue 23,
 * memory. Checked on the real process: its command line and environment as the kernel has them (/proc/PID/cmdline,
 * /proc/PID/environ) and its pid (execve keeps it).
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

function environ(pid: number): string[] {
  try {
    return fs.readFileSync(`/proc/${pid}/environ`, 'utf8').split('\0').filter(Boolean);
  } catch {
    return [];
  }
}

function cmdline(pid: number): string[] {
  try {
    return fs.readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0').filter(Boolean);
  } catch {
    return [];
  }
}

/** Start `aegisbpf run` on a slow replay (it keeps running) and return the child once it logged its start. */
async function startDaemon(
  nodeArgs: string[],
  env: NodeJS.ProcessEnv = process.env,
): Promise<{ child: ChildProcess; cleanup: () => Promise<void> }> {
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
    env,
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

const withoutOverrides = (): NodeJS.ProcessEnv => {
  const env = { ...process.env };
  delete env.AEGIS_NODE_FLAGS;
  delete env.MALLOC_ARENA_MAX;
  return env;
};

test(
  'launcher: `run` re-executes itself with --max-semi-space-size=16, --heap-growing-percent=100 and MALLOC_ARENA_MAX=2, keeping its pid',
  { skip: execveSkip },
  async () => {
    const { child, cleanup } = await startDaemon([], withoutOverrides());
    try {
      const argv = cmdline(child.pid!);
      assert.ok(argv.includes('--max-semi-space-size=16'), `command line: ${argv.join(' ')}`);
      assert.ok(argv.includes('--heap-growing-percent=100'), `command line: ${argv.join(' ')}`);
      assert.ok(environ(child.pid!).includes('MALLOC_ARENA_MAX=2'), 'MALLOC_ARENA_MAX=2 in its environment');
      assert.equal(argv.filter((a) => a === bin).length, 1, 'the script once, after the flag');
      assert.deepEqual(argv.slice(argv.indexOf(bin) + 1, argv.indexOf(bin) + 2), ['run']);
    } finally {
      await cleanup();
    }
  },
);

test(
  'launcher: a semi-space size the user gave wins (no second flag; the other defaults added)',
  { skip: execveSkip },
  async () => {
    const { child, cleanup } = await startDaemon(['--max-semi-space-size=8'], withoutOverrides());
    try {
      const argv = cmdline(child.pid!);
      assert.ok(argv.includes('--max-semi-space-size=8'), `command line: ${argv.join(' ')}`);
      assert.ok(!argv.includes('--max-semi-space-size=16'), `command line: ${argv.join(' ')}`);
      assert.ok(argv.includes('--heap-growing-percent=100'), `command line: ${argv.join(' ')}`);
    } finally {
      await cleanup();
    }
  },
);

test(
  'launcher: AEGIS_NODE_FLAGS replaces the default flags and a MALLOC_ARENA_MAX given is kept',
  { skip: execveSkip },
  async () => {
    const { child, cleanup } = await startDaemon([], {
      ...withoutOverrides(),
      AEGIS_NODE_FLAGS: '--max-semi-space-size=4',
      MALLOC_ARENA_MAX: '3',
    });
    try {
      const argv = cmdline(child.pid!);
      assert.ok(argv.includes('--max-semi-space-size=4'), `command line: ${argv.join(' ')}`);
      assert.ok(!argv.some((a) => a.startsWith('--heap-growing-percent')), `command line: ${argv.join(' ')}`);
      assert.ok(environ(child.pid!).includes('MALLOC_ARENA_MAX=3'), 'the MALLOC_ARENA_MAX given');
    } finally {
      await cleanup();
    }
  },
);

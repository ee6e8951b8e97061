/**
 * Shared helpers for the kernel tests: skip reasons (never pretend), temp files, test-owned cgroups that are
 * removed even on failure, event collection and waiting.
 */
import { spawn, spawnSync } from 'node:child_process';
import type { SpawnSyncReturns } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { TestContext } from 'node:test';
import type { NativeBinding } from '../../src/native/binding';
import { loadNative, nativeStatus } from '../../src/native/binding';
import { findCgroup2Mount } from '../../src/sensor/cgroup-resolver';
import type { AegisEvent } from '../../src/event/types';
import type { FeatureReport } from '../../src/sensor/feature-probe';
import { probeFeatures } from '../../src/sensor/feature-probe';

let features: FeatureReport | undefined;

/** Why kernel tests cannot run here, or undefined when they can. */
export function kernelSkipReason(): string | undefined {
  if (process.platform !== 'linux') return `not Linux (${process.platform})`;
  if (process.geteuid?.() !== 0) return 'needs root (CAP_BPF/CAP_SYS_ADMIN to load BPF programs)';
  const st = nativeStatus();
  if (!st.available) return st.reason;
  const f = sharedFeatures();
  if (f.backend === undefined) return `sensor cannot run here: ${f.reasons.join('; ')}`;
  return undefined;
}

/** One probe per test file (it loads a handful of programs). */
export function sharedFeatures(): FeatureReport {
  features ??= probeFeatures({ native: loadNative() });
  return features;
}

export function native(): NativeBinding {
  return loadNative();
}

/** Skips `t` with the printed reason and returns true when kernel tests cannot run. */
export function skipUnlessKernel(t: TestContext): boolean {
  const reason = kernelSkipReason();
  if (reason === undefined) return false;
  t.skip(reason);
  return true;
}

export interface TempDir {
  readonly dir: string;
  file(name: string, content?: string): string;
  remove(): void;
}

export function tempDir(prefix: string): TempDir {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), `${prefix}-`));
  return {
    dir,
    file(name, content = 'aegisbpf test data\n') {
      const p = path.join(dir, name);
      fs.writeFileSync(p, content);
      return p;
    },
    remove() {
      fs.rmSync(dir, { recursive: true, force: true });
    },
  };
}

export interface TestCgroup {
  /** Absolute directory. */
  readonly path: string;
  /** Path relative to the cgroup2 mount, as events report it. */
  readonly rel: string;
  /** cgroup v2 id (directory inode). */
  readonly id: number;
  /** Kills what is left inside and removes the directory. */
  remove(): void;
}

/** A fresh cgroup v2 directory owned by this test. */
export function createTestCgroup(name: string): TestCgroup {
  const root = findCgroup2Mount();
  if (root === undefined) throw new Error('no cgroup v2 mount');
  const rel = `/aegis-test-${process.pid}-${name}`;
  const abs = path.join(root, rel);
  fs.mkdirSync(abs);
  return {
    path: abs,
    rel,
    id: fs.statSync(abs).ino,
    remove() {
      try {
        const pids = fs.readFileSync(path.join(abs, 'cgroup.procs'), 'utf8').split('\n').filter(Boolean);
        for (const pid of pids) {
          try {
            process.kill(Number(pid), 'SIGKILL');
          } catch {
            // already gone
          }
        }
      } catch {
        // directory already gone
      }
      for (let i = 0; i < 50; i++) {
        try {
          fs.rmdirSync(abs);
          return;
        } catch (err) {
          if ((err as NodeJS.ErrnoException).code === 'ENOENT') return;
          spawnSync('sleep', ['0.02']);
        }
      }
    },
  };
}

/** Runs `argv` inside `cgroup` (the shell moves itself in, then execs). */
export function runInCgroup(cgroup: TestCgroup, argv: readonly string[], timeoutMillis = 10_000): SpawnSyncReturns<string> {
  return spawnSync('/bin/sh', ['-c', 'echo $$ > "$AEGIS_CG/cgroup.procs" && exec "$@"', 'sh', ...argv], {
    encoding: 'utf8',
    env: { ...process.env, AEGIS_CG: cgroup.path },
    timeout: timeoutMillis,
  });
}

/** Runs `argv` asynchronously (the sensor lives on this event loop and must keep polling). */
export function run(argv: readonly string[], options: { cgroup?: TestCgroup; timeoutMillis?: number } = {}): Promise<{ pid: number; code: number | null; signal: NodeJS.Signals | null; stdout: string; stderr: string }> {
  const [cmd, args] = options.cgroup === undefined ? [argv[0] as string, argv.slice(1)] : ['/bin/sh', ['-c', 'echo $$ > "$AEGIS_CG/cgroup.procs" && exec "$@"', 'sh', ...argv]];
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, { env: { ...process.env, AEGIS_CG: options.cgroup?.path ?? '' }, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    const timer = setTimeout(() => child.kill('SIGKILL'), options.timeoutMillis ?? 10_000);
    child.on('error', reject);
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      resolve({ pid: child.pid ?? -1, code, signal, stdout, stderr });
    });
  });
}

export interface EventCollector {
  readonly events: AegisEvent[];
  readonly onEvents: (events: AegisEvent[]) => void;
  /** Resolves with the first event matching `pred` (already received or arriving within timeoutMillis). */
  waitFor(pred: (e: AegisEvent) => boolean, what: string, timeoutMillis?: number): Promise<AegisEvent>;
}

/** Collects events (bounded: the whole machine's exec/exit flow through a test sensor too). */
export function collectEvents(max = 200_000): EventCollector {
  const events: AegisEvent[] = [];
  return {
    events,
    onEvents(batch) {
      for (const e of batch) if (events.length < max) events.push(e);
    },
    async waitFor(pred, what, timeoutMillis = 5000) {
      const deadline = Date.now() + timeoutMillis;
      for (;;) {
        const hit = events.find(pred);
        if (hit !== undefined) return hit;
        if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMillis} ms waiting for ${what} (${events.length} events collected)`);
        await new Promise((r) => setTimeout(r, 10));
      }
    },
  };
}

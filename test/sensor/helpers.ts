/**
 * Shared helpers for the kernel tests: skip reasons (never pretend), temp files, test-owned cgroups that are
 * removed even on failure, event collection and waiting.
 */
import { spawn, spawnSync } from 'node:child_process';
import type { SpawnSyncReturns } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import type { TestContext } from 'node:test';
import type { NativeBinding } from '../../src/native/binding';
import { loadNative, nativeStatus } from '../../src/native/binding';
import { findCgroup2Mount } from '../../src/sensor/cgroup-resolver';
import { validateConfigDocument } from '../../src/config/load';
import type { AegisEvent } from '../../src/event/types';
import type { Pipeline } from '../../src/pipeline/engine';
import { createPipeline } from '../../src/pipeline/engine';
import type { SensorHandle, SensorSource } from '../../src/pipeline/sources/sensor';
import { createSensorSource, parseSensorSourceOptions } from '../../src/pipeline/sources/sensor';
import { createSourceStats } from '../../src/telemetry/stats';
import { silentLogger } from '../../src/util/logger';
import { makeTempDir } from '../helpers/tmp';
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
  const { dir, cleanup } = makeTempDir(`${prefix}-`);
  return {
    dir,
    file(name, content = 'aegisbpf test data\n') {
      const p = path.join(dir, name);
      fs.writeFileSync(p, content);
      return p;
    },
    remove: cleanup,
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
export function runInCgroup(
  cgroup: TestCgroup,
  argv: readonly string[],
  timeoutMillis = 10_000,
): SpawnSyncReturns<string> {
  return spawnSync('/bin/sh', ['-c', 'echo $$ > "$AEGIS_CG/cgroup.procs" && exec "$@"', 'sh', ...argv], {
    encoding: 'utf8',
    env: { ...process.env, AEGIS_CG: cgroup.path },
    timeout: timeoutMillis,
  });
}

/** Runs `argv` asynchronously (the sensor lives on this event loop and must keep polling). */
export function run(
  argv: readonly string[],
  options: { cgroup?: TestCgroup; timeoutMillis?: number } = {},
): Promise<{ pid: number; code: number | null; signal: NodeJS.Signals | null; stdout: string; stderr: string }> {
  const [cmd, args] =
    options.cgroup === undefined
      ? [argv[0] as string, argv.slice(1)]
      : ['/bin/sh', ['-c', 'echo $$ > "$AEGIS_CG/cgroup.procs" && exec "$@"', 'sh', ...argv]];
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, {
      env: { ...process.env, AEGIS_CG: options.cgroup?.path ?? '' },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
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
        if (Date.now() > deadline)
          throw new Error(
            `timed out after ${timeoutMillis} ms waiting for ${what} (${events.length} events collected)`,
          );
        await new Promise((r) => setTimeout(r, 10));
      }
    },
  };
}

/** Events a file sink wrote, read back as they arrive (the sink's NDJSON file, polled). */
export function tailEvents(file: string): EventCollector & { poll(): void } {
  const events: AegisEvent[] = [];
  let offset = 0;
  let partial = '';
  const poll = (): void => {
    let fd: number;
    try {
      fd = fs.openSync(file, 'r');
    } catch {
      return; // not created yet
    }
    try {
      const size = fs.fstatSync(fd).size;
      if (size <= offset) return;
      const buf = Buffer.alloc(size - offset);
      fs.readSync(fd, buf, 0, buf.length, offset);
      offset = size;
      const text = partial + buf.toString('utf8');
      const lines = text.split('\n');
      partial = lines.pop() ?? '';
      for (const l of lines) if (l.trim() !== '') events.push(JSON.parse(l) as AegisEvent);
    } finally {
      fs.closeSync(fd);
    }
  };
  return {
    events,
    poll,
    onEvents: () => undefined,
    async waitFor(pred, what, timeoutMillis = 5000) {
      const deadline = Date.now() + timeoutMillis;
      for (;;) {
        poll();
        const hit = events.find(pred);
        if (hit !== undefined) return hit;
        if (Date.now() > deadline)
          throw new Error(
            `timed out after ${timeoutMillis} ms waiting for ${what} (${events.length} events in the sink)`,
          );
        await new Promise((r) => setTimeout(r, 10));
      }
    },
  };
}

export interface PipelineRig {
  /** The running sensor and its policy engine. */
  readonly handle: SensorHandle;
  readonly pipeline: Pipeline;
  /** What reached the file sink. */
  readonly events: EventCollector & { poll(): void };
  readonly tmp: TempDir;
  close(): Promise<void>;
}

/**
 * The real path: the \`sensor\` source inside a pipeline built from a validated configuration, delivering into a
 * \`file\` sink that the test reads back. The source is scoped to this test: its own policy directory, no pinning,
 * network hooks only when the test gives a cgroup.
 */
export async function startPipelineRig(name: string, sourceRaw: Record<string, unknown> = {}): Promise<PipelineRig> {
  const tmp = tempDir(`aegis-${name}`);
  const out = path.join(tmp.dir, 'events.ndjson');
  const raw = {
    type: 'sensor',
    network_hooks: false,
    pin: false,
    policy_dir: path.join(tmp.dir, 'policy'),
    ...sourceRaw,
  };
  const result = validateConfigDocument({
    data_dir: tmp.dir,
    sources: { sensor: raw },
    sinks: {
      out: {
        type: 'file',
        path: out,
        fsync: 'never',
        rotate: { max_bytes: 0 },
        batch: { max_events: 1000, timeout_ms: 5 },
      },
    },
  });
  if (result.config === undefined) throw new Error(`test pipeline config: ${result.problems.join('; ')}`);
  const config = result.config;
  let source: SensorSource | undefined;
  const pipeline = createPipeline(config, {
    logger: silentLogger,
    version: 'test',
    sources: (c) => {
      const stats = createSourceStats('sensor', 'sensor');
      c.stats.sources.set('sensor', stats);
      source = createSensorSource(parseSensorSourceOptions(raw, tmp.dir), {
        name: 'sensor',
        logger: silentLogger,
        stats,
        deadLetter: c.deadLetter,
        hostname: c.hostname,
        dataDir: tmp.dir,
        registry: c.stats,
      });
      return [source];
    },
  });
  if (source === undefined) throw new Error('the pipeline did not build its sources');
  const sensorSource: SensorSource = source;
  await pipeline.start();
  const running = pipeline.run();
  let handle: SensorHandle;
  try {
    handle = await sensorSource.ready;
  } catch (err) {
    pipeline.stop();
    await pipeline.shutdown(2000);
    tmp.remove();
    throw err;
  }
  return {
    handle,
    pipeline,
    events: tailEvents(out),
    tmp,
    async close() {
      pipeline.stop();
      await pipeline.shutdown(5000);
      await running;
      tmp.remove();
    },
  };
}

/**
 * Shared pieces of the sensor benchmarks: the load generator (bench/sensor/loadgen.c, compiled with the system cc
 * into a temp dir), skip reasons, and the result format every benchmark prints.
 */
import { execFile, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { NativeProgramStats } from '../../src/native/binding';
import { nativeStatus } from '../../src/native/binding';

export interface BenchResult {
  readonly name: string;
  /** The target, in words. */
  readonly target: string;
  /** The measured headline number, in words. */
  readonly measured: string;
  readonly pass: boolean | 'skipped';
  readonly details: Readonly<Record<string, unknown>>;
}

const ROOT = path.resolve(__dirname, '..', '..', '..');
export const WORK_DIR = path.join(os.tmpdir(), 'aegisbpf-bench');

/** Why a kernel benchmark cannot run here, or undefined. */
export function kernelBenchSkipReason(): string | undefined {
  if (process.geteuid?.() !== 0) return 'needs root';
  const st = nativeStatus();
  return st.available ? undefined : st.reason;
}

let loadgenPath: string | undefined;

export function loadgen(): string {
  if (loadgenPath !== undefined) return loadgenPath;
  // always rebuilt: a stale binary from an older checkout would report a different format
  fs.mkdirSync(WORK_DIR, { recursive: true });
  const out = path.join(WORK_DIR, 'loadgen');
  const r = spawnSync(
    process.env.CC ?? 'cc',
    ['-O2', '-Wall', '-pthread', '-o', out, path.join(ROOT, 'bench', 'sensor', 'loadgen.c')],
    { encoding: 'utf8' },
  );
  if (r.status !== 0) throw new Error(`compiling bench/sensor/loadgen.c failed: ${r.stderr || r.error?.message}`);
  loadgenPath = out;
  return out;
}

export interface LoadgenResult {
  readonly mode: string;
  readonly ops: number;
  readonly seconds: number;
  /** CPU seconds the generator used (user + system), BPF and tracepoint cost included. */
  readonly cpu: number;
}

/** Runs the generator asynchronously (the sensor shares this event loop and must keep polling). */
export function runLoadgen(args: readonly string[]): Promise<LoadgenResult> {
  return new Promise((resolve, reject) => {
    execFile(loadgen(), args, { encoding: 'utf8' }, (err, stdout) => {
      if (err !== null) reject(new Error(`loadgen ${args.join(' ')} failed: ${err.message}`, { cause: err }));
      else resolve(JSON.parse(stdout.trim()) as LoadgenResult);
    });
  });
}

export function percentile(sorted: Float64Array | number[], p: number): number {
  if (sorted.length === 0) return Number.NaN;
  const idx = Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1));
  return sorted[idx] as number;
}

export function printResult(r: BenchResult): void {
  const mark = r.pass === 'skipped' ? 'SKIP' : r.pass ? 'PASS' : 'FAIL';
  process.stdout.write(`${mark} ${r.name}: ${r.measured} (target: ${r.target})\n`);
  process.stdout.write(`     ${JSON.stringify(r.details)}\n`);
}

export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

const STATS_SYSCTL = '/proc/sys/kernel/bpf_stats_enabled';

/** Runs `fn` with kernel.bpf_stats_enabled = 1 (per-program run time), restoring the previous value after. */
export async function withBpfStats<T>(fn: () => Promise<T>): Promise<T> {
  let previous: string | undefined;
  try {
    previous = fs.readFileSync(STATS_SYSCTL, 'utf8').trim();
    fs.writeFileSync(STATS_SYSCTL, '1');
  } catch {
    previous = undefined;
  }
  try {
    return await fn();
  } finally {
    if (previous !== undefined) fs.writeFileSync(STATS_SYSCTL, previous);
  }
}

/** Mean run time per program between two programStats() snapshots, e.g. { aegis_exit_openat: '412 ns x 1000' }. */
export function programCost(
  before: readonly NativeProgramStats[],
  after: readonly NativeProgramStats[],
): Record<string, string> {
  const out: Record<string, string> = {};
  for (const p of after) {
    const b = before.find((x) => x.name === p.name);
    const runs = p.runCount - (b?.runCount ?? 0);
    if (runs > 0) out[p.name] = `${Math.round((p.runTimeNs - (b?.runTimeNs ?? 0)) / runs)} ns x ${runs}`;
  }
  return out;
}

export function hostLoad(): string {
  return os
    .loadavg()
    .map((l) => l.toFixed(2))
    .join(' ');
}

/** Run the real aegisbpf binary (bin/aegisbpf.js) as a child process. */
import { spawn, spawnSync } from 'node:child_process';
import type { ChildProcessWithoutNullStreams } from 'node:child_process';
import os from 'node:os';
import path from 'node:path';
import { packagePath } from '../../src/util/paths';

export const BIN = packagePath('bin', 'aegisbpf.js');

let socketSeq = 0;

/**
 * Every daemon a test starts gets an ephemeral metrics port and its own control socket (unless the test sets
 * them), so that tests running in parallel, and a Prometheus server or another daemon on this machine, never meet on
 * port 9090 or /run/aegisbpf/control.sock. The daemon logs the port it got (`"aegisbpf started."`, `metricsPort`).
 */
export function daemonEnv(env: NodeJS.ProcessEnv = {}): NodeJS.ProcessEnv {
  return {
    AEGIS_METRICS_PORT: '0',
    AEGIS_CONTROL_SOCKET: path.join(os.tmpdir(), `aegis-test-${process.pid}-${++socketSeq}.sock`),
    ...env,
  };
}

export interface CliResult {
  readonly code: number | null;
  readonly stdout: string;
  readonly stderr: string;
  /** stderr parsed as JSON lines (the daemon's logs). */
  readonly logs: Record<string, unknown>[];
}

export function parseLogs(stderr: string): Record<string, unknown>[] {
  return stderr
    .split('\n')
    .filter((l) => l.trim() !== '')
    .map((l) => JSON.parse(l) as Record<string, unknown>);
}

export function runCli(
  args: readonly string[],
  options: { input?: string; env?: NodeJS.ProcessEnv; cwd?: string } = {},
): CliResult {
  const r = spawnSync(process.execPath, [BIN, ...args], {
    input: options.input,
    env: { ...process.env, ...daemonEnv(options.env) },
    cwd: options.cwd ?? packagePath(),
    encoding: 'utf8',
    maxBuffer: 512 * 1024 * 1024,
  });
  return {
    code: r.status,
    stdout: r.stdout,
    stderr: r.stderr,
    get logs() {
      return parseLogs(r.stderr);
    },
  };
}

export function spawnCli(args: readonly string[], env: NodeJS.ProcessEnv = {}): ChildProcessWithoutNullStreams {
  return spawn(process.execPath, [BIN, ...args], { env: { ...process.env, ...daemonEnv(env) }, cwd: packagePath() });
}

export function waitExit(
  child: ChildProcessWithoutNullStreams,
): Promise<{ code: number | null; stdout: string; stderr: string }> {
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (d: Buffer) => (stdout += d.toString('utf8')));
  child.stderr.on('data', (d: Buffer) => (stderr += d.toString('utf8')));
  return new Promise((resolve) => child.on('close', (code) => resolve({ code, stdout, stderr })));
}

/** Resolve when `predicate` holds on the child's accumulated stderr (its JSON logs). */
export function waitForLog(
  child: ChildProcessWithoutNullStreams,
  predicate: (line: Record<string, unknown>) => boolean,
  timeoutMillis = 15_000,
): Promise<void> {
  return new Promise((resolve, reject) => {
    let buf = '';
    const timer = setTimeout(
      () => reject(new Error(`log line not seen within ${timeoutMillis} ms; stderr so far:\n${buf}`)),
      timeoutMillis,
    );
    child.stderr.on('data', (d: Buffer) => {
      buf += d.toString('utf8');
      for (const line of buf.split('\n')) {
        if (line.trim() === '') continue;
        try {
          if (predicate(JSON.parse(line) as Record<string, unknown>)) {
            clearTimeout(timer);
            resolve();
            return;
          }
        } catch {
          /* partial line */
        }
      }
    });
  });
}

/** Poll until `check` is true (or throw after `timeoutMillis`). */
export async function waitUntil(check: () => boolean, what: string, timeoutMillis = 15_000): Promise<void> {
  const deadline = Date.now() + timeoutMillis;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

/**
 * A real `aegisbpf run` for tests that scrape it: started from a YAML config, on an ephemeral metrics port (the
 * port is read from its "aegisbpf started." line) and its own control socket.
 */
import http from 'node:http';
import type { ChildProcessWithoutNullStreams } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { parseLogs, spawnCli } from './cli';

export interface TestDaemon {
  readonly child: ChildProcessWithoutNullStreams;
  readonly port: number;
  readonly socket: string;
  /** Every log line so far. */
  logs(): Record<string, unknown>[];
  get(urlPath: string): Promise<{ status: number; body: string; headers: http.IncomingHttpHeaders }>;
  /** SIGTERM and wait; resolves with the exit code and stderr. */
  stop(): Promise<{ code: number | null; stderr: string }>;
  /** Wait for the daemon to exit by itself (its sources ended). */
  exited(): Promise<{ code: number | null; stderr: string }>;
}

export function httpGet(
  port: number,
  urlPath: string,
  method = 'GET',
): Promise<{ status: number; body: string; headers: http.IncomingHttpHeaders }> {
  return new Promise((resolve, reject) => {
    const req = http.request({ host: '127.0.0.1', port, path: urlPath, method, timeout: 10_000 }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (c: string) => (body += c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body, headers: res.headers }));
    });
    req.on('timeout', () => req.destroy(new Error(`GET ${urlPath} timed out`)));
    req.on('error', reject);
    req.end();
  });
}

/**
 * `waitFor`: the log message that means "up" (default `aegisbpf started.`); the port is that line's `metricsPort`
 * or `port`. A start-up that waits for a required sink is up for the test at `Metrics endpoint listening …`.
 */
export async function startDaemon(
  dir: string,
  configYaml: string,
  env: NodeJS.ProcessEnv = {},
  extraArgs: readonly string[] = [],
  waitFor = 'aegisbpf started.',
): Promise<TestDaemon> {
  const cfg = path.join(dir, `daemon-${Date.now()}-${Math.random().toString(16).slice(2)}.yml`);
  fs.writeFileSync(cfg, configYaml);
  const socket = path.join(dir, `ctl-${Math.random().toString(16).slice(2, 8)}.sock`);
  const child = spawnCli(['run', '--config', cfg, ...extraArgs], { AEGIS_CONTROL_SOCKET: socket, ...env });
  let stderr = '';
  child.stdout.resume();
  const exited = new Promise<number | null>((resolve) => child.on('close', (code) => resolve(code)));
  const port = await new Promise<number>((resolve, reject) => {
    const timer = setTimeout(() => {
      child.kill('SIGKILL'); // never leave a daemon behind a failed test
      reject(new Error(`daemon did not start within 30 s; stderr:\n${stderr}`));
    }, 30_000);
    child.stderr.on('data', (d: Buffer) => {
      stderr += d.toString('utf8');
      const started = parseLogsLenient(stderr).find((l) => l.msg === waitFor);
      if (started !== undefined) {
        clearTimeout(timer);
        const p = started.metricsPort ?? started.port;
        resolve(typeof p === 'number' ? p : 0);
      }
    });
    void exited.then((code) => {
      clearTimeout(timer);
      reject(new Error(`daemon exited (${String(code)}) before starting; stderr:\n${stderr}`));
    });
  });
  return {
    child,
    port,
    socket,
    logs: () => parseLogsLenient(stderr),
    get: (urlPath) => httpGet(port, urlPath),
    async stop() {
      if (child.exitCode === null) child.kill('SIGTERM');
      const code = await exited;
      return { code, stderr };
    },
    async exited() {
      const code = await exited;
      return { code, stderr };
    },
  };
}

/** parseLogs, skipping a last line that is still being written. */
function parseLogsLenient(stderr: string): Record<string, unknown>[] {
  const complete = stderr.slice(0, stderr.lastIndexOf('\n') + 1);
  return parseLogs(complete);
}

/** Samples of one metric family from a text exposition: [labels, value] pairs (no HELP/TYPE). */
export function samples(text: string, name: string): { labels: Record<string, string>; value: number }[] {
  const out: { labels: Record<string, string>; value: number }[] = [];
  for (const line of text.split('\n')) {
    if (line.startsWith('#') || line === '') continue;
    const m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{(.*)\})? (\S+)$/.exec(line);
    if (m === null || m[1] !== name) continue;
    const labels: Record<string, string> = {};
    for (const l of (m[3] ?? '').matchAll(/([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"/g))
      labels[l[1] as string] = (l[2] as string).replace(/\\n/g, '\n').replace(/\\"/g, '"').replace(/\\\\/g, '\\');
    out.push({ labels, value: Number(m[4]) });
  }
  return out;
}

export function sampleValue(text: string, name: string, labels: Record<string, string> = {}): number | undefined {
  return samples(text, name).find((s) => Object.entries(labels).every(([k, v]) => s.labels[k] === v))?.value;
}

/** Names of the families in an exposition (from its TYPE lines). */
export function familyNames(text: string): Set<string> {
  return new Set([...text.matchAll(/^# TYPE (\S+) \S+$/gm)].map((m) => m[1] as string));
}

/** Polls `probe` every 50 ms until it returns a value (returned), or throws after `timeoutMillis`. */
export async function until<T>(what: string, probe: () => Promise<T | undefined>, timeoutMillis = 20_000): Promise<T> {
  const deadline = Date.now() + timeoutMillis;
  for (;;) {
    const v = await probe();
    if (v !== undefined) return v;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

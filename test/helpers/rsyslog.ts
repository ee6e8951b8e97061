/**
 * Real rsyslogd instances for tests: the Debian package's binary, a private work directory, loopback ports chosen
 * free per instance, started in the foreground (`rsyslogd -n -f <conf> -i <pidfile>`) and stopped with SIGTERM.
 * The system rsyslog is never touched. A watchdog shell stops the instance if the test process dies first.
 */
import { spawn, spawnSync } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import dgram from 'node:dgram';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';

export const RSYSLOGD = ['/usr/sbin/rsyslogd', '/sbin/rsyslogd'].find((p) => fs.existsSync(p));
const MODULE_DIR = ['/usr/lib/x86_64-linux-gnu/rsyslog', '/usr/lib/rsyslog', '/usr/lib64/rsyslog'].find((p) =>
  fs.existsSync(p),
);

/** Why rsyslog tests cannot run here, or undefined when they can. `modules` are the .so names needed. */
export function rsyslogSkipReason(
  modules: readonly string[] = ['imtcp', 'mmpstrucdata', 'mmjsonparse'],
): string | undefined {
  if (RSYSLOGD === undefined)
    return 'rsyslogd is not installed (bash scripts/setup.sh test installs the Debian package rsyslog)';
  if (MODULE_DIR === undefined) return 'the rsyslog module directory was not found';
  const missing = modules.filter((m) => !fs.existsSync(path.join(MODULE_DIR, `${m}.so`)));
  if (missing.length > 0)
    return `rsyslog modules missing: ${missing.join(', ')} (packages rsyslog-openssl, rsyslog-gnutls, rsyslog-relp)`;
  return undefined;
}

export function rsyslogVersion(): string {
  if (RSYSLOGD === undefined) return 'none';
  const r = spawnSync(RSYSLOGD, ['-v'], { encoding: 'utf8' });
  return /rsyslogd\s+(\S+)/.exec(r.stdout)?.[1] ?? 'unknown';
}

/** A free loopback port of the given kind (bind to port 0, read it, release it). */
export async function freePort(kind: 'tcp' | 'udp' = 'tcp'): Promise<number> {
  if (kind === 'udp') {
    const s = dgram.createSocket('udp4');
    await new Promise<void>((resolve) => s.bind(0, '127.0.0.1', resolve));
    const port = s.address().port;
    await new Promise<void>((resolve) => s.close(() => resolve()));
    return port;
  }
  const server = net.createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as net.AddressInfo).port;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

/** Ports in LISTEN (tcp) or bound (udp) state, from /proc/net (no connection attempts, so no noise in rsyslog). */
export function listeningPorts(kind: 'tcp' | 'udp'): Set<number> {
  const ports = new Set<number>();
  for (const file of kind === 'tcp' ? ['/proc/net/tcp', '/proc/net/tcp6'] : ['/proc/net/udp', '/proc/net/udp6']) {
    let text = '';
    try {
      text = fs.readFileSync(file, 'utf8');
    } catch {
      continue;
    }
    for (const line of text.split('\n').slice(1)) {
      const cols = line.trim().split(/\s+/);
      if (cols.length < 4) continue;
      const port = parseInt((cols[1] ?? '').split(':')[1] ?? '', 16);
      if (kind === 'udp' || cols[3] === '0A') ports.add(port);
    }
  }
  return ports;
}

export interface RsyslogContext {
  readonly dir: string;
  readonly ports: Readonly<Record<string, number>>;
  /** The rsyslog module directory (for `module(load="…")` with full paths if needed). */
  readonly moduleDir: string;
}

export interface RsyslogOptions {
  /** Ports to allocate by name, with their kind. */
  readonly ports: Readonly<Record<string, 'tcp' | 'udp'>>;
  /** The configuration text. */
  readonly config: (ctx: RsyslogContext) => string;
  /** Keep an existing directory (a second instance reading the same files). */
  readonly dir?: string;
}

export interface Rsyslog extends RsyslogContext {
  readonly confPath: string;
  readonly running: boolean;
  /** The rsyslogd process id (`-n`: no fork, so all its threads), while it runs. */
  readonly pid: number | undefined;
  start(): Promise<void>;
  /** SIGTERM and wait for the exit (rsyslog drains its queue first). */
  stop(): Promise<void>;
  /** SIGKILL: no drain, nothing flushed. */
  kill(): Promise<void>;
  /** rsyslogd's own output (errors, warnings), for failure messages. */
  output(): string;
  cleanup(): Promise<void>;
}

const START_TIMEOUT_MILLIS = 20_000;

export async function startRsyslog(options: RsyslogOptions): Promise<Rsyslog> {
  if (RSYSLOGD === undefined || MODULE_DIR === undefined) throw new Error(rsyslogSkipReason());
  const dir = options.dir ?? fs.mkdtempSync(path.join(os.tmpdir(), 'aegis-rsyslog-'));
  const ports: Record<string, number> = {};
  for (const [name, kind] of Object.entries(options.ports)) ports[name] = await freePort(kind);
  const ctx: RsyslogContext = { dir, ports, moduleDir: MODULE_DIR };
  const confPath = path.join(dir, 'rsyslog.conf');
  fs.writeFileSync(confPath, options.config(ctx));
  const pidFile = path.join(dir, 'rsyslogd.pid');
  const logPath = path.join(dir, 'rsyslogd.out');
  let child: ChildProcess | undefined;
  let exited: Promise<void> = Promise.resolve();

  const check = spawnSync(RSYSLOGD, ['-N1', '-f', confPath], { encoding: 'utf8' });
  if (check.status !== 0)
    throw new Error(
      `rsyslog rejected the configuration ${confPath}:\n${check.stdout}${check.stderr}\n${fs.readFileSync(confPath, 'utf8')}`,
    );

  const instance: Rsyslog = {
    ...ctx,
    confPath,
    get pid() {
      return instance.running ? child?.pid : undefined;
    },
    get running() {
      return child !== undefined && child.exitCode === null && child.signalCode === null;
    },
    async start() {
      if (instance.running) return;
      fs.rmSync(pidFile, { force: true });
      const out = fs.openSync(logPath, 'a');
      child = spawn(RSYSLOGD, ['-n', '-f', confPath, '-i', pidFile], { stdio: ['ignore', out, out] });
      fs.closeSync(out);
      const c = child;
      exited = new Promise<void>((resolve) => c.once('exit', () => resolve()));
      // Watchdog: stop this rsyslogd if the test process dies without stopping it.
      spawn(
        'sh',
        [
          '-c',
          `while kill -0 ${process.pid} 2>/dev/null && kill -0 ${c.pid} 2>/dev/null; do sleep 1; done; kill ${c.pid} 2>/dev/null`,
        ],
        { stdio: 'ignore', detached: true },
      ).unref();
      const deadline = Date.now() + START_TIMEOUT_MILLIS;
      for (;;) {
        if (!instance.running) throw new Error(`rsyslogd exited at start:\n${instance.output()}`);
        const tcp = listeningPorts('tcp');
        const udp = listeningPorts('udp');
        const up = Object.entries(options.ports).every(([name, kind]) =>
          (kind === 'tcp' ? tcp : udp).has(ports[name] as number),
        );
        if (up) return;
        if (Date.now() > deadline)
          throw new Error(
            `rsyslogd did not listen on ${JSON.stringify(ports)} within ${START_TIMEOUT_MILLIS} ms:\n${instance.output()}`,
          );
        await new Promise((r) => setTimeout(r, 25));
      }
    },
    async stop() {
      if (!instance.running) return;
      child?.kill('SIGTERM');
      const timer = setTimeout(() => child?.kill('SIGKILL'), 30_000);
      await exited;
      clearTimeout(timer);
    },
    async kill() {
      if (!instance.running) return;
      child?.kill('SIGKILL');
      await exited;
    },
    output() {
      try {
        return fs.readFileSync(logPath, 'utf8');
      } catch {
        return '';
      }
    },
    async cleanup() {
      await instance.stop();
      if (options.dir === undefined && process.env.AEGIS_KEEP_TEST_DIRS !== '1')
        fs.rmSync(dir, { recursive: true, force: true });
    },
  };
  await instance.start();
  return instance;
}

/** Parse JSON lines written by rsyslog (a partial last line is left for later). */
export function readJsonLines(file: string): Record<string, unknown>[] {
  let text = '';
  try {
    text = fs.readFileSync(file, 'utf8');
  } catch {
    return [];
  }
  const lines = text.split('\n');
  lines.pop(); // after the last \n: empty, or a line still being written
  return lines
    .filter((l) => l !== '')
    .map((l, i) => {
      try {
        return JSON.parse(l) as Record<string, unknown>;
      } catch (err) {
        throw new Error(`${file}:${i + 1}: not JSON (${(err as Error).message}): ${l.slice(0, 300)}`);
      }
    });
}

/** LF bytes in `buf` (indexOf is a native memchr; a byte loop in JS costs seconds on a few hundred MB). */
function countLf(buf: Buffer): number {
  let n = 0;
  for (let i = buf.indexOf(0x0a); i !== -1; i = buf.indexOf(0x0a, i + 1)) n++;
  return n;
}

export function countLines(file: string): number {
  try {
    return countLf(fs.readFileSync(file));
  } catch {
    return 0;
  }
}

/**
 * Lines of a growing file, reading only what was appended since the last call: polling a file of hundreds of MB
 * must not read it whole each time (benchmarks time how soon the last line arrives).
 */
export function lineCounter(file: string): () => number {
  let offset = 0;
  let lines = 0;
  const chunk = Buffer.allocUnsafe(1 << 20);
  return () => {
    let fd: number;
    try {
      fd = fs.openSync(file, 'r');
    } catch {
      return lines;
    }
    try {
      for (;;) {
        const n = fs.readSync(fd, chunk, 0, chunk.length, offset);
        if (n === 0) break;
        offset += n;
        lines += countLf(chunk.subarray(0, n));
      }
    } finally {
      fs.closeSync(fd);
    }
    return lines;
  };
}

/**
 * Wait until `file` has at least `count` lines, then until it stops growing for `settleMillis` (so extra lines,
 * e.g. duplicates, are seen too). Throws with `what` on timeout.
 */
export async function waitForLines(
  file: string,
  count: number,
  what: string,
  timeoutMillis = 60_000,
  settleMillis = 500,
): Promise<number> {
  const deadline = Date.now() + timeoutMillis;
  const lines = lineCounter(file); // the receiver only appends while we wait
  let n = lines();
  while (n < count) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}: ${n} of ${count} lines in ${file}`);
    await new Promise((r) => setTimeout(r, 50));
    n = lines();
  }
  for (;;) {
    await new Promise((r) => setTimeout(r, settleMillis));
    const m = lines();
    if (m === n) return n;
    n = m;
  }
}

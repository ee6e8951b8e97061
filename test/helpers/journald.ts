/**
 * A real systemd-journald for the journald sink's tests, run as a plain process in a journal namespace of its own
 * (`systemd-journald NS`: socket /run/systemd/journal.NS/socket, files under /var/log/journal/<machine-id>.NS), so
 * that parallel test runs and a host journal never mix. Needs root (journald writes under /run and /var/log) and
 * Debian's systemd package, and the native addon (to tell when journald listens: after a restart the socket file
 * is there before journald binds it); otherwise `{ ok: false, reason }` for t.skip.
 */
import { execFile, spawn } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs';
import { promisify } from 'node:util';
import { loadNative } from '../../src/native/binding';

const JOURNALD = '/lib/systemd/systemd-journald';
const run = promisify(execFile);

export interface JournaldService {
  readonly ok: true;
  readonly namespace: string;
  readonly socketPath: string;
  /** Entries with this SYSLOG_IDENTIFIER, in journal order, as `journalctl -o json` prints them (after --sync). */
  read(identifier?: string): Promise<Record<string, unknown>[]>;
  /** Stop journald (the socket file stays, as after a crash: senders get ECONNREFUSED). */
  pause(): Promise<void>;
  /** Start it again on the same namespace. */
  resume(): Promise<void>;
  /** Stop and delete the namespace's sockets and journal files. Idempotent. */
  stop(): Promise<void>;
}

export type JournaldStart = JournaldService | { readonly ok: false; readonly reason: string };

function journalDirs(namespace: string): string[] {
  let machineId = '';
  try {
    machineId = fs.readFileSync('/etc/machine-id', 'utf8').trim();
  } catch {
    // no machine id: journald makes none up either; only the runtime dir is ours to remove
  }
  const dirs = [`/run/systemd/journal.${namespace}`];
  if (machineId !== '')
    dirs.push(`/var/log/journal/${machineId}.${namespace}`, `/run/log/journal/${machineId}.${namespace}`);
  return dirs;
}

async function waitFor(check: () => boolean, timeoutMillis: number): Promise<boolean> {
  const deadline = Date.now() + timeoutMillis;
  while (Date.now() < deadline) {
    if (check()) return true;
    await new Promise((r) => setTimeout(r, 50));
  }
  return check();
}

export async function startJournald(): Promise<JournaldStart> {
  if (process.getuid?.() !== 0) return { ok: false, reason: 'systemd-journald needs root (it writes under /run)' };
  if (!fs.existsSync(JOURNALD)) return { ok: false, reason: `${JOURNALD} is not installed (Debian package systemd)` };
  const namespace = `aegis${process.pid}${crypto.randomBytes(3).toString('hex')}`;
  const socketPath = `/run/systemd/journal.${namespace}/socket`;
  const varlink = `/run/systemd/journal.${namespace}/io.systemd.journal`;
  let child: ChildProcess | undefined;
  let stderr = '';
  const launch = async (): Promise<string | undefined> => {
    stderr = '';
    child = spawn(JOURNALD, [namespace], {
      stdio: ['ignore', 'ignore', 'pipe'],
      env: { ...process.env, SYSTEMD_LOG_TARGET: 'console', SYSTEMD_LOG_LEVEL: 'warning' },
    });
    child.stderr?.on('data', (d: Buffer) => (stderr += d.toString()));
    const exited = new Promise<void>((r) => child!.once('exit', () => r()));
    const up = await Promise.race([
      waitFor(() => fs.existsSync(varlink) && loadNative().journalProbe(socketPath) === 0, 10_000),
      exited.then(() => false),
    ]);
    return up ? undefined : `systemd-journald did not start: ${stderr.trim().slice(-400) || 'no output'}`;
  };
  const halt = async (): Promise<void> => {
    const c = child;
    child = undefined;
    if (c === undefined || c.exitCode !== null) return;
    const gone = new Promise<void>((r) => c.once('exit', () => r()));
    c.kill('SIGTERM');
    await Promise.race([gone, new Promise((r) => setTimeout(r, 5000))]);
    if (c.exitCode === null) c.kill('SIGKILL');
  };
  const remove = (): void => {
    for (const d of journalDirs(namespace)) fs.rmSync(d, { recursive: true, force: true });
  };
  const failed = await launch();
  if (failed !== undefined) {
    await halt();
    remove();
    return { ok: false, reason: failed };
  }
  return {
    ok: true,
    namespace,
    socketPath,
    async read(identifier = 'aegisbpf') {
      await run('journalctl', [`--namespace=${namespace}`, '--sync']);
      const { stdout } = await run(
        'journalctl',
        [`--namespace=${namespace}`, '-o', 'json', '--no-pager', '-t', identifier, '--all'],
        { maxBuffer: 512 * 1024 * 1024 },
      );
      return stdout
        .split('\n')
        .filter((l) => l.trim() !== '')
        .map((l) => JSON.parse(l) as Record<string, unknown>);
    },
    async pause() {
      await halt();
      // journald re-creates it at start: waiting for it then tells a restarted journald from the stopped one.
      fs.rmSync(varlink, { force: true });
    },
    async resume() {
      const failed2 = await launch();
      if (failed2 !== undefined) throw new Error(failed2);
    },
    async stop() {
      await halt();
      remove();
    },
  };
}

/**
 * A real syslog-ng for the rules/syslog-ng tests, from the Debian package unpacked by scripts/setup-syslog-ng.sh
 * (it conflicts with rsyslog, so it is never installed). Started in the foreground with private persist, pid and
 * control files, on loopback ports chosen free; stopped with SIGTERM. Skipped, with the reason, when the unpacked
 * copy is missing or does not run.
 */
import { spawn, spawnSync } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { freePort, listeningPorts } from './rsyslog';

function cacheDir(): string {
  return process.env.AEGIS_CACHE_DIR ?? path.join(os.homedir(), '.cache', 'aegisbpf');
}

/** The unpacked package root (…/syslog-ng-<version>/root), or undefined. */
export function syslogNgRoot(): string | undefined {
  const dir = cacheDir();
  if (!fs.existsSync(dir)) return undefined;
  const candidates = fs
    .readdirSync(dir)
    .filter((d) => d.startsWith('syslog-ng-'))
    .sort()
    .reverse();
  for (const c of candidates) {
    const root = path.join(dir, c, 'root');
    if (fs.existsSync(path.join(root, 'usr', 'sbin', 'syslog-ng'))) return root;
  }
  return undefined;
}

function env(root: string): NodeJS.ProcessEnv {
  return {
    ...process.env,
    LD_LIBRARY_PATH: [
      path.join(root, 'usr/lib/x86_64-linux-gnu'),
      path.join(root, 'lib/x86_64-linux-gnu'),
      path.join(root, 'usr/lib/syslog-ng'),
    ].join(':'),
  };
}

function moduleDir(root: string): string | undefined {
  const base = path.join(root, 'usr', 'lib', 'syslog-ng');
  const v = fs.existsSync(base) ? fs.readdirSync(base).find((d) => /^\d+\.\d+$/.test(d)) : undefined;
  return v === undefined ? undefined : path.join(base, v);
}

export function syslogNgSkipReason(): string | undefined {
  const root = syslogNgRoot();
  if (root === undefined)
    return `syslog-ng is not unpacked in ${cacheDir()} (bash scripts/setup.sh test runs scripts/setup-syslog-ng.sh; apt must reach the Debian mirror)`;
  if (moduleDir(root) === undefined) return 'the unpacked syslog-ng has no module directory';
  const r = spawnSync(path.join(root, 'usr', 'sbin', 'syslog-ng'), ['--version'], { env: env(root), encoding: 'utf8' });
  if (r.status !== 0) return `the unpacked syslog-ng does not run here: ${(r.stderr || r.stdout).slice(0, 300)}`;
  return undefined;
}

export function syslogNgVersion(): string {
  const root = syslogNgRoot();
  if (root === undefined) return 'none';
  return (
    /syslog-ng \d+ \(([^)]+)\)/.exec(
      spawnSync(path.join(root, 'usr', 'sbin', 'syslog-ng'), ['--version'], { env: env(root), encoding: 'utf8' })
        .stdout,
    )?.[1] ?? 'unknown'
  );
}

export interface SyslogNg {
  readonly dir: string;
  readonly ports: Readonly<Record<string, number>>;
  output(): string;
  /** Check the configuration only (`--syntax-only`); returns the problems, empty when fine. */
  stop(): Promise<void>;
}

/** Check a configuration with `syslog-ng --syntax-only`; resolves with its output, throws when it fails. */
export function checkSyslogNgConfig(confPath: string): string {
  const root = syslogNgRoot()!;
  const r = spawnSync(
    path.join(root, 'usr', 'sbin', 'syslog-ng'),
    ['--syntax-only', '-f', confPath, `--module-path=${moduleDir(root)!}`],
    { env: env(root), encoding: 'utf8' },
  );
  if (r.status !== 0) throw new Error(`syslog-ng rejected ${confPath}:\n${r.stdout}${r.stderr}`);
  return r.stdout + r.stderr;
}

export async function startSyslogNg(options: {
  dir: string;
  ports: Readonly<Record<string, 'tcp'>>;
  config: (ports: Readonly<Record<string, number>>) => string;
}): Promise<SyslogNg> {
  const root = syslogNgRoot();
  const mods = root === undefined ? undefined : moduleDir(root);
  if (root === undefined || mods === undefined) throw new Error(syslogNgSkipReason());
  const ports: Record<string, number> = {};
  for (const name of Object.keys(options.ports)) ports[name] = await freePort('tcp');
  const conf = path.join(options.dir, 'syslog-ng.conf');
  fs.writeFileSync(conf, options.config(ports));
  checkSyslogNgConfig(conf);
  const logPath = path.join(options.dir, 'syslog-ng.out');
  const out = fs.openSync(logPath, 'a');
  const child: ChildProcess = spawn(
    path.join(root, 'usr', 'sbin', 'syslog-ng'),
    [
      '-F',
      '-f',
      conf,
      `--module-path=${mods}`,
      `--persist-file=${path.join(options.dir, 'syslog-ng.persist')}`,
      `--pidfile=${path.join(options.dir, 'syslog-ng.pid')}`,
      `--control=${path.join(options.dir, 'syslog-ng.ctl')}`,
      '--no-caps',
    ],
    { env: env(root), stdio: ['ignore', out, out] },
  );
  fs.closeSync(out);
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  spawn(
    'sh',
    [
      '-c',
      `while kill -0 ${process.pid} 2>/dev/null && kill -0 ${child.pid} 2>/dev/null; do sleep 1; done; kill ${child.pid} 2>/dev/null`,
    ],
    { stdio: 'ignore', detached: true },
  ).unref();
  const output = (): string => (fs.existsSync(logPath) ? fs.readFileSync(logPath, 'utf8') : '');
  const deadline = Date.now() + 20_000;
  for (;;) {
    if (child.exitCode !== null || child.signalCode !== null)
      throw new Error(`syslog-ng exited at start:\n${output()}`);
    const listening = listeningPorts('tcp');
    if (Object.values(ports).every((p) => listening.has(p))) break;
    if (Date.now() > deadline) throw new Error(`syslog-ng did not listen on ${JSON.stringify(ports)}:\n${output()}`);
    await new Promise((r) => setTimeout(r, 25));
  }
  return {
    dir: options.dir,
    ports,
    output,
    async stop() {
      if (child.exitCode === null && child.signalCode === null) {
        child.kill('SIGTERM');
        await exited;
      }
    },
  };
}

/**
 * REST API benchmark (issue 18). SecBeat's figures are the targets:
 *
 * 1. `GET /api/v1/stats` p99 < 1 ms: the real daemon (`aegisbpf run`, a replay source at 2 000 events/s into a file
 *    sink, the API on loopback, plain HTTP and HTTPS), a client in this process sending sequential requests over one
 *    keep-alive connection with a viewer key, timing request sent → last byte received. The floor in the same run:
 *    `GET /api/v1/health` (no key, a constant body): what the HTTP stack costs without authentication and stats; and
 *    below it a bare Node.js server in its own process answering a constant body (no daemon at all): the host's floor.
 * 2. A blocklist change applied in the kernel p99 < 5 ms: `POST /api/v1/blocklist` then `DELETE` of path entries
 *    (KILL), alternating, against a daemon whose `sensor` source pinned its maps. Timed twice: request sent → the
 *    pinned `deny_path` map shows the change (polled from this process while the request is in flight), and
 *    request sent → response (which also waits for the policy store and the fsync'ed audit record). Skipped with
 *    the reason where the sensor cannot run (not root, no BPF).
 *
 *    Then 8 concurrent clients (one connection each) POST then DELETE one entry each, in bursts: changes/s and the
 *    response times, where the store and audit writes of changes arriving together are group-committed.
 *    With `--baseline-bin PATH` (another build's bin/aegisbpf.js, e.g. the main branch before a change), both parts
 *    run against both builds' daemons at once, alternating (blocks of 500 requests, rounds of 50 changes), so the
 *    before/after ratio is measured under the same load.
 *
 *   node dist/bench/api.js [--requests N] [--changes N] [--baseline-bin PATH] [--probe]
 *
 * --probe preloads bench/lib/daemon-probe.ts into the daemons: their event-loop delay, GC pauses, and per route the
 * time from the client's send to the daemon's `request` event and from there to the response's last byte.
 */
import { spawn, spawnSync } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import http from 'node:http';
import https from 'node:https';
import os from 'node:os';
import path from 'node:path';
import { loadNative } from '../src/native/binding';
import { MAPS } from '../src/sensor/abi';
import { sensorUnavailableReason } from '../src/sensor/feature-probe';
import { packagePath } from '../src/util/paths';

function arg(name: string, fallback: string): string {
  const i = process.argv.indexOf(`--${name}`);
  return i > 0 ? (process.argv[i + 1] as string) : fallback;
}
const pct = (xs: readonly number[], p: number): number => {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor((p / 100) * s.length))] as number;
};
const BIN = packagePath('bin', 'aegisbpf.js');

function cli(args: string[]): string {
  const r = spawnSync(process.execPath, [BIN, ...args], { encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`aegisbpf ${args.join(' ')}: ${r.stderr}`);
  return r.stdout.trim();
}

function makeCert(dir: string): { cert: string; key: string } {
  const cert = path.join(dir, 'api.crt');
  const key = path.join(dir, 'api.key');
  const r = spawnSync('openssl', [
    'req',
    '-x509',
    '-newkey',
    'ec',
    '-pkeyopt',
    'ec_paramgen_curve:P-256',
    '-nodes',
    '-days',
    '1',
    '-subj',
    '/CN=localhost',
    '-addext',
    'subjectAltName=IP:127.0.0.1',
    '-keyout',
    key,
    '-out',
    cert,
  ]);
  if (r.status !== 0) throw new Error(`openssl: ${r.stderr.toString()}`);
  return { cert, key };
}

/** With --probe: the daemon runs with bench/lib/daemon-probe.ts preloaded, which writes its findings here at exit. */
const PROBE = process.argv.includes('--probe');
const PROBE_JS = path.join(__dirname, 'lib', 'daemon-probe.js');

async function startDaemon(
  dir: string,
  config: string,
  bin = BIN,
  control = 'ctl.sock',
): Promise<{ child: ChildProcess; apiPort: number; probeFile: string }> {
  const file = path.join(dir, `bench-${Date.now()}-${control}.yml`);
  const probeFile = `${file}.probe.json`;
  fs.writeFileSync(file, config);
  // AEGIS_BENCH_DAEMON_NODE_ARGS: extra node options for the daemons only (e.g. `--cpu-prof --cpu-prof-dir=DIR`).
  const nodeArgs = (process.env.AEGIS_BENCH_DAEMON_NODE_ARGS ?? '').split(' ').filter((a) => a !== '');
  const child = spawn(
    process.execPath,
    [...nodeArgs, ...(PROBE ? ['-r', PROBE_JS] : []), bin, 'run', '--config', file],
    {
      stdio: ['ignore', 'ignore', 'pipe'],
      env: {
        ...process.env,
        AEGIS_CONTROL_SOCKET: path.join(dir, control),
        ...(PROBE ? { AEGIS_BENCH_PROBE_FILE: probeFile } : {}),
      },
    },
  );
  let stderr = '';
  const apiPort = await new Promise<number>((resolve, reject) => {
    const t = setTimeout(() => reject(new Error(`daemon did not start: ${stderr}`)), 30_000);
    child.stderr?.on('data', (d: Buffer) => {
      stderr += d.toString();
      const m = /"msg":"aegisbpf started\.".*?"apiPort":(\d+)/.exec(stderr);
      if (m !== null) {
        clearTimeout(t);
        resolve(Number(m[1]));
      }
    });
    child.on('exit', (code) => reject(new Error(`daemon exited ${String(code)}: ${stderr}`)));
  });
  return { child, apiPort, probeFile };
}

interface Probe {
  loop: { p50: number; p99: number; p999: number; max: number; count: number };
  /** kind: 1 scavenge (minor), 2 mark-compact (major), 4 incremental marking, 8 weak callbacks. */
  gc: { ms: number; kind: number }[];
  /** Ticks of a 1 ms timer that came more than 0.5 ms late: [lateness ms, main-thread CPU ms during the interval]. */
  late: [number, number][];
  requests: Record<string, [number, number][]>;
}

/** The daemon-side view of a run (--probe): where the time of each route's requests went. */
function probeReport(probeFile: string, label: string): void {
  if (!PROBE) return;
  const p = JSON.parse(fs.readFileSync(probeFile, 'utf8')) as Probe;
  const f = (x: number): string => x.toFixed(3);
  const gc = (kind: number): string => {
    const ms = p.gc.filter((g) => g.kind === kind).map((g) => g.ms);
    return ms.length === 0
      ? '0'
      : `${ms.length} (p50 ${f(pct(ms, 50))}, max ${f(Math.max(...ms))}, total ${f(ms.reduce((a, b) => a + b, 0))} ms)`;
  };
  process.stdout.write(
    `  [probe ${label}] daemon event-loop delay (timer lateness) p50 ${f(p.loop.p50)} p99 ${f(p.loop.p99)} p99.9 ${f(p.loop.p999)} max ${f(p.loop.max)} ms; GC scavenges ${gc(1)}, mark-compacts ${gc(2)}, incremental ${gc(4)}\n`,
  );
  const lateMs = p.late.reduce((a, x) => a + x[0], 0);
  // CPU during a late interval beyond the 1 ms the timer waited is the loop working; the rest, off the CPU.
  const busyMs = p.late.reduce((a, x) => a + Math.min(x[0], Math.max(0, x[1] - 1)), 0);
  const over2 = p.late.filter((x) => x[0] > 2);
  const over2Busy = over2.reduce((a, x) => a + Math.min(x[0], Math.max(0, x[1] - 1)), 0);
  const over2Late = over2.reduce((a, x) => a + x[0], 0);
  process.stdout.write(
    `  [probe ${label}] late 1 ms ticks (> 0.5 ms late): ${p.late.length}, ${f(lateMs)} ms late in all, of which the main thread busy ${f(busyMs)} ms, off the CPU ${f(lateMs - busyMs)} ms; ticks > 2 ms late: ${over2.length}, busy ${f(over2Busy)} / off-CPU ${f(over2Late - over2Busy)} ms\n`,
  );
  for (const [route, list] of Object.entries(p.requests)) {
    const arrive = list.map((x) => x[0]);
    const serve = list.map((x) => x[1]);
    process.stdout.write(
      `  [probe ${label}] ${route}: sent → request event p50 ${f(pct(arrive, 50))} p99 ${f(pct(arrive, 99))} ms; request → response finished p50 ${f(pct(serve, 50))} p99 ${f(pct(serve, 99))} ms (${list.length})\n`,
    );
  }
}

async function stop(child: ChildProcess): Promise<void> {
  const done = new Promise((resolve) => child.on('exit', resolve));
  child.kill('SIGTERM');
  await done;
}

/**
 * The floor below the daemon's own `/health`: a bare Node.js HTTP(S) server in its own process answering every request
 * with a constant body — no daemon, no pipeline, no authentication. What this host and Node's HTTP stack give at best,
 * measured by the same client in the same minutes.
 */
async function startBareServer(
  tls: { cert: string; key: string } | undefined,
): Promise<{ port: number; child: ChildProcess }> {
  const code = [
    "const fs = require('node:fs');",
    `const mod = require('node:${tls === undefined ? 'http' : 'https'}');`,
    tls === undefined
      ? 'const opts = {};'
      : `const opts = { cert: fs.readFileSync(${JSON.stringify(tls.cert)}), key: fs.readFileSync(${JSON.stringify(tls.key)}) };`,
    "const s = mod.createServer(opts, (q, r) => { r.writeHead(200, { 'content-type': 'application/json' }); r.end('{\"status\":\"ok\"}'); });",
    "s.listen(0, '127.0.0.1', () => process.stdout.write(s.address().port + '\\n'));",
  ].join('\n');
  const child = spawn(process.execPath, ['-e', code], { stdio: ['ignore', 'pipe', 'inherit'] });
  const port = await new Promise<number>((resolve, reject) => {
    child.stdout.once('data', (d: Buffer) => resolve(Number(d.toString().trim())));
    child.once('exit', (c) => reject(new Error(`bare server exited ${c}`)));
  });
  return { port, child };
}

type Requester = (method: string, urlPath: string, key?: string, body?: unknown) => Promise<number>;

function requester(port: number, tls: { ca: Buffer } | undefined): Requester {
  const agent =
    tls === undefined
      ? new http.Agent({ keepAlive: true, maxSockets: 1 })
      : new https.Agent({ keepAlive: true, maxSockets: 1, ca: tls.ca });
  const mod = tls === undefined ? http : https;
  return (method, urlPath, key, body) =>
    new Promise((resolve, reject) => {
      const payload = body === undefined ? undefined : JSON.stringify(body);
      const req = mod.request(
        {
          host: '127.0.0.1',
          port,
          method,
          path: urlPath,
          agent,
          headers: {
            ...(PROBE ? { 'x-bench-t0': String(process.hrtime.bigint()) } : {}),
            ...(key !== undefined ? { authorization: `Bearer ${key}` } : {}),
            ...(payload !== undefined
              ? { 'content-type': 'application/json', 'content-length': Buffer.byteLength(payload) }
              : {}),
          },
        },
        (res) => {
          res.resume();
          res.on('end', () => resolve(res.statusCode ?? 0));
        },
      );
      req.on('error', reject);
      if (payload !== undefined) req.write(payload);
      req.end();
    });
}

async function timeRequests(n: number, send: () => Promise<number>, expect: number, warm = true): Promise<number[]> {
  if (warm) for (let i = 0; i < Math.min(200, n); i++) await send(); // warm-up: JIT, TLS session, caches
  const out: number[] = [];
  for (let i = 0; i < n; i++) {
    const t0 = process.hrtime.bigint();
    const status = await send();
    out.push(Number(process.hrtime.bigint() - t0) / 1e6);
    if (status !== expect) throw new Error(`status ${status}, expected ${expect}`);
  }
  return out;
}

const line = (what: string, ms: number[]): string =>
  `${what}: p50 ${pct(ms, 50).toFixed(3)} ms, p99 ${pct(ms, 99).toFixed(3)} ms, max ${Math.max(...ms).toFixed(3)} ms (${ms.length} requests)`;

interface ChangeTimes {
  /** The daemon's CPU (user + system, ms) spent during this variant's rounds: per change = / (2 × changes). */
  cpuMs: number;
  /** Of which system time, ms. */
  sysMs: number;
  readonly add: number[];
  readonly del: number[];
  readonly addKernel: number[];
  readonly delKernel: number[];
}

/**
 * A daemon whose `sensor` source pins its maps, and `round(n)`: n POST/DELETE pairs of KILL path entries, each timed
 * request sent → the pinned `deny_path` map shows the change (polled from this process, one map read per event-loop
 * turn, while the request is in flight) and request sent → response.
 */
async function startChanger(
  dir: string,
  base: readonly string[],
  bin: string,
  operator: string,
  control: string,
): Promise<{
  times: ChangeTimes;
  round(n: number, tag: string): Promise<void>;
  /** `clients` connections each POST then DELETE one entry at once, `bursts` times: response times, wall time. */
  burst(clients: number, bursts: number): Promise<{ responses: number[]; wallMs: number; changes: number }>;
  close(): Promise<void>;
}> {
  const pinDir = `/sys/fs/bpf/aegis-bench-api-${process.pid}-${control.replace(/\W/g, '')}`;
  const d = await startDaemon(
    dir,
    [
      ...base,
      `sources: { kernel: { type: sensor, network_hooks: false, pin_dir: ${pinDir}, policy_dir: ${dir}/policy } }`,
      'api: { listen: 127.0.0.1:0 }',
    ].join('\n'),
    bin,
    control,
  );
  const send = requester(d.apiPort, undefined);
  // The sensor loads after "started": wait until the maps are pinned and a change goes through.
  const probe = path.join(dir, 'probe');
  for (let i = 0; ; i++) {
    await new Promise((r) => setTimeout(r, 200));
    if ((await send('POST', '/api/v1/blocklist', operator, { path: probe, action: 'KILL' })) !== 201) continue;
    await send('DELETE', `/api/v1/blocklist/${encodeURIComponent(probe)}`, operator);
    if (fs.existsSync(path.join(pinDir, MAPS.denyPath)) || i > 50) break;
  }
  const denyPath = loadNative().openPinnedMap(path.join(pinDir, MAPS.denyPath));
  const untilEntries = async (want: number, t0: bigint): Promise<number> => {
    for (;;) {
      if (denyPath.entries().count === want) return Number(process.hrtime.bigint() - t0) / 1e6;
      await new Promise((r) => setImmediate(r));
    }
  };
  const times: ChangeTimes = { cpuMs: 0, sysMs: 0, add: [], del: [], addKernel: [], delKernel: [] };
  const pid = d.child.pid as number;
  const cpu = (): { all: number; sys: number } => {
    // /proc/<pid>/stat fields 14 and 15 (utime, stime) in clock ticks (USER_HZ = 100 on Linux): after the comm's ')'.
    const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
    const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return { all: (Number(f[11]) + Number(f[12])) * 10, sys: Number(f[12]) * 10 };
  };
  return {
    times,
    async round(n, tag) {
      const cpu0 = cpu();
      for (let i = 0; i < n; i++) {
        const target = path.join(dir, `blocked-${tag}-${i}`);
        let t0 = process.hrtime.bigint();
        let pending = send('POST', '/api/v1/blocklist', operator, { path: target, action: 'KILL' });
        times.addKernel.push(await untilEntries(1, t0));
        let s = await pending;
        times.add.push(Number(process.hrtime.bigint() - t0) / 1e6);
        if (s !== 201) throw new Error(`POST: ${s}`);
        t0 = process.hrtime.bigint();
        pending = send('DELETE', `/api/v1/blocklist/${encodeURIComponent(target)}`, operator);
        times.delKernel.push(await untilEntries(0, t0));
        s = await pending;
        times.del.push(Number(process.hrtime.bigint() - t0) / 1e6);
        if (s !== 200) throw new Error(`DELETE: ${s}`);
      }
      const cpu1 = cpu();
      times.cpuMs += cpu1.all - cpu0.all;
      times.sysMs += cpu1.sys - cpu0.sys;
    },
    async burst(clients, bursts) {
      const senders = Array.from({ length: clients }, () => requester(d.apiPort, undefined));
      const responses: number[] = [];
      const timed = async (f: () => Promise<number>, want: number): Promise<void> => {
        const t0 = process.hrtime.bigint();
        const status = await f();
        responses.push(Number(process.hrtime.bigint() - t0) / 1e6);
        if (status !== want) throw new Error(`burst: status ${status}, expected ${want}`);
      };
      const w0 = process.hrtime.bigint();
      for (let b = 0; b < bursts; b++) {
        const targets = senders.map((_, i) => path.join(dir, `burst-${b}-${i}`));
        await Promise.all(
          senders.map((send, i) =>
            timed(() => send('POST', '/api/v1/blocklist', operator, { path: targets[i], action: 'KILL' }), 201),
          ),
        );
        await Promise.all(
          senders.map((send, i) =>
            timed(() => send('DELETE', `/api/v1/blocklist/${encodeURIComponent(targets[i] as string)}`, operator), 200),
          ),
        );
      }
      return { responses, wallMs: Number(process.hrtime.bigint() - w0) / 1e6, changes: 2 * clients * bursts };
    },
    async close() {
      denyPath.close();
      await stop(d.child);
      fs.rmSync(pinDir, { recursive: true, force: true });
      probeReport(d.probeFile, `blocklist ${control}`);
    },
  };
}

async function main(): Promise<void> {
  const requests = Number(arg('requests', '3000'));
  const changes = Number(arg('changes', '200'));
  const baselineBin = arg('baseline-bin', '');
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'aegis-bench-api-'));
  const results: Record<string, unknown> = { load: os.loadavg()[0] };
  try {
    const files = ['--keys-file', path.join(dir, 'api-keys.json'), '--audit-file', path.join(dir, 'audit.log')];
    const viewer = cli(['auth', 'create-key', '--name', 'bench-viewer', '--role', 'viewer', ...files]);
    const operator = cli(['auth', 'create-key', '--name', 'bench-operator', '--role', 'operator', ...files]);
    const { cert, key } = makeCert(dir);
    const base = [
      `data_dir: ${dir}`,
      `sinks: { out: { type: file, path: ${dir}/out.ndjson, fsync: never } }`,
      'metrics: { enabled: false }',
    ];
    const variants = [
      ...(baselineBin !== '' ? [{ label: 'before', bin: baselineBin }] : []),
      { label: baselineBin !== '' ? 'after' : 'this build', bin: BIN },
    ];
    for (const tls of [false, true]) {
      const proto = tls ? 'https' : 'http';
      // Every build's daemon runs at once and the requests alternate between them in blocks of 500, so that before
      // and after see the same load.
      const daemons = [];
      for (const [i, v] of variants.entries()) {
        const d = await startDaemon(
          dir,
          [
            ...base,
            `sources: { s: { type: replay, path: ${packagePath('samples', 'events.ndjson')}, rate: 2000, loop: true } }`,
            `api: { listen: 127.0.0.1:0${tls ? `, tls: { cert_file: ${cert}, key_file: ${key} }` : ''} }`,
          ].join('\n'),
          v.bin,
          `stats-${proto}-${i}.sock`,
        );
        const send = requester(d.apiPort, tls ? { ca: fs.readFileSync(cert) } : undefined);
        daemons.push({ ...v, d, send, health: [] as number[], stats: [] as number[] });
      }
      const bare = await startBareServer(tls ? { cert, key } : undefined);
      const bareSend = requester(bare.port, tls ? { ca: fs.readFileSync(cert) } : undefined);
      const bareTimes: number[] = [];
      try {
        const block = 500;
        for (let done = 0; done < requests; done += block) {
          const n = Math.min(block, requests - done);
          for (const x of daemons) {
            x.health.push(...(await timeRequests(n, () => x.send('GET', '/api/v1/health'), 200, done === 0)));
            x.stats.push(...(await timeRequests(n, () => x.send('GET', '/api/v1/stats', viewer), 200, done === 0)));
          }
          bareTimes.push(...(await timeRequests(n, () => bareSend('GET', '/'), 200, done === 0)));
        }
      } finally {
        for (const x of daemons) await stop(x.d.child);
        await stop(bare.child);
      }
      process.stdout.write(
        `${line(`bare Node.js ${proto} server, constant body, no daemon (host floor)`, bareTimes)}\n`,
      );
      results[`bare_${proto}_p50_ms`] = pct(bareTimes, 50);
      results[`bare_${proto}_p99_ms`] = pct(bareTimes, 99);
      for (const x of daemons) {
        const tag = variants.length > 1 ? `${x.label}: ` : '';
        process.stdout.write(`${line(`${tag}GET /api/v1/health (${proto}, floor)`, x.health)}\n`);
        process.stdout.write(
          `${line(`${tag}GET /api/v1/stats (${proto})`, x.stats)}; p99 / floor p99 = ${(pct(x.stats, 99) / pct(x.health, 99)).toFixed(2)}\n`,
        );
        const k = x.label === 'this build' ? '' : `${x.label}_`;
        results[`${k}${proto}_health_p50_ms`] = pct(x.health, 50);
        results[`${k}${proto}_health_p99_ms`] = pct(x.health, 99);
        results[`${k}${proto}_stats_p50_ms`] = pct(x.stats, 50);
        results[`${k}${proto}_stats_p99_ms`] = pct(x.stats, 99);
        probeReport(x.d.probeFile, `${tag}${proto}`);
      }
    }

    const reason = sensorUnavailableReason();
    if (reason !== undefined) {
      process.stdout.write(`blocklist change in the kernel: skipped (${reason})\n`);
      results.blocklist = `skipped: ${reason}`;
    } else {
      const runs = [];
      for (const [i, v] of variants.entries()) {
        const vdir = path.join(dir, `v${i}`);
        fs.mkdirSync(vdir);
        runs.push({ ...v, ...(await startChanger(vdir, base, v.bin, operator, `ctl-${i}.sock`)) });
      }
      try {
        const rounds = Math.max(1, Math.ceil(changes / 50));
        for (let r = 0; r < rounds; r++)
          for (const run of runs) await run.round(Math.min(50, changes - r * 50), `${r}`);
        // Concurrent clients: changes arriving together (group commit of the store and audit writes after).
        const clients = 8;
        for (const run of runs) {
          const b = await run.burst(clients, Math.max(1, Math.round(changes / 40)));
          const tag = `${run.label}: `;
          process.stdout.write(
            `${line(`${tag}${clients} concurrent clients, request → response`, b.responses)}; ${((b.changes / b.wallMs) * 1000).toFixed(0)} changes/s\n`,
          );
          const k = run.label === 'this build' ? '' : `${run.label}_`;
          results[`${k}blocklist_concurrent_changes_per_s`] = (b.changes / b.wallMs) * 1000;
          results[`${k}blocklist_concurrent_response_p99_ms`] = pct(b.responses, 99);
        }
        results.blocklist_load = os.loadavg()[0];
        for (const run of runs) {
          const t = run.times;
          const tag = `${run.label}: `;
          process.stdout.write(`${line(`${tag}blocklist add: request sent → entry in the kernel map`, t.addKernel)}\n`);
          process.stdout.write(`${line(`${tag}blocklist add: request sent → response (store + audit)`, t.add)}\n`);
          process.stdout.write(
            `${line(`${tag}blocklist delete: request sent → entry gone from the kernel map`, t.delKernel)}\n`,
          );
          process.stdout.write(`${line(`${tag}blocklist delete: request sent → response`, t.del)}\n`);
          const perChange = t.cpuMs / (t.add.length + t.del.length);
          process.stdout.write(
            `${tag}daemon CPU per change (user + system, the sensor and pipeline included): ${perChange.toFixed(2)} ms (system ${(t.sysMs / (t.add.length + t.del.length)).toFixed(2)} ms)\n`,
          );
          const k = run.label === 'this build' ? '' : `${run.label}_`;
          results[`${k}blocklist_daemon_cpu_ms_per_change`] = perChange;
          results[`${k}blocklist_add_kernel_p50_ms`] = pct(t.addKernel, 50);
          results[`${k}blocklist_add_kernel_p99_ms`] = pct(t.addKernel, 99);
          results[`${k}blocklist_delete_kernel_p50_ms`] = pct(t.delKernel, 50);
          results[`${k}blocklist_delete_kernel_p99_ms`] = pct(t.delKernel, 99);
          results[`${k}blocklist_add_response_p50_ms`] = pct(t.add, 50);
          results[`${k}blocklist_add_response_p99_ms`] = pct(t.add, 99);
          results[`${k}blocklist_delete_response_p50_ms`] = pct(t.del, 50);
          results[`${k}blocklist_delete_response_p99_ms`] = pct(t.del, 99);
        }
      } finally {
        for (const run of runs) await run.close();
      }
      process.stdout.write(
        `load average during the changes: ${os
          .loadavg()
          .map((x) => x.toFixed(2))
          .join(' ')}\n`,
      );
    }
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
  process.stdout.write(JSON.stringify({ bench: 'api', ...results }) + '\n');
}

void main().catch((err: unknown) => {
  process.stderr.write(`bench api: ${(err as Error).stack ?? String(err)}\n`);
  process.exit(1);
});

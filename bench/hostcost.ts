/**
 * Cost on a protected host (issue 23): the real `aegisbpf run` daemon with the `sensor` source (real BPF programs,
 * root) and the default pipeline's processor (`enrich` host-context) into a `splunk_hec` sink with indexer
 * acknowledgement, against the OpenTelemetry Collector's HEC receiver (scripts/services/otelcol-hec.sh; with
 * `--receiver null`, bench/lib/null-hec). A C load generator (bench/sensor/loadgen.c, a separate process whose CPU
 * is not counted) opens an AUDIT-ed file at each rate, paced every millisecond: every open is one event.
 *
 * For each rate, a fresh daemon pinned to core 0 (receiver and generator on core 1):
 *   start → warm-up at the rate (--warmup S, not counted) → settle → idle window (the floor: what the daemon costs with only the host's own activity) →
 *   load window (the generator at RATE for SECONDS) → drain until the receiver has everything → SIGTERM.
 * Reported: the daemon's CPU % of one core (utime + stime of the whole process, all threads, from /proc over wall
 * time), its CPU per event, its RSS (steady: median VmRSS in the load window's second half; peak: VmHWM), the
 * busiest threads, events generated vs read by the sensor vs delivered (acknowledged) vs counted by the receiver,
 * kernel drops, and the BPF programs' run time (kernel.bpf_stats_enabled, bpftool) per event, which is spent in the
 * generator's syscalls, not in the daemon.
 *
 *   node dist/bench/hostcost.js [--seconds S] [--idle S] [--warmup S] [--rates 2000,10000] [--receiver otelcol|null]
 *                               [--cpu-prof DIR]   (the daemon's V8 CPU profile of each load window, by its inspector)
 *   (bash scripts/bench.sh hostcost)
 */
import { spawn, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';
import { packagePath } from '../src/util/paths';
import { startHecReceiver } from '../test/helpers/services';
import { startNullHec } from './lib/null-hec-process';
import { onCore } from './lib/pin';
import { hostLoad, kernelBenchSkipReason, loadgen, runLoadgen, sleep } from './sensor/common';

const TICKS_PER_SECOND = Number(spawnSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).stdout.trim()) || 100;
const GOAL_PERCENT_AT_2000 = 5;

function arg(name: string): string | undefined {
  const i = process.argv.indexOf(`--${name}`);
  return i > 0 ? process.argv[i + 1] : undefined;
}

interface Receiver {
  readonly kind: 'otelcol' | 'null';
  readonly url: string;
  readonly token: string;
  readonly pid: number;
  /** Log records (events) the receiver accepted so far. */
  count(): number;
  stop(): Promise<void>;
}

async function startReceiver(kind: 'otelcol' | 'null'): Promise<Receiver> {
  if (kind === 'otelcol') {
    // Decode and acknowledge, no file: the debug exporter (verbosity basic) logs each batch's record count.
    const r = await startHecReceiver({
      set: {
        'service::pipelines::logs::exporters': '[debug]',
        'service::telemetry::logs::level': 'info',
        // the logger samples repeated lines by default: every batch's line is needed for the count
        'service::telemetry::logs::sampling::enabled': 'false',
      },
    });
    if (!r.ok) throw new Error(`the OpenTelemetry Collector's HEC receiver is not available: ${r.reason}`);
    return {
      kind,
      url: r.url,
      token: r.tokens[0] ?? '',
      pid: r.pid,
      count() {
        let n = 0;
        let text = '';
        try {
          text = fs.readFileSync(r.logFile, 'utf8');
        } catch {
          return 0;
        }
        for (const m of text.matchAll(/"log records": (\d+)/g)) n += Number(m[1]);
        return n;
      },
      stop: () => r.stop(),
    };
  }
  const hec = await startNullHec(['--report-ms', '100']);
  return {
    kind,
    url: hec.url,
    token: hec.token,
    pid: hec.child.pid ?? 0,
    count() {
      // null-hec prints its count every 100 ms while it changes
      const all = [...hec.output().matchAll(/events=(\d+)/g)];
      return all.length === 0 ? 0 : Number(all[all.length - 1]![1]);
    },
    stop: () => hec.stop(),
  };
}

/** utime + stime of the process (every thread, live or exited) and of its waited-for children, in seconds. */
function cpuSeconds(pid: number): number {
  const text = fs.readFileSync(`/proc/${pid}/stat`, 'latin1');
  const rest = text.slice(text.lastIndexOf(')') + 2).split(' ');
  const f = (n: number): number => Number(rest[n - 3]);
  return (f(14) + f(15) + f(16) + f(17)) / TICKS_PER_SECOND;
}

/** CPU seconds per thread name (`comm`), summed over threads of the same name. */
function threadCpu(pid: number): Map<string, number> {
  const out = new Map<string, number>();
  for (const tid of fs.readdirSync(`/proc/${pid}/task`)) {
    try {
      const text = fs.readFileSync(`/proc/${pid}/task/${tid}/stat`, 'latin1');
      const comm = text.slice(text.indexOf('(') + 1, text.lastIndexOf(')'));
      const rest = text.slice(text.lastIndexOf(')') + 2).split(' ');
      const s = (Number(rest[11]) + Number(rest[12])) / TICKS_PER_SECOND;
      out.set(comm, (out.get(comm) ?? 0) + s);
    } catch {
      // the thread exited between the listing and the read
    }
  }
  return out;
}

function statusKiB(pid: number, key: 'VmRSS' | 'VmHWM'): number {
  const m = new RegExp(`${key}:\\s+(\\d+) kB`).exec(fs.readFileSync(`/proc/${pid}/status`, 'latin1'));
  return m === null ? 0 : Number(m[1]);
}

interface ProgTime {
  readonly ns: number;
  readonly runs: number;
}

/**
 * Run time of the BPF programs `pid` holds: their ids from its file descriptors' fdinfo (program and link fds both
 * name a prog_id), their counters from bpftool (they advance only while kernel.bpf_stats_enabled = 1).
 */
function bpfTime(pid: number): ProgTime | undefined {
  const ids = new Set<number>();
  for (const fd of fs.readdirSync(`/proc/${pid}/fdinfo`)) {
    try {
      const m = /^prog_id:\s+(\d+)/m.exec(fs.readFileSync(`/proc/${pid}/fdinfo/${fd}`, 'latin1'));
      if (m !== null) ids.add(Number(m[1]));
    } catch {
      // closed meanwhile
    }
  }
  const r = spawnSync('bpftool', ['prog', 'show', '--json'], { encoding: 'utf8', maxBuffer: 64 << 20 });
  if (r.status !== 0 || ids.size === 0) return undefined;
  let ns = 0;
  let runs = 0;
  for (const p of JSON.parse(r.stdout) as { id: number; run_time_ns?: number; run_cnt?: number }[]) {
    if (!ids.has(p.id)) continue;
    ns += p.run_time_ns ?? 0;
    runs += p.run_cnt ?? 0;
  }
  return { ns, runs };
}

/** A V8 CPU profile of the daemon through its inspector (Chrome DevTools Protocol over a WebSocket). */
async function startProfile(url: string | undefined): Promise<{ stop(): Promise<string> }> {
  if (url === undefined) throw new Error('the daemon printed no inspector address');
  const ws = new WebSocket(url);
  await new Promise((resolve, reject) => {
    ws.onopen = resolve;
    ws.onerror = reject;
  });
  let id = 0;
  const pending = new Map<number, (result: unknown) => void>();
  ws.onmessage = (m: MessageEvent) => {
    const msg = JSON.parse(String(m.data)) as { id?: number; result?: unknown };
    if (msg.id !== undefined) pending.get(msg.id)?.(msg.result);
  };
  const call = (method: string, params: object = {}): Promise<unknown> =>
    new Promise((resolve) => {
      pending.set(++id, resolve);
      ws.send(JSON.stringify({ id, method, params }));
    });
  await call('Profiler.enable');
  await call('Profiler.setSamplingInterval', { interval: 200 }); // µs
  await call('Profiler.start');
  return {
    async stop() {
      const r = (await call('Profiler.stop')) as { profile: unknown };
      ws.close();
      return JSON.stringify(r.profile);
    },
  };
}

function httpText(url: string): Promise<string> {
  return new Promise((resolve, reject) => {
    http
      .get(url, (res) => {
        let body = '';
        res.setEncoding('utf8');
        res.on('data', (d: string) => (body += d));
        res.on('end', () => resolve(body));
      })
      .on('error', reject);
  });
}

const STATS_SYSCTL = '/proc/sys/kernel/bpf_stats_enabled';

interface Window {
  readonly seconds: number;
  readonly cpuSeconds: number;
  readonly cpuPercent: number;
}

interface RateResult {
  readonly rate: number;
  readonly idle: Window;
  readonly load: Window & { readonly achievedRate: number; readonly microsPerEvent: number };
  readonly steadyRssMiB: number;
  readonly peakRssMiB: number;
  readonly threads: Record<string, number>;
  readonly generated: number;
  readonly sensorEvents: number;
  readonly delivered: number;
  readonly receiverCounted: number;
  /** Records the kernel could not write to the ring during the load window (and since the start, warm-up included). */
  readonly kernelDrops: number;
  readonly kernelDropsTotal: number;
  readonly lost: number;
  readonly bpfNanosPerEvent: number | undefined;
  readonly bpfCpuPercent: number | undefined;
  readonly loadBefore: string;
  readonly loadAfter: string;
}

async function runRate(
  rate: number,
  seconds: number,
  idleSeconds: number,
  warmupSeconds: number,
  receiver: Receiver,
): Promise<RateResult> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'aegis-bench-hostcost-'));
  const target = path.join(dir, 'audited');
  fs.writeFileSync(target, 'x');
  const policyDir = path.join(dir, 'policy');
  // Stored before the start (no sensor pinned there): the daemon's sensor loads it into its maps.
  const policyFile = path.join(dir, 'policy.yml');
  fs.writeFileSync(
    policyFile,
    `version: 1\nmode: enforce\nrules:\n  - { id: hostcost-probe, match: { path: ${target} }, action: AUDIT }\n`,
  );
  const bin = packagePath('bin', 'aegisbpf.js');
  const applied = spawnSync(
    process.execPath,
    [bin, 'policy', 'apply', policyFile, '--state-dir', policyDir, '--pin-dir', path.join(dir, 'no-pins')],
    { encoding: 'utf8' },
  );
  if (applied.status !== 0) throw new Error(`policy apply failed: ${applied.stderr}`);
  const cfg = path.join(dir, 'aegisbpf.yml');
  // --source 'key: value, …': extra options of the sensor source (e.g. coalesce_us: 1000), to compare
  const sourceExtra = arg('source') === undefined ? '' : `, ${arg('source')}`;
  fs.writeFileSync(
    cfg,
    [
      `data_dir: ${dir}`,
      'shutdown_timeout_ms: 60000',
      // The default source as `aegisbpf run` builds it, without pinning (the bench's own policy directory) and
      // without the inbound XDP filter (it would attach to this shared machine's interfaces).
      `sources: { default: { type: sensor, pin: false, policy_dir: ${policyDir}, ingress: { mode: off }${sourceExtra} } }`,
      'processors: [ { type: enrich, name: host-context, start_time_to_wall: true, container_id: true } ]',
      'sinks:',
      '  splunk:',
      '    type: splunk_hec',
      `    endpoint: ${receiver.url}`,
      '    token: ${SPLUNK_HEC_TOKEN}',
      '    acknowledgements: { enabled: true }',
      // for the kernel's drop counter, scraped once after the drain
      'metrics: { listen: 127.0.0.1, port: 0 }',
    ].join('\n') + '\n',
  );
  const profDir = arg('cpu-prof');
  // Not --cpu-prof: its SIGPROF from the start would interrupt the BPF verifier (EAGAIN). The inspector profiles the
  // load window only (profileWindow below); the launcher re-executes itself with the flag, so it is kept.
  const nodeArgs = profDir === undefined ? [] : ['--inspect=127.0.0.1:0'];
  // --node-arg X (repeatable): e.g. --perf-basic-prof for `perf record -p PID` during the load window
  process.argv.forEach((a, i) => {
    if (a === '--node-arg' && process.argv[i + 1] !== undefined) nodeArgs.push(process.argv[i + 1] as string);
  });
  const cmd = onCore(0, process.execPath, [...nodeArgs, bin, 'run', '--config', cfg]);
  const child = spawn(cmd.command, cmd.args, {
    stdio: ['ignore', 'ignore', 'pipe'],
    env: { ...process.env, SPLUNK_HEC_TOKEN: receiver.token, AEGIS_CONTROL_SOCKET: path.join(dir, 'ctl.sock') },
  });
  let stderr = '';
  child.stderr.on('data', (d: Buffer) => (stderr += d.toString('utf8')));
  const exited = new Promise<number | null>((resolve) => child.on('close', (code) => resolve(code)));
  const pid = child.pid!;
  const kernelDrops = async (): Promise<number> => {
    const port = /"msg":"Metrics endpoint listening[^\n]*"port":(\d+)/.exec(stderr)?.[1];
    const text = port === undefined ? '' : await httpText(`http://127.0.0.1:${port}/metrics`);
    return Number(/^aegisbpf_ringbuf_drops_total(?:\{[^}]*\})? (\d+)/m.exec(text)?.[1] ?? Number.NaN);
  };
  const loadBefore = hostLoad();
  const receivedBefore = receiver.count(); // the receiver is shared by the rates' daemons
  try {
    const t0 = Date.now();
    while (!/"msg":"aegisbpf started\."/.test(stderr)) {
      if (child.exitCode !== null || Date.now() - t0 > 60_000)
        throw new Error(`the daemon did not start:\n${stderr.slice(-3000)}`);
      await sleep(50);
    }
    if (nodeArgs.length > 0) process.stdout.write(`daemon pid ${pid}\n`);
    await sleep(3000); // start-up allocations and the first stats ticks out of the way
    // Warm-up at the rate, not counted: a daemon on a host runs for days, its hot code long compiled by V8's
    // optimizing tiers (at a few thousand events per second that takes tens of seconds; a perf profile of a cold
    // window showed ~10 % of the daemon's CPU in TurboFan compile jobs).
    if (warmupSeconds > 0) await runLoadgen(['open-rate', String(rate), String(warmupSeconds), target]);
    await sleep(2000);
    const receivedAtLoad = receiver.count();
    const idle0 = { cpu: cpuSeconds(pid), at: process.hrtime.bigint() };
    await sleep(idleSeconds * 1000);
    const idle1 = { cpu: cpuSeconds(pid), at: process.hrtime.bigint() };
    const idleWall = Number(idle1.at - idle0.at) / 1e9;

    const rss: number[] = [];
    const sampler = setInterval(() => rss.push(statusKiB(pid, 'VmRSS')), 500);
    let statsBefore: string | undefined;
    try {
      statsBefore = fs.readFileSync(STATS_SYSCTL, 'utf8').trim();
      fs.writeFileSync(STATS_SYSCTL, '1');
    } catch {
      statsBefore = undefined;
    }
    const profiler =
      profDir === undefined
        ? undefined
        : await startProfile([...stderr.matchAll(/Debugger listening on (ws:\/\/\S+)/g)].pop()?.[1]);
    const kernelDropsBefore = await kernelDrops();
    const threads0 = threadCpu(pid);
    const bpf0 = bpfTime(pid);
    const load0 = { cpu: cpuSeconds(pid), at: process.hrtime.bigint() };
    const gen = await runLoadgen(['open-rate', String(rate), String(seconds), target]);
    const bpf1 = bpfTime(pid);
    if (profiler !== undefined && profDir !== undefined) {
      fs.mkdirSync(profDir, { recursive: true });
      const file = path.join(profDir, `hostcost-${rate}.cpuprofile`);
      fs.writeFileSync(file, await profiler.stop());
      process.stdout.write(`profile of the load window: ${file}\n`);
    }
    if (statsBefore !== undefined) fs.writeFileSync(STATS_SYSCTL, statsBefore);
    // Drain: every generated event read, batched (1 s timeout), sent and acknowledged (500 ms polls).
    const tDrain = Date.now();
    while (receiver.count() - receivedAtLoad < gen.ops && Date.now() - tDrain < 60_000) await sleep(100);
    await sleep(1500);
    clearInterval(sampler);
    const load1 = { cpu: cpuSeconds(pid), at: process.hrtime.bigint() };
    const threads1 = threadCpu(pid);
    const peakKiB = statusKiB(pid, 'VmHWM');
    const kernelDropsTotal = await kernelDrops();
    const kernelDropsInWindow = kernelDropsTotal - kernelDropsBefore;
    // The idle rate covers the drain's tail, when the load had ended: the load's CPU is the window's minus that.
    const drainWall = Number(load1.at - load0.at) / 1e9 - gen.seconds;
    const idleRate = (idle1.cpu - idle0.cpu) / idleWall;
    const loadCpu = load1.cpu - load0.cpu - idleRate * drainWall;
    child.kill('SIGTERM');
    const code = await exited;
    const summary = stderr
      .split('\n')
      .filter((l) => l.startsWith('{'))
      .map((l) => JSON.parse(l) as Record<string, unknown>)
      .find((l) => l.msg === 'aegisbpf stopped.');
    if (summary === undefined) throw new Error(`no summary (exit ${String(code)}):\n${stderr.slice(-3000)}`);
    const sink = (summary.sinks as Record<string, Record<string, unknown>>).splunk!;
    const steady = rss.slice(Math.floor(rss.length / 2)).sort((a, b) => a - b);
    const threads: Record<string, number> = {};
    for (const [name, s] of threads1) {
      const d = s - (threads0.get(name) ?? 0);
      if (d > 0) threads[name] = Number(d.toFixed(2));
    }
    const bpfNs = bpf0 !== undefined && bpf1 !== undefined ? bpf1.ns - bpf0.ns : undefined;
    return {
      rate,
      idle: {
        seconds: Number(idleWall.toFixed(1)),
        cpuSeconds: Number((idle1.cpu - idle0.cpu).toFixed(2)),
        cpuPercent: Number((idleRate * 100).toFixed(2)),
      },
      load: {
        seconds: gen.seconds,
        cpuSeconds: Number(loadCpu.toFixed(2)),
        cpuPercent: Number(((loadCpu / gen.seconds) * 100).toFixed(2)),
        achievedRate: Math.round(gen.ops / gen.seconds),
        microsPerEvent: Number((((loadCpu - idleRate * gen.seconds) / gen.ops) * 1e6).toFixed(2)),
      },
      steadyRssMiB: Number(((steady[Math.floor(steady.length / 2)] ?? 0) / 1024).toFixed(1)),
      peakRssMiB: Number((peakKiB / 1024).toFixed(1)),
      threads,
      generated: gen.ops,
      sensorEvents: Number(summary.events_in ?? 0),
      delivered: Number(sink.delivered ?? 0),
      receiverCounted: receiver.count() - receivedBefore,
      kernelDrops: kernelDropsInWindow,
      kernelDropsTotal,
      lost: Number(summary.lost ?? 0),
      bpfNanosPerEvent: bpfNs === undefined ? undefined : Math.round(bpfNs / gen.ops),
      bpfCpuPercent: bpfNs === undefined ? undefined : Number(((bpfNs / 1e9 / gen.seconds) * 100).toFixed(2)),
      loadBefore,
      loadAfter: hostLoad(),
    };
  } catch (err) {
    throw new Error(`${String(err)}; the daemon's stderr:\n${stderr.slice(-3000)}`, { cause: err });
  } finally {
    if (child.exitCode === null) child.kill('SIGKILL');
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

async function main(): Promise<void> {
  const skip = kernelBenchSkipReason();
  if (skip !== undefined) {
    process.stdout.write(`hostcost: skipped (${skip})\n`);
    return;
  }
  const seconds = Number(arg('seconds') ?? 20);
  const idleSeconds = Number(arg('idle') ?? 10);
  const warmupSeconds = Number(arg('warmup') ?? 30);
  const rates = (arg('rates') ?? '2000,10000').split(',').map(Number);
  const kind = arg('receiver') === 'null' ? 'null' : 'otelcol';
  loadgen(); // compiled before anything is timed
  const receiver = await startReceiver(kind);
  const results: RateResult[] = [];
  try {
    if (os.cpus().length > 1) spawnSync('taskset', ['-a', '-p', '-c', '1', String(receiver.pid)], { stdio: 'ignore' });
    for (const rate of rates) {
      const r = await runRate(rate, seconds, idleSeconds, warmupSeconds, receiver);
      results.push(r);
      const goal =
        rate === 2000
          ? ` (goal <= ${GOAL_PERCENT_AT_2000} %: ${r.load.cpuPercent <= GOAL_PERCENT_AT_2000 ? 'PASS' : 'MISS'})`
          : '';
      process.stdout.write(
        `hostcost ${rate} events/s (${r.load.achievedRate} achieved): daemon ${r.load.cpuPercent} % of one core${goal}, ` +
          `idle ${r.idle.cpuPercent} %; ${r.load.microsPerEvent} µs CPU per event above idle; RSS steady ${r.steadyRssMiB} MiB, ` +
          `peak ${r.peakRssMiB} MiB; generated ${r.generated}, delivered ${r.delivered}, receiver ${r.receiverCounted}, ` +
          `kernel drops ${r.kernelDrops} (since start ${r.kernelDropsTotal}), lost ${r.lost}; BPF ${r.bpfNanosPerEvent ?? '?'} ns per event ` +
          `(${r.bpfCpuPercent ?? '?'} % of a core, in the generator's syscalls); load ${r.loadBefore} → ${r.loadAfter}\n` +
          `     threads (CPU s in the load window): ${JSON.stringify(r.threads)}\n`,
      );
    }
  } finally {
    await receiver.stop();
  }
  process.stdout.write(
    JSON.stringify({
      bench: 'hostcost',
      receiver: kind,
      cpus: os.cpus().length,
      cpu: os.cpus()[0]?.model,
      kernel: os.release(),
      results,
    }) + '\n',
  );
}

void main().catch((err: unknown) => {
  process.stderr.write(`${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
  process.exitCode = 1;
});

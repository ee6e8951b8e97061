/**
 * Peer harness (issue 23), in the spirit of lading: aegisbpf side by side with the shippers users would pick instead,
 * on the same workloads, in the same run.
 *
 * - One fixed, seeded events file (bench/lib/events-file) for every subject and workload.
 * - Receivers that count and discard (bench/peers/null-receiver: octet-counted/LF syslog over TCP or TLS, RELP,
 *   Elasticsearch `_bulk` with per-item statuses, Splunk HEC with acks), one fresh process per run, on core 1.
 * - Subjects on core 0 (taskset, all their threads): aegisbpf (replay → sink), rsyslog (imfile → omfwd / omrelp /
 *   omelasticsearch), syslog-ng (file → syslog()), the OpenTelemetry Collector (filelog with json_parser → syslog,
 *   splunk_hec, elasticsearch exporters, queues blocking instead of dropping; scripts/services/otelcol-peer.sh), and a
 *   baseline without any shipper (bench/peers/baseline-sender: the raw lines framed and sent, the receiver's ceiling).
 * - Repeats interleaved (every subject of every workload once per round), medians and min–max.
 * - Per run: events/s end to end (subject start → the receiver counted the last event), CPU s per million events and
 *   peak RSS (VmHWM) from /proc of the subject's process tree (bench/peers/proc-tree), drops the subject reported.
 *   node dist/bench/peers.js [--events N] [--repeats R] [--only syslog-tcp,es,…] [--subjects aegisbpf,otelcol,…]
 *                            [--write-docs] [--no-install]
 * `--write-docs` replaces the generated section of docs/benchmarks.md and writes docs/benchmarks-peers.svg.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import readline from 'node:readline';
import { spawn, spawnSync } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { packagePath } from '../src/util/paths';
import { makeTestPki } from '../test/helpers/certs';
import { rsyslogVersion } from '../test/helpers/rsyslog';
import { syslogNgVersion } from '../test/helpers/syslog-ng';
import { writeEventsFile } from './lib/events-file';
import { onCore } from './lib/pin';
import { sampleProcessTree } from './peers/proc-tree';
import type { Row, RunResult } from './peers/report';
import { markdownTable, summarize, svgChart, writeDocsSection } from './peers/report';
import type { OtelcolBuilds, RunContext, Subject, Workload } from './peers/subjects';
import { WORKLOADS, aegisbpf, baseline, kcat, otelcol, receiverMode, rsyslog, syslogNg } from './peers/subjects';
import type { TestPki } from '../test/helpers/certs';

function arg(name: string): string | undefined {
  const i = process.argv.indexOf(`--${name}`);
  return i > 0 ? process.argv[i + 1] : undefined;
}
const flag = (name: string): boolean => process.argv.includes(`--${name}`);

const hasTaskset = spawnSync('taskset', ['--version']).status === 0;

const loadAverage = (): string =>
  os
    .loadavg()
    .map((l) => l.toFixed(2))
    .join(' ');

/** Build (cached) or find the collectors; which exporter each binary carries, or why it could not be built. */
function otelcolBuilds(install: boolean): OtelcolBuilds & { readonly version: string } {
  const r = spawnSync('bash', [packagePath('scripts', 'services', 'otelcol-peer.sh'), install ? 'install' : 'info'], {
    encoding: 'utf8',
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  const binaries: Record<string, string> = {};
  const problems: Record<string, string> = {};
  let version = 'none';
  for (const line of r.stdout.split('\n')) {
    const m = /^(binary|problem)\.([a-z_]+)=(.*)$/.exec(line);
    if (m !== null) (m[1] === 'binary' ? binaries : problems)[m[2]!] = m[3]!;
    const v = /^versions=(.*)$/.exec(line);
    if (v !== null) version = v[1]!;
  }
  if (r.status !== 0 && Object.keys(binaries).length === 0)
    for (const e of ['syslog', 'splunk_hec', 'elasticsearch', 'kafka'])
      problems[e] ??= `scripts/services/otelcol-peer.sh ${install ? 'install' : 'info'} failed (exit ${r.status})`;
  return { binaries, problems, version };
}

interface Receiver {
  readonly port: number;
  readonly topic?: string;
  /** Resolves with the time (epoch ms) the receiver counted the expected events. */
  readonly done: Promise<number>;
  /** SIGTERM; resolves with the events it counted. */
  stop(): Promise<number>;
}

/** A single-node Kafka (scripts/services/kafka.sh) on core 1, topics auto-created; or why there is none. */
interface Broker {
  readonly port: number;
  stop(): void;
}

function startBroker(root: string): Broker | string {
  const script = process.env.AEGIS_KAFKA_SH ?? packagePath('scripts', 'services', 'kafka.sh');
  if (!fs.existsSync(script))
    return 'no Kafka broker service on this branch (scripts/services/kafka.sh comes with the kafka sink, issue 16)';
  if (spawnSync('kcat', ['-V']).status !== 0) return 'kcat is needed to count the records (apt-get install kcat)';
  const workDir = path.join(root, 'kafka');
  const r = spawnSync(
    'bash',
    [
      script,
      'start',
      '--nodes',
      '1',
      '--heap',
      '384m',
      '--work-dir',
      workDir,
      '--setting',
      'auto.create.topics.enable=true',
      '--owner-pid',
      String(process.pid),
    ],
    { encoding: 'utf8', stdio: ['ignore', 'pipe', 'inherit'] },
  );
  const port = /^node1_port=(\d+)/m.exec(r.stdout)?.[1];
  const pid = /^node1_pid=(\d+)/m.exec(r.stdout)?.[1];
  if (r.status !== 0 || port === undefined) return `kafka.sh start failed (exit ${String(r.status)})`;
  // The broker is the receiver: on core 1 with the harness, all its threads.
  if (hasTaskset && pid !== undefined) spawnSync('taskset', ['-apc', '1', pid], { stdio: 'ignore' });
  return {
    port: Number(port),
    stop: () => void spawnSync('bash', [script, 'stop', '--work-dir', workDir], { stdio: 'ignore' }),
  };
}

/** Records in partition 0 of `topic` (its end offset), by kcat on core 1; -1 while the topic does not exist. */
function endOffset(port: number, topic: string): Promise<number> {
  const { command, args } = onCore(1, 'kcat', ['-Q', '-b', `127.0.0.1:${port}`, '-t', `${topic}:0:-1`]);
  return new Promise((resolve) => {
    const child = spawn(command, args, { stdio: ['ignore', 'pipe', 'ignore'] });
    let out = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString('utf8')));
    child.on('close', () => resolve(Number(/offset (\d+)/.exec(out)?.[1] ?? -1)));
  });
}

let topics = 0;

async function kafkaReceiver(port: number, expect: number): Promise<Receiver> {
  const topic = `bench-${process.pid}-${++topics}`;
  // Created before the subject starts (a metadata request that asks for it: the broker auto-creates topics): a
  // producer that checks the topic exists first (aegisbpf's sink does) would otherwise wait for it forever.
  spawnSync('kcat', ['-L', '-b', `127.0.0.1:${port}`, '-t', topic, '-X', 'allow.auto.create.topics=true'], {
    stdio: 'ignore',
    timeout: 30_000,
  });
  for (let i = 0; i < 200 && (await endOffset(port, topic)) < 0; i++) await new Promise((r) => setTimeout(r, 100));
  let stopped = false;
  let last = 0;
  const done = (async () => {
    for (;;) {
      last = await endOffset(port, topic);
      if (last >= expect) return Date.now();
      if (stopped) return new Promise<number>(() => undefined);
      await new Promise((r) => setTimeout(r, 50));
    }
  })();
  return {
    port,
    topic,
    done,
    async stop() {
      stopped = true;
      return endOffset(port, topic);
    },
  };
}

async function startReceiver(w: Workload, expect: number, pki: TestPki, broker?: Broker): Promise<Receiver> {
  if (w === 'kafka') return kafkaReceiver(broker!.port, expect);
  const r = receiverMode(w)!;
  const { command: cmd, args } = onCore(1, process.execPath, [
    packagePath('dist', 'bench', 'peers', 'null-receiver.js'),
    '--mode',
    r.mode,
    '--expect',
    String(expect),
    ...(r.tls ? ['--tls-cert', pki.serverCert, '--tls-key', pki.serverKey] : []),
  ]);
  const child = spawn(cmd, args, { stdio: ['ignore', 'pipe', 'inherit'] });
  const lines = readline.createInterface({ input: child.stdout });
  let onDone: (t: number) => void = () => undefined;
  let onCount: (n: number) => void = () => undefined;
  const done = new Promise<number>((resolve) => (onDone = resolve));
  const counted = new Promise<number>((resolve) => (onCount = resolve));
  const port = await new Promise<number>((resolve, reject) => {
    child.once('exit', (code) => reject(new Error(`null receiver exited (${code}) before listening`)));
    lines.on('line', (line) => {
      const p = /^port=(\d+)/.exec(line);
      if (p !== null) resolve(Number(p[1]));
      const d = /^done t=(\d+)/.exec(line);
      if (d !== null) onDone(Number(d[1]));
      const c = /^count=(\d+)/.exec(line);
      if (c !== null) onCount(Number(c[1]));
    });
  });
  return {
    port,
    done,
    async stop() {
      child.kill('SIGTERM');
      return Promise.race([counted, new Promise<number>((r) => setTimeout(() => r(-1), 5000))]);
    },
  };
}

function waitExit(child: ChildProcess): Promise<number | null> {
  return child.exitCode !== null || child.signalCode !== null
    ? Promise.resolve(child.exitCode)
    : new Promise((resolve) => child.once('exit', (code) => resolve(code)));
}

async function stopChild(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  child.kill('SIGTERM');
  const timer = setTimeout(() => child.kill('SIGKILL'), 15_000);
  await waitExit(child);
  clearTimeout(timer);
}

async function runOnce(
  w: Workload,
  subject: Subject,
  repeat: number,
  ctx: Omit<RunContext, 'port' | 'dir'> & {
    readonly root: string;
    readonly events: number;
    readonly timeoutMs: number;
    readonly broker?: Broker;
  },
): Promise<RunResult> {
  const dir = fs.mkdtempSync(path.join(ctx.root, `${w}-${subject.name}-`));
  const receiver = await startReceiver(w, ctx.events, ctx.pki, ctx.broker);
  const launch = subject.launch(w, {
    dir,
    input: ctx.input,
    port: receiver.port,
    pki: ctx.pki,
    ...(receiver.topic === undefined ? {} : { topic: receiver.topic }),
  });
  const out = fs.openSync(launch.log, 'a');
  const { command: cmd, args } = onCore(0, launch.command, launch.args);
  const t0 = Date.now();
  const child = spawn(cmd, args, { stdio: ['ignore', out, out], env: launch.env ?? process.env, cwd: dir });
  fs.closeSync(out);
  // taskset execs the subject: the pid is the subject's own.
  const sampler = sampleProcessTree(child.pid!);
  let error: string | undefined;
  let doneAt: number | undefined;
  const exited = waitExit(child);
  let timer: NodeJS.Timeout | undefined;
  const outcome = await Promise.race([
    receiver.done.then((t) => ({ kind: 'done' as const, t })),
    exited.then((code) => ({ kind: 'exit' as const, code })),
    new Promise<{ kind: 'timeout' }>((r) => (timer = setTimeout(() => r({ kind: 'timeout' }), ctx.timeoutMs))),
  ]);
  if (outcome.kind === 'exit') {
    // Exited first: the last events may still be on their way to the receiver (a subject that exits when done).
    const late = await Promise.race([
      receiver.done,
      new Promise<undefined>((r) => setTimeout(() => r(undefined), 3000)),
    ]);
    if (late !== undefined && outcome.code === 0) doneAt = late;
    else error = `${subject.name} exited (${String(outcome.code)}) before the receiver counted every event`;
  } else if (outcome.kind === 'timeout') error = `timed out after ${ctx.timeoutMs} ms`;
  else doneAt = outcome.t;
  clearTimeout(timer);
  // Long-running peers: their usage at the moment the last event arrived. Subjects that exit by themselves: until
  // they exit (their shutdown is part of the job: the run ends when everything is acknowledged).
  if (launch.exitsWhenDone && error === undefined)
    await Promise.race([exited, new Promise((r) => setTimeout(r, 60_000))]);
  else sampler.sample();
  const usage = sampler.stop();
  await stopChild(child);
  const received = await receiver.stop();
  const log = fs.existsSync(launch.log) ? fs.readFileSync(launch.log, 'utf8') : '';
  if (error !== undefined) error += `; receiver counted ${received} of ${ctx.events}; log tail: ${log.slice(-600)}`;
  const seconds = doneAt === undefined ? NaN : (doneAt - t0) / 1000;
  if (process.env.AEGIS_KEEP_TEST_DIRS !== '1') fs.rmSync(dir, { recursive: true, force: true });
  return {
    workload: w,
    subject: subject.name,
    repeat,
    events: ctx.events,
    received,
    seconds: Number(seconds.toFixed(2)),
    eventsPerSecond: Math.round(ctx.events / seconds),
    cpuSecondsPerMillion: Number(((usage.cpuSeconds / ctx.events) * 1e6).toFixed(2)),
    peakRssMiB: usage.peakRssMiB,
    drops: launch.drops?.(log) ?? 0,
    ...(error === undefined ? {} : { error }),
  };
}

/** What a run prints as its JSON line, and what `--render FILE` reads back. */
interface SavedRun {
  readonly bench: 'peers';
  readonly when: string;
  readonly machine: string;
  readonly events: number;
  readonly repeats: number;
  readonly loadBefore: string;
  readonly loadAfter: string;
  readonly versions: string;
  readonly rows: readonly Row[];
  readonly results: readonly RunResult[];
}

/** Print the table and the JSON line; with --write-docs, the docs section and the chart. */
function report(run: SavedRun): void {
  const rows = summarize(run.results, run.rows);
  const table = markdownTable(rows);
  const subtitle =
    `${run.when} UTC · ${run.events.toLocaleString('en-US')} events × ${run.repeats} rounds · ${run.machine} · ` +
    `load average ${run.loadBefore} → ${run.loadAfter}`;
  process.stdout.write(`${table}\n\n${run.versions}\n${subtitle}\n`);
  process.stdout.write(JSON.stringify({ ...run, rows }) + '\n');
  if (!flag('write-docs')) return;
  fs.writeFileSync(packagePath('docs', 'benchmarks-peers.svg'), svgChart(rows, subtitle));
  writeDocsSection(
    packagePath('docs', 'benchmarks.md'),
    [
      '![aegisbpf and its peers, events/s end to end](benchmarks-peers.svg)',
      '',
      `Measured ${run.when} UTC with \`node dist/bench/peers.js --events ${run.events} --repeats ${run.repeats} --write-docs\`: ` +
        `${run.machine}, load average (1, 5, 15 min) ${run.loadBefore} before and ${run.loadAfter} after. ${run.versions}.`,
      '',
      table,
      '',
      'Ratio column: aegisbpf’s median events/s ÷ the subject’s (> 1: aegisbpf faster), and in brackets aegisbpf’s ' +
        'CPU s per million events ÷ the subject’s (< 1: aegisbpf spends less CPU per event). The baseline’s ' +
        'memory is the sender holding the whole file, not a shipper’s.',
    ].join('\n'),
  );
  process.stderr.write('peers: wrote docs/benchmarks.md (peers section) and docs/benchmarks-peers.svg\n');
}

async function main(): Promise<void> {
  const saved = arg('render');
  if (saved !== undefined) {
    // Re-render a saved run (its JSON line) without measuring again.
    const line = fs
      .readFileSync(saved, 'utf8')
      .split('\n')
      .find((l) => l.startsWith('{"bench":"peers"'));
    if (line === undefined) throw new Error(`--render ${saved}: no {"bench":"peers",…} line in it`);
    report(JSON.parse(line) as SavedRun);
    return;
  }
  const events = Number(arg('events') ?? 200_000);
  const repeats = Number(arg('repeats') ?? 3);
  const timeoutMs = Number(arg('timeout-s') ?? 300) * 1000;
  const only = (arg('only')?.split(',') ?? WORKLOADS) as Workload[];
  for (const w of only)
    if (!WORKLOADS.includes(w)) throw new Error(`--only: unknown workload '${w}' (${WORKLOADS.join(', ')})`);
  const wanted = arg('subjects')?.split(',');
  // The harness itself (sampling /proc, reading the receivers) stays off the subjects' core.
  if (hasTaskset) spawnSync('taskset', ['-pc', '1', String(process.pid)], { stdio: 'ignore' });
  const root = fs.mkdtempSync(path.join(os.tmpdir(), 'aegis-bench-peers-'));
  const loadBefore = loadAverage();
  let broker: Broker | undefined;
  try {
    const pki = makeTestPki(path.join(root, 'tls'));
    const input = path.join(root, 'events.ndjson');
    writeEventsFile(input, events);
    if (!flag('no-install')) {
      // The rsyslog Elasticsearch output and kcat, from Debian like the test services' packages (root only; a
      // failure leaves those subjects skipped with the reason).
      spawnSync(
        'bash',
        ['-c', `source ${packagePath('scripts', 'services', 'lib.sh')} && apt_install rsyslog-elasticsearch kcat`],
        { stdio: ['ignore', 'ignore', 'inherit'] },
      );
    }
    const otel = otelcolBuilds(!flag('no-install'));
    const base = process.env.AEGIS_PEER_BASE;
    const subjects = [
      baseline,
      aegisbpf(root),
      ...(base === undefined ? [] : [aegisbpf(root, { name: 'aegisbpf-base', packageRoot: base })]),
      rsyslog,
      syslogNg,
      otelcol(otel),
      kcat,
    ].filter((s) => wanted === undefined || wanted.includes(s.name));
    const order: { workload: Workload; subject: Subject; note?: string; skipped?: string }[] = [];
    for (const w of only)
      for (const s of subjects)
        if (s.workloads.includes(w)) order.push({ workload: w, subject: s, note: s.note(w), skipped: s.skip(w) });
    // The Kafka workload's receiver is a broker, started once for the whole run (a JVM: ~20 s to start).
    if (order.some((o) => o.workload === 'kafka' && o.skipped === undefined)) {
      const b = startBroker(root);
      if (typeof b === 'string') for (const o of order) if (o.workload === 'kafka') o.skipped ??= b;
      if (typeof b !== 'string') broker = b;
    }
    const results: RunResult[] = [];
    for (let r = 0; r < repeats; r++)
      for (const o of order) {
        if (o.skipped !== undefined) continue;
        const res = await runOnce(o.workload, o.subject, r, {
          root,
          input,
          pki,
          events,
          timeoutMs,
          ...(broker === undefined ? {} : { broker }),
        });
        results.push(res);
        process.stderr.write(
          `peers: round ${r + 1}/${repeats} ${o.workload} ${o.subject.name}: ` +
            (res.error ??
              `${res.eventsPerSecond} events/s, ${res.cpuSecondsPerMillion} CPU s/M, ${res.peakRssMiB} MiB`) +
            '\n',
        );
      }
    const loadAfter = loadAverage();
    const rows = summarize(
      results,
      order.map((o) => ({ workload: o.workload, subject: o.subject.name, note: o.note, skipped: o.skipped })),
    );
    const run: SavedRun = {
      bench: 'peers',
      when: new Date().toISOString().slice(0, 16).replace('T', ' '),
      machine: `${os.cpus().length} × ${os.cpus()[0]?.model ?? 'unknown CPU'}`,
      events,
      repeats,
      loadBefore,
      loadAfter,
      versions:
        `aegisbpf (Node.js ${process.version}), rsyslog ${rsyslogVersion()}, syslog-ng ${syslogNgVersion()}, ` +
        `OpenTelemetry Collector ${otel.version}`,
      rows,
      results,
    };
    report(run);
  } finally {
    broker?.stop();
    if (process.env.AEGIS_KEEP_TEST_DIRS !== '1') fs.rmSync(root, { recursive: true, force: true });
  }
}

main().catch((err: unknown) => {
  process.stderr.write(`${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
  process.exit(1);
});

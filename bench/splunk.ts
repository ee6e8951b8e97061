/**
 * Splunk HEC benchmark: replay → hec → splunk_hec (gzip, indexer acknowledgement) into the local HEC receiver
 * (OpenTelemetry Collector, scripts/services/otelcol-hec.sh), by the real binary pinned to one core
 * (`taskset -c 0`), the receiver pinned to the other (`taskset -a -p -c 1`) so it does not take aegisbpf's core.
 * Goal (issue 7): >= 50 000 events/s with aegisbpf using at most one core. Reports events/s (events / wall time,
 * start-up and the final acks included), CPU seconds per million events (user + system of the aegisbpf process),
 * peak RSS, requests and ack polls, for a sweep of batch sizes, gzip levels and ack poll intervals.
 *   node dist/bench/splunk.js [--events N] [--quick | --variant <part of a name>]
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { spawnSync } from 'node:child_process';
import { packagePath } from '../src/util/paths';
import { startHecReceiver } from '../test/helpers/services';
import { writeEventsFile } from './lib/events-file';
import { startNullHec } from './lib/null-hec-process';
import { loadAverage, runBench, writeSummary } from './lib/summary';

interface Variant {
  readonly name: string;
  readonly maxEvents: number;
  readonly maxBytes: number;
  readonly level: number;
  readonly pollMillis: number;
  readonly concurrency: number;
  /** buffer.max_events (the sink core's default, 20 000, unless a variant says otherwise). */
  readonly bufferEvents: number;
  /**
   * `otelcol`: the HEC test receiver without its file exporter (decodes and acknowledges); `otelcol-file`: the
   * receiver as in the tests, writing every record to its OTLP/JSON file; `null`: bench/lib/null-hec (gunzip, count,
   * acknowledge), to measure the sender's own ceiling when the receiver is not the bottleneck.
   */
  readonly receiver: 'otelcol' | 'otelcol-file' | 'null';
}

interface Result extends Variant {
  readonly events: number;
  readonly wallSeconds: number;
  readonly eventsPerSecond: number;
  readonly cpuSecondsPerMillion: number;
  readonly peakRssMiB: number;
  readonly requests: number;
  readonly eventsPerRequest: number;
  readonly ackPolls: number;
}

function arg(name: string, fallback: number): number {
  const i = process.argv.indexOf(`--${name}`);
  return i > 0 ? Number(process.argv[i + 1]) : fallback;
}

const MB = 1_000_000;
const DEFAULTS = {
  maxEvents: 10_000,
  maxBytes: MB,
  level: 1,
  pollMillis: 500,
  concurrency: 16,
  bufferEvents: 20_000,
  receiver: 'otelcol' as const,
};

const VARIANTS: readonly Variant[] = [
  { name: 'defaults (1 MB, gzip 1, poll 500 ms, 16 in flight)', ...DEFAULTS },
  { name: 'defaults, receiver writing every record to its file', ...DEFAULTS, receiver: 'otelcol-file' },
  { name: 'defaults, null receiver (sender ceiling)', ...DEFAULTS, receiver: 'null' },
  { name: '500 events/batch', ...DEFAULTS, maxEvents: 500 },
  { name: '256 KB batches', ...DEFAULTS, maxBytes: 256_000 },
  { name: '4 MB batches', ...DEFAULTS, maxBytes: 4 * MB },
  { name: 'gzip level 6', ...DEFAULTS, level: 6 },
  { name: 'no compression', ...DEFAULTS, level: 0 },
  { name: 'poll 100 ms', ...DEFAULTS, pollMillis: 100 },
  { name: '32 in flight', ...DEFAULTS, concurrency: 32 },
  { name: '32 in flight, poll 100 ms, 4 MB batches', ...DEFAULTS, concurrency: 32, pollMillis: 100, maxBytes: 4 * MB },
  { name: 'null receiver, 32 in flight, poll 100 ms', ...DEFAULTS, concurrency: 32, pollMillis: 100, receiver: 'null' },
  {
    name: 'null receiver, 32 in flight, poll 100 ms, 4 MB batches',
    ...DEFAULTS,
    concurrency: 32,
    pollMillis: 100,
    maxBytes: 4 * MB,
    receiver: 'null',
  },
];

interface RunningReceiver {
  readonly url: string;
  readonly token: string;
  readonly pid: number;
  stop(): Promise<void>;
}

async function startReceiver(kind: Variant['receiver']): Promise<RunningReceiver> {
  if (kind === 'null') {
    const hec = await startNullHec();
    return { url: hec.url, token: hec.token, pid: hec.child.pid ?? 0, stop: () => hec.stop() };
  }
  // Without its file exporter the receiver only decodes and acknowledges: what is measured is aegisbpf, not the
  // receiver's JSON file writing (which, on a loaded 2-core machine, is slower than the sender).
  const r = await startHecReceiver(
    kind === 'otelcol-file' ? {} : { set: { 'service::pipelines::logs::exporters': '[debug]' } },
  );
  if (!r.ok) throw new Error(r.reason);
  return { url: r.url, token: r.tokens[0] ?? '', pid: r.pid, stop: () => r.stop() };
}

async function runOnce(v: Variant, dir: string, input: string, count: number): Promise<Result> {
  const receiver = await startReceiver(v.receiver);
  try {
    const taskset = spawnSync('taskset', ['--version']).status === 0;
    if (taskset && os.cpus().length > 1)
      spawnSync('taskset', ['-a', '-p', '-c', '1', String(receiver.pid)], { stdio: 'ignore' });
    const cfg = path.join(dir, 'bench.yml');
    fs.writeFileSync(
      cfg,
      [
        `data_dir: ${dir}`,
        // The replay ends long before the sink has delivered its buffer: give the final flush the time it needs.
        'shutdown_timeout_ms: 600000',
        `sources: { r: { type: replay, path: ${input} } }`,
        'sinks:',
        '  splunk:',
        '    type: splunk_hec',
        `    endpoint: ${receiver.url}`,
        '    token: ${SPLUNK_HEC_TOKEN}',
        v.level === 0 ? '    compression: none' : `    compression_level: ${v.level}`,
        `    acknowledgements: { poll_interval_ms: ${v.pollMillis} }`,
        `    batch: { max_events: ${v.maxEvents}, max_bytes: ${v.maxBytes} }`,
        `    buffer: { max_events: ${v.bufferEvents}, max_bytes: ${Math.max(32 * 1024 * 1024, v.maxBytes * 4)} }`,
        `    request: { concurrency: ${v.concurrency} }`,
      ].join('\n'),
    );
    const bin = [process.execPath, packagePath('bin', 'aegisbpf.js'), 'run', '--config', cfg];
    const cmd = taskset ? 'taskset' : process.execPath;
    const args = taskset ? ['-c', '0', ...bin] : bin.slice(1);
    const t0 = process.hrtime.bigint();
    const r = spawnSync(cmd, args, {
      encoding: 'utf8',
      maxBuffer: 64 << 20,
      env: { ...process.env, SPLUNK_HEC_TOKEN: receiver.token },
    });
    const wall = Number(process.hrtime.bigint() - t0) / 1e9;
    if (r.status !== 0) throw new Error(`${v.name}: exit ${String(r.status)}\n${r.stderr.slice(-3000)}`);
    const summary = r.stderr
      .split('\n')
      .filter((l) => l.startsWith('{'))
      .map((l) => JSON.parse(l) as Record<string, unknown>)
      .find((l) => l.msg === 'aegisbpf stopped.')!;
    const sink = (summary.sinks as Record<string, Record<string, unknown>>).splunk!;
    const extra = sink.extra as Record<string, number>;
    if (sink.delivered !== count) throw new Error(`${v.name}: delivered ${String(sink.delivered)} of ${count}`);
    const cpu = ((summary.cpu_user_ms as number) + (summary.cpu_system_ms as number)) / 1000;
    const requests = extra.acks_received_total ?? 0;
    return {
      ...v,
      events: count,
      wallSeconds: Number(wall.toFixed(2)),
      eventsPerSecond: Math.round(count / wall),
      cpuSecondsPerMillion: Number(((cpu / count) * 1e6).toFixed(2)),
      peakRssMiB: Number(((summary.max_rss_bytes as number) / 1048576).toFixed(1)),
      requests,
      eventsPerRequest: requests > 0 ? Math.round(count / requests) : 0,
      ackPolls: extra.ack_polls_total ?? 0,
    };
  } finally {
    await receiver.stop();
  }
}

async function main(): Promise<void> {
  const count = arg('events', 300_000);
  const only = process.argv.indexOf('--variant');
  const variants = process.argv.includes('--quick')
    ? VARIANTS.slice(0, 1)
    : only > 0
      ? VARIANTS.filter((v) => v.name.includes(process.argv[only + 1] ?? ''))
      : VARIANTS;
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'aegis-bench-hec-'));
  try {
    const input = path.join(dir, 'in.ndjson');
    writeEventsFile(input, count);
    const load = loadAverage();
    const results: Result[] = [];
    for (const v of variants) {
      const r = await runOnce(v, dir, input, count);
      results.push(r);
      process.stdout.write(
        `splunk ${r.name}: ${r.events} events in ${r.wallSeconds} s = ${r.eventsPerSecond} events/s; ${r.cpuSecondsPerMillion} CPU s per million events; ` +
          `peak RSS ${r.peakRssMiB} MiB; ${r.requests} requests (${r.eventsPerRequest} events each), ${r.ackPolls} ack polls ` +
          `(goal: >= 50000 events/s on one core) ${r.eventsPerSecond >= 50_000 ? 'PASS' : 'MISS'}\n`,
      );
    }
    const best = [...results].sort((a, b) => b.eventsPerSecond - a.eventsPerSecond)[0];
    if (best !== undefined)
      process.stdout.write(
        `splunk best: ${best.name} (${best.eventsPerSecond} events/s, ${best.eventsPerRequest} events per request)\n`,
      );
    writeSummary('splunk', { loadBefore: load, loadAfter: loadAverage(), results });
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

runBench('splunk', main);

/**
 * Metrics benchmark (issue 6). Two questions:
 *
 * 1. scrape: how long does a scrape of /metrics with 10 000 series take? Goal (the guide's figure): < 10 ms.
 *    A StatsRegistry with a sensor reporting 10 000 per-path counters (detailed) plus the usual families, served by
 *    the real HTTP endpoint; a separate process scrapes it sequentially over keep-alive and times each response
 *    (request sent → last byte received). Also: the render alone, and prom-client's own serializer for comparison.
 * 2. overhead: what does being scraped cost the pipeline at 100 000 events/s? Goal: < 1 % of throughput.
 *    The real binary on one core (taskset -c 0), replaying at 100 000 events/s into a file sink on /dev/null, with
 *    the endpoint off, and with it on and scraped every second (15 times the guide's 15 s interval). Reported: events
 *    per second achieved and CPU seconds per million events, alternating runs, medians; plus the unpaced throughput
 *    with and without scraping.
 *
 *   node dist/bench/metrics.js [--seconds N] [--runs N] [--only scrape|overhead]
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import http from 'node:http';
import { spawn, spawnSync } from 'node:child_process';
import { createMetricsServer } from '../src/daemon/http-server';
import { createMetrics } from '../src/telemetry/metrics';
import { NO_SENSOR_STATS } from '../src/telemetry/sensor-stats';
import { createSinkStats, createSourceStats, createStatsRegistry } from '../src/telemetry/stats';
import { packagePath } from '../src/util/paths';
import { writeEventsFile } from './lib/events-file';

function arg(name: string, fallback: string): string {
  const i = process.argv.indexOf(`--${name}`);
  return i > 0 ? (process.argv[i + 1] as string) : fallback;
}

const median = (xs: readonly number[]): number => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 === 1
    ? (s[(s.length - 1) / 2] as number)
    : ((s[s.length / 2 - 1] as number) + (s[s.length / 2] as number)) / 2;
};
const pct = (xs: readonly number[], p: number): number => {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.ceil(p * s.length) - 1)] as number;
};
const round = (x: number, d = 3): number => Number(x.toFixed(d));

/** The scraper, in its own process so that parsing responses does not share the server's event loop. */
const SCRAPER = `
const http = require('node:http');
const [port, warm, n, intervalMs] = process.argv.slice(1).map(Number);
const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
const get = () => new Promise((resolve, reject) => {
  const t0 = process.hrtime.bigint();
  http.get({ host: '127.0.0.1', port, path: '/metrics', agent }, (res) => {
    let bytes = 0;
    res.on('data', (c) => (bytes += c.length));
    res.on('end', () => resolve({ ms: Number(process.hrtime.bigint() - t0) / 1e6, bytes }));
  }).on('error', reject);
});
(async () => {
  const times = [];
  let bytes = 0;
  for (let i = 0; i < warm + n; i++) {
    const r = await get();
    if (i >= warm) { times.push(r.ms); bytes = r.bytes; }
    if (intervalMs > 0) await new Promise((r) => setTimeout(r, intervalMs));
  }
  process.stdout.write(JSON.stringify({ times, bytes }));
  agent.destroy();
})().catch((e) => { console.error(e); process.exit(1); });
`;

function runScraper(
  port: number,
  warm: number,
  n: number,
  intervalMillis: number,
): Promise<{ times: number[]; bytes: number }> {
  return new Promise((resolve, reject) => {
    const child = spawn(
      process.execPath,
      ['-e', SCRAPER, String(port), String(warm), String(n), String(intervalMillis)],
      { stdio: ['ignore', 'pipe', 'inherit'] },
    );
    let out = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString('utf8')));
    child.on('close', (code) =>
      code === 0
        ? resolve(JSON.parse(out) as { times: number[]; bytes: number })
        : reject(new Error(`scraper exited ${String(code)}`)),
    );
  });
}

async function benchScrape(): Promise<Record<string, unknown>> {
  const PATHS = 10_000;
  const stats = createStatsRegistry();
  const byPath = new Map<string, number>();
  for (let i = 0; i < PATHS - 100; i++)
    byPath.set(`/usr/lib/x86_64-linux-gnu/pkg-${i % 97}/lib${i}.so.1`, (i * 7919) % 1000);
  stats.sensor = {
    read: () => ({ ...NO_SENSOR_STATS, attached: true, mode: 'enforce', backend: 'lsm' }),
    readDetailed: () => ({ blocksByPath: byPath, blocksByInode: new Map() }),
  };
  for (let s = 0; s < 3; s++) {
    const sink = createSinkStats(`sink${s}`, 'file', { maxEvents: 100_000, maxBytes: 1 << 27 });
    for (let i = 0; i < 1000; i++) sink.sendLatencyMillis.observe(i % 300);
    stats.sinks.set(sink.sink, sink);
  }
  stats.sources.set('sensor', createSourceStats('sensor', 'sensor'));
  for (let i = 0; i < 5000; i++) stats.pipeline.latencyWindow.record(50 + (i % 400), 64, performance.now());
  const metrics = createMetrics({ stats, version: 'bench', detailed: true });
  const text = metrics.renderBuffer().toString('utf8');
  const series = text.split('\n').filter((l) => l !== '' && !l.startsWith('#')).length;

  const renderTimes: number[] = [];
  for (let i = 0; i < 30; i++) metrics.renderBuffer();
  for (let i = 0; i < 100; i++) {
    const t0 = process.hrtime.bigint();
    metrics.renderBuffer();
    renderTimes.push(Number(process.hrtime.bigint() - t0) / 1e6);
  }
  const promClientTimes: number[] = [];
  for (let i = 0; i < 5; i++) await metrics.registry.metrics();
  for (let i = 0; i < 30; i++) {
    const t0 = process.hrtime.bigint();
    await metrics.registry.metrics();
    promClientTimes.push(Number(process.hrtime.bigint() - t0) / 1e6);
  }

  const server = createMetricsServer({ host: '127.0.0.1', port: 0, metrics, readiness: stats.readiness });
  const { port } = await server.listen();
  const cpu0 = process.cpuUsage();
  const { times, bytes } = await runScraper(port, 20, 200, 0);
  const cpu = process.cpuUsage(cpu0);
  await server.close();
  const result = {
    series,
    bytes,
    scrape_ms: {
      median: round(median(times)),
      p90: round(pct(times, 0.9)),
      p99: round(pct(times, 0.99)),
      max: round(Math.max(...times)),
    },
    server_cpu_ms_per_scrape: round((cpu.user + cpu.system) / 1000 / times.length),
    render_ms_median: round(median(renderTimes)),
    prom_client_serializer_ms_median: round(median(promClientTimes)),
  };
  process.stdout.write(
    `metrics scrape: ${series} series (${(bytes / 1024).toFixed(0)} KiB): median ${result.scrape_ms.median} ms, p99 ${result.scrape_ms.p99} ms ` +
      `(goal < 10 ms) ${result.scrape_ms.p99 < 10 ? 'PASS' : 'MISS'}; server CPU ${result.server_cpu_ms_per_scrape} ms/scrape; ` +
      `render ${result.render_ms_median} ms; prom-client's serializer ${result.prom_client_serializer_ms_median} ms\n`,
  );
  return result;
}

interface Run {
  readonly label: string;
  readonly events: number;
  readonly seconds: number;
  readonly eventsPerSecond: number;
  readonly cpuSecondsPerMillion: number;
  readonly scrapes: number;
}

async function runDaemon(
  label: string,
  dir: string,
  input: string,
  rate: number,
  seconds: number,
  scrapeEveryMillis: number | undefined,
): Promise<Run> {
  const cfg = path.join(dir, `${label}.yml`);
  fs.writeFileSync(
    cfg,
    [
      `data_dir: ${dir}`,
      `sources: { r: { type: replay, path: ${input}, rate: ${rate}, loop: true } }`,
      `sinks: { f: { type: file, path: /dev/null, fsync: never, rotate: { max_bytes: 0 }, healthcheck: { enabled: false } } }`,
      `metrics: { listen: 127.0.0.1, port: 0, healthcheck_interval_ms: 0 }`,
      `control: { enabled: false }`,
    ].join('\n'),
  );
  const taskset = spawnSync('taskset', ['--version']).status === 0;
  const argv = [
    packagePath('bin', 'aegisbpf.js'),
    'run',
    '--config',
    cfg,
    ...(scrapeEveryMillis === undefined ? ['--metrics-port=off'] : []),
  ];
  const child = taskset ? spawn('taskset', ['-c', '0', process.execPath, ...argv]) : spawn(process.execPath, argv);
  child.stdout.resume();
  let stderr = '';
  child.stderr.on('data', (d: Buffer) => (stderr += d.toString('utf8')));
  const exited = new Promise<void>((r) => child.on('close', () => r()));
  const started = await new Promise<Record<string, unknown>>((resolve, reject) => {
    const timer = setInterval(() => {
      const line = stderr.split('\n').find((l) => l.includes('"aegisbpf started."'));
      if (line !== undefined) {
        clearInterval(timer);
        resolve(JSON.parse(line) as Record<string, unknown>);
      }
      if (child.exitCode !== null) {
        clearInterval(timer);
        reject(new Error(stderr));
      }
    }, 20);
  });
  let scrapes = 0;
  let scraper: NodeJS.Timeout | undefined;
  if (scrapeEveryMillis !== undefined) {
    const port = started.metricsPort as number;
    const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
    scraper = setInterval(() => {
      http
        .get({ host: '127.0.0.1', port, path: '/metrics', agent }, (res) => {
          res.resume();
          res.on('end', () => scrapes++);
        })
        .on('error', () => undefined);
    }, scrapeEveryMillis);
  }
  await new Promise((r) => setTimeout(r, seconds * 1000));
  if (scraper !== undefined) clearInterval(scraper);
  child.kill('SIGTERM');
  await exited;
  const summary = stderr
    .split('\n')
    .filter(Boolean)
    .map((l) => JSON.parse(l) as Record<string, unknown>)
    .find((l) => l.msg === 'aegisbpf stopped.');
  if (summary === undefined) throw new Error(`${label}: no summary\n${stderr}`);
  const events = summary.events_in as number;
  const wall = (summary.uptime_ms as number) / 1000;
  const cpu = ((summary.cpu_user_ms as number) + (summary.cpu_system_ms as number)) / 1000;
  return {
    label,
    events,
    seconds: wall,
    eventsPerSecond: Math.round(events / wall),
    cpuSecondsPerMillion: round((cpu / events) * 1e6),
    scrapes,
  };
}

async function benchOverhead(seconds: number, runs: number): Promise<Record<string, unknown>> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'aegis-bench-metrics-'));
  try {
    const input = path.join(dir, 'in.ndjson');
    writeEventsFile(input, 200_000);
    const paced: Run[] = [];
    const unpaced: Run[] = [];
    for (let i = 0; i < runs; i++) {
      // Alternate so that load changes on the machine hit both sides alike.
      paced.push(await runDaemon(`paced-off-${i}`, dir, input, 100_000, seconds, undefined));
      paced.push(await runDaemon(`paced-on-${i}`, dir, input, 100_000, seconds, 1000));
      unpaced.push(await runDaemon(`unpaced-off-${i}`, dir, input, 0, seconds, undefined));
      unpaced.push(await runDaemon(`unpaced-on-${i}`, dir, input, 0, seconds, 1000));
    }
    const side = (xs: Run[], on: boolean): Run[] => xs.filter((r) => r.label.includes(on ? '-on-' : '-off-'));
    const summary = (xs: Run[]) => ({
      events_per_second: median(xs.map((r) => r.eventsPerSecond)),
      cpu_s_per_million: median(xs.map((r) => r.cpuSecondsPerMillion)),
      runs: xs.map((r) => ({ eps: r.eventsPerSecond, cpu: r.cpuSecondsPerMillion, scrapes: r.scrapes })),
    });
    const pOff = summary(side(paced, false));
    const pOn = summary(side(paced, true));
    const uOff = summary(side(unpaced, false));
    const uOn = summary(side(unpaced, true));
    const cpuOverhead = round(((pOn.cpu_s_per_million - pOff.cpu_s_per_million) / pOff.cpu_s_per_million) * 100, 2);
    const throughputLoss = round(((uOff.events_per_second - uOn.events_per_second) / uOff.events_per_second) * 100, 2);
    process.stdout.write(
      `metrics overhead at 100000 events/s (1 core, scraped every 1 s): ${pOff.events_per_second} vs ${pOn.events_per_second} events/s; ` +
        `CPU ${pOff.cpu_s_per_million} vs ${pOn.cpu_s_per_million} s per million events = ${cpuOverhead} % (goal < 1 %)\n` +
        `metrics overhead, unpaced: ${uOff.events_per_second} events/s without the endpoint, ${uOn.events_per_second} scraped every 1 s = ${throughputLoss} % fewer\n`,
    );
    return {
      seconds_per_run: seconds,
      runs_per_side: runs,
      paced_off: pOff,
      paced_on: pOn,
      cpu_overhead_percent: cpuOverhead,
      unpaced_off: uOff,
      unpaced_on: uOn,
      unpaced_throughput_loss_percent: throughputLoss,
    };
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

async function main(): Promise<void> {
  const only = arg('only', '');
  const load = os.loadavg();
  const results: Record<string, unknown> = {
    bench: 'metrics',
    cpus: os.cpus().length,
    cpu: os.cpus()[0]?.model,
    loadavg_at_start: load.map((x) => round(x, 2)),
  };
  if (only === '' || only === 'scrape') results.scrape = await benchScrape();
  if (only === '' || only === 'overhead')
    results.overhead = await benchOverhead(Number(arg('seconds', '15')), Number(arg('runs', '3')));
  results.loadavg_at_end = os.loadavg().map((x) => round(x, 2));
  process.stdout.write(JSON.stringify(results) + '\n');
}

main().catch((err: unknown) => {
  process.stderr.write(`${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
  process.exitCode = 1;
});

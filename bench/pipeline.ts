/**
 * Pipeline benchmark: replay → filter → json → file, on one core (taskset -c 0), by the real binary.
 * Goal (issue 2): >= 200 000 events/s with peak RSS <= 200 MiB. Reports events/s, CPU seconds per million events,
 * peak RSS, for fsync never and batch.
 * Also runs bench/lib/floor.ts on the same input (the same per-event work in one synchronous loop, best of three): the
 * rate no pipeline can beat on this machine, so the report says how far above it aegisbpf is, and whether the goal
 * can be met here at all.
 * Then the worker threads (issue 23): the same run with `pipeline.workers` 0 on core 0, and 1 and 2 workers on cores 0
 * and 1, interleaved `--repeats` times (median), so that the ratio 2 workers : one core comes from the same minutes
 * of a machine other people share (its load average is printed).
 *   node dist/bench/pipeline.js [--events N] [--repeats N]
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { spawnSync } from 'node:child_process';
import { packagePath } from '../src/util/paths';
import { writeEventsFile } from './lib/events-file';
import { measureFloor } from './lib/floor';
import { nodeOnCore0, nodeOnCores } from './lib/pin';

interface Result {
  readonly name: string;
  readonly events: number;
  readonly wallSeconds: number;
  readonly eventsPerSecond: number;
  readonly cpuSecondsPerMillion: number;
  readonly peakRssMiB: number;
}

function arg(name: string, fallback: number): number {
  const i = process.argv.indexOf(`--${name}`);
  return i > 0 ? Number(process.argv[i + 1]) : fallback;
}

function runOnce(
  name: string,
  dir: string,
  input: string,
  fsync: string,
  count: number,
  workers?: { readonly count: number; readonly cores: string },
): Result {
  const out = path.join(dir, `${name}.ndjson`);
  fs.rmSync(out, { force: true });
  const cfg = path.join(dir, `${name}.yml`);
  fs.writeFileSync(
    cfg,
    [
      `data_dir: ${dir}`,
      `sources: { r: { type: replay, path: ${input} } }`,
      `processors: [{ type: filter, condition: 'type != "exit" || exit_code != 0' }]`,
      `sinks: { f: { type: file, path: ${out}, fsync: ${fsync}, rotate: { max_bytes: 0 } } }`,
      // Never port 9090 or /run/aegisbpf: a daemon or a Prometheus server may be running on this machine.
      `metrics: { listen: 127.0.0.1, port: 0 }`,
      `control: { socket: ${path.join(dir, 'control.sock')} }`,
      ...(workers === undefined ? [] : [`pipeline: { workers: ${workers.count} }`]),
    ].join('\n'),
  );
  const argv = [packagePath('bin', 'aegisbpf.js'), 'run', '--config', cfg];
  const { command, args } = workers === undefined ? nodeOnCore0(argv) : nodeOnCores(workers.cores, argv);
  const t0 = process.hrtime.bigint();
  const r = spawnSync(command, args, { encoding: 'utf8', maxBuffer: 64 << 20 });
  const wall = Number(process.hrtime.bigint() - t0) / 1e9;
  if (r.status !== 0) throw new Error(`${name}: exit ${String(r.status)}\n${r.stderr}`);
  const summary = r.stderr
    .split('\n')
    .filter(Boolean)
    .map((l) => JSON.parse(l) as Record<string, unknown>)
    .find((l) => l.msg === 'aegisbpf stopped.')!;
  const cpu = ((summary.cpu_user_ms as number) + (summary.cpu_system_ms as number)) / 1000;
  const events = summary.events_in as number;
  if (events !== count) throw new Error(`${name}: read ${events} of ${count} events`);
  return {
    name,
    events,
    wallSeconds: Number(wall.toFixed(2)),
    eventsPerSecond: Math.round(events / wall),
    cpuSecondsPerMillion: Number(((cpu / events) * 1e6).toFixed(2)),
    peakRssMiB: Number(((summary.max_rss_bytes as number) / 1048576).toFixed(1)),
  };
}

async function main(): Promise<void> {
  const count = arg('events', 1_000_000);
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'aegis-bench-'));
  try {
    const input = path.join(dir, 'in.ndjson');
    writeEventsFile(input, count);
    const results = [
      runOnce('fsync-never', dir, input, 'never', count),
      runOnce('fsync-batch', dir, input, 'batch', count),
    ];
    const floor = await measureFloor(['json-file', input, path.join(dir, 'floor.ndjson')]);
    for (const r of results) {
      process.stdout.write(
        `pipeline ${r.name}: ${r.events} events in ${r.wallSeconds} s = ${r.eventsPerSecond} events/s; ` +
          `${r.cpuSecondsPerMillion} CPU s per million events; peak RSS ${r.peakRssMiB} MiB ` +
          `(goal: >= 200000 events/s, <= 200 MiB) ${r.eventsPerSecond >= 200_000 && r.peakRssMiB <= 200 ? 'PASS' : 'MISS'}\n`,
      );
    }
    const best = Math.max(...results.map((r) => 1e6 / r.cpuSecondsPerMillion));
    process.stdout.write(
      `pipeline floor (the same work in one synchronous loop, no pipeline): ${floor.eventsPerCpuSecond} events per CPU-second, ` +
        `${floor.cpuMicrosPerEvent} µs per event; aegisbpf reaches ${Math.round((100 * best) / floor.eventsPerCpuSecond)} % of it. ` +
        `The 200000 events/s goal is ${floor.eventsPerCpuSecond >= 200_000 ? 'within reach (under the floor)' : 'beyond what one core of this machine can do at all (over the floor)'}.\n`,
    );
    // Worker threads: one core without workers against two cores with 1 and 2 workers, interleaved.
    const repeats = arg('repeats', 3);
    const loadBefore = os.loadavg();
    const series: Record<string, Result[]> = {
      'workers-0 core 0': [],
      'workers-1 cores 0,1': [],
      'workers-2 cores 0,1': [],
    };
    for (let i = 0; i < repeats; i++) {
      series['workers-0 core 0']!.push(runOnce('w0', dir, input, 'never', count, { count: 0, cores: '0' }));
      series['workers-1 cores 0,1']!.push(runOnce('w1', dir, input, 'never', count, { count: 1, cores: '0,1' }));
      series['workers-2 cores 0,1']!.push(runOnce('w2', dir, input, 'never', count, { count: 2, cores: '0,1' }));
    }
    const loadAfter = os.loadavg();
    const median = (rs: Result[]): Result =>
      [...rs].sort((a, b) => a.eventsPerSecond - b.eventsPerSecond)[Math.floor(rs.length / 2)]!;
    const workers = Object.entries(series).map(([name, rs]) => ({
      ...median(rs),
      name,
      all: rs.map((r) => r.eventsPerSecond),
    }));
    const single = workers[0]!.eventsPerSecond;
    for (const w of workers)
      process.stdout.write(
        `pipeline ${w.name}: median ${w.eventsPerSecond} events/s (runs: ${w.all.join(', ')}); ${w.cpuSecondsPerMillion} CPU s per million; ` +
          `peak RSS ${w.peakRssMiB} MiB; ${(w.eventsPerSecond / single).toFixed(2)}x one core\n`,
      );
    const two = workers[2]!.eventsPerSecond / single;
    process.stdout.write(
      `pipeline workers: 2 workers on 2 cores = ${two.toFixed(2)}x the single-core pipeline (goal >= 1.7x) ${two >= 1.7 ? 'PASS' : 'MISS'}; ` +
        `load average before ${loadBefore.map((l) => l.toFixed(2)).join(' ')}, after ${loadAfter.map((l) => l.toFixed(2)).join(' ')} (${os.cpus().length} CPUs, shared)\n`,
    );
    process.stdout.write(
      JSON.stringify({
        bench: 'pipeline',
        cpus: os.cpus().length,
        cpu: os.cpus()[0]?.model,
        results,
        floor,
        workers,
        load: { before: loadBefore, after: loadAfter },
      }) + '\n',
    );
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

main().catch((err: unknown) => {
  process.stderr.write(`${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
  process.exit(1);
});

/**
 * Formatter benchmark (issue 3): every registered formatter, default options, on a typical exec event and a typical
 * block event, one core (re-runs itself under `taskset -c 0` when available). Goal: >= 300 000 events/s for json,
 * ecs, cef, leef and rfc5424. Reports events/s per formatter and event kind (median of the rounds, and the best),
 * with the load average before and after, since a shared machine skews everything.
 *   node dist/bench/formatters.js [--millis N] [--rounds N] [--only name,name]
 */
import { spawnSync } from 'node:child_process';
import os from 'node:os';
import type { AegisEvent } from '../src/event/types';
import { formatJsonOrdered } from '../src/formatters/json';
import { createFormatter, formatterNames } from '../src/formatters/registry';
import type { Formatter } from '../src/formatters/types';
import { makeEventFactory } from '../test/helpers/events';
import { writeSummary } from './lib/summary';

const GOAL_EVENTS_PER_SECOND = 300_000;
const GOAL_FORMATS = new Set(['json', 'ecs', 'cef', 'leef', 'rfc5424']);

function arg(name: string): string | undefined {
  const i = process.argv.indexOf(`--${name}`);
  return i > 0 ? process.argv[i + 1] : undefined;
}

/**
 * 4096 distinct events of one kind, timestamps advancing like a real stream (the factory's 137 µs apart), as the
 * pipeline holds them: parsed from their JSON line, as the replay, stdin and Kafka sources produce them (and with
 * the canonical key order the sensor builds). The factory's own objects (built by spreading) are several times
 * slower to read property by property and would measure V8's object layout rather than the formatters. They are
 * canonicalized by the reference loop (formatJsonOrdered), not by the json formatter: its generated writers would
 * otherwise carry the factory objects' shapes in their inline caches, shapes the measured events never have.
 */
function eventsOfKind(kind: 'exec' | 'block'): AegisEvent[] {
  const make = makeEventFactory({ seed: 3, host: 'web-1.prod.example.com' });
  const out: AegisEvent[] = [];
  for (let i = 0; out.length < 4096; i++) {
    const e = make(i);
    if (e.type === kind) out.push(JSON.parse(formatJsonOrdered(e)) as AegisEvent);
  }
  return out;
}

let sink = 0;
/**
 * Touch the output the way a sink does: reading a character flattens a string built by concatenation (a V8 rope),
 * so formatters that concatenate pay that cost here too, as they do when the sink encodes the bytes.
 */
function consume(output: unknown): void {
  const s = typeof output === 'string' ? output : (output as { value: string }).value;
  sink += s.charCodeAt(s.length >> 1);
}

/**
 * Events per second over `millis` of wall time (checked every 1024 events), by wall time and by CPU time of this
 * process. On a quiet core the two agree; on a shared one the CPU-time figure is what the formatter costs, the wall
 * figure what the machine delivered.
 */
function measure(f: Formatter<unknown>, events: readonly AegisEvent[], millis: number): { wall: number; cpu: number } {
  const n = events.length;
  let count = 0;
  const cpu0 = process.cpuUsage();
  const t0 = process.hrtime.bigint();
  const deadline = t0 + BigInt(millis) * 1_000_000n;
  let now = t0;
  while (now < deadline) {
    for (let i = 0; i < 1024; i++) consume(f.format(events[(count + i) % n] as AegisEvent));
    count += 1024;
    now = process.hrtime.bigint();
  }
  const cpu = process.cpuUsage(cpu0);
  return { wall: (count / Number(now - t0)) * 1e9, cpu: (count / (cpu.user + cpu.system)) * 1e6 };
}

interface Row {
  readonly format: string;
  readonly kind: string;
  readonly medianEventsPerSecond: number;
  readonly bestEventsPerSecond: number;
  readonly microsPerEvent: number;
  /** Median events per second of CPU time (user + system) of this process. */
  readonly medianEventsPerCpuSecond: number;
}

function main(): void {
  if (process.env.AEGIS_BENCH_PINNED !== '1' && spawnSync('taskset', ['--version']).status === 0) {
    const r = spawnSync('taskset', ['-c', '0', process.execPath, ...process.execArgv, ...process.argv.slice(1)], {
      stdio: 'inherit',
      env: { ...process.env, AEGIS_BENCH_PINNED: '1' },
    });
    process.exit(r.status ?? 1);
  }
  const millis = Number(arg('millis') ?? 700);
  const rounds = Number(arg('rounds') ?? 5);
  const only = arg('only')?.split(',');
  const names = formatterNames().filter((n) => only === undefined || only.includes(n));
  const loadBefore = os.loadavg();
  const context = { hostname: os.hostname(), version: '0.1.0' };
  const kinds = { exec: eventsOfKind('exec'), block: eventsOfKind('block') };
  const rows: Row[] = [];
  for (const name of names) {
    const f = createFormatter<unknown>(name, context);
    for (const [kind, events] of Object.entries(kinds)) {
      measure(f, events, 300); // warm-up: let the JIT settle
      const results = Array.from({ length: rounds }, () => measure(f, events, millis));
      const walls = results.map((r) => r.wall).sort((a, b) => a - b);
      const cpus = results.map((r) => r.cpu).sort((a, b) => a - b);
      const median = walls[Math.floor(walls.length / 2)] as number;
      const best = walls[walls.length - 1] as number;
      const cpuMedian = cpus[Math.floor(cpus.length / 2)] as number;
      rows.push({
        format: name,
        kind,
        medianEventsPerSecond: Math.round(median),
        bestEventsPerSecond: Math.round(best),
        microsPerEvent: Number((1e6 / median).toFixed(2)),
        medianEventsPerCpuSecond: Math.round(cpuMedian),
      });
      const goal = GOAL_FORMATS.has(name)
        ? median >= GOAL_EVENTS_PER_SECOND
          ? ' (goal >= 300000: PASS)'
          : ' (goal >= 300000: MISS)'
        : '';
      process.stdout.write(
        `formatters ${name.padEnd(8)} ${kind.padEnd(5)}: ${String(Math.round(median)).padStart(8)} events/s median, ${String(Math.round(best)).padStart(8)} best, ` +
          `${(1e6 / median).toFixed(2)} µs/event; ${String(Math.round(cpuMedian)).padStart(8)} events per CPU-second${goal}\n`,
      );
    }
  }
  const loadAfter = os.loadavg();
  process.stdout.write(
    `load average before ${loadBefore.map((l) => l.toFixed(2)).join(' ')}, after ${loadAfter.map((l) => l.toFixed(2)).join(' ')} (${os.cpus().length} CPUs; pinned: ${process.env.AEGIS_BENCH_PINNED === '1'})\n`,
  );
  writeSummary('formatters', {
    pinned: process.env.AEGIS_BENCH_PINNED === '1',
    loadBefore,
    loadAfter,
    rows,
    sink: sink > 0,
  });
}

main();

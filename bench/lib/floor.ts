/**
 * The platform floor of a pipeline benchmark: the same per-event work, done by the same library functions in one
 * synchronous loop with nothing around it (no async reads, queues, batching bookkeeping, retries, counters, signal
 * handling, start-up). No pipeline can do that work for less CPU on this machine; bench/pipeline.ts and
 * bench/syslog.ts run this next to the real binary and report how far above the floor the binary is, and whether
 * the goal is reachable here at all.
 *
 *   node dist/bench/lib/floor.js json-file FILE OUT        read → parse → validate → filter → json → file
 *   node dist/bench/lib/floor.js rfc5424-tcp FILE PORT     read → parse → validate → rfc5424 → octet-counted tcp
 *
 * Run it pinned to one core (taskset -c 0), as the benchmarks do. Prints one JSON line:
 * {"case", "events", "cpuMicrosPerEvent", "eventsPerCpuSecond"}.
 */
import fs from 'node:fs';
import net from 'node:net';
import { spawn } from 'node:child_process';
import type { AegisEvent } from '../../src/event/types';
import { formatJson } from '../../src/formatters/json';
import { createRfc5424Formatter } from '../../src/formatters/rfc5424';
import { compileExpression } from '../../src/pipeline/expr';
import { DEFAULT_MAX_LINE_BYTES, NdjsonDecoder } from '../../src/pipeline/sources/ndjson';
import type { DeadLetterEntry } from '../../src/sinks/core/dead-letter';
import { createDeadLetterQueue } from '../../src/sinks/core/dead-letter';
import { createSourceStats } from '../../src/telemetry/stats';
import { silentLogger } from '../../src/util/logger';
import type { SizedMessage } from '../../src/sinks/syslog/framing';
import { frameMessages } from '../../src/sinks/syslog/framing';
import { packagePath } from '../../src/util/paths';
import { nodeOnCore0 } from './pin';

/** The pipeline benchmark's filter. */
export const FLOOR_FILTER = 'type != "exit" || exit_code != 0';
const READ_BYTES = 64 * 1024;
/** The sinks' default batch (src/sinks/core/types.ts). */
const BATCH_EVENTS = 1000;

export interface FloorResult {
  readonly case: string;
  readonly events: number;
  readonly cpuMicrosPerEvent: number;
  readonly eventsPerCpuSecond: number;
}

/**
 * Calls `each` with every event of `file`, decoded by the sources' own NDJSON decoder (split, JSON.parse,
 * validation); a line that is not a valid event is an error here.
 */
function forEachEvent(file: string, each: (event: AegisEvent) => void, afterChunk: () => void): number {
  const ctx = {
    name: 'floor',
    logger: silentLogger,
    stats: createSourceStats('floor', 'replay'),
    deadLetter: createDeadLetterQueue({
      path: undefined,
      maxBytes: 0,
      logger: silentLogger,
      stats: { written: 0, bytes: 0, failed: 0 },
    }),
    hostname: 'bench',
  };
  const decoder = new NdjsonDecoder(ctx, { chunkEvents: 1024, maxLineBytes: DEFAULT_MAX_LINE_BYTES });
  let count = 0;
  const take = ({ events, invalid }: { events: AegisEvent[]; invalid: DeadLetterEntry[] }): void => {
    const bad = invalid[0];
    if (bad !== undefined) throw new Error(`line ${String(bad.line)} is not a valid event (${bad.reason})`);
    for (const e of events) each(e);
    count += events.length;
    afterChunk();
  };
  const fd = fs.openSync(file, 'r');
  const buf = Buffer.allocUnsafe(READ_BYTES);
  try {
    for (let n = fs.readSync(fd, buf, 0, READ_BYTES, null); n > 0; n = fs.readSync(fd, buf, 0, READ_BYTES, null))
      take(decoder.push(buf.subarray(0, n)));
    take(decoder.end());
  } finally {
    fs.closeSync(fd);
  }
  return count;
}

function result(name: string, events: number, since: NodeJS.CpuUsage): FloorResult {
  const used = process.cpuUsage(since);
  const micros = (used.user + used.system) / events;
  return {
    case: name,
    events,
    cpuMicrosPerEvent: Number(micros.toFixed(2)),
    eventsPerCpuSecond: Math.round(1e6 / micros),
  };
}

export function jsonFileFloor(input: string, output: string): FloorResult {
  const keep = compileExpression(FLOOR_FILTER).test;
  const out = fs.openSync(output, 'w');
  const t0 = process.cpuUsage();
  let text = '';
  const events = forEachEvent(
    input,
    (e) => {
      if (keep(e)) text += formatJson(e) + '\n';
    },
    () => {
      // One write per input chunk keeps the output string below V8's large-object size (as the file sink does).
      fs.writeSync(out, text);
      text = '';
    },
  );
  fs.writeSync(out, text);
  fs.closeSync(out);
  return result('json-file', events, t0);
}

export async function rfc5424TcpFloor(input: string, port: number): Promise<FloorResult> {
  const formatter = createRfc5424Formatter({}, { hostname: 'bench', version: 'floor' });
  const socket = net.connect(port, '127.0.0.1');
  await new Promise<void>((resolve, reject) => socket.once('connect', resolve).once('error', reject));
  const t0 = process.cpuUsage();
  let batch: SizedMessage[] = [];
  // Written as each batch fills: on loopback the kernel takes a chunk at once (libuv writes synchronously when it
  // can), so what Node queues stays small while the receiver keeps up.
  const flush = (): void => {
    for (const chunk of frameMessages(batch, 'octet_counting', 0, () => undefined)) socket.write(chunk.data);
    batch = [];
  };
  const events = forEachEvent(
    input,
    (e) => {
      const data = formatter.format(e);
      batch.push({ data, bytes: Buffer.byteLength(data) });
    },
    () => {
      if (batch.length >= BATCH_EVENTS) flush();
    },
  );
  flush();
  await new Promise<void>((resolve) => socket.end(resolve));
  return result('rfc5424-tcp', events, t0);
}

/**
 * Best of `runs` floor measurements, each in its own process pinned to core 0 like the binary. Asynchronous, so a
 * receiver in the calling process keeps reading while it runs.
 */
export async function measureFloor(args: readonly string[], runs = 3): Promise<FloorResult> {
  const pinned = nodeOnCore0([packagePath('dist', 'bench', 'lib', 'floor.js'), ...args]);
  let best: FloorResult | undefined;
  for (let i = 0; i < runs; i++) {
    const child = spawn(pinned.command, pinned.args, { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString('utf8')));
    child.stderr.on('data', (d: Buffer) => (err += d.toString('utf8')));
    const code = await new Promise<number | null>((resolve) => child.on('close', resolve));
    if (code !== 0) throw new Error(`floor ${args.join(' ')}: exit ${String(code)}\n${err}`);
    const result = JSON.parse(out) as FloorResult;
    if (best === undefined || result.eventsPerCpuSecond > best.eventsPerCpuSecond) best = result;
  }
  return best!;
}

/** A TCP receiver on loopback that reads and discards everything (the floor's syslog peer). */
export async function startNullReceiver(): Promise<{ readonly port: number; close(): Promise<void> }> {
  const server = net.createServer((socket) => {
    socket.on('data', () => undefined);
    socket.on('error', () => undefined);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as net.AddressInfo).port;
  return { port, close: () => new Promise<void>((resolve) => server.close(() => resolve())) };
}

async function main(): Promise<void> {
  const [which, input, target] = process.argv.slice(2);
  if (input === undefined || target === undefined)
    throw new Error('usage: floor.js json-file FILE OUT | rfc5424-tcp FILE PORT');
  const r =
    which === 'json-file'
      ? jsonFileFloor(input, target)
      : which === 'rfc5424-tcp'
        ? await rfc5424TcpFloor(input, Number(target))
        : undefined;
  if (r === undefined) throw new Error(`unknown case '${String(which)}'`);
  process.stdout.write(JSON.stringify(r) + '\n');
}

if (require.main === module) {
  main().catch((err: unknown) => {
    process.stderr.write(`${err instanceof Error ? err.message : String(err)}\n`);
    process.exit(1);
  });
}

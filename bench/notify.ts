/**
 * Webhook and NATS sink benchmark (issue 19): replay → json → sink, by the real binary pinned to one core
 * (`taskset -c 0`), the receivers on the other core. Reports events/s (events / wall time, start-up and the final
 * flush included) and CPU seconds per million events (user + system of the aegisbpf process), and, measured in the
 * same run, the json-file floor (bench/lib/floor.ts: read → parse → validate → json → file in one synchronous loop)
 * as the ratio `CPU per event / floor CPU per event`: what the sink's transport costs above the work every sink does.
 *
 * Variants: webhook batched (JSON array of 100 / 1000 events per request, HMAC-signed, HTTPS to a local receiver that
 * verifies nothing and answers 200), nats JetStream (acks, Nats-Msg-Id), and nats core (fire-and-forget) as the
 * peer of JetStream on the same server.
 *   node dist/bench/notify.js [--events N] [--variant <part of a name>]
 */
import fs from 'node:fs';
import https from 'node:https';
import os from 'node:os';
import path from 'node:path';
import { spawn, spawnSync } from 'node:child_process';
import { connect } from '@nats-io/transport-node';
import { jetstreamManager } from '@nats-io/jetstream';
import { packagePath } from '../src/util/paths';
import { makeTestPki } from '../test/helpers/certs';
import { startNats } from '../test/helpers/services';
import { writeEventsFile } from './lib/events-file';
import { measureFloor } from './lib/floor';
import type { FloorResult } from './lib/floor';
import { loadAverage, runBench, writeSummary } from './lib/summary';

interface Result {
  readonly name: string;
  readonly events: number;
  readonly wallSeconds: number;
  readonly eventsPerSecond: number;
  readonly cpuSecondsPerMillion: number;
  readonly floorRatio: number;
  readonly extra: Record<string, number>;
}

function arg(name: string, fallback: number): number {
  const i = process.argv.indexOf(`--${name}`);
  return i > 0 ? Number(process.argv[i + 1]) : fallback;
}

const taskset = spawnSync('taskset', ['--version']).status === 0 && os.cpus().length > 1;

function pinToCore1(pid: number): void {
  if (taskset) spawnSync('taskset', ['-a', '-p', '-c', '1', String(pid)], { stdio: 'ignore' });
}

/** Run `aegisbpf run` on core 0 with this sink; the summary line's counters. */
async function runBinary(name: string, dir: string, input: string, count: number, sinkYaml: string[]): Promise<Result> {
  const cfg = path.join(dir, 'bench.yml');
  fs.writeFileSync(
    cfg,
    [
      `data_dir: ${dir}`,
      'shutdown_timeout_ms: 600000',
      `sources: { r: { type: replay, path: ${input} } }`,
      'sinks:',
      '  out:',
      ...sinkYaml.map((l) => `    ${l}`),
    ].join('\n'),
  );
  const bin = [process.execPath, packagePath('bin', 'aegisbpf.js'), 'run', '--config', cfg];
  const cmd = taskset ? 'taskset' : process.execPath;
  const args = taskset ? ['-c', '0', ...bin] : bin.slice(1);
  const t0 = process.hrtime.bigint();
  const child = spawn(cmd, args, { stdio: ['ignore', 'ignore', 'pipe'] });
  let stderr = '';
  child.stderr.on('data', (d: Buffer) => (stderr += d.toString('utf8')));
  const status = await new Promise<number | null>((resolve) => child.on('close', resolve));
  const wall = Number(process.hrtime.bigint() - t0) / 1e9;
  if (status !== 0) throw new Error(`${name}: exit ${String(status)}\n${stderr.slice(-3000)}`);
  const summary = stderr
    .split('\n')
    .filter((l) => l.startsWith('{'))
    .map((l) => JSON.parse(l) as Record<string, unknown>)
    .find((l) => l.msg === 'aegisbpf stopped.')!;
  const sink = (summary.sinks as Record<string, Record<string, unknown>>).out!;
  if (sink.delivered !== count) throw new Error(`${name}: delivered ${String(sink.delivered)} of ${count}`);
  const cpu = ((summary.cpu_user_ms as number) + (summary.cpu_system_ms as number)) / 1000;
  return {
    name,
    events: count,
    wallSeconds: Number(wall.toFixed(2)),
    eventsPerSecond: Math.round(count / wall),
    cpuSecondsPerMillion: Number(((cpu / count) * 1e6).toFixed(2)),
    floorRatio: 0,
    extra: { duplicates: Number(sink.duplicates ?? 0), ...(sink.extra as Record<string, number>) },
  };
}

/** An HTTPS receiver in this process (pinned to core 1 with it) that reads each body and answers 200. */
async function startReceiver(
  dir: string,
): Promise<{ url: string; caFile: string; requests: () => number; close(): Promise<void> }> {
  const pki = makeTestPki(path.join(dir, 'pki'));
  let requests = 0;
  const server = https.createServer(
    { cert: fs.readFileSync(pki.serverCert), key: fs.readFileSync(pki.serverKey) },
    (req, res) => {
      req.on('data', () => undefined);
      req.on('end', () => {
        requests++;
        res.writeHead(200, { 'content-type': 'text/plain' });
        res.end('ok');
      });
    },
  );
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as { port: number }).port;
  return {
    url: `https://127.0.0.1:${port}/hook`,
    caFile: pki.caCert,
    requests: () => requests,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

async function main(): Promise<void> {
  const count = arg('events', 200_000);
  const only = process.argv.indexOf('--variant');
  const wanted = (name: string): boolean => only < 0 || name.includes(process.argv[only + 1] ?? '');
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'aegis-bench-notify-'));
  const load = loadAverage();
  const results: Result[] = [];
  let floor: FloorResult | undefined;
  try {
    const input = path.join(dir, 'in.ndjson');
    writeEventsFile(input, count);
    floor = await measureFloor(['json-file', input, path.join(dir, 'floor.out')]);
    const withFloor = (r: Result): Result => ({
      ...r,
      floorRatio: Number((r.cpuSecondsPerMillion / floor!.cpuMicrosPerEvent).toFixed(2)),
    });
    pinToCore1(process.pid);

    const hookKey = path.join(dir, 'hook.key');
    fs.writeFileSync(hookKey, 'bench-hmac-key-0123456789abcdef\n', { mode: 0o600 });
    for (const batch of [100, 1000]) {
      const name = `webhook batched (${batch} events per request, HMAC, HTTPS)`;
      if (!wanted(name)) continue;
      const receiver = await startReceiver(dir);
      try {
        const r = await runBinary(name, dir, input, count, [
          'type: webhook',
          `url: ${receiver.url}`,
          `hmac: { secret_file: ${hookKey} }`,
          `tls: { ca_file: ${receiver.caFile} }`,
          `batch: { max_events: ${batch}, max_bytes: 4000000 }`,
          'request: { concurrency: 4 }',
        ]);
        results.push(withFloor({ ...r, extra: { ...r.extra, requests: receiver.requests() } }));
      } finally {
        await receiver.close();
      }
    }

    const natsVariants = [
      { name: 'nats JetStream (acks, Nats-Msg-Id)', jetstream: true },
      { name: 'nats core (fire-and-forget, the peer)', jetstream: false },
    ].filter((v) => wanted(v.name));
    if (natsVariants.length > 0) {
      const server = await startNats();
      if (!server.ok) throw new Error(server.reason);
      try {
        const pid = Number(fs.readFileSync(path.join(server.workDir, 'run', 'service.pid'), 'utf8'));
        pinToCore1(pid);
        for (const v of natsVariants) {
          const stream = `bench${results.length}`;
          const nc = await connect({ servers: server.url });
          await (await jetstreamManager(nc)).streams.add({ name: stream, subjects: [`${stream}.>`] });
          await nc.close();
          results.push(
            withFloor(
              await runBinary(v.name, dir, input, count, [
                'type: nats',
                `servers: ["${server.url}"]`,
                `subject: "${stream}.{{type}}"`,
                `jetstream: ${String(v.jetstream)}`,
              ]),
            ),
          );
        }
      } finally {
        await server.stop();
      }
    }
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
  for (const r of results)
    process.stdout.write(
      `notify ${r.name}: ${r.events} events in ${r.wallSeconds} s = ${r.eventsPerSecond} events/s; ` +
        `${r.cpuSecondsPerMillion} CPU s per million events = ${r.floorRatio}x the json-file floor ` +
        `(${floor?.cpuMicrosPerEvent ?? NaN} µs per event); ${JSON.stringify(r.extra)}\n`,
    );
  writeSummary('notify', { loadBefore: load, loadAfter: loadAverage(), floor, results });
}

runBench('notify', main);

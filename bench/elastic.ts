/**
 * Elasticsearch benchmark (issue 8): replay → ecs → elasticsearch sink by the real binary (`aegisbpf run --config`)
 * into a local Elasticsearch started like the tests start it, for a range of batch sizes.
 *
 * Main figure: aegisbpf's CPU seconds per million events (user + system of the aegisbpf process, from its summary
 * line): on a 2-core machine Elasticsearch itself is the bottleneck for events/s. Also reported: events/s (events /
 * wall time of the run, start-up included), the cores aegisbpf used (CPU / wall), the load average before and after,
 * and an in-process breakdown of the sink's per-event work (ecs formatting, _id, NDJSON body, gzip level 1 vs 6).
 * Every run checks `_count` equals the events sent.
 *   node dist/bench/elastic.js [--events N] [--batches 500,1000,2000,5000,10000] [--heap 1g]
 * Goal: >= 30 000 events/s with aegisbpf <= 1 core.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import zlib from 'node:zlib';
import http from 'node:http';
import { spawn, spawnSync } from 'node:child_process';
import { formatEcs } from '../src/formatters/ecs';
import { documentId } from '../src/sinks/elasticsearch/target';
import { createEsClient, rawRequest } from '../src/sinks/elasticsearch/client';
import { installElasticContent } from '../src/sinks/elasticsearch/install';
import { createElasticsearchTransport } from '../src/sinks/elasticsearch/transport';
import { parseElasticsearchConfig } from '../src/sinks/elasticsearch/config';
import { createLogger } from '../src/util/logger';
import { packagePath } from '../src/util/paths';
import { makeEventFactory } from '../test/helpers/events';
import { startElasticsearch } from '../test/helpers/services';
import { writeEventsFile } from './lib/events-file';
import { runBench, writeSummary } from './lib/summary';

function arg(name: string, fallback: string): string {
  const i = process.argv.indexOf(`--${name}`);
  return i > 0 ? (process.argv[i + 1] ?? fallback) : fallback;
}

interface RunResult {
  readonly name: string;
  readonly batchEvents: number;
  readonly compression: string;
  readonly events: number;
  readonly wallSeconds: number;
  readonly eventsPerSecond: number;
  readonly cpuSecondsPerMillion: number;
  readonly coresUsed: number;
  readonly peakRssMiB: number;
  readonly retried: number;
  readonly loadBefore: number;
  readonly loadAfter: number;
}

function runAegis(args: string[], cpu?: string): Promise<{ code: number | null; stderr: string; wallSeconds: number }> {
  return new Promise((resolve) => {
    const t0 = process.hrtime.bigint();
    const argv = [process.execPath, packagePath('bin', 'aegisbpf.js'), ...args];
    const child =
      cpu === undefined
        ? spawn(argv[0]!, argv.slice(1), { stdio: ['ignore', 'ignore', 'pipe'] })
        : spawn('taskset', ['-c', cpu, ...argv], { stdio: ['ignore', 'ignore', 'pipe'] });
    let stderr = '';
    child.stderr.on('data', (c: Buffer) => (stderr += c.toString('utf8')));
    child.on('exit', (code) => resolve({ code, stderr, wallSeconds: Number(process.hrtime.bigint() - t0) / 1e9 }));
  });
}

/** Per-event cost of the sink's own work, in process (no network): µs per event for each step. */
function breakdown(count: number): Record<string, number> {
  const make = makeEventFactory({ seed: 9 });
  const events = Array.from({ length: count }, (_, i) => make(i));
  const time = (fn: () => void): number => {
    fn(); // warm-up
    const t0 = process.hrtime.bigint();
    fn();
    return Number(process.hrtime.bigint() - t0) / 1e3 / count;
  };
  let docs: string[] = [];
  const ecsMicros = time(() => {
    docs = events.map((e) => formatEcs(e));
  });
  const idMicros = time(() => {
    for (const e of events) documentId(e);
  });
  const transport = createElasticsearchTransport(parseElasticsearchConfig({ url: 'http://127.0.0.1:9' }), {
    logger: createLogger({ level: 'FATAL' }),
    version: 'bench',
  });
  const records = events.map((event, i) => ({
    event,
    data: docs[i] as string,
    bytes: Buffer.byteLength(docs[i] as string),
  }));
  let body = Buffer.alloc(0);
  const bodyMicros = time(() => {
    const parts: Buffer[] = [];
    for (let i = 0; i < records.length; i += 5000) parts.push(transport.bulkBody(records.slice(i, i + 5000)));
    body = Buffer.concat(parts);
  });
  const gz1 = time(() => void zlib.gzipSync(body, { level: 1 }));
  const gz6 = time(() => void zlib.gzipSync(body, { level: 6 }));
  // What `client.bulk({ operations })` would need: objects, which the client serializes again.
  const objectsMicros = time(() => {
    const ops: unknown[] = [];
    for (const r of records) ops.push({ create: { _index: 'x', _id: 'y' } }, JSON.parse(r.data));
    let s = '';
    for (const o of ops) s += JSON.stringify(o) + '\n';
    if (s.length === 0) throw new Error('unreachable');
  });
  void transport.close();
  const bytes = Buffer.byteLength(body);
  return {
    ecs_format_us: Number(ecsMicros.toFixed(2)),
    document_id_us: Number(idMicros.toFixed(2)),
    ndjson_body_us: Number(bodyMicros.toFixed(2)),
    gzip_level1_us: Number(gz1.toFixed(2)),
    gzip_level6_us: Number(gz6.toFixed(2)),
    gzip_level1_ratio: Number((zlib.gzipSync(body, { level: 1 }).length / bytes).toFixed(3)),
    gzip_level6_ratio: Number((zlib.gzipSync(body, { level: 6 }).length / bytes).toFixed(3)),
    parse_and_reserialize_us: Number(objectsMicros.toFixed(2)),
    bytes_per_event: Math.round(bytes / count),
  };
}

/**
 * aegisbpf alone: the same binary and configuration against a stub `_bulk` endpoint that acknowledges every request
 * at once (`{"errors":false}`, body not even decompressed), with aegisbpf pinned to one core (taskset) and the stub
 * on the other. Shows what aegisbpf can push when Elasticsearch is not the bottleneck.
 */
async function stubRuns(input: string, dir: string, count: number): Promise<RunResult[]> {
  const server = http.createServer((req, res) => {
    req.resume();
    req.on('end', () => {
      const p = (req.url ?? '').split('?')[0];
      const body =
        p === '/_bulk'
          ? '{"errors":false}'
          : p === '/'
            ? '{"version":{"number":"8.19.21"}}'
            : p === '/_cluster/health'
              ? '{"status":"green"}'
              : p?.startsWith('/_index_template/_simulate_index')
                ? '{"template":{"mappings":{"properties":{"@timestamp":{"type":"date"}}}}}'
                : '{"indices":[],"aliases":[],"data_streams":[]}';
      res.writeHead(200, { 'content-type': 'application/json', 'x-elastic-product': 'Elasticsearch' }).end(body);
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as { port: number }).port;
  const taskset = spawnSync('taskset', ['--version']).status === 0;
  if (taskset) spawnSync('taskset', ['-pc', '1', String(process.pid)]);
  const results: RunResult[] = [];
  try {
    for (const compression of ['gzip', 'none'] as const) {
      const cfg = path.join(dir, `stub-${compression}.yml`);
      fs.writeFileSync(
        cfg,
        [
          `data_dir: ${dir}`,
          'shutdown_timeout_ms: 600000',
          `sources: { r: { type: replay, path: ${input} } }`,
          `sinks: { es: { type: elasticsearch, url: "http://127.0.0.1:${port}", compression: ${compression}, batch: { max_events: 5000, max_bytes: 67108864, timeout_ms: 200 }, buffer: { max_events: 100000, max_bytes: 536870912 } } }`,
        ].join('\n'),
      );
      const loadBefore = os.loadavg()[0] ?? 0;
      const r = await runAegis(['run', '--config', cfg], taskset ? '0' : undefined);
      const loadAfter = os.loadavg()[0] ?? 0;
      results.push(resultOf(`stub-batch-5000-${compression}`, 5000, compression, count, r, loadBefore, loadAfter));
    }
  } finally {
    server.close();
  }
  return results;
}

function resultOf(
  name: string,
  batchEvents: number,
  compression: string,
  count: number,
  r: { code: number | null; stderr: string; wallSeconds: number },
  loadBefore: number,
  loadAfter: number,
): RunResult {
  if (r.code !== 0) throw new Error(`${name} exited ${String(r.code)}: ${r.stderr.slice(-2000)}`);
  const summary = r.stderr
    .split('\n')
    .filter(Boolean)
    .map((l) => JSON.parse(l) as Record<string, unknown>)
    .find((l) => l.msg === 'aegisbpf stopped.')!;
  const sink = (summary.sinks as Record<string, { delivered: number; retried: number }>).es!;
  if (sink.delivered !== count) throw new Error(`${name}: delivered ${sink.delivered} of ${count}`);
  const cpu = ((summary.cpu_user_ms as number) + (summary.cpu_system_ms as number)) / 1000;
  return {
    name,
    batchEvents,
    compression,
    events: count,
    wallSeconds: Number(r.wallSeconds.toFixed(2)),
    eventsPerSecond: Math.round(count / r.wallSeconds),
    cpuSecondsPerMillion: Number(((cpu / count) * 1e6).toFixed(2)),
    coresUsed: Number((cpu / r.wallSeconds).toFixed(2)),
    peakRssMiB: Number(((summary.max_rss_bytes as number) / 1048576).toFixed(1)),
    retried: sink.retried,
    loadBefore: Number(loadBefore.toFixed(2)),
    loadAfter: Number(loadAfter.toFixed(2)),
  };
}

function print(result: RunResult): void {
  process.stdout.write(
    `elastic ${result.name}: ${result.events} events in ${result.wallSeconds} s = ${result.eventsPerSecond} events/s; ${result.cpuSecondsPerMillion} CPU s per million events ` +
      `(${result.coresUsed} cores); peak RSS ${result.peakRssMiB} MiB; retried ${result.retried}; load ${result.loadBefore} → ${result.loadAfter} ` +
      `(goal: >= 30000 events/s with <= 1 core) ${result.eventsPerSecond >= 30_000 && result.coresUsed <= 1 ? 'PASS' : 'MISS'}\n`,
  );
}

async function main(): Promise<void> {
  const count = Number(arg('events', '200000'));
  const batches = arg('batches', '500,1000,2000,5000,10000').split(',').map(Number);
  process.stderr.write(`elastic bench: in-process breakdown (${os.loadavg()[0]?.toFixed(2)} load)\n`);
  const perEvent = breakdown(50_000);
  process.stdout.write(`elastic per-event work (µs): ${JSON.stringify(perEvent)}\n`);

  const es = await startElasticsearch({ heap: arg('heap', '1g') });
  if (!es.ok) throw new Error(es.reason);
  const client = createEsClient({
    urls: [es.url],
    auth: { kind: 'none' },
    tls: { caFile: undefined, verify: true, serverName: undefined },
  });
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'aegis-bench-es-'));
  const results: RunResult[] = [];
  try {
    await installElasticContent(client, { version: 'bench' });
    const input = path.join(dir, 'in.ndjson');
    writeEventsFile(input, count, 7);
    // Warm-up, not reported: the JVM compiles its indexing path during the first run, which would make whichever
    // batch size comes first look slow.
    {
      const cfg = path.join(dir, 'warmup.yml');
      fs.writeFileSync(
        cfg,
        [
          `data_dir: ${dir}`,
          'shutdown_timeout_ms: 600000',
          `sources: { r: { type: replay, path: ${input} } }`,
          `sinks: { es: { type: elasticsearch, url: ${es.url}, index: "aegisbpf-warmup-%{+yyyy.MM.dd}" } }`,
        ].join('\n'),
      );
      const r = await runAegis(['run', '--config', cfg]);
      if (r.code !== 0) throw new Error(`warm-up exited ${String(r.code)}: ${r.stderr.slice(-2000)}`);
      await rawRequest(client, { method: 'DELETE', path: `/aegisbpf-warmup-2026.11.21` });
    }
    const configs: { batch: number; compression: 'gzip' | 'none' }[] = [
      ...batches.map((b) => ({ batch: b, compression: 'gzip' as const })),
      { batch: 5000, compression: 'none' },
    ];
    for (const [i, c] of configs.entries()) {
      const index = `aegisbpf-bench-${i}`;
      const cfg = path.join(dir, `c${i}.yml`);
      fs.writeFileSync(
        cfg,
        [
          `data_dir: ${dir}`,
          'shutdown_timeout_ms: 600000',
          `sources: { r: { type: replay, path: ${input} } }`,
          'sinks:',
          `  es: { type: elasticsearch, url: ${es.url}, index: "${index}-%{+yyyy.MM.dd}", compression: ${c.compression},`,
          `        batch: { max_events: ${c.batch}, max_bytes: 67108864, timeout_ms: 200 }, buffer: { max_events: ${Math.max(100_000, 4 * c.batch)}, max_bytes: 536870912 },`,
          '        request: { concurrency: 2, timeout_ms: 120000 } }',
        ].join('\n'),
      );
      const loadBefore = os.loadavg()[0] ?? 0;
      const r = await runAegis(['run', '--config', cfg]);
      const loadAfter = os.loadavg()[0] ?? 0;
      const result = resultOf(
        `batch-${c.batch}-${c.compression}`,
        c.batch,
        c.compression,
        count,
        r,
        loadBefore,
        loadAfter,
      );
      await rawRequest(client, { method: 'POST', path: `/${index}-*/_refresh` });
      const counted = await rawRequest(client, { method: 'GET', path: `/${index}-*/_count` });
      const n = counted.ok ? (counted.body as { count: number }).count : -1;
      if (n !== count) throw new Error(`run ${i}: _count ${n}, expected ${count}`);
      results.push(result);
      print(result);
      // Free the node for the next run (wildcard deletes are refused by default: delete by name).
      const resolved = await rawRequest(client, { method: 'GET', path: `/_resolve/index/${index}-*` });
      for (const ix of resolved.ok ? ((resolved.body as { indices?: { name: string }[] }).indices ?? []) : [])
        await rawRequest(client, { method: 'DELETE', path: `/${ix.name}` });
    }
  } catch (err) {
    fs.rmSync(dir, { recursive: true, force: true });
    throw err;
  } finally {
    await client.close();
    await es.stop();
  }
  try {
    // With Elasticsearch stopped: aegisbpf alone against a stub.
    for (const r of await stubRuns(path.join(dir, 'in.ndjson'), dir, count)) {
      results.push(r);
      print(r);
    }
    writeSummary('elastic', { elasticsearch: es.version, perEvent, results });
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

runBench('elastic', main);

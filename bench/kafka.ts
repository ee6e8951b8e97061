/**
 * Kafka client benchmark (issue 16): the same records (aegisbpf's `kafka` format: key = host, five headers, JSON
 * value of about 600 bytes) produced to a local single-node Apache Kafka 4.x by each Node client, and by `kcat`
 * (librdkafka, the Debian package) as the floor to compare with, then consumed back.
 *
 * Clients: `sink` (aegisbpf's kafka sink transport: our own record batches and produce requests on the client's
 * connections), `platformatic` (the client's own send), `kafkajs`, `kcat`.
 * Reported per client: producer events/s and CPU s per million events (user + system of this process, or of kcat),
 * consumer events/s, idempotent producer (yes when an idempotent, acks=all send succeeded), and the time for a second
 * member to join a consumer group and get partitions (rebalance). Producers run with acks=all and idempotence on,
 * batches of `--batch` records, one batch in flight (the sink's default request.concurrency) unless `--inflight`.
 *   node dist/bench/kafka.js [--events 100000] [--batch 1000] [--inflight 1] [--clients sink,platformatic,kafkajs,kcat]
 *   node dist/bench/kafka.js --relay [--events 100000] [--repeat 3]   the relay: kafka → file, one relay, then two in one group
 *     [--relays 1|2|1,2] [--before DIR (another build's relays, alternating)] [--profile DIR (--cpu-prof of each relay)]
 *     [--workers N (this build's relays with pipeline.workers: N; with --before DIR=. that compares 0 and N)]
 *     also reports the broker's CPU (its JVM) and this harness's, and the cores 1.8x one relay would need.
 * Goal: >= 150 000 events/s on one core with the chosen client.
 */
import { spawn, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { KafkaLib } from '../src/sinks/kafka/client-lib';
import { kafkaLib } from '../src/sinks/kafka/client-lib';
import { Kafka, logLevel } from 'kafkajs';
import type { KafkaRecord } from '../src/formatters/kafka';
import { createFormatter } from '../src/formatters/registry';
import { parseKafkaConfig } from '../src/sinks/kafka/config';
import { crc32cImplementation } from '../src/sinks/kafka/crc32c';
import { kafkaRecordBytes } from '../src/sinks/kafka/index';
import { createKafkaTransport } from '../src/sinks/kafka/transport';
import { createLogger } from '../src/util/logger';
import { packagePath } from '../src/util/paths';
import { makeEventFactory } from '../test/helpers/events';
import type { KafkaCluster } from '../test/helpers/kafka';
import { startKafka } from '../test/helpers/kafka';

const { Consumer, Producer, ProduceAcks, stringDeserializers, stringSerializers } = kafkaLib;

function arg(name: string, fallback: string): string {
  const i = process.argv.indexOf(`--${name}`);
  return i > 0 ? (process.argv[i + 1] ?? fallback) : fallback;
}

const EVENTS = Number(arg('events', '100000'));
const BATCH = Number(arg('batch', '1000'));
const INFLIGHT = Number(arg('inflight', '1'));
/** Distinct partition keys of the relay's topic (hosts of a fleet). */
const HOSTS = 64;
const REPEAT = Number(arg('repeat', '3'));
const CLIENTS = arg('clients', 'sink,platformatic,kafkajs,kcat').split(',');
/** `--profile DIR`: the relays run with `node --cpu-prof --cpu-prof-dir DIR` (one .cpuprofile per relay process). */
const PROFILE_DIR = arg('profile', '');
/** `--relays 1` or `--relays 2`: only that row (default both). */
const RELAYS = arg('relays', '1,2').split(',').map(Number);
/**
 * `--before DIR`: also run the relays of another build of aegisbpf (a checkout with its dist/ built, e.g. the commit
 * before a change), alternating with this one in the same run, for a before/after at the same load.
 */
const BEFORE_DIR = arg('before', '');
/** `--workers N`: the relays run with `pipeline: { workers: N }` (default 0: one thread). */
const WORKERS = Number(arg('workers', '0'));

interface Row {
  client: string;
  produceEventsPerSecond: number;
  produceCpuSecondsPerMillion: number;
  consumeEventsPerSecond: number;
  idempotent: string;
  rebalanceMillis: number | string;
}

function records(): KafkaRecord[] {
  const make = makeEventFactory({ seed: 16 });
  const fmt = createFormatter<KafkaRecord>({ type: 'kafka', key: 'host' }, { hostname: 'bench', version: '0' });
  return Array.from({ length: EVENTS }, (_, i) => fmt.format(make(i)));
}

function cpuSeconds(start: NodeJS.CpuUsage): number {
  const d = process.cpuUsage(start);
  return (d.user + d.system) / 1e6;
}

async function timed(fn: () => Promise<void>): Promise<{ wall: number; cpu: number }> {
  const c0 = process.cpuUsage();
  const t0 = process.hrtime.bigint();
  await fn();
  return { wall: Number(process.hrtime.bigint() - t0) / 1e9, cpu: cpuSeconds(c0) };
}

async function inBatches(total: number, send: (from: number, to: number) => Promise<void>): Promise<void> {
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < total) {
      const from = next;
      next = Math.min(total, next + BATCH);
      await send(from, next);
    }
  };
  await Promise.all(Array.from({ length: INFLIGHT }, worker));
}

/**
 * aegisbpf's kafka sink transport (src/sinks/kafka/transport.ts: our record batches on the client's connections),
 * fed records as the sink core hands them over: formatted, then sized with kafkaRecordBytes (the core's batch and
 * buffer bounds). Sizing reads every string once, which is where V8 flattens a formatter's output; the other
 * clients' records were sized the same way in main().
 */
async function benchSink(cluster: KafkaCluster): Promise<Row> {
  const topic = 'bench-sink';
  await cluster.createTopic(topic, { partitions: 3 });
  const make = makeEventFactory({ seed: 16 });
  const fmt = createFormatter<KafkaRecord>({ type: 'kafka', key: 'host' }, { hostname: 'bench', version: '0' });
  const records = Array.from({ length: EVENTS }, (_, i) => {
    const event = make(i);
    const data = fmt.format(event);
    return { event, data, bytes: kafkaRecordBytes(data) };
  });
  const transport = createKafkaTransport(parseKafkaConfig({ brokers: [...cluster.bootstrap], topic }), {
    name: 'bench',
    logger: createLogger({ level: 'ERROR', write: () => undefined }),
    requestTimeoutMillis: 30_000,
  });
  // One record first: connections, metadata and the producer id, as a running sink has them.
  const warm = { id: 0, records: records.slice(0, 1), bytes: 0, attempt: 1 };
  const signal = new AbortController().signal;
  if ((await transport.send(warm, signal)).kind !== 'delivered') throw new Error('sink: warm-up send failed');
  const p = await timed(() =>
    inBatches(EVENTS, async (from, to) => {
      const r = await transport.send({ id: from, records: records.slice(from, to), bytes: 0, attempt: 1 }, signal);
      if (r.kind !== 'delivered') throw new Error(`sink: ${JSON.stringify(r)}`);
    }),
  );
  await transport.close();
  // Read back only to check that every record is there (the consumer is the client library's: its row has the rate).
  const n = (await cluster.readTopic(topic, 120_000)).length;
  if (n !== EVENTS + 1) throw new Error(`sink: ${n} records on the topic, expected ${EVENTS + 1}`);
  return {
    client: `aegisbpf kafka sink (own record batches, CRC-32C ${crc32cImplementation})`,
    produceEventsPerSecond: EVENTS / p.wall,
    produceCpuSecondsPerMillion: (p.cpu / EVENTS) * 1e6,
    consumeEventsPerSecond: NaN,
    idempotent: 'yes',
    rebalanceMillis: 'n/a',
  };
}

async function benchPlatformatic(cluster: KafkaCluster, recs: readonly KafkaRecord[]): Promise<Row> {
  const topic = 'bench-platformatic';
  await cluster.createTopic(topic, { partitions: 3 });
  const producer = new Producer({
    clientId: 'bench',
    bootstrapBrokers: [...cluster.bootstrap],
    serializers: stringSerializers,
    idempotent: true,
    acks: ProduceAcks.ALL,
  });
  const p = await timed(() =>
    inBatches(recs.length, async (from, to) => {
      await producer.send({
        messages: recs.slice(from, to).map((r) => ({
          topic,
          key: r.key ?? undefined,
          value: r.value,
          headers: r.headers,
        })),
      });
    }),
  );
  await producer.close();
  // The relay's settings (src/pipeline/sources/kafka.ts): the client's defaults wait up to 5 s per fetch.
  const consumer = new Consumer({
    clientId: 'bench',
    groupId: `bench-${Date.now()}`,
    bootstrapBrokers: [...cluster.bootstrap],
    deserializers: stringDeserializers,
    maxWaitTime: 500,
    maxBytes: 8 * 1024 * 1024,
    highWaterMark: 4096,
  });
  let seen = 0;
  const c = await timed(async () => {
    const stream = await consumer.consume({ topics: [topic], mode: 'earliest', autocommit: false });
    await new Promise<void>((resolve) => {
      stream.on('data', () => {
        seen += 1;
        if (seen === recs.length) resolve();
      });
    });
    await stream.close();
  });
  await consumer.close(true);
  // Rebalance: a first member owns all 3 partitions; time until a second member of the same group has some.
  const group = `bench-group-${Date.now()}`;
  const mk = (): KafkaLib.Consumer<string, string, string, string> =>
    new Consumer({
      clientId: 'bench',
      groupId: group,
      bootstrapBrokers: [...cluster.bootstrap],
      deserializers: stringDeserializers,
      sessionTimeout: 6000,
      heartbeatInterval: 500,
    });
  const a = mk();
  const b = mk();
  const sa = await a.consume({ topics: [topic], mode: 'latest' });
  const t0 = Date.now();
  const sb = await b.consume({ topics: [topic], mode: 'latest' });
  while ((b.assignments ?? []).every((x) => x.partitions.length === 0) && Date.now() - t0 < 30_000)
    await new Promise((r) => setTimeout(r, 50));
  const rebalance = Date.now() - t0;
  await sa.close();
  await sb.close();
  await a.close(true);
  await b.close(true);
  return {
    client: '@platformatic/kafka',
    produceEventsPerSecond: recs.length / p.wall,
    produceCpuSecondsPerMillion: (p.cpu / recs.length) * 1e6,
    consumeEventsPerSecond: recs.length / c.wall,
    idempotent: 'yes',
    rebalanceMillis: rebalance,
  };
}

async function benchKafkajs(cluster: KafkaCluster, recs: readonly KafkaRecord[]): Promise<Row> {
  const topic = 'bench-kafkajs';
  await cluster.createTopic(topic, { partitions: 3 });
  const kafka = new Kafka({ clientId: 'bench', brokers: [...cluster.bootstrap], logLevel: logLevel.NOTHING });
  // kafkajs supports idempotence only with one request in flight (its docs; it has no client-side sequence reordering).
  const producer = kafka.producer({ idempotent: true, maxInFlightRequests: 1 });
  await producer.connect();
  const p = await timed(() =>
    inBatches(recs.length, async (from, to) => {
      await producer.send({
        topic,
        acks: -1,
        messages: recs.slice(from, to).map((r) => ({ key: r.key, value: r.value, headers: { ...r.headers } })),
      });
    }),
  );
  await producer.disconnect();
  const consumer = kafka.consumer({ groupId: `bench-${Date.now()}` });
  await consumer.connect();
  await consumer.subscribe({ topic, fromBeginning: true });
  let seen = 0;
  const c = await timed(
    () =>
      new Promise<void>((resolve) => {
        void consumer.run({
          eachBatch: async ({ batch }) => {
            seen += batch.messages.length;
            if (seen >= recs.length) resolve();
            await Promise.resolve();
          },
        });
      }),
  );
  await consumer.disconnect();
  const group = `bench-group-${Date.now()}`;
  const a = kafka.consumer({ groupId: group, sessionTimeout: 6000, heartbeatInterval: 500 });
  const b = kafka.consumer({ groupId: group, sessionTimeout: 6000, heartbeatInterval: 500 });
  await a.connect();
  await a.subscribe({ topic });
  await a.run({ eachMessage: async () => Promise.resolve() });
  await b.connect();
  await b.subscribe({ topic });
  const t0 = Date.now();
  const joined = new Promise<number>((resolve) => {
    b.on(b.events.GROUP_JOIN, (e: { payload: { memberAssignment: Record<string, number[]> } }) => {
      if (Object.values(e.payload.memberAssignment).some((ps) => ps.length > 0)) resolve(Date.now() - t0);
    });
  });
  await b.run({ eachMessage: async () => Promise.resolve() });
  const rebalance = await Promise.race([joined, new Promise<string>((r) => setTimeout(() => r('> 30000'), 30_000))]);
  await a.disconnect();
  await b.disconnect();
  return {
    client: 'kafkajs',
    produceEventsPerSecond: recs.length / p.wall,
    produceCpuSecondsPerMillion: (p.cpu / recs.length) * 1e6,
    consumeEventsPerSecond: recs.length / c.wall,
    idempotent: 'yes (one request in flight only)',
    rebalanceMillis: rebalance,
  };
}

/** kcat: the records as "key<TAB>value" lines (JSON values hold no raw TAB or newline), produced and read back. */
async function benchKcat(cluster: KafkaCluster, recs: readonly KafkaRecord[]): Promise<Row | undefined> {
  if (spawnSync('kcat', ['-V']).status !== 0) return undefined;
  const topic = 'bench-kcat';
  await cluster.createTopic(topic, { partitions: 3 });
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'aegis-bench-kafka-'));
  const file = path.join(dir, 'records.tsv');
  fs.writeFileSync(file, recs.map((r) => `${r.key ?? ''}\t${r.value}\n`).join(''));
  const headers = Object.entries(recs[0]?.headers ?? {}).flatMap(([k, v]) => ['-H', `${k}=${v}`]);
  const broker = cluster.bootstrap.join(',');
  // `times` prints the children's user and system CPU seconds (second line).
  const run = (cmd: string): { wall: number; cpu: number } => {
    const t0 = process.hrtime.bigint();
    const r = spawnSync('bash', ['-c', `${cmd} && times`], { encoding: 'utf8', maxBuffer: 1 << 30 });
    const wall = Number(process.hrtime.bigint() - t0) / 1e9;
    if (r.status !== 0) throw new Error(`kcat failed: ${r.stderr}`);
    const m = /(\d+)m([\d.]+)s (\d+)m([\d.]+)s\s*$/.exec(r.stdout.trim());
    const cpu = m === null ? NaN : Number(m[1]) * 60 + Number(m[2]) + Number(m[3]) * 60 + Number(m[4]);
    return { wall, cpu };
  };
  const quote = (s: string): string => `'${s.replace(/'/g, `'\\''`)}'`;
  const p = run(
    `kcat -P -b ${broker} -t ${topic} -K '\t' -X enable.idempotence=true -X acks=all -X linger.ms=5 ${headers.map(quote).join(' ')} -l ${file}`,
  );
  const c = run(`kcat -C -b ${broker} -t ${topic} -o beginning -e -q -c ${recs.length} > /dev/null`);
  fs.rmSync(dir, { recursive: true, force: true });
  return {
    client: 'kcat 1.7.1 (librdkafka, C)',
    produceEventsPerSecond: recs.length / p.wall,
    produceCpuSecondsPerMillion: (p.cpu / recs.length) * 1e6,
    consumeEventsPerSecond: recs.length / c.wall,
    idempotent: 'yes',
    rebalanceMillis: 'n/a',
  };
}

/**
 * Counts the lines of growing files, reading only what was appended since the last call: re-reading whole files
 * every 100 ms took most of a core at 200 000 events (100 MB per poll), CPU the relays being measured then lacked.
 */
function lineCounter(files: readonly string[]): () => number {
  const seen = files.map(() => ({ offset: 0, lines: 0 }));
  const chunk = Buffer.allocUnsafe(1 << 20);
  return () => {
    let total = 0;
    files.forEach((f, i) => {
      const s = seen[i] as { offset: number; lines: number };
      if (fs.existsSync(f)) {
        const fd = fs.openSync(f, 'r');
        try {
          for (let n = fs.readSync(fd, chunk, 0, chunk.length, s.offset); n > 0;) {
            for (let j = chunk.indexOf(10); j >= 0 && j < n; j = chunk.indexOf(10, j + 1)) s.lines += 1;
            s.offset += n;
            n = fs.readSync(fd, chunk, 0, chunk.length, s.offset);
          }
        } finally {
          fs.closeSync(fd);
        }
      }
      total += s.lines;
    });
    return total;
  };
}

/** user + system CPU seconds of a process so far (clock ticks in /proc/PID/stat, 100 per second); NaN if gone. */
function procCpuSeconds(pid: number | undefined): number {
  try {
    const f = fs.readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]?.split(' ') ?? [];
    return (Number(f[11]) + Number(f[12])) / 100;
  } catch {
    return NaN;
  }
}

/** The broker's JVM: kafka.sh writes each node's pid (the java process, exec'd by its launcher) in run/node1.pid. */
function brokerPid(cluster: KafkaCluster): number | undefined {
  try {
    return Number(fs.readFileSync(path.join(cluster.workDir, 'run', 'node1.pid'), 'utf8').trim());
  } catch {
    return undefined;
  }
}

interface RelayRun {
  /** events / wall seconds from the relays' spawn to the last line. */
  rate: number;
  /** events / wall seconds from the first line written to the last. */
  steady: number;
  /** Relay CPU s per million events over the whole run (process start, config, group join included). */
  cpuPerMillion: number;
  /** Relay CPU s per million events from the first line written to the last (the cost per event, start excluded). */
  steadyCpuPerMillion: number;
  /** Relay CPU seconds per wall second over the whole run. */
  cores: number;
  /** The broker's CPU s per million events over the run (its JVM's user + system time). */
  brokerCpuPerMillion: number;
  /** This harness's CPU s per million events over the run (counting lines, polling). */
  harnessCpuPerMillion: number;
  load: number;
}

/**
 * The relay end to end: `relays` instances of `aegisbpf run` (kafka source in one group → file sink) read a
 * 6-partition topic holding `recs` records; events/s = records / wall time from the relays' start to the last line
 * written (group join included). Also measured over the same run: the relays' CPU (from the start and from the first
 * line), the broker's CPU (the java process) and this harness's own, to show where the two cores went.
 */
async function benchRelay(
  cluster: KafkaCluster,
  recs: readonly KafkaRecord[],
  topic: string,
  relays: number,
  bin = packagePath('bin', 'aegisbpf.js'),
  workers = WORKERS,
): Promise<RelayRun> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'aegis-bench-relay-'));
  const group = `bench-relay-${relays}-${Date.now()}`;
  const outs: string[] = [];
  const broker = brokerPid(cluster);
  const brokerStart = procCpuSeconds(broker);
  const harnessStart = process.cpuUsage();
  const children = Array.from({ length: relays }, (_, i) => {
    const out = path.join(dir, `out-${i}.ndjson`);
    outs.push(out);
    const cfg = path.join(dir, `relay-${i}.yaml`);
    fs.writeFileSync(
      cfg,
      [
        `data_dir: ${dir}/d${i}`,
        `dead_letter: { path: ${dir}/dlq-${i}.ndjson }`,
        `sources: { bus: { type: kafka, brokers: [${cluster.bootstrap.join(', ')}], topics: [${topic}], group_id: ${group}, from_beginning: true } }`,
        `sinks: { out: { type: file, path: ${out} } }`,
        ...(workers > 0 ? [`pipeline: { workers: ${workers} }`] : []),
      ].join('\n'),
    );
    const prof = PROFILE_DIR === '' ? [] : ['--cpu-prof', '--cpu-prof-dir', path.resolve(PROFILE_DIR)];
    return spawn(process.execPath, [...prof, bin, 'run', '--config', cfg], {
      stdio: 'ignore',
      env: { ...process.env, AEGIS_METRICS_PORT: 'off', AEGIS_CONTROL_SOCKET: path.join(dir, `c${i}.sock`) },
    });
  });
  const relaysCpu = (): number => children.reduce((sum, c) => sum + procCpuSeconds(c.pid), 0);
  const lineCount = lineCounter(outs);
  const t0 = process.hrtime.bigint();
  const deadline = Date.now() + 300_000;
  // Also from the first line written (process start and group join excluded): polled every 100 ms.
  let first: { at: bigint; lines: number; cpu: number } | undefined;
  for (let n = lineCount(); n < recs.length && Date.now() < deadline; n = lineCount()) {
    if (first === undefined && n > 0) first = { at: process.hrtime.bigint(), lines: n, cpu: relaysCpu() };
    await new Promise((r) => setTimeout(r, 100));
  }
  const end = process.hrtime.bigint();
  const cpu = relaysCpu();
  const brokerCpu = procCpuSeconds(broker) - brokerStart;
  const harness = process.cpuUsage(harnessStart);
  const wall = Number(end - t0) / 1e9;
  const steady = first === undefined ? NaN : (recs.length - first.lines) / (Number(end - first.at) / 1e9);
  const got = lineCount();
  for (const c of children) c.kill('SIGTERM');
  await Promise.all(children.map((c) => new Promise((r) => c.once('exit', r))));
  fs.rmSync(dir, { recursive: true, force: true });
  if (got < recs.length) throw new Error(`relay x${relays}: ${got} of ${recs.length} events within 300 s`);
  return {
    rate: got / wall,
    steady,
    cpuPerMillion: (cpu / got) * 1e6,
    steadyCpuPerMillion: first === undefined ? NaN : ((cpu - first.cpu) / (got - first.lines)) * 1e6,
    cores: cpu / wall,
    brokerCpuPerMillion: (brokerCpu / got) * 1e6,
    harnessCpuPerMillion: ((harness.user + harness.system) / 1e6 / got) * 1e6,
    load: os.loadavg()[0] ?? NaN,
  };
}

function median(xs: readonly number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 === 1
    ? (s[(s.length - 1) / 2] as number)
    : ((s[s.length / 2 - 1] as number) + (s[s.length / 2] as number)) / 2;
}

async function relayMain(cluster: KafkaCluster, recs: readonly KafkaRecord[]): Promise<void> {
  const topic = 'bench-relay';
  await cluster.createTopic(topic, { partitions: 6 });
  const producer = new Producer({
    clientId: 'bench',
    bootstrapBrokers: [...cluster.bootstrap],
    serializers: stringSerializers,
    idempotent: true,
    acks: ProduceAcks.ALL,
  });
  // Keyed by 64 simulated hosts: the generated events all carry one host name, and one key puts every record in one
  // partition, which only one member of the group can read (the first measurement, 1.12x, was that).
  await inBatches(recs.length, async (from, to) => {
    await producer.send({
      messages: recs
        .slice(from, to)
        .map((r, i) => ({ topic, key: `host-${(from + i) % HOSTS}`, value: r.value, headers: r.headers })),
    });
  });
  const perPartition = await cluster.endOffsets(topic);
  console.error(`bench kafka: records per partition ${perPartition.join(' ')}`);
  await producer.close();
  const loadBefore = os.loadavg()[0] ?? NaN;
  // One relay, then two, alternating `--repeat` times (the machine is shared: medians, and every run listed).
  const ones: RelayRun[] = [];
  const twos: RelayRun[] = [];
  const beforeOnes: RelayRun[] = [];
  const beforeTwos: RelayRun[] = [];
  const beforeBin = BEFORE_DIR === '' ? undefined : path.resolve(BEFORE_DIR, 'bin', 'aegisbpf.js');
  for (let i = 0; i < REPEAT; i++) {
    if (beforeBin !== undefined && RELAYS.includes(1))
      beforeOnes.push(await benchRelay(cluster, recs, topic, 1, beforeBin, 0));
    if (RELAYS.includes(1)) ones.push(await benchRelay(cluster, recs, topic, 1));
    if (beforeBin !== undefined && RELAYS.includes(2))
      beforeTwos.push(await benchRelay(cluster, recs, topic, 2, beforeBin, 0));
    if (RELAYS.includes(2)) twos.push(await benchRelay(cluster, recs, topic, 2));
    console.error(`bench kafka: load ${os.loadavg()[0]?.toFixed(1)}`);
  }
  const m = (rs: readonly RelayRun[], f: (r: RelayRun) => number): number => median(rs.map(f));
  const one = m(ones, (r) => r.rate);
  const two = m(twos, (r) => r.rate);
  const runs = (rs: readonly RelayRun[]): string => rs.map((r) => Math.round(r.rate)).join(', ');
  console.log(
    '| relays (kafka → file) | events/s (median) | runs | ratio to one relay | from the first event: events/s, ratio | relay CPU s per million (whole run / from the first event) | relay cores used | broker CPU s per million | harness CPU s per million |',
  );
  console.log('|---|---|---|---|---|---|---|---|---|');
  const row = (label: string, rs: readonly RelayRun[], ratio: number, steadyRatio: number): void =>
    console.log(
      `| ${label} | ${Math.round(m(rs, (r) => r.rate))} | ${runs(rs)} | ${ratio.toFixed(2)} | ${Math.round(m(rs, (r) => r.steady))}, ${steadyRatio.toFixed(2)} | ${m(rs, (r) => r.cpuPerMillion).toFixed(1)} / ${m(rs, (r) => r.steadyCpuPerMillion).toFixed(1)} | ${m(rs, (r) => r.cores).toFixed(2)} | ${m(rs, (r) => r.brokerCpuPerMillion).toFixed(1)} | ${m(rs, (r) => r.harnessCpuPerMillion).toFixed(1)} |`,
    );
  if (beforeOnes.length > 0)
    row(
      `before (${BEFORE_DIR}): 1`,
      beforeOnes,
      m(beforeOnes, (r) => r.rate) / one,
      m(beforeOnes, (r) => r.steady) / m(ones, (r) => r.steady),
    );
  if (beforeTwos.length > 0)
    row(
      `before (${BEFORE_DIR}): 2`,
      beforeTwos,
      m(beforeTwos, (r) => r.rate) / one,
      m(beforeTwos, (r) => r.steady) / m(ones, (r) => r.steady),
    );
  if (ones.length > 0) row('1', ones, 1, 1);
  if (twos.length > 0) row('2 (one group)', twos, two / one, m(twos, (r) => r.steady) / m(ones, (r) => r.steady));
  // The floor: the CPU that 1.8x one relay's rate needs, at the per-event costs measured with two relays (relays
  // from their first event, broker and harness over the run), against the two cores of the machine.
  if (ones.length > 0 && twos.length > 0) {
    const perEvent =
      (m(twos, (r) => r.steadyCpuPerMillion) +
        m(twos, (r) => r.brokerCpuPerMillion) +
        m(twos, (r) => r.harnessCpuPerMillion)) /
      1e6;
    const target = 1.8 * m(ones, (r) => r.steady);
    console.log(
      `\nfloor: 1.8 x one relay (from the first event) = ${Math.round(target)} events/s; at ${(perEvent * 1e6).toFixed(1)} CPU s per million (two relays + broker + harness) that needs ${(target * perEvent).toFixed(2)} cores of ${os.cpus().length}; the two cores give at most ${Math.round(os.cpus().length / perEvent)} events/s = ${(os.cpus().length / perEvent / m(ones, (r) => r.steady)).toFixed(2)}x one relay, before anything else on the machine (load ${loadBefore.toFixed(1)} before, ${os.loadavg()[0]?.toFixed(1)} after)`,
    );
  }
}

async function main(): Promise<void> {
  const cluster = await startKafka({ heap: '512m' });
  if (!cluster.ok) {
    console.error(`bench kafka: skipped: ${cluster.reason}`);
    return;
  }
  try {
    const recs = records();
    const bytes = recs.reduce((n, r) => n + Buffer.byteLength(r.value), 0) / recs.length;
    console.error(
      `bench kafka: ${EVENTS} records, ~${Math.round(bytes)} B values, batch ${BATCH}, ${INFLIGHT} in flight, Kafka on ${cluster.bootstrap.join(',')}; load ${os.loadavg()[0]?.toFixed(1)}`,
    );
    if (process.argv.includes('--relay')) {
      await relayMain(cluster, recs);
      return;
    }
    const rows: Row[] = [];
    for (const client of CLIENTS) {
      const row =
        client === 'sink'
          ? await benchSink(cluster)
          : client === 'platformatic'
            ? await benchPlatformatic(cluster, recs)
            : client === 'kafkajs'
              ? await benchKafkajs(cluster, recs)
              : client === 'kcat'
                ? await benchKcat(cluster, recs)
                : undefined;
      if (row !== undefined) rows.push(row);
    }
    const kcat = rows.find((r) => r.client.startsWith('kcat'));
    console.log(
      '| client | produce events/s | CPU s per million (produce) | ratio to kcat | consume events/s | idempotent | 2nd member gets partitions |',
    );
    console.log('|---|---|---|---|---|---|---|');
    for (const r of rows)
      console.log(
        `| ${r.client} | ${Math.round(r.produceEventsPerSecond)} | ${r.produceCpuSecondsPerMillion.toFixed(2)} | ${kcat === undefined ? 'n/a' : (r.produceEventsPerSecond / kcat.produceEventsPerSecond).toFixed(2)} | ${Number.isNaN(r.consumeEventsPerSecond) ? '–' : Math.round(r.consumeEventsPerSecond)} | ${r.idempotent} | ${typeof r.rebalanceMillis === 'number' ? `${r.rebalanceMillis} ms` : r.rebalanceMillis} |`,
      );
    console.error(`bench kafka: load after ${os.loadavg()[0]?.toFixed(1)}`);
  } finally {
    await cluster.stop();
  }
}

main().catch((err: unknown) => {
  console.error(err);
  process.exitCode = 1;
});

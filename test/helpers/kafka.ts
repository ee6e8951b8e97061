/**
 * A real Apache Kafka cluster for the Kafka tests and benchmark: scripts/services/kafka.sh (KRaft, loopback, free
 * ports, 1 or 3 nodes) plus a few client operations the tests need (create a topic, read a whole topic back, stop and
 * restart a node). One cluster per test file: start it in `before`, stop it in `after`.
 *
 * `startKafka` resolves to `{ ok: false, reason }` when the broker cannot be provisioned or started here (no Java, no
 * Maven Central), so a test can `t.skip(reason)`; AEGIS_REQUIRE_SERVICES=1 (CI) makes that a failure instead.
 */
import { execFile, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { kafkaLib } from '../../src/sinks/kafka/client-lib';

const { Admin, Consumer } = kafkaLib;

export interface KafkaUnavailable {
  readonly ok: false;
  readonly reason: string;
}

/** One record read back from a topic. */
export interface ConsumedRecord {
  readonly topic: string;
  readonly partition: number;
  readonly offset: bigint;
  readonly key: string | null;
  readonly value: string;
  readonly headers: Readonly<Record<string, string>>;
}

export interface TopicOptions {
  readonly partitions?: number;
  /** Default: the number of nodes. */
  readonly replicas?: number;
  /** Topic configs, e.g. { 'max.message.bytes': '2000' }. */
  readonly config?: Readonly<Record<string, string>>;
}

export interface KafkaCluster {
  readonly ok: true;
  /** host:port of every node. */
  readonly bootstrap: readonly string[];
  /** host:port of every node's SASL_PLAINTEXT listener (with `scramUser`), else empty. */
  readonly saslBootstrap: readonly string[];
  readonly nodes: number;
  readonly workDir: string;
  readonly startupMs: number;
  createTopic(topic: string, options?: TopicOptions): Promise<void>;
  /** Every record of the topic from the beginning up to the end offsets at call time, ordered by partition, offset. */
  readTopic(topic: string, timeoutMs?: number): Promise<ConsumedRecord[]>;
  /** Sum over partitions of the end offsets (how many records the topic holds when nothing was deleted). */
  endOffsets(topic: string): Promise<number[]>;
  /** The partition leader's node id (1-based). */
  leaderOf(topic: string, partition: number): Promise<number>;
  /** SIGTERM (or SIGKILL with kill) one node; its data stays. */
  stopNode(node: number, kill?: boolean): Promise<void>;
  startNode(node: number): Promise<void>;
  /** Stops every node and deletes the work dir. Idempotent. */
  stop(): Promise<void>;
}

export interface KafkaStartOptions {
  readonly nodes?: 1 | 3;
  /** Extra broker settings (server.properties lines). */
  readonly settings?: Readonly<Record<string, string | number | boolean>>;
  readonly heap?: string;
  /** `name:password`: also a SASL_PLAINTEXT listener (SCRAM-SHA-256/512) with this user, at `saslBootstrap`. */
  readonly scramUser?: string;
}

const SCRIPT = path.resolve(__dirname, '..', '..', '..', 'scripts', 'services', 'kafka.sh');
const STOP_TIMEOUT_MS = 60_000;

function runScript(
  args: readonly string[],
  timeoutMs: number,
): Promise<{ ok: boolean; stdout: string; detail: string }> {
  return new Promise((resolve) => {
    execFile(SCRIPT, [...args], { timeout: timeoutMs, maxBuffer: 4 * 1024 * 1024 }, (error, stdout, stderr) => {
      if (error === null) resolve({ ok: true, stdout, detail: '' });
      else {
        const how = error.killed ? `timed out after ${timeoutMs} ms` : `exit code ${String(error.code ?? '?')}`;
        resolve({ ok: false, stdout, detail: `${how}\n${stderr.trimEnd().split('\n').slice(-25).join('\n')}` });
      }
    });
  });
}

function keyValues(stdout: string): Map<string, string> {
  const out = new Map<string, string>();
  for (const line of stdout.split('\n')) {
    const eq = line.indexOf('=');
    if (eq > 0) out.set(line.slice(0, eq), line.slice(eq + 1));
  }
  return out;
}

const running = new Set<string>();
let exitHook = false;

export async function startKafka(options: KafkaStartOptions = {}): Promise<KafkaCluster | KafkaUnavailable> {
  const nodes = options.nodes ?? 1;
  const args = ['start', '--nodes', String(nodes), '--owner-pid', String(process.pid)];
  if (options.heap !== undefined) args.push('--heap', options.heap);
  if (options.scramUser !== undefined) args.push('--scram-user', options.scramUser);
  for (const [k, v] of Object.entries(options.settings ?? {})) args.push('--setting', `${k}=${String(v)}`);
  const install = await runScript(['install'], 30 * 60_000);
  const started = install.ok ? await runScript(args, 180_000) : install;
  if (!started.ok) {
    const reason = `Apache Kafka unavailable (${install.ok ? 'start' : 'install'} failed, ${started.detail})`;
    if (process.env.AEGIS_REQUIRE_SERVICES === '1')
      throw new Error(`${reason}\n(AEGIS_REQUIRE_SERVICES=1: not skipping)`);
    return { ok: false, reason };
  }
  const kv = keyValues(started.stdout);
  const workDir = kv.get('work_dir') as string;
  running.add(workDir);
  if (!exitHook) {
    exitHook = true;
    process.once('exit', () => {
      for (const dir of running) spawnSync(SCRIPT, ['stop', '--work-dir', dir], { stdio: 'ignore', timeout: 60_000 });
    });
  }
  const bootstrap = (kv.get('bootstrap') ?? '').split(',');
  const admin = new Admin({ clientId: 'aegis-test-admin', bootstrapBrokers: bootstrap, retries: 20, retryDelay: 250 });
  const nodeArgs = (node: number): string[] => ['--work-dir', workDir, '--node', String(node)];
  let stopping: Promise<void> | undefined;

  const endOffsets = async (topic: string): Promise<number[]> => {
    const consumer = new Consumer({
      clientId: 'aegis-test-offsets',
      groupId: 'aegis-test-offsets',
      bootstrapBrokers: bootstrap,
    });
    try {
      const offsets = await consumer.listOffsets({ topics: [topic] });
      return (offsets.get(topic) ?? []).map((o) => Number(o));
    } finally {
      await consumer.close(true);
    }
  };

  return {
    ok: true,
    bootstrap,
    saslBootstrap: (kv.get('sasl_bootstrap') ?? '').split(',').filter((b) => b !== ''),
    nodes,
    workDir,
    startupMs: Number(kv.get('startup_ms') ?? 0),
    async createTopic(topic, topicOptions = {}) {
      const replicas = topicOptions.replicas ?? nodes;
      const configs = Object.entries(topicOptions.config ?? {}).map(([name, value]) => ({ name, value }));
      // Right after start the controller may not know every broker yet: retry until the replicas can be placed.
      const deadline = Date.now() + 60_000;
      for (;;) {
        try {
          await admin.createTopics({ topics: [topic], partitions: topicOptions.partitions ?? 1, replicas, configs });
          break;
        } catch (err) {
          if (Date.now() > deadline) throw err;
          await new Promise((r) => setTimeout(r, 250));
        }
      }
      // Wait until every partition has a leader (produce right after creation can otherwise fail on a fresh node).
      for (;;) {
        const md = await admin.metadata({ topics: [topic], forceUpdate: true });
        const t = md.topics.get(topic);
        if (
          t !== undefined &&
          t.partitions.length === (topicOptions.partitions ?? 1) &&
          t.partitions.every((p) => p.leader >= 0)
        )
          return;
        if (Date.now() > deadline) throw new Error(`topic ${topic}: partitions have no leader after 60 s`);
        await new Promise((r) => setTimeout(r, 200));
      }
    },
    endOffsets,
    async readTopic(topic, timeoutMs = 60_000) {
      const ends = await endOffsets(topic);
      const total = ends.reduce((a, b) => a + b, 0);
      const records: ConsumedRecord[] = [];
      if (total === 0) return records;
      const consumer = new Consumer({
        clientId: 'aegis-test-reader',
        groupId: `aegis-test-reader-${process.pid}-${Date.now()}-${Math.random().toString(36).slice(2)}`,
        bootstrapBrokers: bootstrap,
      });
      try {
        const stream = await consumer.consume({ topics: [topic], mode: 'earliest', autocommit: false });
        const remaining = ends.map((e) => e);
        let left = total;
        await new Promise<void>((resolve, reject) => {
          const timer = setTimeout(
            () => reject(new Error(`readTopic(${topic}): ${left} of ${total} records not read within ${timeoutMs} ms`)),
            timeoutMs,
          );
          stream.on('error', (err: Error) => {
            clearTimeout(timer);
            reject(err);
          });
          stream.on('data', (m) => {
            if (m.offset >= BigInt(ends[m.partition] ?? 0)) return;
            const headers: Record<string, string> = {};
            for (const [k, v] of m.headers) headers[k.toString('utf8')] = v.toString('utf8');
            records.push({
              topic: m.topic,
              partition: m.partition,
              offset: m.offset,
              key: m.key === undefined || m.key === null || m.key.length === 0 ? null : m.key.toString('utf8'),
              value: m.value === null || m.value === undefined ? '' : m.value.toString('utf8'),
              headers,
            });
            remaining[m.partition] = (remaining[m.partition] ?? 0) - 1;
            left -= 1;
            if (left <= 0) {
              clearTimeout(timer);
              resolve();
            }
          });
        });
        await stream.close();
      } finally {
        await consumer.close(true);
      }
      return records.sort((a, b) => a.partition - b.partition || Number(a.offset - b.offset));
    },
    async leaderOf(topic, partition) {
      const md = await admin.metadata({ topics: [topic], forceUpdate: true });
      const p = md.topics.get(topic)?.partitions[partition];
      if (p === undefined) throw new Error(`topic ${topic} has no partition ${partition}`);
      return p.leader;
    },
    async stopNode(node, kill = false) {
      const r = await runScript(['stop-node', ...nodeArgs(node), ...(kill ? ['--kill'] : [])], STOP_TIMEOUT_MS);
      if (!r.ok) throw new Error(`stopping Kafka node ${node} failed: ${r.detail}`);
    },
    async startNode(node) {
      const r = await runScript(['start-node', ...nodeArgs(node)], 180_000);
      if (!r.ok) throw new Error(`starting Kafka node ${node} failed: ${r.detail}`);
    },
    stop() {
      stopping ??= (async () => {
        await admin.close().catch(() => undefined);
        const r = await runScript(['stop', '--work-dir', workDir], STOP_TIMEOUT_MS);
        running.delete(workDir);
        if (!r.ok) throw new Error(`stopping Kafka (${workDir}) failed: ${r.detail}`);
      })();
      return stopping;
    },
  };
}

/** True when the Kafka service script exists (it always does in a checkout; a packaged build has no scripts/). */
export function kafkaScriptPresent(): boolean {
  return fs.existsSync(SCRIPT);
}

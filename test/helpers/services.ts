/**
 * Real test services for sink tests: a single-node Elasticsearch 8.x and a Splunk-HEC-speaking OpenTelemetry
 * Collector, provisioned and run by scripts/services/*.sh on free loopback ports.
 *
 * Both start functions resolve to `{ ok: true, ... }` or, when the service cannot be provisioned or started here,
 * `{ ok: false, reason }` so a test can `t.skip(reason)`. They never substitute a fake. Set
 * AEGIS_REQUIRE_SERVICES=1 (CI) to make them throw instead, so a broken provisioning fails loudly instead of
 * skipping. Verified behaviour and differences from real Splunk / full Elasticsearch: docs/test-services.md.
 */
import { execFile, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';

export interface Unavailable {
  readonly ok: false;
  /** Why the service is not available, with the tail of the script's error output. */
  readonly reason: string;
}

export interface ElasticsearchOptions {
  /** JVM heap, e.g. '512m' (default) or '1g'. */
  readonly heap?: string;
  /** Extra node settings passed as -Ekey=value, e.g. { 'thread_pool.write.queue_size': 1 }. */
  readonly settings?: Readonly<Record<string, string | number | boolean>>;
  /** Start-up timeout (default 180 s). */
  readonly startTimeoutMs?: number;
}

export interface ElasticsearchService {
  readonly ok: true;
  /** e.g. http://127.0.0.1:41234 (security is off: no credentials, no TLS). */
  readonly url: string;
  readonly port: number;
  readonly version: string;
  readonly workDir: string;
  readonly logFile: string;
  readonly startupMs: number;
  /** Stops the node and deletes its data/log dir. Idempotent. */
  stop(): Promise<void>;
}

export interface HecReceiverOptions {
  /** Accepted HEC tokens (default: one random GUID). Ignored for enforcement when `auth` is false. */
  readonly tokens?: readonly string[];
  /** Enforce tokens (default true). The receiver itself does not check tokens; see docs/test-services.md. */
  readonly auth?: boolean;
  /** Enable indexer acknowledgement (ack extension + /services/collector/ack). Default true. */
  readonly ack?: boolean;
  /** Serve HTTPS with a fresh self-signed certificate for 127.0.0.1 (its PEM is in `caFile`). Default false. */
  readonly tls?: boolean;
  /** Largest accepted request body after decompression (default 20 MiB). Larger bodies get 400 code 6. */
  readonly maxBodyBytes?: number;
  /** Raw endpoint splitting: 'line' (default, one record per line) or 'none'. */
  readonly splitting?: 'line' | 'none';
  /** HTTP keep-alive (default true; the receiver's own default is off). */
  readonly keepAlive?: boolean;
  /** Extra collector settings, passed as --set key=value. */
  readonly set?: Readonly<Record<string, string | number | boolean>>;
  /** Start-up timeout (default 30 s; a cold build is part of provisioning and not counted here). */
  readonly startTimeoutMs?: number;
  /** Listen on this port (e.g. to restart a receiver where a client expects it) instead of a free one. */
  readonly port?: number;
}

export interface HecReceiverService {
  readonly ok: true;
  /** e.g. http://127.0.0.1:41235 (https when tls). */
  readonly url: string;
  readonly port: number;
  readonly tokens: readonly string[];
  /** OTLP/JSON lines, one line per accepted request; parse with readHecRecords(). */
  readonly outputFile: string;
  /** PEM of the self-signed certificate when tls is on. */
  readonly caFile: string | undefined;
  readonly ack: boolean;
  readonly workDir: string;
  readonly logFile: string;
  readonly startupMs: number;
  /** Process id (= process group) of the collector: `process.kill(pid, 'SIGTERM')` stops it and keeps its work dir. */
  readonly pid: number;
  /** Stops the collector and deletes its work dir (including outputFile). Idempotent. */
  stop(): Promise<void>;
}

export type JsonValue = string | number | boolean | null | JsonValue[] | { [key: string]: JsonValue };

/** One log record as the collector exported it, with OTLP AnyValues decoded into plain JSON values. */
export interface HecRecord {
  /** The HEC `event` (objects stay objects; note every JSON number arrives as a double). */
  readonly body: JsonValue;
  /** Event `time` in ns since the epoch as a decimal string; undefined when the envelope had no time. */
  readonly timeUnixNano: string | undefined;
  /** HEC `fields` (indexed fields). */
  readonly attributes: Readonly<Record<string, JsonValue>>;
  /** HEC metadata: host.name, com.splunk.source, com.splunk.sourcetype, com.splunk.index. */
  readonly resource: Readonly<Record<string, JsonValue>>;
}

const INSTALL_TIMEOUT_MS = 30 * 60_000;
const STOP_TIMEOUT_MS = 60_000;

function repoRoot(): string {
  let dir = __dirname;
  for (;;) {
    if (fs.existsSync(path.join(dir, 'scripts', 'services', 'elasticsearch.sh'))) return dir;
    const parent = path.dirname(dir);
    if (parent === dir) throw new Error(`scripts/services not found above ${__dirname}`);
    dir = parent;
  }
}

function scriptPath(name: 'elasticsearch.sh' | 'otelcol-hec.sh' | 'nats.sh'): string {
  return path.join(repoRoot(), 'scripts', 'services', name);
}

interface ScriptResult {
  readonly ok: boolean;
  readonly stdout: string;
  readonly stderr: string;
  readonly detail: string;
}

function runScript(script: string, args: readonly string[], timeoutMs: number): Promise<ScriptResult> {
  return new Promise((resolve) => {
    execFile(
      script,
      [...args],
      { timeout: timeoutMs, maxBuffer: 16 * 1024 * 1024, killSignal: 'SIGTERM', env: process.env },
      (error, stdout, stderr) => {
        if (error === null) {
          resolve({ ok: true, stdout, stderr, detail: '' });
          return;
        }
        const how = error.killed ? `timed out after ${timeoutMs} ms` : `exit code ${String(error.code ?? 'unknown')}`;
        resolve({ ok: false, stdout, stderr, detail: how });
      },
    );
  });
}

function parseKeyValues(stdout: string): Map<string, string> {
  const out = new Map<string, string>();
  for (const line of stdout.split('\n')) {
    const eq = line.indexOf('=');
    if (eq > 0) out.set(line.slice(0, eq), line.slice(eq + 1));
  }
  return out;
}

function tail(text: string, lines = 25): string {
  return text.trimEnd().split('\n').slice(-lines).join('\n');
}

function unavailable(service: string, stage: string, result: ScriptResult): Unavailable {
  const reason = `${service} unavailable (${stage} failed, ${result.detail}):\n${tail(result.stderr)}`;
  if (process.env.AEGIS_REQUIRE_SERVICES === '1') {
    throw new Error(`${reason}\n(AEGIS_REQUIRE_SERVICES=1: not skipping)`);
  }
  return { ok: false, reason };
}

/** A loopback port that was free a moment ago (the scripts refuse a port that is taken; callers retry). */
export function freeLoopbackPort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      const port = typeof address === 'object' && address !== null ? address.port : 0;
      server.close(() => (port > 0 ? resolve(port) : reject(new Error('could not determine a free port'))));
    });
  });
}

/**
 * Work dirs of services still running, stopped synchronously if the test process exits without stop(). If the
 * process is killed instead, the scripts' watchdog (--owner-pid) stops the service within ~2 s.
 */
const running = new Map<string, string>();
let exitHookInstalled = false;

function track(workDir: string, script: string): void {
  running.set(workDir, script);
  if (!exitHookInstalled) {
    exitHookInstalled = true;
    process.once('exit', () => {
      for (const [dir, scr] of running)
        spawnSync(scr, ['stop', '--work-dir', dir], { stdio: 'ignore', timeout: STOP_TIMEOUT_MS });
    });
  }
}

function makeStop(script: string, workDir: string): () => Promise<void> {
  let stopping: Promise<void> | undefined;
  return () => {
    stopping ??= runScript(script, ['stop', '--work-dir', workDir], STOP_TIMEOUT_MS).then((r) => {
      running.delete(workDir);
      if (!r.ok)
        throw new Error(`stopping ${path.basename(script)} (${workDir}) failed: ${r.detail}\n${tail(r.stderr)}`);
    });
    return stopping;
  };
}

async function startWithFreePort(
  script: string,
  service: string,
  buildArgs: (port: number) => string[],
  timeoutMs: number,
  fixedPort?: number,
) {
  let last: ScriptResult | undefined;
  for (let attempt = 0; attempt < 3; attempt++) {
    const port = fixedPort ?? (await freeLoopbackPort());
    const result = await runScript(script, ['start', ...buildArgs(port)], timeoutMs);
    if (result.ok) return { port, values: parseKeyValues(result.stdout) };
    last = result;
    if (!/already in use|BindException|address already in use/i.test(result.stderr)) break;
  }
  return unavailable(service, 'start', last ?? { ok: false, stdout: '', stderr: '', detail: 'not attempted' });
}

function required(values: Map<string, string>, key: string): string {
  const v = values.get(key);
  if (v === undefined) throw new Error(`service script did not print ${key}=`);
  return v;
}

/** Start a throw-away single-node Elasticsearch (see scripts/services/elasticsearch.sh). */
export async function startElasticsearch(opts: ElasticsearchOptions = {}): Promise<ElasticsearchService | Unavailable> {
  const script = scriptPath('elasticsearch.sh');
  const install = await runScript(script, ['install'], INSTALL_TIMEOUT_MS);
  if (!install.ok) return unavailable('Elasticsearch', 'install', install);
  const startTimeoutS = Math.ceil((opts.startTimeoutMs ?? 180_000) / 1000);
  const args = (port: number): string[] => {
    const a = [
      '--port',
      String(port),
      '--heap',
      opts.heap ?? '512m',
      '--timeout',
      String(startTimeoutS),
      '--owner-pid',
      String(process.pid),
    ];
    for (const [k, v] of Object.entries(opts.settings ?? {})) a.push('--setting', `${k}=${String(v)}`);
    return a;
  };
  const started = await startWithFreePort(script, 'Elasticsearch', args, (startTimeoutS + 60) * 1000);
  if ('ok' in started) return started;
  const { port, values } = started;
  const workDir = required(values, 'work_dir');
  track(workDir, script);
  return {
    ok: true,
    url: required(values, 'url'),
    port,
    version: required(values, 'version'),
    workDir,
    logFile: required(values, 'log_file'),
    startupMs: Number(required(values, 'startup_ms')),
    stop: makeStop(script, workDir),
  };
}

/** Start a Splunk HEC receiver (OpenTelemetry Collector, see scripts/services/otelcol-hec.sh). */
export async function startHecReceiver(opts: HecReceiverOptions = {}): Promise<HecReceiverService | Unavailable> {
  const script = scriptPath('otelcol-hec.sh');
  const install = await runScript(script, ['install'], INSTALL_TIMEOUT_MS);
  if (!install.ok) return unavailable('Splunk HEC receiver', 'install', install);
  const startTimeoutS = Math.ceil((opts.startTimeoutMs ?? 30_000) / 1000);
  const args = (port: number): string[] => {
    const a = ['--port', String(port), '--timeout', String(startTimeoutS), '--owner-pid', String(process.pid)];
    for (const t of opts.tokens ?? []) a.push('--token', t);
    if (opts.auth === false) a.push('--no-auth');
    if (opts.ack === false) a.push('--no-ack');
    if (opts.tls === true) a.push('--tls');
    if (opts.maxBodyBytes !== undefined) a.push('--max-body-bytes', String(opts.maxBodyBytes));
    if (opts.splitting !== undefined) a.push('--splitting', opts.splitting);
    if (opts.keepAlive === false) a.push('--no-keepalive');
    for (const [k, v] of Object.entries(opts.set ?? {})) a.push('--set', `${k}=${String(v)}`);
    return a;
  };
  const started = await startWithFreePort(script, 'Splunk HEC receiver', args, (startTimeoutS + 30) * 1000, opts.port);
  if ('ok' in started) return started;
  const { port, values } = started;
  const workDir = required(values, 'work_dir');
  track(workDir, script);
  const tokens = required(values, 'tokens');
  const caFile = values.get('ca_file');
  return {
    ok: true,
    url: required(values, 'url'),
    port,
    tokens: tokens === '' ? [] : tokens.split(','),
    outputFile: required(values, 'output_file'),
    caFile: caFile === undefined || caFile === '' ? undefined : caFile,
    ack: values.get('ack') === 'on',
    workDir,
    logFile: required(values, 'log_file'),
    startupMs: Number(required(values, 'startup_ms')),
    pid: Number(required(values, 'pid')),
    stop: makeStop(script, workDir),
  };
}

// ---- reading what the HEC receiver exported -------------------------------------------------------

function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function asArray(v: unknown): unknown[] {
  return Array.isArray(v) ? (v as unknown[]) : [];
}

/** Decode an OTLP/JSON AnyValue ({stringValue}, {intValue: "5"}, {kvlistValue: {values: [...]}}, ...). */
export function decodeAnyValue(v: unknown): JsonValue {
  if (!isRecord(v)) return null;
  if (typeof v.stringValue === 'string') return v.stringValue;
  if (typeof v.boolValue === 'boolean') return v.boolValue;
  if (v.intValue !== undefined) return Number(v.intValue);
  if (v.doubleValue !== undefined) return Number(v.doubleValue);
  if (isRecord(v.arrayValue)) return asArray(v.arrayValue.values).map(decodeAnyValue);
  if (isRecord(v.kvlistValue)) return decodeKeyValues(v.kvlistValue.values);
  if (typeof v.bytesValue === 'string') return v.bytesValue;
  return null;
}

function decodeKeyValues(list: unknown): { [key: string]: JsonValue } {
  const out: { [key: string]: JsonValue } = {};
  for (const kv of asArray(list)) {
    if (isRecord(kv) && typeof kv.key === 'string') out[kv.key] = decodeAnyValue(kv.value);
  }
  return out;
}

/** Parse the receiver's output file: every log record of every exported line, in arrival order. */
export function parseHecOutput(text: string): HecRecord[] {
  const records: HecRecord[] = [];
  for (const line of text.split('\n')) parseHecLine(line, records);
  return records;
}

function parseHecLine(line: string, records: HecRecord[]): void {
  if (line.trim() === '') return;
  const doc: unknown = JSON.parse(line);
  if (!isRecord(doc)) return;
  for (const rl of asArray(doc.resourceLogs)) {
    if (!isRecord(rl)) continue;
    const resource = isRecord(rl.resource) ? decodeKeyValues(rl.resource.attributes) : {};
    for (const sl of asArray(rl.scopeLogs)) {
      if (!isRecord(sl)) continue;
      for (const lr of asArray(sl.logRecords)) {
        if (!isRecord(lr)) continue;
        records.push({
          body: decodeAnyValue(lr.body),
          timeUnixNano: typeof lr.timeUnixNano === 'string' ? lr.timeUnixNano : undefined,
          attributes: decodeKeyValues(lr.attributes),
          resource,
        });
      }
    }
  }
}

/**
 * Read and parse the receiver's output file (see parseHecOutput), line by line from one Buffer: at the kill test's
 * full size (200 000 events and their duplicates) the file is larger than V8's longest string.
 */
export async function readHecRecords(outputFile: string): Promise<HecRecord[]> {
  const bytes = await fs.promises.readFile(outputFile);
  const records: HecRecord[] = [];
  for (let at = 0; at < bytes.length;) {
    const nl = bytes.indexOf(0x0a, at);
    const end = nl < 0 ? bytes.length : nl;
    parseHecLine(bytes.toString('utf8', at, end), records);
    at = end + 1;
  }
  return records;
}

// ---- NATS (scripts/services/nats.sh) ---------------------------------------------------------------

export interface NatsServerOptions {
  /** Serve TLS with this certificate and key (PEM files). */
  readonly tls?: { readonly cert: string; readonly key: string };
}

export interface NatsService {
  readonly ok: true;
  /** `nats://127.0.0.1:PORT` (or `tls://…`). */
  readonly url: string;
  readonly port: number;
  readonly workDir: string;
  readonly version: string;
  /** Stop the server and keep its JetStream store (a crash or restart mid-stream). */
  halt(): Promise<void>;
  /** Start it again on the same port with the same store. */
  resume(): Promise<void>;
  stop(): Promise<void>;
}

/** Start a throw-away nats-server with JetStream in a temporary store directory (scripts/services/nats.sh). */
export async function startNats(opts: NatsServerOptions = {}): Promise<NatsService | Unavailable> {
  const script = scriptPath('nats.sh');
  const install = await runScript(script, ['install'], INSTALL_TIMEOUT_MS);
  if (!install.ok) return unavailable('NATS server', 'install', install);
  const args = (port: number): string[] => {
    const a = ['--port', String(port), '--owner-pid', String(process.pid)];
    if (opts.tls !== undefined) a.push('--tls-cert', opts.tls.cert, '--tls-key', opts.tls.key);
    return a;
  };
  const started = await startWithFreePort(script, 'NATS server', args, 60_000);
  if ('ok' in started) return started;
  const { port, values } = started;
  const workDir = required(values, 'work_dir');
  track(workDir, script);
  const step = async (command: string): Promise<void> => {
    const r = await runScript(script, [command, '--work-dir', workDir], 60_000);
    if (!r.ok) throw new Error(`nats.sh ${command} failed: ${r.detail}\n${tail(r.stderr)}`);
  };
  return {
    ok: true,
    url: required(values, 'url'),
    port,
    workDir,
    version: required(values, 'version'),
    halt: () => step('halt'),
    resume: () => step('resume'),
    stop: makeStop(script, workDir),
  };
}

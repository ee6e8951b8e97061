/**
 * Builds a real `splunk_hec` sink (definition → parse → transport → sink core) the way the pipeline engine does,
 * with captured log lines and a temporary dead-letter file; and helpers to run the real HEC test receiver with
 * kill/restart on the same port.
 */
import fs from 'node:fs';
import path from 'node:path';
import type { AegisEvent } from '../../../src/event/types';
import { createFormatter } from '../../../src/formatters/registry';
import type { FormatSpec } from '../../../src/formatters/types';
import { createDeadLetterQueue } from '../../../src/sinks/core/dead-letter';
import { mergeCoreDefaults, parseCoreOptions } from '../../../src/sinks/core/config';
import { createSink } from '../../../src/sinks/core/sink';
import type { Sink } from '../../../src/sinks/core/sink-api';
import { splunkHecSink } from '../../../src/sinks/splunk-hec/index';
import { checkHecConfig, parseHecConfig } from '../../../src/sinks/splunk-hec/config';
import { createHecTransport } from '../../../src/sinks/splunk-hec/transport';
import { sinkRedactor } from '../../../src/sinks/build';
import { redactingLogger } from '../../../src/sinks/core/redact';
import type { HecTransport } from '../../../src/sinks/splunk-hec/transport';
import { createSinkStats } from '../../../src/telemetry/stats';
import type { SinkStats } from '../../../src/telemetry/stats';
import { createLogger } from '../../../src/util/logger';
import type { HecReceiverService, HecRecord } from '../../helpers/services';
import { readHecRecords, startHecReceiver } from '../../helpers/services';
import type { HecReceiverOptions } from '../../helpers/services';
import { makeTempDir } from '../../helpers/tmp';

export interface HecSinkHarness {
  readonly sink: Sink;
  readonly transport: HecTransport;
  readonly stats: SinkStats;
  /** Every log line written so far, raw (to search for secrets) and parsed. */
  readonly logText: () => string;
  readonly logs: () => Record<string, unknown>[];
  readonly dlqPath: string;
  readonly dlqEntries: () => Record<string, unknown>[];
  /** Close the dead-letter file (its FileHandle) and remove the directory. */
  readonly cleanup: () => Promise<void>;
}

export function buildHecSink(raw: Record<string, unknown>): HecSinkHarness {
  const problems = checkHecConfig(raw);
  if (problems.length > 0) throw new Error(`bad test config: ${problems.join('; ')}`);
  const { dir, cleanup } = makeTempDir('aegis-hec-');
  const dlqPath = path.join(dir, 'dlq.ndjson');
  let text = '';
  const logger = createLogger({ level: 'DEBUG', write: (line) => (text += line) });
  const stats = createSinkStats('splunk', 'splunk_hec');
  const formatter = createFormatter<string>((raw.format as FormatSpec | undefined) ?? splunkHecSink.formats.default, {
    hostname: 'h',
    version: 'test',
  });
  // The transport's own lines go through the same redacting logger build.ts gives it.
  const redact = sinkRedactor(splunkHecSink, raw);
  const transport = createHecTransport(parseHecConfig(raw), {
    logger: redactingLogger(logger, redact),
    stats,
    version: 'test',
  });
  const deadLetter = createDeadLetterQueue({
    path: dlqPath,
    maxBytes: 1e9,
    logger,
    stats: { written: 0, bytes: 0, failed: 0 },
  });
  const sink = createSink(
    { name: 'splunk', type: 'splunk_hec', transport, formatter, stats, logger, deadLetter, redact },
    parseCoreOptions(raw, mergeCoreDefaults(splunkHecSink.coreDefaults)),
  );
  return {
    sink,
    transport,
    stats,
    logText: () => text,
    logs: () =>
      text
        .split('\n')
        .filter((l) => l !== '')
        .map((l) => JSON.parse(l) as Record<string, unknown>),
    dlqPath,
    dlqEntries: () =>
      fs.existsSync(dlqPath)
        ? fs
            .readFileSync(dlqPath, 'utf8')
            .split('\n')
            .filter(Boolean)
            .map((l) => JSON.parse(l) as Record<string, unknown>)
        : [],
    cleanup: async () => {
      await deadLetter.close();
      cleanup();
    },
  };
}

/** Wait until `predicate` holds, polling; fails with `what` after `timeoutMillis`. */
export async function waitFor(what: string, predicate: () => boolean, timeoutMillis = 30_000): Promise<void> {
  const deadline = Date.now() + timeoutMillis;
  while (!predicate()) {
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMillis} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

/** The real HEC receiver, restartable on the same port; remembers the output of every instance. */
export interface Receiver {
  readonly url: string;
  readonly port: number;
  readonly tokens: readonly string[];
  readonly current: () => HecReceiverService | undefined;
  /** SIGTERM the collector and wait until it exited (its output file stays readable). */
  kill(): Promise<void>;
  /** Start a new instance on the same port (options default to the first instance's). */
  restart(opts?: HecReceiverOptions): Promise<void>;
  /** Every record every instance exported, in order. */
  records(): Promise<HecRecord[]>;
  /** The HEC `event` bodies, as events. */
  events(): Promise<AegisEvent[]>;
  stopAll(): Promise<void>;
}

export async function startReceiver(opts: HecReceiverOptions = {}): Promise<Receiver | { skip: string }> {
  const first = await startHecReceiver(opts);
  if (!first.ok) return { skip: first.reason };
  const instances: HecReceiverService[] = [first];
  let live: HecReceiverService | undefined = first;
  const receiver: Receiver = {
    url: first.url,
    port: first.port,
    tokens: first.tokens,
    current: () => live,
    async kill() {
      const s = live;
      if (s === undefined) return;
      live = undefined;
      try {
        process.kill(s.pid, 'SIGTERM');
      } catch {
        return;
      }
      const deadline = Date.now() + 20_000;
      for (;;) {
        try {
          process.kill(s.pid, 0);
        } catch {
          return;
        }
        if (Date.now() > deadline) throw new Error(`collector ${s.pid} did not exit within 20 s`);
        await new Promise((r) => setTimeout(r, 50));
      }
    },
    async restart(more?: HecReceiverOptions) {
      await receiver.kill();
      const s = await startHecReceiver({ ...opts, tokens: first.tokens, ...more, port: first.port });
      if (!s.ok) throw new Error(`restarting the HEC receiver failed: ${s.reason}`);
      instances.push(s);
      live = s;
    },
    async records() {
      const all: HecRecord[] = [];
      for (const s of instances) if (fs.existsSync(s.outputFile)) all.push(...(await readHecRecords(s.outputFile)));
      return all;
    },
    async events() {
      return (await receiver.records()).map((r) => r.body as unknown as AegisEvent);
    },
    async stopAll() {
      for (const s of instances) await s.stop();
    },
  };
  return receiver;
}

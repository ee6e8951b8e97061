/**
 * Builds the `syslog` sink exactly as the engine does (validated configuration → definition.parse →
 * createTransport → sink core) and checks what a real rsyslog parsed against what was sent.
 */
import assert from 'node:assert/strict';
import path from 'node:path';
import { validateConfigText } from '../../../src/config/load';
import type { AegisEvent } from '../../../src/event/types';
import { eventClassId, syslogSeverity } from '../../../src/formatters/common';
import { createFormatter } from '../../../src/formatters/registry';
import type { FormatSpec } from '../../../src/formatters/types';
import { mergeCoreDefaults, parseCoreOptions } from '../../../src/sinks/core/config';
import { createDeadLetterQueue } from '../../../src/sinks/core/dead-letter';
import type { DeadLetterQueue } from '../../../src/sinks/core/dead-letter';
import type { Sink } from '../../../src/sinks/core/sink-api';
import { createSink } from '../../../src/sinks/core/sink';
import type { Transport } from '../../../src/sinks/core/types';
import { parseSyslogConfig } from '../../../src/sinks/syslog/config';
import { syslogSink } from '../../../src/sinks/syslog/index';
import type { RelpTransportInternals } from '../../../src/sinks/syslog/relp';
import { createSyslogTransport } from '../../../src/sinks/syslog/transport';
import type { SinkStats } from '../../../src/telemetry/stats';
import { createSinkStats } from '../../../src/telemetry/stats';
import { createLogger } from '../../../src/util/logger';
import { expectedHeader, expectedSd, jsonRoundTrip } from '../../formatters/syslog-expect';
import { generateEvents } from '../../helpers/events';

export interface SinkUnderTest {
  readonly sink: Sink;
  readonly transport: Transport<string>;
  readonly stats: SinkStats;
  readonly counters: Record<string, number>;
  readonly logs: Record<string, unknown>[];
  readonly deadLetterPath: string;
  /** The dead-letter queue the sink writes to (the pipeline owns it, not the sink: close it after the sink). */
  readonly deadLetter: DeadLetterQueue;
  /** The sink's formatter (what each event looked like on the wire, before framing). */
  format(event: AegisEvent): string;
}

/** Validate `raw` as the `sinks.<name>` entry of a configuration; throws with the problems. */
export function assertValidSinkConfig(raw: Record<string, unknown>): void {
  const doc = { sources: { s: { type: 'replay', path: 'samples/events.ndjson' } }, sinks: { out: raw } };
  const { problems } = validateConfigText(JSON.stringify(doc), {});
  assert.deepEqual(problems, [], `sink configuration ${JSON.stringify(raw)} is invalid`);
}

export function buildSyslogSink(
  raw: Record<string, unknown>,
  dir: string,
  internals: RelpTransportInternals = {},
): SinkUnderTest {
  assertValidSinkConfig(raw);
  const logs: Record<string, unknown>[] = [];
  const logger = createLogger({
    level: 'DEBUG',
    write: (line) => logs.push(JSON.parse(line) as Record<string, unknown>),
  });
  const stats = createSinkStats('out', 'syslog');
  const formatter = createFormatter<string>((raw.format as FormatSpec | undefined) ?? syslogSink.formats.default, {
    hostname: 'test-fallback',
    version: '0.1.0',
  });
  const counters = stats.extra;
  const transport = createSyslogTransport(
    parseSyslogConfig(raw),
    { logger, counters },
    { version: '0.1.0', ...internals },
  );
  const deadLetterPath = path.join(dir, 'dead-letter.ndjson');
  const deadLetter = createDeadLetterQueue({
    path: deadLetterPath,
    maxBytes: 1 << 30,
    logger,
    stats: { written: 0, bytes: 0, failed: 0 },
  });
  const sink = createSink(
    { name: 'out', type: 'syslog', transport, formatter, stats, logger, deadLetter },
    parseCoreOptions(raw, mergeCoreDefaults(syslogSink.coreDefaults)),
  );
  return { sink, transport, stats, counters, logs, deadLetterPath, deadLetter, format: (e) => formatter.format(e) };
}

const TORTURE_HOSTS = ['web 1 ünïcode', 'h\tx\n<13>1 forged - - - -', 'x'.repeat(300), '-', 'db-01.example.net'];

/**
 * `count` events with adversarial values (the generator's nasty strings in paths, args, comm, cgroup), a unique
 * `event_id` each (`<prefix>-<i>`), hostile host names on some and brackets/quotes/newlines/NUL/non-ASCII in SD
 * fields on others.
 */
export function adversarialEvents(count: number, prefix: string, seed = 11): AegisEvent[] {
  return generateEvents(count, { adversarial: true, seed }).map((e, i) => {
    let event = { ...e, event_id: `${prefix}-${i}` } as AegisEvent;
    if (i % 97 === 0) event = { ...event, host: TORTURE_HOSTS[(i / 97) % TORTURE_HOSTS.length] as string };
    if (i % 13 === 0) event = { ...event, exe: `/tmp/a"b\\c]d [x@1 y="z"] \r\n\u0000\u001b ü☃😀 ${i}` };
    return event;
  });
}

/** Deep copy with every string made well-formed (lone surrogates → U+FFFD), as json-c re-encodes them. Use on
 * jsonRoundTrip(event), which already has NUL → U+FFFD. */
export function wellFormedDeep(value: unknown): unknown {
  if (typeof value === 'string') return (value as unknown as { toWellFormed(): string }).toWellFormed();
  if (Array.isArray(value)) return value.map(wellFormedDeep);
  if (value !== null && typeof value === 'object')
    return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, wellFormedDeep(v)]));
  return value;
}

export interface ReceivedCheck {
  /** Distinct events received (by event_id). */
  readonly unique: number;
  /** Lines beyond the first per event_id. */
  readonly duplicates: number;
  /** Sent events not received. */
  readonly missing: string[];
  /** Received events that were never sent. */
  readonly extra: string[];
}

/**
 * Compare rsyslog's parsed output (rules/rsyslog ruleset: `syslog` header, `rfc5424-sd`, `event`) with the sent
 * events: every header field, SD param and JSON field must equal what was sent (through the documented header
 * sanitizing and SD substitutions). Returns the counts; the caller decides what loss/duplication is allowed.
 */
export function checkReceived(
  lines: readonly Record<string, unknown>[],
  sent: readonly AegisEvent[],
  options: { facility?: number; fullCheck?: boolean } = {},
): ReceivedCheck {
  const byId = new Map(sent.map((e) => [e.event_id as string, e]));
  const seen = new Map<string, number>();
  const extra: string[] = [];
  const facility = options.facility ?? 16;
  for (const line of lines) {
    const event = line.event as Record<string, unknown> | undefined;
    const id = typeof event?.event_id === 'string' ? event.event_id : undefined;
    const e = id === undefined ? undefined : byId.get(id);
    if (id === undefined || e === undefined) {
      extra.push(JSON.stringify(line).slice(0, 300));
      continue;
    }
    seen.set(id, (seen.get(id) ?? 0) + 1);
    if (options.fullCheck === false || (seen.get(id) ?? 0) > 1) continue;
    const h = line.syslog as Record<string, string>;
    const where = `event ${id}`;
    assert.equal(Number(h.facility), facility, `${where}: facility`);
    assert.equal(Number(h.severity), syslogSeverity(e), `${where}: severity`);
    assert.equal(h.timestamp, e.ts, `${where}: TIMESTAMP`);
    assert.equal(h.hostname, expectedHeader(e.host, 255) ?? '-', `${where}: HOSTNAME`);
    assert.equal(h.app_name, 'aegisbpf', `${where}: APP-NAME`);
    assert.equal(h.procid, String(e.pid), `${where}: PROCID`);
    assert.equal(h.msgid, expectedHeader(eventClassId(e), 32) ?? '-', `${where}: MSGID`);
    assert.deepEqual(
      (line['rfc5424-sd'] as Record<string, unknown> | undefined)?.['aegis@32473'],
      expectedSd(e),
      `${where}: SD params`,
    );
    assert.deepEqual(event, wellFormedDeep(jsonRoundTrip(e)), `${where}: JSON fields`);
  }
  const missing = sent.map((e) => e.event_id as string).filter((id) => !seen.has(id));
  let duplicates = 0;
  for (const n of seen.values()) duplicates += n - 1;
  return { unique: seen.size, duplicates, missing, extra };
}

/** Offer events in chunks, as a source loop would (awaiting acceptance: the sink's backpressure). */
export async function feed(sink: Sink, events: readonly AegisEvent[], chunk = 500, pauseMillis = 0): Promise<void> {
  for (let i = 0; i < events.length; i += chunk) {
    await sink.accept(events.slice(i, i + chunk));
    if (pauseMillis > 0) await new Promise((r) => setTimeout(r, pauseMillis));
  }
}

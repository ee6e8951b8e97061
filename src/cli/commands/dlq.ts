/**
 * `aegisbpf dlq list|show|replay FILE`: the dead-letter file as a tool. `replay` resends the selected events through
 * a configured sink after a fix (an Elasticsearch mapping corrected, a token renewed) and removes from the file only
 * the entries whose events the receiver acknowledged; the rest stay, with their original reason.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { AegisEvent } from '../../event/types';
import { loadConfigFile } from '../../config/load';
import { compileExpression } from '../../pipeline/expr';
import { buildSink } from '../../sinks/build';
import { createAcknowledgement } from '../../sinks/core/ack';
import type { DeadLetterEntry, DeadLetterQueue } from '../../sinks/core/dead-letter';
import { createStatsRegistry } from '../../telemetry/stats';
import { AegisError, describeError } from '../../util/errors';
import { EXIT } from '../../util/exit-codes';
import { createLogger } from '../../util/logger';
import { parseCommandArgs } from '../args';
import type { Command } from '../command';
import { aegisVersion } from '../version';

const USAGE = `Usage: aegisbpf dlq list FILE
       aegisbpf dlq show FILE [--where EXPR] [--limit N] [--json]
       aegisbpf dlq replay FILE --config CONFIG [--to SINK] [--where EXPR] [--timeout-ms N]

Inspect and resend dead-lettered events (dead_letter.path, by default <data_dir>/dead-letter.ndjson).

  list     Entries by sink and error code, with and without an event.
  show     The entries (line number, time, sink, code, reason, event); --json prints them as stored.
  replay   Send the selected events through a sink of CONFIG (--to SINK; default: the sink each entry names),
           then rewrite FILE without the entries whose events were delivered. Entries that fail again, have no
           event (invalid input) or name no configured sink stay. Disk buffers are not used: the events go
           straight from this command to the receiver.
  --where EXPR      Only entries whose event matches (the filter processor's expressions, e.g. 'type == "exec"').
  --limit N         show: at most N entries.
  --timeout-ms N    replay: how long to wait for delivery (default 60000); what is not delivered by then stays.

Exit codes: 0 ok (replay: every selected event delivered); 1 FILE or CONFIG unreadable, a sink could not be
built; 2 usage; 3 replay: some selected events were not delivered (they stay in FILE).`;

const OPTIONS = {
  where: { type: 'string' },
  limit: { type: 'string' },
  json: { type: 'boolean' },
  config: { type: 'string' },
  to: { type: 'string' },
  'timeout-ms': { type: 'string' },
  help: { type: 'boolean', short: 'h' },
} as const;

interface Stored extends DeadLetterEntry {
  readonly ts?: string;
}

interface Line {
  readonly text: string;
  readonly entry: Stored | undefined;
  /** 1-based line number in FILE. */
  readonly no: number;
}

function readLines(file: string): Line[] {
  const text = fs.readFileSync(file, 'utf8');
  const out: Line[] = [];
  let no = 0;
  for (const raw of text.split('\n')) {
    no++;
    if (raw.trim() === '') continue;
    let entry: Stored | undefined;
    try {
      entry = JSON.parse(raw) as Stored;
    } catch {
      entry = undefined; // a torn last line: kept as it is
    }
    out.push({ text: raw, entry, no });
  }
  return out;
}

function positiveInt(name: string, value: string | undefined, fallback: number): number {
  if (value === undefined) return fallback;
  const n = Number(value);
  if (!Number.isInteger(n) || n < 0) throw new AegisError('AEGIS_ERR_USAGE', `dlq: --${name} must be a whole number`);
  return n;
}

/** A dead-letter queue that only remembers which events it was given (replay: those failed again). */
function recordingDeadLetter(): DeadLetterQueue & { readonly failed: Set<AegisEvent> } {
  const failed = new Set<AegisEvent>();
  const take = (entries: readonly DeadLetterEntry[]): number => {
    for (const e of entries) if (e.event !== undefined) failed.add(e.event);
    return entries.length;
  };
  return {
    path: undefined,
    failed,
    write: (entries) => Promise.resolve(take(entries)),
    writeSync: (entries) => take(entries),
    close: () => Promise.resolve(),
  };
}

async function replay(
  file: string,
  lines: Line[],
  selected: Line[],
  options: { config: string; to: string | undefined; timeoutMillis: number },
  io: Parameters<Command['run']>[1],
): Promise<number> {
  let config;
  try {
    config = loadConfigFile(options.config, io.env);
  } catch (err) {
    io.stderr.write(`aegisbpf dlq: ${describeError(err)}\n`);
    return err instanceof AegisError && err.code === 'AEGIS_ERR_CONFIG_READ' ? EXIT.FAILURE : EXIT.USAGE;
  }
  const entries = new Map(config.sinks.map((s) => [s.name, s]));
  if (options.to !== undefined && !entries.has(options.to))
    throw new AegisError('AEGIS_ERR_USAGE', `dlq: --to ${options.to}: no sink of that name in ${options.config}`);
  const bySink = new Map<string, { line: Line; event: AegisEvent }[]>();
  let skipped = 0;
  for (const line of selected) {
    const target = options.to ?? line.entry?.sink;
    if (line.entry?.event === undefined || target === undefined || !entries.has(target)) {
      skipped++;
      continue;
    }
    let list = bySink.get(target);
    if (list === undefined) bySink.set(target, (list = []));
    list.push({ line, event: line.entry.event });
  }
  const deadLetter = recordingDeadLetter();
  const logger = createLogger({ level: 'WARN', write: (l) => void io.stderr.write(l) });
  const delivered = new Set<Line>();
  let notDelivered = 0;
  for (const [name, items] of bySink) {
    const entry = entries.get(name) as { name: string; type: string; raw: Readonly<Record<string, unknown>> };
    const raw = { ...entry.raw, buffer: { ...(entry.raw.buffer as object | undefined), type: 'memory' } };
    let built;
    try {
      built = buildSink(
        { ...entry, raw },
        {
          logger,
          hostname: os.hostname(),
          version: aegisVersion(),
          dataDir: config.dataDir,
          stats: createStatsRegistry(),
          deadLetter,
        },
      );
    } catch (err) {
      io.stderr.write(`aegisbpf dlq: sink '${name}': ${describeError(err)}\n`);
      return EXIT.FAILURE;
    }
    let settled = false;
    const ack = createAcknowledgement(items.length, () => (settled = true));
    await built.sink.accept(
      items.map((i) => i.event),
      ack,
    );
    await built.sink.close(options.timeoutMillis);
    for (const i of items) {
      if (settled && !deadLetter.failed.has(i.event)) delivered.add(i.line);
      else notDelivered++;
    }
    io.stdout.write(
      `sink ${name}: ${items.length} sent, ${items.filter((i) => delivered.has(i.line)).length} delivered\n`,
    );
  }
  if (skipped > 0) io.stdout.write(`${skipped} selected entries have no event or name no configured sink: kept\n`);
  if (delivered.size > 0) rewriteWithout(file, lines, delivered);
  io.stdout.write(`removed ${delivered.size} delivered entries from ${file}\n`);
  return notDelivered + skipped > 0 ? EXIT.INCOMPLETE : EXIT.OK;
}

/**
 * Replace FILE with its lines minus `remove`, atomically (temp, fsync, rename). Lines a daemon appended while the
 * replay ran are carried over.
 */
function rewriteWithout(file: string, lines: readonly Line[], remove: ReadonlySet<Line>): void {
  const readBytes = lines.reduce((n, l) => n + Buffer.byteLength(l.text) + 1, 0);
  const keep = lines
    .filter((l) => !remove.has(l))
    .map((l) => l.text + '\n')
    .join('');
  const tmp = path.join(path.dirname(file), `.${path.basename(file)}.tmp`);
  const fd = fs.openSync(tmp, 'w', 0o640);
  try {
    fs.writeSync(fd, keep);
    const now = fs.readFileSync(file);
    // Blank lines were not kept in `lines`; anything past what was read is new (a daemon still appending).
    if (now.length > readBytes)
      fs.writeSync(fd, now.subarray(Math.min(now.length, fileOffsetAfter(now, lines.length))));
    fs.fsyncSync(fd);
  } finally {
    fs.closeSync(fd);
  }
  fs.renameSync(tmp, file);
}

/** Byte offset just past the n-th non-blank line of `buf`. */
function fileOffsetAfter(buf: Buffer, nonBlankLines: number): number {
  let seen = 0;
  let at = 0;
  while (seen < nonBlankLines && at < buf.length) {
    const nl = buf.indexOf(0x0a, at);
    const end = nl === -1 ? buf.length : nl + 1;
    if (buf.subarray(at, end).toString('utf8').trim() !== '') seen++;
    at = end;
  }
  return at;
}

export const dlqCommand: Command = {
  name: 'dlq',
  usage: USAGE,
  async run(argv, io) {
    const { values, positionals } = parseCommandArgs('dlq', argv, OPTIONS, 2);
    if (values.help === true) {
      io.stdout.write(USAGE + '\n');
      return EXIT.OK;
    }
    const [action, file] = positionals;
    if (action === undefined || !['list', 'show', 'replay'].includes(action) || file === undefined)
      throw new AegisError('AEGIS_ERR_USAGE', `dlq: expected list|show|replay FILE. See 'aegisbpf dlq --help'.`);
    let where: ReturnType<typeof compileExpression> | undefined;
    try {
      where = values.where === undefined ? undefined : compileExpression(values.where);
    } catch (err) {
      throw new AegisError('AEGIS_ERR_USAGE', `dlq: --where: ${describeError(err)}`);
    }
    let lines: Line[];
    try {
      lines = readLines(file);
    } catch (err) {
      io.stderr.write(`aegisbpf dlq: cannot read ${file}: ${describeError(err)}\n`);
      return EXIT.FAILURE;
    }
    const selected = lines.filter(
      (l) => where === undefined || (l.entry?.event !== undefined && where.test(l.entry.event)),
    );
    if (action === 'list') {
      const counts = new Map<string, number>();
      for (const l of selected) {
        const e = l.entry;
        const key = `${e?.sink !== undefined ? `sink ${e.sink}` : e?.source !== undefined ? `source ${e.source}` : 'unknown'}\t${e?.code ?? 'unparsable line'}\t${e?.event !== undefined ? 'event' : 'no event'}`;
        counts.set(key, (counts.get(key) ?? 0) + 1);
      }
      io.stdout.write(`${selected.length} entries in ${file}\n`);
      for (const [key, n] of [...counts].sort((a, b) => b[1] - a[1])) io.stdout.write(`${n}\t${key}\n`);
      return EXIT.OK;
    }
    if (action === 'show') {
      const limit = positiveInt('limit', values.limit, Number.MAX_SAFE_INTEGER);
      for (const l of selected.slice(0, limit)) {
        if (values.json === true) io.stdout.write(l.text + '\n');
        else {
          const e = l.entry;
          // JSON-quoted: a reason or an event may hold any character; a newline must not fake an entry.
          io.stdout.write(
            `line ${l.no}: ${e?.ts ?? '?'} ${e?.sink !== undefined ? `sink=${e.sink}` : `source=${e?.source ?? '?'}`} code=${e?.code ?? '?'} reason=${JSON.stringify(e?.reason ?? '')}\n  ${e?.event !== undefined ? `event ${JSON.stringify(e.event)}` : `raw ${JSON.stringify(e?.raw ?? l.text)}`}\n`,
          );
        }
      }
      return EXIT.OK;
    }
    if (values.config === undefined) throw new AegisError('AEGIS_ERR_USAGE', 'dlq replay: --config CONFIG is required');
    return replay(
      file,
      lines,
      selected,
      { config: values.config, to: values.to, timeoutMillis: positiveInt('timeout-ms', values['timeout-ms'], 60_000) },
      io,
    );
  },
};

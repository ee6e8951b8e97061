/**
 * `aegisbpf buffer stats|verify|repair DIR`: a disk buffer (`buffer.type: disk`) offline, read the way the buffer
 * reads it (src/sinks/core/disk-format.ts). Run it on a buffer no daemon is using.
 */
import fs from 'node:fs';
import path from 'node:path';
import type { SegmentScan } from '../../sinks/core/disk-format';
import {
  LEDGER_FILE,
  listSegments,
  lockBufferDir,
  quarantineSegment,
  readLedger,
  scanSegment,
} from '../../sinks/core/disk-format';
import { AegisError, describeError } from '../../util/errors';
import { EXIT } from '../../util/exit-codes';
import { parseCommandArgs } from '../args';
import type { Command } from '../command';

const USAGE = `Usage: aegisbpf buffer stats|verify|repair DIR [--json]

Inspect a sink's disk buffer (buffer.type: disk; by default <data_dir>/buffers/<sink>) while no daemon uses it.

  stats    Pending records and bytes per segment, the ledger's acknowledged position, bytes on disk.
  verify   Check every record's checksum and the ledger. Changes nothing.
  repair   Move corrupt ranges to DIR/quarantine/<segment>.<start>-<end>.bin and rewrite the segments without them
           (what the daemon does at start). Refused while a process holds the buffer (DIR/lock).
  --json   The report as JSON.

Exit codes: 0 ok (verify: no corrupt record, readable ledger; repair: done); 1 the directory cannot be read or
repaired (or a running process holds it); 2 usage; 3 verify found corrupt records or no readable ledger.`;

const OPTIONS = { json: { type: 'boolean' }, help: { type: 'boolean', short: 'h' } } as const;

interface Report {
  readonly dir: string;
  readonly ledger: { readonly acked: number; readonly next: number } | null;
  readonly segments: readonly {
    readonly file: string;
    readonly bytes: number;
    readonly pending: number;
    readonly pendingBytes: number;
    readonly acknowledged: number;
    readonly corrupt: readonly { readonly start: number; readonly end: number }[];
  }[];
  readonly pending: number;
  readonly pendingBytes: number;
  readonly diskBytes: number;
  readonly corrupt: number;
  readonly quarantined?: readonly string[];
}

function inspect(dir: string): { report: Report; scans: SegmentScan[] } {
  if (!fs.statSync(dir).isDirectory()) throw new Error(`${dir} is not a directory`);
  const ledger = readLedger(dir);
  const scans = listSegments(dir).map((s) => scanSegment(s.index, s.file, ledger?.acked ?? 0));
  const report: Report = {
    dir,
    ledger: ledger === undefined ? null : { acked: ledger.acked, next: ledger.next },
    segments: scans.map((s) => ({
      file: path.basename(s.file),
      bytes: s.bytes,
      pending: s.pending,
      pendingBytes: s.pendingBytes,
      acknowledged: s.acked,
      corrupt: s.corrupt,
    })),
    pending: scans.reduce((n, s) => n + s.pending, 0),
    pendingBytes: scans.reduce((n, s) => n + s.pendingBytes, 0),
    diskBytes: scans.reduce((n, s) => n + s.bytes, 0),
    corrupt: scans.reduce((n, s) => n + s.corrupt.length, 0),
  };
  return { report, scans };
}

function render(action: string, r: Report): string {
  const lines = [
    `disk buffer ${r.dir}`,
    r.ledger === null
      ? `  ledger: missing or unreadable (${LEDGER_FILE}): every record would be replayed`
      : `  ledger: acknowledged below seq ${r.ledger.acked}, next seq ${r.ledger.next}`,
    `  pending: ${r.pending} records, ${r.pendingBytes} bytes; on disk: ${r.diskBytes} bytes in ${r.segments.length} segments`,
  ];
  for (const s of r.segments)
    lines.push(
      `  ${s.file}: ${s.bytes} bytes, ${s.pending} pending, ${s.acknowledged} acknowledged${s.corrupt.length > 0 ? `, corrupt ${s.corrupt.map((c) => `${c.start}-${c.end}`).join(' ')}` : ''}`,
    );
  if (action !== 'stats') lines.push(`  corrupt records: ${r.corrupt}`);
  for (const q of r.quarantined ?? []) lines.push(`  moved aside: ${q}`);
  return lines.join('\n') + '\n';
}

export const bufferCommand: Command = {
  name: 'buffer',
  usage: USAGE,
  run(argv, io) {
    const { values, positionals } = parseCommandArgs('buffer', argv, OPTIONS, 2);
    if (values.help === true) {
      io.stdout.write(USAGE + '\n');
      return Promise.resolve(EXIT.OK);
    }
    const [action, dir] = positionals;
    if (action === undefined || !['stats', 'verify', 'repair'].includes(action) || dir === undefined)
      throw new AegisError(
        'AEGIS_ERR_USAGE',
        `buffer: expected stats|verify|repair DIR. See 'aegisbpf buffer --help'.`,
      );
    // repair rewrites segments: never under a running buffer (its writer would lose records or resurrect corrupt ones).
    let unlock: (() => void) | undefined;
    if (action === 'repair') {
      try {
        unlock = lockBufferDir(path.resolve(dir));
      } catch (err) {
        io.stderr.write(`aegisbpf buffer: repair of ${dir} refused: ${describeError(err)}\n`);
        return Promise.resolve(EXIT.FAILURE);
      }
    }
    let report: Report;
    try {
      let result: { report: Report; scans: SegmentScan[] };
      try {
        result = inspect(path.resolve(dir));
      } catch (err) {
        io.stderr.write(`aegisbpf buffer: cannot read ${dir}: ${describeError(err)}\n`);
        return Promise.resolve(EXIT.FAILURE);
      }
      report = result.report;
      if (action === 'repair') {
        const quarantined: string[] = [];
        try {
          for (const scan of result.scans) quarantined.push(...quarantineSegment(report.dir, scan));
        } catch (err) {
          io.stderr.write(`aegisbpf buffer: repair of ${dir} failed: ${describeError(err)}\n`);
          return Promise.resolve(EXIT.FAILURE);
        }
        report = { ...inspect(report.dir).report, quarantined };
      }
    } finally {
      unlock?.();
    }
    io.stdout.write(values.json === true ? JSON.stringify(report) + '\n' : render(action, report));
    if (action === 'verify' && (report.corrupt > 0 || (report.ledger === null && report.segments.length > 0)))
      return Promise.resolve(EXIT.INCOMPLETE);
    return Promise.resolve(EXIT.OK);
  },
};

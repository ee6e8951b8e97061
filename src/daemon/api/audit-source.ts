/**
 * The audit log as a pipeline source: every record appended to the log while the daemon runs (by the API, by the
 * `auth`/`rbac` commands, by the daemon itself) becomes a `type: audit` event, so control operations ship to the
 * SIEM like everything else. The log is the source of truth; this tails it (a stat every POLL_MILLIS, reading only
 * the bytes added since the last look), starting at its end when the daemon starts (history is not re-sent).
 * A log that shrank or was replaced is read again from its start. On stop, what was appended so far is read once
 * more, so `daemon.stop` still ships.
 */
import fs from 'node:fs';
import type { AuditEvent } from '../../event/types';
import type { SelfIdentity } from '../../sensor/event-mapper';
import { selfProcessFields } from '../../sensor/event-mapper';
import type { Source } from '../../pipeline/sources/types';
import type { SourceStats } from '../../telemetry/stats';
import { formatTimestampFromMillis } from '../../util/time';
import type { AuditRecord } from './audit-log';

export const POLL_MILLIS = 500;

export interface AuditSourceOptions {
  readonly file: string;
  readonly hostname: string;
  readonly self: SelfIdentity;
  readonly stats: SourceStats;
}

export function auditEvent(r: AuditRecord, hostname: string, self: SelfIdentity): AuditEvent {
  const millis = Date.parse(r.ts);
  return {
    ts: formatTimestampFromMillis(Number.isNaN(millis) ? Date.now() : millis),
    type: 'audit',
    host: hostname,
    ...selfProcessFields(self),
    audit_action: r.action,
    audit_result: r.result,
    audit_actor: r.actor === '' ? 'unknown' : r.actor,
    audit_actor_type: r.actor_type,
    ...(r.target !== '' ? { audit_target: r.target } : {}),
    audit_source: r.source,
    audit_seq: r.seq,
    audit_hash: r.hash,
    ...(r.detail !== '' ? { message: r.detail } : {}),
  };
}

export function createAuditSource(options: AuditSourceOptions): Source {
  const { file } = options;
  const sizeOf = (): { size: number; ino: number } => {
    try {
      const st = fs.statSync(file);
      return { size: st.size, ino: st.ino };
    } catch {
      return { size: 0, ino: 0 };
    }
  };
  let { size: offset, ino } = sizeOf();
  let partial = '';

  const readNew = (): AuditEvent[] => {
    const now = sizeOf();
    if (now.ino !== ino || now.size < offset) {
      offset = 0; // rotated or truncated: the new file from its start
      partial = '';
      ino = now.ino;
    }
    if (now.size === offset) return [];
    const fd = fs.openSync(file, 'r');
    let text: string;
    try {
      const buf = Buffer.alloc(now.size - offset);
      fs.readSync(fd, buf, 0, buf.length, offset);
      offset = now.size;
      text = partial + buf.toString('utf8');
    } finally {
      fs.closeSync(fd);
    }
    const lines = text.split('\n');
    partial = lines.pop() ?? '';
    const out: AuditEvent[] = [];
    for (const line of lines) {
      if (line === '') continue;
      try {
        const r = JSON.parse(line) as AuditRecord;
        if (typeof r.seq === 'number' && typeof r.action === 'string')
          out.push(auditEvent(r, options.hostname, options.self));
      } catch {
        // a damaged line: `aegisbpf audit verify` reports it; it is not an event
      }
    }
    options.stats.events += out.length;
    return out;
  };

  return {
    name: 'audit',
    type: 'audit',
    async *read(signal) {
      while (!signal.aborted) {
        const events = readNew();
        if (events.length > 0) yield events;
        await new Promise<void>((resolve) => {
          const t = setTimeout(done, POLL_MILLIS);
          function done(): void {
            clearTimeout(t);
            signal.removeEventListener('abort', done);
            resolve();
          }
          signal.addEventListener('abort', done, { once: true });
        });
      }
      const last = readNew();
      if (last.length > 0) yield last;
    },
  };
}

/**
 * `aegisbpf audit list | search | export | verify`: the hash-chained audit log of control operations
 * (src/daemon/api/audit-log.ts, docs/api.md#audit-trail).
 */
import type { AuditRecord } from '../../daemon/api/audit-log';
import { readAuditRecords, verifyAuditLog } from '../../daemon/api/audit-log';
import { AegisError } from '../../util/errors';
import { EXIT } from '../../util/exit-codes';
import { parseHumanDuration } from '../../util/durations';
import { parseCommandArgs } from '../args';
import type { Command } from '../command';
import { auditFilePath } from './api-files';

const USAGE = `Usage: aegisbpf audit list [--since 1h] [--json]
       aegisbpf audit search [--user NAME] [--action ACTION] [--result R] [--since D] [--json]
       aegisbpf audit export --format json [--start TIME] [--end TIME]
       aegisbpf audit verify

  list     Records, oldest first (--since: only the last 30m, 12h, 7d, …).
  search   Records of one actor (key name, client certificate subject or local user; substring) and/or action
           (policy.apply, policy.rollback, blocklist.add, blocklist.delete, key.create, key.revoke, key.rotate,
           role.create, role.assign, auth.failure, daemon.start, daemon.stop).
  export   Records between --start and --end (RFC 3339 or a duration ago, e.g. 24h) as a JSON array.
  verify   Check the hash chain; exit 1 naming the first record that was changed, removed, inserted or reordered.

  --audit-file FILE  default <data_dir>/audit.log (/var/lib/aegisbpf/audit.log as root)

Exit codes: 0 ok, 1 the chain is broken (verify) or the log cannot be read, 2 usage.`;

const OPTIONS = {
  since: { type: 'string' },
  user: { type: 'string' },
  action: { type: 'string' },
  result: { type: 'string' },
  format: { type: 'string' },
  start: { type: 'string' },
  end: { type: 'string' },
  'audit-file': { type: 'string' },
  json: { type: 'boolean' },
  help: { type: 'boolean', short: 'h' },
} as const;

/** A time: RFC 3339, or a duration meaning that long ago. */
function parseTime(flag: string, text: string, now: number): number {
  const ago = parseHumanDuration(text);
  if (ago !== undefined) return now - ago;
  const t = /^\d{4}-\d{2}-\d{2}(T[\d:.]+(Z|[+-]\d{2}:\d{2}))?$/.test(text) ? Date.parse(text) : Number.NaN;
  if (Number.isNaN(t))
    throw new AegisError('AEGIS_ERR_USAGE', `audit: --${flag} '${text}' is neither RFC 3339 nor a duration (1h, 7d).`);
  return t;
}

function line(r: AuditRecord): string {
  return `${r.ts} #${r.seq} ${r.result.padEnd(7)} ${r.action.padEnd(18)} ${r.actor} (${r.actor_type}, ${r.source}) ${r.target}${r.detail !== '' ? ` — ${r.detail}` : ''}\n`;
}

export const auditCommand: Command = {
  name: 'audit',
  usage: USAGE,
  run(argv, io) {
    const { values, positionals } = parseCommandArgs('audit', argv, OPTIONS, 1);
    if (values.help === true) {
      io.stdout.write(USAGE + '\n');
      return Promise.resolve(EXIT.OK);
    }
    const [action] = positionals;
    const file = auditFilePath(values['audit-file'], io.env);
    const now = Date.now();
    if (action === 'verify') {
      const v = verifyAuditLog(file);
      if (v.ok) {
        io.stdout.write(`${file}: ${v.records} records, the hash chain holds (last hash ${v.lastHash}).\n`);
        return Promise.resolve(EXIT.OK);
      }
      io.stderr.write(
        `aegisbpf audit verify: AEGIS_ERR_AUDIT_BROKEN: ${file} line ${v.line}${v.seq !== undefined ? ` (seq ${v.seq})` : ''}: ${v.problem}. ${v.records} records before it verify.\n`,
      );
      return Promise.resolve(EXIT.FAILURE);
    }
    if (action !== 'list' && action !== 'search' && action !== 'export')
      throw new AegisError(
        'AEGIS_ERR_USAGE',
        `audit: expected list, search, export or verify. See 'aegisbpf audit --help'.`,
      );
    if (action === 'export' && values.format !== undefined && values.format !== 'json')
      throw new AegisError('AEGIS_ERR_USAGE', `audit export: --format '${values.format}': only json is supported.`);
    const since = values.since !== undefined ? parseTime('since', values.since, now) : undefined;
    const start = values.start !== undefined ? parseTime('start', values.start, now) : undefined;
    const end = values.end !== undefined ? parseTime('end', values.end, now) : undefined;
    const records = readAuditRecords(file).filter((r) => {
      const t = Date.parse(r.ts);
      if (since !== undefined && t < since) return false;
      if (start !== undefined && t < start) return false;
      if (end !== undefined && t > end) return false;
      if (values.user !== undefined && !r.actor.includes(values.user)) return false;
      if (values.action !== undefined && r.action !== values.action) return false;
      if (values.result !== undefined && r.result !== values.result) return false;
      return true;
    });
    if (action === 'export') io.stdout.write(JSON.stringify(records, null, 2) + '\n');
    else if (values.json === true) for (const r of records) io.stdout.write(JSON.stringify(r) + '\n');
    else for (const r of records) io.stdout.write(line(r));
    return Promise.resolve(EXIT.OK);
  },
};

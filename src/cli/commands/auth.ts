/**
 * `aegisbpf auth create-key | list-keys | revoke-key | rotate-key`: the REST API's keys (docs/api.md).
 *
 * Edits the keys file directly (root-owned data directory, mode 0600); a running daemon picks the change up within
 * a second (or at once on SIGHUP). Every change is appended to the audit log.
 */
import { createAuditLog } from '../../daemon/api/audit-log';
import { describeKey, keyEdits, readKeysFile, updateKeysFile } from '../../daemon/api/keys';
import { AegisError } from '../../util/errors';
import { EXIT } from '../../util/exit-codes';
import { parseHumanDuration } from '../../util/durations';
import { parseCommandArgs } from '../args';
import type { Command } from '../command';
import { auditCli, auditFilePath, keysFilePath } from './api-files';

const USAGE = `Usage: aegisbpf auth create-key --name NAME --role ROLE [--expires 90d]
       aegisbpf auth list-keys [--json]
       aegisbpf auth revoke-key NAME
       aegisbpf auth rotate-key NAME [--expire-old-in 7d]

  create-key   Create a key for the REST API and print it once (it is stored only as a salted hash).
  list-keys    Names, roles, states and expiry (never the keys).
  revoke-key   Refuse the key from now on (a running daemon within a second).
  rotate-key   Print a new key for NAME; the old one stays valid for --expire-old-in (default 0: refused at once).

  --keys-file FILE   default <data_dir>/api-keys.json (/var/lib/aegisbpf as root)
  --audit-file FILE  default <data_dir>/audit.log
  --expires D        e.g. 30m, 12h, 90d, 4w (default: no expiry)

Roles: viewer, operator, admin and the custom roles of 'aegisbpf rbac'. Exit codes: 0 done, 1 failed, 2 usage.`;

const OPTIONS = {
  name: { type: 'string' },
  role: { type: 'string' },
  expires: { type: 'string' },
  'expire-old-in': { type: 'string' },
  'keys-file': { type: 'string' },
  'audit-file': { type: 'string' },
  json: { type: 'boolean' },
  help: { type: 'boolean', short: 'h' },
} as const;

function duration(flag: string, text: string | undefined): number | undefined {
  if (text === undefined) return undefined;
  const ms = parseHumanDuration(text);
  if (ms === undefined)
    throw new AegisError('AEGIS_ERR_USAGE', `auth: --${flag} '${text}' is not a duration (e.g. 30m, 12h, 90d, 4w).`);
  return ms;
}

export const authCommand: Command = {
  name: 'auth',
  usage: USAGE,
  run(argv, io) {
    const { values, positionals } = parseCommandArgs('auth', argv, OPTIONS, 2);
    if (values.help === true) {
      io.stdout.write(USAGE + '\n');
      return Promise.resolve(EXIT.OK);
    }
    const [action, arg] = positionals;
    const keysFile = keysFilePath(values['keys-file'], io.env);
    const audit = createAuditLog(auditFilePath(values['audit-file'], io.env));
    const now = new Date();
    const usage = (m: string): AegisError => new AegisError('AEGIS_ERR_USAGE', `auth ${action ?? ''}: ${m}`);
    switch (action) {
      case 'create-key': {
        if (arg !== undefined) throw usage(`unexpected argument '${arg}' (use --name).`);
        if (values.name === undefined || values.role === undefined) throw usage('needs --name and --role.');
        const ttl = duration('expires', values.expires);
        const expiresAt = ttl === undefined ? undefined : new Date(now.getTime() + ttl);
        const name = values.name;
        const role = values.role;
        const key = updateKeysFile(keysFile, (doc) => keyEdits.createKey(doc, name, role, expiresAt, now));
        auditCli(audit, io.env, {
          action: 'key.create',
          target: name,
          result: 'success',
          detail: `role ${role}${expiresAt !== undefined ? `, expires ${expiresAt.toISOString()}` : ''}`,
        });
        io.stdout.write(`${key}\n`);
        io.stderr.write(`Key '${name}' (role ${role}) created. It is shown only now: store it in a secret manager.\n`);
        return Promise.resolve(EXIT.OK);
      }
      case 'list-keys': {
        const keys = readKeysFile(keysFile).keys.map((k) => describeKey(k, now));
        if (values.json === true) io.stdout.write(JSON.stringify(keys, null, 2) + '\n');
        else if (keys.length === 0) io.stdout.write(`No keys in ${keysFile}.\n`);
        else
          for (const k of keys)
            io.stdout.write(
              `${k.name.padEnd(24)} ${k.role.padEnd(12)} ${k.status.padEnd(8)} created ${k.created_at}` +
                `${k.expires_at !== null ? `, expires ${k.expires_at}` : ''}` +
                `${k.credentials.length > 1 ? `, ${k.credentials.length} valid credentials (rotation)` : ''}\n`,
            );
        return Promise.resolve(EXIT.OK);
      }
      case 'revoke-key': {
        if (arg === undefined) throw usage('which key? (NAME)');
        updateKeysFile(keysFile, (doc) => keyEdits.revokeKey(doc, arg, now));
        auditCli(audit, io.env, { action: 'key.revoke', target: arg, result: 'success', detail: '' });
        io.stdout.write(`Key '${arg}' revoked.\n`);
        return Promise.resolve(EXIT.OK);
      }
      case 'rotate-key': {
        if (arg === undefined) throw usage('which key? (NAME)');
        const oldMillis = duration('expire-old-in', values['expire-old-in']) ?? 0;
        const { key, oldValidUntil } = updateKeysFile(keysFile, (doc) => keyEdits.rotateKey(doc, arg, oldMillis, now));
        auditCli(audit, io.env, {
          action: 'key.rotate',
          target: arg,
          result: 'success',
          detail: `old key valid until ${oldValidUntil}`,
        });
        io.stdout.write(`${key}\n`);
        io.stderr.write(`Key '${arg}' rotated; the old key is valid until ${oldValidUntil}.\n`);
        return Promise.resolve(EXIT.OK);
      }
      default:
        throw usage(`expected create-key, list-keys, revoke-key or rotate-key. See 'aegisbpf auth --help'.`);
    }
  },
};

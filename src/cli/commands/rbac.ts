/**
 * `aegisbpf rbac create-role | list-roles | show-role | assign-role`: the REST API's roles (docs/api.md).
 * Built-in roles: viewer, operator, admin; custom roles are stored in the keys file. Changes are audited.
 */
import { createAuditLog } from '../../daemon/api/audit-log';
import {
  BUILTIN_ROLES,
  PERMISSIONS,
  keyEdits,
  readKeysFile,
  rolePermissions,
  updateKeysFile,
} from '../../daemon/api/keys';
import { AegisError } from '../../util/errors';
import { EXIT } from '../../util/exit-codes';
import { parseCommandArgs } from '../args';
import type { Command } from '../command';
import { auditCli, auditFilePath, keysFilePath } from './api-files';

const USAGE = `Usage: aegisbpf rbac create-role NAME --permissions a,b
       aegisbpf rbac list-roles [--json]
       aegisbpf rbac show-role NAME [--json]
       aegisbpf rbac assign-role KEY ROLE

Permissions: ${PERMISSIONS.join(', ')}.
Built-in roles: viewer (read), operator (read + blocklist:write), admin (everything).

  --keys-file FILE   default <data_dir>/api-keys.json
  --audit-file FILE  default <data_dir>/audit.log

Exit codes: 0 done, 1 failed, 2 usage.`;

const OPTIONS = {
  permissions: { type: 'string' },
  'keys-file': { type: 'string' },
  'audit-file': { type: 'string' },
  json: { type: 'boolean' },
  help: { type: 'boolean', short: 'h' },
} as const;

export const rbacCommand: Command = {
  name: 'rbac',
  usage: USAGE,
  run(argv, io) {
    const { values, positionals } = parseCommandArgs('rbac', argv, OPTIONS, 3);
    if (values.help === true) {
      io.stdout.write(USAGE + '\n');
      return Promise.resolve(EXIT.OK);
    }
    const [action, a, b] = positionals;
    const keysFile = keysFilePath(values['keys-file'], io.env);
    const audit = createAuditLog(auditFilePath(values['audit-file'], io.env));
    const usage = (m: string): AegisError => new AegisError('AEGIS_ERR_USAGE', `rbac ${action ?? ''}: ${m}`);
    const json = values.json === true;
    switch (action) {
      case 'create-role': {
        if (a === undefined || b !== undefined) throw usage('give one role NAME.');
        if (values.permissions === undefined) throw usage('needs --permissions a,b.');
        const perms = values.permissions
          .split(',')
          .map((p) => p.trim())
          .filter((p) => p !== '');
        updateKeysFile(keysFile, (doc) => keyEdits.createRole(doc, a, perms));
        auditCli(audit, io.env, { action: 'role.create', target: a, result: 'success', detail: perms.join(',') });
        io.stdout.write(`Role '${a}' created: ${perms.join(', ')}.\n`);
        return Promise.resolve(EXIT.OK);
      }
      case 'list-roles': {
        if (a !== undefined) throw usage(`unexpected argument '${a}'.`);
        const doc = readKeysFile(keysFile);
        const roles = [
          ...Object.entries(BUILTIN_ROLES).map(([name, p]) => ({ name, builtin: true, permissions: p })),
          ...Object.entries(doc.roles).map(([name, r]) => ({ name, builtin: false, permissions: r.permissions })),
        ];
        if (json) io.stdout.write(JSON.stringify(roles, null, 2) + '\n');
        else
          for (const r of roles)
            io.stdout.write(
              `${r.name.padEnd(16)} ${r.builtin ? 'built-in' : 'custom  '} ${r.permissions.join(', ')}\n`,
            );
        return Promise.resolve(EXIT.OK);
      }
      case 'show-role': {
        if (a === undefined || b !== undefined) throw usage('give one role NAME.');
        const doc = readKeysFile(keysFile);
        const perms = rolePermissions(doc, a);
        if (perms === undefined) throw usage(`no role '${a}'.`);
        const keys = doc.keys.filter((k) => k.role === a).map((k) => k.name);
        if (json) io.stdout.write(JSON.stringify({ name: a, permissions: perms, keys }, null, 2) + '\n');
        else io.stdout.write(`${a}: ${perms.join(', ')}\nkeys: ${keys.length > 0 ? keys.join(', ') : 'none'}\n`);
        return Promise.resolve(EXIT.OK);
      }
      case 'assign-role': {
        if (a === undefined || b === undefined) throw usage('give KEY and ROLE.');
        const before = updateKeysFile(keysFile, (doc) => keyEdits.assignRole(doc, a, b));
        auditCli(audit, io.env, { action: 'role.assign', target: a, result: 'success', detail: `${before} -> ${b}` });
        io.stdout.write(`Key '${a}' now has role '${b}' (was '${before}').\n`);
        return Promise.resolve(EXIT.OK);
      }
      default:
        throw usage(`expected create-role, list-roles, show-role or assign-role. See 'aegisbpf rbac --help'.`);
    }
  },
};

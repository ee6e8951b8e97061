/** Where `aegisbpf auth`, `rbac` and `audit` find the keys file and the audit log, and who the CLI user is. */
import os from 'node:os';
import path from 'node:path';
import { defaultDataDir } from '../default-config';
import type { AuditEntry, AuditLog } from '../../daemon/api/audit-log';

export const DEFAULT_KEYS_FILE_NAME = 'api-keys.json';
export const DEFAULT_AUDIT_FILE_NAME = 'audit.log';

export function keysFilePath(flag: string | undefined, env: NodeJS.ProcessEnv): string {
  return path.resolve(flag ?? path.join(defaultDataDir(env), DEFAULT_KEYS_FILE_NAME));
}

export function auditFilePath(flag: string | undefined, env: NodeJS.ProcessEnv): string {
  return path.resolve(flag ?? path.join(defaultDataDir(env), DEFAULT_AUDIT_FILE_NAME));
}

/** The local user: `root (sudo from alice)` when run through sudo. */
export function cliUser(env: NodeJS.ProcessEnv): string {
  const name = os.userInfo().username;
  return env.SUDO_USER !== undefined && env.SUDO_USER !== '' ? `${name} (sudo from ${env.SUDO_USER})` : name;
}

export function auditCli(
  log: AuditLog,
  env: NodeJS.ProcessEnv,
  entry: Pick<AuditEntry, 'action' | 'target' | 'result' | 'detail'>,
): void {
  log.append({ ...entry, actor: cliUser(env), actor_type: 'cli', source: 'local' });
}

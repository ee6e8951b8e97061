/**
 * API keys and roles: the keys file (`api.keys_file`, default `<data_dir>/api-keys.json`, mode 0600).
 *
 * A key is `aegis_ak_<id>_<secret>`: `id` is 8 random bytes in hex (a lookup handle, not secret), `secret` 32 random
 * bytes (256 bits) in base64url. It is printed once by `aegisbpf auth create-key` and never stored: the file keeps
 * a per-key random salt and HMAC-SHA-256(salt, key), compared with crypto.timingSafeEqual.
 *
 * Why HMAC-SHA-256 and not scrypt: slow hashes protect low-entropy passwords against guessing; a 256-bit random key
 * cannot be guessed, so a slow hash adds no protection, while scrypt at safe parameters (~50 ms of CPU per check)
 * would cost every API request 50 ms and hand an unauthenticated client a CPU-exhaustion lever. HMAC-SHA-256 costs
 * about a microsecond and still makes a leaked keys file useless for authenticating (it holds no key, and the
 * per-key salt keeps equal keys from having equal hashes).
 *
 * One writer: the `auth` and `rbac` commands edit the file under a lock (src/util/file-lock.ts) with an atomic rename; the
 * daemon only reads it, again when it changes (checked at most every RELOAD_CHECK_MILLIS) and on SIGHUP.
 */
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { AegisError } from '../../util/errors';
import { withFileLock, writeFileAtomic } from '../../util/file-lock';

export const PERMISSIONS = [
  'stats:read',
  'blocklist:read',
  'blocklist:write',
  'policy:read',
  'policy:apply',
  'events:read',
  'audit:read',
  'keys:admin',
  'analytics:read',
] as const;
export type Permission = (typeof PERMISSIONS)[number];

/** Built-in roles: least privilege upward. Custom roles are stored in the keys file. */
export const BUILTIN_ROLES: Readonly<Record<string, readonly Permission[]>> = {
  viewer: ['stats:read', 'blocklist:read', 'policy:read', 'events:read', 'analytics:read'],
  operator: ['stats:read', 'blocklist:read', 'policy:read', 'events:read', 'analytics:read', 'blocklist:write'],
  admin: [...PERMISSIONS],
};

export const KEY_PREFIX = 'aegis_ak_';
const KEY_RE = /^aegis_ak_([0-9a-f]{16})_([A-Za-z0-9_-]{43})$/;
const NAME_RE = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$/;
export const RELOAD_CHECK_MILLIS = 250;

export interface StoredCredential {
  readonly id: string;
  /** hex, 16 random bytes */
  readonly salt: string;
  /** hex HMAC-SHA-256(salt, key) */
  readonly hash: string;
  readonly created_at: string;
  /** Set on the old credential by a rotation (`--expire-old-in`). */
  readonly expires_at?: string;
}

export interface StoredKey {
  readonly name: string;
  readonly role: string;
  readonly created_at: string;
  readonly expires_at?: string;
  readonly revoked_at?: string;
  readonly credentials: readonly StoredCredential[];
}

export interface KeysDocument {
  readonly version: 1;
  readonly roles: Readonly<Record<string, { readonly permissions: readonly Permission[] }>>;
  readonly keys: readonly StoredKey[];
}

export const EMPTY_KEYS: KeysDocument = { version: 1, roles: {}, keys: [] };

export function isPermission(p: string): p is Permission {
  return (PERMISSIONS as readonly string[]).includes(p);
}

export function rolePermissions(doc: KeysDocument, role: string): readonly Permission[] | undefined {
  return Object.hasOwn(BUILTIN_ROLES, role) ? BUILTIN_ROLES[role] : doc.roles[role]?.permissions;
}

function hmac(salt: string, key: string): Buffer {
  return crypto.createHmac('sha256', Buffer.from(salt, 'hex')).update(key).digest();
}

function newCredential(now: Date): { key: string; credential: StoredCredential } {
  const id = crypto.randomBytes(8).toString('hex');
  const key = `${KEY_PREFIX}${id}_${crypto.randomBytes(32).toString('base64url')}`;
  const salt = crypto.randomBytes(16).toString('hex');
  return { key, credential: { id, salt, hash: hmac(salt, key).toString('hex'), created_at: now.toISOString() } };
}

export type AuthResult =
  | { readonly ok: true; readonly name: string; readonly role: string; readonly permissions: readonly Permission[] }
  | { readonly ok: false; readonly reason: 'missing' | 'malformed' | 'unknown' | 'expired' | 'revoked' | 'no-role' };

const DUMMY_SALT = crypto.randomBytes(16).toString('hex');
const DUMMY_HASH = crypto.randomBytes(32);

/** Check a presented key. The reason is for the audit log only, never for the client. */
export function authenticate(doc: KeysDocument, presented: string | undefined, now: Date): AuthResult {
  if (presented === undefined || presented === '') return { ok: false, reason: 'missing' };
  const m = KEY_RE.exec(presented);
  if (m === null) return { ok: false, reason: 'malformed' };
  const id = m[1] as string;
  let found: { key: StoredKey; credential: StoredCredential } | undefined;
  for (const key of doc.keys)
    for (const credential of key.credentials) if (credential.id === id) found = { key, credential };
  // The same HMAC and comparison whether or not the id exists, so timing does not tell ids apart.
  const expected = found !== undefined ? Buffer.from(found.credential.hash, 'hex') : DUMMY_HASH;
  const actual = hmac(found?.credential.salt ?? DUMMY_SALT, presented);
  const equal = expected.length === actual.length && crypto.timingSafeEqual(expected, actual);
  if (found === undefined || !equal) return { ok: false, reason: 'unknown' };
  const { key, credential } = found;
  if (key.revoked_at !== undefined) return { ok: false, reason: 'revoked' };
  const t = now.getTime();
  if (key.expires_at !== undefined && Date.parse(key.expires_at) <= t) return { ok: false, reason: 'expired' };
  if (credential.expires_at !== undefined && Date.parse(credential.expires_at) <= t)
    return { ok: false, reason: 'expired' };
  const permissions = rolePermissions(doc, key.role);
  if (permissions === undefined) return { ok: false, reason: 'no-role' };
  return { ok: true, name: key.name, role: key.role, permissions };
}

/** Validate a parsed keys file; throws AEGIS_ERR_API_STORE naming the problem. */
export function parseKeysDocument(text: string, file: string): KeysDocument {
  let doc: unknown;
  try {
    doc = JSON.parse(text);
  } catch (err) {
    throw new AegisError('AEGIS_ERR_API_STORE', `${file} is not valid JSON: ${(err as Error).message}`);
  }
  const bad = (why: string): AegisError => new AegisError('AEGIS_ERR_API_STORE', `${file}: ${why}`);
  if (typeof doc !== 'object' || doc === null || (doc as { version?: unknown }).version !== 1)
    throw bad('not an aegisbpf keys file (version 1)');
  const d = doc as { roles?: unknown; keys?: unknown };
  if (typeof d.roles !== 'object' || d.roles === null || !Array.isArray(d.keys)) throw bad('needs roles and keys');
  for (const [name, r] of Object.entries(d.roles as Record<string, unknown>)) {
    const perms = (r as { permissions?: unknown } | null)?.permissions;
    if (!Array.isArray(perms) || !perms.every((p) => typeof p === 'string' && isPermission(p)))
      throw bad(`roles.${name}.permissions: unknown permission`);
  }
  for (const [i, k] of (d.keys as unknown[]).entries()) {
    const key = k as Partial<StoredKey> | null;
    if (typeof key?.name !== 'string' || typeof key.role !== 'string' || !Array.isArray(key.credentials))
      throw bad(`keys[${i}]: needs name, role, credentials`);
    for (const c of key.credentials as readonly Partial<Record<string, unknown>>[])
      if (
        typeof c.id !== 'string' ||
        typeof c.salt !== 'string' ||
        typeof c.hash !== 'string' ||
        !/^[0-9a-f]{16}$/.test(c.id) ||
        !/^[0-9a-f]{32}$/.test(c.salt) ||
        !/^[0-9a-f]{64}$/.test(c.hash)
      )
        throw bad(`keys[${i}] (${key.name}): malformed credential`);
  }
  return doc as KeysDocument;
}

export function readKeysFile(file: string): KeysDocument {
  let text: string;
  try {
    text = fs.readFileSync(file, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return EMPTY_KEYS;
    throw new AegisError('AEGIS_ERR_API_STORE', `Cannot read ${file}: ${(err as Error).message}`, { cause: err });
  }
  return parseKeysDocument(text, file);
}

/** Edit the keys file under its lock: `change` returns the new document (or throws); written 0600, atomically. */
export function updateKeysFile<T>(file: string, change: (doc: KeysDocument) => { doc: KeysDocument; result: T }): T {
  fs.mkdirSync(path.dirname(file), { recursive: true, mode: 0o700 });
  return withFileLock(file, () => {
    const { doc, result } = change(readKeysFile(file));
    writeFileAtomic(file, JSON.stringify(doc, null, 2) + '\n');
    return result;
  });
}

const fail = (message: string): AegisError => new AegisError('AEGIS_ERR_USAGE', message);

function checkName(kind: string, name: string): void {
  if (!NAME_RE.test(name)) throw fail(`${kind} name '${name}': use 1-64 characters of [A-Za-z0-9_.-].`);
}

/** The edits behind `aegisbpf auth` and `aegisbpf rbac`: pure functions of the document. */
export const keyEdits = {
  createKey(doc: KeysDocument, name: string, role: string, expiresAt: Date | undefined, now: Date) {
    checkName('key', name);
    if (doc.keys.some((k) => k.name === name)) throw fail(`a key named '${name}' exists (rotate or revoke it).`);
    if (rolePermissions(doc, role) === undefined) throw fail(`no role '${role}' (see 'aegisbpf rbac list-roles').`);
    const { key, credential } = newCredential(now);
    const stored: StoredKey = {
      name,
      role,
      created_at: now.toISOString(),
      ...(expiresAt !== undefined ? { expires_at: expiresAt.toISOString() } : {}),
      credentials: [credential],
    };
    return { doc: { ...doc, keys: [...doc.keys, stored] }, result: key };
  },
  revokeKey(doc: KeysDocument, name: string, now: Date) {
    const k = findKey(doc, name);
    if (k.revoked_at !== undefined) throw fail(`key '${name}' is already revoked.`);
    return { doc: replaceKey(doc, { ...k, revoked_at: now.toISOString() }), result: undefined };
  },
  /** A new credential; the old ones stay valid until now + oldValidMillis (0: refused at once). */
  rotateKey(doc: KeysDocument, name: string, oldValidMillis: number, now: Date) {
    const k = findKey(doc, name);
    if (k.revoked_at !== undefined) throw fail(`key '${name}' is revoked; create a new one.`);
    const until = new Date(now.getTime() + oldValidMillis).toISOString();
    const old = k.credentials
      .filter((c) => c.expires_at === undefined || Date.parse(c.expires_at) > now.getTime())
      .map((c) => (c.expires_at !== undefined && c.expires_at < until ? c : { ...c, expires_at: until }));
    const { key, credential } = newCredential(now);
    return { doc: replaceKey(doc, { ...k, credentials: [...old, credential] }), result: { key, oldValidUntil: until } };
  },
  createRole(doc: KeysDocument, name: string, permissions: readonly string[]) {
    checkName('role', name);
    if (Object.hasOwn(BUILTIN_ROLES, name) || Object.hasOwn(doc.roles, name))
      throw fail(`a role named '${name}' exists.`);
    if (permissions.length === 0) throw fail(`role '${name}': give at least one permission.`);
    const unknown = permissions.filter((p) => !isPermission(p));
    if (unknown.length > 0)
      throw fail(`unknown permission(s) ${unknown.join(', ')}; known: ${PERMISSIONS.join(', ')}.`);
    const perms = [...new Set(permissions)] as Permission[];
    return { doc: { ...doc, roles: { ...doc.roles, [name]: { permissions: perms } } }, result: undefined };
  },
  assignRole(doc: KeysDocument, keyName: string, role: string) {
    const k = findKey(doc, keyName);
    if (rolePermissions(doc, role) === undefined) throw fail(`no role '${role}' (see 'aegisbpf rbac list-roles').`);
    return { doc: replaceKey(doc, { ...k, role }), result: k.role };
  },
};

function findKey(doc: KeysDocument, name: string): StoredKey {
  const k = doc.keys.find((x) => x.name === name);
  if (k === undefined) throw fail(`no key named '${name}' (see 'aegisbpf auth list-keys').`);
  return k;
}

function replaceKey(doc: KeysDocument, key: StoredKey): KeysDocument {
  return { ...doc, keys: doc.keys.map((k) => (k.name === key.name ? key : k)) };
}

/** A key's state for `auth list-keys` (no hash, no salt). */
export function describeKey(k: StoredKey, now: Date) {
  const t = now.getTime();
  const status =
    k.revoked_at !== undefined
      ? 'revoked'
      : k.expires_at !== undefined && Date.parse(k.expires_at) <= t
        ? 'expired'
        : 'active';
  return {
    name: k.name,
    role: k.role,
    status,
    created_at: k.created_at,
    expires_at: k.expires_at ?? null,
    revoked_at: k.revoked_at ?? null,
    credentials: k.credentials
      .filter((c) => c.expires_at === undefined || Date.parse(c.expires_at) > t)
      .map((c) => ({ id: c.id, created_at: c.created_at, expires_at: c.expires_at ?? null })),
  };
}

/** The daemon's view: the file re-read when its identity (inode, size, mtime) changes, at most every 250 ms. */
export interface KeyRing {
  document(): KeysDocument;
  /** SIGHUP: read the file again now. */
  reload(): void;
  /** Re-read the file now if it changed (a key created a moment ago); a stat(2) when it did not. */
  refresh(): KeysDocument;
}

export function createKeyRing(file: string, onError: (err: unknown) => void): KeyRing {
  let doc: KeysDocument = EMPTY_KEYS;
  let identity = '';
  let checkedAt = Number.NEGATIVE_INFINITY;
  const load = (force: boolean): void => {
    checkedAt = Date.now();
    let id: string;
    try {
      const st = fs.statSync(file);
      id = `${st.ino}:${st.size}:${st.mtimeMs}`;
    } catch {
      id = 'absent';
    }
    if (!force && id === identity) return;
    try {
      doc = readKeysFile(file); // a bad file keeps the last good keys (and says so)
      identity = id;
    } catch (err) {
      onError(err);
    }
  };
  load(true);
  return {
    document() {
      if (Date.now() - checkedAt >= RELOAD_CHECK_MILLIS) load(false);
      return doc;
    },
    reload: () => load(true),
    refresh() {
      load(false);
      return doc;
    },
  };
}

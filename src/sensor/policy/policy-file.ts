/**
 * The policy file: YAML, validated without I/O. Every problem is reported with its key path
 * (`rules[2].match.port: …`), all at once.
 *
 *   version: 1
 *   mode: enforce            # audit (default): nothing is enforced, hits are reported with the rule's action
 *   rules:
 *     - id: kill-secret-readers
 *       match: { path: /etc/aegis-secret }        # resolved absolute path of the opened/executed file
 *       action: KILL                               # AUDIT | BLOCK | TERM | KILL | INT
 *       fallback: KILL                             # optional: used when `action` cannot be enforced here
 *     - id: term-by-inode
 *       match: { inode: /srv/data/key.pem }        # dev+ino of this file, taken at apply time
 *       action: TERM
 *     - id: raw-inode
 *       match: { inode: { ino: 1234, dev: 8388609 } } # dev in kernel encoding (MAJOR << 20 | MINOR), as events show it
 *       action: AUDIT
 *     - id: trusted-ci
 *       match: { cgroup: /system.slice/ci.service }  # exempt from file and network rules
 *       action: ALLOW
 *     - id: no-metadata-service
 *       match: { address: 169.254.169.254, port: 80, protocol: tcp }
 *       action: BLOCK
 *     - id: no-internal
 *       match: { address: 10.0.0.0/8 }
 *       action: AUDIT
 *     - id: no-scanner-in
 *       match: { address: 198.51.100.0/24, direction: in } # inbound packets from it (XDP or cgroup_skb)
 *       action: BLOCK
 */
import path from 'node:path';
import { parse as parseYaml } from 'yaml';
import type { ActionName } from '../abi';
import { PATH_MAX } from '../abi';
import { SensorError } from '../../native/errors';

export type PolicyMode = 'audit' | 'enforce';
export type RuleAction = ActionName | 'ALLOW';

export type RuleMatch =
  | { readonly kind: 'path'; readonly path: string }
  | { readonly kind: 'inode'; readonly path: string }
  | { readonly kind: 'inode-raw'; readonly ino: bigint; readonly dev: number }
  | { readonly kind: 'cgroup'; readonly cgroup: string | number }
  | {
      readonly kind: 'network';
      /** Address or CIDR in text form, undefined = any address (port rule). */
      readonly address: string | undefined;
      readonly port: number | undefined;
      readonly protocol: 'tcp' | 'udp' | undefined;
      /** `out` (default): outbound connect(); `in`: inbound packets from the address (address/CIDR only). */
      readonly direction: 'in' | 'out';
    };

export interface PolicyRule {
  readonly id: string;
  readonly match: RuleMatch;
  readonly action: RuleAction;
  readonly fallback: ActionName | undefined;
}

export interface Policy {
  readonly version: 1;
  readonly mode: PolicyMode;
  readonly rules: readonly PolicyRule[];
}

const ACTIONS: readonly string[] = ['AUDIT', 'BLOCK', 'TERM', 'KILL', 'INT'];
const ID_RE = /^[A-Za-z0-9_.:-]{1,64}$/;

function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function checkKeys(obj: Record<string, unknown>, allowed: readonly string[], at: string, errors: string[]): void {
  for (const k of Object.keys(obj))
    if (!allowed.includes(k)) errors.push(`${at}.${k}: unknown key (allowed: ${allowed.join(', ')})`);
}

function absolutePath(v: unknown, at: string, errors: string[]): string | undefined {
  if (typeof v !== 'string' || v === '') {
    errors.push(`${at}: must be a non-empty string`);
    return undefined;
  }
  if (!v.startsWith('/')) {
    errors.push(`${at}: must be an absolute path, got "${v}"`);
    return undefined;
  }
  const norm = path.posix.normalize(v).replace(/\/+$/, '');
  if (norm === '') {
    errors.push(`${at}: "/" cannot be a rule target`);
    return undefined;
  }
  if (Buffer.byteLength(norm) > PATH_MAX - 1) {
    errors.push(
      `${at}: ${Buffer.byteLength(norm)} bytes; the kernel matches paths up to ${PATH_MAX - 1} bytes (use an inode rule)`,
    );
    return undefined;
  }
  return norm;
}

function parseMatch(raw: unknown, at: string, errors: string[]): RuleMatch | undefined {
  if (!isRecord(raw)) {
    errors.push(`${at}: must be a mapping with one of path, inode, cgroup, address/port`);
    return undefined;
  }
  checkKeys(raw, ['path', 'inode', 'cgroup', 'address', 'port', 'protocol', 'direction'], at, errors);
  const kinds = ['path', 'inode', 'cgroup'].filter((k) => k in raw);
  const isNet = 'address' in raw || 'port' in raw || 'protocol' in raw || 'direction' in raw;
  if (kinds.length + (isNet ? 1 : 0) !== 1) {
    errors.push(
      `${at}: give exactly one of path, inode, cgroup or address/port (got ${[...kinds, ...(isNet ? ['address/port'] : [])].join(', ') || 'none'})`,
    );
    return undefined;
  }
  if ('path' in raw) {
    const p = absolutePath(raw.path, `${at}.path`, errors);
    return p === undefined ? undefined : { kind: 'path', path: p };
  }
  if ('inode' in raw) {
    const v = raw.inode;
    if (isRecord(v)) {
      checkKeys(v, ['ino', 'dev'], `${at}.inode`, errors);
      const ino = v.ino;
      const dev = v.dev;
      const inoOk =
        (typeof ino === 'number' && Number.isSafeInteger(ino) && ino > 0) ||
        (typeof ino === 'string' && /^[1-9]\d{0,19}$/.test(ino));
      if (!inoOk) errors.push(`${at}.inode.ino: must be a positive integer`);
      if (typeof dev !== 'number' || !Number.isSafeInteger(dev) || dev < 0 || dev > 0xffffffff)
        errors.push(
          `${at}.inode.dev: must be an integer (kernel encoding, MAJOR << 20 | MINOR, as block events report it)`,
        );
      if (!inoOk || typeof dev !== 'number') return undefined;
      return { kind: 'inode-raw', ino: BigInt(ino), dev };
    }
    const p = absolutePath(v, `${at}.inode`, errors);
    return p === undefined ? undefined : { kind: 'inode', path: p };
  }
  if ('cgroup' in raw) {
    const v = raw.cgroup;
    if (typeof v === 'number' && Number.isSafeInteger(v) && v > 0) return { kind: 'cgroup', cgroup: v };
    if (typeof v === 'string' && v.startsWith('/')) return { kind: 'cgroup', cgroup: path.posix.normalize(v) };
    errors.push(`${at}.cgroup: must be a cgroup path ("/system.slice/x.service") or a cgroup id`);
    return undefined;
  }
  let address: string | undefined;
  let port: number | undefined;
  let protocol: 'tcp' | 'udp' | undefined;
  if ('address' in raw) {
    if (typeof raw.address !== 'string' || raw.address === '')
      errors.push(`${at}.address: must be an IPv4/IPv6 address or CIDR`);
    else address = raw.address;
  }
  if ('port' in raw) {
    if (typeof raw.port !== 'number' || !Number.isInteger(raw.port) || raw.port < 1 || raw.port > 65535)
      errors.push(`${at}.port: must be an integer 1..65535`);
    else port = raw.port;
  }
  if ('protocol' in raw) {
    if (raw.protocol !== 'tcp' && raw.protocol !== 'udp') errors.push(`${at}.protocol: must be tcp or udp`);
    else protocol = raw.protocol;
  }
  let direction: 'in' | 'out' = 'out';
  if ('direction' in raw) {
    if (raw.direction !== 'in' && raw.direction !== 'out') {
      errors.push(`${at}.direction: must be in or out`);
      return undefined;
    }
    direction = raw.direction;
  }
  if (address === undefined && port === undefined) {
    errors.push(`${at}: a network rule needs an address, a port, or both`);
    return undefined;
  }
  if (direction === 'in' && (address === undefined || port !== undefined || protocol !== undefined)) {
    errors.push(`${at}: direction in matches an address or CIDR alone (no port or protocol)`);
    return undefined;
  }
  return { kind: 'network', address, port, protocol, direction };
}

/** Validate a parsed YAML document. Throws AEGIS_ERR_POLICY_INVALID listing every problem. */
export function validatePolicy(doc: unknown, source = 'policy'): Policy {
  const errors: string[] = [];
  if (!isRecord(doc))
    throw new SensorError('AEGIS_ERR_POLICY_INVALID', `${source}: must be a YAML mapping with version, mode and rules`);
  checkKeys(doc, ['version', 'mode', 'rules'], source, errors);
  if (doc.version !== 1) errors.push(`${source}.version: must be 1`);
  const mode = doc.mode ?? 'audit';
  if (mode !== 'audit' && mode !== 'enforce') errors.push(`${source}.mode: must be audit or enforce`);
  const rawRules = doc.rules ?? [];
  const rules: PolicyRule[] = [];
  if (!Array.isArray(rawRules)) {
    errors.push(`${source}.rules: must be a list`);
  } else {
    const seen = new Set<string>();
    rawRules.forEach((r: unknown, i) => {
      const at = `rules[${i}]`;
      if (!isRecord(r)) {
        errors.push(`${at}: must be a mapping with id, match, action`);
        return;
      }
      checkKeys(r, ['id', 'match', 'action', 'fallback'], at, errors);
      const id = r.id;
      if (typeof id !== 'string' || !ID_RE.test(id)) {
        errors.push(`${at}.id: must be 1-64 characters of [A-Za-z0-9_.:-]`);
      } else if (seen.has(id)) {
        errors.push(`${at}.id: duplicate id "${id}"`);
      } else {
        seen.add(id);
      }
      const match = parseMatch(r.match, `${at}.match`, errors);
      const action = r.action;
      const isCgroup = match?.kind === 'cgroup';
      if (isCgroup && action !== 'ALLOW')
        errors.push(`${at}.action: cgroup rules exempt a cgroup; their action must be ALLOW`);
      if (!isCgroup && (typeof action !== 'string' || !ACTIONS.includes(action)))
        errors.push(`${at}.action: must be one of ${ACTIONS.join(', ')}`);
      const fallback = r.fallback;
      if (fallback !== undefined && (typeof fallback !== 'string' || !ACTIONS.includes(fallback)))
        errors.push(`${at}.fallback: must be one of ${ACTIONS.join(', ')}`);
      if (match !== undefined && typeof id === 'string' && typeof action === 'string') {
        rules.push({ id, match, action: action as RuleAction, fallback: fallback as ActionName | undefined });
      }
    });
  }
  if (errors.length > 0)
    throw new SensorError('AEGIS_ERR_POLICY_INVALID', `invalid policy:\n  ${errors.join('\n  ')}`, {
      details: { errors },
    });
  return { version: 1, mode: mode as PolicyMode, rules };
}

/** Parse YAML text and validate it. */
export function parsePolicy(text: string, source = 'policy'): Policy {
  let doc: unknown;
  try {
    doc = parseYaml(text);
  } catch (err) {
    throw new SensorError('AEGIS_ERR_POLICY_READ', `${source} is not valid YAML: ${(err as Error).message}`, {
      cause: err,
    });
  }
  return validatePolicy(doc, source);
}

/**
 * Policy -> kernel map entries, checked against what this kernel can enforce.
 *
 * Feature check: a rule whose action the detected backend cannot carry out is refused with the reason (BLOCK on
 * file open/exec needs BPF LSM; signals need bpf_send_signal; network rules need the cgroup connect hooks and cannot
 * signal), unless the rule names a `fallback` that can be enforced, which then becomes the effective action.
 *
 * Rule ids in the kernel are FNV-1a-32 hashes of the rule's `id` (never 0), so a record in flight across a policy
 * change still names the right rule; a hash collision inside one policy is refused.
 *
 * I/O here is limited to resolving targets (stat for inode rules, the cgroup directory for cgroup rules), injected
 * through `resolve` so the logic is testable without a kernel.
 */
import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import type { ActionName, MapKey } from '../abi';
import {
  ACTION_IDS,
  ADDR_PORT_KEY,
  INODE_KEY,
  LEAF_MAX,
  PATH_KEY,
  PORT_KEY,
  RULE,
  V4_LPM_KEY,
  V6_LPM_KEY,
} from '../abi';
import { SensorError } from '../../native/errors';
import type { EnforcementCapabilities } from '../feature-probe';
import { userDevToKernel } from '../text';
import type { Policy, PolicyMode, PolicyRule, RuleAction } from './policy-file';

/** The maps a policy writes (config holds the mode). */
export type PolicyMapKey = Extract<
  MapKey,
  | 'denyInode'
  | 'denyPath'
  | 'denyPathLeaf'
  | 'allowCgroup'
  | 'netV4Lpm'
  | 'netV6Lpm'
  | 'netPort'
  | 'netAddrPort'
  | 'netInV4Lpm'
  | 'netInV6Lpm'
>;
export const POLICY_MAP_KEYS: readonly PolicyMapKey[] = [
  'denyInode',
  'denyPath',
  'denyPathLeaf',
  'allowCgroup',
  'netV4Lpm',
  'netV6Lpm',
  'netPort',
  'netAddrPort',
  'netInV4Lpm',
  'netInV6Lpm',
];

export interface MapEntry {
  readonly key: Buffer;
  readonly value: Buffer;
}

export interface CompiledRule {
  readonly id: string;
  /** The u32 the kernel reports (FNV-1a of id). */
  readonly ruleId: number;
  readonly kind: PolicyRule['match']['kind'];
  /** Human description of what it matches, e.g. `path /etc/x`, `inode 2049:1234 (/srv/key)`. */
  readonly target: string;
  readonly requestedAction: RuleAction;
  readonly action: RuleAction;
  readonly fallbackUsed: boolean;
}

export interface CompiledPolicy {
  readonly mode: PolicyMode;
  readonly rules: readonly CompiledRule[];
  /** Desired content of each policy map, keyed by the key's hex. */
  readonly entries: Readonly<Record<PolicyMapKey, ReadonlyMap<string, MapEntry>>>;
  readonly warnings: readonly string[];
}

export interface TargetResolver {
  /** stat(2) following symlinks: dev as st_dev (user-space encoding), ino exact. */
  stat(file: string): { readonly dev: number; readonly ino: bigint };
  /** lstat: is it a symlink? */
  isSymlink(file: string): boolean;
  /** cgroup v2 id (directory inode) of a cgroup path. */
  cgroupId(cgroupPath: string): number;
}

export function fsResolver(cgroupRoot: string | undefined): TargetResolver {
  return {
    stat(file) {
      const st = fs.statSync(file, { bigint: true });
      return { dev: Number(st.dev), ino: st.ino };
    },
    isSymlink(file) {
      try {
        return fs.lstatSync(file).isSymbolicLink();
      } catch {
        return false;
      }
    },
    cgroupId(cgroupPath) {
      if (cgroupRoot === undefined) throw new Error('no cgroup v2 mount');
      const abs =
        cgroupPath.startsWith(cgroupRoot + '/') || cgroupPath === cgroupRoot
          ? cgroupPath
          : path.join(cgroupRoot, cgroupPath);
      const st = fs.statSync(abs);
      if (!st.isDirectory()) throw new Error(`${abs} is not a cgroup directory`);
      return st.ino;
    },
  };
}

/** FNV-1a 32-bit of the UTF-8 bytes; 0 is reserved for "no rule". */
export function ruleIdOf(id: string): number {
  let h = 0x811c9dc5;
  for (const b of Buffer.from(id, 'utf8')) {
    h ^= b;
    h = Math.imul(h, 0x01000193) >>> 0;
  }
  return h === 0 ? 1 : h;
}

function ruleValue(ruleId: number, action: ActionName): Buffer {
  const v = Buffer.alloc(RULE.size);
  v.writeUInt32LE(ruleId, RULE.fields.rule_id.offset);
  v.writeUInt8(ACTION_IDS[action], RULE.fields.action.offset);
  return v;
}

/** @param kernelDev dev_t in the kernel's encoding (MAJOR << 20 | MINOR), as `block` events report it. */
export function inodeKey(ino: bigint, kernelDev: number): Buffer {
  const k = Buffer.alloc(INODE_KEY.size);
  k.writeBigUInt64LE(ino, INODE_KEY.fields.ino.offset);
  k.writeUInt32LE(kernelDev, INODE_KEY.fields.dev.offset);
  return k;
}

export function pathKey(p: string): Buffer {
  const k = Buffer.alloc(PATH_KEY.size);
  k.write(p, 0, 'utf8');
  return k;
}

/** The pre-filter key: the first LEAF_MAX-1 bytes of the last component, as bpf_probe_read_kernel_str copies them. */
export function leafKey(p: string): Buffer {
  const k = Buffer.alloc(LEAF_MAX);
  Buffer.from(path.posix.basename(p), 'utf8').copy(k, 0, 0, LEAF_MAX - 1);
  return k;
}

function u64Key(n: number): Buffer {
  const k = Buffer.alloc(8);
  k.writeBigUInt64LE(BigInt(n));
  return k;
}

const PROTO: Readonly<Record<'tcp' | 'udp', number>> = { tcp: 6, udp: 17 };

function parseCidr(text: string): { family: 4 | 6; bytes: Buffer; prefix: number } | string {
  const [addr, prefixText, extra] = text.split('/');
  if (extra !== undefined || addr === undefined) return `"${text}" is not an address or CIDR`;
  const family = net.isIPv4(addr) ? 4 : net.isIPv6(addr) && !addr.includes('%') ? 6 : 0;
  if (family === 0) return `"${addr}" is not an IPv4 or IPv6 address`;
  const bits = family === 4 ? 32 : 128;
  const prefix = prefixText === undefined ? bits : Number(prefixText);
  if (
    !Number.isInteger(prefix) ||
    prefix < 0 ||
    prefix > bits ||
    (prefixText !== undefined && !/^\d+$/.test(prefixText))
  )
    return `"/${prefixText}" is not a prefix length 0..${bits}`;
  const bytes = Buffer.alloc(bits / 8);
  if (family === 4) {
    addr.split('.').forEach((o, i) => bytes.writeUInt8(Number(o), i));
  } else {
    expandIpv6(addr).forEach((g, i) => bytes.writeUInt16BE(g, i * 2));
  }
  // zero the host bits so the trie key is canonical
  for (let bit = prefix; bit < bits; bit++) bytes[bit >> 3] = (bytes[bit >> 3] as number) & ~(0x80 >> (bit & 7));
  return { family, bytes, prefix };
}

/** Eight 16-bit groups of a valid (net.isIPv6) address, `::` and a dotted IPv4 tail expanded. */
export function expandIpv6(addr: string): number[] {
  let text = addr;
  const v4 = /(\d+\.\d+\.\d+\.\d+)$/.exec(text);
  if (v4?.[1] !== undefined) {
    const o = v4[1].split('.').map(Number);
    text = `${text.slice(0, -v4[1].length)}${(((o[0] as number) << 8) | (o[1] as number)).toString(16)}:${(((o[2] as number) << 8) | (o[3] as number)).toString(16)}`;
  }
  const [head, tail] = text.split('::');
  const h = head === undefined || head === '' ? [] : head.split(':');
  const t = tail === undefined || tail === '' ? [] : tail.split(':');
  const fill = text.includes('::') ? new Array<string>(8 - h.length - t.length).fill('0') : [];
  return [...h, ...fill, ...t].map((g) => parseInt(g, 16));
}

function effectiveAction(
  rule: PolicyRule,
  caps: EnforcementCapabilities,
): { action: RuleAction; fallbackUsed: boolean } | string {
  if (rule.action === 'ALLOW') return { action: 'ALLOW', fallbackUsed: false };
  const isNet = rule.match.kind === 'network';
  if (isNet && rule.match.kind === 'network' && rule.match.direction === 'in') {
    const whyIn = (a: ActionName): string | undefined =>
      a !== 'AUDIT' && a !== 'BLOCK'
        ? `${a} on inbound packets is not supported: a packet has no process to signal (use BLOCK)`
        : caps.ingressBlock
          ? undefined
          : 'inbound (direction in) rules need an XDP or cgroup_skb ingress program, which this kernel refuses';
    const r = whyIn(rule.action);
    if (r === undefined) return { action: rule.action, fallbackUsed: false };
    if (rule.fallback === undefined) return `${r}; add a fallback action to the rule to accept a weaker enforcement`;
    const fr = whyIn(rule.fallback);
    return fr === undefined
      ? { action: rule.fallback, fallbackUsed: true }
      : `${r}; its fallback ${rule.fallback} cannot be enforced either: ${fr}`;
  }
  const why = (a: ActionName): string | undefined => {
    if (a === 'AUDIT')
      return isNet && !caps.networkBlock
        ? 'network rules need the cgroup v2 connect hooks, which are unavailable'
        : undefined;
    if (isNet) {
      if (a === 'BLOCK')
        return caps.networkBlock
          ? undefined
          : 'BLOCK on connect needs the cgroup v2 connect hooks, which are unavailable';
      return `${a} on connect is not supported: cgroup connect hooks cannot send signals (use BLOCK)`;
    }
    if (a === 'BLOCK')
      return caps.fileBlock
        ? undefined
        : 'BLOCK on file open/exec needs BPF LSM, which this kernel refuses (tracepoint mode can only signal after the syscall)';
    return caps.signals ? undefined : `${a} needs bpf_send_signal(), which is unavailable`;
  };
  const reason = why(rule.action);
  if (reason === undefined) return { action: rule.action, fallbackUsed: false };
  if (rule.fallback === undefined) return `${reason}; add a fallback action to the rule to accept a weaker enforcement`;
  const fbReason = why(rule.fallback);
  if (fbReason !== undefined) return `${reason}; its fallback ${rule.fallback} cannot be enforced either: ${fbReason}`;
  return { action: rule.fallback, fallbackUsed: true };
}

/**
 * Compile a validated policy for this kernel. Throws AEGIS_ERR_POLICY_UNENFORCEABLE (every refused rule with its
 * reason) or AEGIS_ERR_POLICY_INVALID (a target that cannot be resolved, duplicate keys).
 */
export function compilePolicy(policy: Policy, caps: EnforcementCapabilities, resolve: TargetResolver): CompiledPolicy {
  const refused: string[] = [];
  const invalid: string[] = [];
  const warnings: string[] = [];
  const rules: CompiledRule[] = [];
  const entries = Object.fromEntries(POLICY_MAP_KEYS.map((k) => [k, new Map<string, MapEntry>()])) as Record<
    PolicyMapKey,
    Map<string, MapEntry>
  >;
  const owners = new Map<string, string>(); // map:keyhex -> rule id
  const idsByHash = new Map<number, string>();

  const put = (map: PolicyMapKey, key: Buffer, value: Buffer, ruleIdText: string, what: string): void => {
    const hex = key.toString('hex');
    const owner = owners.get(`${map}:${hex}`);
    if (owner !== undefined) {
      invalid.push(`rules "${owner}" and "${ruleIdText}" both match ${what}`);
      return;
    }
    owners.set(`${map}:${hex}`, ruleIdText);
    entries[map].set(hex, { key, value });
  };

  for (const rule of policy.rules) {
    const ruleId = ruleIdOf(rule.id);
    const clash = idsByHash.get(ruleId);
    if (clash !== undefined) {
      invalid.push(`rule ids "${clash}" and "${rule.id}" hash to the same kernel id; rename one`);
      continue;
    }
    idsByHash.set(ruleId, rule.id);
    const eff = effectiveAction(rule, caps);
    if (typeof eff === 'string') {
      refused.push(`rule "${rule.id}" (${rule.action}): ${eff}`);
      continue;
    }
    const action = eff.action;
    const value = action === 'ALLOW' ? Buffer.alloc(4) : ruleValue(ruleId, action);
    let target = '';
    const m = rule.match;
    try {
      switch (m.kind) {
        case 'path': {
          target = `path ${m.path}`;
          if (resolve.isSymlink(m.path))
            warnings.push(
              `rule "${rule.id}": ${m.path} is a symlink; rules match the resolved path of the opened file, so this rule matches only through its target's path`,
            );
          put('denyPath', pathKey(m.path), value, rule.id, target);
          const lk = leafKey(m.path);
          const hex = lk.toString('hex');
          const prev = entries.denyPathLeaf.get(hex);
          const count = Buffer.alloc(4);
          count.writeUInt32LE((prev?.value.readUInt32LE(0) ?? 0) + 1);
          entries.denyPathLeaf.set(hex, { key: lk, value: count });
          break;
        }
        case 'inode': {
          const st = resolve.stat(m.path);
          const dev = userDevToKernel(st.dev);
          target = `inode ${dev}:${st.ino} (${m.path})`;
          put('denyInode', inodeKey(st.ino, dev), value, rule.id, target);
          break;
        }
        case 'inode-raw':
          target = `inode ${m.dev}:${m.ino}`;
          put('denyInode', inodeKey(m.ino, m.dev), value, rule.id, target);
          break;
        case 'cgroup': {
          const cgid = typeof m.cgroup === 'number' ? m.cgroup : resolve.cgroupId(m.cgroup);
          target = `cgroup ${typeof m.cgroup === 'number' ? '' : `${m.cgroup} `}(id ${cgid})`;
          value.writeUInt32LE(ruleId);
          put('allowCgroup', u64Key(cgid), value, rule.id, target);
          break;
        }
        case 'network': {
          const proto = m.protocol === undefined ? 0 : PROTO[m.protocol];
          if (m.direction === 'in') {
            target = `inbound from ${m.address ?? '*'}`;
            const cidr = parseCidr(m.address ?? '');
            if (typeof cidr === 'string') {
              invalid.push(`rule "${rule.id}": ${cidr}`);
              break;
            }
            const layout = cidr.family === 4 ? V4_LPM_KEY : V6_LPM_KEY;
            const k = Buffer.alloc(layout.size);
            k.writeUInt32LE(cidr.prefix, layout.fields.prefixlen.offset);
            cidr.bytes.copy(k, layout.fields.addr.offset);
            put(cidr.family === 4 ? 'netInV4Lpm' : 'netInV6Lpm', k, value, rule.id, target);
            break;
          }
          target = `connect ${m.address ?? '*'}${m.port !== undefined ? ` port ${m.port}` : ''}${m.protocol !== undefined ? `/${m.protocol}` : ''}`;
          if (m.address === undefined) {
            const k = Buffer.alloc(PORT_KEY.size);
            k.writeUInt16LE(m.port as number, PORT_KEY.fields.port.offset);
            k.writeUInt8(proto, PORT_KEY.fields.protocol.offset);
            put('netPort', k, value, rule.id, target);
            break;
          }
          const cidr = parseCidr(m.address);
          if (typeof cidr === 'string') {
            invalid.push(`rule "${rule.id}": ${cidr}`);
            break;
          }
          const full = cidr.prefix === cidr.bytes.length * 8;
          if (m.port !== undefined || m.protocol !== undefined) {
            if (!full) {
              invalid.push(
                `rule "${rule.id}": a CIDR (${m.address}) cannot be combined with port/protocol; use an address, or a port alone`,
              );
              break;
            }
            if (m.port === undefined) {
              invalid.push(`rule "${rule.id}": protocol needs a port`);
              break;
            }
            const k = Buffer.alloc(ADDR_PORT_KEY.size);
            k.writeUInt8(cidr.family === 4 ? 2 : 10, ADDR_PORT_KEY.fields.family.offset);
            k.writeUInt8(proto, ADDR_PORT_KEY.fields.protocol.offset);
            k.writeUInt16LE(m.port, ADDR_PORT_KEY.fields.port.offset);
            cidr.bytes.copy(k, ADDR_PORT_KEY.fields.addr.offset);
            put('netAddrPort', k, value, rule.id, target);
            break;
          }
          const layout = cidr.family === 4 ? V4_LPM_KEY : V6_LPM_KEY;
          const k = Buffer.alloc(layout.size);
          k.writeUInt32LE(cidr.prefix, layout.fields.prefixlen.offset);
          cidr.bytes.copy(k, layout.fields.addr.offset);
          put(cidr.family === 4 ? 'netV4Lpm' : 'netV6Lpm', k, value, rule.id, target);
          break;
        }
      }
    } catch (err) {
      invalid.push(`rule "${rule.id}": cannot resolve its target: ${(err as Error).message}`);
      continue;
    }
    rules.push({
      id: rule.id,
      ruleId,
      kind: m.kind,
      target,
      requestedAction: rule.action,
      action,
      fallbackUsed: eff.fallbackUsed,
    });
    if (eff.fallbackUsed)
      warnings.push(`rule "${rule.id}": ${rule.action} cannot be enforced here, using its fallback ${action}`);
  }

  if (refused.length > 0) {
    throw new SensorError(
      'AEGIS_ERR_POLICY_UNENFORCEABLE',
      `policy refused, this kernel cannot enforce:\n  ${refused.join('\n  ')}`,
      { details: { refused } },
    );
  }
  if (invalid.length > 0)
    throw new SensorError('AEGIS_ERR_POLICY_INVALID', `invalid policy:\n  ${invalid.join('\n  ')}`, {
      details: { errors: invalid },
    });
  return { mode: policy.mode, rules, entries, warnings };
}

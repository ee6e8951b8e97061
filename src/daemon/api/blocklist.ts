/**
 * The live blocklist: entries that are rules of the enforcement policy (id `blocklist-<hash>`), so that a change
 * goes through the same path as `aegisbpf policy apply` (validation, the kernel feature checks and their refusal
 * reasons, the map capacity check, the all-or-nothing map write) and is kept in the policy store, which the sensor
 * applies again when it starts. An entry is never half applied: either the new policy generation is in the maps
 * and the store, or nothing changed.
 *
 * An entry is one of: a file path, an inode `dev:ino` (kernel dev encoding, as events show it), an address or CIDR
 * (optionally with a port and protocol), or a port alone, with an action (AUDIT, BLOCK, TERM, KILL, INT) and, for
 * network entries, a direction: `out` (the default: outbound connect(), the cgroup connect hooks) or `in` (inbound
 * packets from an address or CIDR, no port: the ingress program, XDP or cgroup_skb, see docs/enforcement.md).
 *
 * When no policy is stored yet, the first entry creates one in `enforce` mode (a blocklist exists to block); an
 * existing policy keeps its mode (in `audit` mode its entries only report).
 */
import crypto from 'node:crypto';
import net from 'node:net';
import path from 'node:path';
import { parse as parseYaml } from 'yaml';
import { BLOCKLIST_RULE_PREFIX, keepBlocklistRules } from '../../sensor/policy/blocklist-layer';
import type { ApplyResult, PolicyEngine } from '../../sensor/policy/policy-engine';
import type { PolicyStore, StoredPolicy } from '../../sensor/policy/policy-store';
import type { FileLockHandle } from '../../util/file-lock';
import { AegisError, isAegisError } from '../../util/errors';
import { ApiError } from './api-error';

export const BLOCKLIST_ACTIONS = ['AUDIT', 'BLOCK', 'TERM', 'KILL', 'INT'] as const;
export type BlocklistAction = (typeof BLOCKLIST_ACTIONS)[number];
export const DIRECTIONS = ['out', 'in'] as const;
export type Direction = (typeof DIRECTIONS)[number];

export type BlocklistTarget =
  | { readonly kind: 'path'; readonly path: string }
  | { readonly kind: 'inode'; readonly dev: number; readonly ino: string }
  | {
      readonly kind: 'net';
      readonly address: string | undefined;
      readonly port: number | undefined;
      readonly protocol: 'tcp' | 'udp' | undefined;
    };

export interface BlocklistEntry {
  /** Canonical id: `path:/usr/bin/nc`, `inode:8388609:1234`, `net:out:203.0.113.0/24`, `net:out:*:4444/tcp`, … */
  readonly id: string;
  readonly type: 'path' | 'inode' | 'address' | 'port';
  /** The path, `dev:ino`, address/CIDR, or port (as text) — what DELETE also accepts. */
  readonly value: string;
  readonly port?: number;
  readonly protocol?: 'tcp' | 'udp';
  readonly direction?: Direction;
  readonly action: BlocklistAction;
  /** The policy rule holding it. */
  readonly rule: string;
}

/** The body of POST /api/v1/blocklist after schema validation. */
export interface BlocklistRequest {
  readonly path?: string;
  readonly inode?: string;
  readonly address?: string;
  readonly port?: number;
  readonly protocol?: 'tcp' | 'udp';
  readonly direction?: Direction;
  readonly action: BlocklistAction;
}

const bad = (message: string): ApiError => new ApiError(400, 'AEGIS_ERR_API_BAD_REQUEST', message);

/** `key` (an address or CIDR, bare or as a `net:in:`/`net:out:` id) in canonical text; undefined for anything else. */
function canonicalAddressKey(key: string): string | undefined {
  const m = /^(net:(?:in|out):)?([0-9A-Fa-f.:]+(?:\/\d{1,3})?)$/.exec(key);
  if (m === null) return undefined;
  const cidr = canonicalCidr(m[2] as string);
  return cidr === undefined ? undefined : `${m[1] ?? ''}${cidr}`;
}

/** A CIDR or address in canonical text; undefined when malformed. Host bits must be zero (`10.0.0.1/8` is refused). */
export function canonicalCidr(text: string): string | undefined {
  const parts = text.split('/');
  if (parts.length > 2) return undefined;
  const [addr, prefixText] = parts as [string, string | undefined];
  const family = net.isIPv4(addr) ? 4 : net.isIPv6(addr) && !addr.includes('%') ? 6 : 0;
  if (family === 0) return undefined;
  const bits = family === 4 ? 32 : 128;
  if (prefixText !== undefined && !/^\d{1,3}$/.test(prefixText)) return undefined;
  const prefix = prefixText === undefined ? bits : Number(prefixText);
  if (prefix > bits) return undefined;
  const canonical = new net.SocketAddress({ address: addr, family: family === 4 ? 'ipv4' : 'ipv6' }).address;
  if (prefix === bits) return canonical;
  const bytes = family === 4 ? canonical.split('.').map(Number) : expand6(canonical);
  // Host bits set: the entry would not mean what it says.
  for (let bit = prefix; bit < bits; bit++)
    if (((bytes[bit >> 3] as number) & (0x80 >> (bit & 7))) !== 0) return undefined;
  return `${canonical}/${prefix}`;
}

function expand6(addr: string): number[] {
  let text = addr;
  const v4 = /(\d+\.\d+\.\d+\.\d+)$/.exec(text);
  if (v4 !== null) {
    const o = (v4[1] as string).split('.').map(Number) as [number, number, number, number];
    text = text.slice(0, v4.index) + `${((o[0] << 8) | o[1]).toString(16)}:${((o[2] << 8) | o[3]).toString(16)}`;
  }
  const [head, tail] = text.includes('::') ? (text.split('::') as [string, string]) : [text, undefined];
  const h = head === '' ? [] : head.split(':');
  const t = tail === undefined || tail === '' ? [] : tail.split(':');
  const groups = [...h, ...Array<string>(tail === undefined ? 0 : 8 - h.length - t.length).fill('0'), ...t];
  const out: number[] = [];
  for (const g of groups) {
    const n = parseInt(g, 16);
    out.push(n >> 8, n & 0xff);
  }
  return out;
}

/** Validate the semantics the schema cannot express and build the entry. Throws 400 naming the problem. */
export function entryFromRequest(req: BlocklistRequest): BlocklistEntry {
  const kinds = (['path', 'inode', 'address'] as const).filter((k) => req[k] !== undefined);
  if (kinds.length > 1) throw bad(`give one of path, inode or address (got ${kinds.join(', ')})`);
  const kind = kinds[0] ?? (req.port !== undefined ? 'port' : undefined);
  if (kind === undefined) throw bad('give one of path, inode, address or port');
  const isNet = kind === 'address' || kind === 'port';
  if (!isNet && (req.port !== undefined || req.protocol !== undefined || req.direction !== undefined))
    throw bad(`port, protocol and direction apply to address and port entries, not to ${kind} entries`);
  const action = req.action;
  if (kind === 'path') {
    const p = req.path as string;
    if (!p.startsWith('/')) throw bad(`path: must be absolute, got "${p}"`);
    if (path.posix.normalize(p) !== p || (p.length > 1 && p.endsWith('/')) || p === '/')
      throw bad(
        `path: must be normalized (no ., .., //, trailing /), got "${p}"; use "${path.posix.normalize(p).replace(/\/+$/, '') || '/'}"`,
      );
    return { id: `path:${p}`, type: 'path', value: p, action, rule: ruleId(`path:${p}`) };
  }
  if (kind === 'inode') {
    const m = /^(\d{1,10}):([1-9]\d{0,19})$/.exec(req.inode as string);
    if (m === null || Number(m[1]) > 0xffffffff || BigInt(m[2] as string) >= 1n << 64n)
      throw bad(`inode: must be "dev:ino" (kernel dev encoding, as events show it), got "${req.inode as string}"`);
    const value = `${Number(m[1])}:${m[2] as string}`;
    return { id: `inode:${value}`, type: 'inode', value, action, rule: ruleId(`inode:${value}`) };
  }
  const direction = req.direction ?? 'out';
  let address: string | undefined;
  if (kind === 'address') {
    address = canonicalCidr(req.address as string);
    if (address === undefined)
      throw bad(
        `address: "${req.address as string}" is not an IPv4/IPv6 address or CIDR with its host bits zero (e.g. 203.0.113.0/24)`,
      );
    if (address.includes('/') && (req.port !== undefined || req.protocol !== undefined))
      throw bad('a CIDR cannot be combined with port/protocol; use an address, or a port alone');
  }
  if (direction === 'in') {
    if (kind !== 'address' || req.port !== undefined || req.protocol !== undefined)
      throw bad('direction in takes an address or CIDR alone (inbound packets from it), without port or protocol');
    if (action !== 'AUDIT' && action !== 'BLOCK')
      throw bad(`action: ${action} cannot apply to inbound packets (no process to signal); use BLOCK or AUDIT`);
  }
  const port = req.port;
  const protocol = req.protocol;
  const suffix = `${port !== undefined ? `:${port}` : ''}${protocol !== undefined ? `/${protocol}` : ''}`;
  const id = `net:${direction}:${address ?? '*'}${suffix}`;
  return {
    id,
    type: kind,
    value: address ?? String(port),
    ...(port !== undefined && address !== undefined ? { port } : {}),
    ...(protocol !== undefined ? { protocol } : {}),
    direction,
    action,
    rule: ruleId(id),
  };
}

export const RULE_PREFIX = BLOCKLIST_RULE_PREFIX;
const EMPTY_POLICY = 'version: 1\nmode: audit\nrules: []\n';
function ruleId(entryId: string): string {
  return RULE_PREFIX + crypto.createHash('sha256').update(entryId).digest('hex').slice(0, 24);
}

interface RawRule {
  id?: unknown;
  match?: Record<string, unknown>;
  action?: unknown;
  fallback?: unknown;
}
interface RawPolicy {
  version: 1;
  mode: string;
  rules: RawRule[];
}

// The document of the last policy text seen: set by every change to the document it wrote (so the next change
// parses nothing), else parsed from the store's text (`policy apply` or PUT /policy wrote it). Rules are never
// mutated (a change builds a new list), so sharing them is safe.
let parsed: { text: string; mode: string; rules: readonly RawRule[] } | undefined;

/** A stored policy's text: JSON (what blocklist changes store; JSON is YAML too) parsed as JSON, else as YAML. */
function parseText(text: string): Partial<RawPolicy> | null {
  if (text.startsWith('{')) {
    try {
      return JSON.parse(text) as Partial<RawPolicy> | null;
    } catch {
      // YAML flow mapping, not JSON
    }
  }
  return parseYaml(text) as Partial<RawPolicy> | null;
}

function policyDoc(current: StoredPolicy | undefined): RawPolicy {
  if (current === undefined) return { version: 1, mode: 'enforce', rules: [] };
  if (parsed?.text !== current.text) {
    const doc = parseText(current.text);
    parsed = { text: current.text, mode: typeof doc?.mode === 'string' ? doc.mode : 'audit', rules: doc?.rules ?? [] };
  }
  return { version: 1, mode: parsed.mode, rules: [...parsed.rules] };
}

function ruleOf(entry: BlocklistEntry): RawRule {
  let match: Record<string, unknown>;
  if (entry.type === 'path') match = { path: entry.value };
  else if (entry.type === 'inode') {
    const [dev, ino] = entry.value.split(':') as [string, string];
    match = { inode: { dev: Number(dev), ino } };
  } else {
    match = {
      ...(entry.type === 'address' ? { address: entry.value } : { port: Number(entry.value) }),
      ...(entry.port !== undefined ? { port: entry.port } : {}),
      ...(entry.protocol !== undefined ? { protocol: entry.protocol } : {}),
      // `out` is the format's default: left out, so rules written before directions existed stay identical.
      ...(entry.direction === 'in' ? { direction: 'in' } : {}),
    };
  }
  return { id: entry.rule, match, action: entry.action };
}

/** The entry a blocklist rule of the stored policy holds (undefined for other rules). */
function entryOfRule(r: RawRule): BlocklistEntry | undefined {
  if (typeof r.id !== 'string' || !r.id.startsWith(RULE_PREFIX) || r.match === undefined) return undefined;
  const m = r.match;
  const action = r.action as BlocklistAction;
  const req: BlocklistRequest =
    typeof m.path === 'string'
      ? { path: m.path, action }
      : typeof m.inode === 'object' && m.inode !== null
        ? {
            inode: `${String((m.inode as { dev: unknown }).dev)}:${String((m.inode as { ino: unknown }).ino)}`,
            action,
          }
        : {
            ...(typeof m.address === 'string' ? { address: m.address } : {}),
            ...(typeof m.port === 'number' ? { port: m.port } : {}),
            ...(m.protocol === 'tcp' || m.protocol === 'udp' ? { protocol: m.protocol } : {}),
            ...(m.direction === 'in' ? { direction: 'in' as const } : {}),
            action,
          };
  try {
    const e = entryFromRequest(req);
    return e.rule === r.id ? e : undefined;
  } catch {
    return undefined;
  }
}

export interface BlocklistChange {
  readonly result: ApplyResult;
  /**
   * Settles when the change is in the policy store (written and fdatasync'ed, renamed, directory fsync'ed). Rejects
   * with AEGIS_ERR_POLICY_STORE when the store could not be written: the maps were then put back to the store's
   * policy (this change and any batched with it undone).
   */
  readonly durable: Promise<void>;
}

export interface BlocklistService {
  list(): BlocklistEntry[];
  /** Resolves once the change is in the kernel maps (its `durable` once it is in the store). */
  add(entry: BlocklistEntry, source: string): Promise<BlocklistChange>;
  /** `key`: an entry id, or a bare value (path, dev:ino, address/CIDR) naming exactly one entry. */
  remove(key: string, source: string): Promise<BlocklistChange & { readonly entry: BlocklistEntry }>;
  /**
   * Run `fn` (PUT /api/v1/policy, rollback: a synchronous write of the store) holding the store's lock, once every
   * blocklist change is in the store. Rejects with 503 AEGIS_ERR_POLICY_LOCKED when the lock stays held elsewhere.
   */
  exclusive<T>(fn: () => T): Promise<T>;
  /** The blocklist rules of the current policy that `text` does not define, appended (PUT /policy keeps them). */
  carryOver(text: string): { text: string; carried: number };
  /** Resolves once every change made so far is in the store or failed (before another writer of the store runs). */
  settled(): Promise<void>;
}

/** Run `fn` with a policy engine over the sensor's maps and its store (the store read alone: cheaper than show()). */
export type WithPolicy = <T>(fn: (engine: PolicyEngine, store: PolicyStore) => T) => T;

/**
 * A change is written into the kernel maps first, synchronously inside the request (the maps are what enforces;
 * ~0.3 ms), then persisted: the policy store's one file, asynchronously (the event loop keeps serving), group
 * committed (changes made while a store write is in flight are written together by the next one, the newest state
 * once). The response waits for the store and the audit record (written concurrently, src/daemon/api/server.ts),
 * so a 2xx means both are on disk.
 *
 * Kernel first, and what a crash leaves (the sensor re-applies the store at start, so after a restart the kernel
 * holds exactly what the store holds):
 * - crash after the map write, before the store's rename: the store has the old policy; after restart the change is
 *   gone from the kernel too. The client got no 2xx (the connection broke) and sends again. The audit record, written
 *   concurrently, may already say `success` for it: a `daemon.start` with no `daemon.stop` before it marks the crash,
 *   and `policy show` the generation in force.
 * - crash after the store's rename, before the audit fsync: the change is in force after restart; the client got no
 *   2xx. (The same window as before this order; closed only by writing the audit record before the kernel change.)
 * - store write fails (disk full, read-only): the maps are put back to the store's policy, the request gets 500
 *   AEGIS_ERR_POLICY_STORE and a `failure` audit record. Never does the store claim an entry the kernel lacks.
 * Store first would add the store's fdatasync (1–3 ms here) before the kernel sees the change.
 */
export function createBlocklistService(withPolicy: WithPolicy): BlocklistService {
  const entries = (doc: RawPolicy): BlocklistEntry[] =>
    doc.rules.map(entryOfRule).filter((e): e is BlocklistEntry => e !== undefined);

  // The policy in force as this service knows it: ahead of the store while a write is queued or in flight, else
  // the store's current.json (re-read when it is another file: `aegisbpf policy apply` or PUT /policy wrote it).
  let memory: StoredPolicy | undefined;
  let disk: { stored: StoredPolicy | undefined; version: string } | undefined;
  let inFlight = false;
  interface Waiter {
    resolve(): void;
    reject(err: unknown): void;
  }
  let queued: Waiter[] = [];
  let idle: (() => void)[] = [];
  const unpersisted = (): boolean => inFlight || queued.length > 0;
  const current = (store: PolicyStore): StoredPolicy | undefined => {
    if (unpersisted()) return memory;
    const version = store.currentVersion();
    if (disk?.version !== version) disk = { stored: store.current(), version };
    return disk.stored;
  };

  const flush = (store: PolicyStore): void => {
    if (inFlight || queued.length === 0) return;
    const batch = queued;
    queued = [];
    const snapshot = memory as StoredPolicy;
    inFlight = true;
    store.persist(snapshot).then(
      () => {
        inFlight = false;
        disk = { stored: snapshot, version: store.currentVersion() };
        // Held across store writes without a pause (changes keep arriving): keep the lock from looking stale.
        if (heldLock !== undefined && Date.now() - heldSince > 1000) {
          heldLock.refresh();
          heldSince = Date.now();
        }
        for (const w of batch) w.resolve();
        flush(store);
        settle();
      },
      (err: unknown) => {
        inFlight = false;
        // Every change not on disk is undone: the kernel goes back to what the store holds.
        const failed = [...batch, ...queued];
        queued = [];
        disk = undefined;
        let undo = 'the kernel maps were put back to the stored policy';
        try {
          withPolicy((engine, s) => {
            if (engine.restore() === undefined) engine.applyToKernel(EMPTY_POLICY, 'blocklist undo', undefined);
            memory = s.current();
          });
        } catch (undoErr) {
          undo = `putting the kernel maps back failed too (${(undoErr as Error).message}); apply a known-good policy`;
        }
        const e = new AegisError(
          'AEGIS_ERR_POLICY_STORE',
          `the policy store ${store.dir} could not be written (${(err as Error).message}); ${undo}`,
          { cause: err },
        );
        for (const w of failed) w.reject(e);
        settle();
      },
    );
  };
  const settle = (): void => {
    if (unpersisted() || acquiring) return;
    // Everything changed is on disk: the store's lock goes back (the `policy` command may be waiting for it).
    heldLock?.release();
    heldLock = undefined;
    const waiting = idle;
    idle = [];
    for (const f of waiting) f();
  };

  // The store's lock file, held from the first change read from the store until every change is on disk, so that
  // `aegisbpf policy apply|rollback` (which holds it around its own read-modify-write) neither writes over a change
  // it did not see nor has its policy written over. Waited for without blocking the event loop; operations arriving
  // meanwhile wait in order. At most LOCK_WAIT_MILLIS (5 s), then 503 AEGIS_ERR_POLICY_LOCKED and nothing changed.
  let heldLock: FileLockHandle | undefined;
  let heldSince = 0;
  let acquiring = false;
  let lockWaiters: { run(): void; fail(err: unknown): void }[] = [];
  let theStore: PolicyStore | undefined;
  const storeOf = (): PolicyStore => (theStore ??= withPolicy((_engine, store) => store));
  const locked = <T>(fn: () => T): Promise<T> =>
    new Promise<T>((resolve, reject) => {
      const run = (): void => {
        try {
          resolve(fn());
        } catch (err) {
          reject(err instanceof Error ? err : new Error(String(err)));
        }
      };
      if (heldLock !== undefined && lockWaiters.length === 0) {
        run();
        settle(); // a refused operation changed nothing: with nothing else unpersisted, the lock goes back
        return;
      }
      lockWaiters.push({ run, fail: reject });
      if (acquiring) return;
      acquiring = true;
      storeOf()
        .acquireLock()
        .then(
          (lock) => {
            acquiring = false;
            heldLock = lock;
            heldSince = Date.now();
            const ops = lockWaiters;
            lockWaiters = [];
            for (const op of ops) op.run();
            settle();
          },
          (err: unknown) => {
            acquiring = false;
            const ops = lockWaiters;
            lockWaiters = [];
            // Held elsewhere past the wait: 503, try again. The lock file cannot be made: the store cannot be written.
            const e =
              isAegisError(err) && err.code === 'AEGIS_ERR_POLICY_LOCKED'
                ? new ApiError(503, 'AEGIS_ERR_POLICY_LOCKED', err.message, { 'retry-after': '1' })
                : new AegisError(
                    'AEGIS_ERR_POLICY_STORE',
                    `the policy store ${storeOf().dir} could not be locked for writing (${(err as Error).message}); nothing was changed`,
                    { cause: err },
                  );
            for (const op of ops) op.fail(e);
            settle();
          },
        );
    });
  const RETRY = Symbol('retry');

  /** Kernel now, store later: the caller awaits `durable`. */
  const change = (
    engine: PolicyEngine,
    store: PolicyStore,
    base: StoredPolicy | undefined,
    doc: RawPolicy,
    source: string,
  ): BlocklistChange => {
    // Stored as JSON (a YAML document too, which every reader of the store parses): 2 µs for one rule where YAML's
    // stringify took ~0.25 ms (6 ms at 100 rules), and the engine validates `doc` itself instead of parsing the text.
    const text = JSON.stringify(doc);
    const { result, stored } = engine.applyToKernel(text, source, base, doc);
    memory = stored;
    parsed = { text, mode: doc.mode, rules: doc.rules };
    const durable = new Promise<void>((resolve, reject) => queued.push({ resolve, reject }));
    flush(store);
    return { result, durable };
  };

  return {
    list: () => withPolicy((_engine, store) => entries(policyDoc(current(store)))),
    add: (entry, source) =>
      locked(() =>
        withPolicy((engine, store) => {
          const base = current(store);
          const doc = policyDoc(base);
          if (doc.rules.some((r) => r.id === entry.rule))
            throw new ApiError(409, 'AEGIS_ERR_API_CONFLICT', `${entry.id} is already on the blocklist`);
          doc.rules.push(ruleOf(entry));
          return change(engine, store, base, doc, source);
        }),
      ),
    remove: (key, source) =>
      locked(() =>
        withPolicy((engine, store) => {
          const base = current(store);
          const doc = policyDoc(base);
          const all = entries(doc);
          const find = (k: string): BlocklistEntry[] => {
            const byId = all.filter((e) => e.id === k);
            return byId.length > 0 ? byId : all.filter((e) => e.value === k);
          };
          let hits = find(key);
          // Addresses are stored canonical (`fde5:a1b::2`): another spelling of one (`fde5:0a1b::2`) names it too.
          const canonical = hits.length === 0 ? canonicalAddressKey(key) : undefined;
          if (canonical !== undefined && canonical !== key) hits = find(canonical);
          if (hits.length === 0) throw new ApiError(404, 'AEGIS_ERR_API_NOT_FOUND', `no blocklist entry ${key}`);
          if (hits.length > 1)
            throw bad(`"${key}" names ${hits.length} entries (${hits.map((e) => e.id).join(', ')}); give the entry id`);
          const entry = hits[0] as BlocklistEntry;
          doc.rules = doc.rules.filter((r) => r.id !== entry.rule);
          return { entry, ...change(engine, store, base, doc, source) };
        }),
      ),
    carryOver: (text) => withPolicy((_engine, store) => keepBlocklistRules(text, current(store))),
    async exclusive(fn) {
      // Holding the lock with nothing of this service unpersisted: a change still being stored is seen, not
      // written over (the store's generation and the carried-over entries are the stored ones).
      for (;;) {
        await new Promise<void>((resolve) => {
          idle.push(resolve);
          settle();
        });
        const r = await locked(() => (unpersisted() ? RETRY : fn()));
        if (r !== RETRY) return r;
      }
    },
    settled: () =>
      new Promise<void>((resolve) => {
        idle.push(resolve);
        settle();
      }),
  };
}

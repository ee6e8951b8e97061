/**
 * Loading the sensor object for a backend. Pairs with native/src/bpf-object.cc (the libbpf lifecycle); this file
 * decides what to configure: which programs load (./abi.ts PROGRAMS), rodata, ring size, pin paths, and where the
 * cgroup programs attach.
 *
 * Order matters and is libbpf's: everything is configured between open and load (rodata is frozen at load), and
 * programs attach only after the whole object loaded. LSM programs that the kernel refuses (EPERM on this CI
 * machine family) make the whole load fail, so `loadSensorObject` with backend `lsm` falls back to a fresh object in
 * `tracepoint` mode and says why.
 */
import fs from 'node:fs';
import path from 'node:path';
import type { NativeBinding, NativeBpfObject, NativeMap, NativeProgramStats } from '../native/binding';
import { NATIVE_PATHS } from '../native/binding';
import { SensorError, isNativeError } from '../native/errors';
import type { MapKey } from './abi';
import { MAPS, PROGRAMS, RODATA } from './abi';
import type { SensorBackend } from './event-mapper';
import type { NetInterface } from './interfaces';
import { POLICY_MAP_KEYS } from './policy/policy-compile';

/** Where `aegisbpf run` pins the maps unless the sensor source says otherwise (`pin_dir`, `pin: false`). */
export const DEFAULT_PIN_DIR = '/sys/fs/bpf/aegisbpf';

/**
 * Maps pinned when a pin directory is given: the policy maps and the config, which `aegisbpf policy` changes from
 * another process, and the kernel counters, which `aegisbpf stats`/`metrics` read when no daemon answers (after a
 * crash; a clean stop removes every pin). A sensor started again over pins left by a crash reuses them: its policy
 * and its counters carry on.
 */
export const PINNED_MAPS: readonly MapKey[] = ['config', 'stats', ...POLICY_MAP_KEYS];

export type SensorMaps = Readonly<Record<MapKey, NativeMap>>;

export interface SensorObjectOptions {
  readonly native: NativeBinding;
  readonly backend: SensorBackend;
  readonly objectPath?: string;
  /** Ring buffer size, bytes: a power of two >= page size (rounded up). */
  readonly ringBytes: number;
  /** Never signal or deny this tgid (the sensor itself). */
  readonly selfTgid: number;
  /** Report every connect, not only rule hits. */
  readonly connectAll: boolean;
  /** cgroup v2 directory the connect hooks attach to; undefined = no network hooks. */
  readonly cgroupAttachPath: string | undefined;
  /** bpffs directory for the policy maps; undefined = no pinning. */
  readonly pinDir: string | undefined;
  /** Runs the load and the attach steps (e.g. inside a span each); default: just runs them. */
  readonly phase?: PhaseRunner;
  /** Told about a pinned map that was removed because its layout is not this object's (see replaceStalePins). */
  readonly onStalePin?: (map: string, pinPath: string, mismatch: string) => void;
  /**
   * A load or attach failed: which program (from libbpf's log or the attach call), the error, the mode, and whether
   * it is final (`lsm` falls back to `tracepoint`; a `tracepoint` failure stops the sensor). The caller logs the
   * guide's `BPF program load failed` line.
   */
  readonly onLoadFailure?: (failure: LoadFailure) => void;
  /** The inbound (direction `in`) filter; undefined = not loaded. */
  readonly ingress?: IngressOptions;
}

/** Where the ingress program goes: see attachIngress. */
export interface IngressOptions {
  /** `auto`: XDP when it loads and attaches on every interface, cgroup_skb otherwise. */
  readonly mode: 'auto' | 'xdp' | 'cgroup_skb';
  /** The probe loaded an XDP program (src/sensor/feature-probe.ts). */
  readonly xdpLoads: boolean;
  /** The probe loaded a cgroup_skb program. */
  readonly cgroupSkbLoads: boolean;
  /** Interfaces for XDP, resolved to their index. */
  readonly interfaces: readonly { readonly name: string; readonly ifindex: number }[];
  /** Why `interfaces` is empty, when the caller knows (e.g. not the host's network namespace). */
  readonly noInterfacesReason?: string;
  /** cgroup v2 directory for the cgroup_skb fallback (the root: every local socket); undefined = no fallback. */
  readonly cgroupPath: string | undefined;
}

/** What the ingress program attached to. */
export interface IngressState {
  readonly hook: 'xdp' | 'cgroup_skb' | 'none';
  /** XDP: the interfaces; cgroup_skb: the cgroup directory. */
  readonly targets: readonly string[];
  /** XDP: the interfaces whose driver refused driver mode, attached in generic (skb) mode instead. */
  readonly generic: readonly string[];
  /** Why XDP was not used (or nothing was), when it was not. */
  readonly reason: string | undefined;
}

export interface LoadFailure {
  readonly program: string;
  readonly error: string;
  readonly backend: SensorBackend;
  readonly stage: string;
  readonly final: boolean;
}

/**
 * The program a failed load or attach is about: libbpf names it in its log (`prog 'NAME': BPF program load failed:
 * …`, `prog 'NAME': failed to load`); an attach failure is about the program being attached. Else `unknown`.
 */
export function failedProgram(err: unknown, attaching: string | undefined): string {
  if (attaching !== undefined) return attaching;
  const log = isNativeError(err) ? (err.log ?? '') : '';
  const text = `${log}\n${(err as Error).message ?? ''}`;
  const m = /prog '([^']+)': (?:BPF program load failed|failed to load)/.exec(text) ?? /prog '([^']+)'/.exec(text);
  return m?.[1] ?? 'unknown';
}

/** Wraps one lifecycle step: `load` (verifier, maps created or reused from pins) or `attach` (every program). */
export type PhaseRunner = <T>(name: 'load' | 'attach', fn: () => T) => T;

const runPhase: PhaseRunner = (_name, fn) => fn();

export interface SensorObject {
  readonly backend: SensorBackend;
  readonly maps: SensorMaps;
  /** Programs attached, by name. */
  readonly attached: readonly string[];
  /** Why the requested backend was not used, when it fell back. */
  readonly fallbackReason: string | undefined;
  /** The inbound filter, when it was requested (its programs are loaded at start, attached by reconcileIngress). */
  readonly ingress: IngressState | undefined;
  /**
   * Bring the inbound filter's attachment in line: `wanted` (a `direction: in` rule is in the maps) and not attached
   * → attach (XDP on `interfaces`, cgroup_skb when XDP cannot cover them all, as at start); attached with XDP →
   * also onto interfaces of `interfaces` it is not on yet (one created after start), and off those that are gone;
   * not `wanted` → detach (no program in the packet path while no rule needs one). Returns true when the state
   * changed. A no-op when no ingress was requested.
   */
  reconcileIngress(wanted: boolean, interfaces: readonly NetInterface[]): boolean;
  readonly ringBytes: number;
  /** Per-program run time and count (advance only while kernel.bpf_stats_enabled = 1). */
  programStats(): NativeProgramStats[];
  /** Detach every program (idempotent); maps stay readable until destroy(). */
  detachAll(): void;
  /** Detach everything and free the object (idempotent). Pinned maps stay unless unpin is true. */
  destroy(options?: { readonly unpin?: boolean }): void;
}

/** Smallest power of two >= max(n, 4096). */
export function ringSize(n: number): number {
  let size = 4096;
  while (size < n) size *= 2;
  return size;
}

function u32(n: number): Buffer {
  const b = Buffer.alloc(4);
  b.writeUInt32LE(n >>> 0);
  return b;
}

function programsFor(backend: SensorBackend, withCgroup: boolean): string[] {
  return [
    ...PROGRAMS.common,
    ...(backend === 'lsm' ? PROGRAMS.lsm : PROGRAMS.tracepoint),
    ...(withCgroup ? PROGRAMS.cgroup : []),
  ];
}

/** The state while no `direction: in` rule exists: the programs are loaded, nothing is attached. */
export const INGRESS_IDLE_REASON = 'idle: no direction: in rule (attaches when one is applied)';

/** linux/if_link.h: attach XDP in generic (skb) mode. */
const XDP_FLAGS_SKB_MODE = 2;

function ingressPrograms(ingress: IngressOptions | undefined): string[] {
  if (ingress === undefined) return [];
  const out: string[] = [];
  if (ingress.mode !== 'cgroup_skb' && ingress.xdpLoads) out.push('aegis_ingress_xdp');
  if (ingress.mode !== 'xdp' && ingress.cgroupSkbLoads && ingress.cgroupPath !== undefined)
    out.push('aegis_ingress_skb');
  return out;
}

/** XDP on one interface: driver mode, else generic mode. Throws naming the interface and both errors. */
function attachXdp(obj: NativeBpfObject, itf: NetInterface): { id: number; generic: boolean } {
  try {
    return { id: obj.attach('aegis_ingress_xdp', { ifindex: itf.ifindex }), generic: false };
  } catch (err) {
    // The kernel tried driver mode (the driver has XDP) and the driver refused, e.g. virtio_net while the
    // host does receive offloads (EOPNOTSUPP): generic mode runs the same program after the skb exists.
    try {
      return {
        id: obj.attach('aegis_ingress_xdp', { ifindex: itf.ifindex, xdpFlags: XDP_FLAGS_SKB_MODE }),
        generic: true,
      };
    } catch (err2) {
      throw new Error(
        `XDP attach on ${itf.name} failed: ${describe(err).message}; generic mode: ${describe(err2).message}`,
      );
    }
  }
}

/**
 * Attach the ingress program: XDP on every interface, or, when XDP is not loaded, has no interface, or any interface
 * refuses it (another XDP program already there: EBUSY), cgroup_skb ingress on the cgroup directory. All XDP links
 * or none: a filter on some interfaces only would pass blocked traffic arriving on the others. A failure here never
 * stops the sensor; the state says what is attached and why not XDP.
 */
function attachIngress(
  obj: NativeBpfObject,
  ingress: IngressOptions,
  loaded: readonly string[],
): {
  state: IngressState;
  linkIds: number[];
  programs: string[];
} {
  let reason: string | undefined;
  if (ingress.mode === 'cgroup_skb') reason = 'ingress.mode is cgroup_skb';
  else if (!loaded.includes('aegis_ingress_xdp')) reason = 'XDP programs do not load on this kernel';
  else if (ingress.interfaces.length === 0) reason = ingress.noInterfacesReason ?? 'no interface to attach XDP to';
  else {
    const ids: number[] = [];
    const generic: string[] = [];
    try {
      for (const itf of ingress.interfaces) {
        const one = attachXdp(obj, itf);
        ids.push(one.id);
        if (one.generic) generic.push(itf.name);
      }
      return {
        state: { hook: 'xdp', targets: ingress.interfaces.map((i) => i.name), generic, reason: undefined },
        linkIds: ids,
        programs: ['aegis_ingress_xdp'],
      };
    } catch (err) {
      for (const id of ids) obj.detach(id);
      reason = (err as Error).message;
    }
  }
  if (ingress.mode === 'xdp' || !loaded.includes('aegis_ingress_skb') || ingress.cgroupPath === undefined)
    return {
      state: {
        hook: 'none',
        targets: [],
        generic: [],
        reason: `${reason}${ingress.mode === 'xdp' ? ' (ingress.mode is xdp: no fallback)' : '; cgroup_skb is unavailable too'}`,
      },
      linkIds: [],
      programs: [],
    };
  try {
    const id = obj.attach('aegis_ingress_skb', { cgroupPath: ingress.cgroupPath });
    return {
      state: { hook: 'cgroup_skb', targets: [ingress.cgroupPath], generic: [], reason },
      linkIds: [id],
      programs: ['aegis_ingress_skb'],
    };
  } catch (err) {
    return {
      state: {
        hook: 'none',
        targets: [],
        generic: [],
        reason: `${reason}; cgroup_skb attach failed: ${describe(err).message}`,
      },
      linkIds: [],
      programs: [],
    };
  }
}

function describe(err: unknown): { message: string; errno: number | undefined; log: string | undefined } {
  if (isNativeError(err)) return { message: err.message, errno: err.errno, log: err.log };
  return { message: (err as Error).message, errno: undefined, log: undefined };
}

/**
 * Pins left by a sensor of another layout (an older aegisbpf that crashed or was killed, then upgraded) cannot be
 * reused: libbpf refuses a pinned map whose type, key size, value size or capacity differ from the object's, and the
 * load fails. Such a pin is removed before the load so the object creates a fresh map: what it held is not lost that
 * matters (the policy is re-applied from the policy store at start; the counters start again from zero), and the
 * caller logs each one. A pin that matches is left alone and reused.
 */
function replaceStalePins(
  native: NativeBinding,
  obj: NativeBpfObject,
  pinDir: string,
  onStale: SensorObjectOptions['onStalePin'],
): void {
  const defs = new Map(obj.maps().map((m) => [m.name, m]));
  for (const key of PINNED_MAPS) {
    const name = MAPS[key];
    const pinPath = path.join(pinDir, name);
    if (!fs.existsSync(pinPath)) continue;
    const want = defs.get(name);
    if (want === undefined) continue;
    let mismatch: string | undefined;
    let pinned: NativeMap | undefined;
    try {
      pinned = native.openPinnedMap(pinPath);
      const diffs: string[] = [];
      if (pinned.type !== want.type) diffs.push(`type ${pinned.type}, expected ${want.type}`);
      if (pinned.keySize !== want.keySize) diffs.push(`key size ${pinned.keySize}, expected ${want.keySize}`);
      if (pinned.valueSize !== want.valueSize) diffs.push(`value size ${pinned.valueSize}, expected ${want.valueSize}`);
      if (pinned.maxEntries !== want.maxEntries)
        diffs.push(`max_entries ${pinned.maxEntries}, expected ${want.maxEntries}`);
      if (diffs.length > 0) mismatch = diffs.join(', ');
    } finally {
      pinned?.close();
    }
    if (mismatch === undefined) continue;
    fs.rmSync(pinPath);
    onStale?.(name, pinPath, mismatch);
  }
}

function loadOnce(options: SensorObjectOptions, backend: SensorBackend): SensorObject {
  const { native } = options;
  const objectPath = options.objectPath ?? NATIVE_PATHS.sensorObject;
  const withCgroup = options.cgroupAttachPath !== undefined;
  const wanted = new Set(programsFor(backend, withCgroup));
  const ingressWanted = ingressPrograms(options.ingress);
  let ingressState: IngressState | undefined;
  const ringBytes = ringSize(options.ringBytes);
  let obj: NativeBpfObject | undefined;
  let stage = 'open';
  const links: string[] = [];
  const linkIds: number[] = [];
  let attaching: string | undefined;
  try {
    obj = new native.BpfObject(objectPath);
    for (const p of obj.programs()) obj.setAutoload(p.name, wanted.has(p.name) || ingressWanted.includes(p.name));
    obj.setMaxEntries(MAPS.events, ringBytes);
    obj.setRodata(RODATA.selfTgid, u32(options.selfTgid));
    obj.setRodata(RODATA.connectAll, u32(options.connectAll ? 1 : 0));
    if (options.pinDir !== undefined) {
      replaceStalePins(native, obj, options.pinDir, options.onStalePin);
      for (const key of PINNED_MAPS) obj.setPinPath(MAPS[key], path.join(options.pinDir, MAPS[key]));
    }
    const phase = options.phase ?? runPhase;
    const opened = obj;
    stage = 'load';
    phase('load', () => opened.load());
    stage = 'attach';
    phase('attach', () => {
      for (const name of wanted) {
        attaching = name;
        const isCgroup = (PROGRAMS.cgroup as readonly string[]).includes(name);
        linkIds.push(opened.attach(name, isCgroup ? { cgroupPath: options.cgroupAttachPath } : undefined));
        links.push(name);
      }
      attaching = undefined;
      // The ingress programs are loaded (verified) now, attached lazily: reconcileIngress.
      if (options.ingress !== undefined)
        ingressState = { hook: 'none', targets: [], generic: [], reason: INGRESS_IDLE_REASON };
    });
  } catch (err) {
    obj?.destroy();
    const d = describe(err);
    throw new SensorError('AEGIS_ERR_SENSOR_LOAD', `${backend} mode: ${stage} failed: ${d.message}`, {
      cause: err,
      ...(d.errno !== undefined ? { errno: d.errno } : {}),
      details: { backend, attached: links, log: d.log, stage, program: failedProgram(err, attaching) },
    });
  }
  const loaded = obj;
  const maps = Object.fromEntries(
    (Object.keys(MAPS) as MapKey[]).map((k) => [k, loaded.map(MAPS[k])]),
  ) as unknown as SensorMaps;
  let destroyed = false;
  // The inbound filter's links: one per XDP interface (by ifindex), or the one cgroup_skb link.
  let xdpLinks = new Map<number, { readonly itf: NetInterface; readonly id: number; readonly generic: boolean }>();
  let skbLink: number | undefined;
  const detachIngress = (): void => {
    for (const l of xdpLinks.values()) loaded.detach(l.id);
    xdpLinks = new Map();
    if (skbLink !== undefined) loaded.detach(skbLink);
    skbLink = undefined;
  };
  const xdpState = (): IngressState => {
    const list = [...xdpLinks.values()];
    return {
      hook: 'xdp',
      targets: list.map((l) => l.itf.name),
      generic: list.filter((l) => l.generic).map((l) => l.itf.name),
      reason: undefined,
    };
  };
  const attachAll = (interfaces: readonly NetInterface[]): IngressState => {
    const ing = options.ingress as IngressOptions;
    const r = attachIngress(loaded, { ...ing, interfaces }, ingressWanted);
    if (r.state.hook === 'xdp')
      r.linkIds.forEach((id, i) => {
        const itf = interfaces[i] as NetInterface;
        xdpLinks.set(itf.ifindex, { itf, id, generic: r.state.generic.includes(itf.name) });
      });
    else if (r.state.hook === 'cgroup_skb') skbLink = r.linkIds[0];
    return r.state;
  };
  const same = (a: IngressState | undefined, b: IngressState | undefined): boolean =>
    JSON.stringify(a) === JSON.stringify(b);
  return {
    backend,
    maps,
    attached: links,
    fallbackReason: undefined,
    get ingress() {
      return ingressState;
    },
    ringBytes,
    programStats: () => (destroyed ? [] : loaded.programStats()),
    reconcileIngress(wanted, interfaces) {
      if (destroyed || options.ingress === undefined) return false;
      const before = ingressState;
      if (!wanted) {
        detachIngress();
        ingressState = { hook: 'none', targets: [], generic: [], reason: INGRESS_IDLE_REASON };
      } else if (xdpLinks.size === 0 && skbLink === undefined) {
        ingressState = attachAll(interfaces);
      } else if (xdpLinks.size > 0) {
        const want = new Map(interfaces.map((i) => [i.ifindex, i]));
        for (const [ifindex, l] of xdpLinks)
          if (!want.has(ifindex)) {
            loaded.detach(l.id); // the interface is gone (its link with it) or no longer listed
            xdpLinks.delete(ifindex);
          }
        try {
          for (const itf of want.values())
            if (!xdpLinks.has(itf.ifindex)) {
              const one = attachXdp(loaded, itf);
              xdpLinks.set(itf.ifindex, { itf, id: one.id, generic: one.generic });
            }
          ingressState = xdpState();
        } catch {
          // A new interface refuses XDP: all interfaces or none, so the filter moves to cgroup_skb (auto) as at
          // start; attachAll says why.
          detachIngress();
          ingressState = attachAll(interfaces);
        }
        if (xdpLinks.size === 0 && skbLink === undefined && ingressState.hook === 'xdp')
          ingressState = { hook: 'none', targets: [], generic: [], reason: 'no interface to attach XDP to' };
      }
      return !same(before, ingressState);
    },
    detachAll() {
      if (destroyed) return;
      for (const id of linkIds.splice(0)) loaded.detach(id);
      detachIngress();
    },
    destroy(opts) {
      if (destroyed) return;
      destroyed = true;
      loaded.destroy();
      if (opts?.unpin === true && options.pinDir !== undefined) {
        for (const key of PINNED_MAPS) fs.rmSync(path.join(options.pinDir, MAPS[key]), { force: true });
      }
    },
  };
}

/**
 * Open, configure, load and attach. With backend `lsm`, a load or attach failure falls back to `tracepoint` (the
 * reason is kept in `fallbackReason`); a `tracepoint` failure is final.
 */
export function loadSensorObject(options: SensorObjectOptions): SensorObject {
  const report = (err: unknown, backend: SensorBackend, final: boolean): void => {
    const details = err instanceof SensorError ? (err.details as { stage?: unknown; program?: unknown }) : {};
    options.onLoadFailure?.({
      program: typeof details?.program === 'string' ? details.program : 'unknown',
      error: (err as Error).message,
      backend,
      stage: typeof details?.stage === 'string' ? details.stage : 'load',
      final,
    });
  };
  const attempt = (backend: SensorBackend, final: boolean): SensorObject => {
    try {
      return loadWithRetry(options, backend);
    } catch (err) {
      report(err, backend, final);
      throw err;
    }
  };
  if (options.backend === 'tracepoint') return attempt('tracepoint', true);
  try {
    return attempt('lsm', false);
  } catch (err) {
    const reason = `LSM mode could not start (${(err as Error).message}); using tracepoint mode`;
    const fallback = attempt('tracepoint', true);
    return { ...fallback, fallbackReason: reason };
  }
}

const EAGAIN = 11;
const LOAD_ATTEMPTS = 5;

/*
 * The verifier gives up with EAGAIN when a signal arrives while it works (a profiler's SIGPROF, a SIGCHLD storm);
 * libbpf retries a few times per program, but a busy process can still see it. EAGAIN is transient: try the whole
 * load again a few times before calling it a failure. Any other errno is final.
 */
function loadWithRetry(options: SensorObjectOptions, backend: SensorBackend): SensorObject {
  for (let attempt = 1; ; attempt++) {
    try {
      return loadOnce(options, backend);
    } catch (err) {
      if (!(err instanceof SensorError) || err.errno !== EAGAIN || attempt >= LOAD_ATTEMPTS) throw err;
    }
  }
}

/**
 * The eBPF sensor: probe -> load/attach (./bpf-object.ts) -> ring reader -> decoder registry -> event mapper ->
 * `onEvents` once per batch. Policy maps are exposed for the policy engine (./policy/).
 *
 * Lifecycle: createSensor() loads and attaches synchronously (so a failure is an exception at the call site, with
 * the kernel's errno), start() begins polling and emits the `sensor` started/degraded events, stop() detaches,
 * drains what is left in the ring and frees everything. stop() is idempotent and safe after a failed start.
 */
import os from 'node:os';
import type { NativeBinding, NativeProgramStats, NativeRingReaderStats } from '../native/binding';
import { loadNative } from '../native/binding';
import type { BootClock } from './boot-clock';
import { createBootClock } from './boot-clock';
import type { IngressOptions, IngressState, PhaseRunner, SensorMaps, SensorObject } from './bpf-object';
import { loadSensorObject } from './bpf-object';
import { createCgroupResolver } from './cgroup-resolver';
import type { DecodeStats } from './decoder-registry';
import { createDecoderRegistry } from './decoder-registry';
import { SensorError } from '../native/errors';
import type { EventMapper, RuleNames, SensorBackend } from './event-mapper';
import { createEventMapper } from './event-mapper';
import type { AegisEvent } from '../event/types';
import type { FeatureReport } from './feature-probe';
import { probeFeatures } from './feature-probe';
import { ensureBpffs, ensureTracefs } from './fs-mounts';
import type { NetInterface } from './interfaces';
import { defaultInterfaces, foreignNetnsReason, resolveInterfaces } from './interfaces';
import { onPolicyWritten } from './policy/policy-engine';
import { readConfig } from './policy/policy-maps';
import type { KernelStats } from './kernel-stats';
import { readKernelStats } from './kernel-stats';
import type { ProcessCacheStats } from './process-cache';
import { createProcessCache } from './process-cache';
import type { RingReader } from './ring-reader';
import { createRingReader } from './ring-reader';
import type { DecodedRecord } from './records';
import { RECORD_DECODERS } from './records';

export type SensorLogLevel = 'debug' | 'info' | 'warn' | 'error';
export type SensorLog = (level: SensorLogLevel, message: string, fields?: Readonly<Record<string, unknown>>) => void;

export interface SensorOptions {
  /** Receives events, once per ring batch. Must not throw. */
  readonly onEvents: (events: AegisEvent[]) => void;
  /** Raw decoded records, before mapping (benchmarks, tests). */
  readonly onRecords?: (records: readonly DecodedRecord[]) => void;
  /** Raw ring batches (pooled buffer: copy what you keep). For recording benchmark input. */
  readonly onRawBatch?: (buffer: Buffer, byteLength: number, recordCount: number) => void;
  readonly native?: NativeBinding;
  /** A probe already done (health ran first); default: probe now. */
  readonly features?: FeatureReport;
  /** Force a backend; default the probe's choice. */
  readonly backend?: SensorBackend;
  /** Ring buffer bytes (power of two, >= 4096). Default 8 MiB. */
  readonly ringBytes?: number;
  /** Pooled batch buffer bytes. Default 1 MiB. */
  readonly batchBytes?: number;
  /** Minimum microseconds between ring drains (wakeup coalescing; bounds added latency). See ring-reader.ts. */
  readonly coalesceMicros?: number;
  /** cgroup v2 directory for the connect hooks; default the cgroup2 mount root; null = no network hooks. */
  readonly cgroupAttachPath?: string | null;
  /** Pin the policy maps here (bpffs) so `aegisbpf policy` reaches them; default: no pinning. */
  readonly pinDir?: string;
  /** Wraps the load and attach steps (the daemon runs each in a span). */
  readonly phase?: PhaseRunner;
  /** Report every connect, not only rule hits. Default true. */
  readonly connectAll?: boolean;
  /**
   * The inbound (direction `in`) filter: `mode` auto (XDP, cgroup_skb when XDP does not load or attach), xdp, or
   * cgroup_skb; `interfaces` for XDP (default: every up, non-loopback interface, ./interfaces.ts). Undefined or null:
   * no ingress program.
   */
  readonly ingress?: { readonly mode: 'auto' | 'xdp' | 'cgroup_skb'; readonly interfaces?: readonly string[] } | null;
  readonly host?: string;
  readonly processCacheMax?: number;
  readonly rules?: RuleNames;
  readonly log?: SensorLog;
  /** How often kernel counters are checked for new drops, ms. Default 1000; 0 disables. */
  readonly statsIntervalMillis?: number;
  /** How often records that do not wake the reader (FORK, EXIT) are collected, ms. Default LAZY_DRAIN_MILLIS. */
  readonly lazyDrainMillis?: number;
  readonly clock?: BootClock;
  /**
   * Describes the policy of a generation seen in the kernel config map, for the `policy_applied` event the sensor
   * emits whenever the generation changes (at start, and when `aegisbpf policy` changes it from another process).
   */
  readonly describePolicy?: (generation: number) => { readonly policy?: string; readonly message: string } | undefined;
}

export interface SensorStats {
  readonly backend: SensorBackend;
  readonly kernel: KernelStats;
  readonly decode: DecodeStats;
  readonly reader: NativeRingReaderStats;
  readonly processCache: ProcessCacheStats;
  readonly eventsEmitted: number;
}

export interface Sensor {
  readonly backend: SensorBackend;
  readonly features: FeatureReport;
  /** Set when the requested/probed backend could not be used. */
  readonly fallbackReason: string | undefined;
  /** What the inbound filter attached to (undefined: not requested). */
  readonly ingress: IngressState | undefined;
  readonly maps: SensorMaps;
  readonly mapper: EventMapper;
  /** Kernel time -> wall time, as used for every event's `ts`. */
  readonly clock: BootClock;
  readonly ringBytes: number;
  start(): void;
  /** Stop polling (backpressure). The kernel counts drops when the ring fills. */
  pause(): void;
  resume(): void;
  /** Consume what is in the ring now, synchronously. */
  drain(): number;
  stats(): SensorStats;
  /** Kernel run time per program (needs kernel.bpf_stats_enabled = 1 to advance). */
  programStats(): NativeProgramStats[];
  /** Emit a `sensor` event through onEvents (policy changes, …). */
  emitStatus(
    status: string,
    message: string,
    extra?: { readonly policy?: string; readonly mode?: 'audit' | 'enforce' },
  ): void;
  stop(): void;
}

const noLog: SensorLog = () => undefined;

/**
 * How often the reader collects records that did not wake it (FORK and EXIT, see aegis_wakeup_flags in
 * bpf/include/aegis_core.h) when no urgent record carried them along: the most such a record waits.
 */
export const LAZY_DRAIN_MILLIS = 100;

export function createSensor(options: SensorOptions): Sensor {
  const log = options.log ?? noLog;
  const native = options.native ?? loadNative();
  const features = options.features ?? probeFeatures({ native });
  const probed = features.backend;
  if (probed === undefined && options.backend === undefined) {
    throw new SensorError(
      'AEGIS_ERR_SENSOR_UNAVAILABLE',
      `the eBPF sensor cannot run here: ${features.reasons.join('; ')}`,
    );
  }
  const requested: SensorBackend = options.backend ?? (probed as SensorBackend);
  if (
    options.backend === undefined &&
    requested === 'tracepoint' &&
    !features.lsm.ok &&
    features.lsm.errno !== undefined
  )
    // The probe's LSM program was refused, so LSM mode is not even tried: the guide's line, for the probe program.
    log('warn', 'BPF program load failed', {
      error: features.lsm.detail,
      program: 'probe_lsm',
      backend: 'lsm',
      stage: 'probe',
      fallback: 'tracepoint',
    });
  const cgroupAttachPath =
    options.cgroupAttachPath === null
      ? undefined
      : (options.cgroupAttachPath ?? (features.cgroupConnect.ok ? features.cgroupV2.path : undefined));
  if (options.pinDir !== undefined) ensureBpffs(native, options.pinDir);
  // tp/ programs resolve their tracepoint ids through tracefs (a fallback from lsm mode needs it too)
  ensureTracefs(native);

  let ingress: IngressOptions | undefined;
  let missingInterfaces: string[] = [];
  // The interfaces for XDP now: read again at every rescan, so an interface created (or brought up) after start is
  // covered too. Configured names are resolved again (one created later is attached when it appears).
  let ingressInterfaces = (): NetInterface[] => [];
  if (options.ingress !== undefined && options.ingress !== null) {
    const configured = options.ingress.interfaces;
    let interfaces: NetInterface[];
    let noInterfacesReason: string | undefined;
    if (configured === undefined) {
      noInterfacesReason = foreignNetnsReason();
      interfaces = noInterfacesReason === undefined ? defaultInterfaces() : [];
      ingressInterfaces = () => (noInterfacesReason === undefined ? defaultInterfaces() : []);
    } else {
      const r = resolveInterfaces(configured);
      interfaces = r.found;
      missingInterfaces = r.missing;
      ingressInterfaces = () => resolveInterfaces(configured).found;
    }
    ingress = {
      mode: options.ingress.mode,
      xdpLoads: features.xdp.ok,
      cgroupSkbLoads: features.cgroupSkb.ok,
      interfaces,
      ...(noInterfacesReason !== undefined ? { noInterfacesReason } : {}),
      // The root: every local socket, whichever cgroup its owner is in.
      cgroupPath: features.cgroupV2.path,
    };
  }

  const object: SensorObject = loadSensorObject({
    native,
    backend: requested,
    ringBytes: options.ringBytes ?? 8 << 20,
    selfTgid: process.pid,
    connectAll: options.connectAll ?? true,
    cgroupAttachPath,
    pinDir: options.pinDir,
    ...(ingress !== undefined ? { ingress } : {}),
    onStalePin: (map, pinPath, mismatch) =>
      log(
        'warn',
        `The map pinned at ${pinPath} has another layout (${mismatch}), left by an earlier aegisbpf version; it was replaced by a new one. The stored policy is applied again; the kernel counters start from zero.`,
        { map },
      ),
    // The line the SIEM guide's Loki panels look for (`|= "BPF program load failed"`): an error when the sensor
    // cannot start, a warning when LSM mode falls back to tracepoint mode.
    onLoadFailure: (f) =>
      log(f.final ? 'error' : 'warn', 'BPF program load failed', {
        error: f.error,
        program: f.program,
        backend: f.backend,
        stage: f.stage,
        ...(f.final ? {} : { fallback: 'tracepoint' }),
      }),
    ...(options.phase !== undefined ? { phase: options.phase } : {}),
  });
  const backend = object.backend;
  const fallbackReason = object.fallbackReason;

  const clock = options.clock ?? createBootClock();
  const cache = createProcessCache({ maxEntries: options.processCacheMax ?? 65536 });
  const cgroups = createCgroupResolver({ root: features.cgroupV2.path });
  const mapper = createEventMapper({
    host: options.host ?? os.hostname(),
    backend,
    clock,
    cache,
    cgroups,
    rules: options.rules ?? { name: () => undefined },
  });
  const registry = createDecoderRegistry<DecodedRecord>(RECORD_DECODERS);
  let eventsEmitted = 0;

  const deliver = (events: AegisEvent[]): void => {
    eventsEmitted += events.length;
    options.onEvents(events);
  };

  let reader: RingReader;
  try {
    reader = createRingReader({
      native,
      map: object.maps.events,
      registry,
      batchBytes: options.batchBytes,
      minIntervalMicros: options.coalesceMicros,
      onRawBatch: options.onRawBatch,
      onRecords(records) {
        options.onRecords?.(records);
        const events: AegisEvent[] = [];
        for (const rec of records) {
          const ev = mapper.map(rec);
          if (ev !== undefined) events.push(ev);
        }
        if (events.length > 0) deliver(events);
      },
    });
  } catch (err) {
    object.destroy();
    throw err;
  }

  let timer: NodeJS.Timeout | undefined;
  // Counters may start above zero (a stats map pinned by a sensor that crashed is reused): drops are reported as
  // they grow from what the kernel holds now.
  let lastDrops = Object.values(readKernelStats(object.maps.stats).drops);
  let lastClockRefresh = Date.now();
  let stopped = false;
  let paused = false;
  let lazyTimer: NodeJS.Timeout | undefined;
  let lastGeneration = 0;

  /** A `policy_applied` event when the kernel's policy generation changed since the last look. */
  const checkPolicy = (): void => {
    const { generation, mode } = readConfig(object.maps);
    if (generation === lastGeneration) return;
    lastGeneration = generation;
    if (generation === 0) return;
    const d = options.describePolicy?.(generation);
    const message = d?.message ?? `Policy generation ${generation} is in force (mode ${mode}).`;
    log('info', message, { generation, mode });
    deliver([
      mapper.sensorEvent('policy_applied', message, { mode, ...(d?.policy !== undefined ? { policy: d.policy } : {}) }),
    ]);
  };

  // The inbound filter attaches on the first `direction: in` rule and detaches when the last one goes (no program in
  // every packet's path while no rule needs it; the XDP slot of each interface stays free for other tools). Checked
  // every INGRESS_RESCAN_MILLIS (the maps are re-read only when the policy generation changed; the interface list
  // every time, which covers interfaces created after start) and at once after a policy write in this process.
  let ingressTimer: NodeJS.Timeout | undefined;
  let ingressGeneration = -1;
  let ingressRules = false;
  let unsubscribe: (() => void) | undefined;
  let ingressChecked = false;
  /** `onWrite`: after a policy write in this process: only a change of "any in rule" needs the attachment looked at. */
  const reconcileIngress = (onWrite: boolean): void => {
    if (ingress === undefined || stopped) return;
    try {
      const { generation } = readConfig(object.maps);
      if (onWrite || generation !== ingressGeneration) {
        ingressGeneration = generation;
        const had = ingressRules;
        ingressRules = object.maps.netInV4Lpm.entries().count > 0 || object.maps.netInV6Lpm.entries().count > 0;
        // A blocklist change that adds or removes no first/last `in` rule costs two map reads, no interface scan.
        if (onWrite && ingressChecked && had === ingressRules) return;
      }
      ingressChecked = true;
      if (object.reconcileIngress(ingressRules, ingressInterfaces())) {
        const text = describeIngress(object.ingress);
        log('info', `Inbound filter: ${text}.`, {
          ingress: object.ingress?.hook,
          ingress_targets: object.ingress?.targets,
        });
      }
    } catch (err) {
      log('warn', `The inbound filter could not be checked: ${(err as Error).message}`, {});
    }
  };

  const checkKernel = (): void => {
    checkPolicy();
    const k = readKernelStats(object.maps.stats);
    const now = Object.values(k.drops);
    const delta = now.reduce((a, b) => a + b, 0) - lastDrops.reduce((a, b) => a + b, 0);
    if (delta > 0) {
      // Once per interval with drops (a burst), never once per record.
      const perOp = Object.entries(k.drops)
        .filter(([, n]) => n > 0)
        .map(([op, n]) => `${op.toLowerCase()}=${n}`)
        .join(' ');
      const msg = `The kernel ring buffer was full: ${delta} records were dropped since the last check (totals: ${perOp}).`;
      log('warn', msg, { dropped: delta });
      deliver([mapper.sensorEvent('drops', msg)]);
    }
    lastDrops = now;
    if (Date.now() - lastClockRefresh > 60_000) {
      clock.refresh();
      lastClockRefresh = Date.now();
    }
  };

  return {
    backend,
    features,
    fallbackReason,
    get ingress() {
      return object.ingress;
    },
    maps: object.maps,
    mapper,
    clock,
    ringBytes: object.ringBytes,
    start() {
      if (stopped) throw new SensorError('AEGIS_ERR_SENSOR_LOAD', 'sensor already stopped');
      reader.start();
      // FORK and EXIT records do not wake the reader (bpf/include/aegis_core.h, aegis_wakeup_flags): collect them
      // when nothing urgent followed them.
      lazyTimer ??= setInterval(() => {
        if (!paused) reader.drain();
      }, options.lazyDrainMillis ?? LAZY_DRAIN_MILLIS);
      lazyTimer.unref();
      const interval = options.statsIntervalMillis ?? 1000;
      if (interval > 0 && timer === undefined) {
        timer = setInterval(checkKernel, interval);
        timer.unref();
      }
      reconcileIngress(true);
      if (ingress !== undefined) {
        unsubscribe = onPolicyWritten(() => setImmediate(() => reconcileIngress(true)));
        ingressTimer = setInterval(() => reconcileIngress(false), INGRESS_RESCAN_MILLIS);
        ingressTimer.unref();
      }
      const ing = object.ingress;
      const ingressText = ing === undefined ? '' : `; inbound filter: ${describeIngress(ing)}`;
      const missingText =
        missingInterfaces.length > 0 ? `; ingress.interfaces not found: ${missingInterfaces.join(', ')}` : '';
      const started = `eBPF sensor started in ${backend} mode (${object.attached.length} programs attached; ${features.enforcement}${ingressText}${missingText}).`;
      log('info', started, {
        backend,
        programs: object.attached,
        ...(ing !== undefined ? { ingress: ing.hook, ingress_targets: ing.targets } : {}),
      });
      const events = [mapper.sensorEvent('started', started)];
      if (backend !== 'lsm' || features.status !== 'healthy') {
        const why = [fallbackReason, ...features.reasons].filter((r): r is string => r !== undefined);
        const msg = `The sensor runs degraded (${backend} mode): ${[...new Set(why)].join('; ')}.`;
        log('warn', msg, { backend });
        events.push(mapper.sensorEvent('degraded', msg));
      }
      deliver(events);
      checkPolicy();
    },
    pause: () => {
      paused = true;
      reader.pause();
    },
    resume: () => {
      paused = false;
      reader.resume();
    },
    drain: () => reader.drain(),
    stats() {
      return {
        backend,
        kernel: readKernelStats(object.maps.stats),
        decode: registry.stats(),
        reader: reader.stats(),
        processCache: cache.stats(),
        eventsEmitted,
      };
    },
    programStats: () => object.programStats(),
    emitStatus(status, message, extra) {
      deliver([mapper.sensorEvent(status, message, extra)]);
    },
    stop() {
      if (stopped) return;
      stopped = true;
      if (timer !== undefined) clearInterval(timer);
      if (lazyTimer !== undefined) clearInterval(lazyTimer);
      if (ingressTimer !== undefined) clearInterval(ingressTimer);
      unsubscribe?.();
      try {
        object.detachAll(); // no new records after this point
        reader.drain();
      } finally {
        reader.close();
        object.destroy({ unpin: options.pinDir !== undefined });
      }
    },
  };
}

/** How often the inbound filter's attachment is checked against the rules and the interfaces, ms. */
export const INGRESS_RESCAN_MILLIS = 1000;

/** `xdp on eth0 (generic), eth1`, `cgroup_skb on /sys/fs/cgroup (not XDP: …)`, `none (idle: …)`. */
function describeIngress(ing: IngressState | undefined): string {
  if (ing === undefined) return 'off';
  if (ing.hook === 'none') return `none (${ing.reason ?? 'unavailable'})`;
  const targets = ing.targets.map((n) => (ing.generic.includes(n) ? `${n} (generic)` : n)).join(', ');
  return `${ing.hook} on ${targets}${ing.reason !== undefined ? ` (not XDP: ${ing.reason})` : ''}`;
}

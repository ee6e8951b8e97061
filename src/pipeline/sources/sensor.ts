/**
 * `sensor`: events from the eBPF sensor on this host (src/sensor/). The default source of `aegisbpf run` where the
 * sensor can run.
 *
 * The sensor hands over one batch per ring-buffer drain (a callback, not a pull), so this adapter keeps a bounded
 * queue between the two. When the pipeline is slow and the queue reaches `max_queued_events`, the sensor stops
 * draining the ring: the kernel keeps writing until the ring is full and then counts every record it cannot write
 * (drops per op, reported in `sensor` events and the log). The kernel is never blocked and nothing is dropped
 * silently. Draining resumes when the queue is half empty. Queued batches are merged into chunks of up to
 * `chunk_events` for the pipeline.
 *
 * At start the policy stored in `policy_dir` (what `aegisbpf policy apply` wrote) is written into the kernel maps;
 * the maps are pinned in `pin_dir` so `aegisbpf policy` can change them while the sensor runs.
 */
import path from 'node:path';
import type { AegisEvent } from '../../event/types';
import { MAPS } from '../../sensor/abi';
import { getFeatureReport } from '../../sensor/feature-probe';
import type { PolicyEngine } from '../../sensor/policy/policy-engine';
import { createPolicyEngine, storeRuleNames } from '../../sensor/policy/policy-engine';
import { createPolicyStore } from '../../sensor/policy/policy-store';
import type { Sensor, SensorLog, SensorStats } from '../../sensor/sensor';
import { createSensor } from '../../sensor/sensor';
import { DEFAULT_PIN_DIR } from '../../sensor/bpf-object';
import { readSensorDetailed, readSensorStats } from '../../sensor/sensor-telemetry';
import type {
  SensorDetailedStats,
  SensorStats as TelemetrySensorStats,
  SensorStatsSource,
} from '../../telemetry/sensor-stats';
import { NO_SENSOR_STATS } from '../../telemetry/sensor-stats';
import { withChildSpan } from '../../telemetry/spans';
import { createEnforcementLog, DEFAULT_ENFORCEMENT_LOG_PER_SECOND } from './enforcement-log';
import type { StatsRegistry } from '../../telemetry/stats';
import { byteSizeSchema } from '../../util/byte-size';
import { describeError } from '../../util/errors';
import type { Logger } from '../../util/logger';
import type { Source, SourceContext, SourceDefinition } from './types';

export { DEFAULT_PIN_DIR };
/*
 * config/load.ts's DEFAULT_DATA_DIR, for a source built without a configuration (the engine always passes the
 * configured data_dir). Not imported: config/load imports this module through the source registry, and the cycle
 * would leave the registry with an undefined entry.
 */
const FALLBACK_DATA_DIR = '/var/lib/aegisbpf';

export interface SensorSourceOptions {
  readonly backend: 'auto' | 'lsm' | 'tracepoint';
  readonly ringBytes: number;
  readonly batchBytes: number;
  readonly coalesceMicros: number;
  /** cgroup v2 directory the connect hooks attach to; undefined = the cgroup2 root; null = no network hooks. */
  readonly cgroupPath: string | null | undefined;
  readonly connectEvents: boolean;
  /** bpffs directory for the policy maps; undefined = do not pin. */
  readonly pinDir: string | undefined;
  readonly policyDir: string;
  readonly maxQueuedEvents: number;
  readonly chunkEvents: number;
  readonly processCacheMax: number;
  /** `enforcement_event` log lines per second at most (0: none); the rest are counted (./enforcement-log.ts). */
  readonly enforcementLogPerSecond: number;
  /** `aegisbpf run --enforce|--audit`: the mode while this sensor runs, whatever the policy says; undefined = the policy's. */
  readonly mode: 'audit' | 'enforce' | undefined;
  /** The inbound filter (`ingress`): null = off; interfaces undefined = every up, non-loopback interface. */
  readonly ingress: { readonly mode: 'auto' | 'xdp' | 'cgroup_skb'; readonly interfaces?: readonly string[] } | null;
}

function parseIngress(raw: unknown): SensorSourceOptions['ingress'] {
  const r = typeof raw === 'object' && raw !== null ? (raw as Record<string, unknown>) : {};
  if (r.mode === 'off') return null;
  const mode = r.mode === 'xdp' || r.mode === 'cgroup_skb' ? r.mode : 'auto';
  return Array.isArray(r.interfaces)
    ? { mode, interfaces: r.interfaces.filter((i): i is string => typeof i === 'string') }
    : { mode };
}

export function parseSensorSourceOptions(raw: Readonly<Record<string, unknown>>, dataDir: string): SensorSourceOptions {
  const num = (key: string, dflt: number): number => (typeof raw[key] === 'number' ? raw[key] : dflt);
  const backend = raw.backend === 'lsm' || raw.backend === 'tracepoint' ? raw.backend : 'auto';
  return {
    backend,
    ringBytes: num('ring_bytes', 8 << 20),
    batchBytes: num('batch_bytes', 1 << 20),
    coalesceMicros: num('coalesce_us', 0),
    cgroupPath:
      raw.network_hooks === false
        ? null
        : typeof raw.cgroup_path === 'string'
          ? path.resolve(raw.cgroup_path)
          : undefined,
    connectEvents: raw.connect_events !== false,
    pinDir:
      raw.pin === false ? undefined : typeof raw.pin_dir === 'string' ? path.resolve(raw.pin_dir) : DEFAULT_PIN_DIR,
    policyDir: typeof raw.policy_dir === 'string' ? path.resolve(raw.policy_dir) : path.join(dataDir, 'policy'),
    maxQueuedEvents: num('max_queued_events', 65536),
    chunkEvents: num('chunk_events', 1024),
    processCacheMax: num('process_cache_max', 65536),
    mode: raw.mode === 'audit' || raw.mode === 'enforce' ? raw.mode : undefined,
    enforcementLogPerSecond: num('enforcement_log_per_second', DEFAULT_ENFORCEMENT_LOG_PER_SECOND),
    ingress: parseIngress(raw.ingress),
  };
}

/** What a started sensor source exposes (tests, `stats`, the metrics endpoint). */
export interface SensorHandle {
  readonly sensor: Sensor;
  readonly policy: PolicyEngine;
}

export interface SensorSource extends Source {
  /** Resolves when the sensor is loaded, attached and started; rejects when it could not start. */
  readonly ready: Promise<SensorHandle>;
  /** Undefined before read() starts the sensor and after it stopped. */
  stats(): SensorStats | undefined;
}

/**
 * The sensor's part of the daemon's telemetry (docs/metrics.md#the-kernel-sensor-in-the-daemon): `registry.sensor`
 * and the `sensor` readiness check, through the sensor's life. Before start: not attached, "starting"; running:
 * the kernel counters read at call time (src/sensor/sensor-telemetry.ts); after a failed start: not attached, with
 * the error; after stop: not attached, the last counters kept (a counter never goes back to zero during the
 * shutdown flush, and the maps are gone).
 */
interface SensorTelemetry {
  running(sensor: Sensor): void;
  failed(err: unknown): void;
  stopped(): void;
}

function sensorTelemetry(registry: StatsRegistry | undefined, logger: Logger): SensorTelemetry {
  let state:
    | { readonly phase: 'starting' }
    | { readonly phase: 'running'; readonly sensor: Sensor; readonly degraded: string | undefined }
    | { readonly phase: 'down'; readonly reason: string } = { phase: 'starting' };
  let last: TelemetrySensorStats = NO_SENSOR_STATS;
  let lastDetailed: SensorDetailedStats = { blocksByPath: new Map(), blocksByInode: new Map() };
  const source: SensorStatsSource = {
    get absentReason(): string {
      return state.phase === 'starting' ? 'the sensor is starting' : state.phase === 'down' ? state.reason : '';
    },
    read(): TelemetrySensorStats {
      if (state.phase !== 'running') return last;
      try {
        last = readSensorStats(state.sensor.maps, {
          attached: true,
          backend: state.sensor.backend,
          ...(state.sensor.ingress !== undefined
            ? { ingress: { hook: state.sensor.ingress.hook, targets: state.sensor.ingress.targets } }
            : {}),
        });
      } catch (err) {
        // read() must not throw (a scrape): keep the last good counters and say so once per burst.
        logger.burst(
          'WARN',
          'sensor-stats',
          'Reading the kernel counters failed; the metrics show the last values read.',
          { error: describeError(err) },
        );
      }
      return last;
    },
    readDetailed(): SensorDetailedStats {
      if (state.phase !== 'running') return lastDetailed;
      try {
        lastDetailed = readSensorDetailed(state.sensor.maps);
      } catch (err) {
        logger.burst(
          'WARN',
          'sensor-stats',
          'Reading the per-rule hit counters failed; the metrics show the last values read.',
          { error: describeError(err) },
        );
      }
      return lastDetailed;
    },
  };
  if (registry !== undefined) {
    registry.sensor = source;
    registry.readiness.register('sensor', () => {
      if (state.phase === 'running')
        return state.degraded === undefined
          ? { ready: true, detail: `attached, ${state.sensor.backend} mode` }
          : { ready: true, detail: `attached, ${state.sensor.backend} mode, degraded: ${state.degraded}` };
      return {
        ready: false,
        reason: state.phase === 'starting' ? 'the sensor is loading its BPF programs' : state.reason,
      };
    });
  }
  const down = (reason: string): void => {
    if (state.phase === 'running') source.read(); // the final counters
    last = { ...last, attached: false, mode: undefined, backend: undefined, maps: [], netRules: undefined };
    state = { phase: 'down', reason };
  };
  return {
    running(sensor) {
      const reasons = [
        ...new Set([
          ...(sensor.fallbackReason !== undefined ? [sensor.fallbackReason] : []),
          ...sensor.features.reasons,
        ]),
      ];
      state = {
        phase: 'running',
        sensor,
        degraded:
          sensor.backend !== 'lsm' || reasons.length > 0 ? reasons.join('; ') || `${sensor.backend} mode` : undefined,
      };
    },
    failed: (err) => down(`the sensor could not start: ${describeError(err)}`),
    stopped() {
      if (state.phase !== 'down') down('the sensor stopped');
    },
  };
}

/** The sensor logs through the source's logger (it rate-limits its own repeated lines: drops once per interval). */
function sensorLog(logger: Logger): SensorLog {
  return (level, message, fields) => logger[level](message, fields === undefined ? undefined : { ...fields });
}

export function createSensorSource(options: SensorSourceOptions, ctx: SourceContext): SensorSource {
  let resolveReady: (h: SensorHandle) => void = () => undefined;
  let rejectReady: (e: unknown) => void = () => undefined;
  const ready = new Promise<SensorHandle>((resolve, reject) => {
    resolveReady = resolve;
    rejectReady = reject;
  });
  ready.catch(() => undefined); // read() reports the failure; `ready` is for callers that want to wait
  let current: Sensor | undefined;
  const telemetry = sensorTelemetry(ctx.registry, ctx.logger);

  return {
    name: ctx.name,
    type: 'sensor',
    ready,
    stats: () => current?.stats(),
    async *read(signal: AbortSignal): AsyncGenerator<readonly AegisEvent[]> {
      const queue: AegisEvent[][] = [];
      let queued = 0;
      let paused = false;
      let wake: (() => void) | undefined;
      const store = createPolicyStore(options.policyDir);
      const enforcementLog = createEnforcementLog(ctx.logger, { maxPerSecond: options.enforcementLogPerSecond });
      let sensor: Sensor;
      try {
        const features = getFeatureReport();
        sensor = createSensor({
          features,
          ...(options.backend !== 'auto' ? { backend: options.backend } : {}),
          ringBytes: options.ringBytes,
          batchBytes: options.batchBytes,
          coalesceMicros: options.coalesceMicros,
          cgroupAttachPath: options.cgroupPath,
          connectAll: options.connectEvents,
          ingress: options.ingress,
          ...(options.pinDir !== undefined ? { pinDir: options.pinDir } : {}),
          // Span logs of the start-up (AEGIS_OTEL_SPANS=1): children of the span that starts the sources.
          phase: (name, fn) => withChildSpan(name === 'load' ? 'daemon.load_bpf' : 'daemon.attach_programs', fn),
          processCacheMax: options.processCacheMax,
          host: ctx.hostname,
          rules: storeRuleNames(store),
          log: sensorLog(ctx.logger),
          describePolicy(generation) {
            const cur = store.current();
            if (cur === undefined || cur.generation !== generation) return undefined;
            return {
              policy: cur.source,
              message: `Policy generation ${generation} from ${cur.source} (${cur.rules.length} rules, mode ${cur.mode}, applied ${cur.appliedAt}) is in force.`,
            };
          },
          onEvents(events) {
            enforcementLog.observe(events);
            queue.push(events);
            queued += events.length;
            if (!paused && queued >= options.maxQueuedEvents) {
              paused = true;
              sensor.pause();
              ctx.logger.burst(
                'WARN',
                'sensor-paused',
                'The pipeline is behind: the sensor stopped draining the kernel ring buffer; the kernel counts what it cannot write as drops.',
                { queued },
              );
            }
            wake?.();
          },
        });
      } catch (err) {
        telemetry.failed(err);
        rejectReady(err);
        throw err;
      }
      current = sensor;
      try {
        const policy = createPolicyEngine({
          log: (level, message, fields) => ctx.logger[level](message, { ...fields }),
          store,
          capabilities: sensor.features.capabilities,
          maps: sensor.maps,
          cgroupRoot: sensor.features.cgroupV2.path,
        });
        // Before restore(): the stored policy goes into the kernel in the forced mode. Cleared when not forced, so a
        // file left by a daemon that crashed does not outlive it.
        store.setModeOverride(options.mode);
        if (options.mode !== undefined)
          ctx.logger.info(
            `The sensor runs in ${options.mode} mode, whatever the policy says (run --${options.mode}).`,
            {
              mode: options.mode,
            },
          );
        const restored = policy.restore();
        if (restored !== undefined)
          ctx.logger.info('The stored policy is enforced.', {
            generation: restored.generation,
            rules: restored.rules.length,
            mode: restored.mode,
          });
        sensor.start();
        ctx.logger.info('The eBPF sensor is running.', {
          backend: sensor.backend,
          ringBytes: sensor.ringBytes,
          pinDir: options.pinDir,
          policyDir: options.policyDir,
          configMap: MAPS.config,
        });
        telemetry.running(sensor);
        resolveReady({ sensor, policy });
        const take = (): AegisEvent[] => {
          // Merge small per-drain batches into pipeline-sized chunks.
          const first = queue.shift() as AegisEvent[];
          let chunk = first;
          while (queue.length > 0 && chunk.length + (queue[0] as AegisEvent[]).length <= options.chunkEvents) {
            if (chunk === first) chunk = first.slice();
            chunk.push(...(queue.shift() as AegisEvent[]));
          }
          queued -= chunk.length;
          if (paused && queued <= options.maxQueuedEvents / 2) {
            paused = false;
            sensor.resume();
          }
          ctx.stats.events += chunk.length;
          return chunk;
        };
        // One abort listener for the whole loop, not one per wait: adding and removing an EventTarget listener
        // at every ring drain was ~5 % of the daemon's CPU on a host at 2 000 events/s (perf, bench/hostcost).
        const onAbort = (): void => wake?.();
        signal.addEventListener('abort', onAbort, { once: true });
        try {
          while (!signal.aborted) {
            if (queue.length > 0) {
              yield take();
              continue;
            }
            await new Promise<void>((resolve) => {
              wake = resolve;
            });
            wake = undefined;
          }
        } finally {
          signal.removeEventListener('abort', onAbort);
        }
        // Stop: detach, drain what the kernel already wrote, hand it over.
        current = undefined;
        telemetry.stopped();
        sensor.stop();
        while (queue.length > 0) yield take();
      } catch (err) {
        telemetry.failed(err);
        throw err;
      } finally {
        current = undefined;
        telemetry.stopped();
        sensor.stop();
        // The forced mode ends with this daemon: `policy apply` without it writes the policy's own mode again.
        if (options.mode !== undefined) store.setModeOverride(undefined);
      }
    },
  };
}

export const sensorSource: SourceDefinition = {
  type: 'sensor',
  description:
    'Events from the eBPF sensor on this host (exec, exit, file rule hits, connect, sensor status). Needs root.',
  // Two would load the programs twice (every event twice, every signal action twice) and fight over the pinned maps,
  // the policy and the daemon's sensor telemetry.
  onePerDaemon: 'the kernel sensor is one per host: one set of BPF programs, one ring buffer, one policy',
  optionsSchema: {
    properties: {
      backend: {
        type: 'string',
        enum: ['auto', 'lsm', 'tracepoint'],
        description: 'auto (default): lsm where BPF LSM loads, else tracepoint (see `aegisbpf health`).',
      },
      ring_bytes: byteSizeSchema(
        4096,
        'Kernel ring buffer size, bytes, rounded up to a power of two (default 8 MiB).',
        1073741824,
      ),
      batch_bytes: byteSizeSchema(4096, 'Bytes copied out of the ring per batch (default 1 MiB).', 268435456),
      coalesce_us: {
        type: 'integer',
        minimum: 0,
        maximum: 100000,
        description:
          'Minimum microseconds between ring drains while events keep coming; fewer wakeups, at most this much added latency (default 0).',
      },
      network_hooks: {
        type: 'boolean',
        description: 'Attach the cgroup connect hooks (connect events, network rules). Default true.',
      },
      cgroup_path: {
        type: 'string',
        minLength: 1,
        description: 'cgroup v2 directory the connect hooks attach to (default: the cgroup2 root).',
      },
      connect_events: {
        type: 'boolean',
        description: 'An event for every connect, not only for rule hits (default true).',
      },
      ingress: {
        type: 'object',
        additionalProperties: false,
        description: 'The inbound filter for `direction: in` blocklist entries (docs/enforcement.md "Inbound filter").',
        properties: {
          mode: {
            enum: ['auto', 'xdp', 'cgroup_skb', 'off'],
            description:
              'auto (default): XDP on the interfaces, cgroup_skb ingress on the cgroup2 root when XDP does not load or an interface refuses it; xdp or cgroup_skb: only that; off: no ingress program.',
          },
          interfaces: {
            type: 'array',
            items: { type: 'string', minLength: 1, maxLength: 15 },
            uniqueItems: true,
            description: 'Interfaces XDP attaches to (default: every interface that is up, loopback excluded).',
          },
        },
      },
      pin: {
        type: 'boolean',
        description: 'Pin the policy maps so `aegisbpf policy` reaches the running sensor (default true).',
      },
      pin_dir: {
        type: 'string',
        minLength: 1,
        description: `bpffs directory for the pinned maps (default ${DEFAULT_PIN_DIR}).`,
      },
      policy_dir: {
        type: 'string',
        minLength: 1,
        description: 'Where applied policies are stored (default <data_dir>/policy).',
      },
      enforcement_log_per_second: {
        type: 'integer',
        minimum: 0,
        maximum: 100000,
        description: `At most this many \`enforcement_event\` log lines per second (the monitoring guide's Loki line); the rest are counted and summarized (default ${DEFAULT_ENFORCEMENT_LOG_PER_SECOND}; 0 = none).`,
      },
      mode: {
        type: 'string',
        enum: ['audit', 'enforce'],
        description:
          'Force this mode on every policy while the sensor runs, whatever its `mode:` says (what `aegisbpf run --enforce|--audit` sets). Default: the policy decides.',
      },
      max_queued_events: {
        type: 'integer',
        minimum: 1,
        maximum: 10000000,
        description:
          'Events held between the sensor and the pipeline before the sensor stops draining the ring (default 65536).',
      },
      chunk_events: {
        type: 'integer',
        minimum: 1,
        maximum: 65536,
        description: 'Most events handed to the pipeline at once (default 1024).',
      },
      process_cache_max: {
        type: 'integer',
        minimum: 1024,
        maximum: 10000000,
        description: 'Processes kept for lineage (default 65536).',
      },
    },
  },
  create: (raw, ctx) => createSensorSource(parseSensorSourceOptions(raw, ctx.dataDir ?? FALLBACK_DATA_DIR), ctx),
};

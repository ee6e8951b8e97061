/**
 * The REST API as the daemon starts it (src/daemon/endpoints.ts): the keys, the audit log, the events ring, the
 * policy access and the routes, wired to one listener. See docs/api.md.
 */
import fs from 'node:fs';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import type { ApiEndpointOptions } from '../../config/api-endpoint';
import type { AegisEvent } from '../../event/types';
import type { AnalyticsView } from '../../pipeline/analytics-view';
import { loadNative } from '../../native/binding';
import { MAPS } from '../../sensor/abi';
import { getFeatureReport } from '../../sensor/feature-probe';
import type { PolicyEngine } from '../../sensor/policy/policy-engine';
import { createPolicyEngine } from '../../sensor/policy/policy-engine';
import type { PolicyMapSet } from '../../sensor/policy/policy-maps';
import { closePolicyMaps, openPinnedPolicyMaps } from '../../sensor/policy/policy-maps';
import type { PolicyStore } from '../../sensor/policy/policy-store';
import { createPolicyStore } from '../../sensor/policy/policy-store';
import type { ProcessUsage } from '../../telemetry/process-usage';
import type { StatsRegistry } from '../../telemetry/stats';
import { describeError } from '../../util/errors';
import type { Logger } from '../../util/logger';
import type { AuditEntry, AuditLog } from './audit-log';
import { createAuditLog } from './audit-log';
import { createBlocklistService } from './blocklist';
import { createEventsRing } from './events-ring';
import { createKeyRing } from './keys';
import { buildOpenApi } from './openapi';
import { createFailureLimiter } from './rate-limit';
import type { ApiDeps } from './routes';
import { createRoutes } from './routes';
import type { ApiServer } from './server';
import { createApiServer } from './server';

export interface ApiOptions extends ApiEndpointOptions {
  readonly version: string;
  readonly logger: Logger;
  readonly stats: StatsRegistry;
  readonly usage: () => ProcessUsage;
  /** The sensor's policy store and pinned maps (from the `sensor` source's configuration, or the defaults). */
  readonly policyDir: string;
  readonly pinDir: string;
  /** The engine's analytics store (pipeline.analytics) for /anomalies, /trends and /metrics/*. */
  readonly analytics: AnalyticsView;
}

export interface RunningApi {
  address(): AddressInfo | undefined;
  /** Feed the events ring (the pipeline's chunks after the processors). */
  observe(events: readonly AegisEvent[]): void;
  /** SIGHUP: re-read the keys file now. */
  reload(): void;
  /** An audit record of the daemon itself (daemon.start, daemon.stop). */
  recordDaemon(entry: Pick<AuditEntry, 'action' | 'detail'>): void;
  readonly audit: AuditLog;
  close(): Promise<void>;
}

const RATE_WINDOW_SECONDS = 10;

/** Throws AEGIS_ERR_API_LISTEN when the listener cannot start. */
export async function startApi(options: ApiOptions): Promise<RunningApi> {
  const { logger } = options;
  const keys = createKeyRing(options.keysFile, (err) =>
    logger.error('The API keys file cannot be used; the last good keys stay in force.', {
      code: 'AEGIS_ERR_API_STORE',
      file: options.keysFile,
      error: describeError(err),
    }),
  );
  const audit = createAuditLog(options.auditFile);
  const events = createEventsRing(options.eventsRing);

  // events/s over the last RATE_WINDOW_SECONDS, from a once-a-second sample of the sources' counters.
  const samples: { t: number; n: number; per: Map<string, number> }[] = [];
  const perSource = (): Map<string, number> => {
    const per = new Map<string, number>();
    for (const [name, s] of options.stats.sources) per.set(name, s.events);
    return per;
  };
  const sum = (per: ReadonlyMap<string, number>): number => {
    let n = 0;
    for (const v of per.values()) n += v;
    return n;
  };
  const sampler = setInterval(() => {
    const per = perSource();
    samples.push({ t: Date.now(), n: sum(per), per });
    if (samples.length > RATE_WINDOW_SECONDS + 1) samples.shift();
  }, 1000);
  sampler.unref();
  const perSecond = (now: number, then: number, dt: number): number =>
    dt <= 0 ? 0 : Math.round(((now - then) / dt) * 10) / 10;
  const rate = (): number => {
    const first = samples[0];
    if (first === undefined) return 0;
    return perSecond(sum(perSource()), first.n, (Date.now() - first.t) / 1000);
  };
  const sourceRates = (): Record<string, number> => {
    const first = samples[0];
    const out: Record<string, number> = {};
    const dt = first === undefined ? 0 : (Date.now() - first.t) / 1000;
    for (const [name, n] of perSource()) out[name] = perSecond(n, first?.per.get(name) ?? n, dt);
    return out;
  };

  // The sensor's pinned maps, kept open between requests (opening them is ~0.15 ms of every blocklist change) and
  // opened again when the pins are other maps than the ones held: a sensor that stopped unpins them, the next one pins
  // new maps (a new inode for the config map's pin; all are pinned together).
  let held: { maps: PolicyMapSet; ino: number } | undefined;
  const pinIno = (): number | undefined => {
    try {
      return fs.statSync(path.join(options.pinDir, MAPS.config)).ino;
    } catch {
      return undefined;
    }
  };
  const currentMaps = (features: ReturnType<typeof getFeatureReport>): PolicyMapSet | undefined => {
    const ino = features.native.ok ? pinIno() : undefined;
    if (held !== undefined && held.ino === ino) return held.maps;
    if (held !== undefined) closePolicyMaps(held.maps);
    held = undefined;
    if (ino === undefined) return undefined;
    try {
      const maps = openPinnedPolicyMaps(loadNative(), options.pinDir);
      if (maps !== undefined) held = { maps, ino };
      return maps;
    } catch (err) {
      logger.burst(
        'WARN',
        'api-pinned-maps',
        'The sensor’s pinned maps could not be opened; policy changes are stored only.',
        {
          pinDir: options.pinDir,
          error: describeError(err),
        },
      );
      return undefined;
    }
  };
  // One store object: it remembers that its directory exists (no mkdir per change).
  const store = createPolicyStore(options.policyDir);
  const withPolicy = <T>(fn: (engine: PolicyEngine, store: PolicyStore) => T): T => {
    const features = getFeatureReport();
    const maps = currentMaps(features);
    return fn(
      createPolicyEngine({
        store,
        capabilities: features.capabilities,
        ...(maps !== undefined ? { maps } : {}),
        ...(features.cgroupV2.path !== undefined ? { cgroupRoot: features.cgroupV2.path } : {}),
      }),
      store,
    );
  };

  const published: { openapi: unknown } = { openapi: undefined };
  const deps: ApiDeps = {
    version: options.version,
    stats: options.stats,
    usage: options.usage,
    withPolicy,
    blocklist: createBlocklistService(withPolicy),
    events,
    auditFile: options.auditFile,
    rate,
    sourceRates,
    rateWindowSeconds: RATE_WINDOW_SECONDS,
    analytics: options.analytics,
    maxBodyBytes: options.maxBodyBytes,
    health: () => {
      const sensor = options.stats.sensor;
      const s = sensor.read();
      return {
        status: 'ok',
        version: options.version,
        sensor: {
          attached: s.attached,
          backend: s.backend ?? null,
          absent_reason: sensor.absentReason || null,
          // The inbound filter (direction `in` entries): xdp on interfaces, cgroup_skb on a cgroup, none; null when off.
          ingress: s.ingress ?? null,
        },
      };
    },
    openapi: () => published.openapi,
  };
  const routes = createRoutes(deps);
  published.openapi = buildOpenApi(routes, options.version);
  const server: ApiServer = createApiServer({
    host: options.host,
    port: options.port,
    tls: options.tls,
    routes,
    keys,
    audit,
    limiter: createFailureLimiter(options.authFailuresPerMinute),
    maxBodyBytes: options.maxBodyBytes,
    logger,
  });
  try {
    await server.listen();
  } catch (err) {
    clearInterval(sampler);
    throw err;
  }
  return {
    address: () => server.address(),
    observe: (list) => events.push(list),
    reload: () => keys.reload(),
    recordDaemon(entry) {
      const full: AuditEntry = {
        ...entry,
        actor: 'aegisbpf',
        actor_type: 'daemon',
        target: `pid ${process.pid}`,
        source: 'local',
        result: 'success',
      };
      const failed = (err: unknown): void =>
        logger.error('The audit log could not be written.', {
          code: 'AEGIS_ERR_AUDIT_WRITE',
          error: describeError(err),
          entry,
        });
      // daemon.stop synchronously: it must be in the log before the sources stop (the audit source ships it), and
      // nothing is served any more. Every other record without blocking the event loop (a command may hold the lock).
      if (entry.action !== 'daemon.stop') {
        audit.appendDurable(full).catch(failed);
        return;
      }
      try {
        audit.append(full);
      } catch (err) {
        failed(err);
      }
    },
    audit,
    async close() {
      clearInterval(sampler);
      await server.close();
      if (held !== undefined) closePolicyMaps(held.maps);
      held = undefined;
    },
  };
}

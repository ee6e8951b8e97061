/**
 * The REST API's routes: method, path, the permission it needs, the JSON Schemas of its query and body (which the
 * server validates with ajv and ./openapi.ts publishes, so the document cannot drift from what is enforced), and
 * the handler. Adding a route is one entry here; test/daemon/api/api-routes.test.ts drives every route × role
 * from the served OpenAPI document.
 */
import type { AegisEvent, HostStatsEvent, TrendEvent } from '../../event/types';
import { EVENT_TYPES } from '../../event/types';
import type { AnalyticsView } from '../../pipeline/analytics-view';
import { MAX_ANOMALIES, MAX_HOST_SAMPLES } from '../../pipeline/analytics-view';
import type { ApplyResult } from '../../sensor/policy/policy-engine';
import type { StoredPolicy } from '../../sensor/policy/policy-store';
import type { StatsRegistry } from '../../telemetry/stats';
import type { ProcessUsage } from '../../telemetry/process-usage';
import { snapshotStats } from '../../telemetry/stats-snapshot';
import { parseHumanDuration } from '../../util/durations';
import { ApiError } from './api-error';
import type { AuditEntry, AuditRecord } from './audit-log';
import { readAuditRecords } from './audit-log';
import type { BlocklistRequest, BlocklistService } from './blocklist';
import { BLOCKLIST_ACTIONS, DIRECTIONS, entryFromRequest } from './blocklist';
import type { WithPolicy } from './blocklist';
import type { EventsRing } from './events-ring';
import type { Permission } from './keys';

export type Method = 'GET' | 'PUT' | 'POST' | 'DELETE';
type Schema = Readonly<Record<string, unknown>>;

export interface Caller {
  /** Key name, with the client certificate subject when mTLS is on: `ci (cert CN=ci-runner)`. */
  readonly actor: string;
  readonly address: string;
}

export interface RouteRequest {
  readonly caller: Caller;
  readonly query: Readonly<Record<string, string>>;
  readonly params: Readonly<Record<string, string>>;
  readonly body: unknown;
}

export interface RouteResponse {
  readonly status: number;
  readonly body: unknown;
  /** The audit record of a control operation (written after the operation, with its result). */
  readonly audit?: Pick<AuditEntry, 'action' | 'target' | 'result' | 'detail'>;
  /**
   * Settles when the operation is durable (the blocklist's policy store write, after the kernel change). The server
   * writes the audit record meanwhile and answers when both are on disk; a rejection becomes the error response.
   */
  readonly durable?: Promise<void>;
}

export interface RouteSpec {
  readonly method: Method;
  /** OpenAPI path template: `/api/v1/blocklist/{entry}`. */
  readonly path: string;
  /** undefined: no key needed (health, openapi.json). */
  readonly permission: Permission | undefined;
  readonly summary: string;
  readonly query?: Schema;
  readonly body?: Schema;
  /** For a route that changes state: what the audit record calls the action (`policy.apply`). */
  readonly auditAction?: string;
  readonly handle: (req: RouteRequest) => RouteResponse | Promise<RouteResponse>;
}

export interface ApiDeps {
  readonly version: string;
  readonly stats: StatsRegistry;
  readonly usage: () => ProcessUsage;
  /** Run `fn` with a policy engine over the running sensor's pinned maps (or the store alone when none runs). */
  readonly withPolicy: WithPolicy;
  readonly blocklist: BlocklistService;
  readonly events: EventsRing;
  readonly auditFile: string;
  readonly rate: () => number;
  /** Events/s per source over the same window as `rate`. */
  readonly sourceRates: () => Readonly<Record<string, number>>;
  /** Seconds `rate` and `sourceRates` average over. */
  readonly rateWindowSeconds: number;
  /** The engine's analytics store (anomalies, forecasts, host samples), read only. */
  readonly analytics: AnalyticsView;
  readonly maxBodyBytes: number;
  readonly health: () => Readonly<Record<string, unknown>>;
  /** Filled by the server once the routes exist (openapi.json serves it). */
  openapi: () => unknown;
}

const bad = (message: string): ApiError => new ApiError(400, 'AEGIS_ERR_API_BAD_REQUEST', message);

/** `since`: RFC 3339, or a duration ago (`15m`). */
function parseSince(text: string | undefined): number | undefined {
  if (text === undefined) return undefined;
  const ago = parseHumanDuration(text);
  if (ago !== undefined) return Date.now() - ago;
  const t = /^\d{4}-\d{2}-\d{2}T[\d:.]+(Z|[+-]\d{2}:\d{2})$/.test(text) ? Date.parse(text) : Number.NaN;
  if (Number.isNaN(t)) throw bad(`since: "${text}" is neither RFC 3339 nor a duration (30s, 15m, 1h, 7d)`);
  return t;
}

const SINCE = {
  type: 'string',
  maxLength: 40,
  description: 'RFC 3339 time, or a duration ago: 30s, 15m, 1h, 7d.',
} as const;
const LIMIT = { type: 'string', pattern: '^[1-9][0-9]{0,3}$', description: 'At most this many (1-1000, default 100).' };

const limitOf = (q: Readonly<Record<string, string>>): number => {
  const n = q.limit === undefined ? 100 : Number(q.limit);
  if (n > 1000) throw bad('limit: at most 1000');
  return n;
};

function policyView(p: StoredPolicy | undefined): unknown {
  if (p === undefined) return null;
  return {
    generation: p.generation,
    applied_at: p.appliedAt,
    source: p.source,
    mode: p.mode,
    live: p.live,
    text: p.text,
    rules: p.rules.map((r) => ({
      id: r.id,
      kind: r.kind,
      target: r.target,
      action: r.action,
      requested_action: r.requestedAction,
      fallback_used: r.fallbackUsed,
    })),
  };
}

function applyView(r: ApplyResult): Record<string, unknown> {
  return {
    generation: r.generation,
    mode: r.mode,
    live: r.live,
    message: r.message,
    warnings: r.warnings,
    rules: r.rules.map((x) => ({ id: x.id, target: x.target, action: x.action, fallback_used: x.fallbackUsed })),
  };
}

const POLICY_BODY: Schema = {
  type: 'object',
  additionalProperties: false,
  required: ['version'],
  description: 'The policy document (docs/enforcement.md) as JSON; checked exactly like `aegisbpf policy apply`.',
  properties: {
    version: { const: 1 },
    mode: { enum: ['audit', 'enforce'] },
    rules: { type: 'array', maxItems: 100_000, items: { type: 'object' } },
  },
};

const BLOCKLIST_BODY: Schema = {
  type: 'object',
  additionalProperties: false,
  required: ['action'],
  description:
    'One of path (absolute, normalized), inode ("dev:ino", kernel dev encoding), address (IPv4/IPv6 or CIDR) or port; with an action.',
  properties: {
    path: { type: 'string', minLength: 1, maxLength: 4095 },
    inode: { type: 'string', maxLength: 32 },
    address: { type: 'string', minLength: 2, maxLength: 64 },
    port: { type: 'integer', minimum: 1, maximum: 65535 },
    protocol: { enum: ['tcp', 'udp'] },
    direction: {
      enum: [...DIRECTIONS],
      description:
        'out (default): outbound connect() (cgroup connect hooks); in: inbound packets from the address/CIDR (XDP, or cgroup_skb ingress), AUDIT or BLOCK, no port.',
    },
    action: { enum: [...BLOCKLIST_ACTIONS] },
  },
};

const EMPTY_BODY: Schema = { type: 'object', additionalProperties: false, properties: {} };

/** `step` of /metrics/history: an integer and s, m, h or d; checked against STEP_MIN/MAX_MILLIS by the handler. */
const STEP = {
  type: 'string',
  pattern: '^[1-9][0-9]{0,5}[smhd]$',
  description: 'Width of one point: 1s to 1d (10s, 1m, 1h). Default: every kept sample.',
} as const;
const STEP_MIN_MILLIS = 1000;
const STEP_MAX_MILLIS = 86_400_000;

/** The figures of a host sample (its process fields are the daemon's own and say nothing about the host). */
function hostView(e: HostStatsEvent, withTop: boolean): Record<string, unknown> {
  return {
    ts: e.ts,
    interval_ms: e.interval_ms,
    cpu_percent: e.cpu_percent,
    load1: e.load1,
    mem_total_bytes: e.mem_total_bytes,
    mem_available_bytes: e.mem_available_bytes,
    disk_read_bytes: e.disk_read_bytes,
    disk_write_bytes: e.disk_write_bytes,
    net_rx_bytes: e.net_rx_bytes,
    net_tx_bytes: e.net_tx_bytes,
    ...(withTop && e.top_cpu !== undefined ? { top_cpu: e.top_cpu } : {}),
    ...(withTop && e.top_rss !== undefined ? { top_rss: e.top_rss } : {}),
  };
}

function trendView(e: TrendEvent): Record<string, unknown> {
  return {
    subject: e.subject,
    ts: e.ts,
    current: e.current,
    capacity: e.capacity ?? null,
    slope_per_s: e.slope_per_s,
    forecast_seconds: e.forecast_seconds ?? null,
    horizon_seconds: e.horizon_seconds ?? null,
    ...(e.message !== undefined ? { message: e.message } : {}),
  };
}

export function createRoutes(deps: ApiDeps): RouteSpec[] {
  const source = (caller: Caller): string => `api:${caller.actor}@${caller.address}`;
  return [
    {
      method: 'GET',
      path: '/api/v1/health',
      permission: undefined,
      summary: 'Liveness and what the sensor can do here (no key needed).',
      handle: () => ({ status: 200, body: deps.health() }),
    },
    {
      method: 'GET',
      path: '/api/v1/openapi.json',
      permission: undefined,
      summary: 'This API as OpenAPI 3.1 (no key needed).',
      handle: () => ({ status: 200, body: deps.openapi() }),
    },
    {
      method: 'GET',
      path: '/api/v1/stats',
      permission: 'stats:read',
      summary: 'Events processed/blocked/passed, drops, events/s, latency, CPU, memory, per-sink delivery.',
      handle: () => {
        const snap = snapshotStats(deps.stats, { version: deps.version, detailed: false, usage: deps.usage() });
        const sensor = snap.sensor;
        const blocked = sensor.blocks_total + Object.values(sensor.net_blocks).reduce((a, b) => a + b, 0);
        const processed = snap.pipeline?.events_in ?? 0;
        let sinkDrops = 0;
        const sinks: Record<string, unknown> = {};
        for (const [name, s] of Object.entries(snap.sinks ?? {})) {
          const dropped = Object.values(s.dropped).reduce((a, b) => a + b, 0);
          sinkDrops += dropped;
          sinks[name] = {
            type: s.type,
            healthy: s.healthy,
            received: s.received,
            delivered: s.delivered,
            dead_lettered: s.dead_lettered,
            dropped,
            retried: s.retried,
            buffer_events: s.buffer_events,
          };
        }
        const kernelDrops = sensor.ringbuf_drops + sensor.net_ringbuf_drops;
        return {
          status: 200,
          body: {
            events_processed: processed,
            events_blocked: blocked,
            events_passed: Math.max(0, processed - blocked),
            // Inbound filter verdicts (direction `in` entries); 0 without an ingress program.
            packets_passed: sensor.packets?.passed ?? 0,
            packets_dropped: sensor.packets?.dropped ?? 0,
            drops: {
              total: kernelDrops + sinkDrops + (snap.pipeline?.unrouted ?? 0),
              kernel_ring: kernelDrops,
              sinks: sinkDrops,
              unrouted: snap.pipeline?.unrouted ?? 0,
            },
            events_per_second: deps.rate(),
            latency_us: snap.pipeline?.latency_us ?? {},
            cpu_percent: snap.process?.cpu_percent ?? 0,
            memory_mb: Math.round(((snap.process?.rss_bytes ?? 0) / 1048576) * 10) / 10,
            uptime_seconds: snap.uptime_seconds,
            sensor: { attached: sensor.attached, backend: sensor.backend ?? null, mode: sensor.mode ?? null },
            sinks,
          },
        };
      },
    },
    {
      method: 'GET',
      path: '/api/v1/policy',
      permission: 'policy:read',
      summary: 'The applied policy, the previous one, and what the kernel holds.',
      handle: async () => {
        await deps.blocklist.settled();
        return deps.withPolicy((engine) => {
          const show = engine.show();
          return {
            status: 200,
            body: {
              current: policyView(show.current),
              previous: policyView(show.previous),
              kernel: show.kernel ?? null,
            },
          };
        });
      },
    },
    {
      method: 'PUT',
      path: '/api/v1/policy',
      permission: 'policy:apply',
      summary:
        'Apply a policy (the checks and refusal reasons of `aegisbpf policy apply`); blocklist entries are kept.',
      body: POLICY_BODY,
      auditAction: 'policy.apply',
      handle: async (req) => {
        // Under the store's lock, once blocklist changes being stored are in it: they are carried over, not
        // overwritten, and an `aegisbpf policy apply` of the same moment is seen (or waits for this one).
        const { result, carried } = await deps.blocklist.exclusive(() => {
          const layered = deps.blocklist.carryOver(JSON.stringify(req.body));
          return {
            result: deps.withPolicy((engine) => engine.apply(layered.text, source(req.caller))),
            carried: layered.carried,
          };
        });
        return {
          status: 200,
          body: { ...applyView(result), blocklist_entries_kept: carried },
          audit: {
            action: 'policy.apply',
            target: `generation ${result.generation}`,
            result: 'success',
            detail: result.message,
          },
        };
      },
    },
    {
      method: 'POST',
      path: '/api/v1/policy/rollback',
      permission: 'policy:apply',
      summary: 'Re-apply the previously applied policy.',
      body: EMPTY_BODY,
      auditAction: 'policy.rollback',
      handle: async () => {
        const result = await deps.blocklist.exclusive(() => deps.withPolicy((engine) => engine.rollback()));
        return {
          status: 200,
          body: applyView(result),
          audit: {
            action: 'policy.rollback',
            target: `generation ${result.generation}`,
            result: 'success',
            detail: result.message,
          },
        };
      },
    },
    {
      method: 'GET',
      path: '/api/v1/blocklist',
      permission: 'blocklist:read',
      summary: 'The blocklist entries (rules of the applied policy).',
      handle: () => ({ status: 200, body: { entries: deps.blocklist.list() } }),
    },
    {
      method: 'POST',
      path: '/api/v1/blocklist',
      permission: 'blocklist:write',
      summary: 'Add an entry: applied to the kernel maps at once and kept in the policy store.',
      body: BLOCKLIST_BODY,
      auditAction: 'blocklist.add',
      handle: async (req) => {
        const entry = entryFromRequest(req.body as BlocklistRequest);
        const { result, durable } = await deps.blocklist.add(entry, source(req.caller));
        return {
          durable,
          status: 201,
          body: { entry, generation: result.generation, live: result.live, mode: result.mode, message: result.message },
          audit: {
            action: 'blocklist.add',
            target: entry.id,
            result: 'success',
            detail: `${entry.action}; ${result.message}`,
          },
        };
      },
    },
    {
      method: 'DELETE',
      path: '/api/v1/blocklist/{entry}',
      permission: 'blocklist:write',
      summary: 'Remove an entry, by its id or its value (path, dev:ino, address/CIDR), URL-encoded.',
      auditAction: 'blocklist.delete',
      handle: async (req) => {
        const key = req.params.entry as string;
        const { entry, result, durable } = await deps.blocklist.remove(key, source(req.caller));
        return {
          durable,
          status: 200,
          body: { removed: entry, generation: result.generation, live: result.live, message: result.message },
          audit: { action: 'blocklist.delete', target: entry.id, result: 'success', detail: result.message },
        };
      },
    },
    {
      method: 'GET',
      path: '/api/v1/events',
      permission: 'events:read',
      summary: 'Recent events from the in-memory ring (api.events_ring), oldest first.',
      query: {
        type: 'object',
        additionalProperties: false,
        properties: { type: { enum: [...EVENT_TYPES] }, since: SINCE, limit: LIMIT },
      },
      handle: (req) => {
        const events: AegisEvent[] = deps.events.query({
          ...(req.query.type !== undefined ? { type: req.query.type } : {}),
          ...(req.query.since !== undefined ? { sinceMillis: parseSince(req.query.since) } : {}),
          limit: limitOf(req.query),
        });
        return { status: 200, body: { events, ring_capacity: deps.events.capacity } };
      },
    },
    {
      method: 'GET',
      path: '/api/v1/anomalies',
      permission: 'analytics:read',
      summary: `Findings of the anomaly processors (the last ${MAX_ANOMALIES} kept), oldest first, and each detector's keys held and evicted.`,
      query: { type: 'object', additionalProperties: false, properties: { since: SINCE } },
      handle: (req) => {
        const since = parseSince(req.query.since) ?? 0;
        return {
          status: 200,
          body: {
            anomalies: deps.analytics.anomalies(since),
            capacity: MAX_ANOMALIES,
            detectors: deps.analytics.detectors(),
          },
        };
      },
    },
    {
      method: 'GET',
      path: '/api/v1/trends',
      permission: 'analytics:read',
      summary:
        'The latest forecast of every subject of the trends source (kernel maps, event volume), reported or not.',
      handle: () => ({ status: 200, body: { trends: deps.analytics.trends().map(trendView) } }),
    },
    {
      method: 'GET',
      path: '/api/v1/metrics/realtime',
      permission: 'analytics:read',
      summary:
        'The last host sample (null without a host source) and the pipeline rates: events/s in all and per source.',
      handle: () => {
        const now = deps.analytics.realtime();
        const rates = deps.sourceRates();
        const sources: Record<string, unknown> = {};
        for (const [name, total] of Object.entries(now.sourceEvents))
          sources[name] = { events_total: total, events_per_second: rates[name] ?? 0 };
        return {
          status: 200,
          body: {
            host: now.host === undefined ? null : hostView(now.host, true),
            pipeline: {
              events_per_second: deps.rate(),
              window_seconds: deps.rateWindowSeconds,
              in_flight: now.inFlight,
              sources,
            },
          },
        };
      },
    },
    {
      method: 'GET',
      path: '/api/v1/metrics/history',
      permission: 'analytics:read',
      summary: `Host samples kept in memory (the last ${MAX_HOST_SAMPLES}): the last sample of each step from since on, oldest first.`,
      query: { type: 'object', additionalProperties: false, properties: { since: SINCE, step: STEP } },
      handle: (req) => {
        const since = parseSince(req.query.since) ?? 0;
        let step = 1;
        if (req.query.step !== undefined) {
          step = parseHumanDuration(req.query.step) ?? Number.NaN;
          if (!(step >= STEP_MIN_MILLIS && step <= STEP_MAX_MILLIS))
            throw bad(`step: "${req.query.step}" is outside 1s to 1d`);
        }
        const points = deps.analytics.history(since, step).map((p) => hostView(p.sample, false));
        return {
          status: 200,
          body: {
            step_seconds: req.query.step === undefined ? null : step / 1000,
            capacity: MAX_HOST_SAMPLES,
            points,
          },
        };
      },
    },
    {
      method: 'GET',
      path: '/api/v1/audit',
      permission: 'audit:read',
      summary: 'Audit records, newest last (filters: since, action, user, limit).',
      query: {
        type: 'object',
        additionalProperties: false,
        properties: {
          since: SINCE,
          action: { type: 'string', pattern: '^[a-z_.]{1,40}$' },
          user: { type: 'string', minLength: 1, maxLength: 128 },
          limit: LIMIT,
        },
      },
      handle: (req) => {
        const since = parseSince(req.query.since);
        const limit = limitOf(req.query);
        const records: AuditRecord[] = readAuditRecords(deps.auditFile).filter(
          (r) =>
            (since === undefined || Date.parse(r.ts) >= since) &&
            (req.query.action === undefined || r.action === req.query.action) &&
            (req.query.user === undefined || r.actor.includes(req.query.user)),
        );
        return { status: 200, body: { records: records.slice(-limit) } };
      },
    },
  ];
}

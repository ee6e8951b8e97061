/**
 * Runs alert rules: counts events into sliding windows as the sources deliver them (`observe`, before the
 * processors, so that sampling or throttling cannot hide a storm), reads the agent's own counters, and on each
 * `evaluate(now)` moves every rule through inactive → pending (`for`) → firing (repeated every `repeat`) →
 * resolved, returning the alert events to send. The clock is a parameter: tests drive it, the pipeline passes
 * Date.now(). State is bounded: WINDOW_BUCKETS counters per rate rule, a few samples per drops rule.
 */
import type { AegisEvent, AlertEvent } from '../../event/types';
import type { StatsRegistry } from '../../telemetry/stats';
import { compare } from './condition';
import type { ConditionValue } from './condition';
import type { AlertRule } from './rule';
import { renderMessage } from './rule';

/** Buckets per rate window: a window of 5 minutes counts in 5 s steps. */
export const WINDOW_BUCKETS = 60;

/** What the conditions over the agent's own metrics read; from the StatsRegistry in the pipeline. */
export interface AgentMetrics {
  /** Events dropped so far (cumulative): kernel ring buffer drops plus sink buffer drops. */
  drops(): number;
  /** Events waiting in the named sink's buffer, or the largest over all sinks; undefined when there is no such sink. */
  sinkLag(sink: string | undefined): number | undefined;
  /** Percent of capacity in use of the named policy map, or of the fullest; undefined when no map is loaded. */
  mapUtilization(map: string | undefined): number | undefined;
}

export interface AlertNotification {
  readonly rule: AlertRule;
  readonly event: AlertEvent;
}

export interface AlertStatus {
  readonly name: string;
  readonly state: 'inactive' | 'pending' | 'firing';
  readonly value: number | undefined;
  readonly since: number | undefined;
}

export interface AlertEngine {
  readonly rules: readonly AlertRule[];
  observe(events: readonly AegisEvent[], nowMillis: number): void;
  evaluate(nowMillis: number): AlertNotification[];
  status(): AlertStatus[];
  /** A firing notification for the rule now, whatever its state (`aegisbpf alerts test NAME`). */
  testNotification(name: string, nowMillis: number): AlertNotification | undefined;
}

export interface AlertEngineOptions {
  readonly hostname: string;
  readonly metrics: AgentMetrics;
  /** The agent's own process, for the alert events' process fields. */
  readonly pid?: number;
  readonly ppid?: number;
}

class Window {
  private readonly counts: number[];
  private readonly bucketMillis: number;
  private last = -1;
  private total = 0;
  constructor(readonly windowMillis: number) {
    this.bucketMillis = Math.max(1, Math.ceil(windowMillis / WINDOW_BUCKETS));
    this.counts = new Array<number>(Math.ceil(windowMillis / this.bucketMillis)).fill(0);
  }
  private advance(now: number): void {
    const index = Math.floor(now / this.bucketMillis);
    if (this.last < 0) this.last = index;
    const steps = Math.min(index - this.last, this.counts.length);
    for (let i = 1; i <= steps; i++) {
      const slot = (this.last + i) % this.counts.length;
      this.total -= this.counts[slot] as number;
      this.counts[slot] = 0;
    }
    if (index > this.last) this.last = index;
  }
  add(n: number, now: number): void {
    this.advance(now);
    this.counts[this.last % this.counts.length] = (this.counts[this.last % this.counts.length] as number) + n;
    this.total += n;
  }
  sum(now: number): number {
    this.advance(now);
    return this.total;
  }
}

interface RuleState {
  phase: 'inactive' | 'pending' | 'firing';
  since: number;
  lastSent: number;
  value: number | undefined;
  window: Window | undefined;
  samples: { t: number; v: number }[];
}

/** `140.25`: at most two decimals, no trailing zeros (the alert event's `value` and `{{ value }}`). */
export function formatValue(v: number): string {
  if (!Number.isFinite(v)) return '0';
  return String(Math.round(v * 100) / 100);
}

/** RFC 3339 UTC with microseconds, as every event's `ts`. */
export function isoMicros(millis: number): string {
  return new Date(millis).toISOString().replace(/Z$/, '000Z');
}

export function createAlertEngine(rules: readonly AlertRule[], options: AlertEngineOptions): AlertEngine {
  const pid = options.pid ?? process.pid;
  const ppid = options.ppid ?? process.ppid;
  const states = new Map<string, RuleState>();
  const counting: { test: (e: AegisEvent) => boolean; window: Window }[] = [];
  for (const rule of rules) {
    const v = rule.condition.value;
    const window = v.kind === 'rate' || v.kind === 'count' ? new Window(v.windowMillis) : undefined;
    if (window !== undefined && (v.kind === 'rate' || v.kind === 'count')) counting.push({ test: v.test, window });
    states.set(rule.name, { phase: 'inactive', since: 0, lastSent: 0, value: undefined, window, samples: [] });
  }

  const measure = (v: ConditionValue, state: RuleState, now: number): number | undefined => {
    switch (v.kind) {
      case 'rate':
        return (state.window as Window).sum(now) / (v.windowMillis / 1000);
      case 'count':
        return (state.window as Window).sum(now);
      case 'drops': {
        const s = state.samples;
        s.push({ t: now, v: options.metrics.drops() });
        while (s.length > 2 && (s[1] as { t: number }).t <= now - v.windowMillis) s.shift();
        const first = s[0] as { t: number; v: number };
        const span = (now - first.t) / 1000;
        return span <= 0 ? 0 : (options.metrics.drops() - first.v) / span;
      }
      case 'sink_lag':
        return options.metrics.sinkLag(v.sink);
      case 'map_utilization':
        return options.metrics.mapUtilization(v.map);
    }
  };

  const event = (rule: AlertRule, status: 'firing' | 'resolved', value: number, startedAt: number, now: number) => {
    const text = formatValue(value);
    const ev: AlertEvent = {
      ts: isoMicros(now),
      type: 'alert',
      host: options.hostname,
      pid,
      ppid,
      start_time: 0,
      exec_id: `${pid}:0`,
      trace_id: `${pid}:0`,
      cgid: 0,
      cgroup_path: '/',
      comm: 'aegisbpf',
      // Stable for the same notification (sinks that deduplicate by id, e.g. NATS JetStream, drop a resend).
      event_id: `alert:${options.hostname}:${rule.name}:${startedAt}:${status}:${now}`,
      alert: rule.name,
      status,
      severity: rule.severity,
      message: renderMessage(rule, { value: text, host: options.hostname }),
      condition: rule.condition.source,
      value: text,
      started_at: isoMicros(startedAt),
    };
    return { rule, event: ev };
  };

  return {
    rules,
    observe(events, now) {
      if (counting.length === 0 || events.length === 0) return;
      for (const c of counting) {
        let n = 0;
        for (const e of events) if (c.test(e)) n++;
        if (n > 0) c.window.add(n, now);
      }
    },
    evaluate(now) {
      const out: AlertNotification[] = [];
      for (const rule of rules) {
        const state = states.get(rule.name) as RuleState;
        const value = measure(rule.condition.value, state, now);
        state.value = value;
        const holds = value !== undefined && compare(value, rule.condition.op, rule.condition.threshold);
        if (!holds) {
          if (state.phase === 'firing') out.push(event(rule, 'resolved', value ?? 0, state.since, now));
          state.phase = 'inactive';
          continue;
        }
        if (state.phase === 'inactive') {
          state.phase = 'pending';
          state.since = now;
        }
        if (state.phase === 'pending' && now - state.since >= rule.forMillis) {
          state.phase = 'firing';
          state.lastSent = now;
          out.push(event(rule, 'firing', value, state.since, now));
        } else if (state.phase === 'firing' && rule.repeatMillis > 0 && now - state.lastSent >= rule.repeatMillis) {
          state.lastSent = now;
          out.push(event(rule, 'firing', value, state.since, now));
        }
      }
      return out;
    },
    status() {
      return rules.map((r) => {
        const s = states.get(r.name) as RuleState;
        return {
          name: r.name,
          state: s.phase,
          value: s.value,
          since: s.phase === 'inactive' ? undefined : s.since,
        };
      });
    },
    testNotification(name, now) {
      const rule = rules.find((r) => r.name === name);
      if (rule === undefined) return undefined;
      const s = states.get(name) as RuleState;
      return event(rule, 'firing', s.value ?? rule.condition.threshold, now, now);
    },
  };
}

/** AgentMetrics read from the pipeline's StatsRegistry (at evaluation time, never per event). */
export function metricsFromStats(stats: StatsRegistry): AgentMetrics {
  return {
    drops() {
      let n = stats.sensor.read().ringbufDrops;
      for (const s of stats.sinks.values()) for (const v of Object.values(s.dropped)) n += v;
      return n;
    },
    sinkLag(sink) {
      if (sink !== undefined) return stats.sinks.get(sink)?.bufferEvents;
      let max: number | undefined;
      for (const s of stats.sinks.values()) max = Math.max(max ?? 0, s.bufferEvents);
      return max;
    },
    mapUtilization(map) {
      let max: number | undefined;
      for (const m of stats.sensor.read().maps) {
        if (map !== undefined && m.map !== map) continue;
        if (m.capacity <= 0) continue;
        max = Math.max(max ?? 0, (m.entries / m.capacity) * 100);
      }
      return max;
    },
  };
}

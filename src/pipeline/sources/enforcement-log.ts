/**
 * The monitoring guide's `enforcement_event` log line, one per enforcement the sensor reports, so that its Loki panels
 * (`{job="aegisbpf"} |= "enforcement_event"`) have something to show:
 *
 *   {"ts":"…","level":"INFO","msg":"enforcement_event","action":"BLOCK","path":"/etc/shadow","inode":"2049:1234",
 *    "pid":4242,"comm":"cat","uid":1000,"cgroup":"/user.slice/…","timestamp":"…"}
 *
 * An enforcement is a rule hit in enforce mode with an action other than AUDIT (block events, and connect events
 * that carry an action). Audit-mode hits are not enforcements: they are only events.
 *
 * Rate-limited: a flood of denials must not turn the daemon's log into a second event stream. At most
 * `maxPerSecond` lines per second (token bucket, bursts up to the same number); the lines left out are counted,
 * reported in an `enforcement_event lines suppressed` warning (`suppressed` since the last one, `suppressed_total`)
 * at most every 10 s while it lasts, and available as `suppressedTotal()`.
 */
import type { AegisEvent } from '../../event/types';
import type { Logger } from '../../util/logger';

export const DEFAULT_ENFORCEMENT_LOG_PER_SECOND = 100;
const SUMMARY_INTERVAL_MILLIS = 10_000;

export interface EnforcementLog {
  /** Log the enforcements among `events` (called once per sensor batch). */
  observe(events: readonly AegisEvent[]): void;
  loggedTotal(): number;
  suppressedTotal(): number;
}

export function isEnforcement(event: AegisEvent): boolean {
  if (event.mode !== 'enforce') return false;
  if (event.type === 'block') return event.action !== 'AUDIT';
  if (event.type === 'connect') return event.action !== undefined && event.action !== 'AUDIT';
  return false;
}

function lineFields(event: AegisEvent): Record<string, unknown> {
  const common = {
    pid: event.pid,
    comm: event.comm,
    uid: event.uid ?? null,
    cgroup: event.cgroup_path,
    timestamp: event.ts,
  };
  if (event.type === 'block')
    return {
      action: event.action,
      path: event.path ?? event.resolved_path ?? null,
      inode: `${event.dev}:${event.ino}`,
      ...common,
      ...(event.policy !== undefined ? { policy: event.policy } : {}),
    };
  if (event.type === 'connect')
    return {
      action: event.action,
      remote_ip: event.remote_ip,
      remote_port: event.remote_port,
      protocol: event.protocol,
      ...common,
      ...(event.policy !== undefined ? { policy: event.policy } : {}),
    };
  return common;
}

export function createEnforcementLog(
  logger: Logger,
  options: { readonly maxPerSecond?: number; readonly now?: () => number } = {},
): EnforcementLog {
  const rate = options.maxPerSecond ?? DEFAULT_ENFORCEMENT_LOG_PER_SECOND;
  const now = options.now ?? Date.now;
  let tokens = rate;
  let refilledAt = now();
  let logged = 0;
  let suppressed = 0;
  let suppressedSinceSummary = 0;
  let summaryAt = 0;
  return {
    observe(events) {
      for (const event of events) {
        if (!isEnforcement(event)) continue;
        const t = now();
        tokens = Math.min(rate, tokens + ((t - refilledAt) / 1000) * rate);
        refilledAt = t;
        if (tokens >= 1) {
          tokens -= 1;
          logged++;
          logger.info('enforcement_event', lineFields(event));
          continue;
        }
        suppressed++;
        suppressedSinceSummary++;
        if (t - summaryAt >= SUMMARY_INTERVAL_MILLIS) {
          summaryAt = t;
          logger.warn('enforcement_event lines suppressed', {
            suppressed: suppressedSinceSummary,
            suppressed_total: suppressed,
            max_per_second: rate,
          });
          suppressedSinceSummary = 0;
        }
      }
    },
    loggedTotal: () => logged,
    suppressedTotal: () => suppressed,
  };
}

/**
 * HEC healthcheck, two requests:
 * 1. `GET /services/collector/health`: HEC is up and its queues are not full (`200`, code 17; `503` codes 18–20
 *    say which part is unhealthy). Splunk does not check the token here; some receivers do, so it is sent.
 * 2. A token check that indexes nothing: `POST` an empty body to the endpoint the sink sends to, on the sink's
 *    channel. The token is checked before the body, so a good token gets `400` code 5 "No data" and a bad one
 *    401/403 (codes 2/3/4, or a plain-text 401 from an authenticating proxy).
 */
import type { HealthResult } from '../core/types';
import type { HttpClient } from '../core/http';
import { classifyHecAnswer, describeAnswer, parseHecAnswer } from './retry-policy';

export interface HecHealthContext {
  readonly http: HttpClient;
  /** Authorization, channel and User-Agent headers. */
  readonly headers: Readonly<Record<string, string>>;
  /** Path (and query) the sink POSTs batches to. */
  readonly sendPath: string;
}

export async function checkHecHealth(ctx: HecHealthContext, signal: AbortSignal): Promise<HealthResult> {
  const health = await ctx.http.request(
    { method: 'GET', path: '/services/collector/health', headers: ctx.headers },
    signal,
  );
  if (!health.ok) return { healthy: false, reason: `cannot reach HEC: ${health.error}` };
  const h = parseHecAnswer(health.status, health.body, undefined);
  if (h.status === 401 || h.status === 403)
    return { healthy: false, reason: `HEC refused the token (${describeAnswer(h)})` };
  if (h.status !== 200 || (h.code !== undefined && h.code !== 17))
    return { healthy: false, reason: `HEC health check: ${describeAnswer(h)}` };

  const probe = await ctx.http.request(
    {
      method: 'POST',
      path: ctx.sendPath,
      headers: { ...ctx.headers, 'Content-Type': 'application/json' },
      body: Buffer.alloc(0),
    },
    signal,
  );
  if (!probe.ok) return { healthy: false, reason: `cannot reach HEC: ${probe.error}` };
  const p = parseHecAnswer(probe.status, probe.body, undefined);
  if (p.code === 5 || (p.status === 200 && (p.code === undefined || p.code === 0))) return { healthy: true };
  const outcome = classifyHecAnswer(p);
  if (outcome.kind === 'retryable' && outcome.unhealthy === true) return { healthy: false, reason: outcome.reason };
  return {
    healthy: false,
    reason: `HEC token check (empty POST to ${ctx.sendPath.split('?')[0] ?? ''}) answered ${describeAnswer(p)}`,
  };
}

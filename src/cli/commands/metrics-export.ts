/**
 * `aegisbpf metrics export --format prometheus --endpoint URL` (the Blixard monitoring guide's form): push the
 * daemon's exposition to a Prometheus Pushgateway (or anything that speaks its API), for hosts Prometheus cannot
 * scrape. One HTTP PUT of the text format to `<endpoint>/metrics/job/aegisbpf/instance/<host>`: PUT replaces the
 * whole group, so a family that disappeared (a removed sink) does not linger. An endpoint that already names a
 * group (`…/metrics/job/…`) is used as it is. TLS is verified (Node's CA store, NODE_EXTRA_CA_CERTS for a private
 * CA); credentials in the URL (`https://user:pass@…`) are sent as Basic authentication and never printed.
 */
import os from 'node:os';
import { AegisError, describeError } from '../../util/errors';

export const EXPORT_FORMATS = ['prometheus'] as const;
export const PUSH_TIMEOUT_MILLIS = 10_000;

/** The URL to PUT to, and the same URL without credentials for messages. */
export function pushTarget(endpoint: string, instance: string = os.hostname()): { url: URL; shown: string } {
  let url: URL;
  try {
    url = new URL(endpoint);
  } catch {
    throw new AegisError('AEGIS_ERR_USAGE', `metrics export: --endpoint must be a URL (got '${endpoint}').`);
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:')
    throw new AegisError(
      'AEGIS_ERR_USAGE',
      `metrics export: --endpoint must be http:// or https:// (got '${url.protocol}').`,
    );
  if (!/\/metrics\/job\/[^/]+/.test(url.pathname)) {
    const base = url.pathname.replace(/\/+$/, '');
    url.pathname = `${base}/metrics/job/aegisbpf/instance/${encodeURIComponent(instance)}`;
  }
  const shown = new URL(url.href);
  shown.username = '';
  shown.password = '';
  return { url, shown: shown.href };
}

/** PUT the exposition; resolves with a message, rejects with AEGIS_ERR_METRICS_PUSH naming the status or error. */
export async function pushExposition(target: { url: URL; shown: string }, body: Buffer | string): Promise<string> {
  const headers: Record<string, string> = { 'content-type': 'text/plain; version=0.0.4; charset=utf-8' };
  const url = new URL(target.url.href);
  if (url.username !== '' || url.password !== '') {
    const user = decodeURIComponent(url.username);
    const pass = decodeURIComponent(url.password);
    headers.authorization = `Basic ${Buffer.from(`${user}:${pass}`).toString('base64')}`;
    url.username = '';
    url.password = '';
  }
  let res: Response;
  try {
    res = await fetch(url, { method: 'PUT', headers, body, signal: AbortSignal.timeout(PUSH_TIMEOUT_MILLIS) });
  } catch (err) {
    throw new AegisError('AEGIS_ERR_METRICS_PUSH', `Pushing metrics to ${target.shown} failed: ${describeError(err)}`, {
      cause: err,
    });
  }
  const text = (await res.text()).slice(0, 500);
  if (res.status < 200 || res.status > 299)
    throw new AegisError(
      'AEGIS_ERR_METRICS_PUSH',
      `Pushing metrics to ${target.shown} failed: HTTP ${res.status}${text !== '' ? `: ${text.trim()}` : ''}`,
    );
  return `Pushed the metrics to ${target.shown} (HTTP ${res.status}).`;
}

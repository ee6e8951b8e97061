/**
 * The webhook healthcheck connects to the receiver (TCP, and the TLS handshake with the same verification and client
 * certificate a send uses) and closes the connection. It sends no request: an empty POST to a chat or paging
 * endpoint would post a message or open an incident. What the receiver thinks of a body, the first send tells.
 */
import type { HealthResult } from '../core/types';
import type { HttpClient } from '../core/http';

export async function checkWebhookHealth(client: HttpClient, signal: AbortSignal): Promise<HealthResult> {
  const r = await client.probe(signal);
  return r.ok ? { healthy: true } : { healthy: false, reason: `cannot reach the webhook receiver: ${r.error}` };
}

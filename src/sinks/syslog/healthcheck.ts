/**
 * Healthchecks do what a send does, without events:
 * - tcp / tls: connect (and complete the TLS handshake with full verification), then close;
 * - relp: connect, `open` the RELP session (offers exchanged, `rsp 200`), `close` it;
 * - udp: there is no handshake. Send an empty datagram (rsyslog's imudp ignores empty datagrams) on a connected
 *   socket, wait a moment and send another: if nothing listens, the ICMP "port unreachable" of the first makes the
 *   second fail with ECONNREFUSED. Across firewalls that drop ICMP this cannot see anything, and says so.
 */
import dgram from 'node:dgram';
import dns from 'node:dns';
import { sleep } from '../core/retry';
import type { HealthResult } from '../core/types';
import type { StreamTarget } from './connection';
import { openStream } from './connection';
import type { FailureContext } from './retry-policy';
import { describeSyslogFailure } from './retry-policy';

export async function checkStream(
  target: StreamTarget,
  context: FailureContext,
  signal: AbortSignal,
): Promise<HealthResult> {
  try {
    const socket = await openStream(target, signal);
    socket.end();
    socket.destroySoon();
    return { healthy: true };
  } catch (err) {
    return { healthy: false, reason: describeSyslogFailure(err, context).reason };
  }
}

/** Resolve `host` to one address and its socket type (the first address the resolver returns). */
export async function resolveUdp(host: string): Promise<{ address: string; type: 'udp4' | 'udp6' }> {
  const { address, family } = await dns.promises.lookup(host);
  return { address, type: family === 6 ? 'udp6' : 'udp4' };
}

/** Milliseconds between the two probe datagrams (loopback and LAN ICMP arrive well within this). */
export const UDP_PROBE_WAIT_MILLIS = 100;

export async function checkUdp(
  host: string,
  port: number,
  context: FailureContext,
  signal: AbortSignal,
): Promise<HealthResult> {
  let socket: dgram.Socket | undefined;
  try {
    const { address, type } = await resolveUdp(host);
    const s = dgram.createSocket(type);
    socket = s;
    let asyncError: Error | undefined;
    s.on('error', (err) => (asyncError = err));
    await new Promise<void>((resolve, reject) => {
      s.once('error', reject);
      s.connect(port, address, () => {
        s.off('error', reject);
        resolve();
      });
    });
    const probe = (): Promise<void> =>
      new Promise<void>((resolve, reject) => s.send(Buffer.alloc(0), (err) => (err ? reject(err) : resolve())));
    await probe();
    await sleep(UDP_PROBE_WAIT_MILLIS, signal);
    await probe();
    await sleep(UDP_PROBE_WAIT_MILLIS / 2, signal);
    if (asyncError !== undefined) throw asyncError;
    return { healthy: true };
  } catch (err) {
    const code = (err as { code?: unknown }).code;
    if (code === 'ECONNREFUSED')
      return {
        healthy: false,
        reason: `udp: nothing listens at ${context.where} (ICMP port unreachable, ECONNREFUSED)`,
      };
    return { healthy: false, reason: describeSyslogFailure(err, context).reason };
  } finally {
    socket?.close();
  }
}

/**
 * `udp` transport (RFC 5426): one message per datagram on a connected socket, no framing.
 *
 * Delivered means handed to the kernel: UDP has no acknowledgement, so a datagram the network or a busy receiver
 * drops is lost without a trace. The one failure UDP can report is ICMP "port unreachable" from a host where
 * nothing listens, which a connected socket surfaces as ECONNREFUSED on a later send: the whole batch is retried
 * (the refused datagram's predecessors went to the closed port too). The attempt after a failed one uses a new
 * socket: an ICMP answer to a datagram of the failed attempt can still arrive on the old one and would be reported
 * on the next send, failing an attempt whose own datagrams found the receiver. Messages longer than `max_message_bytes` (default 2048, what RFC 5426 receivers SHOULD accept) are
 * truncated at their end on a UTF-8 boundary and counted.
 */
import dgram from 'node:dgram';
import type { Batch, HealthResult, SendResult, Transport } from '../core/types';
import type { SyslogSinkConfig } from './config';
import { truncateMessage } from './framing';
import { checkUdp, resolveUdp } from './healthcheck';
import { syslogRetryLogic, describeSyslogFailure } from './retry-policy';
import type { SyslogTransportDeps } from './shared';
import { failureContext, increment, reportFailure } from './shared';
import { createSerializer } from '../core/serialize';

export function createUdpTransport(config: SyslogSinkConfig, deps: SyslogTransportDeps): Transport<string> {
  const { logger, counters } = deps;
  const context = failureContext(config);
  const retryLogic = syslogRetryLogic(context);
  let socket: dgram.Socket | undefined;
  /** abandon() was called: sends settle at once, whatever their callbacks do. */
  let abandoned = false;
  let onAbandon: () => void = () => undefined;
  const abandonedPromise = new Promise<'abandoned'>((resolve) => (onAbandon = () => resolve('abandoned')));

  const discard = (s: dgram.Socket): void => {
    if (socket === s) socket = undefined;
    try {
      s.close();
    } catch {
      // already closed
    }
  };

  const serialized = createSerializer();

  const open = async (): Promise<dgram.Socket> => {
    if (socket !== undefined) return socket;
    const { address, type } = await resolveUdp(config.host);
    const s = dgram.createSocket(type);
    s.on('error', () => {
      // Errors also reach the send callbacks; a socket-level error means this socket is done.
      discard(s);
    });
    await new Promise<void>((resolve, reject) => {
      s.once('error', reject);
      s.connect(config.port, address, () => {
        s.off('error', reject);
        resolve();
      });
    });
    socket = s;
    return s;
  };

  const send = (batch: Batch<string>, signal: AbortSignal): Promise<SendResult> =>
    serialized(async () => {
      if (signal.aborted || abandoned) return { kind: 'retryable', reason: 'aborted before sending' };
      let s: dgram.Socket;
      try {
        s = await open();
      } catch (err) {
        reportFailure(logger, err, context);
        return retryLogic.classifyFailure(err);
      }
      const results: Promise<Error | null>[] = [];
      for (const rec of batch.records) {
        const { bytes, truncated } = truncateMessage(rec.data, config.maxMessageBytes);
        if (truncated) {
          increment(counters, 'truncated_total');
          logger.burst(
            'WARN',
            'syslog-truncated',
            `A syslog message was longer than max_message_bytes (${config.maxMessageBytes}) and was truncated at its end.`,
            {
              code: 'AEGIS_ERR_SYSLOG_TRUNCATED',
              truncatedTotal: counters.truncated_total,
            },
          );
        }
        results.push(new Promise<Error | null>((resolve) => s.send(bytes, (err) => resolve(err ?? null))));
      }
      const errors = await Promise.race([Promise.all(results), abandonedPromise]);
      if (errors === 'abandoned') return { kind: 'retryable', reason: 'abandoned at the shutdown deadline' };
      const failed = errors.find((e) => e !== null);
      if (failed === undefined || failed === null) return { kind: 'delivered' };
      discard(s); // the next attempt gets a fresh socket (see the top of this file)
      // ECONNREFUSED on datagram k is the ICMP answer to an earlier datagram of this batch, which was lost: the
      // whole batch is sent again (a receiver that came back in between may see some events twice).
      return { kind: 'retryable', reason: describeSyslogFailure(failed, context).reason };
    });

  return {
    send,
    healthcheck: (signal): Promise<HealthResult> => checkUdp(config.host, config.port, context, signal),
    reopen: () =>
      serialized(() => {
        if (socket !== undefined) discard(socket);
        return Promise.resolve();
      }),
    abandon: () => {
      abandoned = true;
      onAbandon();
      if (socket !== undefined) discard(socket);
    },
    close: () =>
      serialized(() => {
        if (socket !== undefined) discard(socket);
        return Promise.resolve();
      }),
  };
}

/**
 * `tcp` (RFC 6587) and `tls` (RFC 5425) transports: one long-lived connection, octet-counted frames (LF optional
 * on tcp), written in chunks of whole frames.
 *
 * Delivered means written: a record counts as delivered when the chunk holding it was handed to the kernel (the
 * write callback fired). That is the weakest acknowledgement in aegisbpf, and the only one plain syslog over TCP has:
 * the receiver never says what it processed. If it dies, what sat in the socket buffers (ours and its own) is lost
 * and nobody can know how much; docs/delivery.md gives the bound measured against rsyslog, and RELP is the answer
 * where that matters. What was *not* written when the connection broke is known exactly: the send reports those
 * records for retry (`partial`), the next attempt reconnects (with the core's backoff) and sends them again.
 *
 * The connection is checked before each batch: a receiver that closed it (FIN, RST, TLS close_notify) is noticed
 * and a new connection is made first, instead of writing into a dead socket.
 */
import fs from 'node:fs';
import type net from 'node:net';
import type { Batch, EncodedRecord, HealthResult, SendResult, Transport } from '../core/types';
import type { SyslogSinkConfig } from './config';
import { AbortedError, openStream } from './connection';
import { frameMessages } from './framing';
import { checkStream } from './healthcheck';
import { syslogRetryLogic, describeSyslogFailure } from './retry-policy';
import type { SyslogTransportDeps } from './shared';
import { failureContext, increment, reportFailure, streamTarget } from './shared';
import { createSerializer } from '../core/serialize';
import { Fifo } from '../core/fifo';

interface Conn {
  readonly socket: net.Socket;
  dead: boolean;
  error: Error | undefined;
  /** Records whose write completed on this connection. */
  written: number;
  /**
   * The completed writes that may still sit unread between the two applications: the last UNCONFIRMED_WINDOW_BYTES
   * written (oldest first), and their totals. Counted `unconfirmed` if the connection dies without our closing it.
   */
  readonly recent: Fifo<{ readonly records: number; readonly bytes: number }>;
  recentRecords: number;
  recentBytes: number;
  /** We are closing it (shutdown, SIGHUP): its end is not a loss. */
  closing: boolean;
  readonly deathWaiters: Set<() => void>;
}

/**
 * How much a connection may queue in user space before the transport waits for 'drain': one default batch (1 MiB),
 * not the socket's 16 KiB high-water mark. Waiting at 16 KiB meant a wait after every 64 KiB chunk; under TLS each
 * wait is an event-loop turn in which the source reads and formats more events than the sink sends, so the sink
 * buffer ran full and every buffered event was copied by young-generation GC. With 1 MiB: tls end to end into
 * rsyslog 59 488 / 58 434 → 81 081 / 71 429 events/s, −20 % sender CPU (docs/benchmarks.md, syslog). What counts
 * as written is unchanged: a chunk's own write callback; chunks still queued when the connection dies fail and are
 * sent again. (Past 16 KiB a write has returned false, so 'drain' does come once the queue is empty.)
 */
const QUEUE_BYTES_BEFORE_DRAIN = 1024 * 1024;

/**
 * The `unconfirmed` rule (docs/delivery.md#unconfirmed). A write completes when the kernel took the bytes; the
 * receiver may read them much later or never. What can still be unread when a connection dies is bounded by the
 * two kernels' buffers: our send queue (at most net.ipv4.tcp_wmem's maximum) and the receiver's receive queue (at
 * most its net.ipv4.tcp_rmem maximum, assumed equal to ours). Neither fill level is visible from Node (no
 * SIOCOUTQ / TCP_INFO), so the bound is used as it is: when a connection dies that aegisbpf did not close, the
 * records among the last `wmem_max + rmem_max` bytes whose write had completed are counted unconfirmed. An upper
 * bound (the receiver may have read some of them); TLS framing only makes it larger. Read once per transport.
 */
export function unconfirmedWindowBytes(read: (file: string) => string = (f) => fs.readFileSync(f, 'utf8')): number {
  const max = (file: string, fallback: number): number => {
    try {
      const v = Number(read(file).trim().split(/\s+/)[2]);
      return Number.isSafeInteger(v) && v > 0 ? v : fallback;
    } catch {
      return fallback;
    }
  };
  // Linux defaults when /proc cannot be read: 4 MiB send, 6 MiB receive.
  return max('/proc/sys/net/ipv4/tcp_wmem', 4 * 1024 * 1024) + max('/proc/sys/net/ipv4/tcp_rmem', 6 * 1024 * 1024);
}

export function createStreamTransport(config: SyslogSinkConfig, deps: SyslogTransportDeps): Transport<string> {
  const { logger, counters } = deps;
  const windowBytes = deps.unconfirmedWindowBytes ?? unconfirmedWindowBytes();
  const target = streamTarget(config);
  const context = failureContext(config);
  const retryLogic = syslogRetryLogic(context);
  let conn: Conn | undefined;
  /** abandon() was called (shutdown deadline): no new connection, no new write. */
  let abandoned = false;
  /** Every socket not yet closed, including one being closed by close() or reopen(): abandon() destroys them all. */
  const sockets = new Set<net.Socket>();
  /** Records whose write was issued on a connection that failed before confirming it. */
  const maybeReceived = new WeakSet<EncodedRecord<string>>();

  const serialized = createSerializer();

  const markDead = (c: Conn, err?: Error): void => {
    if (err !== undefined && c.error === undefined) c.error = err;
    if (c.dead) return;
    c.dead = true;
    if (c === conn) conn = undefined;
    if (c.written > 0 && !c.closing) {
      increment(counters, 'connection_lost_total');
      deps.unconfirmed?.(c.recentRecords);
      logger.burst(
        'WARN',
        'syslog-conn-lost',
        'The connection to the syslog receiver was lost. Plain TCP/TLS syslog has no acknowledgement: events written shortly before may be lost without a trace (use RELP where that matters). Unwritten events are resent after reconnecting.',
        {
          code: 'AEGIS_ERR_SYSLOG_CONNECTION_LOST',
          receiver: context.where,
          eventsWrittenOnConnection: c.written,
          eventsUnconfirmed: c.recentRecords,
          reason: c.error?.message,
        },
      );
    }
    for (const w of [...c.deathWaiters]) w();
    c.deathWaiters.clear();
  };

  const connect = async (signal: AbortSignal): Promise<Conn> => {
    if (conn !== undefined && !conn.dead && !conn.socket.destroyed) return conn;
    const socket = await openStream(target, signal);
    const c: Conn = {
      socket,
      dead: false,
      error: undefined,
      written: 0,
      recent: new Fifo(),
      recentRecords: 0,
      recentBytes: 0,
      closing: false,
      deathWaiters: new Set(),
    };
    sockets.add(socket);
    socket.once('close', () => sockets.delete(socket));
    if (abandoned) socket.destroy();
    socket.on('error', (err) => markDead(c, err));
    socket.on('end', () => {
      // The receiver closed its side (shutdown, idle timeout): nothing more can be delivered on this connection.
      markDead(c, Object.assign(new Error('the receiver closed the connection'), { code: 'ECONNRESET' }));
      socket.destroy();
    });
    socket.on('close', () => markDead(c, Object.assign(new Error('connection closed'), { code: 'ECONNRESET' })));
    socket.on('data', () => undefined); // syslog receivers send nothing; read so that FIN is seen
    increment(counters, 'connects_total');
    conn = c;
    return c;
  };

  const untilDrainOrDeath = (c: Conn, signal: AbortSignal): Promise<void> =>
    new Promise<void>((resolve) => {
      const done = (): void => {
        c.socket.off('drain', done);
        signal.removeEventListener('abort', done);
        c.deathWaiters.delete(done);
        resolve();
      };
      c.socket.once('drain', done);
      signal.addEventListener('abort', done, { once: true });
      c.deathWaiters.add(done);
      if (c.dead) done();
    });

  /** Write one chunk; resolves true when the kernel took it, false when the connection failed first. */
  const writeChunk = (c: Conn, data: Buffer, records: number): Promise<boolean> =>
    new Promise<boolean>((resolve) => {
      let settled = false;
      const settle = (ok: boolean): void => {
        if (settled) return;
        settled = true;
        c.deathWaiters.delete(onDeath);
        if (ok) {
          c.written += records;
          c.recent.push({ records, bytes: data.length });
          c.recentRecords += records;
          c.recentBytes += data.length;
          // Keep the newest writes covering the window; older ones have left both kernels' buffers for sure.
          for (;;) {
            const oldest = c.recent.peek();
            if (oldest === undefined) break;
            if (c.recentBytes - oldest.bytes < windowBytes) break;
            c.recent.shift();
            c.recentRecords -= oldest.records;
            c.recentBytes -= oldest.bytes;
          }
        }
        resolve(ok);
      };
      // Node calls pending write callbacks with an error when the socket is destroyed; the death waiter is a
      // second guarantee that no outcome stays pending.
      const onDeath = (): void => settle(false);
      c.deathWaiters.add(onDeath);
      c.socket.write(data, (err?: Error | null) => {
        if (err) markDead(c, err);
        settle(!err);
      });
    });

  const send = (batch: Batch<string>, signal: AbortSignal): Promise<SendResult> =>
    serialized(async () => {
      if (signal.aborted || abandoned) return { kind: 'retryable', reason: 'aborted before sending' };
      let c: Conn;
      try {
        c = await connect(signal);
      } catch (err) {
        reportFailure(logger, err, context);
        return retryLogic.classifyFailure(err);
      }
      const chunks = frameMessages(batch.records, config.framing, config.maxMessageBytes, () => {
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
      });
      const outcomes: Promise<boolean>[] = [];
      let stopped: Error | undefined;
      for (const chunk of chunks) {
        if (c.dead) {
          stopped = c.error ?? new Error('connection closed');
          break;
        }
        if (signal.aborted) {
          stopped = new AbortedError('aborted while sending');
          break;
        }
        outcomes.push(writeChunk(c, chunk.data, chunk.end - chunk.first));
        // A full socket queue is the receiver's backpressure: wait for it to drain before queueing more.
        if (c.socket.writableLength >= QUEUE_BYTES_BEFORE_DRAIN) await untilDrainOrDeath(c, signal);
      }
      if (stopped instanceof AbortedError) c.socket.destroy(); // pending writes fail and are retried
      // A receiver that stopped reading never completes the queued writes: an abort (request timeout, shutdown)
      // destroys the connection, which fails them, rather than wait for callbacks that never come.
      const onAbort = (): void => {
        c.socket.destroy();
      };
      signal.addEventListener('abort', onAbort, { once: true });
      if (signal.aborted) onAbort();
      // Write callbacks complete in order: the records before the first failed chunk were written.
      const results = await Promise.all(outcomes).finally(() => signal.removeEventListener('abort', onAbort));
      let delivered = 0;
      for (let k = 0; k < results.length && results[k] === true; k++)
        delivered = (chunks[k] as (typeof chunks)[number]).end;
      // Records resent after a write that was issued but not confirmed may have reached the receiver: count them as
      // possible duplicates when they are delivered (SinkStats.duplicates, an upper bound).
      let duplicates = 0;
      for (let i = 0; i < delivered; i++) {
        const rec = batch.records[i] as EncodedRecord<string>;
        if (maybeReceived.has(rec)) {
          maybeReceived.delete(rec);
          duplicates++;
        }
      }
      if (delivered === batch.records.length)
        return duplicates > 0 ? { kind: 'delivered', duplicates } : { kind: 'delivered' };
      const issuedEnd =
        outcomes.length === 0 ? delivered : (chunks[outcomes.length - 1] as (typeof chunks)[number]).end;
      for (let i = delivered; i < issuedEnd; i++) maybeReceived.add(batch.records[i] as EncodedRecord<string>);
      const err = c.error ?? stopped ?? new Error('connection closed');
      markDead(c, err);
      c.socket.destroy();
      const { reason } = describeSyslogFailure(err, context);
      if (delivered === 0) return { kind: 'retryable', reason };
      const retry: number[] = [];
      for (let i = delivered; i < batch.records.length; i++) retry.push(i);
      return { kind: 'partial', retry, rejected: [], ...(duplicates > 0 ? { duplicates } : {}) };
    });

  return {
    send,
    healthcheck: (signal): Promise<HealthResult> => checkStream(target, context, signal),
    reopen: () =>
      serialized(() => {
        // SIGHUP: reconnect (and re-read certificate files) before the next batch.
        if (conn !== undefined) {
          conn.closing = true;
          conn.socket.end();
          conn = undefined;
        }
        return Promise.resolve();
      }),
    abandon: () => {
      abandoned = true;
      const c = conn;
      conn = undefined;
      // Not a loss to report as a broken connection: the shutdown deadline gave up on it (the core dead-letters
      // what was not confirmed). destroy() fails every pending write, so the send in progress settles now.
      if (c !== undefined) {
        c.closing = true;
        markDead(c, new AbortedError('abandoned at the shutdown deadline'));
      }
      for (const socket of sockets) socket.destroy();
    },
    close: () =>
      serialized(async () => {
        const c = conn;
        conn = undefined;
        if (c === undefined || c.dead) return;
        c.closing = true;
        // Flush, send FIN (and TLS close_notify), and give the receiver a moment to read before the socket goes.
        await new Promise<void>((resolve) => {
          const timer = setTimeout(() => {
            c.socket.destroy();
            resolve();
          }, 2000);
          c.socket.once('close', () => {
            clearTimeout(timer);
            resolve();
          });
          c.socket.end();
        });
      }),
  };
}

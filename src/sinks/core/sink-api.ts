/**
 * What a sink is to the rest of the daemon (Sink) and what it is made from (SinkDeps); sink.ts builds one.
 */
import type { AegisEvent } from '../../event/types';
import type { Formatter } from '../../formatters/types';
import type { SinkStats } from '../../telemetry/stats';
import type { Logger } from '../../util/logger';
import type { Acknowledgement } from './ack';
import type { BufferedRecord } from './buffer';
import type { DeadLetterQueue } from './dead-letter';
import type { Redactor } from './redact';
import type { HealthResult, ShutdownReport, Transport } from './types';

export interface SinkDeps<R = string> {
  readonly name: string;
  readonly type: string;
  readonly transport: Transport<R>;
  readonly formatter: Formatter<R>;
  /** Encoded size of one record; defaults to defaultSizeOf (UTF-8 bytes of strings, byteLength of binary data). */
  readonly sizeOf?: ((data: R) => number) | undefined;
  readonly stats: SinkStats;
  readonly logger: Logger;
  readonly deadLetter: DeadLetterQueue;
  /**
   * Removes the sink's secrets from every reason, log field and dead-letter reason (redact.ts); build.ts makes it
   * from the resolved secrets. Applied here, not in the transports, so that none can leak one by forgetting.
   */
  readonly redact?: Redactor;
  readonly now?: () => number;
  readonly random?: () => number;
  /** The disk buffer's directory (`buffer.type: disk`); build.ts resolves it against data_dir. */
  readonly bufferDir?: string;
}

export interface Sink {
  readonly name: string;
  readonly type: string;
  readonly stats: SinkStats;
  /** Run the transport's healthcheck once and record the result. Does not throw. */
  healthcheck(timeoutMillis?: number): Promise<HealthResult>;
  /**
   * Offer events. Resolves when every event is buffered (or dropped/dead-lettered by policy). Under
   * `when_full: block` it waits for room: that wait is the backpressure that reaches the source.
   * `ack`: settled once per event when that event reaches its final outcome in this sink (delivered, dead-lettered,
   * dropped and counted), which may be long after this promise resolves; never for an event still buffered.
   */
  accept(events: readonly AegisEvent[], ack?: Acknowledgement): Promise<void>;
  /**
   * accept() for records formatted elsewhere with this sink's format (the pipeline's worker threads: text records
   * measured in UTF-8 bytes, which only a sink whose BuiltSink.workerFormat is set takes). `failed`: events that
   * format refused, dead-lettered here as accept() does. The same outcomes and acknowledgements as accept().
   */
  acceptEncoded(
    records: readonly BufferedRecord<unknown>[],
    failed: readonly { readonly event: AegisEvent; readonly reason: string }[] | undefined,
    ack?: Acknowledgement,
  ): Promise<void>;
  /** Reopen files/connections (SIGHUP). */
  reopen(): Promise<void>;
  /** Flush and stop; undelivered events at the deadline go to the dead-letter file. Idempotent. */
  close(timeoutMillis: number): Promise<ShutdownReport>;
  /**
   * A second stop signal: stop at once. Abandons the transport and writes every event without an outcome (buffered,
   * in flight, waiting for buffer space) to the dead-letter file synchronously, giving up at `deadlineAt` (epoch ms;
   * what is left is counted as dead_letter_failed). The caller exits the process right after: sends still settling
   * are not accounted again.
   */
  stopNow(deadlineAt: number): ShutdownReport;
}

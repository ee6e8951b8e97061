/**
 * Writes records to a stream (process.stdout), one per line. Delivered means the stream accepted and flushed the
 * write (its callback fired); the stream's own backpressure is respected through that callback. A pipe nobody reads
 * never fires it: abandon() (the shutdown deadline) ends those sends as retryable, and the core dead-letters them
 * (the bytes queued in the stream are dropped when the process exits).
 */
import type { KafkaRecord } from '../../formatters/kafka';
import { kafkaRecordPreview } from '../../formatters/kafka';
import type { Batch, SendResult, Transport } from '../core/types';
import { checkStdout } from './healthcheck';
import { stdoutRetryLogic } from './retry-policy';

/** Lines, or Kafka records shown as one JSON line each (the `kafka` format's preview). */
export type StreamRecord = string | KafkaRecord;

export function createStreamTransport(stream: NodeJS.WritableStream = process.stdout): Transport<StreamRecord> {
  let broken: unknown;
  let abandoned = false;
  /** Sends whose write callback has not fired yet. */
  const pending = new Set<(result: SendResult) => void>();
  // An 'error' on the stream (EPIPE) must not crash the process; remember it and reject further sends.
  stream.on('error', (err: unknown) => {
    broken = err;
  });
  return {
    send(batch: Batch<StreamRecord>): Promise<SendResult> {
      if (broken !== undefined) return Promise.resolve(stdoutRetryLogic.classifyFailure(broken));
      if (abandoned) return Promise.resolve({ kind: 'retryable', reason: 'abandoned at the shutdown deadline' });
      let text = '';
      for (const r of batch.records) text += (typeof r.data === 'string' ? r.data : kafkaRecordPreview(r.data)) + '\n';
      return new Promise<SendResult>((settle) => {
        const resolve = (result: SendResult): void => {
          if (!pending.delete(resolve)) return;
          settle(result);
        };
        pending.add(resolve);
        try {
          stream.write(text, (err?: Error | null) => {
            resolve(err ? stdoutRetryLogic.classifyFailure(err) : { kind: 'delivered' });
          });
        } catch (err) {
          resolve(stdoutRetryLogic.classifyFailure(err));
        }
      });
    },
    healthcheck: () => Promise.resolve(checkStdout(stream)),
    close: () => Promise.resolve(),
    abandon: () => {
      abandoned = true;
      for (const resolve of [...pending]) resolve({ kind: 'retryable', reason: 'abandoned at the shutdown deadline' });
    },
  };
}

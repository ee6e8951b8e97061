/**
 * Writes records to a stream (process.stdout), one per line. Delivered means the stream accepted and flushed the
 * write (its callback fired); the stream's own backpressure is respected through that callback.
 */
import type { Batch, SendResult, Transport } from '../core/types';
import { checkStdout } from './healthcheck';
import { stdoutRetryLogic } from './retry-policy';

export function createStreamTransport(stream: NodeJS.WritableStream = process.stdout): Transport<string> {
  let broken: unknown;
  // An 'error' on the stream (EPIPE) must not crash the process; remember it and reject further sends.
  stream.on('error', (err: unknown) => {
    broken = err;
  });
  return {
    send(batch: Batch<string>): Promise<SendResult> {
      if (broken !== undefined) return Promise.resolve(stdoutRetryLogic.classifyFailure(broken));
      let text = '';
      for (const r of batch.records) text += r.data + '\n';
      return new Promise<SendResult>((resolve) => {
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
  };
}

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { PassThrough, Writable } from 'node:stream';
import { createStreamTransport } from '../../../src/sinks/stdout/transport';
import type { AegisEvent } from '../../../src/event/types';
import { generateEvents } from '../../helpers/events';
import { batchOf, runTransportContract } from '../transport-contract';

runTransportContract({
  name: 'stdout',
  recovers: false,
  create: () => {
    let broken = false;
    const lines: string[] = [];
    const stream = new Writable({
      write(chunk: Buffer, _enc, cb) {
        if (broken) {
          cb(Object.assign(new Error('write EIO'), { code: 'EIO' }));
          return;
        }
        lines.push(chunk.toString('utf8'));
        cb();
      },
    });
    const state = { writable: true };
    Object.defineProperty(stream, 'writable', { get: () => state.writable });
    return Promise.resolve({
      transport: createStreamTransport(stream),
      received: () =>
        Promise.resolve(
          lines
            .join('')
            .split('\n')
            .filter(Boolean)
            .map((l) => JSON.parse(l) as AegisEvent),
        ),
      breakReceiver: () => {
        broken = true;
        state.writable = false;
        return Promise.resolve();
      },
      restoreReceiver: () => {
        broken = false;
        state.writable = true;
        return Promise.resolve();
      },
      cleanup: () => Promise.resolve(),
    });
  },
});

test('stdout: a closed pipe (EPIPE) rejects the batch instead of retrying forever', async () => {
  const stream = new PassThrough();
  const t = createStreamTransport(stream);
  stream.emit('error', Object.assign(new Error('write EPIPE'), { code: 'EPIPE' }));
  const r = await t.send(batchOf(generateEvents(2)), new AbortController().signal);
  assert.equal(r.kind, 'rejected');
});

/**
 * The `unconfirmed` outcome: events written on a tcp/tls syslog connection that then died before the receiver could
 * have read them are no longer counted delivered (src/sinks/syslog/stream.ts, docs/delivery.md#unconfirmed).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import net from 'node:net';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import { buildSink } from '../../../src/sinks/build';
import { createDeadLetterQueue } from '../../../src/sinks/core/dead-letter';
import { unconfirmedWindowBytes } from '../../../src/sinks/syslog/stream';
import { createMetrics } from '../../../src/telemetry/metrics';
import { createStatsRegistry } from '../../../src/telemetry/stats';
import { silentLogger } from '../../../src/util/logger';
import { sampleValue, until } from '../../helpers/daemon';
import { generateEvents } from '../../helpers/events';
import { makeTempDir } from '../../helpers/tmp';

test('regression: tcp syslog events lost in a dying connection are counted unconfirmed, not delivered', async () => {
  const { dir, cleanup } = makeTempDir();
  // The first connection reads about 64 KiB and is then destroyed with the rest unread (the receiver dies); later
  // connections read everything.
  let connections = 0;
  let firstRead = 0;
  const server = net.createServer((socket) => {
    connections++;
    socket.on('error', () => undefined);
    if (connections === 1) {
      socket.on('data', (d: Buffer) => {
        firstRead += d.length;
        if (firstRead >= 64 * 1024) {
          socket.pause();
          setTimeout(() => socket.resetAndDestroy(), 50);
        }
      });
    } else socket.resume();
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const stats = createStatsRegistry();
  const deadLetter = createDeadLetterQueue({
    path: path.join(dir, 'dlq.ndjson'),
    maxBytes: 1e9,
    logger: silentLogger,
    stats: stats.deadLetter,
  });
  try {
    const { sink } = buildSink(
      {
        name: 'tcp',
        type: 'syslog',
        raw: {
          type: 'syslog',
          host: '127.0.0.1',
          port: (server.address() as AddressInfo).port,
          transport: 'tcp',
          batch: { timeout_ms: 10, max_events: 200 },
          retry: { initial_backoff_ms: 10, max_backoff_ms: 50 },
        },
      },
      { logger: silentLogger, hostname: 'h', version: 'test', dataDir: dir, stats, deadLetter },
    );
    const events = generateEvents(5000);
    for (let i = 0; i < events.length; i += 500) await sink.accept(events.slice(i, i + 500));
    await until('the first connection to die', () =>
      Promise.resolve((sink.stats.extra.connection_lost_total ?? 0) >= 1 ? true : undefined),
    );
    // A new connection takes what comes next.
    await sink.accept(generateEvents(1000));
    await sink.close(10_000);
    const s = sink.stats;
    assert.ok(s.unconfirmed > 0, `unconfirmed ${s.unconfirmed}`);
    const dropped = Object.values(s.dropped).reduce((a, b) => a + b, 0);
    assert.equal(s.delivered + s.unconfirmed + s.deadLettered + dropped, s.received, JSON.stringify(s));
    assert.equal(s.received, 6000);
    assert.ok(connections >= 2, 'the sink reconnected');
    assert.ok(s.delivered >= 1000, `delivered ${s.delivered}`);
    // The metrics: a counter for it, and delivered_total never goes down (it still holds the unconfirmed events).
    const text = createMetrics({ stats, version: 't', detailed: false }).render();
    assert.equal(sampleValue(text, 'aegisbpf_sink_events_unconfirmed_total', { sink: 'tcp' }), s.unconfirmed);
    assert.equal(
      sampleValue(text, 'aegisbpf_sink_events_delivered_total', { sink: 'tcp' }),
      s.delivered + s.unconfirmed,
    );
  } finally {
    await deadLetter.close();
    await new Promise<void>((resolve) => server.close(() => resolve()));
    cleanup();
  }
});

test('the unconfirmed window is the maximum TCP send plus receive buffer, with Linux defaults when /proc is unreadable', () => {
  const fake = (files: Record<string, string>) => (f: string) => {
    const v = files[f];
    if (v === undefined) throw new Error('ENOENT');
    return v;
  };
  assert.equal(
    unconfirmedWindowBytes(
      fake({
        '/proc/sys/net/ipv4/tcp_wmem': '4096\t16384\t4194304\n',
        '/proc/sys/net/ipv4/tcp_rmem': '4096 131072 6291456',
      }),
    ),
    4194304 + 6291456,
  );
  assert.equal(unconfirmedWindowBytes(fake({})), 10 * 1024 * 1024);
});

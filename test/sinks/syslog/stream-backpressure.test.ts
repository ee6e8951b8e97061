/**
 * The tcp/tls transport under receiver backpressure: a receiver that stops reading holds the batch back (nothing
 * is reported written that the kernel did not take), and once it reads again the batch completes, every frame
 * whole and in order. A wait for a 'drain' that never comes would hang here instead.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import net from 'node:net';
import { parseSyslogConfig } from '../../../src/sinks/syslog/config';
import { createStreamTransport } from '../../../src/sinks/syslog/stream';
import type { EncodedRecord, SendResult } from '../../../src/sinks/core/types';
import { silentLogger } from '../../../src/util/logger';
import { generateEvents } from '../../helpers/events';
import { parseOctetCounted } from '../../helpers/octet-frames';

test(
  'tcp transport: a receiver that stops reading holds the batch back; when it reads again, every frame arrives whole and in order',
  { timeout: 30_000 },
  async () => {
    let peer!: net.Socket;
    let connected!: () => void;
    const accepted = new Promise<void>((resolve) => (connected = resolve));
    // The server side starts paused: the kernel's buffers fill and the sender has to wait.
    const server = net.createServer({ pauseOnConnect: true }, (socket) => {
      peer = socket;
      connected();
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const port = (server.address() as net.AddressInfo).port;
    const config = parseSyslogConfig({ host: '127.0.0.1', port, transport: 'tcp' });
    const transport = createStreamTransport(config, { logger: silentLogger, counters: {} });
    const [event] = generateEvents(1);
    // 16 MiB in ~2 000-byte messages: far more than the loopback socket buffers and the user-space queue hold.
    const records: EncodedRecord<string>[] = Array.from({ length: 8000 }, (_, i) => {
      const data = `<14>1 - h app - - - message ${String(i).padStart(6, '0')} ${'x'.repeat(1980)}`;
      return { event: event!, data, bytes: Buffer.byteLength(data) };
    });
    let result: SendResult | undefined;
    const sent = transport
      .send(
        { id: 1, records, bytes: records.reduce((n, r) => n + r.bytes, 0), attempt: 1 },
        new AbortController().signal,
      )
      .then((r) => (result = r));
    try {
      await accepted;
      await new Promise((r) => setTimeout(r, 500));
      assert.equal(result, undefined, 'nothing can be complete while the receiver does not read');
      const chunks: Buffer[] = [];
      peer.on('data', (d: Buffer) => chunks.push(d));
      const ended = new Promise((r) => peer.once('end', r));
      peer.resume();
      assert.deepEqual(await sent, { kind: 'delivered' });
      await transport.close();
      await ended;
      const frames = parseOctetCounted(Buffer.concat(chunks));
      for (let i = 0; i < records.length; i++) assert.equal(frames[i], records[i]!.data, `frame ${i + 1}`);
      assert.equal(frames.length, records.length, 'nothing after the last frame');
    } finally {
      peer?.destroy();
      server.close();
    }
  },
);

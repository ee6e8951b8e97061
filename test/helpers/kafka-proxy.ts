/**
 * A TCP proxy in front of one Kafka broker that can lose one produce acknowledgement on demand: it forwards bytes
 * both ways, reads the Kafka framing (int32 size, then the request header: int16 api key, int16 version, int32
 * correlation id; a response starts with the correlation id), and when armed, closes the connection instead of
 * passing on the response to the next Produce request. The broker has written the records; the client sees a
 * dropped connection and retries. The broker must advertise the proxy's port (advertised.listeners) so that the
 * client talks to the broker only through it.
 *
 * With `tls` (a certificate and key), a client that opens with a TLS handshake (first byte 0x16, a TLS record) is
 * answered in TLS and forwarded in plain text, so one broker serves the sink over TLS and plain text on one port
 * (the test broker has no TLS listener of its own).
 */
import net from 'node:net';
import { Duplex } from 'node:stream';
import tls from 'node:tls';

const TLS_HANDSHAKE_RECORD = 0x16;

const PRODUCE_API_KEY = 0;

export interface KafkaProxy {
  readonly port: number;
  /** Where to forward (the broker's real port), set once the broker runs. */
  target: number | undefined;
  /** Drop the response to the next Produce request (its connection is closed instead). */
  dropNextProduceResponse(): void;
  /** Produce responses dropped so far. */
  readonly dropped: number;
  /** Client connections forwarded so far, by how they spoke (TLS only with the `tls` option). */
  readonly connections: { readonly plain: number; readonly tls: number };
  close(): Promise<void>;
}

/** Splits a byte stream into Kafka frames (int32 big-endian size prefix). */
function framer(onFrame: (frame: Buffer) => void): (chunk: Buffer) => void {
  let pending: Buffer = Buffer.alloc(0);
  return (chunk) => {
    pending = pending.length === 0 ? chunk : Buffer.concat([pending, chunk]);
    while (pending.length >= 4) {
      const size = pending.readInt32BE(0);
      if (pending.length < 4 + size) break;
      onFrame(pending.subarray(4, 4 + size));
      pending = pending.subarray(4 + size);
    }
  };
}

export function startKafkaProxy(port: number, tlsOptions?: { cert: string; key: string }): Promise<KafkaProxy> {
  let armed = false;
  let dropped = 0;
  const connections = { plain: 0, tls: 0 };
  const sockets = new Set<net.Socket>();
  const server = net.createServer((raw) => {
    sockets.add(raw);
    raw.on('close', () => sockets.delete(raw));
    if (tlsOptions === undefined) {
      connections.plain += 1;
      forward(raw);
      return;
    }
    raw.once('data', (first: Buffer) => {
      raw.pause();
      raw.unshift(first);
      if (first[0] !== TLS_HANDSHAKE_RECORD) {
        connections.plain += 1;
        forward(raw);
        raw.resume();
        return;
      }
      // Through a plain Duplex: TLSSocket on the net.Socket itself would read its handle and miss the bytes put back.
      const stream = Duplex.from({ readable: raw, writable: raw });
      const secure = new tls.TLSSocket(stream, { isServer: true, cert: tlsOptions.cert, key: tlsOptions.key });
      secure.on('error', () => raw.destroy());
      connections.tls += 1;
      forward(secure);
      raw.resume();
    });
  });
  const forward = (client: net.Socket): void => {
    client.on('close', () => sockets.delete(client));
    if (proxy.target === undefined) {
      client.destroy();
      return;
    }
    const broker = net.connect(proxy.target, '127.0.0.1');
    sockets.add(broker);
    broker.on('close', () => sockets.delete(broker));
    const produceIds = new Set<number>();
    const kill = (): void => {
      client.destroy();
      broker.destroy();
    };
    client.on('error', kill);
    broker.on('error', kill);
    client.on('close', kill);
    broker.on('close', kill);
    client.on(
      'data',
      framer((frame) => {
        if (frame.readInt16BE(0) === PRODUCE_API_KEY) produceIds.add(frame.readInt32BE(4));
        const size = Buffer.alloc(4);
        size.writeInt32BE(frame.length);
        broker.write(Buffer.concat([size, frame]));
      }),
    );
    broker.on(
      'data',
      framer((frame) => {
        const correlationId = frame.readInt32BE(0);
        if (armed && produceIds.has(correlationId)) {
          armed = false;
          dropped += 1;
          kill();
          return;
        }
        produceIds.delete(correlationId);
        const size = Buffer.alloc(4);
        size.writeInt32BE(frame.length);
        client.write(Buffer.concat([size, frame]));
      }),
    );
  };
  const proxy: KafkaProxy = {
    port,
    target: undefined,
    dropNextProduceResponse: () => {
      armed = true;
    },
    get dropped() {
      return dropped;
    },
    get connections() {
      return { ...connections };
    },
    close: () =>
      new Promise((resolve) => {
        for (const s of sockets) s.destroy();
        server.close(() => resolve());
      }),
  };
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, '127.0.0.1', () => resolve(proxy));
  });
}

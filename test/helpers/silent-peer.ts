/**
 * Receivers that accept a connection and then never read or answer (a TCP server that pauses every socket; TLS after
 * the handshake; RELP after answering `open`): the peers of the start-up and shutdown tests. Real sockets, not mocks.
 */
import fs from 'node:fs';
import net from 'node:net';
import tls from 'node:tls';

export interface SilentPeer {
  readonly port: number;
  /** Connections accepted so far. */
  readonly accepted: () => number;
  /** Drop every connection and stop listening. */
  close(): Promise<void>;
}

/** A TCP (or TLS, or RELP-opening) server that accepts and then never reads. */
export async function silentPeer(
  kind: 'tcp' | 'tls' | 'relp' = 'tcp',
  pki?: { cert: string; key: string },
): Promise<SilentPeer> {
  const sockets = new Set<net.Socket>();
  let accepted = 0;
  const hold = (socket: net.Socket): void => {
    accepted++;
    sockets.add(socket);
    socket.on('error', () => undefined);
    socket.on('close', () => sockets.delete(socket));
  };
  let server: net.Server;
  if (kind === 'tls') {
    server = tls.createServer({ cert: fs.readFileSync(pki!.cert), key: fs.readFileSync(pki!.key) }, (socket) => {
      hold(socket);
      socket.pause(); // handshake done; from now on nothing is read, so the client's writes back up
    });
  } else if (kind === 'relp') {
    server = net.createServer((socket) => {
      hold(socket);
      // Answer the RELP `open` (so the session starts and events are queued), then read nothing more.
      socket.once('data', (chunk: Buffer) => {
        const txnr = /^(\d+) open /.exec(chunk.toString('latin1'))?.[1] ?? '1';
        const data = '200 OK\nrelp_version=0\nrelp_software=silent\ncommands=syslog';
        socket.write(`${txnr} rsp ${Buffer.byteLength(data)} ${data}\n`);
        socket.pause();
      });
    });
  } else {
    server = net.createServer((socket) => {
      hold(socket);
      socket.pause();
    });
  }
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    port: (server.address() as net.AddressInfo).port,
    accepted: () => accepted,
    close() {
      for (const s of sockets) s.destroy();
      return new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

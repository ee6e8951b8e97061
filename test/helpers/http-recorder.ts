/**
 * A small HTTP(S) server for sink tests: it records every request (method, URL, headers, decoded body) and either
 * forwards it to a real upstream (a recording proxy in front of the test Elasticsearch) or answers from a script.
 * `pause()` closes the listener and every connection (the receiver "goes away"); `resume()` listens again on the
 * same port.
 */
import http from 'node:http';
import https from 'node:https';
import type net from 'node:net';
import zlib from 'node:zlib';

export interface RecordedRequest {
  readonly method: string;
  readonly url: string;
  readonly headers: http.IncomingHttpHeaders;
  /** The body, gunzipped when Content-Encoding is gzip. */
  readonly body: Buffer;
  /** The body as received on the wire. */
  readonly rawBytes: number;
}

export interface ScriptedAnswer {
  readonly status: number;
  readonly headers?: Readonly<Record<string, string>>;
  readonly body?: unknown;
}

export interface Recorder {
  readonly url: string;
  readonly port: number;
  readonly requests: RecordedRequest[];
  /** When set, answers requests instead of forwarding (return undefined to forward). */
  answer: ((req: RecordedRequest) => ScriptedAnswer | undefined) | undefined;
  pause(): Promise<void>;
  resume(): Promise<void>;
  close(): Promise<void>;
}

export interface RecorderOptions {
  /** Upstream base URL to forward to (http only). */
  readonly upstream?: string;
  /** Serve TLS with this key and certificate (PEM). */
  readonly tls?: { readonly key: string; readonly cert: string };
}

export async function startRecorder(options: RecorderOptions = {}): Promise<Recorder> {
  const sockets = new Set<net.Socket>();
  const requests: RecordedRequest[] = [];
  const handler = (req: http.IncomingMessage, res: http.ServerResponse): void => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const raw = Buffer.concat(chunks);
      let body = raw;
      if (req.headers['content-encoding'] === 'gzip' && raw.length > 0) body = zlib.gunzipSync(raw);
      const rec: RecordedRequest = {
        method: req.method ?? '',
        url: req.url ?? '',
        headers: req.headers,
        body,
        rawBytes: raw.length,
      };
      requests.push(rec);
      const scripted = recorder.answer?.(rec);
      if (scripted !== undefined) {
        const text =
          scripted.body === undefined
            ? ''
            : typeof scripted.body === 'string'
              ? scripted.body
              : JSON.stringify(scripted.body);
        res.writeHead(scripted.status, {
          'content-type': 'application/json',
          'x-elastic-product': 'Elasticsearch',
          ...scripted.headers,
        });
        res.end(text);
        return;
      }
      if (options.upstream === undefined) {
        res.writeHead(502).end();
        return;
      }
      const up = new URL(req.url ?? '/', options.upstream);
      const headers = { ...req.headers };
      delete headers.host;
      const fwd = http.request(up, { method: req.method, headers }, (upRes) => {
        res.writeHead(upRes.statusCode ?? 502, upRes.headers);
        upRes.pipe(res);
      });
      fwd.on('error', () => res.writeHead(502).end());
      fwd.end(raw);
    });
  };
  const server: http.Server =
    options.tls === undefined
      ? http.createServer(handler)
      : https.createServer({ key: options.tls.key, cert: options.tls.cert }, handler);
  server.on('connection', (s: net.Socket) => {
    sockets.add(s);
    s.on('close', () => sockets.delete(s));
  });
  server.on('secureConnection', (s: net.Socket) => {
    sockets.add(s);
    s.on('close', () => sockets.delete(s));
  });
  const listen = (port: number): Promise<number> =>
    new Promise((resolve, reject) => {
      server.once('error', reject);
      server.listen(port, '127.0.0.1', () => {
        server.off('error', reject);
        const a = server.address();
        resolve(typeof a === 'object' && a !== null ? a.port : 0);
      });
    });
  const port = await listen(0);
  const stop = (): Promise<void> =>
    new Promise((resolve) => {
      for (const s of sockets) s.destroy();
      server.close(() => resolve());
    });
  const recorder: Recorder = {
    url: `${options.tls === undefined ? 'http' : 'https'}://127.0.0.1:${port}`,
    port,
    requests,
    answer: undefined,
    pause: stop,
    resume: async () => {
      await listen(port);
    },
    close: async () => {
      if (server.listening) await stop();
    },
  };
  return recorder;
}

/** NDJSON lines of a recorded `_bulk` body, parsed. */
export function bulkLines(req: RecordedRequest): unknown[] {
  return req.body
    .toString('utf8')
    .split('\n')
    .filter((l) => l !== '')
    .map((l) => JSON.parse(l) as unknown);
}

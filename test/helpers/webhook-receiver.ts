/**
 * A webhook receiver for the webhook sink's tests: a real node:https server (certificates from makeTestPki) that
 * verifies the sink's HMAC signature the way docs/sinks.md tells receivers to (written from that text, not from the
 * sink's code): recompute HMAC-SHA256(key, "<timestamp>.<body>"), compare in constant time, refuse a timestamp
 * more than `toleranceSeconds` away from its own clock. Refused requests get 401 and are not kept.
 *
 * `answer` scripts replies (429 with Retry-After, 400, 500) before verification; `check` validates a body's shape
 * (the presets' receivers) and answers 400 with its message when the shape is wrong. `pause()` closes the listener
 * and every connection; `resume()` listens again on the same port.
 */
import crypto from 'node:crypto';
import fs from 'node:fs';
import https from 'node:https';
import type http from 'node:http';
import type net from 'node:net';

export interface ReceivedRequest {
  readonly method: string;
  readonly url: string;
  readonly headers: http.IncomingHttpHeaders;
  readonly body: Buffer;
}

export interface ScriptedReply {
  readonly status: number;
  readonly headers?: Readonly<Record<string, string>>;
  readonly body?: string;
}

export interface WebhookReceiver {
  readonly url: string;
  readonly port: number;
  /** Requests that passed verification (and the shape check), in arrival order. */
  readonly accepted: ReceivedRequest[];
  /** Requests refused for their signature or timestamp, with why. */
  readonly refused: { readonly request: ReceivedRequest; readonly why: string }[];
  /** Every request that arrived, whatever the answer. */
  readonly all: ReceivedRequest[];
  answer: ((req: ReceivedRequest) => ScriptedReply | undefined) | undefined;
  /** Parse every accepted body as JSON (arrays flattened). */
  acceptedJson(): unknown[];
  pause(): Promise<void>;
  resume(): Promise<void>;
  close(): Promise<void>;
}

export interface WebhookReceiverOptions {
  /** `clientCa`: require a client certificate signed by this CA (mutual TLS). */
  readonly tls: { readonly cert: string; readonly key: string; readonly clientCa?: string };
  readonly hmac?: {
    readonly key: Buffer;
    readonly header: string;
    readonly timestampHeader: string;
    readonly toleranceSeconds: number;
  };
  /** Shape check of an accepted body: a problem (answered 400) or undefined. */
  readonly check?: (body: unknown, req: ReceivedRequest) => string | undefined;
  /** The success answer (default 200 with "ok"). */
  readonly ok?: ScriptedReply;
}

function verify(
  req: ReceivedRequest,
  hmac: NonNullable<WebhookReceiverOptions['hmac']>,
  nowSeconds: number,
): string | undefined {
  const ts = req.headers[hmac.timestampHeader.toLowerCase()];
  const sig = req.headers[hmac.header.toLowerCase()];
  if (typeof ts !== 'string' || !/^\d+$/.test(ts)) return 'missing or malformed timestamp';
  if (typeof sig !== 'string' || !sig.startsWith('sha256=')) return 'missing or malformed signature';
  if (Math.abs(nowSeconds - Number(ts)) > hmac.toleranceSeconds) return 'timestamp outside the tolerance (replay?)';
  const expected = crypto
    .createHmac('sha256', hmac.key)
    .update(Buffer.concat([Buffer.from(`${ts}.`, 'ascii'), req.body]))
    .digest();
  const got = Buffer.from(sig.slice('sha256='.length), 'hex');
  if (got.length !== expected.length || !crypto.timingSafeEqual(got, expected)) return 'signature mismatch';
  return undefined;
}

export async function startWebhookReceiver(options: WebhookReceiverOptions): Promise<WebhookReceiver> {
  const sockets = new Set<net.Socket>();
  const accepted: ReceivedRequest[] = [];
  const refused: { request: ReceivedRequest; why: string }[] = [];
  const all: ReceivedRequest[] = [];
  const reply = (res: http.ServerResponse, r: ScriptedReply): void => {
    res.writeHead(r.status, { 'content-type': 'text/plain', ...r.headers });
    res.end(r.body ?? '');
  };
  const receiver: WebhookReceiver = {
    url: '',
    port: 0,
    accepted,
    refused,
    all,
    answer: undefined,
    acceptedJson: () =>
      accepted.flatMap((r) => {
        const v = JSON.parse(r.body.toString('utf8')) as unknown;
        return Array.isArray(v) ? (v as unknown[]) : [v];
      }),
    pause: async () => {
      const closed = new Promise<void>((resolve) => server.close(() => resolve()));
      for (const s of sockets) s.destroy();
      await closed;
    },
    resume: () => new Promise<void>((resolve) => server.listen(receiver.port, '127.0.0.1', () => resolve())),
    close: async () => {
      if (server.listening) await receiver.pause();
    },
  };
  const server = https.createServer(
    {
      cert: fs.readFileSync(options.tls.cert),
      key: fs.readFileSync(options.tls.key),
      ...(options.tls.clientCa === undefined
        ? {}
        : { ca: fs.readFileSync(options.tls.clientCa), requestCert: true, rejectUnauthorized: true }),
    },
    (req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => {
        const rec: ReceivedRequest = {
          method: req.method ?? '',
          url: req.url ?? '',
          headers: req.headers,
          body: Buffer.concat(chunks),
        };
        all.push(rec);
        const scripted = receiver.answer?.(rec);
        if (scripted !== undefined) return reply(res, scripted);
        if (options.hmac !== undefined) {
          const why = verify(rec, options.hmac, Math.floor(Date.now() / 1000));
          if (why !== undefined) {
            refused.push({ request: rec, why });
            return reply(res, { status: 401, body: `refused: ${why}` });
          }
        }
        if (options.check !== undefined) {
          let parsed: unknown;
          try {
            parsed = JSON.parse(rec.body.toString('utf8'));
          } catch {
            return reply(res, { status: 400, body: 'invalid JSON' });
          }
          const problem = options.check(parsed, rec);
          if (problem !== undefined) return reply(res, { status: 400, body: problem });
        }
        accepted.push(rec);
        reply(res, options.ok ?? { status: 200, body: 'ok' });
      });
    },
  );
  server.on('connection', (s: net.Socket) => {
    sockets.add(s);
    s.on('close', () => sockets.delete(s));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', () => resolve()));
  const port = (server.address() as net.AddressInfo).port;
  Object.assign(receiver, { port, url: `https://127.0.0.1:${port}/hook` });
  return receiver;
}

/**
 * The peer harness's receivers (bench/peers.ts), run as their own process pinned to the core the subjects do not
 * use: each accepts one protocol, counts the events it carries, answers what a real receiver must answer, and
 * discards everything. They do the least a receiver can do, so the rate measured is the sender's, not the
 * receiver's (the harness's baseline run shows each receiver's own ceiling).
 *   node null-receiver.js --mode syslog|relp|es|hec --expect N [--tls-cert F --tls-key F]
 * Prints `port=<n>` when listening and `done t=<epoch ms> count=<n>` as soon as `--expect` events have arrived; on
 * SIGTERM prints `count=<n> requests=<n>` and exits.
 *
 * - syslog: TCP (or TLS) with octet-counting framing (RFC 6587 3.4.1) or LF framing, decided per message by its
 *   first byte (a digit: octet counting), as rsyslog's imtcp does.
 * - relp: RELP (the `open`, `syslog` and `close` commands; every `syslog` frame answered `200 OK`).
 * - es: Elasticsearch `_bulk` (gzip or plain NDJSON), answering one item per action with status 201, and the
 *   `X-Elastic-Product: Elasticsearch` header and a version on `GET /` that the official clients check; any other
 *   request (templates, pipelines) is acknowledged.
 * - hec: Splunk HEC `/services/collector[/event]` (gzip or plain; events counted as top-level JSON objects, which
 *   needs no particular field order or separator), `ackId` per channel, every polled ack reported indexed.
 */
import http from 'node:http';
import net from 'node:net';
import tls from 'node:tls';
import fs from 'node:fs';
import zlib from 'node:zlib';
import type { AddressInfo } from 'node:net';

function arg(name: string): string | undefined {
  const i = process.argv.indexOf(`--${name}`);
  return i > 0 ? process.argv[i + 1] : undefined;
}

const mode = arg('mode') ?? '';
const expect = Number(arg('expect') ?? Infinity);
let count = 0;
let requests = 0;
let reported = false;

function counted(n: number): void {
  count += n;
  if (!reported && count >= expect) {
    reported = true;
    process.stdout.write(`done t=${Date.now()} count=${count}\n`);
  }
}

const LF = 0x0a;
const SP = 0x20;

/** Octet-counted or LF-framed syslog messages on one connection. */
function syslogConnection(socket: net.Socket): void {
  let pending: Buffer = Buffer.alloc(0);
  socket.on('data', (chunk: Buffer) => {
    let buf = pending.length === 0 ? chunk : Buffer.concat([pending, chunk]);
    let at = 0;
    let n = 0;
    for (;;) {
      if (at >= buf.length) break;
      const first = buf[at]!;
      if (first >= 0x30 && first <= 0x39) {
        const sp = buf.indexOf(SP, at);
        if (sp < 0) break;
        const len = Number(buf.toString('latin1', at, sp));
        if (sp + 1 + len > buf.length) break;
        at = sp + 1 + len;
        n++;
      } else if (first === LF) {
        at++;
      } else {
        const lf = buf.indexOf(LF, at);
        if (lf < 0) break;
        at = lf + 1;
        n++;
      }
    }
    pending = at >= buf.length ? Buffer.alloc(0) : Buffer.from(buf.subarray(at));
    buf = pending;
    if (n > 0) counted(n);
  });
  socket.on('error', () => socket.destroy());
}

/** RELP frames: `TXNR SP COMMAND SP DATALEN [SP DATA] LF`. */
function relpConnection(socket: net.Socket): void {
  let pending: Buffer = Buffer.alloc(0);
  socket.on('data', (chunk: Buffer) => {
    const buf = pending.length === 0 ? chunk : Buffer.concat([pending, chunk]);
    let at = 0;
    let n = 0;
    let answer = '';
    let close = false;
    for (;;) {
      const sp1 = buf.indexOf(SP, at);
      if (sp1 < 0) break;
      const sp2 = buf.indexOf(SP, sp1 + 1);
      if (sp2 < 0) break;
      // DATALEN ends at a space (data follows) or at the trailer LF (no data).
      let end = sp2 + 1;
      while (end < buf.length && buf[end]! >= 0x30 && buf[end]! <= 0x39) end++;
      if (end >= buf.length) break;
      const len = Number(buf.toString('latin1', sp2 + 1, end));
      const frameEnd = len === 0 ? end + 1 : end + 1 + len + 1;
      if (frameEnd > buf.length) break;
      const txnr = buf.toString('latin1', at, sp1);
      const command = buf.toString('latin1', sp1 + 1, sp2);
      if (command === 'syslog') {
        n++;
        answer += `${txnr} rsp 6 200 OK\n`;
      } else if (command === 'open') {
        const data = '200 OK\nrelp_version=0\nrelp_software=aegisbpf-bench-null\ncommands=syslog';
        answer += `${txnr} rsp ${Buffer.byteLength(data)} ${data}\n`;
      } else if (command === 'close') {
        answer += `${txnr} rsp 0\n0 serverclose 0\n`;
        close = true;
      } else {
        answer += `${txnr} rsp 6 500 KO\n`;
      }
      at = frameEnd;
    }
    pending = Buffer.from(buf.subarray(at));
    if (n > 0) counted(n);
    if (answer !== '') socket.write(answer);
    if (close) socket.end();
  });
  socket.on('error', () => socket.destroy());
}

function readBody(req: http.IncomingMessage, done: (body: Buffer) => void): void {
  const chunks: Buffer[] = [];
  req.on('data', (c: Buffer) => chunks.push(c));
  req.on('end', () => {
    const raw = Buffer.concat(chunks);
    const encoding = String(req.headers['content-encoding'] ?? '');
    done(encoding === 'gzip' ? zlib.gunzipSync(raw) : encoding === 'deflate' ? zlib.inflateSync(raw) : raw);
  });
}

const ES_HEADERS = { 'content-type': 'application/json', 'x-elastic-product': 'Elasticsearch' };

function esRequest(req: http.IncomingMessage, res: http.ServerResponse): void {
  readBody(req, (body) => {
    const url = (req.url ?? '/').split('?')[0] ?? '/';
    if (url.endsWith('/_bulk')) {
      requests++;
      const items: string[] = [];
      const text = body.toString('utf8');
      let at = 0;
      let action = true;
      let op = 'index';
      while (at < text.length) {
        let lf = text.indexOf('\n', at);
        if (lf < 0) lf = text.length;
        if (lf > at) {
          if (action) {
            const line = JSON.parse(text.slice(at, lf)) as Record<string, { _index?: string; _id?: string }>;
            op = Object.keys(line)[0] ?? 'index';
            const meta = line[op] ?? {};
            items.push(
              JSON.stringify({
                [op]: { _index: meta._index ?? 'logs', _id: meta._id ?? String(count + items.length), status: 201 },
              }),
            );
            // `delete` carries no document line.
            action = op === 'delete';
          } else action = true;
        }
        at = lf + 1;
      }
      counted(items.length);
      res.writeHead(200, ES_HEADERS).end(`{"took":1,"errors":false,"items":[${items.join(',')}]}`);
      return;
    }
    if (url === '/' && req.method !== 'PUT') {
      res
        .writeHead(200, ES_HEADERS)
        .end(
          '{"name":"null","cluster_name":"null","version":{"number":"8.19.0","build_flavor":"default","lucene_version":"9.12.0","minimum_wire_compatibility_version":"7.17.0","minimum_index_compatibility_version":"7.0.0"},"tagline":"You Know, for Search"}',
        );
      return;
    }
    if (url === '/_cluster/health') {
      res.writeHead(200, ES_HEADERS).end('{"status":"green"}');
      return;
    }
    res.writeHead(200, ES_HEADERS).end('{"acknowledged":true}');
  });
}

/** Top-level JSON objects in `text` (HEC events are concatenated objects, separated by nothing or whitespace). */
function countObjects(text: string): number {
  let n = 0;
  let depth = 0;
  let inString = false;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (inString) {
      if (c === 0x5c) i++;
      else if (c === 0x22) inString = false;
    } else if (c === 0x22) inString = true;
    else if (c === 0x7b) depth++;
    else if (c === 0x7d && --depth === 0) n++;
  }
  return n;
}

const nextAck = new Map<string, number>();

function hecRequest(req: http.IncomingMessage, res: http.ServerResponse): void {
  readBody(req, (body) => {
    const url = req.url ?? '/';
    const channel = String(req.headers['x-splunk-request-channel'] ?? '');
    let answer: unknown;
    if (url.startsWith('/services/collector/health')) answer = { text: 'HEC is healthy', code: 17 };
    else if (url.startsWith('/services/collector/ack')) {
      const ids = (JSON.parse(body.toString('utf8')) as { acks: number[] }).acks;
      answer = { acks: Object.fromEntries(ids.map((i) => [String(i), true])) };
    } else if (body.length === 0) {
      res.writeHead(400, { 'content-type': 'application/json' }).end('{"text":"No data","code":5}');
      return;
    } else {
      requests++;
      counted(countObjects(body.toString('utf8')));
      const id = nextAck.get(channel) ?? 0;
      nextAck.set(channel, id + 1);
      answer = { text: 'Success', code: 0, ackId: id };
    }
    res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify(answer));
  });
}

function listen(server: net.Server): void {
  server.listen(0, '127.0.0.1', () => process.stdout.write(`port=${(server.address() as AddressInfo).port}\n`));
}

const cert = arg('tls-cert');
const key = arg('tls-key');
if (mode === 'syslog' || mode === 'relp') {
  const handler = mode === 'syslog' ? syslogConnection : relpConnection;
  listen(
    cert !== undefined && key !== undefined
      ? tls.createServer({ cert: fs.readFileSync(cert), key: fs.readFileSync(key) }, handler)
      : net.createServer(handler),
  );
} else if (mode === 'es' || mode === 'hec') {
  const server = http.createServer(mode === 'es' ? esRequest : hecRequest);
  server.keepAliveTimeout = 60_000;
  listen(server);
} else {
  process.stderr.write(`null-receiver: --mode must be syslog, relp, es or hec (got '${mode}')\n`);
  process.exit(2);
}

process.on('SIGTERM', () => {
  process.stdout.write(`count=${count} requests=${requests}\n`);
  process.exit(0);
});

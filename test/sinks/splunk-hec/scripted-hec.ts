/**
 * A scripted Splunk HEC on a local port (node:http, port 0), for the answers the real test receiver (the
 * OpenTelemetry Collector, docs/test-services.md §3.4) cannot give: 413, code 9 + Retry-After, 429/503,
 * `invalid-event-number`, codes 2/3/4 as HEC JSON, 10/11, 14, 24/25, acks that turn true late or never, ackIds that
 * start again after a restart. Tests that use it say "scripted Splunk" in their names.
 *
 * By default it behaves like Splunk with a useACK token: `/event` bodies (gzip or not) are split into envelopes,
 * indexed (kept in `indexed`), answered `{"text":"Success","code":0,"ackId":n}` with ids per channel from 0; `/ack`
 * answers from `ackPolicy` (default: true once asked, then forgotten, as Splunk does).
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import zlib from 'node:zlib';

export interface HecRequest {
  readonly method: string;
  readonly path: string;
  readonly query: URLSearchParams;
  readonly headers: http.IncomingHttpHeaders;
  /** Decompressed body. */
  readonly body: string;
  readonly socketPort: number;
  readonly at: number;
}

export interface Answer {
  readonly status: number;
  readonly body: unknown;
  readonly headers?: Readonly<Record<string, string>>;
}

/** Return an Answer to override the default behaviour for a request, or undefined to use it. */
export type Script = (req: HecRequest, server: ScriptedHec) => Answer | undefined;

export interface ScriptedHec {
  readonly url: string;
  readonly requests: HecRequest[];
  /** Envelopes (parsed) accepted on /event, in order; raw lines for /raw. */
  readonly indexed: unknown[];
  /** ackId → envelopes of that request, per channel. */
  readonly batches: Map<string, Map<number, unknown[]>>;
  script: Script | undefined;
  /** Whether /ack reports `id` of `channel` as indexed; default true. Called per id per poll. */
  ackPolicy: (channel: string, id: number) => boolean;
  /** Forget all channels and ackIds (a Splunk restart: ids start again at 0). */
  restart(): void;
  close(): Promise<void>;
}

/** Split back-to-back JSON values the way HEC does. Throws on malformed input. */
export function splitEnvelopes(body: string): unknown[] {
  const out: unknown[] = [];
  let depth = 0;
  let inString = false;
  let start = -1;
  for (let i = 0; i < body.length; i++) {
    const c = body[i];
    if (inString) {
      if (c === '\\') i++;
      else if (c === '"') inString = false;
      continue;
    }
    if (c === '"') inString = true;
    else if (c === '{') {
      if (depth === 0) start = i;
      depth++;
    } else if (c === '}' && --depth === 0) {
      out.push(JSON.parse(body.slice(start, i + 1)));
    }
  }
  if (depth !== 0) throw new Error('unbalanced body');
  return out;
}

export async function startScriptedHec(script?: Script, host = '127.0.0.1'): Promise<ScriptedHec> {
  const nextId = new Map<string, number>();
  const acked = new Map<string, Set<number>>();
  const state: ScriptedHec = {
    url: '',
    requests: [],
    indexed: [],
    batches: new Map(),
    script,
    ackPolicy: () => true,
    restart() {
      nextId.clear();
      acked.clear();
      state.batches.clear();
    },
    close: () => Promise.resolve(),
  };

  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      let raw = Buffer.concat(chunks);
      if (req.headers['content-encoding'] === 'gzip') raw = zlib.gunzipSync(raw);
      const url = new URL(req.url ?? '/', 'http://x');
      const r: HecRequest = {
        method: req.method ?? '',
        path: url.pathname,
        query: url.searchParams,
        headers: req.headers,
        body: raw.toString('utf8'),
        socketPort: req.socket.remotePort ?? 0,
        at: Date.now(),
      };
      state.requests.push(r);
      const answer = state.script?.(r, state) ?? defaultAnswer(r);
      res.writeHead(answer.status, { 'Content-Type': 'application/json', ...answer.headers });
      res.end(typeof answer.body === 'string' ? answer.body : JSON.stringify(answer.body));
    });
  });

  const channelOf = (r: HecRequest): string | undefined => {
    const h = r.headers['x-splunk-request-channel'];
    return (typeof h === 'string' ? h : undefined) ?? r.query.get('channel') ?? undefined;
  };

  const defaultAnswer = (r: HecRequest): Answer => {
    if (r.path === '/services/collector/health') return { status: 200, body: { text: 'HEC is healthy', code: 17 } };
    const auth = r.headers.authorization;
    if (auth === undefined) return { status: 401, body: { text: 'Token is required', code: 2 } };
    const channel = channelOf(r);
    if (r.path === '/services/collector/ack') {
      if (channel === undefined) return { status: 400, body: { text: 'Data channel is missing', code: 10 } };
      const ids = (JSON.parse(r.body) as { acks: number[] }).acks;
      const done = acked.get(channel) ?? new Set<number>();
      const out: Record<string, boolean> = {};
      for (const id of ids) {
        const known = (state.batches.get(channel)?.has(id) ?? false) && !done.has(id);
        const yes = known && state.ackPolicy(channel, id);
        out[String(id)] = yes;
        if (yes) done.add(id); // Splunk forgets an id once it reported it true
      }
      acked.set(channel, done);
      return { status: 200, body: { acks: out } };
    }
    if (r.body.length === 0) return { status: 400, body: { text: 'No data', code: 5 } };
    if (channel === undefined) return { status: 400, body: { text: 'Data channel is missing', code: 10 } };
    const envelopes =
      r.path === '/services/collector/raw' ? r.body.split('\n').filter((l) => l !== '') : splitEnvelopes(r.body);
    state.indexed.push(...envelopes);
    const id = nextId.get(channel) ?? 0;
    nextId.set(channel, id + 1);
    let perChannel = state.batches.get(channel);
    if (perChannel === undefined) state.batches.set(channel, (perChannel = new Map()));
    perChannel.set(id, envelopes);
    return { status: 200, body: { text: 'Success', code: 0, ackId: id } };
  };

  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, host, resolve);
  });
  const port = (server.address() as AddressInfo).port;
  Object.assign(state, {
    url: `http://${host.includes(':') ? `[${host}]` : host}:${port}`,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  });
  return state;
}

/** Index the envelopes of `r` as Splunk would (for scripts that answer themselves but still "index"). */
export function envelopesOf(r: HecRequest): unknown[] {
  return splitEnvelopes(r.body);
}

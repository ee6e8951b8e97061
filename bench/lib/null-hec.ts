/**
 * A minimal HEC endpoint for the splunk benchmark's "sender ceiling" variant, run as its own process (pinned to the
 * other core): it gunzips each request, counts its envelopes, answers with a per-channel ackId and reports every
 * asked ackId as indexed. It does what a receiver must do at the least, so the measured rate is aegisbpf's, not
 * the receiver's. Not a test double: the sink's tests use the real receiver and the scripted Splunk.
 * Prints `port=<n>` when listening; on SIGTERM prints `events=<n> requests=<n>` and exits; with `--report-ms N`
 * also every N ms while the count changes (bench/hostcost waits on it).
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import zlib from 'node:zlib';

let events = 0;
let requests = 0;
const nextAck = new Map<string, number>();
const MARK = Buffer.from('{"time":');

const server = http.createServer((req, res) => {
  const chunks: Buffer[] = [];
  req.on('data', (c: Buffer) => chunks.push(c));
  req.on('end', () => {
    let body = Buffer.concat(chunks);
    if (req.headers['content-encoding'] === 'gzip') body = zlib.gunzipSync(body);
    const url = req.url ?? '/';
    const channel = String(req.headers['x-splunk-request-channel'] ?? '');
    let answer: unknown;
    if (url.startsWith('/services/collector/health')) answer = { text: 'HEC is healthy', code: 17 };
    else if (url.startsWith('/services/collector/ack')) {
      const ids = (JSON.parse(body.toString('utf8')) as { acks: number[] }).acks;
      answer = { acks: Object.fromEntries(ids.map((i) => [String(i), true])) };
    } else if (body.length === 0) {
      res.writeHead(400, { 'Content-Type': 'application/json' });
      res.end('{"text":"No data","code":5}');
      return;
    } else {
      let n = 0;
      for (let at = body.indexOf(MARK); at >= 0; at = body.indexOf(MARK, at + 1)) n++;
      events += n;
      requests++;
      const id = nextAck.get(channel) ?? 0;
      nextAck.set(channel, id + 1);
      answer = { text: 'Success', code: 0, ackId: id };
    }
    res.writeHead(200, { 'Content-Type': 'application/json' });
    res.end(JSON.stringify(answer));
  });
});

server.keepAliveTimeout = 60_000;
server.listen(0, '127.0.0.1', () => process.stdout.write(`port=${(server.address() as AddressInfo).port}\n`));
const reportAt = process.argv.indexOf('--report-ms');
if (reportAt > 0) {
  let reported = -1;
  setInterval(
    () => {
      if (events === reported) return;
      reported = events;
      process.stdout.write(`events=${events} requests=${requests}\n`);
    },
    Number(process.argv[reportAt + 1]),
  ).unref();
}
process.on('SIGTERM', () => {
  process.stdout.write(`events=${events} requests=${requests}\n`);
  process.exit(0);
});

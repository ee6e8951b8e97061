/**
 * The peer harness's baseline "subject": the least a sender can do on each protocol, with no shipper in between. It
 * reads the same events file and sends each line as it is (no parsing, no formatting, no compression, no
 * acknowledgement polling), pinned to the same core as the subjects, into the same receiver. Its rate is the ceiling
 * of the receiver and the loopback path on this machine: a subject near it is held back by the harness, not by itself.
 *   node baseline-sender.js --mode syslog|relp|es|hec --port N --file F [--tls-ca F]
 */
import fs from 'node:fs';
import http from 'node:http';
import net from 'node:net';
import tls from 'node:tls';

function arg(name: string): string | undefined {
  const i = process.argv.indexOf(`--${name}`);
  return i > 0 ? process.argv[i + 1] : undefined;
}

const mode = arg('mode') ?? '';
const port = Number(arg('port'));
const ca = arg('tls-ca');
const lines = fs
  .readFileSync(arg('file') ?? '', 'utf8')
  .split('\n')
  .filter((l) => l !== '');

function connect(): Promise<net.Socket> {
  return new Promise((resolve, reject) => {
    const s =
      ca === undefined
        ? net.connect(port, '127.0.0.1', () => resolve(s))
        : tls.connect({ port, host: '127.0.0.1', ca: fs.readFileSync(ca), servername: 'localhost' }, () => resolve(s));
    s.once('error', reject);
  });
}

/** Octet-counted frames of the raw lines, in writes of about 1 MiB, honouring backpressure. */
async function syslog(): Promise<void> {
  const s = await connect();
  let chunk = '';
  for (const line of lines) {
    chunk += `${Buffer.byteLength(line)} ${line}`;
    if (chunk.length >= 1 << 20) {
      if (!s.write(chunk)) await new Promise((r) => s.once('drain', r));
      chunk = '';
    }
  }
  await new Promise<void>((resolve) => s.end(chunk, resolve));
}

/** RELP with a window of 1024 unanswered frames. */
async function relp(): Promise<void> {
  const s = await connect();
  const WINDOW = 1024;
  let answered = 0;
  let wake: (() => void) | undefined;
  s.on('data', (d: Buffer) => {
    for (let at = d.indexOf(' rsp '); at >= 0; at = d.indexOf(' rsp ', at + 1)) answered++;
    wake?.();
  });
  const offer = 'relp_version=0\nrelp_software=aegisbpf-bench-baseline\ncommands=syslog';
  s.write(`1 open ${Buffer.byteLength(offer)} ${offer}\n`);
  let txnr = 2;
  let sent = 1;
  let chunk = '';
  for (const line of lines) {
    chunk += `${txnr++} syslog ${Buffer.byteLength(line)} ${line}\n`;
    sent++;
    if (sent - answered >= WINDOW) {
      s.write(chunk);
      chunk = '';
      while (sent - answered >= WINDOW) await new Promise<void>((r) => (wake = r));
    }
  }
  s.write(chunk);
  while (answered < sent) await new Promise<void>((r) => (wake = r));
  s.write(`${txnr} close 0\n`);
  s.end();
}

/** Bodies of 1000 events, 4 requests in flight. */
async function http1(path: string, wrap: (line: string) => string): Promise<void> {
  const agent = new http.Agent({ keepAlive: true, maxSockets: 4 });
  const bodies: string[] = [];
  for (let i = 0; i < lines.length; i += 1000)
    bodies.push(
      lines
        .slice(i, i + 1000)
        .map(wrap)
        .join(''),
    );
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < bodies.length) {
      const body = bodies[next++]!;
      await new Promise<void>((resolve, reject) => {
        const req = http.request(
          {
            host: '127.0.0.1',
            port,
            path,
            method: 'POST',
            agent,
            headers: { 'content-type': 'application/json', authorization: 'Splunk baseline' },
          },
          (res) => {
            res.resume();
            res.on('end', resolve);
          },
        );
        req.on('error', reject);
        req.end(body);
      });
    }
  };
  await Promise.all([worker(), worker(), worker(), worker()]);
  agent.destroy();
}

const run: Record<string, () => Promise<void>> = {
  syslog,
  relp,
  es: () => http1('/_bulk', (l) => `{"create":{}}\n${l}\n`),
  hec: () => http1('/services/collector/event', (l) => `{"event":${l}}\n`),
};
const f = run[mode];
if (f === undefined) {
  process.stderr.write(`baseline-sender: --mode must be one of ${Object.keys(run).join(', ')}\n`);
  process.exit(2);
}
f().catch((err: unknown) => {
  process.stderr.write(`baseline-sender ${mode}: ${String(err)}\n`);
  process.exit(1);
});

/**
 * The peer harness's numbers are only as true as its receivers' counts and its arithmetic: a receiver that miscounted
 * frames split across reads, or a ratio taken the wrong way round, would flatter one shipper. The real receiver
 * process (bench/peers/null-receiver) is fed awkward input and must count exactly and answer as the protocol needs.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import http from 'node:http';
import net from 'node:net';
import path from 'node:path';
import readline from 'node:readline';
import zlib from 'node:zlib';
import { packagePath } from '../../src/util/paths';
import { sampleProcessTree } from '../../bench/peers/proc-tree';
import type { RunResult } from '../../bench/peers/report';
import { markdownTable, summarize, svgChart, writeDocsSection } from '../../bench/peers/report';
import { makeTempDir } from '../helpers/tmp';

interface Started {
  readonly port: number;
  readonly child: ChildProcess;
  readonly done: Promise<number>;
  /** SIGTERM; the final `count=` it printed. */
  stop(): Promise<number>;
}

async function startReceiver(mode: string, expect: number): Promise<Started> {
  const child = spawn(
    process.execPath,
    [packagePath('dist', 'bench', 'peers', 'null-receiver.js'), '--mode', mode, '--expect', String(expect)],
    { stdio: ['ignore', 'pipe', 'inherit'] },
  );
  const lines = readline.createInterface({ input: child.stdout });
  let onDone: (n: number) => void = () => undefined;
  let onCount: (n: number) => void = () => undefined;
  const done = new Promise<number>((r) => (onDone = r));
  const counted = new Promise<number>((r) => (onCount = r));
  const port = await new Promise<number>((resolve) =>
    lines.on('line', (l) => {
      const m = /^(port|done t=\d+ count|count)=(\d+)/.exec(l);
      if (m === null) return;
      if (m[1] === 'port') resolve(Number(m[2]));
      else if (m[1] === 'count') onCount(Number(m[2]));
      else onDone(Number(m[2]));
    }),
  );
  return {
    port,
    child,
    done,
    stop: () => {
      child.kill('SIGTERM');
      return counted;
    },
  };
}

/** Write `data` in pieces of `size` bytes, each its own write after a pause (so the receiver sees split frames). */
async function writeInPieces(socket: net.Socket, data: Buffer, size: number): Promise<void> {
  for (let at = 0; at < data.length; at += size) {
    socket.write(data.subarray(at, at + size));
    await new Promise((r) => setTimeout(r, 2));
  }
}

function connect(port: number): Promise<net.Socket> {
  return new Promise((resolve, reject) => {
    const s = net.connect(port, '127.0.0.1', () => resolve(s));
    s.once('error', reject);
  });
}

test('syslog receiver: octet-counted and LF-framed messages split at every odd boundary are each counted once', async () => {
  const r = await startReceiver('syslog', 300);
  try {
    const parts: string[] = [];
    for (let i = 0; i < 300; i++) {
      // Messages holding spaces, digits at the start of the text, and (octet-counted ones) LFs inside.
      const msg = `<14>1 - host app ${i} - - 12 345 {"n":${i},"text":"a\\nb"}${i % 3 === 0 ? '\nmore' : ''}`;
      parts.push(i % 2 === 0 ? `${Buffer.byteLength(msg)} ${msg}` : `${msg.replace(/\n/g, ' ')}\n`);
    }
    const socket = await connect(r.port);
    await writeInPieces(socket, Buffer.from(parts.join('')), 37);
    socket.end();
    assert.equal(await r.done, 300);
    await new Promise((res) => setTimeout(res, 50));
    assert.equal(await r.stop(), 300, 'no message counted twice');
  } finally {
    r.child.kill('SIGKILL');
  }
});

test('relp receiver: open offer answered, every syslog frame acknowledged 200 OK by its txnr, close answered', async () => {
  const r = await startReceiver('relp', 50);
  try {
    const socket = await connect(r.port);
    let answers = '';
    socket.on('data', (d: Buffer) => (answers += d.toString('latin1')));
    const offer = 'relp_version=0\nrelp_software=test\ncommands=syslog';
    const frames = [`1 open ${Buffer.byteLength(offer)} ${offer}\n`];
    for (let i = 0; i < 50; i++) {
      const msg = `<14>1 - h a - - - message ${i} with 12 34 digits`;
      frames.push(`${i + 2} syslog ${Buffer.byteLength(msg)} ${msg}\n`);
    }
    frames.push('52 close 0\n');
    await writeInPieces(socket, Buffer.from(frames.join('')), 23);
    assert.equal(await r.done, 50);
    await new Promise<void>((res) => socket.once('close', () => res()));
    assert.match(answers, /^1 rsp \d+ 200 OK\nrelp_version=0\n/);
    for (let i = 2; i <= 51; i++) assert.ok(answers.includes(`\n${i} rsp 6 200 OK\n`), `txnr ${i} acknowledged`);
    assert.ok(answers.endsWith('52 rsp 0\n0 serverclose 0\n'));
  } finally {
    r.child.kill('SIGKILL');
  }
});

function post(port: number, p: string, body: Buffer, headers: Record<string, string> = {}) {
  return new Promise<{ status: number; headers: http.IncomingHttpHeaders; body: string }>((resolve, reject) => {
    const req = http.request({ host: '127.0.0.1', port, path: p, method: 'POST', headers }, (res) => {
      let text = '';
      res.on('data', (c: Buffer) => (text += c.toString('utf8')));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: text }));
    });
    req.on('error', reject);
    req.end(body);
  });
}

test('es receiver: one item per action with status 201 (delete carries no document), gzip bodies, product header', async () => {
  const r = await startReceiver('es', 3);
  try {
    const ndjson =
      '{"create":{"_index":"a","_id":"x1"}}\n{"msg":"{\\"index\\":{}}"}\n' +
      '{"delete":{"_index":"a","_id":"x2"}}\n' +
      '{"index":{}}\n{"msg":"two"}\n';
    const res = await post(r.port, '/_bulk', zlib.gzipSync(ndjson), {
      'content-encoding': 'gzip',
      'content-type': 'application/x-ndjson',
    });
    assert.equal(res.status, 200);
    assert.equal(res.headers['x-elastic-product'], 'Elasticsearch');
    const items = (
      JSON.parse(res.body) as { errors: boolean; items: Record<string, { status: number; _id: string }>[] }
    ).items;
    assert.deepEqual(
      items.map((i) => Object.keys(i)[0]),
      ['create', 'delete', 'index'],
    );
    assert.ok(items.every((i) => Object.values(i)[0]!.status === 201));
    assert.equal(items[0]!.create!._id, 'x1');
    assert.equal(await r.done, 3);
  } finally {
    r.child.kill('SIGKILL');
  }
});

test('hec receiver: events counted as top-level objects whatever their fields, separators or braces in strings; acks', async () => {
  const r = await startReceiver('hec', 3);
  try {
    const body =
      '{"event":{"a":{"b":"}"}},"time":1}' + // no separator, a brace inside a string
      '\n{"host":"h","event":"x \\" { y"}  ' + // an escaped quote, then a brace, inside a string
      '{"event":{"nested":[{"k":1},{"k":2}]}}';
    const res = await post(r.port, '/services/collector/event', zlib.gzipSync(body), {
      'content-encoding': 'gzip',
      'x-splunk-request-channel': 'c1',
    });
    assert.deepEqual(JSON.parse(res.body), { text: 'Success', code: 0, ackId: 0 });
    assert.equal(await r.done, 3);
    const acks = await post(r.port, '/services/collector/ack', Buffer.from('{"acks":[0]}'), {
      'x-splunk-request-channel': 'c1',
    });
    assert.deepEqual(JSON.parse(acks.body), { acks: { '0': true } });
  } finally {
    r.child.kill('SIGKILL');
  }
});

function result(subject: string, eventsPerSecond: number, cpu: number, repeat: number): RunResult {
  return {
    workload: 'syslog-tcp',
    subject,
    repeat,
    events: 1000,
    received: 1000,
    seconds: 1000 / eventsPerSecond,
    eventsPerSecond,
    cpuSecondsPerMillion: cpu,
    peakRssMiB: 10 * (repeat + 1),
    drops: 0,
  };
}

test('report: medians, min–max, and the ratio is aegisbpf ÷ subject (events/s) and aegisbpf ÷ subject (CPU/event)', () => {
  const results = [
    result('aegisbpf', 100, 10, 0),
    result('aegisbpf', 300, 30, 1),
    result('aegisbpf', 200, 20, 2),
    result('rsyslog', 50, 4, 0),
    result('rsyslog', 40, 5, 1),
    { ...result('rsyslog', 1, 1, 2), error: 'timed out' },
  ];
  const rows = summarize(results, [
    { workload: 'syslog-tcp', subject: 'aegisbpf' },
    { workload: 'syslog-tcp', subject: 'rsyslog', note: 'forwards lines without parsing' },
    { workload: 'syslog-tcp', subject: 'syslog-ng', skipped: 'not unpacked' },
  ]);
  assert.equal(rows[0]!.medianEventsPerSecond, 200);
  assert.equal(rows[0]!.maxPeakRssMiB, 30);
  assert.equal(rows[1]!.medianEventsPerSecond, 45, 'the failed run is left out of the median');
  assert.equal(rows[1]!.failed, 1);
  assert.equal(rows[1]!.ratio, 4.44);
  assert.equal(rows[1]!.cpuRatio, 4.44);
  const table = markdownTable(rows);
  assert.match(
    table,
    /\| rsyslog \| 45 \| 40 – 50 \| 4\.5 \|.*\*\*4\.44×\*\* \(4\.44×\) \| forwards lines without parsing; 1 of 3 runs failed \|/,
  );
  assert.match(table, /\| syslog-ng \|.*skipped: not unpacked \|/);
  const svg = svgChart(rows, 'subtitle <&>');
  assert.equal((svg.match(/<rect x="200"/g) ?? []).length, 2, 'one bar per measured subject, none for the skipped');
  assert.ok(svg.includes('subtitle &lt;&amp;&gt;'));
});

test('report: the docs section is replaced between its markers, the rest of the page kept', () => {
  const { dir, cleanup } = makeTempDir();
  try {
    const doc = path.join(dir, 'benchmarks.md');
    fs.writeFileSync(doc, '# B\n\nbefore\n\n<!-- peers:begin -->\nold\n<!-- peers:end -->\n\nafter\n');
    writeDocsSection(doc, 'new table');
    writeDocsSection(doc, 'newer table');
    const text = fs.readFileSync(doc, 'utf8');
    assert.match(text, /before\n\n<!-- peers:begin [^\n]*-->\nnewer table\n<!-- peers:end -->\n\nafter\n$/);
    assert.equal(text.match(/peers:begin/g)?.length, 1);
  } finally {
    cleanup();
  }
});

test('proc-tree: CPU of a child process and of its own children (also once they exited), and their peak RSS', async () => {
  const { dir, cleanup } = makeTempDir();
  const marker = path.join(dir, 'done');
  // A shell whose child burns 300 ms of its own CPU time with 64 MiB resident, writes a marker and exits (the shell
  // reaps it: its CPU moves to the shell's cutime); the shell lives on.
  const script =
    'const b=Buffer.alloc(64<<20,1);const t=process.cpuUsage();' +
    'while((process.cpuUsage(t).user+process.cpuUsage(t).system)<300000);' +
    `require("fs").writeFileSync(${JSON.stringify(marker)},String(b[0]))`;
  // Its own process group, so the test ends the shell and its sleep together.
  const child = spawn('sh', ['-c', `${process.execPath} -e '${script}'; sleep 30`], {
    stdio: 'ignore',
    detached: true,
  });
  try {
    const sampler = sampleProcessTree(child.pid!, 20);
    while (!fs.existsSync(marker)) await new Promise((r) => setTimeout(r, 20));
    await new Promise((r) => setTimeout(r, 300));
    sampler.sample();
    const usage = sampler.stop();
    assert.ok(usage.cpuSeconds >= 0.29, `the grandchild's CPU is counted (got ${usage.cpuSeconds} s)`);
    assert.ok(usage.peakRssMiB >= 64, `its peak RSS is counted (got ${usage.peakRssMiB} MiB)`);
  } finally {
    process.kill(-child.pid!, 'SIGKILL');
    cleanup();
  }
});

/**
 * Syslog benchmark (issue 5): events/s from the real aegisbpf binary (replay → rfc5424 → syslog sink) pinned to one
 * core (taskset -c 0), to a local rsyslog writing every message to a file (pinned to the other core), per transport.
 * Goals: tcp (octet counting) >= 100 000 events/s, tls >= 60 000, relp >= 30 000.
 *
 * Peer, same run, same machine, same receiver: rsyslog's own forwarder (imfile tailing the same events as JSON
 * lines, omfwd tcp octet-counted / omfwd tls / omrelp), also pinned to core 0. Reported: the ratio aegisbpf / rsyslog.
 *
 * Rates are end to end: events / (time from process start until the receiver's file holds all of them). The sender
 * side alone (aegisbpf's run until every event was delivered, i.e. written or acknowledged) is reported as well.
 *   node dist/bench/syslog.js [--events N] [--only tcp,tls,relp]
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { spawn, spawnSync } from 'node:child_process';
import { formatJson } from '../src/formatters/json';
import { packagePath } from '../src/util/paths';
import { makeEventFactory } from '../test/helpers/events';
import { makeTestPki } from '../test/helpers/certs';
import { lineCounter, rsyslogSkipReason, rsyslogVersion, startRsyslog } from '../test/helpers/rsyslog';
import type { Rsyslog } from '../test/helpers/rsyslog';
import type { FloorResult } from './lib/floor';
import { measureFloor, startNullReceiver } from './lib/floor';
import { loadAverage, runBench, writeSummary } from './lib/summary';

type Transport = 'tcp' | 'tls' | 'relp';
const GOALS: Readonly<Record<Transport, number>> = { tcp: 100_000, tls: 60_000, relp: 30_000 };

interface Result {
  readonly sender: 'aegisbpf' | 'rsyslog-omfwd' | 'rsyslog-omrelp';
  readonly transport: Transport;
  readonly events: number;
  readonly seconds: number;
  readonly eventsPerSecond: number;
  /** aegisbpf only: wall time of the process (all events delivered) and its CPU. */
  readonly senderSeconds?: number;
  /** Events / (the daemon's "started" log line → its "stopped" line): the rate without process start-up. */
  readonly senderRunEventsPerSecond?: number;
  readonly cpuSecondsPerMillion?: number;
}

function arg(name: string): string | undefined {
  const i = process.argv.indexOf(`--${name}`);
  return i > 0 ? process.argv[i + 1] : undefined;
}

function pin(pid: number, cpu: number): void {
  spawnSync('taskset', ['-apc', String(cpu), String(pid)], { stdio: 'ignore' });
}

async function waitLines(file: string, count: number, timeoutMillis: number): Promise<number> {
  const deadline = Date.now() + timeoutMillis;
  const lines = lineCounter(file);
  for (;;) {
    const n = lines();
    if (n >= count) return Date.now();
    if (Date.now() > deadline) throw new Error(`${file}: ${n} of ${count} lines after ${timeoutMillis} ms`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

function receiverConfig(
  dir: string,
  pki: ReturnType<typeof makeTestPki>,
  ports: Readonly<Record<string, number>>,
): string {
  // Minimal work per message: parse (the default RFC 5424 parser), write the raw message. One file per sender.
  const out = (name: string): string =>
    `ruleset(name="${name}") { action(type="omfile" file="${dir}/${name}.log" template="bench_raw" ioBufferSize="1m") }`;
  return [
    `global(workDirectory="${dir}" maxMessageSize="64k")`,
    'module(load="imtcp" MaxSessions="100")',
    'module(load="imrelp")',
    'template(name="bench_raw" type="string" string="%rawmsg%\\n")',
    out('aegis_tcp'),
    out('aegis_tls'),
    out('aegis_relp'),
    out('peer_tcp'),
    out('peer_tls'),
    out('peer_relp'),
    `input(type="imtcp" address="127.0.0.1" port="${ports.aegis_tcp}" ruleset="aegis_tcp")`,
    `input(type="imtcp" address="127.0.0.1" port="${ports.peer_tcp}" ruleset="peer_tcp")`,
    ...['aegis_tls', 'peer_tls'].map(
      (n) =>
        `input(type="imtcp" address="127.0.0.1" port="${ports[n]}" ruleset="${n}" StreamDriver.Name="ossl" StreamDriver.Mode="1" StreamDriver.AuthMode="anon" ` +
        `StreamDriver.CAFile="${pki.caCert}" StreamDriver.CertFile="${pki.serverCert}" StreamDriver.KeyFile="${pki.serverKey}")`,
    ),
    `input(type="imrelp" address="127.0.0.1" port="${ports.aegis_relp}" ruleset="aegis_relp" maxDataSize="64k")`,
    `input(type="imrelp" address="127.0.0.1" port="${ports.peer_relp}" ruleset="peer_relp" maxDataSize="64k")`,
    '',
  ].join('\n');
}

function writeInput(file: string, count: number): void {
  const make = makeEventFactory({ seed: 1 });
  const fd = fs.openSync(file, 'w');
  let buf = '';
  for (let i = 0; i < count; i++) {
    buf += formatJson({ ...make(i), event_id: `b${i}` }) + '\n';
    if (buf.length > 1 << 20) {
      fs.writeSync(fd, buf);
      buf = '';
    }
  }
  fs.writeSync(fd, buf);
  fs.closeSync(fd);
}

async function runAegis(
  transport: Transport,
  dir: string,
  input: string,
  count: number,
  receiver: Rsyslog,
  pki: ReturnType<typeof makeTestPki>,
): Promise<Result> {
  const cfg = path.join(dir, `aegis-${transport}.yml`);
  const tls = transport === 'tls' ? `, tls: { ca_file: ${pki.caCert} }` : '';
  fs.writeFileSync(
    cfg,
    [
      `data_dir: ${dir}`,
      `sources: { r: { type: replay, path: ${input} } }`,
      `sinks: { s: { type: syslog, transport: ${transport}, host: 127.0.0.1, port: ${receiver.ports[`aegis_${transport}`]}${tls}, ` +
        // The default batch size (1000 events, 1 MiB): 2000 events / 4 MiB, used here until 2026-11, cost 5-20 % of
        // the tcp rate (more of each batch survives young-generation GCs; docs/benchmarks.md).
        `format: rfc5424, batch: { timeout_ms: 50 }${transport === 'relp' ? ', relp: { window: 1024 }' : ''} } }`,
    ].join('\n'),
  );
  const out = path.join(receiver.dir, `aegis_${transport}.log`);
  const t0 = Date.now();
  const child = spawn(
    'taskset',
    ['-c', '0', process.execPath, packagePath('bin', 'aegisbpf.js'), 'run', '--config', cfg],
    { stdio: ['ignore', 'ignore', 'pipe'] },
  );
  let stderr = '';
  child.stderr.on('data', (d: Buffer) => (stderr += d.toString('utf8')));
  const code = await new Promise<number | null>((resolve) => child.on('close', resolve));
  const senderSeconds = (Date.now() - t0) / 1000;
  if (code !== 0) throw new Error(`aegisbpf ${transport}: exit ${String(code)}\n${stderr.slice(-2000)}`);
  const logs = stderr
    .split('\n')
    .filter(Boolean)
    .map((l) => JSON.parse(l) as Record<string, unknown>);
  const summary = logs.find((l) => l.msg === 'aegisbpf stopped.')!;
  const started = logs.find((l) => l.msg === 'aegisbpf started.')!;
  const runSeconds = (Date.parse(summary.ts as string) - Date.parse(started.ts as string)) / 1000;
  const delivered = (summary.sinks as Record<string, { delivered: number } | undefined>).s?.delivered ?? 0;
  if (delivered !== count) throw new Error(`aegisbpf ${transport}: delivered ${delivered} of ${count}`);
  const done = await waitLines(out, count, 120_000);
  const seconds = (done - t0) / 1000;
  const cpu = ((summary.cpu_user_ms as number) + (summary.cpu_system_ms as number)) / 1000;
  return {
    sender: 'aegisbpf',
    transport,
    events: count,
    seconds: Number(seconds.toFixed(2)),
    eventsPerSecond: Math.round(count / seconds),
    senderSeconds: Number(senderSeconds.toFixed(2)),
    senderRunEventsPerSecond: Math.round(count / runSeconds),
    cpuSecondsPerMillion: Number(((cpu / count) * 1e6).toFixed(2)),
  };
}

async function runPeer(
  transport: Transport,
  dir: string,
  input: string,
  count: number,
  receiver: Rsyslog,
  pki: ReturnType<typeof makeTestPki>,
): Promise<Result> {
  const fwdDir = fs.mkdtempSync(path.join(dir, `fwd-${transport}-`));
  const copy = path.join(fwdDir, 'events.ndjson');
  fs.copyFileSync(input, copy);
  const port = receiver.ports[`peer_${transport}`];
  const tpl =
    'template(name="fwd" type="string" string="<%PRI%>1 %TIMESTAMP:::date-rfc3339% %HOSTNAME% %APP-NAME% %PROCID% %MSGID% %STRUCTURED-DATA% %msg%")';
  const action =
    transport === 'relp'
      ? `action(type="omrelp" target="127.0.0.1" port="${port}" template="fwd" windowSize="1024")`
      : `action(type="omfwd" target="127.0.0.1" port="${port}" protocol="tcp" TCP_Framing="octet-counted" template="fwd"` +
        (transport === 'tls'
          ? ` StreamDriver="ossl" StreamDriverMode="1" StreamDriverAuthMode="x509/name" StreamDriverPermittedPeers="localhost" StreamDriver.CAFile="${pki.caCert}"`
          : '') +
        ')';
  const out = path.join(receiver.dir, `peer_${transport}.log`);
  const t0 = Date.now();
  const fwd = await startRsyslog({
    dir: fwdDir,
    ports: {},
    config: () =>
      [
        `global(workDirectory="${fwdDir}" maxMessageSize="64k")`,
        'module(load="imfile")',
        transport === 'relp' ? 'module(load="omrelp")' : '',
        tpl,
        `ruleset(name="fwd" queue.type="LinkedList" queue.size="500000") { ${action} }`,
        `input(type="imfile" file="${copy}" tag="aegisbpf" ruleset="fwd")`,
        '',
      ].join('\n'),
  });
  try {
    // rsyslogd forks no worker processes: pinning its pid pins all its threads.
    pin(fwd.pid ?? 0, 0);
    const done = await waitLines(out, count, 180_000);
    const seconds = (done - t0) / 1000;
    return {
      sender: transport === 'relp' ? 'rsyslog-omrelp' : 'rsyslog-omfwd',
      transport,
      events: count,
      seconds: Number(seconds.toFixed(2)),
      eventsPerSecond: Math.round(count / seconds),
    };
  } finally {
    await fwd.cleanup();
  }
}

async function main(): Promise<void> {
  const skip = rsyslogSkipReason(['imtcp', 'imrelp', 'omrelp', 'imfile', 'lmnsd_ossl']);
  if (skip !== undefined) {
    process.stdout.write(`syslog: skipped: ${skip}\n`);
    return;
  }
  const count = Number(arg('events') ?? 300_000);
  const only = (arg('only') ?? 'tcp,tls,relp').split(',') as Transport[];
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'aegis-bench-syslog-'));
  const loadBefore = loadAverage();
  const pki = makeTestPki(path.join(dir, 'tls'));
  const receiver = await startRsyslog({
    ports: {
      aegis_tcp: 'tcp',
      aegis_tls: 'tcp',
      aegis_relp: 'tcp',
      peer_tcp: 'tcp',
      peer_tls: 'tcp',
      peer_relp: 'tcp',
    },
    config: (ctx) => receiverConfig(ctx.dir, pki, ctx.ports),
  });
  try {
    pin(receiver.pid ?? 0, 1);
    const input = path.join(dir, 'events.ndjson');
    writeInput(input, count);
    const results: Result[] = [];
    for (const transport of only) {
      results.push(await runAegis(transport, dir, input, count, receiver, pki));
      results.push(await runPeer(transport, dir, input, count, receiver, pki));
    }
    // The tcp floor: the same per-event work in one synchronous loop into a receiver that discards (no rsyslog, no
    // pipeline, no start-up): the most one core of this machine can send.
    let floor: FloorResult | undefined;
    if (only.includes('tcp')) {
      const sink = await startNullReceiver();
      try {
        floor = await measureFloor(['rfc5424-tcp', input, String(sink.port)]);
      } finally {
        await sink.close();
      }
    }
    const loadAfter = loadAverage();
    for (const transport of only) {
      const a = results.find((r) => r.sender === 'aegisbpf' && r.transport === transport)!;
      const p = results.find((r) => r.sender !== 'aegisbpf' && r.transport === transport)!;
      const ratio = Number((a.eventsPerSecond / p.eventsPerSecond).toFixed(2));
      process.stdout.write(
        `syslog ${transport}: aegisbpf ${a.eventsPerSecond} events/s end to end (${count} events in ${a.seconds} s; sender done in ${a.senderSeconds} s, ${a.senderRunEventsPerSecond} events/s from start-up done, ` +
          `${a.cpuSecondsPerMillion} CPU s per million) vs ${p.sender} ${p.eventsPerSecond} events/s: ratio ${ratio} ` +
          `(goal >= ${GOALS[transport]} events/s) ${a.eventsPerSecond >= GOALS[transport] ? 'PASS' : 'MISS'}\n`,
      );
    }
    if (floor !== undefined) {
      const a = results.find((r) => r.sender === 'aegisbpf' && r.transport === 'tcp')!;
      // Process start-up and shutdown: the sender's wall time outside the started → stopped interval.
      const overhead = (a.senderSeconds ?? 0) - count / (a.senderRunEventsPerSecond ?? Infinity);
      const bound = Math.round(count / (count / floor.eventsPerCpuSecond + overhead));
      process.stdout.write(
        `syslog tcp floor (the same work in one synchronous loop into a discarding receiver): ${floor.eventsPerCpuSecond} events per CPU-second, ` +
          `${floor.cpuMicrosPerEvent} µs per event; aegisbpf's sender spends ${((a.cpuSecondsPerMillion ?? NaN) / floor.cpuMicrosPerEvent).toFixed(2)}x that, start-up included. ` +
          `The floor plus this run's ${overhead.toFixed(2)} s of start-up and shutdown would give ${bound} events/s end to end (goal ${GOALS.tcp}); ` +
          `the floor alone is ${floor.eventsPerCpuSecond >= GOALS.tcp ? 'above' : 'below'} the goal.\n`,
      );
    }
    writeSummary('syslog', { rsyslog: rsyslogVersion(), loadBefore, loadAfter, results, floor });
  } finally {
    await receiver.cleanup();
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

runBench('syslog', main);

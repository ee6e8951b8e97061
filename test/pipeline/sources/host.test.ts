/**
 * The host source: exact figures from a /proc tree the test writes (known answers), and figures that match the
 * real /proc read by the test around a sample.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { isValidEvent } from '../../../src/event/validate';
import { createAnalyticsStore } from '../../../src/pipeline/analytics-view';
import { createHostSampler, parseHostOptions } from '../../../src/pipeline/sources/host';
import { createProcessReader, readMeminfo, readNetDev } from '../../../src/pipeline/sources/host-proc';
import { createMetrics } from '../../../src/telemetry/metrics';
import { createStatsRegistry } from '../../../src/telemetry/stats';
import { makeTempDir } from '../../helpers/tmp';

interface Fake {
  cpu: number[];
  load: string;
  memTotalKb: number;
  memAvailKb: number;
  sectors: [number, number];
  net: [number, number];
  /** More interfaces than eth0: name, received bytes, sent bytes. */
  ifaces?: [string, number, number][];
  procs: [number, string, number, number][]; // pid, comm, ticks, rss pages
  /** starttime (field 22) per pid where not 100: a different one is another process under a reused pid. */
  starts?: Record<number, number>;
}

function writeProc(root: string, f: Fake): void {
  fs.mkdirSync(path.join(root, 'net'), { recursive: true });
  fs.writeFileSync(path.join(root, 'stat'), `cpu  ${f.cpu.join(' ')} 0 0\ncpu0 1 2 3 4\nintr 1\n`);
  fs.writeFileSync(path.join(root, 'loadavg'), `${f.load} 0.50 0.25 1/100 4242\n`);
  fs.writeFileSync(
    path.join(root, 'meminfo'),
    `MemTotal:       ${f.memTotalKb} kB\nMemFree:         1000 kB\nMemAvailable:   ${f.memAvailKb} kB\n`,
  );
  fs.writeFileSync(
    path.join(root, 'diskstats'),
    `   7       0 loop0 9 0 999 0 9 0 999 0 0 0 0\n 253       0 vda 10 0 ${f.sectors[0]} 0 10 0 ${f.sectors[1]} 0 0 0 0\n 253       1 vda1 10 0 77777 0 10 0 77777 0 0 0 0\n`,
  );
  fs.writeFileSync(
    path.join(root, 'net', 'dev'),
    `Inter-| Receive | Transmit\n face |bytes packets|bytes packets\n    lo: 5555 1 0 0 0 0 0 0 5555 1 0 0 0 0 0 0\n  eth0: ${f.net[0]} 1 0 0 0 0 0 0 ${f.net[1]} 1 0 0 0 0 0 0\n` +
      (f.ifaces ?? []).map(([name, rx, tx]) => `${name}: ${rx} 1 0 0 0 0 0 0 ${tx} 1 0 0 0 0 0 0\n`).join(''),
  );
  for (const [pid, comm, ticks, rss] of f.procs) {
    fs.mkdirSync(path.join(root, String(pid)), { recursive: true });
    // proc(5): pid (comm) state ppid pgrp session tty tpgid flags minflt cminflt majflt cmajflt utime stime … rss (24)
    const start = f.starts?.[pid] ?? 100;
    const after = ['S', 1, 1, 1, 0, -1, 0, 0, 0, 0, 0, ticks - 1, 1, 0, 0, 20, 0, 1, 0, start, 1000, rss, 0];
    fs.writeFileSync(path.join(root, String(pid), 'stat'), `${pid} (${comm}) ${after.join(' ')}\n`);
  }
}

test('known /proc files: CPU share, load, memory, whole-disk and non-lo bytes, top processes, metrics', () => {
  const { dir, cleanup } = makeTempDir('aegis-host-');
  try {
    const proc = path.join(dir, 'proc');
    const sys = path.join(dir, 'block');
    fs.mkdirSync(path.join(sys, 'vda'), { recursive: true });
    fs.mkdirSync(path.join(sys, 'loop0'), { recursive: true });
    const base: Fake = {
      cpu: [100, 0, 100, 700, 100, 0, 0, 0],
      load: '1.25',
      memTotalKb: 8_000_000,
      memAvailKb: 4_000_000,
      sectors: [1000, 2000],
      net: [10_000, 20_000],
      procs: [
        [10, 'web server', 500, 1000],
        [11, 'db', 100, 5000],
        [12, 'idle', 7, 10],
      ],
    };
    writeProc(proc, base);
    let now = Date.UTC(2026, 10, 21);
    const registry = createStatsRegistry();
    const analytics = createAnalyticsStore(registry);
    const sampler = createHostSampler(parseHostOptions({ interval: '10s', top: 2, top_every: 1 }), {
      name: 'host',
      hostname: 'web-1',
      procRoot: proc,
      sysBlock: sys,
      now: () => now,
      registry,
      analytics,
    });
    assert.equal(sampler.sample(), undefined, 'the first reading is the baseline');
    now += 10_000;
    // 10 s later: 1000 jiffies passed, 200 of them busy (user +150, system +50; idle +750, iowait +50): 20 %.
    writeProc(proc, {
      ...base,
      cpu: [250, 0, 150, 1450, 150, 0, 0, 0],
      load: '2.5',
      memAvailKb: 3_000_000,
      sectors: [1000 + 8, 2000 + 16],
      net: [10_000 + 4096, 20_000 + 1024],
      procs: [
        [10, 'web server', 500 + 300, 1000],
        [11, 'db', 100 + 50, 5000],
        [12, 'idle', 7, 10],
        [13, 'new', 999, 1],
      ],
    });
    const e = sampler.sample()!;
    assert.ok(isValidEvent(e), 'a valid host_stats event');
    assert.equal(e.type, 'host_stats');
    assert.equal(e.interval_ms, 10_000);
    assert.equal(e.cpu_percent, 20);
    assert.equal(e.load1, 2.5);
    assert.equal(e.mem_total_bytes, 8_000_000 * 1024);
    assert.equal(e.mem_available_bytes, 3_000_000 * 1024);
    assert.equal(e.disk_read_bytes, 8 * 512, 'vda only: loop0 and the vda1 partition are not counted');
    assert.equal(e.disk_write_bytes, 16 * 512);
    assert.equal(e.net_rx_bytes, 4096, 'lo is not counted');
    assert.equal(e.net_tx_bytes, 1024);
    // 300 ticks (3 s of CPU at 100 ticks/s) in 10 s = 30 % of one CPU; a process new since the last sample has no interval.
    assert.deepEqual(e.top_cpu, ['10 web_server 30', '11 db 5']);
    assert.deepEqual(e.top_rss, [`11 db ${5000 * 4096}`, `10 web_server ${1000 * 4096}`]);

    const text = createMetrics({ stats: registry, version: 't', detailed: false }).render();
    assert.match(text, /^aegisbpf_host_cpu_percent 20$/m);
    assert.match(text, /^aegisbpf_host_network_receive_bytes_total 4096$/m);
    assert.match(text, /^aegisbpf_host_disk_written_bytes_total 8192$/m);
    assert.equal(analytics.realtime().host, e);
    assert.deepEqual(
      analytics.history(0, 60_000).map((p) => p.sample),
      [e],
    );
  } finally {
    cleanup();
  }
});

test('the real /proc: figures match what the test reads around a sample', async () => {
  const registry = createStatsRegistry();
  const sampler = createHostSampler(parseHostOptions({ top: 5, top_every: 1 }), {
    name: 'host',
    hostname: 'h',
    registry,
  });
  const netBefore = readNetDev('/proc');
  sampler.sample();
  // Some traffic and CPU in between, so the deltas are not all zero by construction.
  await new Promise((r) => setTimeout(r, 200));
  const e = sampler.sample()!;
  const netAfter = readNetDev('/proc');
  const mem = readMeminfo('/proc');
  assert.ok(isValidEvent(e));
  assert.equal(e.mem_total_bytes, mem.total, 'MemTotal');
  assert.ok(Math.abs(e.mem_available_bytes - mem.available) < mem.total * 0.05, 'MemAvailable within 5 % of MemTotal');
  // Per interface, the sample's window lies inside the test's: its delta is at most the test's (an interface that
  // appeared after the test's first read: at most its whole counter).
  let rxBound = 0;
  let txBound = 0;
  for (const [name, c] of netAfter) {
    rxBound += c.rx - (netBefore.get(name)?.rx ?? 0);
    txBound += c.tx - (netBefore.get(name)?.tx ?? 0);
  }
  assert.ok(e.net_rx_bytes <= rxBound && e.net_tx_bytes <= txBound, `${e.net_rx_bytes} <= ${rxBound}`);
  assert.ok(e.cpu_percent >= 0 && e.cpu_percent <= 100);
  assert.ok(e.interval_ms >= 200 && e.interval_ms < 5000);
  const load = Number(fs.readFileSync('/proc/loadavg', 'utf8').split(' ')[0]);
  assert.ok(Math.abs(e.load1 - load) < 1, `load1 ${e.load1} vs ${load}`);
  // Every top-RSS entry is a real process whose RSS the test reads back (within 20 %: it moves).
  assert.equal(e.top_rss!.length, 5);
  for (const entry of e.top_rss!) {
    const [pid, , bytes] = entry.split(' ');
    let stat: string;
    try {
      stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
    } catch {
      continue; // exited meanwhile
    }
    const rss = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[21]) * 4096;
    assert.ok(Math.abs(rss - Number(bytes)) <= Math.max(rss, Number(bytes)) * 0.2, `${entry} vs ${rss}`);
  }
});

test('network bytes per interface: one that appears starts at its counters, one that disappears is dropped', () => {
  const { dir, cleanup } = makeTempDir('aegis-host-');
  try {
    const proc = path.join(dir, 'proc');
    const base: Fake = {
      cpu: [100, 0, 100, 700, 100, 0, 0, 0],
      load: '1.00',
      memTotalKb: 1000,
      memAvailKb: 500,
      sectors: [0, 0],
      net: [1_000, 2_000],
      ifaces: [['veth1', 9_000_000, 8_000_000]],
      procs: [],
    };
    writeProc(proc, base);
    let now = Date.UTC(2026, 10, 21);
    const registry = createStatsRegistry();
    const sampler = createHostSampler(parseHostOptions({ top: 0 }), {
      name: 'host',
      hostname: 'h',
      procRoot: proc,
      sysBlock: path.join(dir, 'none'),
      now: () => now,
      registry,
    });
    sampler.sample();
    // veth1 (9 MB received) goes away while veth2 (5 MB already) comes up: the totals over all interfaces would go
    // from 9 001 000 to 5 001 100, a negative delta counted as 0, though eth0 received 100 bytes.
    now += 10_000;
    writeProc(proc, { ...base, net: [1_100, 2_050], ifaces: [['veth2', 5_000_000, 4_000_000]] });
    const a = sampler.sample()!;
    assert.equal(a.net_rx_bytes, 100, 'eth0 only: veth1 dropped, veth2 starts at its counters');
    assert.equal(a.net_tx_bytes, 50);
    // The reverse (a small interface gone, a big one new) would have reported the big one's whole history.
    now += 10_000;
    writeProc(proc, {
      ...base,
      net: [1_300, 2_050],
      ifaces: [
        ['veth2', 5_000_700, 4_000_000],
        ['veth3', 70_000_000, 60_000_000],
      ],
    });
    const b = sampler.sample()!;
    assert.equal(b.net_rx_bytes, 200 + 700);
    assert.equal(b.net_tx_bytes, 0);
    // An interface re-created under the same name with lower counters counts 0, not a negative amount.
    now += 10_000;
    writeProc(proc, {
      ...base,
      net: [1_400, 2_060],
      ifaces: [
        ['veth2', 10, 10],
        ['veth3', 70_000_500, 60_000_000],
      ],
    });
    const c = sampler.sample()!;
    assert.equal(c.net_rx_bytes, 100 + 500);
    assert.equal(c.net_tx_bytes, 10);
    assert.equal(registry.analytics.host?.netReceiveBytesTotal, 100 + 900 + 600);
    sampler.close();
  } finally {
    cleanup();
  }
});

test('process reader: cached and uncached descriptors, exited and reused pids, comm with spaces and parentheses', () => {
  const { dir, cleanup } = makeTempDir('aegis-host-');
  try {
    const proc = path.join(dir, 'proc');
    const base: Fake = {
      cpu: [1, 0, 0, 1, 0, 0, 0, 0],
      load: '0',
      memTotalKb: 1,
      memAvailKb: 1,
      sectors: [0, 0],
      net: [0, 0],
      procs: [
        [20, 'a) (b', 10, 1],
        [21, 'x', 20, 2],
        [22, 'y', 30, 3],
      ],
    };
    writeProc(proc, base);
    // At most one descriptor kept: the other two processes are opened for every read.
    const reader = createProcessReader(proc, 4096, 1);
    const snapshot = (): string[] =>
      reader
        .read()
        .map((p) => `${p.pid} ${p.comm} ${p.ticks} ${p.prevTicks} ${p.rssBytes}`)
        .sort();
    assert.deepEqual(snapshot(), ['20 a) (b 10 -1 4096', '21 x 20 -1 8192', '22 y 30 -1 12288']);
    fs.rmSync(path.join(proc, '21'), { recursive: true });
    writeProc(proc, {
      ...base,
      procs: [
        [20, 'a) (b', 15, 1],
        [22, 'y2', 31, 3],
        [23, 'z', 40, 4],
      ],
      starts: { 22: 555 },
    });
    // 21 exited; 22 is another process now (a different start time): no previous ticks; 23 is new.
    assert.deepEqual(snapshot(), ['20 a) (b 15 10 4096', '22 y2 31 -1 12288', '23 z 40 -1 16384']);
    writeProc(proc, {
      ...base,
      procs: [
        [20, 'a) (b', 16, 1],
        [22, 'y2', 35, 3],
        [23, 'z', 41, 4],
      ],
      starts: { 22: 555 },
    });
    assert.deepEqual(snapshot(), ['20 a) (b 16 15 4096', '22 y2 35 31 12288', '23 z 41 40 16384']);
    reader.close();
  } finally {
    cleanup();
  }
});

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
import { readMeminfo, readNetDev } from '../../../src/pipeline/sources/host-proc';
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
  procs: [number, string, number, number][]; // pid, comm, ticks, rss pages
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
    `Inter-| Receive | Transmit\n face |bytes packets|bytes packets\n    lo: 5555 1 0 0 0 0 0 0 5555 1 0 0 0 0 0 0\n  eth0: ${f.net[0]} 1 0 0 0 0 0 0 ${f.net[1]} 1 0 0 0 0 0 0\n`,
  );
  for (const [pid, comm, ticks, rss] of f.procs) {
    fs.mkdirSync(path.join(root, String(pid)), { recursive: true });
    // proc(5): pid (comm) state ppid pgrp session tty tpgid flags minflt cminflt majflt cmajflt utime stime … rss (24)
    const after = ['S', 1, 1, 1, 0, -1, 0, 0, 0, 0, 0, ticks - 1, 1, 0, 0, 20, 0, 1, 0, 100, 1000, rss, 0];
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
  assert.ok(e.net_rx_bytes <= netAfter.rx - netBefore.rx && e.net_tx_bytes <= netAfter.tx - netBefore.tx);
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

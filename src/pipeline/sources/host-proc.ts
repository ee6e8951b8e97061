/**
 * Readers of the /proc files the `host` source samples, and the arithmetic between two readings. Pure apart from
 * the reads, and every path is under a `root` (default /proc; tests pass a directory of their own files).
 *
 * Cost matters (the budget is 1 ms of CPU per sample): each file is read with one readFileSync into a
 * string and scanned once; the per-process part (top processes) reads /proc/<pid>/stat only, one small file per
 * process, and skips it entirely when `top` is 0. bench/host-source.ts measures a sample.
 */
import fs from 'node:fs';
import path from 'node:path';

export interface CpuTimes {
  /** All jiffies of the `cpu` line of /proc/stat. */
  readonly total: number;
  /** Jiffies not idle and not waiting for I/O. */
  readonly busy: number;
}

export interface ProcessTimes {
  readonly pid: number;
  readonly comm: string;
  /** utime + stime, clock ticks. */
  readonly ticks: number;
  /** Resident set size, bytes. */
  readonly rssBytes: number;
}

export interface HostReading {
  readonly atMillis: number;
  readonly cpu: CpuTimes;
  readonly load1: number;
  readonly memTotalBytes: number;
  readonly memAvailableBytes: number;
  /** Cumulative bytes read and written by whole disks (sectors × 512). */
  readonly diskReadBytes: number;
  readonly diskWriteBytes: number;
  /** Cumulative bytes received and sent on every interface but lo. */
  readonly netRxBytes: number;
  readonly netTxBytes: number;
  /** Empty when top processes are not wanted. */
  readonly processes: readonly ProcessTimes[];
}

const read = (root: string, ...parts: string[]): string => fs.readFileSync(path.join(root, ...parts), 'latin1');

export function readCpu(root: string): CpuTimes {
  const text = read(root, 'stat');
  const line = text.slice(0, text.indexOf('\n'));
  const f = line.trim().split(/\s+/).slice(1).map(Number);
  // user nice system idle iowait irq softirq steal (guest and guest_nice are already inside user and nice)
  let total = 0;
  for (let i = 0; i < Math.min(f.length, 8); i++) total += f[i] ?? 0;
  const idle = (f[3] ?? 0) + (f[4] ?? 0);
  return { total, busy: total - idle };
}

export function readMeminfo(root: string): { total: number; available: number } {
  const text = read(root, 'meminfo');
  const kb = (name: string): number => {
    const m = new RegExp(`^${name}:\\s+(\\d+) kB`, 'm').exec(text);
    return m === null ? 0 : Number(m[1]) * 1024;
  };
  return { total: kb('MemTotal'), available: kb('MemAvailable') };
}

/**
 * Whole disks of /proc/diskstats: the devices that have a /sys/block entry (`wholeDisks`), loop and ram devices
 * left out (their I/O is some other device's I/O, or memory).
 */
export function readDiskstats(root: string, wholeDisks: ReadonlySet<string>): { read: number; write: number } {
  let r = 0;
  let w = 0;
  for (const line of read(root, 'diskstats').split('\n')) {
    const f = line.trim().split(/\s+/);
    if (f.length < 10 || !wholeDisks.has(f[2]!)) continue;
    r += Number(f[5]) * 512;
    w += Number(f[9]) * 512;
  }
  return { read: r, write: w };
}

export function listWholeDisks(sysBlock: string): Set<string> {
  try {
    return new Set(fs.readdirSync(sysBlock).filter((d) => !/^(loop|ram|zram)/.test(d)));
  } catch {
    return new Set();
  }
}

export function readNetDev(root: string): { rx: number; tx: number } {
  let rx = 0;
  let tx = 0;
  for (const line of read(root, 'net', 'dev').split('\n').slice(2)) {
    const colon = line.indexOf(':');
    if (colon < 0) continue;
    if (line.slice(0, colon).trim() === 'lo') continue;
    const f = line
      .slice(colon + 1)
      .trim()
      .split(/\s+/);
    rx += Number(f[0]);
    tx += Number(f[8]);
  }
  return { rx, tx };
}

/** Every process's CPU ticks and RSS from /proc/<pid>/stat (processes that exit meanwhile are skipped). */
export function readProcesses(root: string, pageBytes: number): ProcessTimes[] {
  const out: ProcessTimes[] = [];
  for (const name of fs.readdirSync(root)) {
    const c = name.charCodeAt(0);
    if (c < 0x30 || c > 0x39) continue;
    let stat: string;
    try {
      stat = read(root, name, 'stat');
    } catch {
      continue;
    }
    const close = stat.lastIndexOf(')');
    const comm = stat.slice(stat.indexOf('(') + 1, close);
    // Fields after the comm: state is field 3; utime 14, stime 15, rss 24 (1-based, proc(5)).
    const f = stat.slice(close + 2).split(' ');
    out.push({ pid: Number(name), comm, ticks: Number(f[11]) + Number(f[12]), rssBytes: Number(f[21]) * pageBytes });
  }
  return out;
}

export function readLoad1(root: string): number {
  return Number(read(root, 'loadavg').split(' ')[0]);
}

/** Clock ticks per second (USER_HZ): 100 on every Linux architecture Node runs on. */
export const CLOCK_TICKS_PER_SECOND = 100;

/** The top `n` processes by CPU over the interval, `<pid> <comm> <percent of one CPU>`. */
export function topByCpu(
  prev: readonly ProcessTimes[],
  now: readonly ProcessTimes[],
  intervalMillis: number,
  n: number,
): string[] {
  if (n === 0 || intervalMillis <= 0) return [];
  const before = new Map(prev.map((p) => [p.pid, p.ticks]));
  const used: [ProcessTimes, number][] = [];
  for (const p of now) {
    const b = before.get(p.pid);
    if (b === undefined) continue; // new since the last sample: no interval to measure over
    const d = p.ticks - b;
    if (d > 0) used.push([p, d]);
  }
  used.sort((a, b) => b[1] - a[1] || a[0].pid - b[0].pid);
  const ticksInInterval = (intervalMillis / 1000) * CLOCK_TICKS_PER_SECOND;
  return used.slice(0, n).map(([p, d]) => `${p.pid} ${clean(p.comm)} ${Math.round((d / ticksInInterval) * 1000) / 10}`);
}

/** The top `n` processes by resident memory, `<pid> <comm> <bytes>`. */
export function topByRss(now: readonly ProcessTimes[], n: number): string[] {
  if (n === 0) return [];
  return [...now]
    .sort((a, b) => b.rssBytes - a.rssBytes || a.pid - b.pid)
    .slice(0, n)
    .map((p) => `${p.pid} ${clean(p.comm)} ${p.rssBytes}`);
}

/** A comm as one word (spaces would split the `<pid> <comm> <value>` entry). */
const clean = (comm: string): string => comm.replace(/\s/g, '_').slice(0, 64);

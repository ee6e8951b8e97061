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

/** One buffer for every read: /proc files are small, and readFileSync's stat + allocation tripled a sample's cost. */
let buffer = Buffer.allocUnsafe(64 * 1024);

/** A whole /proc file as latin1 text, by open/read/close into the shared buffer (grown when a file fills it). */
function readText(file: string): string {
  const fd = fs.openSync(file, 'r');
  try {
    let n = 0;
    for (;;) {
      const got = fs.readSync(fd, buffer, n, buffer.length - n, null);
      if (got === 0) break;
      n += got;
      if (n === buffer.length) {
        const bigger = Buffer.allocUnsafe(buffer.length * 2);
        buffer.copy(bigger);
        buffer = bigger;
      }
    }
    return buffer.toString('latin1', 0, n);
  } finally {
    fs.closeSync(fd);
  }
}

const read = (root: string, ...parts: string[]): string => readText(path.join(root, ...parts));

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

export interface ProcessReader {
  /** Every process's CPU ticks and RSS from /proc/<pid>/stat (processes that exit meanwhile are skipped). */
  read(): ProcessTimes[];
  /** Close the cached descriptors. */
  close(): void;
}

/**
 * Reads /proc/<pid>/stat of every process, keeping each file open between samples (at most `maxOpen`) and reading it
 * again at offset 0: the kernel regenerates the text on every read from the start, and skipping the path lookup of
 * open(2) halves the per-process cost (measured: about 4 µs with open/read/close, 2.5 µs with a cached descriptor).
 * A descriptor of a process that exited fails to read (ESRCH) and is closed; a reused pid is then opened afresh.
 */
export function createProcessReader(root: string, pageBytes: number, maxOpen = 4096): ProcessReader {
  const prefix = root.endsWith('/') ? root : root + '/';
  const fds = new Map<string, number>();
  const small = Buffer.allocUnsafe(4096);
  return {
    read() {
      const out: ProcessTimes[] = [];
      const seen = new Set<string>();
      for (const name of fs.readdirSync(root)) {
        const c = name.charCodeAt(0);
        if (c < 0x30 || c > 0x39) continue;
        seen.add(name);
        let fd = fds.get(name);
        let stat: string;
        try {
          if (fd === undefined) {
            fd = fs.openSync(prefix + name + '/stat', 'r');
            if (fds.size < maxOpen) fds.set(name, fd);
          }
          const n = fs.readSync(fd, small, 0, small.length, 0);
          stat = small.toString('latin1', 0, n);
          if (fds.get(name) !== fd) fs.closeSync(fd);
        } catch {
          if (fd !== undefined) {
            fs.closeSync(fd);
            fds.delete(name);
          }
          continue;
        }
        const close = stat.lastIndexOf(')');
        const comm = stat.slice(stat.indexOf('(') + 1, close);
        // Fields after the comm: state is field 3; utime 14, stime 15, rss 24 (1-based, proc(5)).
        const f = stat.slice(close + 2).split(' ');
        out.push({
          pid: Number(name),
          comm,
          ticks: Number(f[11]) + Number(f[12]),
          rssBytes: Number(f[21]) * pageBytes,
        });
      }
      for (const [name, fd] of fds)
        if (!seen.has(name)) {
          fs.closeSync(fd);
          fds.delete(name);
        }
      return out;
    },
    close() {
      for (const fd of fds.values()) fs.closeSync(fd);
      fds.clear();
    },
  };
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

/**
 * Readers of the /proc files the `host` source samples, and the arithmetic between two readings. Pure apart from
 * the reads, and every path is under a `root` (default /proc; tests pass a directory of their own files).
 *
 * Cost matters (the budget is 1 ms of CPU per sample): every file is kept open between samples and read
 * again from offset 0 into one buffer, and scanned in place; the per-process part (top processes) reads
 * /proc/<pid>/stat only, one small file per process, and skips it entirely when `top` is 0. The kernel generating
 * those files is most of a sample: `node dist/bench/analytics.js --only host` measures a sample against its bare
 * syscalls.
 */
import fs from 'node:fs';
import path from 'node:path';

export interface CpuTimes {
  /** All jiffies of the `cpu` line of /proc/stat. */
  readonly total: number;
  /** Jiffies not idle and not waiting for I/O. */
  readonly busy: number;
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
  /** Cumulative bytes received and sent, per interface but lo. */
  readonly net: ReadonlyMap<string, NetCounters>;
}

/** One buffer for every read: /proc files are small, and readFileSync's stat + allocation tripled a sample's cost. */
let buffer = Buffer.allocUnsafe(64 * 1024);

/**
 * The whole file behind `fd` as latin1 text, read from offset 0 with positioned reads (the kernel regenerates a /proc
 * file on a read from offset 0) into the shared buffer, grown when a file fills it.
 */
function readWhole(fd: number): string {
  let n = 0;
  for (;;) {
    const got = fs.readSync(fd, buffer, n, buffer.length - n, n);
    if (got === 0) break;
    n += got;
    if (n === buffer.length) {
      const bigger = Buffer.allocUnsafe(buffer.length * 2);
      buffer.copy(bigger);
      buffer = bigger;
    }
  }
  return buffer.toString('latin1', 0, n);
}

/** A whole /proc file as latin1 text, by open/read/close. */
function readText(file: string): string {
  const fd = fs.openSync(file, 'r');
  try {
    return readWhole(fd);
  } finally {
    fs.closeSync(fd);
  }
}

/**
 * The machine-wide files kept open between samples and read again from offset 0 (the kernel regenerates a /proc file
 * on a read from offset 0): saves the path lookup of open(2) and the close(2) of five files per sample.
 */
export interface ProcFiles {
  /** The whole file `name` (a path under the root, such as `net/dev`) as latin1 text. */
  text(name: string): string;
  close(): void;
}

export function createProcFiles(root: string): ProcFiles {
  const fds = new Map<string, number>();
  return {
    text(name) {
      let fd = fds.get(name);
      if (fd === undefined) {
        fd = fs.openSync(path.join(root, name), 'r');
        fds.set(name, fd);
      }
      return readWhole(fd);
    },
    close() {
      for (const fd of fds.values()) fs.closeSync(fd);
      fds.clear();
    },
  };
}

/** Where the machine-wide files are read from: a root directory (opened for each read), or files kept open. */
export type ProcSource = string | ProcFiles;

const read = (src: ProcSource, name: string): string =>
  typeof src === 'string' ? readText(path.join(src, name)) : src.text(name);

// The machine-wide files are scanned in place, field by field: split() and regular expressions made parsing them
// cost as much as the kernel generating them (about 40 µs of the 80 µs of a sample without processes).

const isBlank = (c: number): boolean => c === 0x20 || c === 0x09;

/** Index of the first non-blank at or after `i` (blanks: space and tab, not the newline). */
function skipBlanks(t: string, i: number): number {
  while (i < t.length && isBlank(t.charCodeAt(i))) i++;
  return i;
}

/** Index just after the field starting at `i`. */
function fieldEnd(t: string, i: number): number {
  while (i < t.length) {
    const c = t.charCodeAt(i);
    if (isBlank(c) || c === 0x0a) break;
    i++;
  }
  return i;
}

/** The decimal number at `i` (digits only: every counter read here is unsigned). */
function numberAt(t: string, i: number): number {
  let v = 0;
  for (; i < t.length; i++) {
    const c = t.charCodeAt(i);
    if (c < 0x30 || c > 0x39) break;
    v = v * 10 + (c - 0x30);
  }
  return v;
}

/**
 * The numbers of fields `wanted` (ascending, 0-based from `i`) of the line starting at `i`, into `out`; fields the
 * line lacks are NaN. Returns the number of fields seen up to the last wanted one.
 */
function lineFields(t: string, i: number, wanted: readonly number[], out: number[]): number {
  let field = 0;
  let w = 0;
  out.fill(NaN);
  i = skipBlanks(t, i);
  while (w < wanted.length && i < t.length && t.charCodeAt(i) !== 0x0a) {
    if (field === wanted[w]) out[w++] = numberAt(t, i);
    i = skipBlanks(t, fieldEnd(t, i));
    field++;
  }
  return field;
}

const CPU_FIELDS = [0, 1, 2, 3, 4, 5, 6, 7];

export function readCpu(root: ProcSource): CpuTimes {
  const text = read(root, 'stat');
  // "cpu  user nice system idle iowait irq softirq steal guest guest_nice" (guest and guest_nice are already inside
  // user and nice); older kernels have fewer fields.
  const f = new Array<number>(8);
  lineFields(text, fieldEnd(text, 0), CPU_FIELDS, f);
  let total = 0;
  for (const v of f) if (!Number.isNaN(v)) total += v;
  const idle = (f[3]! || 0) + (f[4]! || 0);
  return { total, busy: total - idle };
}

/** The kB figure of a /proc/meminfo line, in bytes; 0 when the line is missing. */
function meminfoBytes(text: string, name: string): number {
  let i = text.startsWith(name + ':') ? 0 : text.indexOf('\n' + name + ':');
  if (i < 0) return 0;
  if (i > 0) i++;
  return numberAt(text, skipBlanks(text, i + name.length + 1)) * 1024;
}

export function readMeminfo(root: ProcSource): { total: number; available: number } {
  const text = read(root, 'meminfo');
  return { total: meminfoBytes(text, 'MemTotal'), available: meminfoBytes(text, 'MemAvailable') };
}

const DISK_FIELDS = [5, 9];

/**
 * Whole disks of /proc/diskstats: the devices that have a /sys/block entry (`wholeDisks`), loop and ram devices
 * left out (their I/O is some other device's I/O, or memory). Fields: major minor name reads merged sectors-read …
 * writes merged sectors-written (proc(5), Documentation/admin-guide/iostats.rst).
 */
export function readDiskstats(root: ProcSource, wholeDisks: ReadonlySet<string>): { read: number; write: number } {
  const text = read(root, 'diskstats');
  const f = [0, 0];
  let r = 0;
  let w = 0;
  for (let i = 0; i < text.length;) {
    const nl = text.indexOf('\n', i);
    const end = nl < 0 ? text.length : nl;
    const nameStart = skipBlanks(text, fieldEnd(text, skipBlanks(text, fieldEnd(text, skipBlanks(text, i)))));
    const nameEnd = fieldEnd(text, nameStart);
    if (nameEnd > nameStart && wholeDisks.has(text.slice(nameStart, nameEnd))) {
      if (lineFields(text, i, DISK_FIELDS, f) >= 10) {
        r += f[0]! * 512;
        w += f[1]! * 512;
      }
    }
    i = end + 1;
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

/** Cumulative bytes of one interface of /proc/net/dev. */
export interface NetCounters {
  readonly rx: number;
  readonly tx: number;
}

const NET_FIELDS = [0, 8];

/** Every interface of /proc/net/dev but lo, by name (after two header lines, "name: rx-bytes … tx-bytes …"). */
export function readNetDev(root: ProcSource): Map<string, NetCounters> {
  const text = read(root, 'net/dev');
  const out = new Map<string, NetCounters>();
  const f = [0, 0];
  let i = text.indexOf('\n', text.indexOf('\n') + 1) + 1;
  while (i > 0 && i < text.length) {
    const nl = text.indexOf('\n', i);
    const end = nl < 0 ? text.length : nl;
    const colon = text.indexOf(':', i);
    if (colon > 0 && colon < end) {
      const name = text.slice(skipBlanks(text, i), colon);
      if (name !== 'lo' && lineFields(text, colon + 1, NET_FIELDS, f) > 8) out.set(name, { rx: f[0]!, tx: f[1]! });
    }
    i = end + 1;
  }
  return out;
}

/**
 * Bytes received and sent between two readings, summed per interface: an interface that appeared meanwhile starts at
 * its current counters (counts 0), one that disappeared is dropped, and a counter that went back (a wrap, or an
 * interface re-created under the same name) counts 0. A delta of the totals would instead subtract a vanished
 * interface's whole history from the others' traffic, or add a new interface's whole history to it.
 */
export function netDelta(
  before: ReadonlyMap<string, NetCounters>,
  now: ReadonlyMap<string, NetCounters>,
): { rx: number; tx: number } {
  let rx = 0;
  let tx = 0;
  for (const [name, c] of now) {
    const b = before.get(name);
    if (b === undefined) continue;
    rx += Math.max(0, c.rx - b.rx);
    tx += Math.max(0, c.tx - b.tx);
  }
  return { rx, tx };
}

/**
 * One process as of the last read. The reader reuses these objects from read to read (no allocation per process
 * and sample): copy what must outlive the next read.
 */
export interface ProcessTimes {
  readonly pid: number;
  readonly comm: string;
  /** utime + stime, clock ticks. */
  readonly ticks: number;
  /** `ticks` at the previous read; -1 when the process is new since (no interval to measure over). */
  readonly prevTicks: number;
  /** Resident set size, bytes. */
  readonly rssBytes: number;
}

interface ProcessEntry {
  pid: number;
  comm: string;
  ticks: number;
  prevTicks: number;
  rssBytes: number;
  /** Field 22 of stat, clock ticks after boot: tells a reused pid from the process read last time. */
  startTime: number;
  /** Cached descriptor of /proc/<pid>/stat, -1 when over `maxOpen` (then opened for each read). */
  fd: number;
  /** The read that last saw the process. */
  generation: number;
}

export interface ProcessReader {
  /**
   * Every process's CPU ticks and RSS from /proc/<pid>/stat (processes that exit meanwhile are skipped). The array
   * and its objects are reused by the next read.
   */
  read(): readonly ProcessTimes[];
  /** Close the cached descriptors. */
  close(): void;
}

const OPEN_PAREN = 0x28;
const CLOSE_PAREN = 0x29;
/** Longest comm in /proc/<pid>/stat: 64-byte buffer of the kernel's proc_task_name, NUL included. */
const MAX_COMM_BYTES = 63;

/** Whether `text` is the latin1 text of buf[from, to). */
function sameText(text: string, buf: Buffer, from: number, to: number): boolean {
  if (text.length !== to - from) return false;
  for (let i = 0; i < text.length; i++) if (text.charCodeAt(i) !== buf[from + i]) return false;
  return true;
}
const SPACE = 0x20;

/**
 * Reads /proc/<pid>/stat of every process, keeping each file open between samples (at most `maxOpen`) and reading it
 * again at offset 0: the kernel regenerates the text on every read from the start, and skipping the path lookup of
 * open(2) halves the per-process cost. A descriptor of a process that exited fails to read (ESRCH) and is closed; a
 * reused pid is then opened afresh. The text is parsed in the buffer (no string but the comm), into entry objects
 * kept per pid, so the JavaScript side costs well under a microsecond per process: the rest is the kernel generating
 * the file (bench/analytics.ts measures both against the bare syscalls).
 */
export function createProcessReader(root: string, pageBytes: number, maxOpen = 4096): ProcessReader {
  const prefix = root.endsWith('/') ? root : root + '/';
  const entries = new Map<string, ProcessEntry>();
  const out: ProcessEntry[] = [];
  // A stat line is at most ~350 bytes (a 64-byte comm and 52 numbers); 1 KiB leaves room for future fields.
  const buf = Buffer.allocUnsafe(1024);
  let open = 0;
  let generation = 0;
  /** A descriptor opened for a pid not yet in `entries`, handed to the entry created for it. */
  let pendingFd = -1;

  /** Bytes of the stat file into `buf`, or -1 if the process is gone. Reopens a cached descriptor's pid once. */
  const readStat = (name: string, e: ProcessEntry | undefined): number => {
    if (e !== undefined && e.fd >= 0) {
      try {
        return fs.readSync(e.fd, buf, 0, buf.length, 0);
      } catch {
        fs.closeSync(e.fd);
        e.fd = -1;
        open--;
        e.startTime = -1; // the process is gone: whatever has this pid now is another one
      }
    }
    let fd: number;
    try {
      fd = fs.openSync(prefix + name + '/stat', 'r');
    } catch {
      return -1;
    }
    try {
      const n = fs.readSync(fd, buf, 0, buf.length, 0);
      if (e !== undefined && open < maxOpen) {
        e.fd = fd;
        open++;
        fd = -1;
      } else if (e === undefined && open < maxOpen) {
        pendingFd = fd;
        fd = -1;
      }
      return n;
    } catch {
      return -1;
    } finally {
      if (fd >= 0) fs.closeSync(fd);
    }
  };

  return {
    read() {
      generation++;
      out.length = 0;
      for (const name of fs.readdirSync(root)) {
        const c = name.charCodeAt(0);
        if (c < 0x30 || c > 0x39) continue;
        let e = entries.get(name);
        pendingFd = -1;
        const n = readStat(name, e);
        if (n <= 0) {
          if (pendingFd >= 0) fs.closeSync(pendingFd);
          continue;
        }
        let openParen = 0;
        while (openParen < n && buf[openParen] !== OPEN_PAREN) openParen++;
        // The comm may hold spaces and parentheses: the fields start after the last ')'. The comm is at most 63 bytes
        // (a kernel worker's name; 15 for other tasks) and no later field holds a ')': the search starts there
        // rather than at the end of the ~300-byte line, which had been most of the parsing.
        let close = Math.min(n - 1, openParen + 1 + MAX_COMM_BYTES);
        while (close > openParen && buf[close] !== CLOSE_PAREN) close--;
        // Fields after the comm, 0-based from the state (field 3 of proc(5)): utime 11, stime 12, starttime 19, rss 21.
        // Wanted fields are parsed as decimal digits; the others skipped to the next space.
        let utime = 0;
        let stime = 0;
        let start = 0;
        let rss = 0;
        let i = close + 2;
        for (let field = 0; field <= 21 && i < n; field++) {
          if (field === 11 || field === 12 || field === 19 || field === 21) {
            let value = 0;
            for (let b = buf[i]!; b >= 0x30 && b <= 0x39 && i < n; b = buf[++i]!) value = value * 10 + (b - 0x30);
            if (field === 11) utime = value;
            else if (field === 12) stime = value;
            else if (field === 19) start = value;
            else rss = value;
          } else while (i < n && buf[i] !== SPACE) i++;
          i++; // the space
        }
        const ticks = utime + stime;
        if (e === undefined) {
          e = {
            pid: Number(name),
            comm: '',
            ticks,
            prevTicks: -1,
            rssBytes: 0,
            startTime: start,
            fd: pendingFd,
            generation,
          };
          if (pendingFd >= 0) open++;
          entries.set(name, e);
        } else {
          e.prevTicks = e.startTime === start ? e.ticks : -1;
          e.ticks = ticks;
          e.startTime = start;
        }
        e.generation = generation;
        e.rssBytes = rss * pageBytes;
        // Compared each read (a process's comm changes on exec and by prctl(PR_SET_NAME)), decoded only when it did:
        // a Buffer-to-string call costs more than the comparison.
        if (!sameText(e.comm, buf, openParen + 1, close)) e.comm = buf.toString('latin1', openParen + 1, close);
        out.push(e);
      }
      for (const [name, e] of entries)
        if (e.generation !== generation) {
          if (e.fd >= 0) {
            fs.closeSync(e.fd);
            open--;
          }
          entries.delete(name);
        }
      return out;
    },
    close() {
      for (const e of entries.values()) if (e.fd >= 0) fs.closeSync(e.fd);
      entries.clear();
      open = 0;
      out.length = 0;
    },
  };
}

export function readLoad1(root: ProcSource): number {
  return Number(read(root, 'loadavg').split(' ')[0]);
}

/** Clock ticks per second (USER_HZ): 100 on every Linux architecture Node runs on. */
export const CLOCK_TICKS_PER_SECOND = 100;

/**
 * The `n` largest of `items` by `key` (ties: lower pid first), by insertion into a sorted array of at most `n`: one
 * pass without sorting or copying the whole list.
 */
function topN(items: readonly ProcessTimes[], n: number, key: (p: ProcessTimes) => number): ProcessTimes[] {
  const top: ProcessTimes[] = [];
  const keys: number[] = [];
  for (const p of items) {
    const k = key(p);
    if (k <= 0) continue;
    if (top.length === n) {
      const last = keys[n - 1]!;
      if (k < last || (k === last && p.pid > top[n - 1]!.pid)) continue;
    }
    let i = top.length < n ? top.length : n - 1;
    while (i > 0 && (keys[i - 1]! < k || (keys[i - 1] === k && top[i - 1]!.pid > p.pid))) {
      top[i] = top[i - 1]!;
      keys[i] = keys[i - 1]!;
      i--;
    }
    top[i] = p;
    keys[i] = k;
  }
  return top;
}

/**
 * The top `n` processes by CPU over the interval since the previous read of the processes, `<pid> <comm> <percent
 * of one CPU>`; processes new since that read have no interval to measure over and are left out.
 */
export function topByCpu(now: readonly ProcessTimes[], intervalMillis: number, n: number): string[] {
  if (n === 0 || intervalMillis <= 0) return [];
  const ticksInInterval = (intervalMillis / 1000) * CLOCK_TICKS_PER_SECOND;
  return topN(now, n, (p) => (p.prevTicks < 0 ? 0 : p.ticks - p.prevTicks)).map(
    (p) => `${p.pid} ${clean(p.comm)} ${Math.round(((p.ticks - p.prevTicks) / ticksInInterval) * 1000) / 10}`,
  );
}

/** The top `n` processes by resident memory, `<pid> <comm> <bytes>`. */
export function topByRss(now: readonly ProcessTimes[], n: number): string[] {
  if (n === 0) return [];
  return topN(now, n, (p) => p.rssBytes).map((p) => `${p.pid} ${clean(p.comm)} ${p.rssBytes}`);
}

/** A comm as one word (spaces would split the `<pid> <comm> <value>` entry). */
const clean = (comm: string): string => comm.replace(/\s/g, '_').slice(0, 64);

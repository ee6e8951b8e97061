/**
 * CPU time and peak memory of a process and its descendants, from /proc, the same way for every subject (a Node.js
 * process, rsyslogd's threads, a Go binary): sampled every 50 ms while the subject runs, the last sample kept.
 *
 * CPU: utime + stime of every live process of the tree, plus cutime + cstime (children that exited and were waited
 * for, which are no longer in the tree). A process that exits between two samples loses at most its last 50 ms.
 * Memory: the sum over the tree of VmHWM (each process's own peak resident set), the highest seen; for one-process
 * subjects that is exactly its peak RSS.
 */
import fs from 'node:fs';
import { spawnSync } from 'node:child_process';

const TICKS_PER_SECOND = Number(spawnSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).stdout.trim()) || 100;

interface Stat {
  readonly ppid: number;
  /** utime + stime + cutime + cstime, in clock ticks. */
  readonly ticks: number;
}

function readStat(pid: number): Stat | undefined {
  let text: string;
  try {
    text = fs.readFileSync(`/proc/${pid}/stat`, 'latin1');
  } catch {
    return undefined;
  }
  // The command name (field 2) may hold spaces and parentheses: fields after it start past its last ')'.
  const rest = text.slice(text.lastIndexOf(')') + 2).split(' ');
  // rest[0] is field 3 (state): ppid is field 4, utime..cstime fields 14..17.
  const num = (field: number): number => Number(rest[field - 3]);
  return { ppid: num(4), ticks: num(14) + num(15) + num(16) + num(17) };
}

function vmHwmKiB(pid: number): number {
  try {
    const m = /VmHWM:\s+(\d+) kB/.exec(fs.readFileSync(`/proc/${pid}/status`, 'latin1'));
    return m === null ? 0 : Number(m[1]);
  } catch {
    return 0;
  }
}

/** The pids of `root` and all its descendants (one pass over /proc). */
function tree(root: number): number[] {
  const children = new Map<number, number[]>();
  for (const name of fs.readdirSync('/proc')) {
    const pid = Number(name);
    if (!Number.isInteger(pid)) continue;
    const stat = readStat(pid);
    if (stat === undefined) continue;
    const list = children.get(stat.ppid);
    if (list === undefined) children.set(stat.ppid, [pid]);
    else list.push(pid);
  }
  const out = [root];
  for (let i = 0; i < out.length; i++) out.push(...(children.get(out[i]!) ?? []));
  return out;
}

export interface TreeUsage {
  readonly cpuSeconds: number;
  readonly peakRssMiB: number;
  /** Samples taken while the root was alive. */
  readonly samples: number;
}

export interface TreeSampler {
  /** Take one sample now (e.g. the moment the receiver reports the last event). */
  sample(): void;
  /** Stop sampling; the usage as of the last sample that saw the root alive. */
  stop(): TreeUsage;
}

export function sampleProcessTree(root: number, intervalMillis = 50): TreeSampler {
  let cpuTicks = 0;
  let peakKiB = 0;
  let samples = 0;
  const sample = (): void => {
    if (readStat(root) === undefined) return;
    let ticks = 0;
    let rss = 0;
    for (const pid of tree(root)) {
      ticks += readStat(pid)?.ticks ?? 0;
      rss += vmHwmKiB(pid);
    }
    // A process of the tree that exits between reads lowers the sum: keep the highest value seen.
    cpuTicks = Math.max(cpuTicks, ticks);
    peakKiB = Math.max(peakKiB, rss);
    samples++;
  };
  sample();
  const timer = setInterval(sample, intervalMillis);
  return {
    sample,
    stop() {
      clearInterval(timer);
      return {
        cpuSeconds: cpuTicks / TICKS_PER_SECOND,
        peakRssMiB: Number((peakKiB / 1024).toFixed(1)),
        samples,
      };
    },
  };
}

/**
 * Deterministic event generator for tests and benchmarks: a seeded PRNG, realistic field values, every event type,
 * and (optionally) adversarial strings in attacker-controlled fields (paths, args, comm, cgroup paths).
 */
import type { AegisEvent } from '../../src/event/types';

export function prng(seed: number): () => number {
  let s = seed >>> 0 || 1;
  return () => {
    // xorshift32
    s ^= s << 13;
    s >>>= 0;
    s ^= s >>> 17;
    s ^= s << 5;
    s >>>= 0;
    return s / 0x1_0000_0000;
  };
}

const NASTY = [
  '|',
  '=',
  '\\',
  ']',
  '"',
  '\r',
  '\n',
  '\t',
  '\u0000',
  '\u001b[31m',
  'ü',
  '☃',
  '\ud83d\ude00',
  '<',
  '>',
  '&',
  "'",
  '%',
  '$',
  '{',
  '}',
  'CEF:0|',
  ' cs1=',
  '\u2028',
];
const PATHS = [
  '/etc/shadow',
  '/etc/passwd',
  '/tmp/x',
  '/var/log/auth.log',
  '/usr/bin/curl',
  '/home/alice/.ssh/id_rsa',
  '/proc/self/mem',
  '/dev/shm/payload',
];
const COMMS = ['bash', 'curl', 'nginx', 'python3', 'sshd', 'cron', 'java', 'node'];
const ACTIONS = ['AUDIT', 'BLOCK', 'TERM', 'KILL', 'INT'] as const;

export interface GenerateOptions {
  readonly seed?: number;
  readonly adversarial?: boolean;
  readonly host?: string;
  /** Epoch milliseconds of the first event. */
  readonly startMillis?: number;
}

function pad6(n: number): string {
  return String(n).padStart(6, '0');
}

export function makeEventFactory(options: GenerateOptions = {}): (i: number) => AegisEvent {
  const rnd = prng(options.seed ?? 42);
  const host = options.host ?? 'test-host';
  const start = options.startMillis ?? Date.UTC(2026, 10, 21, 10, 0, 0);
  const pick = <T>(list: readonly T[]): T => list[Math.floor(rnd() * list.length)] as T;
  const text = (base: string): string => {
    if (options.adversarial !== true || rnd() < 0.3) return base;
    let s = base;
    const n = 1 + Math.floor(rnd() * 4);
    for (let k = 0; k < n; k++) {
      const at = Math.floor(rnd() * (s.length + 1));
      s = s.slice(0, at) + pick(NASTY) + s.slice(at);
    }
    return s;
  };
  return (i: number): AegisEvent => {
    const micros = i * 137;
    const ms = start + Math.floor(micros / 1000);
    const ts = new Date(ms).toISOString().slice(0, 19) + '.' + pad6((ms % 1000) * 1000 + (micros % 1000)) + 'Z';
    const pid = 1000 + (i % 30000);
    const ppid = 1 + Math.floor(rnd() * 999);
    const startTime = 1_000_000_000 + i * 1000;
    const parentStart = 500_000_000 + ppid;
    const comm = text(pick(COMMS)).slice(0, 15);
    const base = {
      ts,
      host,
      pid,
      ppid,
      start_time: startTime,
      exec_id: `${pid}:${startTime}`,
      trace_id: `${pid}:${startTime}`,
      parent_start_time: parentStart,
      parent_exec_id: `${ppid}:${parentStart}`,
      parent_trace_id: `${ppid}:${parentStart}`,
      cgid: 4000 + (i % 7),
      cgroup_path: text(`/system.slice/svc-${i % 7}.service`),
      comm,
      uid: i % 3 === 0 ? 0 : 1000,
      gid: i % 3 === 0 ? 0 : 1000,
      exe: text(`/usr/bin/${pick(COMMS)}`),
      sensor: 'tracepoint',
    };
    const kind = i % 10;
    if (kind < 4) return { ...base, type: 'exec', args: [text(pick(COMMS)), text('-c'), text(`echo ${i}`)] };
    if (kind < 6) return { ...base, type: 'exit', exit_code: i % 256 === 7 ? 1 : 0, duration_ns: 1_000_000 + i };
    if (kind < 9) {
      const action = pick(ACTIONS);
      return {
        ...base,
        type: 'block',
        path: text(pick(PATHS)),
        ino: 100_000 + i,
        dev: 2049,
        action,
        open_flags: 0,
        policy: `rule-${i % 5}`,
        mode: action === 'AUDIT' ? 'audit' : 'enforce',
        hook: 'sys_exit_openat',
      };
    }
    return {
      ...base,
      type: 'connect',
      family: 'ipv4',
      protocol: 'tcp',
      direction: 'egress',
      remote_ip: `10.0.${i % 256}.${(i >> 8) % 256}`,
      remote_port: 1 + (i % 65535),
      local_port: 40000 + (i % 20000),
      hook: 'cgroup/connect4',
    };
  };
}

export function generateEvents(count: number, options: GenerateOptions = {}): AegisEvent[] {
  const make = makeEventFactory(options);
  return Array.from({ length: count }, (_, i) => make(i));
}

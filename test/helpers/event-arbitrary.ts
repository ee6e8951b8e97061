/**
 * fast-check arbitraries of canonical events that reach every branch a formatter or pipeline has: every type and
 * action, optional fields present, absent or empty, adversarial strings. Every generated event is schema-valid.
 */
import fc from 'fast-check';
import type { AegisEvent } from '../../src/event/types';
import { ACTIONS } from '../../src/event/types';

const nasty = fc.string({
  unit: fc.constantFrom(
    'a',
    'b',
    '/',
    '_',
    ' ',
    '"',
    '\\',
    '\n',
    '\r',
    '\t',
    '\u0000',
    'ü',
    '☃',
    '\ud83d\ude00',
    '\u2028',
    '{',
    '}',
    '%',
    '.',
  ),
  maxLength: 24,
});
const path = fc.oneof(
  fc.constant('/etc/shadow'),
  fc.constant(''),
  nasty.map((s) => `/tmp/${s}`),
);
const maybe = <T>(arb: fc.Arbitrary<T>): fc.Arbitrary<T | undefined> => fc.option(arb, { nil: undefined });
const ts = fc.integer({ min: 0, max: 999_999 }).map((us) => `2026-11-21T10:30:00.${String(us).padStart(6, '0')}Z`);
const ip4 = fc.tuple(fc.nat(255), fc.nat(255), fc.nat(255), fc.nat(255)).map((p) => p.join('.'));
const ip6 = fc.constantFrom('2001:db8::1', '::1', 'fe80::1234:5678');

const base = fc.record({
  ts,
  host: fc.constantFrom('web-1', 'db_2.example.com', 'h'),
  pid: fc.integer({ min: 1, max: 4_194_304 }),
  ppid: fc.integer({ min: 0, max: 4_194_304 }),
  start_time: fc.integer({ min: 0, max: 2 ** 52 }),
  cgid: fc.integer({ min: 0, max: 2 ** 40 }),
  cgroup_path: nasty,
  comm: nasty.map((s) => s.slice(0, 15)),
  event_id: maybe(fc.constantFrom('web-1:1:42', 'x')),
  uid: maybe(fc.integer({ min: 0, max: 65535 })),
  gid: maybe(fc.integer({ min: 0, max: 65535 })),
  exe: maybe(path),
  args: maybe(fc.array(nasty, { maxLength: 4 })),
  args_truncated: maybe(fc.boolean()),
  parent: fc.boolean(),
  parent_comm: maybe(nasty.map((s) => s.slice(0, 15))),
  parent_exe: maybe(path),
  start_ts: maybe(ts),
  parent_start_ts: maybe(ts),
  container_id: maybe(fc.constantFrom('3f4e2b1c9d8a', 'abc')),
  sensor: maybe(fc.constantFrom('tracepoint', 'lsm')),
  hook: maybe(fc.constantFrom('sched_process_exec', 'cgroup/connect4')),
  mode: maybe(fc.constantFrom('audit' as const, 'enforce' as const)),
  labels: maybe(fc.dictionary(fc.constantFrom('team', 'env', 'a_b'), nasty, { maxKeys: 3 })),
});

const specific = fc.oneof(
  fc.record({ type: fc.constant('exec' as const) }),
  fc.record({
    type: fc.constant('exit' as const),
    exit_code: fc.integer({ min: 0, max: 255 }),
    signal: maybe(fc.integer({ min: 1, max: 64 })),
    duration_ns: maybe(fc.integer({ min: 0, max: 2 ** 50 })),
  }),
  fc.record({
    type: fc.constant('block' as const),
    ino: fc.integer({ min: 0, max: 2 ** 50 }),
    dev: fc.integer({ min: 0, max: 2 ** 32 - 1 }), // the kernel encoding is a u32 (event schema maximum)
    action: fc.constantFrom(...ACTIONS),
    path: maybe(path),
    resolved_path: maybe(path),
    open_flags: maybe(fc.integer({ min: 0, max: 0o7777777 })),
    policy: maybe(fc.constantFrom('deny-shadow', 'p|1')),
  }),
  fc.record({
    type: fc.constant('connect' as const),
    family: fc.constantFrom('ipv4' as const, 'ipv6' as const),
    protocol: fc.constantFrom('tcp', 'udp', '132'),
    remote_ip: fc.oneof(ip4, ip6),
    remote_port: fc.integer({ min: 0, max: 65535 }),
    direction: maybe(fc.constantFrom('egress' as const, 'ingress' as const)),
    local_ip: maybe(ip4),
    local_port: maybe(fc.integer({ min: 0, max: 65535 })),
    action: maybe(fc.constantFrom(...ACTIONS)),
    policy: maybe(fc.constantFrom('deny-c2', 'x')),
  }),
  fc.record({
    type: fc.constant('sensor' as const),
    status: fc.constantFrom(
      'started',
      'stopped',
      'degraded',
      'drops',
      'error',
      'policy_applied',
      'policy_rolled_back',
      'maps_full',
      'x_y_z',
    ),
    message: maybe(nasty),
    policy: maybe(fc.constantFrom('prod', 'p2')),
  }),
  fc.record({
    type: fc.constant('anomaly' as const),
    detector: fc.constantFrom('rate' as const, 'rare' as const, 'isolation_forest' as const),
    anomaly_key: fc.oneof(
      fc.constant('host=web-1 comm=curl'),
      nasty.filter((s) => s.length > 0),
    ),
    score: fc.double({ min: -1e6, max: 1e6, noNaN: true }),
    threshold: fc.double({ min: 0, max: 100, noNaN: true }),
    baseline: maybe(fc.double({ min: 0, max: 1e9, noNaN: true })),
    trigger_event_id: maybe(fc.constantFrom('e-1', 'x|y')),
    trigger_type: maybe(fc.constantFrom('exec', 'connect')),
    message: maybe(nasty),
  }),
  fc.record({
    type: fc.constant('trend' as const),
    subject: fc.constantFrom('deny_inode', 'events', 'a b'),
    current: fc.double({ min: 0, max: 1e9, noNaN: true }),
    capacity: maybe(fc.integer({ min: 0, max: 2 ** 32 - 1 })),
    slope_per_s: fc.double({ min: -1e6, max: 1e6, noNaN: true }),
    forecast_seconds: maybe(fc.double({ min: 0, max: 1e12, noNaN: true })),
    horizon_seconds: maybe(fc.integer({ min: 0, max: 2 ** 32 - 1 })),
    message: maybe(nasty),
  }),
  fc.record({
    type: fc.constant('host_stats' as const),
    interval_ms: fc.integer({ min: 0, max: 2 ** 32 - 1 }),
    cpu_percent: fc.double({ min: 0, max: 100, noNaN: true }),
    load1: fc.double({ min: 0, max: 1000, noNaN: true }),
    mem_total_bytes: fc.integer({ min: 0, max: 2 ** 50 }),
    mem_available_bytes: fc.integer({ min: 0, max: 2 ** 50 }),
    disk_read_bytes: fc.integer({ min: 0, max: 2 ** 50 }),
    disk_write_bytes: fc.integer({ min: 0, max: 2 ** 50 }),
    net_rx_bytes: fc.integer({ min: 0, max: 2 ** 50 }),
    net_tx_bytes: fc.integer({ min: 0, max: 2 ** 50 }),
    top_cpu: maybe(fc.array(fc.constantFrom('1 init 0.5', '42 a|b 12'), { maxLength: 3 })),
    top_rss: maybe(fc.array(fc.constantFrom('1 init 1024', '42 x=y 9'), { maxLength: 3 })),
  }),
  fc.record({
    type: fc.constant('activity' as const),
    interval_ms: fc.integer({ min: 0, max: 2 ** 32 - 1 }),
    syscalls: fc.integer({ min: 0, max: 2 ** 50 }),
    io_ops: maybe(fc.integer({ min: 0, max: 2 ** 40 })),
    io_bytes: maybe(fc.integer({ min: 0, max: 2 ** 50 })),
    io_latency_ns: maybe(fc.integer({ min: 0, max: 2 ** 50 })),
  }),
);

/** Any schema-valid event (absent optional fields are omitted, not undefined). */
export const anyEvent: fc.Arbitrary<AegisEvent> = fc.tuple(base, specific).map(([b, s]) => {
  const { parent, ...rest } = b;
  const exec_id = `${b.pid}:${b.start_time}`;
  const out: Record<string, unknown> = { ...rest, ...s, exec_id, trace_id: exec_id };
  if (parent) {
    out.parent_start_time = Math.floor(b.start_time / 2);
    out.parent_exec_id = `${b.ppid}:${Math.floor(b.start_time / 2)}`;
    out.parent_trace_id = out.parent_exec_id;
  }
  for (const k of Object.keys(out)) if (out[k] === undefined) delete out[k];
  return out as unknown as AegisEvent;
});

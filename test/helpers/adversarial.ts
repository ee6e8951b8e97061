/**
 * fast-check arbitraries for schema-valid events whose attacker-controlled strings (paths, comm, args, cgroup paths,
 * labels, policy names, sensor messages, …) are built from every character that breaks some log format: `| = \ ] "`,
 * CR, LF, TAB, NUL, ESC, DEL, `^`, `¦`, U+2028, lone surrogates (a string not decoded from UTF-8), non-ASCII and
 * emoji, plus whole forged headers (`CEF:0|`, ` cs1=`) — and 4 KiB paths.
 */
import fc from 'fast-check';
import type { Action, AegisEvent } from '../../src/event/types';

export const NASTY_UNITS = [
  '|',
  '=',
  '\\',
  ']',
  '"',
  '\r',
  '\n',
  '\t',
  '\u0000',
  ' ',
  ' ',
  'a',
  'Z',
  '0',
  '/',
  'ü',
  '☃',
  '\ud83d\ude00',
  '\ud800',
  '\udfff',
  '\u2028',
  '\u001b',
  '\u007f',
  '\u0085',
  '^',
  '\u00a6',
  'CEF:0|',
  ' cs1=',
  'x=',
  'LEEF:2.0|',
  '%',
  '#',
];

/** An adversarial string of up to `maxUnits` units (a unit may be several characters). */
export function nasty(maxUnits = 30, minUnits = 0): fc.Arbitrary<string> {
  return fc.string({ unit: fc.constantFrom(...NASTY_UNITS), minLength: minUnits, maxLength: maxUnits });
}

/** At most `n` code points (the schema counts code points). */
function codePoints(s: string, n: number): string {
  return [...s].slice(0, n).join('');
}

/** A path: usually short, sometimes beyond 4 KiB with adversarial characters at both ends. */
export const nastyPath: fc.Arbitrary<string> = fc.oneof(
  { weight: 6, arbitrary: nasty(40).map((s) => '/' + s) },
  {
    weight: 1,
    arbitrary: fc
      .tuple(nasty(15), nasty(15), fc.integer({ min: 4000, max: 4400 }))
      .map(([a, b, n]) => `/${a}/${'d'.repeat(n)}/${b}`),
  },
);

const ACTIONS: readonly Action[] = ['AUDIT', 'BLOCK', 'TERM', 'KILL', 'INT'];
const opt = <T>(a: fc.Arbitrary<T>): fc.Arbitrary<T | undefined> => fc.option(a, { nil: undefined, freq: 3 });

const ip4 = fc.ipV4();
const ip6 = fc.ipV6();

/** A schema-valid event of any type with adversarial strings wherever the schema allows free text. */
export const adversarialEvent: fc.Arbitrary<AegisEvent> = fc
  .record({
    type: fc.constantFrom('exec', 'exit', 'block', 'connect', 'sensor'),
    millis: fc.integer({ min: Date.UTC(2020, 0, 1), max: Date.UTC(2035, 0, 1) }),
    micros: fc.integer({ min: 0, max: 999 }),
    host: nasty(20, 1).map((s) => codePoints(s, 255)),
    pid: fc.integer({ min: 1, max: 4_194_304 }),
    ppid: fc.integer({ min: 0, max: 4_194_304 }),
    startTime: fc.integer({ min: 0, max: 2 ** 53 - 1 }),
    cgid: fc.integer({ min: 0, max: 2 ** 40 }),
    cgroupPath: nastyPath,
    comm: nasty(16).map((s) => codePoints(s, 16)),
    uid: opt(fc.integer({ min: 0, max: 4294967295 })),
    gid: opt(fc.integer({ min: 0, max: 4294967295 })),
    exe: opt(nastyPath),
    args: opt(fc.array(nasty(20), { maxLength: 6 })),
    argsTruncated: opt(fc.boolean()),
    parentComm: opt(nasty(16).map((s) => codePoints(s, 16))),
    parentExe: opt(nastyPath),
    containerId: opt(nasty(30).map((s) => codePoints(s, 128))),
    sensor: opt(nasty(10).map((s) => codePoints(s, 64))),
    hook: opt(nasty(10).map((s) => codePoints(s, 128))),
    mode: opt(fc.constantFrom('audit' as const, 'enforce' as const)),
    eventId: opt(nasty(20).map((s) => codePoints(s, 128))),
    labels: opt(fc.dictionary(fc.stringMatching(/^[A-Za-z_][A-Za-z0-9_]{0,10}$/), nasty(10), { maxKeys: 3 })),
    path: opt(nastyPath),
    resolvedPath: opt(nastyPath),
    action: fc.constantFrom(...ACTIONS),
    optionalAction: opt(fc.constantFrom(...ACTIONS)),
    policy: opt(nasty(20).map((s) => codePoints(s, 256))),
    ino: fc.integer({ min: 0, max: 2 ** 53 - 1 }),
    dev: fc.integer({ min: 0, max: 2 ** 32 - 1 }), // the kernel encoding is a u32 (event schema maximum)
    openFlags: opt(fc.integer({ min: 0, max: 4294967295 })),
    family: fc.constantFrom('ipv4' as const, 'ipv6' as const),
    protocol: fc.oneof(
      fc.constantFrom('tcp', 'udp', '132'),
      nasty(4).map((s) => codePoints(s, 16)),
    ),
    direction: opt(fc.constantFrom('egress' as const, 'ingress' as const)),
    oddIp: fc.boolean(),
    remote4: ip4,
    remote6: ip6,
    local4: opt(ip4),
    local6: opt(ip6),
    localPort: opt(fc.integer({ min: 0, max: 65535 })),
    remotePort: fc.integer({ min: 0, max: 65535 }),
    exitCode: fc.integer({ min: 0, max: 255 }),
    signal: opt(fc.integer({ min: 1, max: 64 })),
    durationNs: opt(fc.integer({ min: 0, max: 2 ** 53 - 1 })),
    status: nasty(12, 1).map((s) => codePoints(s, 64)),
    message: opt(nasty(60).map((s) => codePoints(s, 4096))),
  })
  .map((r) => {
    const d = new Date(r.millis).toISOString();
    const ts = `${d.slice(0, 23)}${String(r.micros).padStart(3, '0')}Z`;
    const execId = `${r.pid}:${r.startTime}`;
    const base = {
      ts,
      host: r.host,
      pid: r.pid,
      ppid: r.ppid,
      start_time: r.startTime,
      exec_id: execId,
      trace_id: execId,
      cgid: r.cgid,
      cgroup_path: r.cgroupPath,
      comm: r.comm,
      uid: r.uid,
      gid: r.gid,
      exe: r.exe,
      args: r.args,
      args_truncated: r.argsTruncated,
      parent_comm: r.parentComm,
      parent_exe: r.parentExe,
      container_id: r.containerId,
      sensor: r.sensor,
      hook: r.hook,
      mode: r.mode,
      event_id: r.eventId,
      labels: r.labels,
      parent_start_time: r.ppid === 0 ? undefined : 1000,
      parent_exec_id: r.ppid === 0 ? undefined : `${r.ppid}:1000`,
    };
    let e: Record<string, unknown>;
    switch (r.type) {
      case 'exec':
        e = { ...base, type: 'exec' };
        break;
      case 'exit':
        e = { ...base, type: 'exit', exit_code: r.exitCode, signal: r.signal, duration_ns: r.durationNs };
        break;
      case 'block':
        e = {
          ...base,
          type: 'block',
          path: r.path,
          resolved_path: r.resolvedPath,
          ino: r.ino,
          dev: r.dev,
          action: r.action,
          open_flags: r.openFlags,
          policy: r.policy,
        };
        break;
      case 'connect': {
        const v6 = r.family === 'ipv6';
        e = {
          ...base,
          type: 'connect',
          family: r.family,
          protocol: r.protocol,
          direction: r.direction,
          remote_ip: r.oddIp ? codePoints(r.status, 64) : v6 ? r.remote6 : r.remote4,
          remote_port: r.remotePort,
          local_ip: v6 ? r.local6 : r.local4,
          local_port: r.localPort,
          action: r.optionalAction,
          policy: r.policy,
        };
        break;
      }
      default:
        e = { ...base, type: 'sensor', status: r.status, message: r.message, policy: r.policy };
    }
    for (const k of Object.keys(e)) if (e[k] === undefined) delete e[k];
    return e as unknown as AegisEvent;
  });

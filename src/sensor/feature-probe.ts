/**
 * What this kernel lets the sensor do, found by doing it: each capability is a tiny program of
 * bpf/build/probe.bpf.o that is loaded (and for hooks that can be attached harmlessly, attached and detached at
 * once) through native/src/feature-probe.cc. Nothing is inferred from the kernel version or config.
 *
 * The report decides the backend:
 *  - `lsm`: BPF LSM programs load and attach: BLOCK on file open and exec, signals, cgroup network deny.
 *  - `tracepoint`: LSM refused, syscall tracepoints + bpf_send_signal work: file rules enforce with signals
 *    after the syscall, network BLOCK still works through cgroup hooks.
 *  - none: the sensor cannot run (not root, addon missing, no BTF, no raw tracepoints or ring buffer).
 * `aegisbpf health` prints it: exit 0 healthy (lsm), 1 degraded (tracepoint, or an optional piece missing),
 * 2 cannot run.
 */
import { withChildSpan } from '../telemetry/spans';
import fs from 'node:fs';
import os from 'node:os';
import type { NativeBinding } from '../native/binding';
import { NATIVE_PATHS, loadNative, nativeStatus } from '../native/binding';
import { findCgroup2Mount } from './cgroup-resolver';
import type { SensorBackend } from './event-mapper';
import { ensureTracefs } from './fs-mounts';

export interface ProbeCheck {
  readonly ok: boolean;
  /** One line a human can act on. */
  readonly detail: string;
  /** Positive errno of the refusal, when there was one. */
  readonly errno?: number;
}

export type HealthStatus = 'healthy' | 'degraded' | 'cannot_run';

export interface EnforcementCapabilities {
  /** BLOCK on file open and exec (needs BPF LSM). */
  readonly fileBlock: boolean;
  /** TERM/KILL/INT on file rules (bpf_send_signal). */
  readonly signals: boolean;
  /** BLOCK and AUDIT on connect (cgroup v2 connect hooks). */
  readonly networkBlock: boolean;
  /** BLOCK and AUDIT on inbound packets (direction `in`: XDP, or cgroup_skb ingress). */
  readonly ingressBlock: boolean;
}

export interface FeatureReport {
  readonly kernelRelease: string;
  readonly root: ProbeCheck;
  readonly native: ProbeCheck;
  readonly btf: ProbeCheck;
  readonly tracefs: ProbeCheck;
  readonly lsm: ProbeCheck;
  readonly rawTracepoints: ProbeCheck;
  readonly syscallTracepoints: ProbeCheck;
  readonly sendSignal: ProbeCheck;
  readonly ringBuffer: ProbeCheck;
  readonly cgroupV2: ProbeCheck & { readonly path?: string };
  readonly cgroupConnect: ProbeCheck;
  /** An XDP program loads (the first choice for direction `in`; attached per interface at start). */
  readonly xdp: ProbeCheck;
  /** A cgroup_skb ingress program loads (the fallback for direction `in`). */
  readonly cgroupSkb: ProbeCheck;
  /** /sys/kernel/security/lockdown's active mode, or why it is unknown. */
  readonly lockdown: string;
  /** Active LSMs from /sys/kernel/security/lsm, when readable. */
  readonly activeLsms: readonly string[] | undefined;
  readonly backend: SensorBackend | undefined;
  readonly capabilities: EnforcementCapabilities;
  /** Human summary of the enforcement that results. */
  readonly enforcement: string;
  readonly status: HealthStatus;
  /** Why the status is not `healthy`, one sentence each. */
  readonly reasons: readonly string[];
}

export interface ProbeOptions {
  /** Injected addon (tests); default loadNative(). */
  readonly native?: NativeBinding;
  readonly probeObjectPath?: string;
  /** Mount tracefs when missing (the sensor needs it anyway). Default true. */
  readonly mountTracefs?: boolean;
  readonly btfPath?: string;
  readonly isRoot?: boolean;
}

const ERRNO_NAMES = new Map<number, string>(Object.entries(os.constants.errno).map(([name, num]) => [num, name]));

export function errnoName(errno: number): string {
  return ERRNO_NAMES.get(errno) ?? `errno ${errno}`;
}

const ok = (detail: string): ProbeCheck => ({ ok: true, detail });
const fail = (detail: string, errno?: number): ProbeCheck =>
  errno === undefined ? { ok: false, detail } : { ok: false, detail, errno };
const notProbed = (why: string): ProbeCheck => fail(`not probed: ${why}`);

function readTrimmed(file: string): string | undefined {
  try {
    return fs.readFileSync(file, 'utf8').trim();
  } catch {
    return undefined;
  }
}

function lockdownMode(): string {
  const text = readTrimmed('/sys/kernel/security/lockdown');
  if (text === undefined) return 'unknown (securityfs not mounted or no lockdown LSM)';
  const active = /\[(\w+)\]/.exec(text);
  return active?.[1] ?? text;
}

/** Load (+ attach) one probe program; describe the result. */
function probe(native: NativeBinding, objectPath: string, program: string, what: string, attach: boolean): ProbeCheck {
  // One `health.load_bpf` span per probe program (AEGIS_OTEL_SPANS=1, below `health.detect_kernel_features`).
  return withChildSpan('health.load_bpf', () => probeOnce(native, objectPath, program, what, attach));
}

function probeOnce(
  native: NativeBinding,
  objectPath: string,
  program: string,
  what: string,
  attach: boolean,
): ProbeCheck {
  let r;
  try {
    r = native.probeProgram(objectPath, program, { attach });
  } catch (err) {
    return fail(`${what}: probe failed: ${(err as Error).message}`);
  }
  if (!r.loaded) return fail(`${what}: load refused with ${errnoName(r.loadErrno)}`, r.loadErrno);
  if (attach && !r.attached)
    return fail(`${what}: loads, but attach failed with ${errnoName(r.attachErrno)}`, r.attachErrno);
  return ok(attach ? `${what}: loads and attaches` : `${what}: loads`);
}

export function probeFeatures(options: ProbeOptions = {}): FeatureReport {
  return withChildSpan('health.detect_kernel_features', () => detectFeatures(options));
}

function detectFeatures(options: ProbeOptions): FeatureReport {
  const kernelRelease = os.release();
  const isRoot = options.isRoot ?? process.geteuid?.() === 0;
  const root = isRoot
    ? ok('running as root')
    : fail('not running as root: loading BPF programs needs CAP_BPF, CAP_PERFMON and CAP_SYS_ADMIN');
  const btfPath = options.btfPath ?? '/sys/kernel/btf/vmlinux';
  const btf = fs.existsSync(btfPath)
    ? ok(`kernel BTF at ${btfPath}`)
    : fail(`no kernel BTF at ${btfPath} (CONFIG_DEBUG_INFO_BTF): CO-RE programs cannot load`);
  const cgroupPath = findCgroup2Mount();
  const cgroupV2 =
    cgroupPath !== undefined
      ? { ...ok(`cgroup v2 mounted at ${cgroupPath}`), path: cgroupPath }
      : fail('no cgroup v2 mount: no cgroup ids in events, no network hooks');
  const activeLsms = readTrimmed('/sys/kernel/security/lsm')?.split(',');
  const lockdown = lockdownMode();

  let native: NativeBinding | undefined = options.native;
  let nativeCheck: ProbeCheck;
  if (native === undefined) {
    try {
      native = loadNative();
    } catch (err) {
      nativeCheck = fail((err as Error).message);
    }
  }
  nativeCheck ??=
    native !== undefined
      ? ok(`native addon loaded (libbpf ${native.libbpfVersion()})`)
      : fail('native addon unavailable');

  const objectPath = options.probeObjectPath ?? NATIVE_PATHS.probeObject;
  let tracefs = notProbed('needs root and the native addon');
  let lsm = notProbed('needs root and the native addon');
  let rawTracepoints = lsm;
  let syscallTracepoints = lsm;
  let sendSignal = lsm;
  let ringBuffer = lsm;
  let cgroupConnect = lsm;
  let xdp = lsm;
  let cgroupSkb = lsm;

  if (native !== undefined && isRoot) {
    if (options.mountTracefs ?? true) {
      try {
        const m = ensureTracefs(native);
        tracefs = ok(m.mountedNow ? `tracefs was not mounted; mounted it at ${m.path}` : `tracefs at ${m.path}`);
      } catch (err) {
        tracefs = fail((err as Error).message);
      }
    } else {
      tracefs = notProbed('mounting tracefs was disabled');
    }
    lsm = probe(native, objectPath, 'probe_lsm', 'BPF LSM program (lsm/file_open)', true);
    if (!lsm.ok && activeLsms !== undefined && !activeLsms.includes('bpf')) {
      lsm = { ...lsm, detail: `${lsm.detail}; "bpf" is not in the active LSM list (${activeLsms.join(',')})` };
    }
    rawTracepoints = probe(native, objectPath, 'probe_tp_btf', 'raw tracepoint (tp_btf/sched_process_exec)', true);
    syscallTracepoints = tracefs.ok
      ? probe(
          native,
          objectPath,
          'probe_tp_syscalls',
          'syscall tracepoint (tp/syscalls/sys_exit_openat, BTF task access, bpf_task_pt_regs)',
          true,
        )
      : fail('syscall tracepoints need tracefs');
    sendSignal = probe(native, objectPath, 'probe_send_signal', 'bpf_send_signal() helper', false);
    ringBuffer = probe(native, objectPath, 'probe_ringbuf', 'BPF ring buffer', false);
    cgroupConnect = cgroupV2.ok
      ? probe(native, objectPath, 'probe_cgroup_connect', 'cgroup/connect4 program', false)
      : fail('cgroup connect hooks need cgroup v2');
    xdp = probe(native, objectPath, 'probe_xdp', 'XDP program', false);
    cgroupSkb = cgroupV2.ok
      ? probe(native, objectPath, 'probe_cgroup_skb', 'cgroup_skb/ingress program', false)
      : fail('cgroup_skb ingress needs cgroup v2');
  }

  const reasons: string[] = [];
  const required: [string, ProbeCheck][] = [
    ['root', root],
    ['native addon', nativeCheck],
    ['kernel BTF', btf],
    ['raw tracepoints', rawTracepoints],
    ['ring buffer', ringBuffer],
  ];
  for (const [name, check] of required) if (!check.ok) reasons.push(`${name}: ${check.detail}`);

  let backend: SensorBackend | undefined;
  if (reasons.length === 0) {
    if (lsm.ok) backend = 'lsm';
    else if (syscallTracepoints.ok) backend = 'tracepoint';
    else reasons.push(`no file-open hook: ${lsm.detail}; ${syscallTracepoints.detail}`);
  }

  const capabilities: EnforcementCapabilities = {
    fileBlock: backend === 'lsm',
    signals: backend !== undefined && sendSignal.ok,
    networkBlock: backend !== undefined && cgroupConnect.ok,
    ingressBlock: backend !== undefined && (xdp.ok || cgroupSkb.ok),
  };

  let status: HealthStatus = 'healthy';
  if (backend === undefined) {
    status = 'cannot_run';
  } else {
    if (backend === 'tracepoint')
      reasons.push(
        `BPF LSM unavailable (${lsm.detail}): file rules enforce with signals after the syscall, BLOCK on file open/exec is refused`,
      );
    if (!sendSignal.ok) reasons.push(`signals unavailable: ${sendSignal.detail}`);
    if (!cgroupConnect.ok) reasons.push(`network hooks unavailable: ${cgroupConnect.detail}`);
    if (!capabilities.ingressBlock)
      reasons.push(`inbound filter unavailable: XDP: ${xdp.detail}; cgroup_skb: ${cgroupSkb.detail}`);
    if (reasons.length > 0) status = 'degraded';
  }

  const enforcement =
    backend === undefined
      ? 'none: the sensor cannot run'
      : [
          backend === 'lsm'
            ? 'lsm mode: BLOCK denies file open and exec (EPERM)'
            : 'tracepoint mode: file open/exec rules enforce TERM/KILL/INT with bpf_send_signal after the syscall; BLOCK on files refused',
          capabilities.signals ? 'signals available' : 'no signals',
          capabilities.networkBlock ? 'connect BLOCK via cgroup hooks' : 'no network enforcement',
          xdp.ok
            ? 'inbound BLOCK via XDP (cgroup_skb fallback)'
            : cgroupSkb.ok
              ? 'inbound BLOCK via cgroup_skb'
              : 'no inbound enforcement',
        ].join('; ');

  return {
    kernelRelease,
    root,
    native: nativeCheck,
    btf,
    tracefs,
    lsm,
    rawTracepoints,
    syscallTracepoints,
    sendSignal,
    ringBuffer,
    cgroupV2,
    cgroupConnect,
    xdp,
    cgroupSkb,
    lockdown,
    activeLsms,
    backend,
    capabilities,
    enforcement,
    status,
    reasons,
  };
}

let shared: FeatureReport | undefined;

/**
 * The probe of this process, run once: the default-source decision of `aegisbpf run` and the sensor source that
 * follows it see the same answer without loading the probe programs twice.
 */
export function getFeatureReport(): FeatureReport {
  shared ??= probeFeatures();
  return shared;
}

/**
 * Why the sensor cannot run here, or undefined when it can. Cheap checks first (root, addon present), so a
 * non-root `aegisbpf run` never loads the addon.
 */
export function sensorUnavailableReason(): string | undefined {
  if (process.platform !== 'linux') return `not Linux (${process.platform})`;
  if (process.geteuid?.() !== 0)
    return 'not running as root (loading BPF programs needs CAP_BPF, CAP_PERFMON and CAP_SYS_ADMIN)';
  const st = nativeStatus();
  if (!st.available) return st.reason;
  const r = getFeatureReport();
  return r.backend === undefined ? r.reasons.join('; ') : undefined;
}

/** `aegisbpf health` exit code: 0 healthy, 1 degraded, 2 cannot run. */
export function healthExitCode(report: FeatureReport): 0 | 1 | 2 {
  return report.status === 'healthy' ? 0 : report.status === 'degraded' ? 1 : 2;
}

/** The human-readable health report. */
export function formatHealth(report: FeatureReport): string {
  const mark = (c: ProbeCheck): string => (c.ok ? 'ok  ' : 'FAIL');
  const rows: [string, ProbeCheck][] = [
    ['root', report.root],
    ['native addon', report.native],
    ['kernel BTF', report.btf],
    ['tracefs', report.tracefs],
    ['BPF LSM', report.lsm],
    ['raw tracepoints', report.rawTracepoints],
    ['syscall tracepoints', report.syscallTracepoints],
    ['bpf_send_signal', report.sendSignal],
    ['ring buffer', report.ringBuffer],
    ['cgroup v2', report.cgroupV2],
    ['cgroup connect hooks', report.cgroupConnect],
    ['XDP', report.xdp],
    ['cgroup_skb ingress', report.cgroupSkb],
  ];
  const lines = [`kernel ${report.kernelRelease}`];
  for (const [name, c] of rows) lines.push(`${mark(c)} ${name.padEnd(20)} ${c.detail}`);
  lines.push(`     ${'lockdown'.padEnd(20)} ${report.lockdown}`);
  if (report.activeLsms !== undefined) lines.push(`     ${'active LSMs'.padEnd(20)} ${report.activeLsms.join(',')}`);
  lines.push(`backend: ${report.backend ?? 'none'}`);
  lines.push(`enforcement: ${report.enforcement}`);
  lines.push(`status: ${report.status}`);
  for (const r of report.reasons) lines.push(`  - ${r}`);
  return `${lines.join('\n')}\n`;
}

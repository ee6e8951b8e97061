/**
 * The kernel ABI, mirrored from bpf/include/aegis_abi.h (the single source of truth).
 *
 * Every struct here says which C struct it must match; test/sensor/layout-btf.test.ts reads the BTF of the built
 * object (bpftool btf dump) and fails on any offset or size that disagrees, and test/sensor/abi-constants.test.ts
 * compares the enums with the header's text. Decoders read fields only through these tables.
 */

/** Op codes (enum aegis_op). Append only. */
export const OP = {
  EXEC: 1,
  EXIT: 2,
  FORK: 3,
  FILE: 4,
  CONNECT: 5,
} as const;
export type OpName = keyof typeof OP;
/** AEGIS_OP_MAX: size of the per-op counter arrays. */
export const OP_MAX = 8;

/** enum aegis_hook, with the names events carry in `hook`. Index = hook id. */
export const HOOK_NAMES: readonly string[] = [
  '',
  'sched_process_exec',
  'sched_process_exit',
  'sched_process_fork',
  'sys_exit_open',
  'sys_exit_openat',
  'sys_exit_openat2',
  'sys_exit_creat',
  'sys_exit_open_by_handle_at',
  'lsm/file_open',
  'lsm/bprm_check_security',
  'cgroup/connect4',
  'cgroup/connect6',
];

/** enum aegis_action. Index = action id; NONE marks plain observations. */
export const ACTION_IDS = { NONE: 0, AUDIT: 1, BLOCK: 2, TERM: 3, KILL: 4, INT: 5 } as const;
export type ActionName = Exclude<keyof typeof ACTION_IDS, 'NONE'>;
export const ACTION_NAMES: readonly (ActionName | undefined)[] = [undefined, 'AUDIT', 'BLOCK', 'TERM', 'KILL', 'INT'];
/** AEGIS_ACT_MAX */
export const ACTION_MAX = 8;

/** enum aegis_verdict: what the kernel did about a rule hit. */
export const VERDICT_NAMES: readonly string[] = [
  'observed',
  'denied',
  'signalled',
  'signal_failed',
  'audit_mode',
  'unenforceable',
  'self',
];

/** enum aegis_mode */
export const MODE_IDS = { audit: 0, enforce: 1 } as const;

/** Record header flags (AEGIS_F_*). */
export const FLAG = {
  TRUNC_FILENAME: 1 << 0,
  TRUNC_EXE: 1 << 1,
  TRUNC_ARGS: 1 << 2,
  PATH_PARTIAL: 1 << 3,
  SELF: 1 << 4,
} as const;

export const COMM_LEN = 16;
export const PATH_MAX = 256;
export const LEAF_MAX = 32;
export const ARGS_MAX = 1024;
/** enum aegis_map_id: index into stats.map_full. No kernel-written map exists today (see aegis_abi.h). */
export const MAP_ID_NAMES: readonly string[] = [];
export const MAP_ID_MAX = 8;

/** Offset and size (bytes) of one struct member. */
export interface FieldLayout {
  readonly offset: number;
  readonly size: number;
}

export interface StructLayout<F extends string = string> {
  /** The C struct name, without `struct`. */
  readonly cName: string;
  readonly size: number;
  readonly fields: Readonly<Record<F, FieldLayout>>;
}

function layout<F extends string>(
  cName: string,
  size: number,
  fields: Record<F, readonly [number, number]>,
): StructLayout<F> {
  const out = {} as Record<F, FieldLayout>;
  for (const key of Object.keys(fields) as F[]) {
    const [offset, len] = fields[key];
    out[key] = { offset, size: len };
  }
  return { cName, size, fields: out };
}

// must match: bpf/include/aegis_abi.h:struct aegis_hdr
export const HDR = layout('aegis_hdr', 16, { op: [0, 2], flags: [2, 2], size: [4, 4], ktime: [8, 8] });

// must match: bpf/include/aegis_abi.h:struct aegis_proc
export const PROC = layout('aegis_proc', 64, {
  pid: [0, 4],
  tid: [4, 4],
  ppid: [8, 4],
  uid: [12, 4],
  gid: [16, 4],
  _pad0: [20, 4],
  start_time: [24, 8],
  parent_start_time: [32, 8],
  cgid: [40, 8],
  comm: [48, 16],
});

// must match: bpf/include/aegis_abi.h:struct aegis_exec_rec
export const EXEC = layout('aegis_exec_rec', 1640, {
  hdr: [0, 16],
  proc: [16, 64],
  exe_ino: [80, 8],
  exe_dev: [88, 4],
  filename_len: [92, 2],
  exe_len: [94, 2],
  args_len: [96, 2],
  argc: [98, 2],
  _pad0: [100, 4],
  filename: [104, 256],
  exe: [360, 256],
  args: [616, 1024],
});

// must match: bpf/include/aegis_abi.h:struct aegis_exit_rec
export const EXIT = layout('aegis_exit_rec', 88, { hdr: [0, 16], proc: [16, 64], exit_code: [80, 4], _pad0: [84, 4] });

// must match: bpf/include/aegis_abi.h:struct aegis_fork_rec
export const FORK = layout('aegis_fork_rec', 80, { hdr: [0, 16], proc: [16, 64] });

// must match: bpf/include/aegis_abi.h:struct aegis_file_rec
export const FILE = layout('aegis_file_rec', 624, {
  hdr: [0, 16],
  proc: [16, 64],
  ino: [80, 8],
  dev: [88, 4],
  open_flags: [92, 4],
  rule_id: [96, 4],
  action: [100, 1],
  hook: [101, 1],
  verdict: [102, 1],
  mode: [103, 1],
  ret: [104, 4],
  path_len: [108, 2],
  resolved_len: [110, 2],
  path: [112, 256],
  resolved: [368, 256],
});

// must match: bpf/include/aegis_abi.h:struct aegis_net_rec
export const NET = layout('aegis_net_rec', 128, {
  hdr: [0, 16],
  proc: [16, 64],
  rule_id: [80, 4],
  family: [84, 1],
  protocol: [85, 1],
  action: [86, 1],
  hook: [87, 1],
  verdict: [88, 1],
  mode: [89, 1],
  remote_port: [90, 2],
  local_port: [92, 2],
  _pad0: [94, 2],
  remote_ip: [96, 16],
  local_ip: [112, 16],
});

// must match: bpf/include/aegis_abi.h:struct aegis_rule
export const RULE = layout('aegis_rule', 16, { rule_id: [0, 4], action: [4, 1], _pad0: [5, 3], hits: [8, 8] });

// must match: bpf/include/aegis_abi.h:struct aegis_inode_key
export const INODE_KEY = layout('aegis_inode_key', 16, { ino: [0, 8], dev: [8, 4], _pad0: [12, 4] });

// must match: bpf/include/aegis_abi.h:struct aegis_path_key
export const PATH_KEY = layout('aegis_path_key', 256, { path: [0, 256] });

// must match: bpf/include/aegis_abi.h:struct aegis_leaf_key
export const LEAF_KEY = layout('aegis_leaf_key', 32, { name: [0, 32] });

// must match: bpf/include/aegis_abi.h:struct aegis_v4_lpm_key
export const V4_LPM_KEY = layout('aegis_v4_lpm_key', 8, { prefixlen: [0, 4], addr: [4, 4] });

// must match: bpf/include/aegis_abi.h:struct aegis_v6_lpm_key
export const V6_LPM_KEY = layout('aegis_v6_lpm_key', 20, { prefixlen: [0, 4], addr: [4, 16] });

// must match: bpf/include/aegis_abi.h:struct aegis_port_key
export const PORT_KEY = layout('aegis_port_key', 4, { port: [0, 2], protocol: [2, 1], _pad0: [3, 1] });

// must match: bpf/include/aegis_abi.h:struct aegis_addr_port_key
export const ADDR_PORT_KEY = layout('aegis_addr_port_key', 20, {
  family: [0, 1],
  protocol: [1, 1],
  port: [2, 2],
  addr: [4, 16],
});

// must match: bpf/include/aegis_abi.h:struct aegis_config
export const CONFIG = layout('aegis_config', 8, { mode: [0, 4], generation: [4, 4] });

// must match: bpf/include/aegis_abi.h:struct aegis_stats
export const STATS = layout('aegis_stats', 344, {
  events: [0, 64],
  drops: [64, 64],
  blocks: [128, 64],
  map_full: [192, 64],
  signal_failures: [256, 8],
  path_truncated: [264, 8],
  enforced: [272, 64],
  net_connect_denied: [336, 8],
});

/** Every struct the decoders or the policy code rely on (the layout test iterates this). */
export const ALL_LAYOUTS: readonly StructLayout[] = [
  HDR,
  PROC,
  EXEC,
  EXIT,
  FORK,
  FILE,
  NET,
  RULE,
  INODE_KEY,
  PATH_KEY,
  LEAF_KEY,
  V4_LPM_KEY,
  V6_LPM_KEY,
  PORT_KEY,
  ADDR_PORT_KEY,
  CONFIG,
  STATS,
];

/** Map names in bpf/include/aegis_maps.h. */
export const MAPS = {
  events: 'aegis_events',
  stats: 'aegis_stats',
  config: 'aegis_config',
  denyInode: 'deny_inode',
  denyPath: 'deny_path',
  denyPathLeaf: 'deny_path_leaf',
  allowCgroup: 'allow_cgroup',
  netV4Lpm: 'net_v4_lpm',
  netV6Lpm: 'net_v6_lpm',
  netPort: 'net_port',
  netAddrPort: 'net_addr_port',
  netInV4Lpm: 'net_in_v4_lpm',
  netInV6Lpm: 'net_in_v6_lpm',
  pktStats: 'aegis_pkt_stats',
} as const;
export type MapKey = keyof typeof MAPS;

/** `const volatile` settings in .rodata (bpf/include/aegis_maps.h). */
export const RODATA = {
  selfTgid: 'aegis_self_tgid',
  connectAll: 'aegis_connect_all',
} as const;

/** Programs, by the backend that needs them (names are the C function names). */
export const PROGRAMS = {
  common: ['aegis_exec', 'aegis_exit', 'aegis_fork'],
  cgroup: ['aegis_connect4', 'aegis_connect6'],
  /** The inbound (direction `in`) filter: XDP first, cgroup_skb ingress as the fallback (bpf/net/ingress.bpf.c). */
  ingress: ['aegis_ingress_xdp', 'aegis_ingress_skb'],
  lsm: ['aegis_lsm_file_open', 'aegis_lsm_bprm_check'],
  tracepoint: [
    'aegis_exit_open',
    'aegis_exit_openat',
    'aegis_exit_openat2',
    'aegis_exit_creat',
    'aegis_exit_open_by_handle_at',
  ],
} as const;

/** Slots of the per-CPU `aegis_pkt_stats` array (bpf/include/aegis_abi.h AEGIS_PKT_*). */
export const PKT_STATS = { pass: 0, drop: 1 } as const;

/** Frame header the native ring reader puts before each record in a batch: u32 length, u32 reserved. */
export const FRAME_HEADER_BYTES = 8;

/* SPDX-License-Identifier: (GPL-2.0-only OR Apache-2.0) */
/*
 * aegis_abi.h - the kernel <-> user space ABI of aegisbpf.
 *
 * This header is the single source of truth for op codes, enums, ring-buffer
 * record layouts, policy map keys/values and the stats map layout. It is
 * included by the BPF programs (after vmlinux.h) and by the native addon.
 * The TypeScript mirror lives in src/sensor/abi.ts and is checked against the
 * BTF of the built object by test/sensor/layout-btf.test.ts: change a struct
 * here, and that test tells you which TS offset is now wrong.
 *
 * Rules for changing this file:
 *  - op codes, hook ids, actions and verdicts are append-only; never renumber.
 *  - every struct is naturally aligned with explicit padding (no implicit
 *    holes), so clang and the TS decoder agree without packing pragmas.
 *  - all integers are host byte order (little endian on every arch we ship)
 *    except where a field name says _be.
 */
#ifndef AEGIS_ABI_H
#define AEGIS_ABI_H

#ifndef __VMLINUX_H__
#include <linux/types.h>
#endif

#define AEGIS_COMM_LEN 16
/* Longest path carried in a record or matched by the path deny map (bytes, incl. NUL). */
#define AEGIS_PATH_MAX 256
/* Leaf-name prefix used by the path pre-filter map (bytes, incl. NUL). */
#define AEGIS_LEAF_MAX 32
/* Bytes of argv copied into an exec record (NUL separated, truncated). */
#define AEGIS_ARGS_MAX 1024

/* Op codes: the first field of every ring-buffer record. Append only. */
enum aegis_op {
	AEGIS_OP_NONE = 0,
	AEGIS_OP_EXEC = 1, /* struct aegis_exec_rec */
	AEGIS_OP_EXIT = 2, /* struct aegis_exit_rec */
	AEGIS_OP_FORK = 3, /* struct aegis_fork_rec */
	AEGIS_OP_FILE = 4, /* struct aegis_file_rec: file open/exec matched a rule */
	AEGIS_OP_CONNECT = 5, /* struct aegis_net_rec */
	AEGIS_OP_MAX = 8, /* size of the per-op counter arrays */
};

/* Record header flags (aegis_hdr.flags). */
#define AEGIS_F_TRUNC_FILENAME (1u << 0) /* filename/path did not fit */
#define AEGIS_F_TRUNC_EXE (1u << 1) /* resolved exe/path did not fit */
#define AEGIS_F_TRUNC_ARGS (1u << 2) /* argv longer than AEGIS_ARGS_MAX */
#define AEGIS_F_PATH_PARTIAL (1u << 3) /* dentry walk hit its depth bound */
#define AEGIS_F_SELF (1u << 4) /* the sensor's own process: never enforced */

/* Kernel hooks, carried in records so events can name where they came from. */
enum aegis_hook {
	AEGIS_HOOK_NONE = 0,
	AEGIS_HOOK_SCHED_PROCESS_EXEC = 1,
	AEGIS_HOOK_SCHED_PROCESS_EXIT = 2,
	AEGIS_HOOK_SCHED_PROCESS_FORK = 3,
	AEGIS_HOOK_SYS_EXIT_OPEN = 4,
	AEGIS_HOOK_SYS_EXIT_OPENAT = 5,
	AEGIS_HOOK_SYS_EXIT_OPENAT2 = 6,
	AEGIS_HOOK_SYS_EXIT_CREAT = 7,
	AEGIS_HOOK_SYS_EXIT_OPEN_BY_HANDLE_AT = 8,
	AEGIS_HOOK_LSM_FILE_OPEN = 9,
	AEGIS_HOOK_LSM_BPRM_CHECK_SECURITY = 10,
	AEGIS_HOOK_CGROUP_CONNECT4 = 11,
	AEGIS_HOOK_CGROUP_CONNECT6 = 12,
	AEGIS_HOOK_MAX = 16,
};

/* Policy actions. AEGIS_ACT_NONE marks plain observations (e.g. every connect). */
enum aegis_action {
	AEGIS_ACT_NONE = 0,
	AEGIS_ACT_AUDIT = 1, /* observe and report, never interfere */
	AEGIS_ACT_BLOCK = 2, /* deny the operation (-EPERM): LSM or cgroup hook only */
	AEGIS_ACT_TERM = 3, /* bpf_send_signal(SIGTERM) */
	AEGIS_ACT_KILL = 4, /* bpf_send_signal(SIGKILL) */
	AEGIS_ACT_INT = 5, /* bpf_send_signal(SIGINT) */
	AEGIS_ACT_MAX = 8,
};

/* What the kernel actually did about a rule hit. */
enum aegis_verdict {
	AEGIS_VERDICT_OBSERVED = 0, /* AUDIT action, or nothing to enforce */
	AEGIS_VERDICT_DENIED = 1, /* the hook returned -EPERM */
	AEGIS_VERDICT_SIGNALLED = 2, /* bpf_send_signal() succeeded */
	AEGIS_VERDICT_SIGNAL_FAILED = 3, /* bpf_send_signal() returned an error */
	AEGIS_VERDICT_AUDIT_MODE = 4, /* would have enforced, but mode is audit */
	AEGIS_VERDICT_UNENFORCEABLE = 5, /* BLOCK reached a hook that cannot deny */
	AEGIS_VERDICT_SELF = 6, /* the sensor's own process: never enforced */
};

/* Global mode, aegis_config.mode. */
enum aegis_mode {
	AEGIS_MODE_AUDIT = 0,
	AEGIS_MODE_ENFORCE = 1,
};

/*
 * Map ids for the map-full counters (aegis_stats.map_full). Today no program
 * writes a map (policy maps are written by user space, which gets E2BIG
 * itself), so no slot is in use; a kernel-written map added later must
 * count its update failures here under a new id.
 */
enum aegis_map_id {
	AEGIS_MAP_ID_MAX = 8,
};

/* Common record header. must match: src/sensor/abi.ts:HDR */
struct aegis_hdr {
	__u16 op; /* enum aegis_op */
	__u16 flags; /* AEGIS_F_* */
	__u32 size; /* bytes of this record, header included */
	__u64 ktime; /* bpf_ktime_get_ns(): CLOCK_MONOTONIC, ns */
};

/*
 * The process a record is about. For FORK it is the child.
 * start_time is task->group_leader->start_time (CLOCK_MONOTONIC ns at fork),
 * which with pid gives a reuse-proof process identity (exec_id).
 * must match: src/sensor/abi.ts:PROC
 */
struct aegis_proc {
	__u32 pid; /* tgid */
	__u32 tid; /* the thread that triggered the record */
	__u32 ppid; /* real_parent tgid */
	__u32 uid; /* real uid (init user ns) */
	__u32 gid; /* real gid (init user ns) */
	__u32 _pad0;
	__u64 start_time;
	__u64 parent_start_time;
	__u64 cgid; /* cgroup v2 id (inode of the cgroup directory) */
	char comm[AEGIS_COMM_LEN];
};

/* must match: src/sensor/abi.ts:EXEC. Emitted size = offsetof(args) + args_len. */
struct aegis_exec_rec {
	struct aegis_hdr hdr;
	struct aegis_proc proc;
	__u64 exe_ino;
	__u32 exe_dev; /* kernel dev_t encoding (MAJOR << 20 | MINOR) */
	__u16 filename_len; /* bytes, NUL excluded */
	__u16 exe_len;
	__u16 args_len;
	__u16 argc;
	__u32 _pad0;
	char filename[AEGIS_PATH_MAX]; /* as passed to execve */
	char exe[AEGIS_PATH_MAX]; /* resolved from bprm->file */
	char args[AEGIS_ARGS_MAX]; /* argv, NUL separated */
};

/* must match: src/sensor/abi.ts:EXIT */
struct aegis_exit_rec {
	struct aegis_hdr hdr;
	struct aegis_proc proc;
	__u32 exit_code; /* wait(2) status: (code << 8) | termsig */
	__u32 _pad0;
};

/* must match: src/sensor/abi.ts:FORK */
struct aegis_fork_rec {
	struct aegis_hdr hdr;
	struct aegis_proc proc; /* the child */
};

/* A file open or exec that matched a rule. must match: src/sensor/abi.ts:FILE */
struct aegis_file_rec {
	struct aegis_hdr hdr;
	struct aegis_proc proc;
	__u64 ino;
	__u32 dev; /* kernel dev_t encoding */
	__u32 open_flags; /* file->f_flags */
	__u32 rule_id;
	__u8 action; /* enum aegis_action */
	__u8 hook; /* enum aegis_hook */
	__u8 verdict; /* enum aegis_verdict */
	__u8 mode; /* enum aegis_mode at the time of the hit */
	__s32 ret; /* syscall return value (fd) in tracepoint mode, 0 otherwise */
	__u16 path_len; /* bytes, NUL excluded */
	__u16 resolved_len;
	char path[AEGIS_PATH_MAX]; /* as passed by the caller, if known */
	char resolved[AEGIS_PATH_MAX]; /* walked from the dentry */
};

/* must match: src/sensor/abi.ts:NET */
struct aegis_net_rec {
	struct aegis_hdr hdr;
	struct aegis_proc proc;
	__u32 rule_id;
	__u8 family; /* AF_INET (2) or AF_INET6 (10) */
	__u8 protocol; /* IPPROTO_* */
	__u8 action;
	__u8 hook;
	__u8 verdict;
	__u8 mode;
	__u16 remote_port; /* host byte order */
	__u16 local_port; /* host byte order */
	__u16 _pad0;
	__u8 remote_ip[16]; /* IPv4 in the first 4 bytes, network order */
	__u8 local_ip[16];
};

/* ---- policy maps ---- */

/* Value of every policy map. must match: src/sensor/abi.ts:RULE */
struct aegis_rule {
	__u32 rule_id; /* FNV-1a-32 of the policy rule's id (src/sensor/policy/policy-compile.ts) */
	__u8 action; /* enum aegis_action (already resolved for this backend) */
	__u8 _pad0[3];
	/* Hits of this entry (audit hits included), added to atomically by the
	 * kernel; user space writes 0 when it adds the entry and never rewrites an
	 * unchanged one, so the count lives as long as the entry
	 * (aegisbpf_blocks_by_path / _by_inode). */
	__u64 hits;
};

/* must match: src/sensor/abi.ts:INODE_KEY */
struct aegis_inode_key {
	__u64 ino;
	__u32 dev; /* kernel dev_t encoding */
	__u32 _pad0;
};

/* Absolute resolved path, NUL padded. must match: src/sensor/abi.ts:PATH_KEY */
struct aegis_path_key {
	char path[AEGIS_PATH_MAX];
};

/* First AEGIS_LEAF_MAX-1 bytes of the last path component, NUL padded. */
struct aegis_leaf_key {
	char name[AEGIS_LEAF_MAX];
};

/* must match: src/sensor/abi.ts:V4_LPM_KEY */
struct aegis_v4_lpm_key {
	__u32 prefixlen;
	__u8 addr[4];
};

/* must match: src/sensor/abi.ts:V6_LPM_KEY */
struct aegis_v6_lpm_key {
	__u32 prefixlen;
	__u8 addr[16];
};

/* Remote port (+ optional protocol, 0 = any). must match: src/sensor/abi.ts:PORT_KEY */
struct aegis_port_key {
	__u16 port; /* host byte order */
	__u8 protocol; /* IPPROTO_*, 0 = any */
	__u8 _pad0;
};

/* Exact remote address + port. must match: src/sensor/abi.ts:ADDR_PORT_KEY */
struct aegis_addr_port_key {
	__u8 family; /* AF_INET / AF_INET6 */
	__u8 protocol; /* IPPROTO_*, 0 = any */
	__u16 port; /* host byte order */
	__u8 addr[16];
};

/* Runtime configuration written by user space. must match: src/sensor/abi.ts:CONFIG */
struct aegis_config {
	__u32 mode; /* enum aegis_mode */
	__u32 generation; /* bumped by every policy apply */
};

/* Per-CPU counters, one entry. must match: src/sensor/abi.ts:STATS */
struct aegis_stats {
	__u64 events[AEGIS_OP_MAX]; /* records submitted, per op */
	__u64 drops[AEGIS_OP_MAX]; /* ring reserve/output failures, per op */
	__u64 blocks[AEGIS_ACT_MAX]; /* rule hits, per action (audit-mode and AUDIT hits included) */
	__u64 map_full[AEGIS_MAP_ID_MAX]; /* kernel-side map update failures */
	__u64 signal_failures;
	__u64 path_truncated;
	/* rule hits the kernel enforced, per action: the operation was denied
	 * or the signal was sent (aegisbpf_blocks_total{action}) */
	__u64 enforced[AEGIS_ACT_MAX];
	/* connect() calls the cgroup hooks denied (aegisbpf_net_blocks_total) */
	__u64 net_connect_denied;
};

/* Slots of aegis_pkt_stats (per-CPU u64). must match: src/sensor/abi.ts:PKT_STATS */
enum {
	AEGIS_PKT_PASS = 0,
	AEGIS_PKT_DROP = 1,
};

#endif /* AEGIS_ABI_H */

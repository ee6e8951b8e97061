/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * aegis_maps.h - every map and rodata setting of the sensor object.
 *
 * The sensor is one BPF object (bpf/build/aegis.bpf.o) statically linked by
 * `bpftool gen object` from one compilation unit per hook. Maps are defined
 * exactly once, in bpf/maps.bpf.c (which defines AEGIS_DEFINE_MAPS before
 * including this header); every hook file sees them as extern and the linker
 * resolves them to the same map. One object means one ring buffer, one stats
 * map and one set of policy maps shared by all hooks, with no fd passing.
 * User space picks which programs load (LSM or tracepoint mode) with
 * bpf_program__set_autoload() before load.
 *
 * Names matter: user space finds maps and rodata by these names
 * (src/sensor/abi.ts:MAPS, src/sensor/abi.ts:RODATA), and pinned maps are pinned by name.
 */
#ifndef AEGIS_MAPS_H
#define AEGIS_MAPS_H

#include "aegis_abi.h"

#ifdef AEGIS_DEFINE_MAPS
#define AEGIS_MAP
#define AEGIS_RODATA(type, name, value) const volatile type name = value
#else
#define AEGIS_MAP extern
#define AEGIS_RODATA(type, name, value) extern const volatile type name
#endif

/* ---- settings, written into .rodata by user space before load ---- */

/* tgid of the sensor itself: never signalled or denied (a rule on a file the
 * sensor reads must not kill the sensor). 0 = none. */
AEGIS_RODATA(__u32, aegis_self_tgid, 0);
/* 1 = emit a connect record for every connect, not only for rule hits. */
AEGIS_RODATA(__u32, aegis_connect_all, 1);

/* ---- output and counters ---- */

/* All records. Size (bytes, power of two, >= page size) is set before load. */
AEGIS_MAP struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 4 * 1024 * 1024);
} aegis_events SEC(".maps");

AEGIS_MAP struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct aegis_stats);
} aegis_stats SEC(".maps");

/* Runtime config (mode). Pinned so `aegisbpf policy` can flip it. */
AEGIS_MAP struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct aegis_config);
} aegis_config SEC(".maps");

/* ---- policy maps (written only by user space) ---- */

AEGIS_MAP struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 65536);
	__type(key, struct aegis_inode_key);
	__type(value, struct aegis_rule);
} deny_inode SEC(".maps");

AEGIS_MAP struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 16384);
	__type(key, struct aegis_path_key);
	__type(value, struct aegis_rule);
} deny_path SEC(".maps");

/*
 * Pre-filter for deny_path, keyed by the leaf name prefix. Resolving a path
 * walks the dentry chain (a few probe reads per component); doing that on
 * every open would cost more than the open itself. One leaf lookup first
 * means only opens whose file name matches some rule pay for the walk.
 * Value: number of deny_path entries sharing the leaf (kept by user space).
 */
AEGIS_MAP struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 16384);
	__type(key, struct aegis_leaf_key);
	__type(value, __u32);
} deny_path_leaf SEC(".maps");

/* cgroup v2 ids exempt from file and network rules. */
AEGIS_MAP struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 1024);
	__type(key, __u64);
	__type(value, __u32);
} allow_cgroup SEC(".maps");

AEGIS_MAP struct {
	__uint(type, BPF_MAP_TYPE_LPM_TRIE);
	__uint(max_entries, 16384);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, struct aegis_v4_lpm_key);
	__type(value, struct aegis_rule);
} net_v4_lpm SEC(".maps");

AEGIS_MAP struct {
	__uint(type, BPF_MAP_TYPE_LPM_TRIE);
	__uint(max_entries, 16384);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, struct aegis_v6_lpm_key);
	__type(value, struct aegis_rule);
} net_v6_lpm SEC(".maps");

AEGIS_MAP struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 4096);
	__type(key, struct aegis_port_key);
	__type(value, struct aegis_rule);
} net_port SEC(".maps");

AEGIS_MAP struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 16384);
	__type(key, struct aegis_addr_port_key);
	__type(value, struct aegis_rule);
} net_addr_port SEC(".maps");

/*
 * Inbound (direction `in`) address/CIDR rules, matched on a packet's source
 * address by the ingress program (bpf/net/ingress.bpf.c). Separate from the
 * connect maps so an `out` entry never drops inbound traffic and vice versa.
 */
AEGIS_MAP struct {
	__uint(type, BPF_MAP_TYPE_LPM_TRIE);
	__uint(max_entries, 16384);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, struct aegis_v4_lpm_key);
	__type(value, struct aegis_rule);
} net_in_v4_lpm SEC(".maps");

AEGIS_MAP struct {
	__uint(type, BPF_MAP_TYPE_LPM_TRIE);
	__uint(max_entries, 16384);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, struct aegis_v6_lpm_key);
	__type(value, struct aegis_rule);
} net_in_v6_lpm SEC(".maps");

/* Packets the ingress program saw, per CPU: [AEGIS_PKT_PASS], [AEGIS_PKT_DROP]
 * (aegisbpf_packets_total{direction="in",action}). */
AEGIS_MAP struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 2);
	__type(key, __u32);
	__type(value, __u64);
} aegis_pkt_stats SEC(".maps");

/* ---- kernel-private state ---- */

/*
 * Ring position just past the newest record written without a wakeup (FORK,
 * EXIT; aegis_core.h, aegis_wakeup_flags). A hint: stores from two CPUs may
 * land out of order, which at worst delays a record to user space's periodic
 * drain (100 ms).
 */
AEGIS_MAP struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, __u64);
} aegis_lazy_end SEC(".maps");

/*
 * Per-CPU scratch: records are built here (the big ones do not fit the
 * 512-byte BPF stack). Keeping every record type in this map value also
 * keeps every record layout in the object's BTF, which the layout test reads.
 */
#define AEGIS_WALK_BUF 512 /* power of two: positions are masked with it */
#define AEGIS_PEEK_BYTES 128 /* head of a kernel object copied in one read (aegis_core.h) */
struct aegis_scratch {
	struct aegis_exec_rec exec;
	struct aegis_file_rec file;
	struct aegis_exit_rec exit;
	struct aegis_fork_rec fork;
	struct aegis_net_rec net;
	struct aegis_path_key key;
	struct aegis_leaf_key leaf;
	__u8 peek[AEGIS_PEEK_BYTES];
	/* dentry walk builds the path backwards from walk[AEGIS_WALK_BUF - 1];
	 * the extra AEGIS_PATH_MAX bytes keep masked writes in bounds. */
	char walk[AEGIS_WALK_BUF + AEGIS_PATH_MAX];
};

AEGIS_MAP struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct aegis_scratch);
} aegis_scratch SEC(".maps");

#endif /* AEGIS_MAPS_H */

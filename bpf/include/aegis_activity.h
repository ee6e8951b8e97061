/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * aegis_activity.h - the per-process activity counters of bpf/activity/activity.bpf.c, read by
 * src/sensor/activity.ts. One value per process (key: tgid) and CPU (a per-CPU hash: no atomics on the hot path);
 * user space sums the CPUs. Counters are cumulative while the entry lives; user space deletes the entries of
 * processes that did nothing during an interval (idle or exited), which bounds the map.
 */
#ifndef AEGIS_ACTIVITY_H
#define AEGIS_ACTIVITY_H

#define AEGIS_ACTIVITY_MAX_PROCS 16384
#define AEGIS_ACTIVITY_MAX_INFLIGHT 16384

/* Counters, per process and CPU. must match: src/sensor/activity.ts:ACTIVITY_VALUE_LAYOUT */
struct aegis_activity {
	__u64 syscalls;
	__u64 io_ops;
	__u64 io_bytes;
	__u64 io_latency_ns;
};

/*
 * Identity, one per process (not per CPU: exec must update the one copy). must match:
 * src/sensor/activity.ts:ACTIVITY_IDENT_LAYOUT
 */
struct aegis_activity_ident {
	/* group leader's start_time, ns since boot: the sensor's exec_id is <tgid>:<start_time> */
	__u64 start_time;
	/* cgroup v2 id of the process when its entry was created */
	__u64 cgid;
	__u32 ppid;
	__u32 pad;
	char comm[16];
};

#endif

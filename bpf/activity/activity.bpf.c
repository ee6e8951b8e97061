// SPDX-License-Identifier: GPL-2.0-only
/*
 * Activity summaries (opt-in, the `activity` source): per-process syscall counts and block-I/O requests, bytes and
 * latency, aggregated in the kernel and read every interval by src/sensor/activity.ts.
 *
 * Why these hooks: tp_btf/sys_enter (the raw_syscalls tracepoint, BTF-typed) fires once per system call of every
 * task, the only place that sees all of them; it is also why this is opt-in: enabling any syscall tracepoint puts
 * every task on the syscall-tracing slow path (docs/analytics.md). block_rq_issue and block_rq_complete bracket a
 * request on the device: issue records the submitting process and the time per request, complete adds bytes and
 * latency to that process. A request issued by a kernel thread (writeback, the I/O scheduler's dispatch) counts for
 * that thread: the page cache hides which process dirtied the pages.
 *
 * A separate object from aegis.bpf.o, so that the sensor never attaches a syscall tracepoint unless asked.
 */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_core_read.h>
#include <bpf/bpf_tracing.h>
#include "aegis_activity.h"

char LICENSE[] SEC("license") = "GPL";

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_HASH);
	__uint(max_entries, AEGIS_ACTIVITY_MAX_PROCS);
	__type(key, __u32);
	__type(value, struct aegis_activity);
} aegis_activity SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, AEGIS_ACTIVITY_MAX_PROCS);
	__type(key, __u32);
	__type(value, struct aegis_activity_ident);
} aegis_activity_ident SEC(".maps");

struct inflight {
	__u64 start_ns;
	__u32 tgid;
	__u32 pad;
};

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, AEGIS_ACTIVITY_MAX_INFLIGHT);
	__type(key, __u64); /* struct request * */
	__type(value, struct inflight);
} aegis_activity_rq SEC(".maps");

/* The process's entry on this CPU, created (with its identity) on first use; NULL when the map is full. */
static __always_inline struct aegis_activity *entry(__u32 tgid)
{
	struct aegis_activity *a = bpf_map_lookup_elem(&aegis_activity, &tgid);
	if (a)
		return a;
	struct aegis_activity init = {};
	struct aegis_activity_ident id = {};
	struct task_struct *task = (struct task_struct *)bpf_get_current_task_btf();
	id.start_time = BPF_CORE_READ(task, group_leader, start_time);
	id.ppid = BPF_CORE_READ(task, real_parent, tgid);
	id.cgid = bpf_get_current_cgroup_id();
	bpf_get_current_comm(id.comm, sizeof(id.comm));
	/* Once per process (the first syscall on any CPU): an existing identity is kept. */
	bpf_map_update_elem(&aegis_activity_ident, &tgid, &id, BPF_NOEXIST);
	bpf_map_update_elem(&aegis_activity, &tgid, &init, BPF_NOEXIST);
	return bpf_map_lookup_elem(&aegis_activity, &tgid);
}

SEC("tp_btf/sys_enter")
int BPF_PROG(aegis_activity_sys_enter, struct pt_regs *regs, long id)
{
	__u32 tgid = bpf_get_current_pid_tgid() >> 32;
	struct aegis_activity *a;

	if (tgid == 0)
		return 0;
	a = entry(tgid);
	if (a)
		a->syscalls++;
	return 0;
}

SEC("tp_btf/block_rq_issue")
int BPF_PROG(aegis_activity_rq_issue, struct request *rq)
{
	__u64 key = (__u64)rq;
	struct inflight v = { .start_ns = bpf_ktime_get_ns(), .tgid = bpf_get_current_pid_tgid() >> 32 };

	bpf_map_update_elem(&aegis_activity_rq, &key, &v, BPF_ANY);
	return 0;
}

SEC("tp_btf/block_rq_complete")
int BPF_PROG(aegis_activity_rq_complete, struct request *rq, blk_status_t error, unsigned int nr_bytes)
{
	__u64 key = (__u64)rq;
	struct inflight *v = bpf_map_lookup_elem(&aegis_activity_rq, &key);
	struct aegis_activity *a;
	__u32 tgid;

	if (!v)
		return 0;
	tgid = v->tgid;
	a = tgid ? bpf_map_lookup_elem(&aegis_activity, &tgid) : NULL;
	if (a) {
		a->io_ops++;
		a->io_bytes += nr_bytes;
		a->io_latency_ns += bpf_ktime_get_ns() - v->start_ns;
	}
	bpf_map_delete_elem(&aegis_activity_rq, &key);
	return 0;
}

/* exec replaces the command name: keep the entry's comm current (its start_time and tgid do not change). */
SEC("tp_btf/sched_process_exec")
int BPF_PROG(aegis_activity_exec, struct task_struct *task, pid_t old_pid, struct linux_binprm *bprm)
{
	__u32 tgid = bpf_get_current_pid_tgid() >> 32;
	struct aegis_activity_ident *id = bpf_map_lookup_elem(&aegis_activity_ident, &tgid);

	if (id)
		bpf_get_current_comm(id->comm, sizeof(id->comm));
	return 0;
}

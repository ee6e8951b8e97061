// SPDX-License-Identifier: GPL-2.0-only
/*
 * Feature probe object. Each program is the smallest thing that exercises
 * one capability the sensor depends on; user space loads them one at a time
 * (a fresh bpf_object per program, autoload off for the others) so one
 * refusal does not hide the others, and records the errno of each load and
 * attach. Nothing here observes or changes anything: every program returns
 * "allow" and does no work, and probes are detached immediately.
 */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>

char LICENSE[] SEC("license") = "GPL";

struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 4096);
} probe_ring SEC(".maps");

/* BPF LSM: needs CONFIG_BPF_LSM, "bpf" in the active LSM list and BPF trampolines. */
SEC("lsm/file_open")
int BPF_PROG(probe_lsm, struct file *file, int ret)
{
	return ret;
}

/* Raw tracepoint with BTF: exec/exit/fork hooks. */
SEC("tp_btf/sched_process_exec")
int BPF_PROG(probe_tp_btf, struct task_struct *task)
{
	return 0;
}

/*
 * Syscall tracepoints (perf event based; attach needs tracefs), with what the
 * tracepoint-mode open hook uses: a BTF task pointer walked without helpers
 * and the task's saved user registers (bpf_task_pt_regs, 5.15+).
 */
SEC("tp/syscalls/sys_exit_openat")
int probe_tp_syscalls(void *ctx)
{
	struct task_struct *task = bpf_get_current_task_btf();

	if (task->files->fdt->max_fds == 0 && bpf_task_pt_regs(task))
		return 1;
	return 0;
}

/* bpf_send_signal(): the verifier refuses the program if the helper is missing. */
SEC("tp_btf/sched_process_exec")
int BPF_PROG(probe_send_signal, struct task_struct *task)
{
	if (bpf_get_current_pid_tgid() == ~0ULL) /* never true: no signal is sent */
		bpf_send_signal(9);
	return 0;
}

/* Ring buffer output from a program. */
SEC("tp_btf/sched_process_exec")
int BPF_PROG(probe_ringbuf, struct task_struct *task)
{
	if (bpf_get_current_pid_tgid() == ~0ULL)
		bpf_ringbuf_output(&probe_ring, &task, sizeof(task), 0);
	return 0;
}

/* cgroup sock_addr connect hook. */
SEC("cgroup/connect4")
int probe_cgroup_connect(struct bpf_sock_addr *ctx)
{
	return 1;
}

/* Ingress: XDP (first choice) and cgroup_skb (fallback), loaded, not attached. */
SEC("xdp")
int probe_xdp(struct xdp_md *ctx)
{
	return XDP_PASS;
}

SEC("cgroup_skb/ingress")
int probe_cgroup_skb(struct __sk_buff *skb)
{
	return 1;
}

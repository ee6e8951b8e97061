// SPDX-License-Identifier: GPL-2.0-only
/*
 * File open, tracepoint mode: tp/syscalls/sys_exit_{open,openat,openat2,
 * creat,open_by_handle_at}.
 *
 * Why these hooks: where BPF LSM programs cannot load, the syscall
 * tracepoints are the stable way to see every open. The decision is made at
 * exit from the returned fd (fd -> struct file -> inode, dev and the walked
 * path), not from the user string at enter: the string can be relative,
 * contain symlinks or be changed by another thread after the kernel copied
 * it; the struct file is what was actually opened.
 *
 * Why exit only, not enter + exit: the name the caller passed is only needed
 * for the record of a rule hit, and the syscall's arguments are still in the
 * task's saved user registers at exit (bpf_task_pt_regs()), so no enter
 * program and no per-task stash are needed. Every enabled syscall tracepoint
 * costs every open its perf-event dispatch; one per open instead of two
 * halves that, and the common case (no rule hit) touches no map but the two
 * rule lookups. The name is read at exit, like it would have been with a
 * stashed pointer, so another thread can still rewrite it in between: it is
 * informational, `resolved` (from the dentry) is authoritative.
 *
 * A tracepoint cannot fail the syscall: BLOCK is refused by the policy
 * loader in this mode, and TERM/KILL/INT are sent with bpf_send_signal(),
 * delivered when the syscall returns to user space (the fd exists by then;
 * with KILL the process never gets to use it).
 *
 * Not covered in this mode (docs/enforcement.md): io_uring IORING_OP_OPENAT,
 * which does not go through these syscalls.
 */
#include "aegis_core.h"

#define NAME_IN_ARG1 1
#define NAME_IN_ARG2 2
#define NAME_NONE 0

static __always_inline struct file *fd_to_file(struct task_struct *task, long fd)
{
	/* task is a trusted BTF pointer: these loads need no helper calls */
	struct fdtable *fdt = task->files->fdt;
	struct file *file = NULL;

	if (fd < 0 || fd >= fdt->max_fds)
		return NULL;
	bpf_probe_read_kernel(&file, sizeof(file), &fdt->fd[fd]);
	return file;
}

static __always_inline int on_exit(struct trace_event_raw_sys_exit *ctx, __u8 hook, int name_arg)
{
	struct task_struct *task;
	struct aegis_scratch *s;
	struct aegis_file_info fi;
	struct aegis_rule *rule;
	struct file *file;
	const char *upath = NULL;
	long ret = ctx->ret;
	int walked;

	if (ret < 0)
		return 0;
	task = bpf_get_current_task_btf();
	file = fd_to_file(task, ret);
	if (!file)
		return 0;
	s = aegis_scratch_get();
	if (!s)
		return 0;
	aegis_file_info(s, file, &fi);
	/* O_PATH fds cannot read or write; LSM file_open does not see them either */
	if (fi.flags & AEGIS_O_PATH)
		return 0;
	rule = aegis_file_rule(s, &fi, &walked);
	if (!rule || aegis_cgroup_allowed())
		return 0;
	if (name_arg != NAME_NONE) {
		struct pt_regs *regs = (struct pt_regs *)bpf_task_pt_regs(task);

		upath = name_arg == NAME_IN_ARG1 ? (const char *)PT_REGS_PARM1_CORE_SYSCALL(regs)
						 : (const char *)PT_REGS_PARM2_CORE_SYSCALL(regs);
	}
	aegis_file_hit(s, &fi, rule, walked, hook, 0, ret, upath, 0);
	return 0;
}

SEC("tp/syscalls/sys_exit_open")
int aegis_exit_open(struct trace_event_raw_sys_exit *ctx)
{
	return on_exit(ctx, AEGIS_HOOK_SYS_EXIT_OPEN, NAME_IN_ARG1);
}

SEC("tp/syscalls/sys_exit_openat")
int aegis_exit_openat(struct trace_event_raw_sys_exit *ctx)
{
	return on_exit(ctx, AEGIS_HOOK_SYS_EXIT_OPENAT, NAME_IN_ARG2);
}

SEC("tp/syscalls/sys_exit_openat2")
int aegis_exit_openat2(struct trace_event_raw_sys_exit *ctx)
{
	return on_exit(ctx, AEGIS_HOOK_SYS_EXIT_OPENAT2, NAME_IN_ARG2);
}

SEC("tp/syscalls/sys_exit_creat")
int aegis_exit_creat(struct trace_event_raw_sys_exit *ctx)
{
	return on_exit(ctx, AEGIS_HOOK_SYS_EXIT_CREAT, NAME_IN_ARG1);
}

SEC("tp/syscalls/sys_exit_open_by_handle_at")
int aegis_exit_open_by_handle_at(struct trace_event_raw_sys_exit *ctx)
{
	return on_exit(ctx, AEGIS_HOOK_SYS_EXIT_OPEN_BY_HANDLE_AT, NAME_NONE);
}

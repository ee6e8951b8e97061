// SPDX-License-Identifier: GPL-2.0-only
/*
 * File open, tracepoint mode: tp/syscalls/sys_{enter,exit}_{open,openat,
 * openat2,creat} and sys_exit_open_by_handle_at.
 *
 * Why these hooks: where BPF LSM programs cannot load, the syscall
 * tracepoints are the stable way to see every open by path. The decision is
 * made at exit from the returned fd (fd -> struct file -> inode, dev and the
 * walked path), not from the user string at enter, because the user string
 * can be relative, contain symlinks or be changed by another thread after
 * the kernel copied it; the struct file is what was actually opened. enter
 * only stashes the user pointer so the record can also report the name the
 * caller used. open_by_handle_at has no name, so it has no enter side.
 *
 * A tracepoint cannot fail the syscall: BLOCK is refused by the policy
 * loader in this mode, and TERM/KILL/INT are sent with bpf_send_signal(),
 * delivered when the syscall returns to user space (the fd exists by then;
 * with KILL the process never gets to use it).
 *
 * Not covered in this mode (documented in docs/enforcement.md): io_uring
 * IORING_OP_OPENAT, which does not go through these syscalls.
 */
#include "aegis_core.h"

static __always_inline void stash(__u64 filename, __u32 nr)
{
	struct aegis_open_stash *st;

	st = bpf_task_storage_get(&open_stash, bpf_get_current_task_btf(), 0,
				  BPF_LOCAL_STORAGE_GET_F_CREATE);
	if (!st) {
		struct aegis_stats *stats = aegis_stats_get();

		if (stats)
			aegis_count(&stats->map_full[AEGIS_MAP_OPEN_INFLIGHT]);
		return;
	}
	st->filename = filename;
	st->nr = nr;
}

static __always_inline struct file *fd_to_file(struct task_struct *task, long fd)
{
	struct fdtable *fdt = BPF_CORE_READ(task, files, fdt);
	struct file **fds;
	struct file *file = NULL;

	if (fd < 0 || fd >= BPF_CORE_READ(fdt, max_fds))
		return NULL;
	fds = BPF_CORE_READ(fdt, fd);
	bpf_probe_read_kernel(&file, sizeof(file), &fds[fd]);
	return file;
}

static __always_inline int on_exit(struct trace_event_raw_sys_exit *ctx, __u32 nr)
{
	struct aegis_open_stash *st;
	struct aegis_scratch *s;
	struct aegis_inode_key ikey;
	struct aegis_rule *rule;
	struct file *file;
	const char *upath = NULL;
	long ret = ctx->ret;
	int walked;

	st = bpf_task_storage_get(&open_stash, bpf_get_current_task_btf(), 0, 0);
	if (st) {
		if (st->nr == nr)
			upath = (const char *)st->filename;
		st->filename = 0;
		st->nr = 0;
	}
	if (ret < 0)
		return 0;
	file = fd_to_file((struct task_struct *)bpf_get_current_task(), ret);
	if (!file)
		return 0;
	/* O_PATH fds cannot read or write; LSM file_open does not see them either */
	if (BPF_CORE_READ(file, f_flags) & AEGIS_O_PATH)
		return 0;
	s = aegis_scratch_get();
	if (!s)
		return 0;
	aegis_file_ident(file, &ikey);
	rule = aegis_file_rule(s, file, &ikey, &walked);
	if (!rule || aegis_cgroup_allowed())
		return 0;
	aegis_file_hit(s, file, &ikey, rule, walked, nr, 0, ret, upath, 0);
	return 0;
}

SEC("tp/syscalls/sys_enter_open")
int aegis_enter_open(struct trace_event_raw_sys_enter *ctx)
{
	stash(ctx->args[0], AEGIS_HOOK_SYS_EXIT_OPEN);
	return 0;
}

SEC("tp/syscalls/sys_exit_open")
int aegis_exit_open(struct trace_event_raw_sys_exit *ctx)
{
	return on_exit(ctx, AEGIS_HOOK_SYS_EXIT_OPEN);
}

SEC("tp/syscalls/sys_enter_openat")
int aegis_enter_openat(struct trace_event_raw_sys_enter *ctx)
{
	stash(ctx->args[1], AEGIS_HOOK_SYS_EXIT_OPENAT);
	return 0;
}

SEC("tp/syscalls/sys_exit_openat")
int aegis_exit_openat(struct trace_event_raw_sys_exit *ctx)
{
	return on_exit(ctx, AEGIS_HOOK_SYS_EXIT_OPENAT);
}

SEC("tp/syscalls/sys_enter_openat2")
int aegis_enter_openat2(struct trace_event_raw_sys_enter *ctx)
{
	stash(ctx->args[1], AEGIS_HOOK_SYS_EXIT_OPENAT2);
	return 0;
}

SEC("tp/syscalls/sys_exit_openat2")
int aegis_exit_openat2(struct trace_event_raw_sys_exit *ctx)
{
	return on_exit(ctx, AEGIS_HOOK_SYS_EXIT_OPENAT2);
}

SEC("tp/syscalls/sys_enter_creat")
int aegis_enter_creat(struct trace_event_raw_sys_enter *ctx)
{
	stash(ctx->args[0], AEGIS_HOOK_SYS_EXIT_CREAT);
	return 0;
}

SEC("tp/syscalls/sys_exit_creat")
int aegis_exit_creat(struct trace_event_raw_sys_exit *ctx)
{
	return on_exit(ctx, AEGIS_HOOK_SYS_EXIT_CREAT);
}

SEC("tp/syscalls/sys_exit_open_by_handle_at")
int aegis_exit_open_by_handle_at(struct trace_event_raw_sys_exit *ctx)
{
	return on_exit(ctx, AEGIS_HOOK_SYS_EXIT_OPEN_BY_HANDLE_AT);
}

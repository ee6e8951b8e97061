// SPDX-License-Identifier: GPL-2.0-only
/*
 * exec: tp_btf/sched_process_exec.
 *
 * Why this hook: it fires once per successful execve/execveat, after the new
 * image is committed (current->mm is the new mm, so argv is readable from
 * the new stack), with the linux_binprm still at hand for the file name and
 * the executable. tp_btf (raw tracepoint with BTF) rather than tp/ because it
 * needs no tracefs, gets typed arguments, and costs less than a perf-event
 * tracepoint. It is also where exec is denied in tracepoint mode: the new
 * image has not run a single user instruction yet, so a KILL sent here means
 * the program never runs (its exec did happen, and is reported).
 */
#include "aegis_core.h"

static __always_inline void exec_rule_check(struct aegis_scratch *s, struct aegis_file_info *fi,
					    const char *filename)
{
	struct aegis_rule *rule;
	int walked = 0;

	rule = aegis_file_rule(s, fi, &walked);
	if (!rule || aegis_cgroup_allowed())
		return;
	aegis_file_hit(s, fi, rule, walked, AEGIS_HOOK_SCHED_PROCESS_EXEC, 0, 0, filename, 1);
}

SEC("tp_btf/sched_process_exec")
int BPF_PROG(aegis_exec, struct task_struct *task, pid_t old_pid, struct linux_binprm *bprm)
{
	struct aegis_scratch *s = aegis_scratch_get();
	struct aegis_exec_rec *rec;
	struct file *file, *script = NULL;
	const char *filename;
	unsigned long arg_start, arg_end, args_len;
	struct aegis_file_info fi;
	__u32 pos, size;
	long n;

	if (!s)
		return 0;
	rec = &s->exec;
	aegis_hdr_init(&rec->hdr, AEGIS_OP_EXEC, 0);
	aegis_proc_fill(&rec->proc, task);

	filename = bprm->filename;
	n = bpf_probe_read_kernel_str(rec->filename, sizeof(rec->filename), filename);
	rec->filename_len = n > 0 ? (n - 1) & AEGIS_NAME_MASK : 0;
	if (n == sizeof(rec->filename))
		rec->hdr.flags |= AEGIS_F_TRUNC_FILENAME;

	file = bprm->file;
	aegis_file_info(s, file, &fi);
	rec->exe_ino = fi.key.ino;
	rec->exe_dev = fi.key.dev;
	pos = aegis_walk_path(s, fi.dentry, fi.mnt, &rec->hdr.flags);
	rec->exe_len = aegis_walk_copy(s, pos, rec->exe, &rec->hdr.flags);
	rec->argc = bprm->argc;
	rec->_pad0 = 0;

	arg_start = task->mm->arg_start;
	arg_end = task->mm->arg_end;
	args_len = arg_end > arg_start ? arg_end - arg_start : 0;
	if (args_len > AEGIS_ARGS_MAX) {
		args_len = AEGIS_ARGS_MAX;
		rec->hdr.flags |= AEGIS_F_TRUNC_ARGS;
	}
	if (args_len && bpf_probe_read_user(rec->args, args_len & (AEGIS_ARGS_MAX * 2 - 1),
					    (void *)arg_start))
		args_len = 0;
	rec->args_len = args_len;

	size = offsetof(struct aegis_exec_rec, args) + (args_len & (AEGIS_ARGS_MAX * 2 - 1));
	if (size > sizeof(*rec))
		size = sizeof(*rec);
	rec->hdr.size = size;
	aegis_submit(rec, size, AEGIS_OP_EXEC);

	/*
	 * Rules after the exec record, so the FILE record can be tied to the
	 * exec it killed. For scripts, bprm->file is the interpreter and
	 * bprm->executable (5.x+) the script: check both.
	 */
	if (bpf_core_field_exists(bprm->executable))
		script = bprm->executable;
	exec_rule_check(s, &fi, filename);
	if (script && script != file) {
		aegis_file_info(s, script, &fi);
		exec_rule_check(s, &fi, filename);
	}
	return 0;
}

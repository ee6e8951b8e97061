// SPDX-License-Identifier: GPL-2.0-only
/*
 * exit: tp_btf/sched_process_exit.
 *
 * Why this hook: it runs in do_exit() of every thread, in the exiting task's
 * context, after exit_code is set. Only the last thread of a thread group
 * produces a record (signal->live already dropped to 0), so one process
 * gives one exit record whatever its thread count. The tracepoint's newer
 * group_dead argument is not used so the program loads on older kernels.
 */
#include "aegis_core.h"

SEC("tp_btf/sched_process_exit")
int BPF_PROG(aegis_exit, struct task_struct *task)
{
	struct aegis_scratch *s;
	struct aegis_exit_rec *rec;

	/* task is a BTF pointer: direct loads, no helper calls */
	if (task->signal->live.counter != 0)
		return 0;
	if (task->flags & 0x00200000 /* PF_KTHREAD */)
		return 0;
	s = aegis_scratch_get();
	if (!s)
		return 0;
	rec = &s->exit;
	aegis_hdr_init(&rec->hdr, AEGIS_OP_EXIT, sizeof(*rec));
	aegis_proc_fill(&rec->proc, task);
	rec->exit_code = task->exit_code;
	rec->_pad0 = 0;
	aegis_submit(rec, sizeof(*rec), AEGIS_OP_EXIT);
	return 0;
}

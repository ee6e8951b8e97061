// SPDX-License-Identifier: GPL-2.0-only
/*
 * fork: tp_btf/sched_process_fork.
 *
 * Why this hook: the process cache must know a child (and its parent and
 * start_time) before the child's first exec or its first rule hit. It runs
 * in the parent after copy_process(), when the child's start_time and pid
 * exist. New threads (same tgid) are skipped: the cache is per process.
 */
#include "aegis_core.h"

SEC("tp_btf/sched_process_fork")
int BPF_PROG(aegis_fork, struct task_struct *parent, struct task_struct *child)
{
	struct aegis_scratch *s;
	struct aegis_fork_rec *rec;

	if (child->pid != child->tgid)
		return 0;
	s = aegis_scratch_get();
	if (!s)
		return 0;
	rec = &s->fork;
	aegis_hdr_init(&rec->hdr, AEGIS_OP_FORK, sizeof(*rec));
	aegis_proc_fill(&rec->proc, child);
	aegis_submit(rec, sizeof(*rec), AEGIS_OP_FORK);
	return 0;
}

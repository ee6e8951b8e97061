// SPDX-License-Identifier: GPL-2.0-only
/*
 * Exec deny, LSM mode: lsm/bprm_check_security.
 *
 * Why this hook: it runs once per exec attempt, after the binary (and for
 * scripts, the interpreter) is resolved and before the point of no return,
 * so -EPERM makes execve() fail cleanly and the old image keeps running.
 * In tracepoint mode the same rules are checked in sched_process_exec and
 * can only be enforced with a signal.
 */
#include "aegis_core.h"

SEC("lsm/bprm_check_security")
int BPF_PROG(aegis_lsm_bprm_check, struct linux_binprm *bprm, int ret)
{
	struct aegis_scratch *s;
	struct aegis_file_info fi;
	struct aegis_rule *rule;
	int walked;

	if (ret)
		return ret;
	s = aegis_scratch_get();
	if (!s)
		return 0;
	aegis_file_info(s, BPF_CORE_READ(bprm, file), &fi);
	rule = aegis_file_rule(s, &fi, &walked);
	if (!rule || aegis_cgroup_allowed())
		return 0;
	if (aegis_file_hit(s, &fi, rule, walked, AEGIS_HOOK_LSM_BPRM_CHECK_SECURITY, 1, 0,
			   BPF_CORE_READ(bprm, filename), 1))
		return -AEGIS_EPERM;
	return 0;
}

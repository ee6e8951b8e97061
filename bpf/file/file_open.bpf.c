// SPDX-License-Identifier: GPL-2.0-only
/*
 * File open, LSM mode: lsm/file_open.
 *
 * Why this hook: security_file_open() runs for every open of a regular file
 * by any path into the kernel (open syscalls, io_uring, exec, overlayfs
 * copy-up), after the file is resolved and before any data is accessible,
 * and its return value fails the open. It is the only place BLOCK on file
 * open can be honest. Opens made by exec (FMODE_EXEC) are left to
 * lsm/bprm_check_security so one exec gives one record.
 *
 * Loads only where BPF LSM is enabled and the kernel allows BPF trampolines;
 * elsewhere the loader does not autoload it and uses file/sys_open.bpf.c.
 */
#include "aegis_core.h"

SEC("lsm/file_open")
int BPF_PROG(aegis_lsm_file_open, struct file *file, int ret)
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
	aegis_file_info(s, file, &fi);
	if (fi.fmode & AEGIS_FMODE_EXEC)
		return 0;
	rule = aegis_file_rule(s, &fi, &walked);
	if (!rule || aegis_cgroup_allowed())
		return 0;
	if (aegis_file_hit(s, &fi, rule, walked, AEGIS_HOOK_LSM_FILE_OPEN, 1, 0, NULL, 0))
		return -AEGIS_EPERM;
	return 0;
}

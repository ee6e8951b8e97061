/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * aegis_core.h - helpers shared by every hook: filling the process block,
 * submitting records with exact counters, resolving paths from dentries,
 * looking up file rules and applying actions.
 */
#ifndef AEGIS_CORE_H
#define AEGIS_CORE_H

#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_core_read.h>
#include <bpf/bpf_tracing.h>
#include <bpf/bpf_endian.h>
#include "aegis_abi.h"
#include "aegis_maps.h"

#define AEGIS_EPERM 1
#define AEGIS_SIGINT 2
#define AEGIS_SIGKILL 9
#define AEGIS_SIGTERM 15
#define AEGIS_O_PATH 010000000
#define AEGIS_FMODE_EXEC 0x20
#define AEGIS_NAME_MASK 255 /* a path component is at most 255 bytes */
/* Depth bound of the dentry walk; deeper paths are reported partial. */
#define AEGIS_WALK_DEPTH 32

static __always_inline struct aegis_stats *aegis_stats_get(void)
{
	__u32 zero = 0;

	return bpf_map_lookup_elem(&aegis_stats, &zero);
}

static __always_inline struct aegis_scratch *aegis_scratch_get(void)
{
	__u32 zero = 0;

	return bpf_map_lookup_elem(&aegis_scratch, &zero);
}

static __always_inline __u32 aegis_mode(void)
{
	__u32 zero = 0;
	struct aegis_config *cfg = bpf_map_lookup_elem(&aegis_config, &zero);

	return cfg ? cfg->mode : AEGIS_MODE_AUDIT;
}

/*
 * Counters are per CPU, but a tracepoint program may be preempted on
 * PREEMPT kernels while another instance runs on the same CPU, so the
 * increments are atomic: the ring-pressure test relies on exact counts.
 */
static __always_inline void aegis_count(__u64 *slot)
{
	__sync_fetch_and_add(slot, 1);
}

/*
 * Ring buffer wakeups. Waking the consumer is the sensor's main cost in a
 * process storm (a wakeup is an IPI, and in a VM an exit; then a libuv
 * turn and a JS call for two or three records). FORK and EXIT records are
 * not urgent: they are written without a wakeup and travel with the next
 * urgent record (EXEC, FILE, CONNECT), or are picked up by user space's
 * periodic drain (src/sensor/sensor.ts, LAZY_DRAIN_MILLIS) when nothing
 * urgent follows. The kernel's own rule wakes the consumer only for a record
 * it has read everything before; so an urgent record forces the wakeup when
 * lazy records may sit unread before it (the consumer has not read past
 * aegis_lazy_end), and otherwise leaves the kernel's rule alone (a busy
 * consumer is not woken again). Past AEGIS_LAZY_MAX_BYTES unread, lazy records
 * wake the consumer too, so a fork storm cannot fill the ring unseen.
 */
#define AEGIS_LAZY_MAX_BYTES (256 * 1024)

static __always_inline __u64 aegis_wakeup_flags(__u32 op)
{
	__u32 zero = 0;
	__u64 *lazy_end = bpf_map_lookup_elem(&aegis_lazy_end, &zero);

	if (op == AEGIS_OP_FORK || op == AEGIS_OP_EXIT)
		return bpf_ringbuf_query(&aegis_events, BPF_RB_AVAIL_DATA) >= AEGIS_LAZY_MAX_BYTES ?
			       BPF_RB_FORCE_WAKEUP :
			       BPF_RB_NO_WAKEUP;
	if (lazy_end && bpf_ringbuf_query(&aegis_events, BPF_RB_CONS_POS) < *lazy_end)
		return BPF_RB_FORCE_WAKEUP;
	return 0;
}

/*
 * Copy a finished record into the ring buffer. bpf_ringbuf_output() (copy)
 * rather than reserve/commit because records are variable length and built
 * in per-CPU scratch; reserve needs a constant size. Every failure (ring
 * full) is counted per op: a drop is never silent.
 */
static __always_inline void aegis_submit(void *rec, __u32 size, __u32 op)
{
	struct aegis_stats *st = aegis_stats_get();
	long err = bpf_ringbuf_output(&aegis_events, rec, size, aegis_wakeup_flags(op));

	if (!err && (op == AEGIS_OP_FORK || op == AEGIS_OP_EXIT)) {
		__u32 zero = 0;
		__u64 *lazy_end = bpf_map_lookup_elem(&aegis_lazy_end, &zero);

		if (lazy_end)
			*lazy_end = bpf_ringbuf_query(&aegis_events, BPF_RB_PROD_POS);
	}
	if (!st)
		return;
	if (err)
		aegis_count(&st->drops[op & (AEGIS_OP_MAX - 1)]);
	else
		aegis_count(&st->events[op & (AEGIS_OP_MAX - 1)]);
}

static __always_inline void aegis_hdr_init(struct aegis_hdr *hdr, __u16 op, __u32 size)
{
	hdr->op = op;
	hdr->flags = 0;
	hdr->size = size;
	hdr->ktime = bpf_ktime_get_ns();
}

/*
 * Fill the process block for @task (a thread; identity is its thread group).
 *
 * @task must be a BTF pointer (a tp_btf/LSM argument or
 * bpf_get_current_task_btf()): its fields are then plain loads the JIT turns
 * into guarded memory reads, not one bpf_probe_read_kernel() call each.
 * cgroup programs have no BTF task and use aegis_proc_fill_probe().
 */
static __always_inline void aegis_proc_fill(struct aegis_proc *p, struct task_struct *task)
{
	struct task_struct *parent = task->real_parent;
	__u64 uid_gid = bpf_get_current_uid_gid();

	p->pid = task->tgid;
	p->tid = task->pid;
	p->ppid = parent->tgid;
	p->uid = (__u32)uid_gid;
	p->gid = (__u32)(uid_gid >> 32);
	p->_pad0 = 0;
	p->start_time = task->group_leader->start_time;
	p->parent_start_time = parent->group_leader->start_time;
	p->cgid = bpf_get_current_cgroup_id();
	/* task->comm is NUL padded (strscpy_pad): a plain copy gives clean 16 bytes */
	bpf_probe_read_kernel(p->comm, sizeof(p->comm), &task->comm);
}

/* Same fields for the current task, through probe reads (no BTF task available). */
static __always_inline void aegis_proc_fill_probe(struct aegis_proc *p)
{
	struct task_struct *task = (struct task_struct *)bpf_get_current_task();
	struct task_struct *parent = BPF_CORE_READ(task, real_parent);
	__u64 uid_gid = bpf_get_current_uid_gid();

	p->pid = BPF_CORE_READ(task, tgid);
	p->tid = BPF_CORE_READ(task, pid);
	p->ppid = BPF_CORE_READ(parent, tgid);
	p->uid = (__u32)uid_gid;
	p->gid = (__u32)(uid_gid >> 32);
	p->_pad0 = 0;
	p->start_time = BPF_CORE_READ(task, group_leader, start_time);
	p->parent_start_time = BPF_CORE_READ(parent, group_leader, start_time);
	p->cgid = bpf_get_current_cgroup_id();
	bpf_probe_read_kernel(p->comm, sizeof(p->comm), &task->comm);
}

/*
 * Resolve (dentry, vfsmount) to an absolute path, d_path style, but usable
 * from tracepoints (bpf_d_path() is restricted to a few LSM/fentry hooks and
 * those do not load everywhere). Walks towards the root, crossing mount
 * points through struct mount, and builds the string backwards in
 * s->walk. Returns the start offset; the string ends at walk[AEGIS_WALK_BUF-1]
 * (NUL). The path is relative to the global mount tree, so a file opened
 * inside a container shows its host path. Sets AEGIS_F_PATH_PARTIAL when the
 * depth bound was reached and AEGIS_F_TRUNC_EXE when the buffer filled up.
 *
 * The loop body is a bpf_loop() callback (kernel 5.17+): the verifier checks
 * it once, where an unrolled or bounded loop of AEGIS_WALK_DEPTH steps is
 * verified step by step and blows the 1M instruction budget in programs
 * that walk more than once.
 */
struct aegis_walk_ctx {
	struct aegis_scratch *s;
	struct dentry *dentry;
	struct vfsmount *vfsmnt;
	struct mount *mnt;
	__u32 pos;
	__u16 flags;
	__u16 done;
};

static long aegis_walk_step(__u32 index, void *data)
{
	/* locals first: BPF_CORE_READ() on w->x would relocate our own struct */
	struct aegis_walk_ctx *w = data;
	struct dentry *dentry = w->dentry;
	struct vfsmount *vfsmnt = w->vfsmnt;
	struct mount *mnt = w->mnt;
	struct dentry *mnt_root = BPF_CORE_READ(vfsmnt, mnt_root);
	struct dentry *parent = BPF_CORE_READ(dentry, d_parent);
	struct mount *mnt_parent;
	const unsigned char *name;
	__u32 len, pos = w->pos;

	if (dentry == mnt_root) {
		mnt_parent = BPF_CORE_READ(mnt, mnt_parent);
		if (mnt_parent == mnt)
			goto done; /* root of the mount tree */
		w->dentry = BPF_CORE_READ(mnt, mnt_mountpoint);
		w->mnt = mnt_parent;
		w->vfsmnt = __builtin_preserve_access_index(&mnt_parent->mnt);
		return 0;
	}
	if (dentry == parent)
		goto done; /* root of a detached tree */
	len = BPF_CORE_READ(dentry, d_name.len) & AEGIS_NAME_MASK;
	name = BPF_CORE_READ(dentry, d_name.name);
	if (len + 1 > pos) {
		w->flags |= AEGIS_F_TRUNC_EXE;
		goto done;
	}
	pos -= len;
	bpf_probe_read_kernel(&w->s->walk[pos & (AEGIS_WALK_BUF - 1)], len, name);
	pos -= 1;
	w->s->walk[pos & (AEGIS_WALK_BUF - 1)] = '/';
	w->pos = pos;
	w->dentry = parent;
	return 0;
done:
	w->done = 1;
	return 1;
}

static __always_inline __u32 aegis_walk_path(struct aegis_scratch *s, struct dentry *dentry,
					     struct vfsmount *vfsmnt, __u16 *flags)
{
	struct aegis_walk_ctx w = {
		.s = s,
		.dentry = dentry,
		.vfsmnt = vfsmnt,
		.mnt = container_of(vfsmnt, struct mount, mnt),
		.pos = AEGIS_WALK_BUF - 1,
	};

	s->walk[AEGIS_WALK_BUF - 1] = 0;
	bpf_loop(AEGIS_WALK_DEPTH, aegis_walk_step, &w, 0);
	if (!w.done)
		w.flags |= AEGIS_F_PATH_PARTIAL;
	*flags |= w.flags;
	if (w.pos == AEGIS_WALK_BUF - 1) {
		w.pos -= 1;
		s->walk[AEGIS_WALK_BUF - 2] = '/';
	}
	return w.pos & (AEGIS_WALK_BUF - 1);
}

/*
 * Copy the walked path starting at @pos into @out (AEGIS_PATH_MAX bytes).
 * Keeps the tail when too long (the file name is the useful part) and flags
 * it. Returns the length without NUL.
 */
static __always_inline __u16 aegis_walk_copy(struct aegis_scratch *s, __u32 pos, char *out,
					     __u16 *flags)
{
	__u32 len = (AEGIS_WALK_BUF - 1) - pos;

	if (len > AEGIS_PATH_MAX - 1) {
		*flags |= AEGIS_F_TRUNC_EXE;
		pos = (AEGIS_WALK_BUF - 1) - (AEGIS_PATH_MAX - 1);
		len = AEGIS_PATH_MAX - 1;
	}
	/* len + 1 copies the NUL at walk[AEGIS_WALK_BUF - 1] too */
	bpf_probe_read_kernel(out, (len & AEGIS_NAME_MASK) + 1, &s->walk[pos & (AEGIS_WALK_BUF - 1)]);
	return len & AEGIS_NAME_MASK;
}

/*
 * Reading kernel objects costs one bpf_probe_read_kernel() call per field
 * with BPF_CORE_READ; on the open path that was most of the per-open cost.
 * Instead the head of each object is copied once into per-CPU scratch and
 * fields are taken from the copy at their CO-RE-relocated offsets. A field
 * beyond the copied head (a kernel with a very different layout) is read
 * directly, so the result never depends on the layout guess.
 */
#define AEGIS_PEEK(buf, obj, type, field, out)                                             \
	do {                                                                               \
		__u32 __off = bpf_core_field_offset(type, field);                          \
		if (__off + sizeof(out) <= AEGIS_PEEK_BYTES)                               \
			__builtin_memcpy(&(out), (void *)(buf) + __off, sizeof(out));      \
		else                                                                       \
			bpf_core_read(&(out), sizeof(out), &((type *)(obj))->field);       \
	} while (0)

/* What the rules need to know about an opened or executed file. */
struct aegis_file_info {
	struct aegis_inode_key key;
	struct dentry *dentry;
	struct vfsmount *mnt;
	__u32 flags; /* f_flags */
	__u32 fmode; /* f_mode */
};

/* Fill @fi from @file: three probe reads (file head, inode head, s_dev). */
static __always_inline void aegis_file_info(struct aegis_scratch *s, struct file *file,
					    struct aegis_file_info *fi)
{
	struct inode *inode = NULL;
	struct super_block *sb = NULL;
	unsigned long ino = 0;
	dev_t dev = 0;

	bpf_probe_read_kernel(s->peek, AEGIS_PEEK_BYTES, file);
	AEGIS_PEEK(s->peek, file, struct file, f_inode, inode);
	AEGIS_PEEK(s->peek, file, struct file, f_path.dentry, fi->dentry);
	AEGIS_PEEK(s->peek, file, struct file, f_path.mnt, fi->mnt);
	AEGIS_PEEK(s->peek, file, struct file, f_flags, fi->flags);
	AEGIS_PEEK(s->peek, file, struct file, f_mode, fi->fmode);

	bpf_probe_read_kernel(s->peek, AEGIS_PEEK_BYTES, inode);
	AEGIS_PEEK(s->peek, inode, struct inode, i_ino, ino);
	AEGIS_PEEK(s->peek, inode, struct inode, i_sb, sb);
	bpf_core_read(&dev, sizeof(dev), &sb->s_dev);
	fi->key.ino = ino;
	fi->key.dev = dev;
	fi->key._pad0 = 0;
}

/*
 * Look up the file rules for an opened/executed file: inode first (one hash
 * lookup), then the leaf-name pre-filter, and only when a leaf matches the
 * full path walk and deny_path lookup. When the walk happened, the resolved
 * path is left in s->key.path so the caller can put it into the record
 * without walking again (*walked = 1).
 */
static __always_inline struct aegis_rule *aegis_file_rule(struct aegis_scratch *s,
							  struct aegis_file_info *fi, int *walked)
{
	struct dentry *dentry = fi->dentry; /* a local: CO-RE must not relocate fi itself */
	struct aegis_rule *rule;
	const unsigned char *name = NULL;
	__u16 flags = 0;
	__u32 pos;

	*walked = 0;
	rule = bpf_map_lookup_elem(&deny_inode, &fi->key);
	if (rule)
		return rule;

	__builtin_memset(&s->leaf, 0, sizeof(s->leaf));
	bpf_core_read(&name, sizeof(name), &dentry->d_name.name);
	bpf_probe_read_kernel_str(s->leaf.name, sizeof(s->leaf.name), name);
	if (!bpf_map_lookup_elem(&deny_path_leaf, &s->leaf))
		return NULL;

	pos = aegis_walk_path(s, dentry, fi->mnt, &flags);
	__builtin_memset(&s->key, 0, sizeof(s->key));
	aegis_walk_copy(s, pos, s->key.path, &flags);
	*walked = 1;
	if (flags)
		return NULL; /* truncated or partial paths never match a rule */
	return bpf_map_lookup_elem(&deny_path, &s->key);
}

static __always_inline int aegis_cgroup_allowed(void)
{
	__u64 cgid = bpf_get_current_cgroup_id();

	return bpf_map_lookup_elem(&allow_cgroup, &cgid) != NULL;
}

/* The verdict for a rule hit (see aegis_enforce); sends the signal. */
static __always_inline __u8 aegis_decide(__u8 action, int can_deny, __u32 mode, __u32 tgid,
					 struct aegis_stats *st, int *deny)
{
	int sig = 0;

	if (action == AEGIS_ACT_AUDIT || action == AEGIS_ACT_NONE)
		return AEGIS_VERDICT_OBSERVED;
	if (aegis_self_tgid && tgid == aegis_self_tgid)
		return AEGIS_VERDICT_SELF;
	if (mode != AEGIS_MODE_ENFORCE)
		return AEGIS_VERDICT_AUDIT_MODE;

	switch (action) {
	case AEGIS_ACT_BLOCK:
		if (!can_deny)
			return AEGIS_VERDICT_UNENFORCEABLE;
		*deny = 1;
		return AEGIS_VERDICT_DENIED;
	case AEGIS_ACT_TERM:
		sig = AEGIS_SIGTERM;
		break;
	case AEGIS_ACT_KILL:
		sig = AEGIS_SIGKILL;
		break;
	case AEGIS_ACT_INT:
		sig = AEGIS_SIGINT;
		break;
	default:
		return AEGIS_VERDICT_OBSERVED;
	}
	*deny = can_deny;
	if (bpf_send_signal(sig)) {
		if (st)
			aegis_count(&st->signal_failures);
		return AEGIS_VERDICT_SIGNAL_FAILED;
	}
	return AEGIS_VERDICT_SIGNALLED;
}

/*
 * Decide and apply what a rule hit does. @can_deny: the hook can fail the
 * operation (LSM, cgroup). Returns the verdict; *deny is set when the hook
 * must return -EPERM (or 0 for cgroup hooks).
 *
 * Signals go to the current thread group via bpf_send_signal(); they are
 * delivered on return to user space, so in tracepoint mode the syscall in
 * flight has completed (the fd exists) by then. In LSM mode a signal action
 * also denies the operation, so nothing is read before the process dies.
 *
 * Counters: every hit in blocks[action]; in enforced[action] only the hits
 * that were enforced (denied, or signalled): an audit-mode hit, the sensor's
 * own process or a BLOCK a tracepoint cannot carry out is not a block.
 */
static __always_inline __u8 aegis_enforce(__u8 action, int can_deny, __u32 mode, __u32 tgid,
					  int *deny)
{
	struct aegis_stats *st = aegis_stats_get();
	__u8 verdict;

	*deny = 0;
	if (st)
		aegis_count(&st->blocks[action & (AEGIS_ACT_MAX - 1)]);
	verdict = aegis_decide(action, can_deny, mode, tgid, st, deny);
	if (st && (*deny || verdict == AEGIS_VERDICT_SIGNALLED))
		aegis_count(&st->enforced[action & (AEGIS_ACT_MAX - 1)]);
	return verdict;
}

/*
 * Count a hit on a policy map entry. The value is shared by all CPUs (a plain
 * hash/LPM value, not per-CPU), hence the atomic add; rule hits are rare next
 * to the events around them, so the shared cache line costs nothing measurable.
 */
static __always_inline void aegis_rule_hit(struct aegis_rule *rule)
{
	__sync_fetch_and_add(&rule->hits, 1);
}

/*
 * Build and submit a FILE record for a rule hit, and apply the action.
 * @upath: user pointer to the name the caller passed (0 if unknown).
 * Returns 1 if the hook must deny.
 */
static __always_inline int aegis_file_hit(struct aegis_scratch *s, struct aegis_file_info *fi,
					  struct aegis_rule *rule, int walked, __u8 hook,
					  int can_deny, __s32 ret, const char *upath,
					  int upath_kernel)
{
	struct aegis_file_rec *rec = &s->file;
	__u32 mode = aegis_mode();
	__u32 size;
	int deny = 0;
	long n;

	aegis_hdr_init(&rec->hdr, AEGIS_OP_FILE, 0);
	aegis_proc_fill(&rec->proc, bpf_get_current_task_btf());
	rec->ino = fi->key.ino;
	rec->dev = fi->key.dev;
	rec->open_flags = fi->flags;
	aegis_rule_hit(rule);
	rec->rule_id = rule->rule_id;
	rec->action = rule->action;
	rec->hook = hook;
	rec->mode = mode;
	rec->ret = ret;
	rec->verdict = aegis_enforce(rule->action, can_deny, mode, rec->proc.pid, &deny);
	if (rec->verdict == AEGIS_VERDICT_SELF)
		rec->hdr.flags |= AEGIS_F_SELF;

	rec->path_len = 0;
	rec->path[0] = 0;
	if (upath) {
		if (upath_kernel)
			n = bpf_probe_read_kernel_str(rec->path, sizeof(rec->path), upath);
		else
			n = bpf_probe_read_user_str(rec->path, sizeof(rec->path), upath);
		if (n > 0)
			rec->path_len = (n - 1) & AEGIS_NAME_MASK;
		if (n == sizeof(rec->path))
			rec->hdr.flags |= AEGIS_F_TRUNC_FILENAME;
	}

	if (walked) {
		/* s->key.path holds the walked path, NUL padded */
		n = bpf_probe_read_kernel_str(rec->resolved, sizeof(rec->resolved), s->key.path);
		rec->resolved_len = n > 0 ? (n - 1) & AEGIS_NAME_MASK : 0;
	} else {
		__u32 pos = aegis_walk_path(s, fi->dentry, fi->mnt, &rec->hdr.flags);

		rec->resolved_len = aegis_walk_copy(s, pos, rec->resolved, &rec->hdr.flags);
	}

	size = offsetof(struct aegis_file_rec, resolved) + rec->resolved_len + 1;
	if (size > sizeof(*rec))
		size = sizeof(*rec);
	rec->hdr.size = size;
	aegis_submit(rec, size, AEGIS_OP_FILE);
	return deny;
}

#endif /* AEGIS_CORE_H */

// SPDX-License-Identifier: GPL-2.0-only
/*
 * connect: cgroup/connect4 and cgroup/connect6.
 *
 * Why these hooks: they run in the connecting task's context for every
 * connect() (TCP, and UDP connect) of a socket whose owner is in the cgroup
 * subtree they are attached to, with the destination already parsed, and
 * returning 0 fails connect() with EPERM. They need no BPF LSM, so network
 * BLOCK works in both modes. Every connect is reported (rodata
 * aegis_connect_all) as an audit trail, rule hits carry the rule and action.
 *
 * Signals are not available to cgroup programs (bpf_send_signal is a tracing
 * helper), so network rules support AUDIT and BLOCK; the policy loader
 * refuses TERM/KILL/INT on network rules.
 */
#include "aegis_core.h"

#define AEGIS_AF_INET 2
#define AEGIS_AF_INET6 10


static __always_inline struct aegis_rule *lookup_port(__u16 port, __u8 proto)
{
	struct aegis_port_key pk = { .port = port, .protocol = proto };
	struct aegis_rule *rule = bpf_map_lookup_elem(&net_port, &pk);

	if (rule)
		return rule;
	pk.protocol = 0;
	return bpf_map_lookup_elem(&net_port, &pk);
}

static __always_inline struct aegis_rule *lookup_addr_port(struct aegis_addr_port_key *ak)
{
	struct aegis_rule *rule = bpf_map_lookup_elem(&net_addr_port, ak);

	if (rule)
		return rule;
	ak->protocol = 0;
	return bpf_map_lookup_elem(&net_addr_port, ak);
}

/* Common tail: decide, report, return 1 (allow) or 0 (deny, EPERM). */
static __always_inline int connect_finish(struct bpf_sock_addr *ctx, struct aegis_net_rec *rec,
					  struct aegis_rule *rule)
{
	__u32 mode = aegis_mode();
	int deny = 0;

	if (rule && aegis_cgroup_allowed())
		rule = NULL;
	if (!rule && !aegis_connect_all)
		return 1;

	aegis_hdr_init(&rec->hdr, AEGIS_OP_CONNECT, sizeof(*rec));
	aegis_proc_fill_probe(&rec->proc);
	rec->protocol = ctx->protocol;
	rec->mode = mode;
	if (rule) {
		aegis_rule_hit(rule);
		rec->rule_id = rule->rule_id;
		rec->action = rule->action;
		rec->verdict = aegis_enforce(rule->action, 1, mode, rec->proc.pid, &deny);
	} else {
		rec->rule_id = 0;
		rec->action = AEGIS_ACT_NONE;
		rec->verdict = AEGIS_VERDICT_OBSERVED;
	}
	aegis_submit(rec, sizeof(*rec), AEGIS_OP_CONNECT);
	if (deny) {
		struct aegis_stats *st = aegis_stats_get();

		if (st)
			aegis_count(&st->net_connect_denied);
	}
	return deny ? 0 : 1;
}

static __always_inline void local_tuple(struct bpf_sock_addr *ctx, struct aegis_net_rec *rec,
					int v6)
{
	struct bpf_sock *sk = ctx->sk;

	if (!sk)
		return;
	rec->local_port = sk->src_port;
	if (v6) {
		__u32 *dst = (__u32 *)rec->local_ip;

		dst[0] = sk->src_ip6[0];
		dst[1] = sk->src_ip6[1];
		dst[2] = sk->src_ip6[2];
		dst[3] = sk->src_ip6[3];
	} else {
		*(__u32 *)rec->local_ip = sk->src_ip4;
	}
}

SEC("cgroup/connect4")
int aegis_connect4(struct bpf_sock_addr *ctx)
{
	struct aegis_scratch *s = aegis_scratch_get();
	struct aegis_net_rec *rec;
	struct aegis_addr_port_key ak = {};
	struct aegis_v4_lpm_key lk = { .prefixlen = 32 };
	struct aegis_rule *rule;
	__u32 ip = ctx->user_ip4;
	__u16 port = bpf_ntohs((__u16)ctx->user_port);
	__u8 proto = ctx->protocol;

	if (!s)
		return 1;
	rec = &s->net;
	__builtin_memset(rec, 0, sizeof(*rec));
	rec->family = AEGIS_AF_INET;
	rec->hook = AEGIS_HOOK_CGROUP_CONNECT4;
	rec->remote_port = port;
	*(__u32 *)rec->remote_ip = ip;
	local_tuple(ctx, rec, 0);

	ak.family = AEGIS_AF_INET;
	ak.protocol = proto;
	ak.port = port;
	*(__u32 *)ak.addr = ip;
	rule = lookup_addr_port(&ak);
	if (!rule)
		rule = lookup_port(port, proto);
	if (!rule) {
		*(__u32 *)lk.addr = ip;
		rule = bpf_map_lookup_elem(&net_v4_lpm, &lk);
	}
	return connect_finish(ctx, rec, rule);
}

SEC("cgroup/connect6")
int aegis_connect6(struct bpf_sock_addr *ctx)
{
	struct aegis_scratch *s = aegis_scratch_get();
	struct aegis_net_rec *rec;
	struct aegis_addr_port_key ak = {};
	struct aegis_v6_lpm_key lk = { .prefixlen = 128 };
	struct aegis_rule *rule;
	__u16 port = bpf_ntohs((__u16)ctx->user_port);
	__u8 proto = ctx->protocol;
	__u32 *r;
	__u32 *a = (__u32 *)ak.addr;
	__u32 *l = (__u32 *)lk.addr;

	if (!s)
		return 1;
	rec = &s->net;
	__builtin_memset(rec, 0, sizeof(*rec));
	r = (__u32 *)rec->remote_ip;
	/* ctx->user_ip6 must be read with 4-byte loads */
	r[0] = a[0] = l[0] = ctx->user_ip6[0];
	r[1] = a[1] = l[1] = ctx->user_ip6[1];
	r[2] = a[2] = l[2] = ctx->user_ip6[2];
	r[3] = a[3] = l[3] = ctx->user_ip6[3];
	rec->family = AEGIS_AF_INET6;
	rec->hook = AEGIS_HOOK_CGROUP_CONNECT6;
	rec->remote_port = port;
	local_tuple(ctx, rec, 1);

	ak.family = AEGIS_AF_INET6;
	ak.protocol = proto;
	ak.port = port;
	/* ::ffff:a.b.c.d is an IPv4 connect from a dual-stack socket: IPv4 rules apply */
	if (r[0] == 0 && r[1] == 0 && r[2] == bpf_htonl(0x0000ffff)) {
		struct aegis_v4_lpm_key lk4 = { .prefixlen = 32 };

		__builtin_memset(&ak, 0, sizeof(ak));
		ak.family = AEGIS_AF_INET;
		ak.protocol = proto;
		ak.port = port;
		*(__u32 *)ak.addr = r[3];
		rule = lookup_addr_port(&ak);
		if (!rule)
			rule = lookup_port(port, proto);
		if (!rule) {
			*(__u32 *)lk4.addr = r[3];
			rule = bpf_map_lookup_elem(&net_v4_lpm, &lk4);
		}
		return connect_finish(ctx, rec, rule);
	}
	rule = lookup_addr_port(&ak);
	if (!rule)
		rule = lookup_port(port, proto);
	if (!rule)
		rule = bpf_map_lookup_elem(&net_v6_lpm, &lk);
	return connect_finish(ctx, rec, rule);
}

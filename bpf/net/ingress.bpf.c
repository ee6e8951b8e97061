// SPDX-License-Identifier: GPL-2.0-only
/*
 * ingress: drop inbound packets whose source address is on the `in`
 * blocklist (net_in_v4_lpm / net_in_v6_lpm), counting every packet seen as
 * PASS or DROP in aegis_pkt_stats.
 *
 * Two attachments of the same decision, user space picks one at start
 * (src/sensor/bpf-object.ts): XDP on the configured interfaces (earliest
 * point, no skb allocated for a dropped packet), or cgroup_skb/ingress on the
 * cgroup v2 root when XDP cannot load or attach (it sees only packets
 * delivered to local sockets, after the skb exists).
 *
 * No event per packet: a flood from a blocked address would flood the ring.
 * Rule hit counters (aegis_rule.hits) and the packet counters carry it.
 * The rule's action decides: BLOCK drops in enforce mode, everything else
 * (AUDIT, or audit mode) passes and counts the hit. On XDP, Ethernet frames
 * are parsed through up to two VLAN tags (802.1Q, and 802.1ad QinQ outer
 * tags), so a tagged frame from a blocked address is dropped too; a deeper
 * stack passes (counted as PASS).
 */
#include "aegis_core.h"

#define AEGIS_ETH_P_IP 0x0800
#define AEGIS_ETH_P_IPV6 0x86DD
#define AEGIS_ETH_HLEN 14
#define AEGIS_ETH_P_8021Q 0x8100
#define AEGIS_ETH_P_8021AD 0x88A8
#define AEGIS_VLAN_MAX_DEPTH 2

/* One VLAN tag after the MAC addresses: TCI, then the next EtherType. */
struct aegis_vlan_hdr {
	__be16 tci;
	__be16 proto;
};

static __always_inline void pkt_count(__u32 slot)
{
	__u64 *n = bpf_map_lookup_elem(&aegis_pkt_stats, &slot);

	if (n)
		*n += 1; /* per-CPU slot: no atomic needed */
}

/* Returns 1 when the packet must be dropped. */
static __always_inline int ingress_decide(struct aegis_rule *rule)
{
	int drop = 0;

	if (rule) {
		aegis_rule_hit(rule);
		drop = rule->action == AEGIS_ACT_BLOCK && aegis_mode() == AEGIS_MODE_ENFORCE;
	}
	pkt_count(drop ? AEGIS_PKT_DROP : AEGIS_PKT_PASS);
	return drop;
}

static __always_inline struct aegis_rule *lookup_v4(__u32 saddr)
{
	struct aegis_v4_lpm_key k = { .prefixlen = 32 };

	*(__u32 *)k.addr = saddr;
	return bpf_map_lookup_elem(&net_in_v4_lpm, &k);
}

/* The rule for an XDP frame's source address; NULL for anything else (short, more than two VLAN tags, not IP). */
static __always_inline struct aegis_rule *xdp_rule(struct xdp_md *ctx)
{
	void *data = (void *)(long)ctx->data;
	void *end = (void *)(long)ctx->data_end;
	struct ethhdr *eth = data;
	void *l3;
	__be16 proto;

	if ((void *)(eth + 1) > end)
		return NULL;
	l3 = eth + 1;
	proto = eth->h_proto;
#pragma unroll
	for (int i = 0; i < AEGIS_VLAN_MAX_DEPTH; i++) {
		struct aegis_vlan_hdr *vh = l3;

		if (proto != bpf_htons(AEGIS_ETH_P_8021Q) && proto != bpf_htons(AEGIS_ETH_P_8021AD))
			break;
		if ((void *)(vh + 1) > end)
			return NULL;
		proto = vh->proto;
		l3 = vh + 1;
	}
	if (proto == bpf_htons(AEGIS_ETH_P_IP)) {
		struct iphdr *ip = l3;

		if ((void *)(ip + 1) > end)
			return NULL;
		return lookup_v4(ip->saddr);
	}
	if (proto == bpf_htons(AEGIS_ETH_P_IPV6)) {
		struct ipv6hdr *ip6 = l3;
		struct aegis_v6_lpm_key k = { .prefixlen = 128 };

		if ((void *)(ip6 + 1) > end)
			return NULL;
		__builtin_memcpy(k.addr, &ip6->saddr, sizeof(k.addr));
		return bpf_map_lookup_elem(&net_in_v6_lpm, &k);
	}
	return NULL;
}

/* Every frame is counted, PASS or DROP. */
SEC("xdp")
int aegis_ingress_xdp(struct xdp_md *ctx)
{
	return ingress_decide(xdp_rule(ctx)) ? XDP_DROP : XDP_PASS;
}

/* cgroup_skb: data starts at the network header. */
static __always_inline struct aegis_rule *skb_rule(struct __sk_buff *skb)
{
	if (skb->protocol == bpf_htons(AEGIS_ETH_P_IP)) {
		__u32 saddr;

		if (bpf_skb_load_bytes(skb, offsetof(struct iphdr, saddr), &saddr, sizeof(saddr)))
			return NULL;
		return lookup_v4(saddr);
	}
	if (skb->protocol == bpf_htons(AEGIS_ETH_P_IPV6)) {
		struct aegis_v6_lpm_key k = { .prefixlen = 128 };

		if (bpf_skb_load_bytes(skb, offsetof(struct ipv6hdr, saddr), k.addr, sizeof(k.addr)))
			return NULL;
		return bpf_map_lookup_elem(&net_in_v6_lpm, &k);
	}
	return NULL;
}

/* 1 = pass, 0 = drop; every packet is counted. */
SEC("cgroup_skb/ingress")
int aegis_ingress_skb(struct __sk_buff *skb)
{
	return ingress_decide(skb_rule(skb)) ? 0 : 1;
}

// SPDX-License-Identifier: GPL-2.0
/* A corpus-sized XDP program for the JIT's start-up benchmark (benchmarks/bench_jit_start.py):
 * an unrolled packet filter (NRULES rules on the 5-tuple, each with its own counters), a DHCP
 * relay's option walk (unrolled) and per-flow state in a hash map.  Many branches, helpers and
 * maps, as the packet filters and DHCP relays of public XDP projects are.  NRULES sets its size;
 * rules.h (RULE(0); ... RULE(NRULES - 1);) is written by the benchmark.  SALT changes one constant,
 * so that each build is a program the JIT has not translated before (a cold translation).
 */
#include <linux/bpf.h>
#include <linux/if_ether.h>
#include <linux/in.h>
#include <linux/ip.h>
#include <linux/udp.h>
#include <linux/tcp.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_endian.h>

#ifndef NRULES
#define NRULES 48
#endif
#ifndef SALT
#define SALT 0
#endif
#ifndef NOPTS
#define NOPTS 16
#endif

struct flow { __u32 saddr, daddr; __u16 sport, dport; __u8 proto, pad[3]; };
struct fstate { __u64 pkts, bytes; __u32 verdict, last_rule; };

struct { __uint(type, BPF_MAP_TYPE_HASH); __uint(max_entries, 256);
	__type(key, struct flow); __type(value, struct fstate); } flows SEC(".maps");
struct { __uint(type, BPF_MAP_TYPE_PERCPU_ARRAY); __uint(max_entries, NRULES + 1);
	__type(key, __u32); __type(value, __u64); } hits SEC(".maps");
struct { __uint(type, BPF_MAP_TYPE_ARRAY); __uint(max_entries, 8);
	__type(key, __u32); __type(value, __u32); } relay SEC(".maps");

static __always_inline void hit(__u32 rule)
{
	__u64 *c = bpf_map_lookup_elem(&hits, &rule);
	if (c)
		*c += 1;
}

#define RULE(i) do { \
	if ((f.proto == ((i) % 3 == 0 ? 6 : 17)) && \
	    ((f.dport ^ bpf_htons(1000 + (i) * 7)) & 0xfff0) == 0 && \
	    ((f.saddr & bpf_htonl(0xffffff00)) == bpf_htonl(0x0a000000 + ((i) << 8)) || (i) % 5 == 0) && \
	    (f.sport > (i) * 11)) { \
		hit(i); \
		verdict = (i) % 4 == 0 ? XDP_DROP : XDP_PASS; \
		rule = (i); \
		goto matched; \
	} } while (0)

static __always_inline int dhcp_relay(struct xdp_md *ctx, void *data, void *data_end, struct udphdr *udp)
{
	__u8 *p = (void *)(udp + 1) + 240;         /* BOOTP header + magic cookie */
	__u32 k = SALT & 7, *gw;
	int type = 0;

#pragma unroll
	for (int i = 0; i < NOPTS; i++) {
		if ((void *)(p + 2) > data_end)
			break;
		if (p[0] == 255)
			break;
		if (p[0] == 0) {
			p += 1;
			continue;
		}
		if (p[0] == 53 && (void *)(p + 3) <= data_end)
			type = p[2];
		if (p[0] == 82)
			return XDP_DROP;           /* already relayed */
		p += 2 + p[1];
	}
	gw = bpf_map_lookup_elem(&relay, &k);
	if (!gw || !*gw)
		return XDP_PASS;
	if (type == 1 || type == 3) {
		struct iphdr *ip = data + sizeof(struct ethhdr);
		if ((void *)(ip + 1) > data_end)
			return XDP_ABORTED;
		ip->daddr = *gw;
		udp->check = 0;
		return XDP_TX;
	}
	return XDP_PASS;
}

SEC("xdp")
int xdp_bigfilter(struct xdp_md *ctx)
{
	void *data = (void *)(long)ctx->data;
	void *data_end = (void *)(long)ctx->data_end;
	struct ethhdr *eth = data;
	struct iphdr *ip;
	struct flow f = {};
	struct fstate *st, nst = {};
	__u32 verdict = XDP_PASS, rule = NRULES;

	if ((void *)(eth + 1) > data_end)
		return XDP_DROP;
	if (eth->h_proto != bpf_htons(ETH_P_IP))
		return XDP_PASS;
	ip = (void *)(eth + 1);
	if ((void *)(ip + 1) > data_end || ip->ihl != 5)
		return XDP_DROP;
	f.saddr = ip->saddr;
	f.daddr = ip->daddr;
	f.proto = ip->protocol;
	if (ip->protocol == IPPROTO_UDP) {
		struct udphdr *udp = (void *)(ip + 1);
		if ((void *)(udp + 1) > data_end)
			return XDP_DROP;
		f.sport = udp->source;
		f.dport = udp->dest;
		if (udp->dest == bpf_htons(67))
			return dhcp_relay(ctx, data, data_end, udp);
	} else if (ip->protocol == IPPROTO_TCP) {
		struct tcphdr *tcp = (void *)(ip + 1);
		if ((void *)(tcp + 1) > data_end)
			return XDP_DROP;
		f.sport = tcp->source;
		f.dport = tcp->dest;
		if (tcp->syn && tcp->fin)
			return XDP_DROP;
	}
	st = bpf_map_lookup_elem(&flows, &f);
	if (st) {
		st->pkts++;
		st->bytes += data_end - data;
		return st->verdict;
	}
#include "rules.h"
	hit(NRULES);
matched:
	nst.pkts = 1;
	nst.bytes = data_end - data;
	nst.verdict = verdict;
	nst.last_rule = rule;
	bpf_map_update_elem(&flows, &f, &nst, BPF_ANY);
	return verdict;
}

char _license[] SEC("license") = "GPL";

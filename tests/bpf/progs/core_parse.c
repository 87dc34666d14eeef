// SPDX-License-Identifier: GPL-2.0
/* CO-RE test program: a packet parser built against a vmlinux.h-style header
 * (vmlinux_min.h): every header field access is a CO-RE relocation (byte offsets on
 * xdp_md, ethhdr, iphdr, ipv6hdr, tcphdr, udphdr; bitfields through BPF_CORE_READ_BITFIELD:
 * byte size, left/right shifts, signedness; field and enum existence).  Counts
 * what it sees per protocol, keeps the last TCP data offset and flags, drops TCP SYNs to port 22.
 */
#include "vmlinux_min.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_core_read.h>
#include <bpf/bpf_endian.h>

#define ETH_P_IP 0x0800
#define ETH_P_IPV6 0x86DD

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__type(key, __u32);
	__type(value, __u64);
	__uint(max_entries, 8);
} seen SEC(".maps");

static __always_inline void count(__u32 k, __u64 add)
{
	__u64 *v = bpf_map_lookup_elem(&seen, &k);

	if (v)
		*v += add;
}

SEC("xdp")
int xdp_core_parse(struct xdp_md *ctx)
{
	void *data = (void *)(long)ctx->data;
	void *data_end = (void *)(long)ctx->data_end;
	struct ethhdr *eth = data;
	__u8 proto;
	void *l4;

	if ((void *)(eth + 1) > data_end)
		return XDP_ABORTED;
	if (eth->h_proto == bpf_htons(ETH_P_IP)) {
		struct iphdr *ip = (void *)(eth + 1);

		if ((void *)(ip + 1) > data_end)
			return XDP_DROP;
		if (BPF_CORE_READ_BITFIELD(ip, version) != 4)
			return XDP_DROP;
		count(0, 1);
		count(5, bpf_ntohl(ip->saddr) & 0xff);
		proto = ip->protocol;
		l4 = (void *)ip + BPF_CORE_READ_BITFIELD(ip, ihl) * 4;
	} else if (eth->h_proto == bpf_htons(ETH_P_IPV6)) {
		struct ipv6hdr *ip6 = (void *)(eth + 1);

		if ((void *)(ip6 + 1) > data_end)
			return XDP_DROP;
		count(1, 1);
		count(6, ip6->daddr.in6_u.u6_addr8[15]);
		proto = ip6->nexthdr;
		l4 = ip6 + 1;
	} else {
		return XDP_PASS;
	}
	if (proto == 6) {
		struct tcphdr *tcp = l4;

		if ((void *)(tcp + 1) > data_end)
			return XDP_PASS;
		count(2, 1);
		count(7, BPF_CORE_READ_BITFIELD(tcp, doff));
		if (BPF_CORE_READ_BITFIELD(tcp, syn) && tcp->dest == bpf_htons(22))
			return XDP_DROP;
	} else if (proto == 17) {
		struct udphdr *udp = l4;

		if ((void *)(udp + 1) > data_end)
			return XDP_PASS;
		count(3, bpf_ntohs(udp->len));
	}
	if (bpf_core_field_exists(ctx->egress_ifindex) && bpf_core_enum_value_exists(enum xdp_action, XDP_REDIRECT))
		count(4, 1);
	return XDP_PASS;
}

char _license[] SEC("license") = "GPL";

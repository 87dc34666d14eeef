// SPDX-License-Identifier: GPL-2.0
/* Reference solution, chapter 04, cpu_ex2: software RPS with a CPUMAP.  The CPU comes from a hash
 * of the flow's 5-tuple (addresses, protocol, ports), so a flow always lands on the same CPU and
 * its kthread delivers it in order; different flows spread over both CPUs. */
#include <linux/bpf.h>
#include <linux/if_ether.h>
#include <linux/ip.h>
#include <linux/in.h>
#include <linux/udp.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_endian.h>

struct {
	__uint(type, BPF_MAP_TYPE_CPUMAP);
	__type(key, __u32);
	__type(value, struct bpf_cpumap_val);
	__uint(max_entries, 2);		/* ESPRESSObin: 2 x Cortex-A53 */
} cpu_map SEC(".maps");

SEC("xdp")
int xdp_rps(struct xdp_md *ctx)
{
	void *data = (void *)(long)ctx->data;
	void *data_end = (void *)(long)ctx->data_end;
	struct ethhdr *eth = data;
	struct iphdr *iph = data + sizeof(*eth);
	struct udphdr *udp = (void *)(iph + 1);	/* no IP options: ihl 5 */
	__u32 hash;

	if ((void *)(udp + 1) > data_end || eth->h_proto != bpf_htons(ETH_P_IP))
		return bpf_redirect_map(&cpu_map, 0, 0);
	hash = iph->saddr ^ iph->daddr ^ iph->protocol;
	if (iph->protocol == IPPROTO_UDP || iph->protocol == IPPROTO_TCP)
		hash ^= udp->source ^ ((__u32)udp->dest << 16);	/* TCP's ports sit at the same offsets */
	hash ^= hash >> 16;
	hash ^= hash >> 8;
	return bpf_redirect_map(&cpu_map, hash & 1, 0);
}

char _license[] SEC("license") = "GPL";

// SPDX-License-Identifier: GPL-2.0
/* ssh-mirror, from the talk: a TCP segment to or from port 22 goes straight back
 * where it came from (MACs and IPv4 addresses swapped, XDP_TX); everything else
 * goes up the stack (XDP_PASS).
 */
#include <linux/bpf.h>
#include <linux/if_ether.h>
#include <linux/in.h>
#include <linux/ip.h>
#include <linux/tcp.h>
#include <bpf/bpf_endian.h>
#include <bpf/bpf_helpers.h>

SEC("xdp")
int ssh_mirror(struct xdp_md *ctx)
{
	void *data = (void *)(long)ctx->data;
	void *data_end = (void *)(long)ctx->data_end;
	struct ethhdr *eth = data;
	struct iphdr *iph = data + sizeof(*eth);
	struct tcphdr *tcph = data + sizeof(*eth) + sizeof(*iph);
	unsigned char mac[ETH_ALEN];
	__be32 addr;

	/* the verifier insists: prove every header is inside the packet */
	if ((void *)(tcph + 1) > data_end)
		return XDP_PASS;
	if (eth->h_proto != bpf_htons(ETH_P_IP) || iph->ihl != 5 || iph->protocol != IPPROTO_TCP)
		return XDP_PASS;
	if (tcph->source != bpf_htons(22) && tcph->dest != bpf_htons(22))
		return XDP_PASS;

	__builtin_memcpy(mac, eth->h_dest, ETH_ALEN);
	__builtin_memcpy(eth->h_dest, eth->h_source, ETH_ALEN);
	__builtin_memcpy(eth->h_source, mac, ETH_ALEN);
	addr = iph->saddr;
	iph->saddr = iph->daddr;
	iph->daddr = addr;
	return XDP_TX;
}

char _license[] SEC("license") = "GPL";

// SPDX-License-Identifier: GPL-2.0
/* Software RPS with a CPUMAP, in the manner of xdp-bench redirect-cpu: the XDP program on
 * CPU 0 (every RX interrupt of the ESPRESSObin) picks a CPU and redirects the frame there; a
 * kthread on that CPU builds the skb, optionally after an xdp/cpumap program of its own.
 *
 * cpus_available[0 .. cpus_count-1] are the CPUs to spread over (user space fills them).
 */
#include <linux/bpf.h>
#include <linux/if_ether.h>
#include <linux/ip.h>
#include <linux/in.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_endian.h>

struct {
	__uint(type, BPF_MAP_TYPE_CPUMAP);
	__type(key, __u32);
	__type(value, struct bpf_cpumap_val);
	__uint(max_entries, 2);		/* ESPRESSObin: 2 x Cortex-A53 */
} cpu_map SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__type(key, __u32);
	__type(value, __u32);
	__uint(max_entries, 2);
} cpus_available SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__type(key, __u32);
	__type(value, __u32);
	__uint(max_entries, 1);
} cpus_count SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__type(key, __u32);
	__type(value, __u32);
	__uint(max_entries, 1);
} rr_next SEC(".maps");

const volatile __u32 tx_ifindex = 2;	/* eth0: where cpumap_redirect sends frames back out */

static __always_inline int redirect_to_slot(__u32 slot)
{
	__u32 *cpu = bpf_map_lookup_elem(&cpus_available, &slot);

	if (!cpu)
		return XDP_ABORTED;
	return bpf_redirect_map(&cpu_map, *cpu, 0);
}

static __always_inline __u32 ncpus(void)
{
	__u32 zero = 0, *n = bpf_map_lookup_elem(&cpus_count, &zero);

	return (n && *n) ? *n : 1;
}

/* every frame to cpus_available[0] (xdp-bench -m no-touch) */
SEC("xdp")
int redirect_cpu_fixed(struct xdp_md *ctx)
{
	return redirect_to_slot(0);
}

/* the CPU from a hash of the flow's 5-tuple (xdp-bench -m l4-hash): a flow stays on one CPU */
SEC("xdp")
int redirect_cpu_hash(struct xdp_md *ctx)
{
	void *data = (void *)(long)ctx->data;
	void *data_end = (void *)(long)ctx->data_end;
	struct ethhdr *eth = data;
	struct iphdr *iph = data + sizeof(*eth);
	__u32 hash, *ports;

	if ((void *)(iph + 1) > data_end || eth->h_proto != bpf_htons(ETH_P_IP))
		return redirect_to_slot(0);
	hash = iph->saddr ^ iph->daddr ^ iph->protocol;
	ports = (void *)(iph + 1);
	if ((iph->protocol == IPPROTO_UDP || iph->protocol == IPPROTO_TCP) && (void *)(ports + 1) <= data_end)
		hash ^= *ports;
	hash ^= hash >> 16;
	hash *= 0x9E3779B1;
	hash ^= hash >> 15;
	return redirect_to_slot(hash % ncpus());
}

/* frame after frame over the CPUs (xdp-bench -m round-robin): spreads evenly, reorders flows */
SEC("xdp")
int redirect_cpu_round_robin(struct xdp_md *ctx)
{
	__u32 zero = 0, *next = bpf_map_lookup_elem(&rr_next, &zero), slot;

	if (!next)
		return XDP_ABORTED;
	slot = *next % ncpus();
	*next += 1;
	return redirect_to_slot(slot);
}

SEC("xdp/cpumap")
int cpumap_pass(struct xdp_md *ctx)
{
	return XDP_PASS;
}

SEC("xdp/cpumap")
int cpumap_drop(struct xdp_md *ctx)
{
	return XDP_DROP;
}

/* --remote-action redirect: back out of eth0 */
SEC("xdp/cpumap")
int cpumap_redirect(struct xdp_md *ctx)
{
	return bpf_redirect(tx_ifindex, 0);
}

/* not an action a CPUMAP program may return: dropped, with bpf_warn_invalid_xdp_action's warning */
SEC("xdp/cpumap")
int cpumap_tx(struct xdp_md *ctx)
{
	return XDP_TX;
}

/* reads past the packet without a bounds check: the kernel's verifier would refuse it; the lab's
 * VM stops the run (a fault, handled as XDP_ABORTED) */
SEC("xdp/cpumap")
int cpumap_oob_read(struct xdp_md *ctx)
{
	return *(volatile __u8 *)(long)(ctx->data + 4000) ? XDP_PASS : XDP_DROP;
}

char _license[] SEC("license") = "GPL";

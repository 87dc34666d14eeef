// SPDX-License-Identifier: GPL-2.0
/* Packet-capture style test program: for every frame, a perf event record of a small
 * header (ifindex, frame length, EtherType) followed by up to the first 64 bytes of the
 * frame (flags: BPF_F_CURRENT_CPU | size << 32), as xdpdump and the tracing tools do.
 * The helper's return value is counted per value in `rets`.
 */
#include <linux/bpf.h>
#include <linux/if_ether.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_endian.h>

struct {
	__uint(type, BPF_MAP_TYPE_PERF_EVENT_ARRAY);
	__uint(key_size, sizeof(int));
	__uint(value_size, sizeof(int));
} events SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__type(key, __s64);
	__type(value, __u64);
	__uint(max_entries, 16);
} rets SEC(".maps");

struct meta {
	__u32 ifindex;
	__u16 len;
	__u16 proto;
};

SEC("xdp")
int xdp_capture(struct xdp_md *ctx)
{
	void *data = (void *)(long)ctx->data;
	void *data_end = (void *)(long)ctx->data_end;
	struct ethhdr *eth = data;
	struct meta m = {};
	__u64 len = data_end - data;
	__u64 one = 1, *c;
	__s64 ret;

	if ((void *)(eth + 1) > data_end)
		return XDP_PASS;
	m.ifindex = ctx->ingress_ifindex;
	m.len = len;
	m.proto = bpf_ntohs(eth->h_proto);
	if (len > 64)
		len = 64;
	ret = bpf_perf_event_output(ctx, &events, BPF_F_CURRENT_CPU | (len << 32), &m, sizeof(m));
	c = bpf_map_lookup_elem(&rets, &ret);
	if (c)
		__sync_fetch_and_add(c, 1);
	else
		bpf_map_update_elem(&rets, &ret, &one, BPF_ANY);
	return XDP_PASS;
}

char _license[] SEC("license") = "GPL";

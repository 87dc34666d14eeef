// SPDX-License-Identifier: GPL-2.0
/* Map-in-map test program (a load balancer's shape): the frame's first byte picks a
 * backend table in an ARRAY_OF_MAPS (two slots set in the object, as libbpf sets them),
 * the second byte a counter in it; the third byte looks a table up in a HASH_OF_MAPS filled
 * from user space.  A missing table drops the frame.
 */
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

struct inner_map {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__type(key, __u32);
	__type(value, __u64);
	__uint(max_entries, 4);
} inner_a SEC(".maps"), inner_b SEC(".maps"), inner_c SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY_OF_MAPS);
	__uint(max_entries, 4);
	__type(key, __u32);
	__array(values, struct inner_map);
} outer SEC(".maps") = {
	.values = { [0] = &inner_a, [2] = &inner_b },
};

struct {
	__uint(type, BPF_MAP_TYPE_HASH_OF_MAPS);
	__uint(max_entries, 8);
	__type(key, __u32);
	__array(values, struct inner_map);
} by_key SEC(".maps");

SEC("xdp")
int xdp_map_in_map(struct xdp_md *ctx)
{
	void *data = (void *)(long)ctx->data;
	void *data_end = (void *)(long)ctx->data_end;
	__u8 *b = data;
	__u32 k, slot;
	__u64 *v;
	void *inner;

	if (data + 3 > data_end)
		return XDP_PASS;
	k = b[0] & 3;
	slot = b[1] & 3;
	inner = bpf_map_lookup_elem(&outer, &k);
	if (!inner)
		return XDP_DROP;
	v = bpf_map_lookup_elem(inner, &slot);
	if (v)
		*v += 1;
	k = b[2];
	inner = bpf_map_lookup_elem(&by_key, &k);
	if (inner) {
		v = bpf_map_lookup_elem(inner, &slot);
		if (v)
			*v += 100;
		return XDP_TX;
	}
	return XDP_PASS;
}

char _license[] SEC("license") = "GPL";

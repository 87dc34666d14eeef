// SPDX-License-Identifier: GPL-2.0
/* HASH / PERCPU_HASH / LRU_HASH driven by the frame: byte 0 picks the operation,
 * bytes 1..4 the key, byte 5 the update flags (BPF_ANY/NOEXIST/EXIST or bad ones).
 * Return codes and values go to an array map so they can be compared with the kernel.
 */
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__type(key, __u32);
	__type(value, __u64);
	__uint(max_entries, 16);
} h SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_HASH);
	__type(key, __u32);
	__type(value, __u64);
	__uint(max_entries, 16);
} ph SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__type(key, __u32);
	__type(value, __u64);
	__uint(max_entries, 64);
} lru SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__type(key, __u32);
	__type(value, __s64);
	__uint(max_entries, 4);
} out SEC(".maps");

SEC("xdp")
int xdp_hashmaps(struct xdp_md *ctx)
{
	void *data = (void *)(long)ctx->data;
	void *data_end = (void *)(long)ctx->data_end;
	__u8 *b = data;
	__u32 key, k0 = 0, k1 = 1;
	__u64 val, *v;
	__s64 r = -1000, *o;
	void *map;

	if (data + 14 > data_end)
		return XDP_ABORTED;
	key = b[1] & 31;
	val = b[6] | ((__u64)b[7] << 8);
	switch (b[2] % 3) {
	case 0: map = &h; break;
	case 1: map = &ph; break;
	default: map = &lru; break;
	}
	switch (b[0] % 4) {
	case 0:
		r = bpf_map_update_elem(map, &key, &val, b[5] & 7);
		break;
	case 1:
		r = bpf_map_delete_elem(map, &key);
		break;
	case 2:
		v = bpf_map_lookup_elem(map, &key);
		if (v) {
			*v += val;
			r = *v;
		}
		break;
	default:
		v = bpf_map_lookup_elem(map, &key);
		r = v ? 1 : 0;
		break;
	}
	o = bpf_map_lookup_elem(&out, &k0);
	if (o)
		*o = r;
	o = bpf_map_lookup_elem(&out, &k1);
	if (o)
		*o += 1;
	return XDP_PASS;
}

char _license[] SEC("license") = "GPL";

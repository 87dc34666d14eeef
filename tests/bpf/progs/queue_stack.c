// SPDX-License-Identifier: GPL-2.0
/* BPF_MAP_TYPE_QUEUE and BPF_MAP_TYPE_STACK with bpf_map_push_elem / _pop_elem / _peek_elem.
 * Byte 0 of the frame picks the operation (push, pop, peek on the queue, then on the stack,
 * then a pop of the queue into out[1], a map value), bytes 1..8 the value pushed, byte 9 the push flags
 * (BPF_ANY, BPF_NOEXIST, BPF_EXIST, or a bad one).  The return code goes to out[0], the value
 * pop/peek wrote (zeroed by the kernel when the map is empty) to out[1].
 */
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

struct {
	__uint(type, BPF_MAP_TYPE_QUEUE);
	__type(value, __u64);
	__uint(max_entries, 4);
} q SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_STACK);
	__uint(value_size, 8);
	__uint(max_entries, 3);
} s SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__type(key, __u32);
	__type(value, __s64);
	__uint(max_entries, 2);
} out SEC(".maps");

static __always_inline void put(__u32 i, __s64 v)
{
	__s64 *o = bpf_map_lookup_elem(&out, &i);

	if (o)
		*o = v;
}

SEC("xdp")
int xdp_queue_stack(struct xdp_md *ctx)
{
	void *data = (void *)(long)ctx->data;
	void *data_end = (void *)(long)ctx->data_end;
	__u8 *b = data;
	__u64 val = 0xdeadbeefcafef00dULL;
	long r = -1000;
	void *map;

	if (data + 24 > data_end)
		return XDP_PASS;
	map = (b[0] % 7) < 3 ? (void *)&q : (void *)&s;
	switch (b[0] % 7) {
	case 0:
	case 3:
		__builtin_memcpy(&val, b + 1, 8);
		r = bpf_map_push_elem(map, &val, b[9] & 3 ? (b[9] & 3) == 3 ? 4 : b[9] & 3 : 0);
		break;
	case 1:
	case 4:
		r = bpf_map_pop_elem(map, &val);
		break;
	case 2:
	case 5:
		r = bpf_map_peek_elem(map, &val);
		break;
	default: {
		__u32 k = 1;
		__s64 *o = bpf_map_lookup_elem(&out, &k);

		if (!o)
			return XDP_ABORTED;
		r = bpf_map_pop_elem(&q, o);            /* into a map value */
		put(0, r);
		return XDP_DROP;
	}
	}
	put(0, r);
	put(1, val);
	return r == 0 ? XDP_TX : XDP_PASS;
}

char _license[] SEC("license") = "GPL";

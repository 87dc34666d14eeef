// SPDX-License-Identifier: GPL-2.0
/* Atomics (compile with -mcpu=v3): add/or/and/xor with and without fetch, xchg,
 * cmpxchg on a map value, plus 32-bit ALU/JMP32 arithmetic on frame bytes.
 */
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

struct vals {
	__u64 a, b, c, d, e, f;
	__u32 w, x;
};

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__type(key, __u32);
	__type(value, struct vals);
	__uint(max_entries, 1);
} st SEC(".maps");

SEC("xdp")
int xdp_atomics(struct xdp_md *ctx)
{
	void *data = (void *)(long)ctx->data;
	void *data_end = (void *)(long)ctx->data_end;
	__u32 k = 0, w;
	__u64 x, old;
	struct vals *v;

	if (data + 16 > data_end)
		return XDP_ABORTED;
	x = *(__u64 *)data;
	w = *(__u32 *)(data + 8);
	v = bpf_map_lookup_elem(&st, &k);
	if (!v)
		return XDP_ABORTED;
	__sync_fetch_and_add(&v->a, x);
	old = __sync_fetch_and_or(&v->b, x);
	__sync_fetch_and_and(&v->c, x | old);
	__sync_fetch_and_xor(&v->d, x);
	v->e = __sync_lock_test_and_set(&v->f, x);
	__sync_val_compare_and_swap(&v->w, w & 0xff, w);
	__sync_fetch_and_add(&v->x, w);
	w = (w * 2654435761u) >> (w & 15);
	if ((int)w < -5)
		return XDP_DROP;
	return (w % 7) ? XDP_PASS : XDP_TX;
}

char _license[] SEC("license") = "GPL";

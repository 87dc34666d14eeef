// SPDX-License-Identifier: GPL-2.0
/* bpf_loop test program: a callback sums the frame's first bytes (up to byte[0] of them,
 * stopping early at a zero byte), a second loop counts down; the number of iterations each
 * bpf_loop call reports and the sum go to `out`.  The verdict depends on the sum.
 */
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__type(key, __u32);
	__type(value, __s64);
	__uint(max_entries, 4);
} out SEC(".maps");

struct walk {
	void *data;
	void *data_end;
	__u64 sum;
};

static long sum_byte(__u32 i, struct walk *w)
{
	__u8 *p = w->data + (i & 255);

	if ((void *)(p + 1) > w->data_end)
		return 1;
	if (*p == 0)
		return 1;
	w->sum += *p;
	return 0;
}

static long count_down(__u32 i, __u64 *left)
{
	*left -= 1;
	return 0;
}

static __always_inline void put(__u32 k, __s64 v)
{
	__s64 *p = bpf_map_lookup_elem(&out, &k);

	if (p)
		*p = v;
}

SEC("xdp")
int xdp_loop(struct xdp_md *ctx)
{
	struct walk w = { .data = (void *)(long)ctx->data, .data_end = (void *)(long)ctx->data_end };
	__u64 left = 1000;
	__u8 *first = w.data;
	long n;

	if ((void *)(first + 1) > w.data_end)
		return XDP_ABORTED;
	n = bpf_loop(*first, sum_byte, &w, 0);
	put(0, n);
	put(1, w.sum);
	put(2, bpf_loop(7, count_down, &left, 0));
	put(3, left);
	return w.sum & 1 ? XDP_DROP : XDP_PASS;
}

char _license[] SEC("license") = "GPL";

// SPDX-License-Identifier: GPL-2.0
/* Exercise bpf_xdp_adjust_head / _meta / _tail with deltas read from the frame
 * itself (bytes 0..2 as signed 8-bit values; head x4, tail x16), so random frames probe the edges.
 * The helpers' return codes are kept in an array map.
 */
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__type(key, __u32);
	__type(value, __s64);
	__uint(max_entries, 4);
} rets SEC(".maps");

static __always_inline void put(__u32 k, __s64 v)
{
	__s64 *p = bpf_map_lookup_elem(&rets, &k);

	if (p)
		*p = v;
}

SEC("xdp")
int xdp_adjust(struct xdp_md *ctx)
{
	void *data = (void *)(long)ctx->data;
	void *data_end = (void *)(long)ctx->data_end;
	__s8 dh, dm, dt;
	int r;

	if (data + 3 > data_end)
		return XDP_ABORTED;
	dh = ((__s8 *)data)[0];
	dm = ((__s8 *)data)[1];
	if (dm < -33)		/* 6.1 allows <= 32 bytes of metadata, later kernels 255 */
		dm = -33;
	dt = ((__s8 *)data)[2];

	r = bpf_xdp_adjust_meta(ctx, dm);
	put(0, r);
	r = bpf_xdp_adjust_head(ctx, dh * 4);
	put(1, r);
	r = bpf_xdp_adjust_tail(ctx, dt * 16);
	put(2, r);

	data = (void *)(long)ctx->data;
	data_end = (void *)(long)ctx->data_end;
	if (data + 1 <= data_end)
		((__u8 *)data)[0] ^= 0xff;
	put(3, data_end - data);
	return XDP_PASS;
}

char _license[] SEC("license") = "GPL";

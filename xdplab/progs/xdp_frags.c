// SPDX-License-Identifier: GPL-2.0
/* A frags-aware program (SEC "xdp.frags"): it may see jumbo frames spread over
 * several buffers. It measures the whole frame with bpf_xdp_get_buff_len(),
 * copies the Ethernet header and the last 4 bytes out with bpf_xdp_load_bytes()
 * (which walks the frags), counts frames and bytes, and drops frames whose last
 * 4 bytes are all 0xff.
 */
#include <linux/bpf.h>
#include <linux/if_ether.h>
#include <bpf/bpf_helpers.h>

struct frag_stats {
	__u64 frames;
	__u64 bytes;
	__u64 multi_buf;	/* frames longer than the linear part */
	__u32 last_tail;	/* last 4 bytes of the last frame */
	__u32 last_len;
};

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__type(key, __u32);
	__type(value, struct frag_stats);
	__uint(max_entries, 1);
} stats SEC(".maps");

SEC("xdp.frags")
int xdp_frags_count(struct xdp_md *ctx)
{
	void *data = (void *)(long)ctx->data;
	void *data_end = (void *)(long)ctx->data_end;
	struct frag_stats *st;
	struct ethhdr eth;
	__u32 key = 0, tail = 0;
	__u64 len = bpf_xdp_get_buff_len(ctx);

	if (bpf_xdp_load_bytes(ctx, 0, &eth, sizeof(eth)) < 0)
		return XDP_DROP;
	if (len >= 4 && bpf_xdp_load_bytes(ctx, len - 4, &tail, sizeof(tail)) < 0)
		return XDP_ABORTED;

	st = bpf_map_lookup_elem(&stats, &key);
	if (!st)
		return XDP_ABORTED;
	st->frames++;
	st->bytes += len;
	if (len > (__u64)(data_end - data))
		st->multi_buf++;
	st->last_tail = tail;
	st->last_len = len;
	return tail == 0xffffffff ? XDP_DROP : XDP_PASS;
}

char _license[] SEC("license") = "GPL";

// SPDX-License-Identifier: GPL-2.0
/* A frags-aware program (SEC "xdp.frags") that exercises the helpers which work
 * across the buffers of a multi-buffer frame, as a test bench: the globals below
 * say what to do (set them with obj.set_global() before traffic), the program
 * records each helper's return value and the frame's length before and after.
 *
 *   frag_op_tail   bpf_xdp_adjust_tail(ctx, frag_op_tail)   (0: not called)
 *   frag_op_head   bpf_xdp_adjust_head(ctx, frag_op_head)   (0: not called)
 *   frag_op_meta   bpf_xdp_adjust_meta(ctx, frag_op_meta)   (0: not called)
 *   frag_op_off    offset for bpf_xdp_load_bytes / store_bytes of frag_op_len bytes
 *                  (frag_op_len 0: not called); store writes the 4 bytes of frag_op_pat
 *   frag_op_act    the verdict (XDP_DROP by default)
 */
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

volatile __s32 frag_op_tail;
volatile __s32 frag_op_head;
volatile __s32 frag_op_meta;
volatile __u32 frag_op_off;
volatile __u32 frag_op_len;
volatile __u32 frag_op_store;
volatile __u32 frag_op_pat = 0xa5a5a5a5;
volatile __u32 frag_op_act = XDP_DROP;

volatile __u64 res_frames;
volatile __s64 res_len_before;
volatile __s64 res_len_after;
volatile __s64 res_linear_after;
volatile __s64 res_tail;
volatile __s64 res_head;
volatile __s64 res_meta;
volatile __s64 res_load;
volatile __s64 res_store;
volatile __u32 res_loaded;

SEC("xdp.frags")
int xdp_frags_ops(struct xdp_md *ctx)
{
	__u32 buf[4] = {};
	__u32 n = frag_op_len;

	res_frames++;
	res_len_before = bpf_xdp_get_buff_len(ctx);
	if (frag_op_head)
		res_head = bpf_xdp_adjust_head(ctx, frag_op_head);
	if (frag_op_meta)
		res_meta = bpf_xdp_adjust_meta(ctx, frag_op_meta);
	if (n) {
		if (n > sizeof(buf))
			n = sizeof(buf);
		if (frag_op_store) {
			buf[0] = buf[1] = buf[2] = buf[3] = frag_op_pat;
			res_store = bpf_xdp_store_bytes(ctx, frag_op_off, buf, n);
		}
		res_load = bpf_xdp_load_bytes(ctx, frag_op_off, buf, n);
		res_loaded = buf[0];
	}
	if (frag_op_tail)
		res_tail = bpf_xdp_adjust_tail(ctx, frag_op_tail);
	res_len_after = bpf_xdp_get_buff_len(ctx);
	res_linear_after = (long)ctx->data_end - (long)ctx->data;
	return frag_op_act;
}

char _license[] SEC("license") = "GPL";

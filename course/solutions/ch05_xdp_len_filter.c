// SPDX-License-Identifier: GPL-2.0
/* Reference solution, chapter 05, mbuf_ex3: drop frames longer than 4000 bytes, pass the others.
 * SEC("xdp.frags"): the program sees multi-buffer frames (mvneta takes it at MTU 9000);
 * bpf_xdp_get_buff_len(): the length of the whole frame, the linear part and every frag. */
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

SEC("xdp.frags")
int xdp_len_filter(struct xdp_md *ctx)
{
	if (bpf_xdp_get_buff_len(ctx) > 4000)
		return XDP_DROP;
	return XDP_PASS;
}

char _license[] SEC("license") = "GPL";

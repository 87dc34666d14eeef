// SPDX-License-Identifier: GPL-2.0
/* xdp-bench redirect: send every frame out of one device with bpf_redirect(ifindex, 0).
 * ifindex_out is a .rodata constant (default 2: eth0 on the board, the way
 * `xdp-bench redirect eth0 eth0` uses it); a missing ifindex makes xdp_do_redirect fail (-EINVAL).
 */
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

volatile const __u32 ifindex_out = 2;

SEC("xdp")
int xdp_redirect_prog(struct xdp_md *ctx)
{
	return bpf_redirect(ifindex_out, 0);
}

char _license[] SEC("license") = "GPL";

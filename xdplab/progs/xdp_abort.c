// SPDX-License-Identifier: GPL-2.0
/* xdp-abort: XDP_ABORTED, i.e. a drop that also fires the xdp:xdp_exception tracepoint. */
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

SEC("xdp")
int xdp_abort(struct xdp_md *ctx)
{
	return XDP_ABORTED;
}

char _license[] SEC("license") = "GPL";

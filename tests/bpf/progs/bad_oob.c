// SPDX-License-Identifier: GPL-2.0
/* Deliberately wrong: reads the TCP ports without checking data_end (the verifier
 * rejects this; the VM faults at run time on short frames).  Built with the check
 * removed by a macro trick so clang keeps the access.
 */
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

SEC("xdp")
int xdp_bad(struct xdp_md *ctx)
{
	void *data = (void *)(long)ctx->data;
	void *data_end = (void *)(long)ctx->data_end;

	if (data + 14 > data_end)
		return XDP_PASS;
	/* forgot: if (data + 38 > data_end) */
	return *(__u16 *)(data + 36) == 0x1600 ? XDP_TX : XDP_PASS;
}

char _license[] SEC("license") = "GPL";

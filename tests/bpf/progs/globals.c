// SPDX-License-Identifier: GPL-2.0
/* Global data (.rodata, .data, .bss), BPF-to-BPF calls (noinline functions in .text),
 * two programs in one object, bpf_printk.
 */
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

const volatile __u32 verdict_odd = XDP_DROP;
const volatile __u32 verdict_even = XDP_PASS;
__u64 frames = 0;          /* .bss */
__u64 bytes_seen = 7;      /* .data */
__u32 last_len[4];         /* .bss */

static __attribute__((noinline)) __u64 count(__u64 len)
{
	frames++;
	bytes_seen += len;
	last_len[frames & 3] = len;
	return frames;
}

static __attribute__((noinline)) int deep(int n)
{
	if (n <= 0)
		return 0;
	return n + 1;
}

SEC("xdp")
int xdp_globals(struct xdp_md *ctx)
{
	void *data = (void *)(long)ctx->data;
	void *data_end = (void *)(long)ctx->data_end;
	__u64 n = count(data_end - data);

	bpf_printk("frame %llu len %d", n, (int)(data_end - data));
	return (n + deep(1)) & 1 ? verdict_odd : verdict_even;
}

SEC("xdp/second")
int xdp_second(struct xdp_md *ctx)
{
	count(1);
	return XDP_TX;
}

char _license[] SEC("license") = "GPL";

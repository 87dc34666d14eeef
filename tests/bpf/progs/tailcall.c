// SPDX-License-Identifier: GPL-2.0
/* bpf_tail_call through a PROG_ARRAY: byte 0 of the frame picks the slot. */
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

struct {
	__uint(type, BPF_MAP_TYPE_PROG_ARRAY);
	__uint(key_size, 4);
	__uint(value_size, 4);
	__uint(max_entries, 4);
} jmp SEC(".maps");

SEC("xdp")
int xdp_entry(struct xdp_md *ctx)
{
	void *data = (void *)(long)ctx->data;
	void *data_end = (void *)(long)ctx->data_end;

	if (data + 1 > data_end)
		return XDP_ABORTED;
	bpf_tail_call(ctx, &jmp, ((__u8 *)data)[0] & 7);
	return XDP_PASS;		/* empty slot */
}

SEC("xdp")
int xdp_drop_it(struct xdp_md *ctx)
{
	return XDP_DROP;
}

SEC("xdp")
int xdp_tx_it(struct xdp_md *ctx)
{
	void *data = (void *)(long)ctx->data;
	void *data_end = (void *)(long)ctx->data_end;

	if (data + 2 > data_end)
		return XDP_ABORTED;
	((__u8 *)data)[1] = 0xaa;
	return XDP_TX;
}

char _license[] SEC("license") = "GPL";

// SPDX-License-Identifier: GPL-2.0
/* CO-RE test program: struct xdp_md declared with 64-bit data/data_end (as some public
 * programs do) and preserve_access_index: libbpf resolves the members by name (data_end
 * is at 4, not 8) and rewrites the 8-byte loads to the kernel's 4-byte fields.  Also a
 * flavoured local type (ethhdr___local) and a field Linux 6.1 lacks, behind
 * bpf_core_field_exists() (a program that reads it unguarded stops at the poisoned insn).
 */
#include <linux/types.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_core_read.h>

struct xdp_md {
	__u64 data;
	__u64 data_end;
	__u32 ingress_ifindex;
} __attribute__((preserve_access_index));

struct ethhdr___local {
	unsigned char h_dest[6];
	unsigned char h_source[6];
	__u16 h_proto;
} __attribute__((preserve_access_index));

struct bpf_fib_lookup___new {
	__u32 tbid;                     /* not in 6.1 (a later kernel's field) */
} __attribute__((preserve_access_index));

SEC("xdp")
int xdp_u64_ctx(struct xdp_md *ctx)
{
	void *data = (void *)(long)ctx->data;
	void *data_end = (void *)(long)ctx->data_end;
	struct ethhdr___local *eth = data;

	if ((void *)(eth + 1) > data_end)
		return 1;                       /* XDP_DROP */
	if (eth->h_source[5] == 0x66 && ctx->ingress_ifindex == 1)
		return 3;                       /* XDP_TX */
	return 2;                               /* XDP_PASS */
}

SEC("xdp")
int xdp_guarded(struct xdp_md *ctx)
{
	struct bpf_fib_lookup___new *f = (void *)(long)ctx->data;
	void *data_end = (void *)(long)ctx->data_end;

	if ((void *)(f + 1) > data_end)
		return 1;
	if (bpf_core_field_exists(f->tbid))
		return f->tbid & 3;
	return 2;
}

SEC("xdp")
int xdp_unguarded(struct xdp_md *ctx)
{
	struct bpf_fib_lookup___new *f = (void *)(long)ctx->data;
	void *data_end = (void *)(long)ctx->data_end;

	if ((void *)(f + 1) > data_end)
		return 1;
	return f->tbid & 3;
}

char _license[] SEC("license") = "GPL";

// SPDX-License-Identifier: GPL-2.0
/* Loop-heavy test program: ones'-complement sum of the whole frame in 16-bit words
 * (a bounded loop, up to 1024 iterations), kept in an array map; drops frames whose
 * sum is odd.  Used by the benchmark and the kernel-oracle test.
 */
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__type(key, __u32);
	__type(value, __u64);
	__uint(max_entries, 2);
} sums SEC(".maps");

SEC("xdp")
int xdp_loop_csum(struct xdp_md *ctx)
{
	void *data = (void *)(long)ctx->data;
	void *data_end = (void *)(long)ctx->data_end;
	__u64 sum = 0;
	__u32 key = 0;
	__u64 *v;
	int i;

	for (i = 0; i < 1024; i++) {
		__u16 *p = data + 2 * i;

		if ((void *)(p + 1) > data_end)
			break;
		sum += *p;
	}
	while (sum >> 16)
		sum = (sum & 0xffff) + (sum >> 16);
	v = bpf_map_lookup_elem(&sums, &key);
	if (v)
		*v += sum;
	key = 1;
	v = bpf_map_lookup_elem(&sums, &key);
	if (v)
		*v += i;
	return (sum & 1) ? XDP_DROP : XDP_PASS;
}

char _license[] SEC("license") = "GPL";

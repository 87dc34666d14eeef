// SPDX-License-Identifier: GPL-2.0
/* bpf_csum_diff test program: from = frame bytes 0..7, to = bytes 8..15, seed = the
 * little-endian word at byte 16; the raw results of csum_diff(from, to, seed),
 * csum_diff(-, to, 0), csum_diff(from, -, seed) and csum_diff(from 4, to 4, 0) go to
 * `res` (raw, as programs that store the value see it).
 */
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__type(key, __u32);
	__type(value, __s64);
	__uint(max_entries, 4);
} res SEC(".maps");

static __always_inline void put(__u32 k, __s64 v)
{
	__s64 *p = bpf_map_lookup_elem(&res, &k);

	if (p)
		*p = v;
}

SEC("xdp")
int xdp_csum_diff(struct xdp_md *ctx)
{
	void *data = (void *)(long)ctx->data;
	void *data_end = (void *)(long)ctx->data_end;
	__u32 buf[5];

	if (data + 20 > data_end)
		return XDP_PASS;
	__builtin_memcpy(buf, data, 20);
	put(0, bpf_csum_diff(&buf[0], 8, &buf[2], 8, buf[4]));
	put(1, bpf_csum_diff(0, 0, &buf[2], 8, 0));
	put(2, bpf_csum_diff(&buf[0], 8, 0, 0, buf[4]));
	put(3, bpf_csum_diff(&buf[0], 4, &buf[2], 4, 0));
	return XDP_PASS;
}

char _license[] SEC("license") = "GPL";

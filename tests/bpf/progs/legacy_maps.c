// SPDX-License-Identifier: GPL-2.0
/* An old-style object: a map defined in SEC("maps") as struct bpf_map_def, a custom
 * section name and a non-GPL license.
 */
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

struct bpf_map_def_legacy {
	unsigned int type;
	unsigned int key_size;
	unsigned int value_size;
	unsigned int max_entries;
	unsigned int map_flags;
};

struct bpf_map_def_legacy counters SEC("maps") = {
	.type = BPF_MAP_TYPE_ARRAY,
	.key_size = sizeof(__u32),
	.value_size = sizeof(__u64),
	.max_entries = 4,
};

SEC("my_custom_section")
int count_ifindex(struct xdp_md *ctx)
{
	__u32 key = ctx->ingress_ifindex & 3;
	__u64 *v = bpf_map_lookup_elem(&counters, &key);

	if (v)
		__sync_fetch_and_add(v, 1);
	return XDP_PASS;
}

char _license[] SEC("license") = "Dual BSD/GPL";

// SPDX-License-Identifier: GPL-2.0
/* CO-RE test program with only a local_type_id relocation (bpf_core_type_id_local):
 * it needs no kernel BTF.  The id is stored in a map (as a BTF-typed record would carry it).
 */
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_core_read.h>

struct event {
	__u32 ifindex;
	__u32 len;
};

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__type(key, __u32);
	__type(value, __u64);
	__uint(max_entries, 1);
} type_ids SEC(".maps");

SEC("xdp")
int xdp_type_id(struct xdp_md *ctx)
{
	__u32 k = 0;
	__u64 *v = bpf_map_lookup_elem(&type_ids, &k);

	if (v)
		*v = bpf_core_type_id_local(struct event);
	return XDP_PASS;
}

char _license[] SEC("license") = "GPL";

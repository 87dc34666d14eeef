// SPDX-License-Identifier: GPL-2.0
/* DEVMAP with struct bpf_devmap_val values (ifindex + egress program), as xdp-bench
 * redirect-map and redirect-multi use it:
 *   xdp_redirect_devmap     bpf_redirect_map(&tx_port, 0, 0): slot 0 (an empty slot: XDP_ABORTED)
 *   xdp_redirect_broadcast  bpf_redirect_map(&tx_port, 0, BPF_F_BROADCAST | BPF_F_EXCLUDE_INGRESS)
 *   xdp_devmap_swap         SEC("xdp/devmap"): swap the MAC addresses, XDP_PASS (runs on the bulk)
 *   xdp_devmap_drop         SEC("xdp/devmap"): XDP_DROP
 *   xdp_redirect_eth0       bpf_redirect(2, 0): out of eth0 (from veth0, in the root namespace)
 *   xdp_redirect_frags      SEC("xdp.frags"): slot 0, for a multi-buffer frame (6.1: -EOPNOTSUPP)
 */
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

struct {
	__uint(type, BPF_MAP_TYPE_DEVMAP);
	__type(key, __u32);
	__type(value, struct bpf_devmap_val);
	__uint(max_entries, 8);
} tx_port SEC(".maps");

SEC("xdp")
int xdp_redirect_devmap(struct xdp_md *ctx)
{
	return bpf_redirect_map(&tx_port, 0, 0);
}

SEC("xdp")
int xdp_redirect_broadcast(struct xdp_md *ctx)
{
	return bpf_redirect_map(&tx_port, 0, BPF_F_BROADCAST | BPF_F_EXCLUDE_INGRESS);
}

SEC("xdp/devmap")
int xdp_devmap_swap(struct xdp_md *ctx)
{
	void *data_end = (void *)(long)ctx->data_end;
	unsigned char *p = (void *)(long)ctx->data;
	unsigned char t;
	int i;

	if (p + 12 > (unsigned char *)data_end)
		return XDP_DROP;
	for (i = 0; i < 6; i++) {
		t = p[i];
		p[i] = p[i + 6];
		p[i + 6] = t;
	}
	return XDP_PASS;
}

SEC("xdp/devmap")
int xdp_devmap_drop(struct xdp_md *ctx)
{
	return XDP_DROP;
}

SEC("xdp")
int xdp_redirect_eth0(struct xdp_md *ctx)
{
	return bpf_redirect(2, 0);
}

SEC("xdp.frags")
int xdp_redirect_frags(struct xdp_md *ctx)
{
	return bpf_redirect_map(&tx_port, 0, 0);
}

char _license[] SEC("license") = "GPL";

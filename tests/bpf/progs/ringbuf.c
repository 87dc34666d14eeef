// SPDX-License-Identifier: GPL-2.0
/* Ring buffer test program: TCP frames are reported with bpf_ringbuf_reserve and
 * submitted (or discarded when the destination port is 9), other IPv4 frames with
 * bpf_ringbuf_output of their first 20 header bytes; what the ring holds afterwards is
 * kept in `avail` (bpf_ringbuf_query).
 */
#include <linux/bpf.h>
#include <linux/if_ether.h>
#include <linux/ip.h>
#include <linux/tcp.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_endian.h>

struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 4096);
} rb SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__type(key, __u32);
	__type(value, __s64);
	__uint(max_entries, 4);
} avail SEC(".maps");

struct tcp_event {
	__u32 saddr;
	__u32 daddr;
	__u16 sport;
	__u16 dport;
	__u8 flags;
	__u8 pad[3];
};

static __always_inline void put(__u32 k, __s64 v)
{
	__s64 *p = bpf_map_lookup_elem(&avail, &k);

	if (p)
		*p = v;
}

SEC("xdp")
int xdp_ringbuf(struct xdp_md *ctx)
{
	void *data = (void *)(long)ctx->data;
	void *data_end = (void *)(long)ctx->data_end;
	struct ethhdr *eth = data;
	struct iphdr *ip = (void *)(eth + 1);
	struct tcphdr *tcp = (void *)(ip + 1);
	struct tcp_event *e;

	if ((void *)(ip + 1) > data_end || eth->h_proto != bpf_htons(ETH_P_IP))
		return XDP_PASS;
	if (ip->protocol == 6 && (void *)(tcp + 1) <= data_end) {
		e = bpf_ringbuf_reserve(&rb, sizeof(*e), 0);
		if (!e) {
			put(3, -1);
			return XDP_PASS;
		}
		e->saddr = ip->saddr;
		e->daddr = ip->daddr;
		e->sport = tcp->source;
		e->dport = tcp->dest;
		e->flags = ((__u8 *)tcp)[13];
		e->pad[0] = e->pad[1] = e->pad[2] = 0;
		if (tcp->dest == bpf_htons(9))
			bpf_ringbuf_discard(e, 0);
		else
			bpf_ringbuf_submit(e, 0);
	} else {
		struct iphdr copy = *ip;        /* helpers other than the packet ones may not read the packet */

		put(2, bpf_ringbuf_output(&rb, &copy, sizeof(copy), 0));
	}
	put(0, bpf_ringbuf_query(&rb, BPF_RB_AVAIL_DATA));
	put(1, bpf_ringbuf_query(&rb, BPF_RB_RING_SIZE));
	return XDP_PASS;
}

/* what the verifier refuses: "helper access to the packet is not allowed" */
SEC("xdp")
int xdp_ringbuf_pkt(struct xdp_md *ctx)
{
	void *data = (void *)(long)ctx->data;
	void *data_end = (void *)(long)ctx->data_end;

	if (data + 20 > data_end)
		return XDP_PASS;
	bpf_ringbuf_output(&rb, data, 20, 0);
	return XDP_PASS;
}

char _license[] SEC("license") = "GPL";

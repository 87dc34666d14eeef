/* The kernel types XDP programs read, with the layouts Linux 6.1 gives them on a
 * little-endian 64-bit machine (arm64, the ESPRESSObin's), written for xdplab.
 *
 * gen_kernel_btf.py compiles this file with `clang -g -target bpf` and keeps the BTF
 * (linux61_xdp.btf): it is the "kernel BTF" xdplab resolves CO-RE relocations against
 * (xdplab.bpf.relo_core), in place of a running kernel's /sys/kernel/btf/vmlinux.
 * Sources of the layouts (6.1): include/uapi/linux/bpf.h (xdp_md, bpf_fib_lookup, xdp_action),
 * if_ether.h, ip.h, ipv6.h (saddr/daddr in a struct_group: an anonymous union), in6.h, tcp.h,
 * udp.h, icmp.h, icmpv6.h, if_arp.h, include/linux/if_vlan.h (vlan_hdr).
 */
typedef unsigned char __u8;
typedef unsigned short __u16;
typedef unsigned int __u32;
typedef unsigned long long __u64;
typedef signed char __s8;
typedef short __s16;
typedef int __s32;
typedef long long __s64;
typedef __u16 __be16;
typedef __u32 __be32;
typedef __u16 __sum16;
typedef __u32 __wsum;

enum xdp_action { XDP_ABORTED = 0, XDP_DROP, XDP_PASS, XDP_TX, XDP_REDIRECT };

struct xdp_md {
	__u32 data;
	__u32 data_end;
	__u32 data_meta;
	__u32 ingress_ifindex;
	__u32 rx_queue_index;
	__u32 egress_ifindex;
};

struct ethhdr {
	unsigned char h_dest[6];
	unsigned char h_source[6];
	__be16 h_proto;
} __attribute__((packed));

struct vlan_hdr {
	__be16 h_vlan_TCI;
	__be16 h_vlan_encapsulated_proto;
};

struct iphdr {
	__u8 ihl:4, version:4;
	__u8 tos;
	__be16 tot_len;
	__be16 id;
	__be16 frag_off;
	__u8 ttl;
	__u8 protocol;
	__sum16 check;
	union {                         /* __struct_group(, addrs, , ...) */
		struct { __be32 saddr; __be32 daddr; };
		struct { __be32 saddr; __be32 daddr; } addrs;
	};
};

struct in6_addr {
	union {
		__u8 u6_addr8[16];
		__be16 u6_addr16[8];
		__be32 u6_addr32[4];
	} in6_u;
};

struct ipv6hdr {
	__u8 priority:4, version:4;
	__u8 flow_lbl[3];
	__be16 payload_len;
	__u8 nexthdr;
	__u8 hop_limit;
	union {
		struct { struct in6_addr saddr; struct in6_addr daddr; };
		struct { struct in6_addr saddr; struct in6_addr daddr; } addrs;
	};
};

struct tcphdr {
	__be16 source;
	__be16 dest;
	__be32 seq;
	__be32 ack_seq;
	__u16 res1:4, doff:4, fin:1, syn:1, rst:1, psh:1, ack:1, urg:1, ece:1, cwr:1;
	__be16 window;
	__sum16 check;
	__be16 urg_ptr;
};

struct udphdr {
	__be16 source;
	__be16 dest;
	__be16 len;
	__sum16 check;
};

struct icmphdr {
	__u8 type;
	__u8 code;
	__sum16 checksum;
	union {
		struct { __be16 id; __be16 sequence; } echo;
		__be32 gateway;
		struct { __be16 __unused; __be16 mtu; } frag;
		__u8 reserved[4];
	} un;
};

struct icmpv6_echo { __be16 identifier; __be16 sequence; };
struct icmpv6_nd_advt { __u32 reserved:5, override:1, solicited:1, router:1, reserved2:24; };
struct icmpv6_nd_ra { __u8 hop_limit; __u8 reserved:3, router_pref:2, home_agent:1, other:1, managed:1;
		      __be16 rt_lifetime; };

struct icmp6hdr {
	__u8 icmp6_type;
	__u8 icmp6_code;
	__sum16 icmp6_cksum;
	union {
		__be32 un_data32[1];
		__be16 un_data16[2];
		__u8 un_data8[4];
		struct icmpv6_echo u_echo;
		struct icmpv6_nd_advt u_nd_advt;
		struct icmpv6_nd_ra u_nd_ra;
	} icmp6_dataun;
};

struct arphdr {
	__be16 ar_hrd;
	__be16 ar_pro;
	unsigned char ar_hln;
	unsigned char ar_pln;
	__be16 ar_op;
};

struct bpf_fib_lookup {
	__u8 family;
	__u8 l4_protocol;
	__be16 sport;
	__be16 dport;
	union {
		__u16 tot_len;
		__u16 mtu_result;
	};
	__u32 ifindex;
	union {
		__u8 tos;
		__be32 flowinfo;
		__u32 rt_metric;
	};
	union {
		__be32 ipv4_src;
		__u32 ipv6_src[4];
	};
	union {
		__be32 ipv4_dst;
		__u32 ipv6_dst[4];
	};
	__be16 h_vlan_proto;            /* 6.1: no tbid union yet */
	__be16 h_vlan_TCI;
	__u8 smac[6];
	__u8 dmac[6];
};

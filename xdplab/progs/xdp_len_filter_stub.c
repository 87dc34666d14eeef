#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

/* chapter 05, exercise mbuf_ex3: XDP_DROP the frames longer than 4000 bytes (the whole
 * frame, every buffer of it), XDP_PASS the others */
SEC("xdp")    /* TODO: a section that tells libbpf (and mvneta) the program handles frags */
int xdp_len_filter(struct xdp_md *ctx)
{
	/* TODO */
	return XDP_PASS;
}

char _license[] SEC("license") = "GPL";

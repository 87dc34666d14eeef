// SPDX-License-Identifier: GPL-2.0
/* chapter 04, exercise cpu_ex2: software RPS.  Redirect each frame to CPU 0 or CPU 1 through
 * cpu_map, so that the two CPUs share the stack's work and no flow's frames are reordered. */
#include <linux/bpf.h>
#include <linux/if_ether.h>
#include <linux/ip.h>
#include <linux/in.h>
#include <linux/udp.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_endian.h>

struct {
	__uint(type, BPF_MAP_TYPE_CPUMAP);
	__type(key, __u32);
	__type(value, struct bpf_cpumap_val);
	__uint(max_entries, 2);		/* ESPRESSObin: 2 x Cortex-A53 */
} cpu_map SEC(".maps");

SEC("xdp")
int xdp_rps(struct xdp_md *ctx)
{
	__u32 cpu = 0;	/* TODO: 0 or 1, the same for every frame of a flow */

	return bpf_redirect_map(&cpu_map, cpu, 0);
}

char _license[] SEC("license") = "GPL";

// SPDX-License-Identifier: GPL-2.0
/* xdp_redirect_cpu for multi-buffer frames: the same steering as redirect_cpu.c from an
 * xdp.frags section (BPF_F_XDP_HAS_FRAGS), so that it may be attached at a jumbo MTU. In 6.1
 * xdp_do_redirect accepts a frags frame only when the target is a CPUMAP (chapter 05).
 */
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

struct {
	__uint(type, BPF_MAP_TYPE_CPUMAP);
	__type(key, __u32);
	__type(value, __u32);	/* qsize */
	__uint(max_entries, 2);	/* ESPRESSObin: 2 x Cortex-A53 */
} cpu_map SEC(".maps");

const volatile __u32 dest_cpu = 1;

SEC("xdp.frags")
int xdp_redirect_cpu_frags(struct xdp_md *ctx)
{
	return bpf_redirect_map(&cpu_map, dest_cpu, 0);
}

char _license[] SEC("license") = "GPL";

// SPDX-License-Identifier: GPL-2.0
/* Steer frames to another CPU through a CPUMAP (xdp_redirect_cpu). The target
 * CPU is a read-only global: set it before loading (obj.maps['.rodata']).
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

SEC("xdp")
int xdp_redirect_cpu(struct xdp_md *ctx)
{
	return bpf_redirect_map(&cpu_map, dest_cpu, 0);
}

char _license[] SEC("license") = "GPL";

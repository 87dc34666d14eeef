// SPDX-License-Identifier: GPL-2.0
/* bpf_map_lookup_percpu_elem, bpf_jiffies64 and bpf_ktime_get_tai_ns (helpers Linux 6.1 offers
 * XDP programs).  Byte 0 of the frame picks the per-CPU map (array, hash, LRU hash), byte 1 the
 * key, byte 2 the CPU whose copy is read (0, 1, or one past any possible CPU).  The program bumps
 * this CPU's copy, then reads the chosen CPU's copy: the value, or -1 for NULL, goes to out[0].
 * The clock readings go to clk (they differ between machines), their relations to out[1..2].
 */
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__type(key, __u32);
	__type(value, __u64);
	__uint(max_entries, 4);
} pa SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_HASH);
	__type(key, __u32);
	__type(value, __u64);
	__uint(max_entries, 8);
} ph SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_LRU_PERCPU_HASH);
	__type(key, __u32);
	__type(value, __u64);
	__uint(max_entries, 8);
} lph SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__type(key, __u32);
	__type(value, __s64);
	__uint(max_entries, 4);
} out SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__type(key, __u32);
	__type(value, __u64);
	__uint(max_entries, 4);
} clk SEC(".maps");

static __always_inline void put(void *map, __u32 i, __u64 v)
{
	__u64 *o = bpf_map_lookup_elem(map, &i);

	if (o)
		*o = v;
}

SEC("xdp")
int xdp_percpu_clock(struct xdp_md *ctx)
{
	void *data = (void *)(long)ctx->data;
	void *data_end = (void *)(long)ctx->data_end;
	__u8 *b = data;
	__u32 key, cpu;
	__u64 one = 1, *v, mono, tai, j0, j1;
	void *map;

	if (data + 14 > data_end)
		return XDP_PASS;
	key = b[1] & 7;                 /* pa has keys 0..3: 4..7 are NULL there */
	switch (b[2] % 3) {
	case 0: cpu = 0; break;
	case 1: cpu = 1; break;
	default: cpu = 0xffffff00 | b[3]; break;      /* >= nr_cpu_ids: NULL */
	}
	switch (b[0] % 3) {
	case 0: map = &pa; break;
	case 1: map = &ph; break;
	default: map = &lph; break;
	}
	v = bpf_map_lookup_elem(map, &key);
	if (v)
		*v += 1;
	else if (map != &pa)
		bpf_map_update_elem(map, &key, &one, BPF_NOEXIST);
	v = bpf_map_lookup_percpu_elem(map, &key, cpu);
	put(&out, 0, v ? *v : (__u64)-1);

	j0 = bpf_jiffies64();
	mono = bpf_ktime_get_ns();
	tai = bpf_ktime_get_tai_ns();
	j1 = bpf_jiffies64();
	put(&out, 1, tai > mono);
	put(&out, 2, j1 >= j0);
	put(&clk, 0, j0);
	put(&clk, 1, tai);
	put(&clk, 2, mono);
	return v ? XDP_TX : XDP_PASS;
}

char _license[] SEC("license") = "GPL";

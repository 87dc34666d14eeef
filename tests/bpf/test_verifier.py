"""The load-time verifier (xdplab/bpf/verifier.py) against Linux's.

Each case is a small C program (compiled with clang where it is installed) or a hand-assembled
one: a rejection class from issue 25 or an accepted near miss (the correct range check, a
bounded loop, a checked lookup).  xdplab must give the verdict and message line of Linux 6.1's
kernel/bpf/verifier.c (hard-coded below from its source); where the host kernel's bpf() works,
the host must agree on accept/reject and print the same line, except where a newer kernel
changed on purpose (NEWER, with the commit).  Also: every program the repo ships and the fuzz
generator's programs verify without a rejection, and the error surfaces in load_object,
``%%bpf_c`` and ``xdplab bpf run``.
"""

import random
import shutil

import pytest
from conftest import PROGS, TPROGS

import asm
import test_vm
from randprog import random_program
from xdplab.bpf import load_insns, load_object
from xdplab.bpf.loader import BpfLoadError, read_object
from xdplab.bpf.verifier import BpfVerifierError, verify_program

HAVE_CLANG = shutil.which("clang") is not None

HDR = """#include <linux/bpf.h>
#include <linux/if_ether.h>
#include <linux/ip.h>
#include <bpf/bpf_helpers.h>
struct { __uint(type, BPF_MAP_TYPE_HASH); __type(key, __u32); __type(value, __u64);
         __uint(max_entries, 4); } m SEC(".maps");
char _license[] SEC("license") = "GPL";
"""
PROLOGUE = "void *data = (void *)(long)ctx->data; void *data_end = (void *)(long)ctx->data_end;"
HASH = [dict(type=1, key_size=4, value_size=8, max_entries=4)]
ARRAY = [dict(type=2, key_size=4, value_size=8, max_entries=4)]
KEY_ON_STACK = asm.st(4, 10, -4, 0) + asm.alu("mov", 2, 10) + asm.alu("add", 2, imm=-4)


def c_prog(body, decls=""):
    return HDR + decls + 'SEC("xdp") int prog(struct xdp_md *ctx)\n{\n' + body + "\n}\n"


# name: (C source or asm instructions, maps for asm, expected 6.1 message lines (None = accepted))
CASES = {
    # packet access without a range check, off by one, and the correct checks
    "pkt_no_check": (c_prog(PROLOGUE + " struct ethhdr *eth = data;\n"
                            "return eth->h_proto == 8 ? XDP_DROP : XDP_PASS;"), None,
                     ["invalid access to packet, off=12 size=1, R1(id=0,off=12,r=0)",
                      "R1 offset is outside of the packet"]),
    "pkt_off_by_one": (c_prog(PROLOGUE + " struct ethhdr *eth = data;\n"
                              "if (data + 13 > data_end) return XDP_PASS;\n"
                              "return eth->h_proto == 8 ? XDP_DROP : XDP_PASS;"), None,
                       ["invalid access to packet, off=13 size=1, R1(id=0,off=13,r=13)",
                        "R1 offset is outside of the packet"]),
    "ip_header_unchecked": (c_prog(PROLOGUE + " struct iphdr *ip = data + sizeof(struct ethhdr);\n"
                                   "if (data + sizeof(struct ethhdr) > data_end) return XDP_PASS;\n"
                                   "return ip->protocol == 6 ? XDP_DROP : XDP_PASS;"), None,
                            ["invalid access to packet, off=23 size=1, R1(id=0,off=23,r=14)",
                             "R1 offset is outside of the packet"]),
    "pkt_checked": (c_prog(PROLOGUE + " struct ethhdr *eth = data;\n"
                           "if (data + sizeof(*eth) > data_end) return XDP_PASS;\n"
                           "return eth->h_proto == 8 ? XDP_DROP : XDP_PASS;"), None, None),
    "ip_header_checked": (c_prog(PROLOGUE + " struct iphdr *ip = data + sizeof(struct ethhdr);\n"
                                 "if ((void *)(ip + 1) > data_end) return XDP_PASS;\n"
                                 "return ip->protocol == 6 ? XDP_DROP : XDP_PASS;"), None, None),
    "asm_off_by_one_jge": (asm.ldx(4, 2, 1, 0) + asm.ldx(4, 3, 1, 4) + asm.alu("mov", 4, 2)
                           + asm.alu("add", 4, imm=4) + asm.jmp("jge", 4, 2, src=3) + asm.ldx(4, 0, 2, 2)
                           + asm.exit_() + asm.mov64(0, 2) + asm.exit_(), None,
                           ["invalid access to packet, off=2 size=4, R2(id=0,off=2,r=5)",
                            "R2 offset is outside of the packet"]),
    "asm_jge_strict_is_one_more": (asm.ldx(4, 2, 1, 0) + asm.ldx(4, 3, 1, 4) + asm.alu("mov", 4, 2)
                                   + asm.alu("add", 4, imm=4) + asm.jmp("jge", 4, 2, src=3) + asm.ldx(4, 0, 2, 1)
                                   + asm.exit_() + asm.mov64(0, 2) + asm.exit_(), None, None),
    # pointer arithmetic on pkt_end
    "pkt_end_arith": (asm.ldx(4, 2, 1, 4) + asm.alu("add", 2, imm=-1) + asm.mov64(0, 2) + asm.exit_(), None,
                      ["R2 pointer arithmetic on pkt_end prohibited"]),
    "pkt_ptr_32bit_arith": (asm.ldx(4, 2, 1, 0) + asm.alu("add", 2, imm=1, wide=False) + asm.mov64(0, 2)
                            + asm.exit_(), None, ["R2 32-bit pointer arithmetic prohibited"]),
    # ctx access of the wrong size or offset
    "ctx_u64_fields": (HDR + "struct md64 { __u64 data; __u64 data_end; };\n"
                       'SEC("xdp") int prog(struct md64 *ctx)\n{\n' + PROLOGUE
                       + "\nif (data + 1 > data_end) return XDP_PASS;\nreturn *(__u8 *)data;\n}\n", None,
                       ["invalid bpf_context access off=8 size=8"]),
    "ctx_egress_ifindex": (c_prog("return ctx->egress_ifindex ? XDP_DROP : XDP_PASS;"), None,
                           ["invalid bpf_context access off=20 size=4"]),
    "ctx_write": (c_prog("ctx->rx_queue_index = 1; return XDP_PASS;"), None,
                  ["invalid bpf_context access off=16 size=4"]),
    "ctx_st_imm": (asm.st(4, 1, 0, 1) + asm.mov64(0, 0) + asm.exit_(), None,
                   ["BPF_ST stores into R1 ctx is not allowed"]),
    "ctx_u16_load": (asm.ldx(2, 0, 1, 0) + asm.exit_(), None, ["invalid bpf_context access off=0 size=2"]),
    "ctx_fields_ok": (c_prog("return ctx->ingress_ifindex + ctx->rx_queue_index > 3 ? XDP_DROP : XDP_PASS;"),
                      None, None),
    # uninitialised registers and stack
    "reg_uninit": (asm.alu("mov", 0, 2) + asm.exit_(), None, ["R2 !read_ok"]),
    "r0_uninit_at_exit": (asm.exit_(), None, ["R0 !read_ok"]),
    "r1_after_call": (asm.call(5) + asm.alu("mov", 0, 1) + asm.exit_(), None, ["R1 !read_ok"]),
    "stack_uninit_read": (asm.st(8, 10, -16, 1) + asm.ldx(8, 0, 10, -8) + asm.exit_(), None,
                          ["invalid read from stack off -8+0 size 8"]),
    "stack_never_written": (asm.ldx(8, 0, 10, -8) + asm.exit_(), None,
                            ["invalid read from stack R10 off=-8 size=8"]),
    "stack_uninit_key": (asm.alu("mov", 2, 10) + asm.alu("add", 2, imm=-4) + asm.ld_map(1, 0) + asm.call(1)
                         + asm.mov64(0, 2) + asm.exit_(), HASH,
                         ["invalid indirect read from stack R2 off -4+0 size 4"]),
    "stack_narrow_spill_then_wide_read": (asm.st(8, 10, -8, 0) + asm.ldx(4, 1, 1, 16) + asm.stx(4, 10, 1, -8)
                                          + asm.ldx(8, 0, 10, -8) + asm.exit_(), None, None),
    "stack_written_ok": (asm.st(8, 10, -8, 7) + asm.ldx(8, 0, 10, -8) + asm.exit_(), None, None),
    # a NULL from a map lookup dereferenced, and the checked lookup
    "lookup_unchecked": (c_prog("__u32 k = 0; __u64 *v = bpf_map_lookup_elem(&m, &k);\n"
                                "return *v ? XDP_DROP : XDP_PASS;"), None,
                         ["R0 invalid mem access 'map_value_or_null'"]),
    "lookup_unchecked_array": (asm.ld_map(1, 0) + KEY_ON_STACK + asm.call(1) + asm.ldx(8, 0, 0, 0)
                               + asm.exit_(), ARRAY, ["R0 invalid mem access 'map_value_or_null'"]),
    "lookup_checked": (c_prog("__u32 k = 0; __u64 *v = bpf_map_lookup_elem(&m, &k);\n"
                              "if (!v) return XDP_PASS;\n__sync_fetch_and_add(v, 1);\nreturn XDP_PASS;"),
                       None, None),
    "lookup_arith_before_check": (asm.ld_map(1, 0) + KEY_ON_STACK + asm.call(1) + asm.alu("add", 0, imm=4)
                                  + asm.mov64(0, 2) + asm.exit_(), HASH,
                                  ["R0 pointer arithmetic on map_value_or_null prohibited, null-check it first"]),
    "map_value_oob": (asm.ld_map(1, 0) + KEY_ON_STACK + asm.call(1) + asm.jmp("jeq", 0, 1, imm=0)
                      + asm.ldx(8, 0, 0, 4) + asm.exit_(), HASH,
                      ["invalid access to map value, value_size=8 off=4 size=8",
                       "R0 min value is outside of the allowed memory range"]),
    # loops: the kernel walks bounded ones and refuses ones that cannot end
    "bounded_loop": (c_prog(PROLOGUE + " __u8 *b = data; int s = 0;\n"
                            "if (data + 16 > data_end) return XDP_PASS;\n"
                            "for (int i = 0; i < 16; i++) s += b[i];\n"
                            "return s & 1 ? XDP_DROP : XDP_PASS;"), None, None),
    "loop_bounded_by_packet_byte": (c_prog(PROLOGUE + " __u8 *b = data; int s = 0;\n"
                                           "if (data + 1 > data_end) return XDP_PASS;\n"
                                           "for (int i = 0; i < b[0]; i++) s += i;\n"
                                           "return s & 1 ? XDP_DROP : XDP_PASS;"), None, None),
    "loop_same_state": (asm.mov64(0, 2) + asm.ja(-1), None, ["infinite loop detected at insn 1"]),
    "loop_counting_forever": (asm.mov64(0, 0) + asm.alu("add", 0, imm=1) + asm.ja(-2), None,
                              ["BPF program is too large. Processed 1000001 insn"]),
    "loop_without_exit_in_c": (c_prog(PROLOGUE + " __u8 *b = data; int s = 0;\n"
                                      "if (data + 1 > data_end) return XDP_PASS;\n"
                                      "if (b[0] == 7) for (volatile int i = 0; ; i++) s += i;\n"
                                      "return XDP_PASS;"), None,
                               ["infinite loop detected at insn 9"]),
    # helper arguments of the wrong type
    "helper_key_is_a_number": (c_prog("__u64 *v = bpf_map_lookup_elem(&m, (void *)(long)ctx->rx_queue_index);\n"
                                      "return v ? XDP_DROP : XDP_PASS;"), None,
                               ["R2 type=scalar expected=fp, pkt, pkt_meta, map_key, map_value"]),
    "helper_key_is_a_map": (asm.ld_map(1, 0) + asm.ld_map(2, 0) + asm.call(1) + asm.mov64(0, 2) + asm.exit_(),
                            HASH, ["R2 type=map_ptr expected=fp, pkt, pkt_meta, map_key, map_value"]),
    "helper_map_is_a_number": (asm.mov64(1, 0) + KEY_ON_STACK + asm.call(1) + asm.mov64(0, 2) + asm.exit_(),
                               HASH, ["R1 type=scalar expected=map_ptr"]),
    "helper_ctx_is_a_number": (asm.mov64(1, 0) + asm.mov64(2, 4) + asm.call(44) + asm.mov64(0, 2)
                               + asm.exit_(), None, ["R1 type=scalar expected=ctx"]),
    "packet_after_adjust_head": (asm.alu("mov", 6, 1) + asm.ldx(4, 7, 1, 0) + asm.ldx(4, 8, 1, 4)
                                 + asm.alu("mov", 2, 7) + asm.alu("add", 2, imm=1)
                                 + asm.jmp("jgt", 2, 5, src=8) + asm.alu("mov", 1, 6) + asm.mov64(2, 4)
                                 + asm.call(44) + asm.ldx(1, 0, 7, 0) + asm.exit_() + asm.mov64(0, 2)
                                 + asm.exit_(), None, ["R7 invalid mem access 'scalar'"]),
}

IP = (PROLOGUE + " struct iphdr *ip = data + sizeof(struct ethhdr);\n"
      "if ((void *)(ip + 1) > data_end) return XDP_PASS;\n"
      "struct tcphdr *tcp = (void *)ip + ip->ihl * 4;\n")
BIG = ("struct big { __u64 c[16]; };\n"
       "struct { __uint(type, BPF_MAP_TYPE_ARRAY); __type(key, __u32); __type(value, struct big);\n"
       "        __uint(max_entries, 1); } bm SEC(\".maps\");\n")
LOOKUP_BIG = "__u32 k = 0; struct big *b = bpf_map_lookup_elem(&bm, &k);\nif (!b) return XDP_PASS;\n"
CASES.update({
    # variable-offset packet pointers (the IP header length), their check, a check too short
    "tcp_after_ihl_checked": ("#include <linux/tcp.h>\n" + c_prog(IP + "if ((void *)(tcp + 1) > data_end) return "
                                                                    "XDP_PASS;\nreturn tcp->dest == 80 ? XDP_DROP "
                                                                    ": XDP_PASS;"), None, None),
    "tcp_after_ihl_unchecked": ("#include <linux/tcp.h>\n" + c_prog(IP + "return tcp->dest == 80 ? XDP_DROP : "
                                                                      "XDP_PASS;"), None,
                                ["invalid access to packet, off=16 size=2, R2(id=1,off=16,r=0)",
                                 "R2 offset is outside of the packet"]),
    "tcp_after_ihl_short_check": ("#include <linux/tcp.h>\n" + c_prog(IP + "if ((void *)tcp + 2 > data_end) "
                                                                        "return XDP_PASS;\nreturn tcp->dest == 80 "
                                                                        "? XDP_DROP : XDP_PASS;"), None,
                                  ["invalid access to packet, off=16 size=2, R2(id=1,off=16,r=16)",
                                   "R2 offset is outside of the packet"]),
    "vlan_headers_loop": (c_prog(PROLOGUE + " struct ethhdr *eth = data; void *cur = eth + 1; __u16 proto;\n"
                                 "if ((void *)(eth + 1) > data_end) return XDP_PASS;\nproto = eth->h_proto;\n"
                                 "for (int i = 0; i < 2; i++) {\n"
                                 "  struct { __u16 tci, proto; } *v = cur;\n"
                                 "  if (proto != __builtin_bswap16(0x8100)) break;\n"
                                 "  if ((void *)(v + 1) > data_end) return XDP_PASS;\n"
                                 "  proto = v->proto; cur = v + 1;\n}\n"
                                 "return proto == 8 ? XDP_DROP : XDP_PASS;"), None, None),
    # loops as learners write them: over header bytes (more turns than the 64 states per
    # instruction xdplab used to keep), over TCP options with and without a bound on the turns
    "loop_over_200_header_bytes": (c_prog(PROLOGUE + " __u8 *b = data; __u32 s = 0;\n"
                                          "for (int i = 0; i < 200; i++) {\n"
                                          "  if (data + i + 1 > data_end) break;\n  s += b[i];\n}\n"
                                          "return s & 1 ? XDP_DROP : XDP_PASS;"), None, None),
    "loop_over_1500_header_bytes": (c_prog(PROLOGUE + " __u8 *b = data; __u32 s = 0;\n"
                                           "for (int i = 0; i < 1500; i++) {\n"
                                           "  if (data + i + 1 > data_end) break;\n  s += b[i];\n}\n"
                                           "return s & 1 ? XDP_DROP : XDP_PASS;"), None, None),
    "tcp_options_loop_bounded": ("#include <linux/tcp.h>\n" + c_prog(
        PROLOGUE + " struct tcphdr *t = data; __u8 *o = (void *)(t + 1); __u32 mss = 0;\n"
        "if ((void *)(t + 1) > data_end) return XDP_PASS;\n"
        "for (int k = 0; k < 10; k++) {\n  if ((void *)(o + 2) > data_end) break;\n"
        "  if (o[0] == 0) break;\n  if (o[0] == 1) { o++; continue; }\n"
        "  if (o[0] == 2) { mss = o[1]; break; }\n  if (o[1] < 2) break;\n  o += o[1] & 0x3f;\n}\n"
        "return mss ? XDP_DROP : XDP_PASS;"), None, None),
    "tcp_options_loop_unbounded": ("#include <linux/tcp.h>\n" + c_prog(
        PROLOGUE + " struct tcphdr *t = data; __u8 *o = (void *)(t + 1); __u32 mss = 0;\n"
        "if ((void *)(t + 1) > data_end) return XDP_PASS;\n"
        "while ((void *)(o + 2) <= data_end) {\n"
        "  if (o[0] == 0) break;\n  if (o[0] == 1) { o++; continue; }\n"
        "  if (o[0] == 2) { mss = o[1]; break; }\n  if (o[1] < 2) break;\n  o += o[1];\n}\n"
        "return mss ? XDP_DROP : XDP_PASS;"), None,
        ["invalid access to packet, off=20 size=1, R1(id=257,off=20,r=0)", "R1 offset is outside of the packet"]),
    # long loops: the kernel walks every turn; xdplab computes the turns that repeat (fast_forward)
    # and must land on the kernel's verdict and line
    "loop_scan_to_the_64k_packet_limit": (c_prog(PROLOGUE + " __u8 *p = data; __u64 s = 0;\n"
                                                 "while ((void *)(p + 1) <= data_end) { s += *p; p++; }\n"
                                                 "return s & 1 ? XDP_DROP : XDP_PASS;"), None,
                                          ["invalid access to packet, off=65535 size=1, R1(id=0,off=65535,r=65535)",
                                           "R1 offset is outside of the packet"]),
    "loop_of_a_million_turns": (c_prog("__u64 s = ctx->rx_queue_index;\n"
                                       "for (__u32 i = 0; i < 1000000; i++) s = s * 3 + i;\n"
                                       "return s & 1 ? XDP_DROP : XDP_PASS;"), None,
                                ["BPF program is too large. Processed 1000001 insn"]),
    "loop_of_50000_turns": (c_prog("__u32 s = ctx->rx_queue_index;\n"
                                   "for (__u32 i = 0; i < 50000; i++) { s ^= i; asm volatile(\"\" : \"+r\"(s)); }\n"
                                   "return s & 1 ? XDP_DROP : XDP_PASS;"), None, None),
    "loop_ends_on_equality_after_70000_turns": (c_prog("__u32 s = ctx->rx_queue_index;\n"
                                                       "for (__u32 i = 0; ; i++) { if (i == 70000) break; s ^= i; asm volatile(\"\" : \"+r\"(s)); }\n"
                                                       "return s & 1 ? XDP_DROP : XDP_PASS;"), None, None),
    "loop_bounded_by_a_u16_from_the_packet": (c_prog(PROLOGUE + " __u16 *b = data; __u32 s = 0;\n"
                                                     "if (data + 2 > data_end) return XDP_PASS;\n__u16 n = b[0];\n"
                                                     "for (__u32 i = 0; i < n; i++) { s ^= i; asm volatile(\"\" : \"+r\"(s)); }\n"
                                                     "return s & 1 ? XDP_DROP : XDP_PASS;"), None, None),
    "loop_bounded_by_a_u32_from_the_packet": (c_prog(PROLOGUE + " __u32 *b = data; __u32 s = 0;\n"
                                                     "if (data + 4 > data_end) return XDP_PASS;\n__u32 n = b[0];\n"
                                                     "for (__u32 i = 0; i < n; i++) { s ^= i; asm volatile(\"\" : \"+r\"(s)); }\n"
                                                     "return s & 1 ? XDP_DROP : XDP_PASS;"), None,
                                              ["BPF program is too large. Processed 1000001 insn"]),
    "loop_over_10000_header_bytes": (c_prog(PROLOGUE + " __u8 *b = data; __u32 s = 0;\n"
                                            "for (int i = 0; i < 10000; i++) {\n"
                                            "  if (data + i + 1 > data_end) break;\n  s += b[i];\n}\n"
                                            "return s & 1 ? XDP_DROP : XDP_PASS;"), None,
                                     ["The sequence of 8193 jumps is too complex."]),
    # a way out that is not a straight-line function of the counter: never refused, walked to the budget
    "loop_leaves_on_a_masked_counter": (c_prog("__u32 s = ctx->rx_queue_index;\n"
                                               "for (__u32 i = 0; i < 1000000; i++) {\n"
                                               "  if ((i & 0xffff) == 40000) break;\n  s ^= i; asm volatile(\"\" : \"+r\"(s));\n}\n"
                                               "return s & 1 ? XDP_DROP : XDP_PASS;"), None, None),
    "loop_leaves_on_a_shifted_counter": (c_prog("__u32 s = ctx->rx_queue_index;\n"
                                                "for (__u32 i = 0; i < 1000000; i++) {\n"
                                                "  if ((i >> 14) == 3) break;\n  s ^= i; asm volatile(\"\" : \"+r\"(s));\n}\n"
                                                "return s & 1 ? XDP_DROP : XDP_PASS;"), None, None),
    "loop_counter_on_the_stack_never_changes": (c_prog("__u64 s = ctx->rx_queue_index;\n"
                                                       "for (volatile __u32 i = 0; i < 100000; i++) s ^= i;\n"
                                                       "return s & 1 ? XDP_DROP : XDP_PASS;"), None,
                                                ["infinite loop detected at insn 12"]),
    # an index into a map value: masked, and checked one too far
    "map_value_index_masked": (c_prog(LOOKUP_BIG + "b->c[ctx->rx_queue_index & 15]++;\nreturn XDP_PASS;", BIG),
                               None, None),
    "map_value_index_off_by_one": (c_prog(LOOKUP_BIG + "__u32 i = ctx->rx_queue_index;\n"
                                          "if (i > 16) return XDP_PASS;\nb->c[i]++;\nreturn XDP_PASS;", BIG),
                                   None, ["invalid access to map value, value_size=128 off=128 size=8",
                                          "R0 max value is outside of the allowed memory range"]),
    # helpers used right, a packet pointer used after bpf_xdp_adjust_head, a CPUMAP lookup
    "printk_and_csum_diff": (c_prog(PROLOGUE + ' char f[] = "q=%d\\n";\n'
                                    "bpf_trace_printk(f, sizeof(f), ctx->rx_queue_index);\n"
                                    "if (data + 20 > data_end) return XDP_PASS;\n"
                                    "return bpf_csum_diff(0, 0, data, 20, 0) & 1 ? XDP_DROP : XDP_PASS;"),
                             None, None),
    "packet_pointer_after_adjust_head_c": (c_prog(PROLOGUE + " if (data + 20 > data_end) return XDP_PASS;\n"
                                                  "if (bpf_xdp_adjust_head(ctx, 4)) return XDP_PASS;\n"
                                                  "return *(__u8 *)data ? XDP_DROP : XDP_PASS;"), None,
                                           ["R7 invalid mem access 'scalar'"]),
    "cpumap_lookup": (c_prog("__u32 k = 0; return bpf_map_lookup_elem(&cm, &k) ? XDP_DROP : XDP_PASS;",
                             "struct { __uint(type, BPF_MAP_TYPE_CPUMAP); __type(key, __u32); __type(value, __u32);\n"
                             "        __uint(max_entries, 2); } cm SEC(\".maps\");\n"), None,
                      ["cannot pass map_type 16 into func bpf_map_lookup_elem#1"]),
})

# Accepted without a complete walk, on purpose: (part of the reason)
GIVES_UP = {
    # 65535 turns, each leaving the loop's exit for later: the turns are computed, the exits not walked
    "loop_bounded_by_a_u16_from_the_packet": "branches they left were not walked",
    # `i & 0xffff`, `i >> 14`: decisions that are not monotone in the counter are not computed
    "loop_leaves_on_a_masked_counter": "without finishing",
    "loop_leaves_on_a_shifted_counter": "without finishing",
}

# Newer kernels than 6.1 accept on purpose, or word the line differently: (what the host may do, why)
NEWER = {
    "stack_uninit_read": ("accept", "'bpf: Allow reads from uninit stack' (6.3): privileged programs may read "
                                    "stack bytes they never wrote"),
    "stack_never_written": ("accept", "the same 6.3 change"),
    "stack_uninit_key": ("accept", "the same 6.3 change, for helper arguments too"),
    "lookup_unchecked_array": ("accept", "'bpf: verifier: Support eliding map lookup nullness' (6.13): an array "
                                         "lookup with a constant key in range is never NULL"),
    "helper_key_is_a_number": ("prefix", "6.6 and later accept any memory as a map key: the kernel lists more "
                                         "types after map_value"),
    "helper_key_is_a_map": ("prefix", "as above"),
    "ctx_st_imm": ("invalid bpf_context access off=0 size=4",
                   "'bpf: allow ctx writes using BPF_ST_MEM instruction' (6.3) dropped the BPF_ST line; the "
                   "write is then refused by xdp_is_valid_access"),
}


def build(name, tmp_path, verify=True):
    src, maps, _want = CASES[name]
    if isinstance(src, str):
        if not HAVE_CLANG:
            pytest.skip("clang not installed (apt-get install clang libbpf-dev)")
        from xdplab.bpf.progs import compile_c
        path = compile_c(src, out=tmp_path / f"{name}.o")
        return path, load_object(path, verify=False) if not verify else None
    return None, load_insns(src, maps=maps or (), verify=False) if not verify else None


def lab_verdict(name, tmp_path):
    """(verdict, kernel message lines) xdplab's verifier gives the case."""
    src, maps, _want = CASES[name]
    if isinstance(src, str):
        path, _ = build(name, tmp_path)
        eo = read_object(path)
        prog, mdefs = eo.progs[0], eo.maps
    else:
        obj = load_insns(src, maps=maps or (), verify=False)
        prog, mdefs = obj._progs[0], obj._mapdefs
        prog = _AsProgDef(prog)
    r = verify_program(prog, mdefs, raise_on_reject=False)
    return r


class _AsProgDef:
    def __init__(self, p):
        self.name, self.section, self.attach, self.insns, self.line_info = p.name, p.section, p.attach, \
            p.insns, p.line_info


@pytest.mark.parametrize("name", sorted(CASES))
def test_lab_gives_the_61_verdict_and_message(name, tmp_path):
    want = CASES[name][2]
    r = lab_verdict(name, tmp_path)
    if want is None:
        assert r.verdict in ("accept", "unsure"), r.message
    else:
        assert r.verdict == "reject", f"{name}: accepted ({r.reason})"
        assert r.kernel_lines == want


@pytest.mark.parametrize("name", sorted(n for n in CASES if CASES[n][2] is None))
def test_accepted_cases_are_fully_walked(name, tmp_path):
    """The near misses are proven, not given up on: the walk reached every exit (or, for the
    cases in GIVES_UP, accepted with the reason said)."""
    r = lab_verdict(name, tmp_path)
    if name in GIVES_UP:
        assert r.verdict == "unsure" and GIVES_UP[name] in r.reason, r.reason
    else:
        assert r.verdict == "accept", r.reason


@pytest.mark.kernel
@pytest.mark.parametrize("name", sorted(CASES))
def test_host_kernel_agrees(name, tmp_path):
    from xdplab.bpf.oracle import KernelError, KernelObject, KernelRefused, bpf_available
    ok, why = bpf_available()
    if not ok:
        pytest.skip(f"kernel oracle unavailable: {why}")
    src, maps, want = CASES[name]
    if isinstance(src, str):
        path, _ = build(name, tmp_path)
        obj = load_object(path, verify=False)
    else:
        obj = load_insns(src, maps=maps or (), verify=False)
    try:
        KernelObject(obj).close()
        verdict, log = "accept", ""
    except KernelRefused as e:
        pytest.skip(f"host kernel refuses this comparison for its configuration: {e.reason}")
    except KernelError as e:
        verdict, log = "reject", str(e)
    newer = NEWER.get(name)
    if want is None:
        assert verdict == "accept", log
        return
    if verdict == "accept":
        assert newer and newer[0] == "accept", f"{name}: the host kernel accepts what xdplab rejects"
        return
    lines = [ln.strip() for ln in log.splitlines()]
    if newer and newer[0] == "prefix":
        assert any(ln.startswith(want[0]) for ln in lines), log[-600:]
    elif newer and newer[0] not in ("accept", "prefix") and newer[0] in log:
        pass                                              # the newer kernel's documented wording
    else:
        for w in want:
            assert w in lines, f"{name}: kernel log lacks {w!r}:\n{log[-800:]}"


# ---------------------------------------------------------------------------- never reject what Linux loads
SHIPPED = sorted(PROGS.glob("*.o")) + sorted(TPROGS.glob("*.o")) + sorted((PROGS.parent.parent / "benchmarks"
                                                                            / "progs").glob("*.o"))


@pytest.mark.parametrize("path", SHIPPED, ids=lambda p: p.name)
def test_shipped_programs_are_not_rejected(path):
    eo = read_object(path)
    for p in eo.progs:
        r = verify_program(p, eo.maps, raise_on_reject=False)
        if path.name == "bad_oob.o":                    # wrong on purpose: the check the comment says is missing
            assert r.verdict == "reject" and r.kernel_lines[0].startswith("invalid access to packet, off=36 ")
        elif p.name == "cpumap_oob_read":               # wrong on purpose (test_cpumap): a cast of a packet pointer
            assert r.verdict == "reject" and "pointer arithmetic with <<= operator prohibited" in r.kernel_lines[0]
        else:
            assert r.verdict in ("accept", "unsure"), r.message
    # given up on (accepted, run-time checks kept): bpf-to-bpf calls, a loop the walk does not finish,
    # helpers with permissive prototypes (ringbuf, fib, load/store_bytes), callbacks, map-in-maps,
    # poisoned CO-RE instructions; a program the lab does not load at all (bpf_strncmp)
    assert path.name in {"globals.o", "loop_csum.o", "bad_oob.o", "cpumap_rps.o", "xdp_frags_ops.o", "core_parse.o",
                         "core_u64.o", "fib_router.o", "loop.o", "map_in_map.o", "ringbuf.o"} or \
        all(verify_program(p, eo.maps, raise_on_reject=False).verdict == "accept" for p in eo.progs)


def test_fuzz_generator_programs_are_not_rejected():
    """randprog's programs load into the kernel (test_kernel_oracle.py): xdplab must not refuse one."""
    for seed in range(40):
        rnd = random.Random(seed)
        for _ in range(5):
            load_insns(random_program(rnd), name="rnd")  # raises BpfVerifierError on a rejection


def test_run_time_faults_are_refused_at_load():
    """What test_vm.py's programs do wrong at run time, the verifier says at load, in the same words
    (the endless loop: the kernel's 'infinite loop detected')."""
    for insns, text in test_vm.FAULT_CASES:
        with pytest.raises(BpfVerifierError) as ei:
            load_insns(insns)
        want = {"did not exit within": "infinite loop detected at insn 0",      # ja -1: the same state
                "R1 invalid mem access 'map_value_or_null'": "R1 invalid mem access 'scalar'",   # r1 = 0
                # BPF_ST into ctx has its own line in do_check
                "invalid bpf_context access off=0 size=4": "BPF_ST stores into R1 ctx is not allowed"}.get(text, text)
        assert want in str(ei.value), str(ei.value)


# ---------------------------------------------------------------------------- how errors surface
def test_error_is_a_load_error_with_listing_and_source_line():
    with pytest.raises(BpfLoadError) as ei:
        load_object(TPROGS / "bad_oob.o")
    e = ei.value
    assert isinstance(e, BpfVerifierError) and e.insn == 6
    text = str(e)
    assert "; return *(__u16 *)(data + 36) == 0x1600 ? XDP_TX : XDP_PASS; @ bad_oob.c:18" in text
    assert "5: (2d) if r3 > r2 goto pc+4\n" in text and "6: (69) r1 = *(u16 *)(r1 +36)\n" in text
    assert "invalid access to packet, off=36 size=2, R1(id=0,off=36,r=14)\nR1 offset is outside of the packet" \
        in text
    assert "hint:" in text
    assert load_object(TPROGS / "bad_oob.o", verify=False).programs["xdp_bad"]


def test_cli_prints_the_verifier_error(capsys):
    from xdplab.bpf.cli import main
    assert main(["bpf", "run", str(TPROGS / "bad_oob.o"), "--packet-hex", "00" * 60]) == 2
    err = capsys.readouterr().err
    assert "invalid access to packet, off=36 size=2, R1(id=0,off=36,r=14)" in err
    assert "6: (69) r1 = *(u16 *)(r1 +36)" in err and "bad_oob.c:18" in err


@pytest.mark.skipif(not HAVE_CLANG, reason="clang not installed")
def test_bpf_c_magic_raises_the_verifier_error():
    pytest.importorskip("IPython")
    from IPython.core.interactiveshell import InteractiveShell
    shell = InteractiveShell.instance()
    shell.run_line_magic("load_ext", "xdplab.bpf.magic")
    with pytest.raises(BpfVerifierError) as ei:
        shell.run_cell_magic("bpf_c", "bad", CASES["ip_header_unchecked"][0])
    assert "invalid access to packet, off=23 size=1, R1(id=0,off=23,r=14)" in str(ei.value)
    assert "return ip->protocol == 6 ? XDP_DROP : XDP_PASS; @ prog.c:" in str(ei.value)
    assert "bad" not in shell.user_ns


# ---------------------------------------------------------------------------- where it cannot decide
def test_a_branch_the_kernel_may_not_take_gives_up_instead_of_rejecting():
    """w1 = ctx->rx_queue_index * 3 is a 32-bit product: its bounds here may be wider than the
    kernel's, so the path `if r1 > 100` opens may be one the kernel never walks.  The bad stack read
    on it makes the verifier give up (the program loads, the VM checks at run time), not reject."""
    insns = (asm.ldx(4, 1, 1, 16) + asm.alu("mul", 1, imm=3, wide=False) + asm.jmp("jgt", 1, 2, imm=100)
             + asm.mov64(0, 2) + asm.exit_() + asm.ldx(8, 0, 10, -8) + asm.exit_())
    r = verify_program(_AsProgDef(load_insns(insns, verify=False)._progs[0]), [], raise_on_reject=False)
    assert r.verdict == "unsure" and "may not walk" in r.reason
    # the same bad load behind a branch on a value the kernel bounds exactly (a u32 field) is refused
    insns = (asm.ldx(4, 1, 1, 16) + asm.jmp("jgt", 1, 2, imm=100) + asm.mov64(0, 2) + asm.exit_()
             + asm.ldx(1, 0, 1, 0) + asm.exit_())
    with pytest.raises(BpfVerifierError, match="R1 invalid mem access 'scalar'"):
        load_insns(insns)


def test_unmodelled_features_load():
    """BPF-to-BPF calls and loops of many turns are not walked: the program loads (verdict 'unsure')."""
    for path, name in ((TPROGS / "globals.o", "xdp_globals"), (TPROGS / "loop_csum.o", "xdp_loop_csum")):
        eo = read_object(path)
        prog = next(p for p in eo.progs if p.name == name)
        r = verify_program(prog, eo.maps, raise_on_reject=False)
        assert r.verdict == "unsure" and r.reason
        assert load_object(path).programs[name]

"""Constants and array layouts shared by the XDP core, the drivers and the eBPF VM.

Linux 6.1 values (include/uapi/linux/bpf.h, include/net/xdp.h).  This module
holds numbers only, so that ``xdplab.bpf`` and ``xdplab.xdp`` can both import it
without importing each other.

An ``xdp_buff`` is an ``int64`` array of ``XB_SIZE`` slots (``create_xdp_buff``
in ``xdplab.xdp``).  Pointers are byte offsets inside one 4 KiB page of the
board's memory (``mem.data[page]``), so ``data_hard_start`` is usually 0.
"""

__all__ = [
    "XDP_ABORTED", "XDP_DROP", "XDP_PASS", "XDP_TX", "XDP_REDIRECT", "XDP_ACTION_NAMES",
    "MEM_TYPE_PAGE_SHARED", "MEM_TYPE_PAGE_ORDER0", "MEM_TYPE_PAGE_POOL",
    "MEM_TYPE_XSK_BUFF_POOL", "MEM_TYPE_MAX", "MEM_TYPE_NAMES",
    "XDP_PACKET_HEADROOM", "PAGE_SIZE", "PAGE_SHIFT", "SMP_CACHE_BYTES",
    "SKB_SHARED_INFO_SIZE", "XDP_FRAME_SIZE", "MAX_SKB_FRAGS", "ETH_HLEN", "ETH_FCS_LEN",
    "XDP_FLAGS_HAS_FRAGS", "XDP_FLAGS_FRAGS_PF_MEMALLOC",
    "XB_PAGE", "XB_HARD_START", "XB_DATA_META", "XB_DATA", "XB_DATA_END", "XB_FRAME_SZ",
    "XB_RXQ", "XB_FLAGS", "XB_NR_FRAGS", "XB_FRAGS_SIZE", "XB_FRAGS_TRUESIZE",
    "XB_INGRESS_IFINDEX", "XB_RX_QUEUE_INDEX", "XB_EGRESS_IFINDEX", "XB_MEM_TYPE",
    "XB_MEM_ID", "XB_FRAG0", "XB_FRAG_STRIDE", "XB_SIZE",
    "ENV_CPU", "ENV_NOW_NS", "ENV_PRANDOM", "ENV_RI_TGT_INDEX", "ENV_RI_MAP_ID",
    "ENV_RI_MAP_TYPE", "ENV_RI_FLAGS", "ENV_RI_TGT_VALUE", "ENV_INSNS", "ENV_HELPER_CALLS",
    "ENV_INSN_BUDGET", "ENV_ERR", "ENV_ERR_PC", "ENV_ERR_A", "ENV_ERR_B", "ENV_ERR_C",
    "ENV_SIZE", "TOUCH_N", "TOUCH_PAGES", "TOUCH_SIZE",
]

# enum xdp_action
XDP_ABORTED = 0
XDP_DROP = 1
XDP_PASS = 2
XDP_TX = 3
XDP_REDIRECT = 4
XDP_ACTION_NAMES = ("XDP_ABORTED", "XDP_DROP", "XDP_PASS", "XDP_TX", "XDP_REDIRECT")

# enum xdp_mem_type
MEM_TYPE_PAGE_SHARED = 0
MEM_TYPE_PAGE_ORDER0 = 1
MEM_TYPE_PAGE_POOL = 2
MEM_TYPE_XSK_BUFF_POOL = 3
MEM_TYPE_MAX = 4
MEM_TYPE_NAMES = ("MEM_TYPE_PAGE_SHARED", "MEM_TYPE_PAGE_ORDER0", "MEM_TYPE_PAGE_POOL",
                  "MEM_TYPE_XSK_BUFF_POOL")

PAGE_SHIFT = 12
PAGE_SIZE = 1 << PAGE_SHIFT          # 4 KiB pages, as on the ESPRESSObin's arm64 kernel
SMP_CACHE_BYTES = 64                 # Cortex-A53 L1 D-cache line
XDP_PACKET_HEADROOM = 256            # room for xdp_frame + bpf_xdp_adjust_head encapsulation
# sizeof(struct skb_shared_info) with MAX_SKB_FRAGS=17 on 64-bit, SKB_DATA_ALIGN'ed to 64
SKB_SHARED_INFO_SIZE = 320
XDP_FRAME_SIZE = 40                  # sizeof(struct xdp_frame) in 6.1 (32 in 5.10)
MAX_SKB_FRAGS = 17                   # 65536 / PAGE_SIZE + 1
ETH_HLEN = 14
ETH_FCS_LEN = 4

XDP_FLAGS_HAS_FRAGS = 1 << 0
XDP_FLAGS_FRAGS_PF_MEMALLOC = 1 << 1

# ---- xdp_buff as an int64 array -------------------------------------------------------
XB_PAGE = 0             # page index (in mem.data) of the head buffer
XB_HARD_START = 1       # data_hard_start, byte offset in that page
XB_DATA_META = 2        # data_meta (== data + 1 means "meta invalid", as xdp_set_data_meta_invalid)
XB_DATA = 3
XB_DATA_END = 4
XB_FRAME_SZ = 5         # frame_sz: whole buffer incl. headroom and tailroom
XB_RXQ = 6              # queue index of the xdp_rxq_info this buff came from
XB_FLAGS = 7            # XDP_FLAGS_*
XB_NR_FRAGS = 8         # skb_shared_info.nr_frags (valid only with XDP_FLAGS_HAS_FRAGS)
XB_FRAGS_SIZE = 9       # skb_shared_info.xdp_frags_size
XB_FRAGS_TRUESIZE = 10  # skb_shared_info.xdp_frags_truesize
XB_INGRESS_IFINDEX = 11 # rxq->dev->ifindex, seen by programs as xdp_md.ingress_ifindex
XB_RX_QUEUE_INDEX = 12  # rxq->queue_index, xdp_md.rx_queue_index
XB_EGRESS_IFINDEX = 13  # txq->dev->ifindex (devmap programs), else 0
XB_MEM_TYPE = 14        # rxq->mem.type
XB_MEM_ID = 15          # rxq->mem.id
XB_FRAG0 = 16           # frag i at XB_FRAG0 + i*XB_FRAG_STRIDE: (page, offset, size)
XB_FRAG_STRIDE = 3
XB_SIZE = XB_FRAG0 + MAX_SKB_FRAGS * XB_FRAG_STRIDE

# ---- program run environment, an int64 array of ENV_SIZE slots ---------------------------
ENV_CPU = 0             # bpf_get_smp_processor_id()
ENV_NOW_NS = 1          # bpf_ktime_get_ns(): the simulated CPU clock
ENV_PRANDOM = 2         # state of bpf_get_prandom_u32() (seeded, updated by the VM)
# struct bpf_redirect_info, written by bpf_redirect / bpf_redirect_map, read and cleared
# by xdp_do_redirect
ENV_RI_TGT_INDEX = 3    # map key, or ifindex for bpf_redirect
ENV_RI_MAP_ID = 4       # map id (INT_MAX after a bpf_redirect(), 0 when unset)
ENV_RI_MAP_TYPE = 5     # BPF_MAP_TYPE_* (0 = UNSPEC: plain bpf_redirect)
ENV_RI_FLAGS = 6
ENV_RI_TGT_VALUE = 7    # looked-up entry (map-type specific handle), -1 if none
ENV_INSNS = 8           # out: instructions executed by the last run
ENV_HELPER_CALLS = 9    # out: helper calls made by the last run
ENV_INSN_BUDGET = 10    # in: instruction budget for one run (0 = VM default)
ENV_ERR = 11            # out: 0, or a VM fault code (the run stopped; see xdplab.bpf)
ENV_ERR_PC = 12         # out: instruction index of the fault
ENV_ERR_A = 13          # out: fault details (meaning depends on ENV_ERR)
ENV_ERR_B = 14
ENV_ERR_C = 15
ENV_SIZE = 16

# ---- what a program's helpers touched in packet memory: the "touch table", an int64 array -------
# The XDP helpers that read or write packet bytes (bpf_xdp_load_bytes / store_bytes, the zeroed
# tail of a growing bpf_xdp_adjust_tail, the metadata bpf_xdp_adjust_head moves) record which
# 64-byte cache lines of which page they read and wrote, so that the board's DMA model sees them
# as it sees a built-in program's accesses (xdplab.mm.cpu_touch_lines).  One row per page, merged:
# a frame has at most its head and MAX_SKB_FRAGS frags.
TOUCH_N = 0                          # rows in use; row i at 1 + 3 i: (page, lines read, lines written)
TOUCH_PAGES = 1 + MAX_SKB_FRAGS
TOUCH_SIZE = 1 + 3 * TOUCH_PAGES

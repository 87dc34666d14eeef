"""Where each piece of scalar board state lives in the two register files.

numba compiles a function in time proportional to the number of arrays its
arguments carry, and every kernel takes the whole board: so the board is a
handful of arrays, not one array per field.  Every scalar the kernels mutate
is a slot of ``b.r`` (int64) or ``b.f`` (float64); tables (pages, descriptors,
pools, skbs) are 2-D arrays with ``*_FIELD`` column constants in their own
module.  This module only hands out slot numbers, in blocks per concept.
"""

from .nic.mvneta_stats import NSTATS

_r = 0
_f = 0


def _R(n=1):
    global _r
    i = _r
    _r += n
    return i


def _F(n=1):
    global _f
    i = _f
    _f += n
    return i


# 8 RX queues each hold a pool while the port is up, and a restart (program attach/detach, MTU
# change) creates 8 new ones while pools with pages still in flight wait to be freed
MAX_POOLS = 32
RXQ_NUMBER = 8             # mvneta's rxq_number / txq_number (module-level statics, 8 each)
TXQ_NUMBER = 8
MAX_OPS = 64               # room for xdplab.cost.OPS
MAX_FLOWS = 1024
MAX_PROGS = 16             # program handles (slot 0 is NULL)
TXCAP_MAX = 256
MAX_NETDEV = 8             # rows of the net_device table b.nd (xdplab.netdev)

# --- mm: the page allocator
R_NR_FREE = _R()
R_FAIL_INTERVAL = _R()     # fail_page_alloc/interval (0 = off)
R_FAIL_TIMES = _R()        # fail_page_alloc/times (-1 = no limit)
R_FAIL_CALLS = _R()
R_FAIL_FAILED = _R()
R_MM_ALLOCS = _R()
R_MM_FREES = _R()
R_MM_ALLOC_FAILS = _R()
R_MM_DMA_MAPS = _R()
# --- cpu
R_CPU_CUR = _R()
R_IN_SOFTIRQ = _R()        # in_serving_softirq(): the CPU is running NET_RX (NAPI); page_pool's direct recycling needs it
# Each CPU's clock and idle time are integers in CLOCK_UNIT_NS units (fixed point), not float ns:
# the clock is the one serial chain that every charge extends (~16 per frame), and an integer add
# is 1 cycle of latency where a float add is 4.  2**-16 ns keeps a cost's rounding under 8 fs
# and the clock exact as a float (cpu_now) for 2**37 ns, over two minutes of board time.
CLOCK_SHIFT = 16
CLOCK_UNIT_NS = 1.0 / (1 << CLOCK_SHIFT)
R_CLOCK = _R(2)            # each CPU's clock (busy = clock - idle), as of its last settle
R_CLK_PEND = _R()          # a tracing board: cycles charged to the current CPU since its clock was last settled
R_IDLE = _R(2)             # time each CPU sat idle (jumped to the next interrupt)
R_COST_FX = _R(MAX_OPS)    # the board profile's cost of each operation, in CLOCK_UNIT_NS
R_OP_COUNT = _R(MAX_OPS)   # operations charged so far, per kind
R_OP_SNAP = _R(MAX_OPS)    # R_OP_COUNT when the current CPU's clock was last settled (xdplab.cost.cpu_clock)
# --- mvneta RX queue 0 (rxq_def: the only queue that carries traffic; queue q's descriptors are rows
# q * R_RXQ_SIZE .. of b.rxd, and its pool is R_RXQ_POOL + q)
R_RXQ_SIZE = _R()
R_RXQ_NEXT_DESC_TO_PROC = _R()
R_RXQ_FIRST_TO_REFILL = _R()
R_RXQ_REFILL_NUM = _R()
R_RXQ_HW_NEXT = _R()       # where the NIC writes its next frame
R_RXQ_HW_GIVE = _R()       # next descriptor mvneta_rxq_desc_num_update hands to the NIC
R_RXQ_BUSY = _R()          # filled by the NIC, not yet acknowledged by the driver
R_RXQ_PENDING_IRQ = _R()   # filled since the interrupt was last raised
R_RXQ_POOL = _R(RXQ_NUMBER)  # rxq->page_pool of each RX queue ([0]: rxq_def's), -1 = NULL
R_RXQ_CUR_DESC = _R()      # descriptor the RX loop is on (for the trace)
# --- mvneta TX queue 0
R_TXQ_SIZE = _R()
R_TXQ_PUT = _R()           # txq_put_index
R_TXQ_GET = _R()           # txq_get_index
R_TXQ_COUNT = _R()
R_TXQ_PENDING = _R()       # queued, doorbell not rung
R_TXQ_HW_NEXT = _R()
R_TXQ_HW_SENT = _R()       # sent by the MAC, not reclaimed yet
R_TXQ_UNANNOUNCED = _R()   # txq->pending: descriptors written by ndo_xdp_xmit without XDP_XMIT_FLUSH, doorbell not rung
# --- the port (struct mvneta_port and its net_device)
R_IFINDEX = _R()
R_MTU = _R()
R_RUNNING = _R()
R_PKT_SIZE = _R()          # pp->pkt_size = MVNETA_RX_PKT_SIZE(mtu), set at open / MTU change
R_MAX_RX_SIZE = _R()       # what mvneta_max_rx_size_set programmed into MVNETA_GMAC_CTRL_0 (bytes the MAC accepts)
R_RXQ_CMD = _R()           # MVNETA_RXQ_CMD / MVNETA_TXQ_CMD: bitmap of the initialised queues (mvneta_port_up)
R_TXQ_CMD = _R()
R_XDP_PROG = _R()          # pp->xdp_prog: a program handle (a slot of R_PROG_REFCNT), 0 = NULL
R_PROG_REFCNT = _R(MAX_PROGS)  # bpf_prog->aux->refcnt of the programs the board holds references to
R_PROG_KIND = _R()
R_PROG_ID = _R()
R_BPF_INTERP_ADDR = _R()   # address of the eBPF interpreter's entry (xdplab.bpf.vm.interp_entry_addr); 0 until a program is attached
R_PROG_FRAGS = _R()
R_RX_OFFSET = _R()         # pp->rx_offset_correction
R_NAPI_SCHED = _R()
R_IRQ_ON = _R()
R_DMA_SYNC_MODE = _R()
R_COAL_PKTS = _R()
R_COAL_USEC = _R()
R_WARNED_INVALID = _R()
R_LAST_ACT = _R()
R_POLLS = _R()
R_POLLS_FULL = _R()
R_VERDICTS = _R(6)         # per XDP action value; [5] = invalid
R_STATS = _R(NSTATS)       # netdev + ethtool counters (xdplab.nic.mvneta_stats)
# --- network stack
R_SKB_NR_FREE = _R()
R_GRO_COUNT = _R()
R_TC_DROP = _R()
R_SKB_RELEASE = _R()       # 1: the 5.9 driver's skb path, page_pool_release_page() after build_skb (0: 6.1 recycling)
R_BPF_INTERP = _R()        # 1: net.core.bpf_jit_enable=0, the board prices programs as ___bpf_prog_run runs them
R_STACK_STATS = _R(8)
# --- traffic with a pktgen-like stamp (flow id, sequence number) in the payload, checked at the socket
R_WIRE_SEQ_OFF = _R()      # frame offset of the stamp (0 = the MAC writes none)
R_FLOW_LAST_SEQ = _R(MAX_FLOWS)  # per flow: the highest sequence number delivered so far (-1: none)
# --- the second CPU and CPUMAP (xdplab.cpumap)
R_CPUMAP_ACTIVE = _R()     # entries with a kthread (0: sim_run never looks at xdplab.cpumap)
R_CPUMAP_MAP_ID = _R()     # the board's CPUMAP (one per board)
R_CPUMAP_SAVE = _R(8)      # the interrupted CPU's context while a kthread runs nested (xdplab.cpumap)
# --- XDP core: mem id allocator and the rxq's struct xdp_rxq_info
R_MEM_ID_NEXT = _R()
R_XDP_RXQ = _R(7 * RXQ_NUMBER)   # one struct xdp_rxq_info per RX queue
R_PP_NDESTROYING = _R()    # pools waiting for their pages (PP_DESTROYING): the deferred work's to retry
# --- net devices and the redirect core (xdplab.netdev, xdplab.redirect, xdplab.devmap)
R_NAPI_DEV = _R()          # row of b.nd whose NAPI poll is running (the redirect's dev / dev_rx)
R_XDP_NO_DIRECT = _R()     # xdp_set_return_frame_no_direct(): __xdp_return may not recycle NAPI-direct
R_DEV_FLUSH_N = _R()       # this CPU's dev_flush_list: devmap bulk queues with frames (rows of b.nd) ...
R_DEV_FLUSH = _R(MAX_NETDEV)   # ... in list order (list_add: the newest first)
R_VETH_PS = _R(8)          # veth_poll's struct veth_stats (poll-local), xdplab.nic.veth.PS_*
R_INJ_NEXT = _R()          # NetDev.inject: the next frame of the traffic the namespace's sender sends (b.wire)
R_INJ_ERRS = _R()          # ... sends that failed before veth_xmit (no page or skb for the frame: -ENOBUFS)
# --- trace, kernel log, sanitizer
R_TR_N = _R()
R_TR_LOST = _R()
R_TR_MUTE = _R()           # events not recorded: the driver is setting up a queue that carries no traffic
R_LOG_N = _R()
R_SAN_N = _R()
R_SAN_SEEN = _R()
# --- eBPF programs: faults the VM reported (the first one's environment is kept)
R_BPF_FAULTS = _R()
R_BPF_FAULT_ENV = _R(16)   # ENV_SIZE slots
# --- wire
R_WIRE_NEXT = _R()
R_WIRE_TX_N = _R()
R_WIRE_FLEN = _R(MAX_FLOWS)
R_WIRE_RXST = _R(MAX_FLOWS)  # the RX descriptor status bits the MAC's parser gives each template (mvneta_hw_parse)
R_TXCAP_LEN = _R(TXCAP_MAX)
NR = _r

F_HZ = _F()
F_FIRST_PENDING = _F()     # arrival of the first frame not yet signalled by an interrupt
F_GBPS = _F()
F_TX_LAST = _F()           # when the TX MAC is free again
F_PP_DEFER = _F(MAX_POOLS * 3)   # per pool: defer_start, next retry, defer_warn
F_COST = _F(MAX_OPS)          # the board profile: cycles per operation (R_COST_FX is what is charged)
NF = _f

"""The sanitizer sees compiled programs: what an eBPF program and its helpers read and write of
the packet goes to the board's DMA model (per 64-byte cache line), as a built-in program's
accesses do, so a driver's missing or short DMA sync is caught whoever wrote the packet.

Each case runs a small program (raw eBPF, tests/bpf/asm.py) on a python-mode board twice: with a
driver that forgets or shortens one sync (the sanitizer must stop it, at the line that lost the
data) and with the lab's 6.1 driver (not a word).  ``test_*_correct_driver`` run the same
programs at both speeds, the jitted board with the translated program, and hold the two to the
same cache-line state and costs.
"""

import numpy as np
import pytest

import asm
from xdplab import Board, SanitizerError
from xdplab import _layout as L
from xdplab.bpf import create_test_xdp, load_insns, test_run
from xdplab.bpf.state import CTL_PKT_RD, CTL_PKT_WR, CTL_TOUCH
from xdplab.cost import OPS
from xdplab.mm import _sync_for_cpu_lines, dma_to_page, line_mask
from xdplab.page_pool import page_pool_put_full_page, page_pool_put_page
from xdplab.xdp_abi import XB_FLAGS, XB_FRAG0, XB_FRAG_STRIDE, XB_NR_FRAGS, XB_PAGE, XDP_FLAGS_HAS_FRAGS

XDP_DROP, XDP_TX = 1, 3
GROW = 128


def _prog(insns, section="xdp"):
    return load_insns(insns, name="prog", section=section, verify=False).programs["prog"]


def _bounds(n, fail):
    """r2 = data, r3 = data_end; if data + n > data_end goto +fail (past this sequence)."""
    return asm.ldx(4, 2, 1, 0) + asm.ldx(4, 3, 1, 4) + asm.alu("mov", 4, 2) + asm.alu("add", 4, imm=n) + \
        asm.jmp("jgt", 4, fail, src=3)


def _ret(v):
    return asm.mov64(0, v) + asm.exit_()


# --- the programs ------------------------------------------------------------------------------

def store_prog():
    """Rewrite the first byte of the destination MAC and send the frame back (XDP_TX)."""
    return _prog(_bounds(14, 3) + asm.st(1, 2, 0, 0x02) + _ret(XDP_TX) + _ret(XDP_DROP))


def store_bytes_prog(off=300):
    """bpf_xdp_store_bytes(ctx, off, &u64, 8), then XDP_DROP."""
    return _prog(asm.alu("mov", 6, 1) + asm.st(8, 10, -8, 0x55) + asm.alu("mov", 1, 6) + asm.mov64(2, off) +
                 asm.alu("mov", 3, 10) + asm.alu("add", 3, imm=-8) + asm.mov64(4, 8) + asm.call(190) +
                 _ret(XDP_DROP))


def grow_prog(shrink_back=False):
    """bpf_xdp_adjust_tail(ctx, +GROW) (the kernel zeroes the grown tail), optionally
    bpf_xdp_adjust_tail(ctx, -GROW) after it, then XDP_DROP."""
    p = asm.alu("mov", 6, 1) + asm.mov64(2, GROW) + asm.call(65)
    if shrink_back:
        p += asm.alu("mov", 1, 6) + asm.mov64(2, -GROW) + asm.call(65)
    return _prog(p + _ret(XDP_DROP))


def meta_move_prog():
    """Push data back 10 bytes, put 8 bytes of metadata in front of it (headroom line 3 only),
    then pop 74 bytes of header: bpf_xdp_adjust_head moves the metadata along, to [314, 322),
    cache lines 4 and 5, where the NIC writes the next frame.  XDP_DROP."""
    return _prog(asm.alu("mov", 6, 1) + asm.mov64(2, -10) + asm.call(44) +
                 asm.alu("mov", 1, 6) + asm.mov64(2, -8) + asm.call(54) +
                 asm.ldx(4, 2, 6, 8) + asm.ldx(4, 3, 6, 0) + asm.alu("mov", 4, 2) + asm.alu("add", 4, imm=8) +
                 asm.jmp("jgt", 4, 6, src=3) +
                 asm.st(8, 2, 0, 7) + asm.alu("mov", 1, 6) + asm.mov64(2, 74) + asm.call(44) + _ret(XDP_DROP) +
                 _ret(XDP_DROP))


def read_far_prog(off=200):
    """Read one byte at data + off (past the first 64 bytes and their cache lines), XDP_DROP."""
    return _prog(_bounds(off + 1, 3) + asm.ldx(1, 0, 2, off) + _ret(XDP_DROP) + _ret(XDP_DROP))


def read_frag_prog(off=4000):
    """xdp.frags: bpf_xdp_load_bytes(ctx, off, &u32, 4), a byte range in the first frag of a
    5000-byte frame (the head holds 3518), XDP_DROP."""
    return _prog(asm.alu("mov", 6, 1) + asm.st(4, 10, -4, 0) + asm.mov64(2, off) + asm.alu("mov", 3, 10) +
                 asm.alu("add", 3, imm=-4) + asm.mov64(4, 4) + asm.call(189) + _ret(XDP_DROP), "xdp.frags")


# --- drivers that lose a sync ------------------------------------------------------------------

def submit_frame_without_sync(b, frame, dma_map):
    """mvneta_xdp_submit_frame that forgot dma_sync_single_for_device() before XDP_TX."""
    from xdplab.nic.mvneta import (MVNETA_TX_L4_CSUM_NOT, MVNETA_TXD_F_DESC, MVNETA_TXD_L_DESC,
                                   MVNETA_TXD_Z_PAD, MVNETA_TYPE_XDP_TX, MVNETA_XDP_DROPPED, MVNETA_XDP_TX, _tx_desc)
    from xdplab.page_pool import page_pool_get_dma_addr
    from xdplab.xdp import XDPF_HEADROOM, XDPF_LEN, xdp_frame_field
    from xdplab.xdp_abi import PAGE_SIZE, XDP_FRAME_SIZE
    page = frame // PAGE_SIZE
    if b.r[L.R_TXQ_COUNT] + 1 >= b.r[L.R_TXQ_SIZE]:
        return MVNETA_XDP_DROPPED
    length = xdp_frame_field(b, frame, XDPF_LEN)
    phys = page_pool_get_dma_addr(b, page) + (frame % PAGE_SIZE) + XDP_FRAME_SIZE + xdp_frame_field(b, frame,
                                                                                                     XDPF_HEADROOM)
    # (no dma_sync_single_for_device(dev, phys, length, DMA_BIDIRECTIONAL) here)
    _tx_desc(b, length, phys, MVNETA_TX_L4_CSUM_NOT | MVNETA_TXD_F_DESC | MVNETA_TXD_L_DESC | MVNETA_TXD_Z_PAD,
             MVNETA_TYPE_XDP_TX, frame, page)
    b.r[L.R_TXQ_UNANNOUNCED] += 1             # txq->pending++ (6.1 counts it here; the doorbell announces it)
    return (length << 8) | MVNETA_XDP_TX


def put_buff_syncing(sync_of):
    """mvneta_xdp_put_buff that recycles the head with ``sync_of(sync_len)`` bytes to sync."""
    def mvneta_xdp_put_buff(b, xdp, sync_len):
        pool = b.r[L.R_RXQ_POOL]
        if xdp[XB_FLAGS] & XDP_FLAGS_HAS_FRAGS:
            for i in range(xdp[XB_NR_FRAGS]):
                page_pool_put_full_page(b, pool, xdp[XB_FRAG0 + i * XB_FRAG_STRIDE], True)
        page_pool_put_page(b, pool, xdp[XB_PAGE], sync_of(sync_len), True)
    return mvneta_xdp_put_buff


# "XDP_DROP changed nothing": the recycle syncs no byte for the device
put_buff_no_sync = put_buff_syncing(lambda sync_len: 0)
# the length the NIC wrote (the sync computed before bpf_prog_run_xdp), not max(before, after)
put_buff_received_length = put_buff_syncing(lambda sync_len: sync_len - GROW)


def dma_sync_single_for_cpu(b, addr, size, dir):
    """A driver that syncs only the first 128 bytes of each RX buffer for the CPU (the headers
    it parses itself), at every dma_sync_single_for_cpu() call site, frags included."""
    p = dma_to_page(b, addr)
    _sync_for_cpu_lines(b, p, line_mask(addr & 4095, min(size, 128)), dir)


def xdp_prepare_buff(xdp, page, hard_start, headroom, data_len, meta_valid):
    """A driver with metadata support (xdp_prepare_buff(..., true)); mvneta 6.1 passes false."""
    from xdplab.xdp_abi import XB_DATA, XB_DATA_END, XB_DATA_META, XB_HARD_START
    xdp[XB_PAGE] = page
    xdp[XB_HARD_START] = hard_start
    xdp[XB_DATA] = hard_start + headroom
    xdp[XB_DATA_END] = hard_start + headroom + data_len
    xdp[XB_DATA_META] = hard_start + headroom


# (program, run kwargs, board kwargs, overrides of a driver that loses a sync, sanitizer code, what)
CASES = {
    "store": (store_prog, dict(size=64), {}, {"mvneta_xdp_submit_frame": submit_frame_without_sync}, 4,
              "device read stale data"),
    "store_bytes": (store_bytes_prog, dict(size=400), {}, {"mvneta_xdp_put_buff": put_buff_no_sync}, 5,
                    "device wrote over dirty cache lines"),
    "grow_tail": (grow_prog, dict(size=64), {}, {"mvneta_xdp_put_buff": put_buff_received_length}, 5,
                  "device wrote over dirty cache lines"),
    "head_moves_meta": (meta_move_prog, dict(size=128), {"overrides": {"xdp_prepare_buff": xdp_prepare_buff}},
                        {"mvneta_xdp_put_buff": put_buff_no_sync}, 5, "device wrote over dirty cache lines"),
    "read_past_64": (read_far_prog, dict(size=400), {}, {"dma_sync_single_for_cpu": dma_sync_single_for_cpu}, 3,
                     "CPU read of a DMA buffer before dma_sync_single_for_cpu()"),
    "read_in_frag": (read_frag_prog, dict(size=5000, rate=10_000), {"mtu": 9000},
                     {"dma_sync_single_for_cpu": dma_sync_single_for_cpu}, 3,
                     "CPU read of a DMA buffer before dma_sync_single_for_cpu()"),
}


def _board(case, mode="python", broken=False, driver=True):
    """A board running the case's program: with the case's driver (``driver``: the stock one
    otherwise), or with its sync lost (``broken``).  64 RX descriptors, so that recycled pages
    come round to the NIC again within a short run."""
    make, run_kw, board_kw, bad, code, what = CASES[case]
    board_kw = dict(board_kw)
    ov = dict(board_kw.pop("overrides", {}))
    if not driver:
        ov = {}
    if broken:
        ov.update(bad)
    prog = make()
    if mode == "jit":
        assert prog.jit() and prog.jited, prog.jit_error
    b = Board(None, mode=mode, overrides=ov or None, rx_ring=64, **board_kw)
    b.attach(prog)
    return b, run_kw


def _traffic(b, run_kw, n=100):
    """n frames as the case sends them, then n larger ones over the same, recycled, pages."""
    run_kw = {"rate": 100_000} | run_kw        # (no frame lost for want of a descriptor)
    r = b.run(packets=n, **run_kw)
    b.run(packets=n, size=1000, rate=run_kw["rate"])
    return r


@pytest.mark.parametrize("case", list(CASES))
def test_a_lost_sync_is_caught_with_a_compiled_program(case):
    b, run_kw = _board(case, broken=True)
    code, what = CASES[case][4:]
    with pytest.raises(SanitizerError) as e:
        _traffic(b, run_kw)
    assert e.value.code == code and what in str(e.value), str(e.value)


@pytest.mark.parametrize("case", list(CASES))
def test_the_6_1_driver_is_clean_with_the_same_program(case):
    b, run_kw = _board(case)
    r = _traffic(b, run_kw)
    assert r["rx_packets"] == 100 and b.sanitizer_reports() == []
    b.check_pages()
    b.stop()


@pytest.mark.parametrize("case", list(CASES))
def test_both_speeds_see_the_same_lines(case):
    # the translated program on the jitted board and the plain-Python interpreter on the python
    # board (the stock driver on both) leave every page's cache-line state, and every cost, the same
    boards = [_board(case, mode, driver=False)[0] for mode in ("jit", "python")]
    for b in boards:
        _traffic(b, CASES[case][1], 40)
    (j, p) = boards
    assert j.bpf_jited
    assert np.array_equal(j.state.lines, p.state.lines)
    ops = slice(L.R_OP_COUNT, L.R_OP_COUNT + len(OPS))
    assert np.array_equal(j.state.r[ops], p.state.r[ops])
    assert j.sanitizer_reports() == p.sanitizer_reports() == []


def _lines(*ranges):
    m = 0
    for a, z in ranges:
        for ln in range(a // 64, (z - 1) // 64 + 1):
            m |= 1 << ln
    return m


@pytest.mark.parametrize("jit", [False, True], ids=["interp", "jit"])
def test_the_vm_records_what_a_run_touched(jit):
    # BPF_PROG_TEST_RUN geometry: data at 256 of page 0, frags in pages 1.. at offset 0
    cases = [(store_prog(), bytes(64), 0, _lines((256, 257)), {}),
             (read_far_prog(), bytes(400), _lines((456, 457)), 0, {}),
             (store_bytes_prog(), bytes(400), 0, 0, {0: (0, _lines((556, 564)))}),
             (grow_prog(), bytes(64), 0, 0, {0: (0, _lines((320, 448)))}),
             (read_frag_prog(), bytes(5000), 0, 0, {1: (_lines((480, 484)), 0)})]
    for prog, pkt, rd, wr, touch in cases:
        if jit:
            assert prog.jit()
        test_run(prog, pkt)
        ctl = prog.object.state.ctl
        assert (int(ctl[CTL_PKT_RD]), int(ctl[CTL_PKT_WR])) == (rd, wr)
        rows = {int(ctl[CTL_TOUCH + 1 + 3 * i]): (int(ctl[CTL_TOUCH + 2 + 3 * i]), int(ctl[CTL_TOUCH + 3 + 3 * i]))
                for i in range(int(ctl[CTL_TOUCH]))}
        assert rows == touch


@pytest.mark.parametrize("mode", ["jit", "python"])
def test_grow_then_shrink_dirties_lines_6_1_does_not_sync(mode):
    """What 6.1 itself gets wrong: bpf_xdp_adjust_tail zeroes a grown tail (memset), and a
    program that shrinks it back leaves data_end where it was, so mvneta_run_xdp's sync,
    max(before, after), does not reach the zeroed lines.  Recycled unsynced, they are dirty in
    the cache when the NIC writes the next frame there: an eviction would corrupt it.  The
    sanitizer says so, for the stock driver, at both speeds."""
    prog = grow_prog(shrink_back=True)
    if mode == "jit":
        assert prog.jit()
    b = Board(prog, mode=mode, rx_ring=64)
    with pytest.raises(SanitizerError, match="device wrote over dirty cache lines") as e:
        b.run(packets=100, size=64)
    assert e.value.code == 5

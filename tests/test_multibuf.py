"""Multi-buffer XDP (5.18+): jumbo frames span descriptors; a frags-aware program sees all of them."""
import numpy as np
import pytest

from xdplab import Board, XdplabError
from xdplab.bpf import load_object, prog_path
from xdplab_testutil import npk


@pytest.fixture
def frags_obj():
    # a fresh object per test: its maps hold the counts the test checks
    return load_object(prog_path("xdp_frags.o"))


def test_non_frags_program_refused_with_jumbo_mtu():
    obj = load_object(prog_path("xdp_drop.o"))
    b = Board(None, mtu=9000)
    with pytest.raises(XdplabError, match="does not support XDP frags"):
        b.attach(list(obj.programs.values())[0])


def test_jumbo_frames_reach_a_frags_program(mode, frags_obj):
    prog = frags_obj.programs["xdp_frags_count"]
    b = Board(None, mtu=9000, mode=mode)
    b.attach(prog)
    n = npk(mode, 300, 20)
    b.run(packets=n, size=9000, rate=10_000)
    st = frags_obj.maps["stats"].lookup(0)
    frames = int.from_bytes(st[0:8], "little")
    nbytes = int.from_bytes(st[8:16], "little")
    multi = int.from_bytes(st[16:24], "little")
    assert frames == n and multi == n
    # bpf_xdp_get_buff_len = linear + frags; 6.1's mvneta counts the FCS into xdp_frags_size
    assert nbytes == n * (9000 - 4 + 4)
    e = b.ethtool()
    assert e["rx_xdp_drop"] + e["rx_xdp_pass"] + e["rx_xdp_tx"] == n
    b.check_pages()
    b.stop()


def test_a_last_buffer_of_fcs_bytes_only_keeps_the_frame_linear(mode, frags_obj):
    # MTU 3500: a 3520-byte frame (FCS included) is 3522 bytes with the Marvell header: 3520 in
    # the first buffer, the last 2 FCS bytes alone in a second.  6.1's mvneta_swbm_add_rx_fragment
    # makes a frag (and sets XDP_FLAGS_HAS_FRAGS, xdp_frags_size) only for a buffer with data:
    # the program sees a linear frame of 3518 bytes (2 of them FCS), and so does the stack
    from xdplab.xdp_abi import XB_FLAGS, XDP_FLAGS_HAS_FRAGS
    prog = frags_obj.programs["xdp_frags_count"]
    b = Board(None, mtu=3500, mode=mode)
    b.attach(prog)
    n = npk(mode, 200, 20)
    r = b.run(packets=n, size=3520, rate=10_000)
    st = frags_obj.maps["stats"].lookup(0)
    frames, nbytes, multi = (int.from_bytes(st[i:i + 8], "little") for i in (0, 8, 16))
    assert frames == n and multi == 0 and nbytes == n * 3518
    assert r["verdicts"]["XDP_ABORTED"] == 0 and r["verdicts"]["XDP_PASS"] == n
    assert b.state.xdp[XB_FLAGS] & XDP_FLAGS_HAS_FRAGS == 0
    assert b.netdev_stats()["rx_bytes"] == n * 3518
    b.check_pages()


# ---------------------------------------------------------------- every verdict with frags (issue 24)
# A 9000-byte frame (FCS included) at MTU 9000 is data_size 9002 with the Marvell header: three
# buffers of 3520 + 3520 + 1962 bytes.  The head holds 3518 bytes of frame, frag 0 3520, frag 1 1958
# (its last 4 bytes are the FCS); 6.1 sets xdp_frags_size to 5482 (the 4 FCS bytes counted).
JUMBO = 9000
LINEAR, FRAG0, FRAG1, FRAGS_SIZE = 3518, 3520, 1958, 5482
BUFS = 3


def _frags_verdict(act):
    """return act; from an "xdp.frags" section (the program supports frags)."""
    from xdplab.bpf import load_insns
    from xdplab.bpf.insn import pack
    name = f"frags_act{act}"
    return load_insns([pack(0xB7, 0, imm=act), pack(0x95)], name=name, section="xdp.frags").programs[name]


def _ops(**cfg):
    obj = load_object(prog_path("xdp_frags_ops.o"))
    for k, v in cfg.items():
        obj.set_global(f"frag_op_{k}", v)
    return obj


def _res(obj, name):
    v = obj.get_global(f"res_{name}")
    return v - (1 << 64) if v >= 1 << 63 else v


def _pp(b):
    return b.page_pool_stats()


@pytest.mark.parametrize("act,name", [(1, "XDP_DROP"), (0, "XDP_ABORTED")])
def test_drop_and_aborted_return_the_head_and_every_frag(mode, act, name):
    b = Board(None, mtu=JUMBO, mode=mode)
    b.attach(_frags_verdict(act))
    n = npk(mode, 300, 12)
    before = _pp(b)
    r = b.run(packets=n, size=JUMBO, rate=10_000)
    assert r["verdicts"][name] == n
    e = b.ethtool()
    assert e["rx_xdp_drop"] == n
    # every buffer of every frame back to the alloc cache (mvneta_xdp_put_buff: frags with
    # page_pool_put_full_page, the head with page_pool_put_page, both allow_direct)
    after = _pp(b)
    assert (after["cached"] + after["ring"]) - (before["cached"] + before["ring"]) == BUFS * n
    assert after["ring_full"] == before["ring_full"]
    # rx_bytes += frame_sz + (data_end - data) - data_len: frame_sz = data_size - FCS (MH included)
    assert b.netdev_stats()["rx_bytes"] == n * (JUMBO + 2 - 4)
    b.check_pages()
    b.stop()


def test_pass_builds_an_skb_with_frags(mode):
    b = Board(None, mtu=JUMBO, mode=mode)
    b.attach(_frags_verdict(2))
    n = npk(mode, 300, 12)
    r = b.run(packets=n, size=JUMBO, rate=10_000)
    assert r["verdicts"]["XDP_PASS"] == n
    # xdp_update_skb_shared_info: skb->len = linear + xdp_frags_size (6.1's mvneta counts the FCS in it)
    assert b.netdev_stats()["rx_packets"] == n
    assert b.netdev_stats()["rx_bytes"] == n * (LINEAR + FRAGS_SIZE)
    st = b.stack_stats()
    assert sum(st.values()) > 0
    # skb_mark_for_recycle: kfree_skb returns the head and every frag page to the pool
    pp = _pp(b)
    assert pp["cached"] + pp["ring"] == BUFS * n
    b.check_pages()
    b.stop()


def test_xdp_tx_uses_one_descriptor_per_buffer_and_completion_returns_every_page(mode):
    from xdplab import _layout as L
    from xdplab.nic.mvneta import MVNETA_TXD_F_DESC, MVNETA_TXD_L_DESC, MVNETA_TYPE_XDP_TX
    from xdplab.nic.mvneta_hw import TXD_BUF_PTR, TXD_BUF_TYPE, TXD_COMMAND, TXD_DATA_SIZE
    b = Board(None, mtu=JUMBO, mode=mode, trace=20000)
    b.attach(_frags_verdict(3))
    n = npk(mode, 200, 10)
    r = b.run(packets=n, size=JUMBO, rate=10_000)
    assert r["verdicts"]["XDP_TX"] == n
    e = b.ethtool()
    assert e["rx_xdp_tx"] == n and e["rx_xdp_tx_errors"] == 0
    # *nxmit_byte sums every buffer's length: 3518 + 3520 + 1958
    assert b.netdev_stats()["tx_packets"] == n
    assert b.netdev_stats()["tx_bytes"] == n * (LINEAR + FRAG0 + FRAG1)
    # the descriptors of the last frame: F_DESC on the head (it alone holds the xdp_frame), L_DESC on
    # the last frag, sizes of each buffer
    put = int(b.state.r[L.R_TXQ_PUT])
    size = int(b.state.r[L.R_TXQ_SIZE])
    rows = [(put - 3 + k) % size for k in range(3)]
    t = b.state.txd
    assert [int(t[d, TXD_DATA_SIZE]) for d in rows] == [LINEAR, FRAG0, FRAG1]
    assert all(int(t[d, TXD_BUF_TYPE]) == MVNETA_TYPE_XDP_TX for d in rows)
    assert [bool(t[d, TXD_COMMAND] & MVNETA_TXD_F_DESC) for d in rows] == [True, False, False]
    assert [bool(t[d, TXD_COMMAND] & MVNETA_TXD_L_DESC) for d in rows] == [False, False, True]
    # TX completion (xdp_return_frame_rx_napi) walks the frags, then the head: every buffer of every
    # sent frame is back; what is still on the ring comes back at ip link set down
    pp = _pp(b)
    assert pp["cached"] + pp["ring"] == BUFS * n - int(b.state.r[L.R_TXQ_COUNT])
    b.check_pages()
    b.stop()          # mvneta_txq_done_force returns what is still on the ring; check_leaks


def test_xdp_tx_ring_without_room_for_every_buffer_drops_the_frame(mode):
    # 6.1: if (txq->count + num_frames >= txq->size) return MVNETA_XDP_DROPPED; the caller recycles every
    # buffer (mvneta_xdp_put_buff) and counts rx_xdp_tx_errors.  A 64-descriptor ring holds 21
    # 3-buffer frames (60 + 3 < 64) and refuses the 22nd (63 + 3 >= 64); the MAC paused to 5 Mbit/s
    # keeps them there.  A room check for one descriptor (count + 1 >= size) would let the ring overflow.
    from xdplab import _layout as L
    b = Board(None, mtu=JUMBO, mode=mode, tx_ring=64)
    b.attach(_frags_verdict(3))
    b.state.f[L.F_GBPS] = 0.005
    n = npk(mode, 60, 30)
    r = b.run(packets=n, size=JUMBO, rate=10_000)
    e = b.ethtool()
    assert r["verdicts"]["XDP_TX"] == n
    assert e["rx_xdp_tx_errors"] > 0
    assert e["rx_xdp_tx"] + e["rx_xdp_tx_errors"] == n
    assert e["rx_xdp_tx"] == 21, e["rx_xdp_tx"]
    b.check_pages()
    b.stop()


# ---------------------------------------------------------------- helpers across frags, on the board
def _ops_board(mode, n_jit=100, n_py=8, act=1, **cfg):
    obj = _ops(act=act, **cfg)
    b = Board(None, mtu=JUMBO, mode=mode)
    b.attach(obj.programs["xdp_frags_ops"])
    n = npk(mode, n_jit, n_py)
    r = b.run(packets=n, size=JUMBO, rate=10_000)
    assert _res(obj, "frames") == n
    return obj, b, r, n


def test_get_buff_len_and_load_store_across_the_frag_boundary(mode):
    # 4 bytes at offset 3516: two in the head buffer, two in frag 0
    obj, b, r, n = _ops_board(mode, off=LINEAR - 2, len=4, store=1, pat=0x11223344)
    assert _res(obj, "len_before") == LINEAR + FRAGS_SIZE
    assert _res(obj, "store") == 0 and _res(obj, "load") == 0
    assert _res(obj, "loaded") == 0x11223344
    b.check_pages()
    b.stop()


@pytest.mark.parametrize("off,err", [(JUMBO - 2, -22), (0x10000, -14)])
def test_load_store_past_the_frame(mode, off, err):
    # offset + len > xdp_get_buff_len -> -EINVAL; offset > 0xffff -> -EFAULT; the frame is untouched
    obj, b, r, n = _ops_board(mode, off=off, len=4, store=1)
    assert _res(obj, "store") == err and _res(obj, "load") == err
    assert _res(obj, "len_after") == LINEAR + FRAGS_SIZE
    assert r["verdicts"]["XDP_DROP"] == n
    b.check_pages()
    b.stop()


def test_adjust_tail_grows_the_last_frag(mode):
    # tailroom of the last frag: rxq->frag_size (PAGE_SIZE) - offset (256) - size (1958) = 1882
    obj, b, r, n = _ops_board(mode, act=3, tail=100)
    assert _res(obj, "tail") == 0 and _res(obj, "len_after") == LINEAR + FRAGS_SIZE + 100
    assert _res(obj, "linear_after") == LINEAR
    assert b.netdev_stats()["tx_bytes"] == n * (LINEAR + FRAG0 + FRAG1 + 100)
    b.check_pages()
    b.stop()
    obj, b, r, n = _ops_board(mode, tail=4096 - 256 - FRAG1 + 1)
    assert _res(obj, "tail") == -22 and _res(obj, "len_after") == LINEAR + FRAGS_SIZE
    b.check_pages()
    b.stop()


def test_adjust_tail_shrinks_frags_away_and_releases_their_pages(mode):
    # -2000: frag 1 (1958) goes, frag 0 loses 42; its page goes back through __xdp_return(napi_direct
    # = false): the pool's ptr_ring, not the alloc cache
    obj, b, r, n = _ops_board(mode, tail=-2000)
    assert _res(obj, "tail") == 0 and _res(obj, "len_after") == LINEAR + FRAGS_SIZE - 2000
    pp = _pp(b)
    assert pp["ring"] == n and pp["cached"] == 2 * n
    b.check_pages()
    b.stop()


def test_adjust_tail_shrinks_into_the_linear_part(mode):
    # -6000: both frags (5478 bytes) go, then 522 of the head; no frag left: XDP_FLAGS_HAS_FRAGS cleared.
    # 6.1 subtracts what it freed (5478) from xdp_frags_size (5482, FCS counted): the frame ends 4 bytes
    # shorter than 9000 - 6000, as on the hardware
    obj, b, r, n = _ops_board(mode, act=2, tail=-6000)
    assert _res(obj, "tail") == 0
    assert _res(obj, "linear_after") == LINEAR - 522
    assert _res(obj, "len_after") == LINEAR - 522
    assert b.netdev_stats()["rx_bytes"] == n * (LINEAR - 522)       # the skb has no frags
    b.check_pages()
    b.stop()


def test_adjust_tail_refuses_to_shrink_below_eth_hlen(mode):
    obj, b, r, n = _ops_board(mode, tail=-(JUMBO - 14 + 1))
    assert _res(obj, "tail") == -22 and _res(obj, "len_after") == JUMBO
    pp = _pp(b)
    assert pp["cached"] == BUFS * n and pp["ring"] == 0
    b.check_pages()
    b.stop()


def test_adjust_head_and_meta_work_on_the_linear_part_only(mode):
    obj, b, r, n = _ops_board(mode, head=14)
    assert _res(obj, "head") == 0
    assert _res(obj, "linear_after") == LINEAR - 14 and _res(obj, "len_after") == JUMBO - 14
    b.stop()
    # the head can grow into the headroom only: 256 + 2 - sizeof(struct xdp_frame) (40) = 218 bytes
    obj, b, r, n = _ops_board(mode, head=-219)
    assert _res(obj, "head") == -22 and _res(obj, "len_after") == JUMBO
    b.stop()
    # mvneta prepares its buffers with meta_valid = false: bpf_xdp_adjust_meta -> -ENOTSUPP (524)
    obj, b, r, n = _ops_board(mode, meta=-8)
    assert _res(obj, "meta") == -524
    b.stop()


# ---------------------------------------------------------------- attach and MTU rules (6.1 mvneta)
def test_attach_and_mtu_rules_on_both_paths(mode):
    drop = list(load_object(prog_path("xdp_drop.o")).programs.values())[0]
    frags = _frags_verdict(1)
    # attach at a jumbo MTU: a frags program yes, a plain one -EOPNOTSUPP with mvneta's extack
    b = Board(None, mtu=9000, mode=mode)
    b.attach(frags)
    b.detach()
    with pytest.raises(XdplabError, match=r"-EOPNOTSUPP: prog does not support XDP frags"):
        b.attach(drop)
    assert b.prog_name is None
    b.stop()
    # raise the MTU with a program attached: a plain one -EINVAL, "Illegal MTU %d for XDP prog without frags"
    b = Board(None, mtu=1500, mode=mode)
    b.attach(drop)
    b.set_mtu(3520)                           # the largest MTU one buffer holds
    with pytest.raises(XdplabError, match=r"-EINVAL.*does not support frags"):
        b.set_mtu(3521)
    assert any("Illegal MTU 3521 for XDP prog without frags" in m for m in b.dmesg())
    b.detach()
    b.attach(frags)
    b.set_mtu(9000)                           # a frags program: the port restarts with the new MTU
    r = b.run(packets=npk(mode, 50, 5), size=JUMBO, rate=10_000)
    assert r["verdicts"]["XDP_DROP"] == npk(mode, 50, 5)
    b.check_pages()
    b.stop()


# ---------------------------------------------------------------- bad input: the kernel's result, nothing lost
def _summary(b, r):
    return {"verdicts": dict(r["verdicts"]), "ethtool": b.ethtool(), "netdev": b.netdev_stats(),
            "census": b.page_census(), "dmesg": b.dmesg()}


def test_frames_longer_than_the_mtu_are_mac_errors_at_both_speeds():
    # MTU 3500: the MAC takes frames up to MVNETA_RX_PKT_SIZE(3500) = 3520 + 2 bytes of data_size; a 9000-byte
    # frame arrives truncated, the first descriptor flagged ERR_SUMMARY | max frame length: mvneta_rx_error
    # counts rx_errors and leaves that buffer in the ring; the frame's second buffer, not a frame in
    # progress, goes back to the pool (page_pool_put_full_page).  No program runs for them.
    out = {}
    for mode in ("jit", "python"):
        b = Board(None, mtu=3500, mode=mode)
        b.attach(_frags_verdict(2))
        r = b.run(packets=6, size=JUMBO, rate=10_000)
        assert r["verdicts"]["XDP_PASS"] == 0
        e = b.ethtool()
        assert b.netdev_stats()["rx_errors"] == 6 and e["oversize_received"] == 6
        assert any("max frame length error" in m for m in b.dmesg())
        b.check_pages()
        out[mode] = _summary(b, r)
        b.stop()
    assert out["jit"] == out["python"]


def test_more_buffers_than_max_skb_frags_go_back_to_the_pool(mode):
    # mvneta_swbm_add_rx_fragment: a buffer past MAX_SKB_FRAGS (17) frags is not added; its page goes back
    # with page_pool_put_full_page(pool, page, true).  mvneta's max_mtu (9676, three buffers) never gets
    # there, so the function is called directly on a buff that already holds 17 frags.
    from xdplab import _layout as L
    from xdplab.mm import PGF_WHERE, PG_ALLOC_CACHE
    from xdplab.nic.mvneta_hw import RXD_BUF_PHYS_ADDR, RXD_BUF_VIRT_ADDR
    from xdplab.xdp_abi import XB_FLAGS, XB_FRAGS_SIZE, XB_NR_FRAGS, XDP_FLAGS_HAS_FRAGS
    b = Board(None, mtu=JUMBO, mode=mode)
    xdp = b.state.xdp
    xdp[XB_FLAGS] = XDP_FLAGS_HAS_FRAGS
    xdp[XB_NR_FRAGS] = 17
    xdp[XB_FRAGS_SIZE] = 17 * 3520
    i = 5
    page = int(b.state.rxd[i, RXD_BUF_VIRT_ADDR])
    b.state.r[L.R_IN_SOFTIRQ] = 1
    left = b._call("mvneta_swbm_add_rx_fragment", i, xdp, 1000, page)
    b.state.r[L.R_IN_SOFTIRQ] = 0
    assert left == 0
    assert xdp[XB_NR_FRAGS] == 17 and xdp[XB_FRAGS_SIZE] == 17 * 3520
    assert b.state.rxd[i, RXD_BUF_PHYS_ADDR] == 0
    assert b.state.pg[page, PGF_WHERE] == PG_ALLOC_CACHE
    xdp[XB_FLAGS] = 0
    xdp[XB_NR_FRAGS] = 0
    b.check_pages()
    b.stop()


def test_bad_frags_input_is_identical_at_both_speeds():
    # shrink below ETH_HLEN, a load past the frame, a TX ring without room: the same counters, census, log
    out = {}
    from xdplab import _layout as L
    for mode in ("jit", "python"):
        res = []
        obj = _ops(act=3, tail=-(JUMBO - 13), off=JUMBO, len=4)
        b = Board(None, mtu=JUMBO, mode=mode, tx_ring=64)
        b.attach(obj.programs["xdp_frags_ops"])
        b.state.f[L.F_GBPS] = 0.005
        r = b.run(packets=30, size=[64, JUMBO, 1500], rate=10_000)
        res.append(_summary(b, r))
        res.append((_res(obj, "tail"), _res(obj, "load"), _res(obj, "frames")))
        b.check_pages()
        b.stop()
        out[mode] = res
    assert out["jit"] == out["python"]
    assert out["jit"][1][0] in (-22, 0)


# ---------------------------------------------------------------- traffic: sizes, mixes, a budget that ends mid-frame
def test_a_size_sweep_keeps_every_page(mode):
    obj = load_object(prog_path("xdp_frags.o"))
    b = Board(None, mtu=9676, mode=mode)
    b.attach(obj.programs["xdp_frags_count"])
    sizes = [64, 1518, 3520, 3521, 3522, 3523, 7040, 7042, 7043, 9000, 9694] if mode == "jit" else [64, 3522, 9694]
    for size in sizes:
        st0 = obj.maps["stats"].lookup(0)
        b.run(packets=npk(mode, 20, 2), size=size, rate=10_000)
        st = obj.maps["stats"].lookup(0)
        nbytes = int.from_bytes(st[8:16], "little") - int.from_bytes(st0[8:16], "little")
        bufs = -(-(size + 2) // 3520)
        # bpf_xdp_get_buff_len: one buffer: the frame without its FCS.  Several: the head's 3518 bytes,
        # plus xdp_frags_size, which 6.1 sets at the first frag to all that remains (FCS included), so the
        # whole frame; a second buffer of FCS bytes only is no frag, and the frame stays linear (3518)
        last = size + 2 - (bufs - 1) * 3520
        expect = size - 4 if bufs == 1 else (size if bufs > 2 or last > 4 else 3518)
        assert nbytes == npk(mode, 20, 2) * expect, (size, nbytes)
        b.check_pages()
    b.stop()


def test_a_mix_of_small_and_jumbo_frames(mode):
    from xdplab.traffic import make_traffic
    n = npk(mode, 400, 20)
    arr, tmpl, frames, flen = make_traffic(n, size=[64, 9000], rate="line", seed=3)
    jumbo = int((flen[tmpl] == 9000).sum())
    assert 0 < jumbo < n
    # line rate: each frame arrives after its own time on the wire
    assert np.allclose(np.diff(arr), (flen[tmpl][1:] + 20) * 8)   # preamble + IFG: 20 bytes
    b = Board(None, mtu=JUMBO, mode=mode, seed=3)
    obj = load_object(prog_path("xdp_frags.o"))
    b.attach(obj.programs["xdp_frags_count"])
    r = b.run(packets=n, size=[64, 9000], rate="line")
    st = obj.maps["stats"].lookup(0)
    assert int.from_bytes(st[0:8], "little") == n
    assert int.from_bytes(st[16:24], "little") == jumbo              # multi_buf: the jumbo ones
    assert r["verdicts"]["XDP_PASS"] == n
    b.check_pages()
    b.stop()


def test_a_budget_that_ends_mid_frame_drops_that_frame(mode):
    # 6.1 mvneta_rx_swbm: a frame still in progress when the budget (64 descriptors) runs out is put back
    # (mvneta_xdp_put_buff(..., -1)); the next poll finds its remaining buffers with no frame in progress
    # and puts them back too.  A burst of 3-buffer frames: 64 = 21 x 3 + 1.  The poll returns 21 frames,
    # under the budget: NAPI completes with 56 descriptors still occupied, and the queue's coalescing
    # raises the interrupt again (the board had left them on the ring until another frame arrived).
    from xdplab.nic.mvneta_hw import create_wire
    from xdplab.traffic import make_traffic
    b = Board(None, mtu=JUMBO, mode=mode)
    b.attach(_frags_verdict(1))
    n = 40
    arr, tmpl, frames, flen = make_traffic(n, size=JUMBO, rate=10_000)
    arr[:] = arr[0]                  # all at once: the MAC fills 120 descriptors before the first poll
    b._set_wire(arr, tmpl, frames, flen)
    b._call("sim_run", 1 << 62)
    v = b.verdicts()
    # 21 frames in the first poll (64 descriptors), then 2 orphan buffers + 18 frames (56 descriptors)
    assert v["XDP_DROP"] == n - 1
    assert b.ethtool()["rx_xdp_drop"] == n - 1 and b.netdev_stats()["rx_packets"] == n - 1
    b.check_pages()
    b.stop()


# ---------------------------------------------------------------- XDP_REDIRECT with frags (chapter 05)
def test_frags_redirected_to_eth0_by_devmap_are_refused_without_a_tracepoint(mode):
    # 6.1's xdp_do_redirect: frags and a target that is not a CPUMAP -> -EOPNOTSUPP before any tracepoint;
    # mvneta_run_xdp puts every buffer back and counts no XDP counter; nothing reaches eth0's TX ring
    obj = load_object(prog_path("redirect_devmap.o"))
    b = Board(None, mtu=JUMBO, mode=mode, trace=20000)
    b.attach(obj.programs["xdp_redirect_frags"])
    obj.maps["tx_port"].update(0, 2)
    n = npk(mode, 100, 6)
    r = b.run(packets=n, size=JUMBO, rate=10_000)
    e = r["ethtool"]
    assert r["verdicts"]["XDP_REDIRECT"] == n and e["rx_xdp_redirect"] == 0 and e["tx_xdp_xmit"] == 0
    assert e["tx_xdp_xmit_errors"] == 0 and b.netdev_stats()["rx_packets"] == n
    assert not b.tracepoints("xdp_redirect_err") and not b.tracepoints("xdp_redirect")
    pp = _pp(b)
    assert pp["cached"] + pp["ring"] == BUFS * n
    census = b.check_pages()
    assert census["tx_ring"] == 0 and census["xdp_frame"] == 0


def test_frags_redirected_to_a_cpumap_become_skbs_with_frags_on_cpu1(mode):
    # a CPUMAP takes the frame with its frags: the kthread on CPU 1 builds an skb around the head and
    # its frags (xdp_update_skb_shared_info), each page released from the page_pool (xdp_release_frame)
    from xdplab.trace import trace_records
    obj = load_object(prog_path("redirect_cpu_frags.o"))
    obj.maps["cpu_map"].update(1, 192)
    prog = obj.programs["xdp_redirect_cpu_frags"]
    assert prog.frags
    b = Board(None, mtu=JUMBO, mode=mode, trace=20000)
    b.attach(prog)
    n = npk(mode, 100, 6)
    r = b.run(packets=n, size=JUMBO, rate=10_000, kind="udp")
    cm, st = b.cpumap_stats(), b.stack_stats()
    assert r["verdicts"]["XDP_REDIRECT"] == n == r["ethtool"]["rx_xdp_redirect"]
    assert cm["enqueue_processed"] == cm["kthread_processed"] == cm["skbs"] == n
    assert cm["pages_released"] == BUFS * n
    assert st["udp_delivered"] == n
    assert {t["cpu"] for t in trace_records(b.trace) if t["event"] == "xdp_cpumap_kthread"} == {1}
    b.check_pages()

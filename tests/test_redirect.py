"""XDP_REDIRECT (issue 22): the redirect core, DEVMAP, mvneta as a target, bad input; both speeds."""
from pathlib import Path

import pytest

from xdplab_testutil import npk
from xdplab import Board, XdplabError
from xdplab import _layout as L
from xdplab.bpf import load_object
from xdplab.bpf.maps import MapError

PROGS = Path(__file__).resolve().parents[1] / "xdplab" / "progs"


def _redirect_board(mode, ifindex=2, trace=100_000, **kw):
    obj = load_object(PROGS / "xdp_redirect.o")
    obj.set_global("ifindex_out", ifindex)
    return Board(obj.programs["xdp_redirect_prog"], mode=mode, trace=trace, **kw)


def _devmap_board(mode, prog="xdp_redirect_devmap", trace=20000, veth=True, **kw):
    obj = load_object(PROGS / "redirect_devmap.o")
    b = Board(obj.programs[prog], mode=mode, trace=trace, **kw)
    if veth:
        b.ip("netns add remote")
        b.ip("link add veth0 type veth peer name veth1 netns remote")
        b.ip("link set veth0 up")
        b.ip("-n remote link set veth1 up")
    return b, obj


def _census_holds(b):
    census = b.check_pages()
    assert census["xdp_frame"] == 0 and census["tx_ring"] == 0
    return census


def test_bpf_redirect_out_of_eth0(mode):
    # xdp-bench redirect eth0 eth0: every frame leaves through mvneta_xdp_xmit (MVNETA_TYPE_XDP_NDO)
    b = _redirect_board(mode)
    n = npk(mode, 1000, 200)
    r = b.run(packets=n, rate=300_000)
    assert b.trace.lost[0] == 0
    e = r["ethtool"]
    assert r["verdicts"]["XDP_REDIRECT"] == n
    assert e["rx_xdp_redirect"] == n and e["tx_xdp_xmit"] == n and e["tx_xdp_xmit_errors"] == 0
    assert r["netdev"]["tx_packets"] == n and e["good_frames_sent"] == n
    assert int(b.s.r[L.R_WIRE_TX_N]) == n                   # all on the wire
    assert r["devices"]["eth0"]["ethtool"]["tx_xdp_xmit"] == n
    tp = b.tracepoints("xdp:xdp_redirect")
    assert tp and all(t["ifindex"] == 2 and t["to_ifindex"] == 2 and t["err"] == 0 and t["map_id"] == 0x7FFFFFFF
                      for t in tp)
    xm = b.tracepoints("xdp:xdp_devmap_xmit")
    assert sum(t["sent"] for t in xm) == n and all(t["drops"] == 0 for t in xm)
    # TX completion unmapped each NDO buffer and returned the frame to its page_pool (not NAPI-direct)
    assert r["page_pool"]["ring"] == n
    _census_holds(b)
    assert int(b.s.pg[:, -1].sum()) == 0                    # no streaming mapping left (PGF_DMA_EXTRA)
    b.stop()


def test_bulk_queue_holds_16_and_xdp_do_flush_sends_the_rest(mode):
    # at line rate a poll takes 64 frames: the bulk queue is sent when full (16) and by xdp_do_flush
    b = _redirect_board(mode)
    n = npk(mode, 700, 150)
    r = b.run(packets=n)
    assert b.trace.lost[0] == 0
    xm = b.tracepoints("xdp_devmap_xmit")
    assert max(t["sent"] for t in xm) == 16 and sum(t["sent"] + t["drops"] for t in xm) == r["rx_packets"]
    # at a low rate a poll has a few frames: xdp_do_flush sends the short bulk at the poll's end
    n0 = len(xm)
    b.run(packets=npk(mode, 200, 40), rate=100_000)
    assert all(t["sent"] < 16 for t in b.tracepoints("xdp_devmap_xmit")[n0:])
    _census_holds(b)


def test_redirect_to_a_missing_ifindex_fails_with_einval(mode):
    b = _redirect_board(mode, ifindex=99)
    n = npk(mode, 500, 100)
    r = b.run(packets=n, rate=200_000)
    assert r["verdicts"]["XDP_REDIRECT"] == n
    assert r["ethtool"]["rx_xdp_redirect"] == 0 and r["ethtool"]["tx_xdp_xmit"] == 0
    err = b.tracepoints("xdp:xdp_redirect_err")
    assert len(err) == n and {(t["err"], t["to_ifindex"], t["map_id"]) for t in err} == {(-22, 99, 0x7FFFFFFF)}
    assert not b.tracepoints("xdp:xdp_redirect")
    assert r["page_pool"]["cached"] >= n - 64              # mvneta recycled each buffer NAPI-direct
    _census_holds(b)


def test_redirect_to_a_device_without_ndo_xdp_xmit(mode):
    b = _redirect_board(mode, ifindex=1)                    # lo: loopback_ops has no ndo_xdp_xmit
    n = npk(mode, 300, 60)
    r = b.run(packets=n, rate=200_000)
    assert {t["err"] for t in b.tracepoints("xdp_redirect_err")} == {-95}
    assert r["ethtool"]["rx_xdp_redirect"] == 0
    _census_holds(b)


def test_redirect_to_a_down_device_and_too_long_for_its_mtu(mode):
    b, obj = _devmap_board(mode)
    v0 = b.dev("veth0")
    obj.maps["tx_port"].update(0, v0.ifindex)
    b.dev("veth1", "remote").attach("drop")
    v0.down()
    n = npk(mode, 300, 60)
    r = b.run(packets=n, rate=200_000)
    assert {t["err"] for t in b.tracepoints("xdp_redirect_err")} == {-100}        # -ENETDOWN
    assert r["ethtool"]["rx_xdp_redirect"] == 0 and r["devices"]["veth1"]["ethtool"]["rx_queue_0_xdp_packets"] == 0
    v0.up()
    v0.set_mtu(500)
    r = b.run(packets=n, size=600, rate=100_000)                # 596 > 500 + 14 + 4
    errs = [t["err"] for t in b.tracepoints("xdp_redirect_err")]
    assert errs.count(-90) == n                                  # -EMSGSIZE
    assert r["ethtool"]["rx_xdp_redirect"] == 0
    _census_holds(b)


def test_empty_and_out_of_range_devmap_slots(mode):
    import sys
    sys.path.insert(0, str(Path(__file__).resolve().parent / "bpf"))
    import asm                                          # tests/bpf/asm.py: an eBPF assembler for tests
    from xdplab.bpf import load_insns
    # slot 0 empty, flags 0: bpf_redirect_map returns XDP_ABORTED (drop + xdp:xdp_exception)
    b, obj = _devmap_board(mode, veth=False)
    n = npk(mode, 300, 60)
    r = b.run(packets=n, rate=200_000)
    assert r["verdicts"]["XDP_ABORTED"] == n and r["ethtool"]["rx_xdp_drop"] == n
    assert len(b.tracepoints("xdp_exception")) == n and not b.tracepoints("xdp_redirect_err")
    # key 5 of a 4-entry devmap with fallback XDP_PASS: the frame goes up the stack
    prog = load_insns(asm.ld_map(1, 0) + asm.mov64(2, 5) + asm.mov64(3, 2) + asm.call(51) + asm.exit_(),
                      maps=[dict(type=14, key_size=4, value_size=4, max_entries=4)]).programs["prog"]
    b2 = Board(prog, mode=mode)
    r = b2.run(packets=n, rate=200_000)
    assert r["verdicts"]["XDP_PASS"] == n and r["ethtool"]["rx_xdp_redirect"] == 0
    _census_holds(b)
    _census_holds(b2)


def test_devmap_update_refuses_a_missing_device():
    b, obj = _devmap_board("python", veth=False)
    m = obj.maps["tx_port"]
    with pytest.raises(MapError, match="no device with ifindex 7") as ei:
        m.update(0, 7)
    assert ei.value.errno == 22
    m.update(0, 2)                                          # eth0
    with pytest.raises(MapError) as ei:                     # a program that is not an xdp/devmap one
        m.update(1, (2, obj.programs["xdp_redirect_devmap"]))
    assert ei.value.errno == 22
    m.update(1, (2, obj.programs["xdp_devmap_drop"]))
    assert m.lookup(1)[4:8] == (obj.programs["xdp_devmap_drop"].index + 1).to_bytes(4, "little")


def test_devmap_egress_program_runs_on_the_bulk(mode):
    b, obj = _devmap_board(mode)
    v0 = b.dev("veth0")
    b.dev("veth1", "remote").attach("drop")
    obj.maps["tx_port"].update(0, (v0.ifindex, obj.programs["xdp_devmap_drop"]))
    n = npk(mode, 200, 40)
    r = b.run(packets=n, rate=200_000)
    xm = b.tracepoints("xdp_devmap_xmit")
    assert sum(t["drops"] for t in xm) == n and sum(t["sent"] for t in xm) == 0 and {t["err"] for t in xm} == {0}
    assert r["ethtool"]["rx_xdp_redirect"] == n            # the redirect itself succeeded
    assert r["devices"]["veth1"]["ethtool"]["rx_queue_0_xdp_packets"] == 0
    # the swapping program passes them on, MACs swapped
    obj.maps["tx_port"].update(0, (v0.ifindex, obj.programs["xdp_devmap_swap"]))
    r = b.run(packets=n, rate=200_000)
    assert r["devices"]["veth1"]["ethtool"]["rx_queue_0_xdp_drops"] == n
    _census_holds(b)


def test_broadcast_clones_to_every_device_but_the_ingress(mode):
    b, obj = _devmap_board(mode, prog="xdp_redirect_broadcast")
    b.ip("link add veth2 type veth peer name veth3")
    b.ip("link set veth2 up")
    b.ip("link set veth3 up")
    for peer in (b.dev("veth1", "remote"), b.dev("veth3")):
        peer.attach("drop")
    m = obj.maps["tx_port"]
    m.update(0, b.dev("veth0").ifindex)
    m.update(1, 2)                                         # eth0 itself: BPF_F_EXCLUDE_INGRESS skips it
    m.update(3, b.dev("veth2").ifindex)
    n = npk(mode, 200, 40)
    r = b.run(packets=n, rate=200_000)
    assert r["devices"]["veth1"]["ethtool"]["rx_queue_0_xdp_drops"] == n
    assert r["devices"]["veth3"]["ethtool"]["rx_queue_0_xdp_drops"] == n
    assert r["ethtool"]["tx_xdp_xmit"] == 0
    assert {t["to_ifindex"] for t in b.tracepoints("xdp_redirect")} == {0}   # broadcast: no single target
    # the clones (MEM_TYPE_PAGE_ORDER0 pages of their own) went back to the page allocator
    from xdplab.mm import PG_FREE, PGF_PP, PGF_WHERE
    assert int(((b.s.pg[:, PGF_PP] < 0) & (b.s.pg[:, PGF_WHERE] != PG_FREE)).sum()) == 0
    _census_holds(b)


def test_frags_cannot_be_redirected_to_a_device_in_6_1(mode):
    b, obj = _devmap_board(mode, prog="xdp_redirect_frags", mtu=9000)
    obj.maps["tx_port"].update(0, b.dev("veth0").ifindex)
    b.dev("veth1", "remote").attach("drop")
    n = npk(mode, 100, 20)
    r = b.run(packets=n, size=6000, rate=20_000)
    assert r["verdicts"]["XDP_REDIRECT"] == n and r["ethtool"]["rx_xdp_redirect"] == 0
    # 6.1 returns -EOPNOTSUPP before the tracepoints (and the redirect info stays set)
    assert not b.tracepoints("xdp_redirect_err") and not b.tracepoints("xdp_redirect")
    assert r["devices"]["veth1"]["ethtool"]["rx_queue_0_xdp_packets"] == 0
    _census_holds(b)


def test_both_speeds_give_identical_counters_and_clocks():
    out = []
    for mode in ("jit", "python"):
        b, obj = _devmap_board(mode, trace=0)
        obj.maps["tx_port"].update(0, b.dev("veth0").ifindex)
        b.dev("veth1", "remote").attach("ssh-mirror")
        b.dev("veth0").attach(obj.programs["xdp_redirect_eth0"])
        rs = [b.run(packets=150, kind="ssh"), b.run(packets=150)]
        out.append(([{k: v for k, v in r.items() if not k.startswith("wall")} for r in rs],
                    b.clock_fx(0), b.page_census(), b.s.nd.copy().tolist()))
    assert out[0] == out[1]

"""veth as a redirect target and a NAPI source (issue 22 item 4), at both speeds."""
from pathlib import Path

import pytest

from xdplab_testutil import npk
from xdplab import Board, XdplabError
from xdplab.bpf import load_object

PROGS = Path(__file__).resolve().parents[1] / "xdplab" / "progs"


def _board(mode, trace=20000):
    obj = load_object(PROGS / "redirect_devmap.o")
    b = Board(obj.programs["xdp_redirect_devmap"], mode=mode, trace=trace)
    b.ip("netns add remote")
    v0, v1 = b.ip("link add veth0 type veth peer name veth1 netns remote")
    b.ip("link set veth0 up")
    b.ip("-n remote link set veth1 up")
    obj.maps["tx_port"].update(0, v0.ifindex)
    return b, obj, v0, v1


def test_the_pair_as_the_talk_creates_it():
    b = Board(None, mode="python")
    b.ip("netns add remote")
    v0, v1 = b.ip("link add veth0 type veth peer name veth1 netns remote")
    assert (v0.ifindex, v0.netns, v1.ifindex, v1.netns) == (3, None, 2, "remote")   # the peer registers first
    assert v0.peer == v1 and v1.peer == v0 and not v0.is_up and not v1.gro
    assert v0.has_ndo_xdp_xmit and not b.dev("lo").has_ndo_xdp_xmit
    assert b.dev("veth1", "remote") == v1
    with pytest.raises(XdplabError, match="does not exist"):
        b.dev("veth1")                                   # it lives in "remote"
    assert v1.ethtool()["peer_ifindex"] == 3 and set(v1.ethtool()) >= {
        "rx_queue_0_xdp_packets", "rx_queue_0_xdp_bytes", "rx_queue_0_drops", "rx_queue_0_xdp_redirect",
        "rx_queue_0_xdp_drops", "rx_queue_0_xdp_tx", "rx_queue_0_xdp_tx_errors", "tx_queue_0_xdp_xmit",
        "tx_queue_0_xdp_xmit_errors"}
    b.ip("link set veth0 up")
    assert v0.is_up and not v0.napi                      # up, but neither XDP program nor GRO
    v0.set_gro(True)
    assert v0.napi


def test_peer_without_napi_drops_everything_with_enxio(mode):
    # the trap of the veth + xdp_redirect recipe: veth1 has no program and GRO is off
    b, obj, v0, v1 = _board(mode)
    n = npk(mode, 500, 80)
    r = b.run(packets=n, rate=200_000)
    assert r["ethtool"]["rx_xdp_redirect"] == n         # the redirect itself succeeded ...
    xm = b.tracepoints("xdp:xdp_devmap_xmit")
    assert {t["err"] for t in xm} == {-6} and sum(t["drops"] for t in xm) == n and sum(t["sent"] for t in xm) == 0
    # ... only the sender's tx_dropped says so; the receiving side counts nothing
    assert r["devices"]["veth0"]["netdev"]["tx_dropped"] == n
    assert all(v == 0 for v in r["devices"]["veth1"]["ethtool"].values())
    assert all(v == 0 for v in r["devices"]["veth1"]["netdev"].values())
    # the devmap freed them (xdp_return_frame_rx_napi in eth0's NAPI): back into eth0's pool
    assert r["page_pool"]["cached"] + r["page_pool"]["ring"] == n
    b.check_pages()


def test_xdp_program_on_the_peer_receives_and_pages_go_home(mode):
    b, obj, v0, v1 = _board(mode)
    v1.attach("drop")
    n = npk(mode, 1000, 100)
    r = b.run(packets=n, rate=200_000)
    e1 = r["devices"]["veth1"]["ethtool"]
    assert e1["rx_queue_0_xdp_packets"] == n and e1["rx_queue_0_xdp_drops"] == n and e1["rx_queue_0_xdp_bytes"] == 60 * n
    assert r["devices"]["veth0"]["ethtool"]["tx_queue_0_xdp_xmit"] == n
    assert r["devices"]["veth1"]["netdev"]["rx_packets"] == n
    # dropped in veth1's NAPI (xdp_set_return_frame_no_direct): back to eth0's page_pool through its ptr_ring
    assert r["page_pool"]["ring"] == n and r["page_pool"]["cached"] == 0
    assert {t["event"] for t in _events(b, "veth_poll")} == {"veth_poll"}
    b.check_pages()


def _events(b, name):
    from xdplab.trace import trace_records
    return [e for e in trace_records(b.trace) if e["event"] == name]


def test_gro_only_peer_passes_frames_up_its_stack(mode):
    b, obj, v0, v1 = _board(mode)
    v1.set_gro(True)                                    # ethtool -K veth1 gro on
    n = npk(mode, 400, 60)
    st0 = b.stack_stats()["netif_receive_skb"]
    r = b.run(packets=n, rate=200_000)
    assert r["devices"]["veth1"]["ethtool"]["rx_queue_0_xdp_packets"] == n
    assert b.stack_stats()["netif_receive_skb"] - st0 == n
    # 6.1's __xdp_build_skb_from_frame releases the page from its pool (xdp_release_frame)
    assert r["page_pool"]["ring"] == 0 and r["page_pool"]["cached"] == 0
    b.check_pages()


def test_xdp_tx_on_the_peer_needs_napi_on_the_other_end(mode):
    b, obj, v0, v1 = _board(mode)
    v1.attach("ssh-mirror")                             # XDP_TX of the ssh frames back to veth0
    n = npk(mode, 100, 40)                              # 2 n + 64 fit veth0's ring of 256
    r = b.run(packets=n, kind="ssh", rate=200_000)
    e1 = r["devices"]["veth1"]["ethtool"]
    assert e1["rx_queue_0_xdp_tx"] == 0 and e1["rx_queue_0_xdp_tx_errors"] == n   # veth0: no NAPI
    assert r["devices"]["veth0"]["netdev"]["rx_dropped"] == n                     # veth_get_stats64: peer xdp_tx_err
    assert _events(b, "xdp_bulk_tx") and {e["d"] for e in _events(b, "xdp_bulk_tx")} == {-6}
    # GRO on veth0: its ring takes the frames, but veth_xdp_flush wakes the peer's NAPI only when the
    # peer has an XDP program, so they wait there (6.1)
    v0.set_gro(True)
    r = b.run(packets=n, kind="ssh", rate=200_000)
    assert r["devices"]["veth1"]["ethtool"]["rx_queue_0_xdp_tx"] == n
    assert v0.ring_count == n and r["devices"]["veth0"]["ethtool"]["rx_queue_0_xdp_packets"] == 0
    # with a program on veth0 the next flush wakes it and it drains its ring
    v0.attach("drop")
    r = b.run(packets=n, kind="ssh", rate=200_000)
    assert v0.ring_count == 0 and r["devices"]["veth0"]["ethtool"]["rx_queue_0_xdp_drops"] == 2 * n
    b.check_pages()


def test_round_trip_eth0_veth0_veth1_veth0_eth0_returns_pages_to_eth0s_pool(mode):
    # eth0 --devmap--> veth0 ==> veth1 (XDP_TX) ==> veth0 (bpf_redirect(2)) --> eth0 mvneta_xdp_xmit
    b, obj, v0, v1 = _board(mode)
    v1.attach("ssh-mirror")
    v0.attach(obj.programs["xdp_redirect_eth0"])
    n = npk(mode, 400, 60)
    r = b.run(packets=n, kind="ssh", rate=100_000)
    assert r["ethtool"]["tx_xdp_xmit"] == n and r["ethtool"]["good_frames_sent"] == n
    assert r["devices"]["veth0"]["ethtool"]["rx_queue_0_xdp_redirect"] == n
    assert r["page_pool"]["ring"] == n                  # TX completion: xdp_return_frame -> the pool's ring
    assert b.check_pages()["xdp_frame"] == 0
    b.stop()                                            # every page back in the allocator


def test_veth_xdp_refuses_a_peer_mtu_above_3504():
    b = Board(None, mode="python")
    v0, v1 = b.ip("link add veth0 type veth peer name veth1")
    v0.set_mtu(4000)
    with pytest.raises(XdplabError, match="Peer MTU is too large"):
        v1.attach("drop")


def test_down_device_returns_frames_left_in_its_ring(mode):
    b, obj, v0, v1 = _board(mode)
    v1.attach("ssh-mirror")
    v0.set_gro(True)                                    # frames wait in veth0's ring (see above)
    n = npk(mode, 100, 30)
    b.run(packets=n, kind="ssh", rate=100_000)
    assert v0.ring_count == n and b.page_census()["xdp_frame"] == n
    v0.down()                                           # veth_napi_del: ptr_ring_cleanup(veth_ptr_free)
    assert not v0.napi and v0.ring_count == 0 and b.page_census()["xdp_frame"] == 0
    b.check_pages()


# ---------------------------------------------------------------- traffic sent INTO a veth (veth_xmit, skb path)

def _recipe(mode, trace=20000):
    """The talk's recipe: inject into veth1 (netns remote); veth0's program redirects to eth0."""
    b, obj, v0, v1 = _board(mode, trace=trace)
    v0.attach(obj.programs["xdp_redirect_eth0"])        # bpf_redirect(2): out of eth0
    return b, obj, v0, v1


def test_inject_into_veth1_goes_out_of_eth0_as_the_talks_recipe(mode):
    b, obj, v0, v1 = _recipe(mode)
    free0 = b.page_census()["free"]
    allocs0 = b.stack_stats()["skb_allocs"]
    n = npk(mode, 600, 40)
    r = v1.inject(packets=n, size=64)
    assert r["injected"] == n and r["inject_errors"] == 0
    e0 = r["devices"]["veth0"]["ethtool"]
    # every skb crossed into veth0's ring and ran its program (veth_xdp_rcv_skb); xdp_bytes counts skb->len
    # after __dev_forward_skb's eth_type_trans: 60 - 14 bytes
    assert e0["rx_queue_0_xdp_packets"] == n and e0["rx_queue_0_xdp_redirect"] == n
    assert e0["rx_queue_0_xdp_bytes"] == 46 * n and e0["rx_queue_0_drops"] == 0
    # veth_get_stats64: veth1 sent them (veth0's rq counts), veth0 received them
    assert r["devices"]["veth1"]["netdev"]["tx_packets"] == n and r["devices"]["veth0"]["netdev"]["rx_packets"] == n
    # ... and mvneta_xdp_xmit put them on the wire
    assert r["ethtool"]["tx_xdp_xmit"] == n and r["ethtool"]["good_frames_sent"] == n
    redir = b.tracepoints("xdp:xdp_redirect")
    assert len(redir) == n and {t["to_ifindex"] for t in redir} == {2}
    # the sender's skb and veth's copy of it (kmalloc'ed head, 16 bytes of headroom < XDP_PACKET_HEADROOM)
    assert b.stack_stats()["skb_allocs"] - allocs0 == 2 * n
    # every page came home: the sender's freed by consume_skb, the copy (MEM_TYPE_PAGE_SHARED) by
    # put_page at eth0's TX completion; eth0's page_pool never saw them
    assert b.page_census()["free"] == free0 and r["page_pool"]["ring"] == 0
    b.check_pages()
    b.stop()


def test_inject_copies_the_frame_bytes_unchanged_to_the_wire():
    b, obj, v0, v1 = _recipe("python", trace=0)
    from xdplab.traffic import make_frame, flow_tuple
    r = v1.inject(packets=3, size=100)
    assert r["ethtool"]["good_frames_sent"] == 3
    src, dst, sport, dport, _ = flow_tuple(0)
    want = make_frame("udp", 100, sport=sport, dport=dport, src_ip=src, dst_ip=dst)[:96]
    got = bytes(b.s.txcap[0, :96])
    assert got == want


def test_inject_peer_programs_pass_drop_and_tx(mode):
    n = npk(mode, 200, 20)
    b, obj, v0, v1 = _board(mode)
    v0.attach("pass")
    st0 = b.stack_stats()["netif_receive_skb"]
    r = v1.inject(packets=n)
    assert r["devices"]["veth0"]["ethtool"]["rx_queue_0_xdp_packets"] == n
    assert b.stack_stats()["netif_receive_skb"] - st0 == n        # XDP_PASS: GRO, then the stack
    v0.attach("drop")
    free0 = b.page_census()["free"]
    r = v1.inject(packets=n)
    assert r["devices"]["veth0"]["ethtool"]["rx_queue_0_xdp_drops"] == n
    assert b.page_census()["free"] == free0                        # kfree_skb of the copy
    # XDP_TX from the skb path: back into veth1's ring, which needs veth1's NAPI (a program there)
    v0.attach("ssh-mirror")
    v1.attach("drop")
    r = v1.inject(packets=n, kind="ssh")
    assert r["devices"]["veth0"]["ethtool"]["rx_queue_0_xdp_tx"] == n
    assert r["devices"]["veth1"]["ethtool"]["rx_queue_0_xdp_drops"] == n
    assert b.page_census()["free"] == free0
    b.check_pages()


def test_inject_without_napi_on_the_peer_goes_up_its_stack(mode):
    b, obj, v0, v1 = _board(mode)
    n = npk(mode, 200, 20)
    st0 = b.stack_stats()["netif_receive_skb"]
    r = v1.inject(packets=n)                             # veth0: no program, no GRO: __netif_rx
    assert b.stack_stats()["netif_receive_skb"] - st0 == n
    assert r["devices"]["veth0"]["ethtool"]["rx_queue_0_xdp_packets"] == 0
    assert r["devices"]["veth1"]["netdev"]["tx_packets"] == n and r["devices"]["veth0"]["netdev"]["rx_packets"] == n
    assert r["devices"]["veth1"]["netdev"]["tx_bytes"] == 60 * n     # dev_lstats_add: the whole frame
    # GRO alone on veth0: its NAPI exists, but veth1 keeps TSO (no XDP program on veth0), so the skb is
    # not eligible for it (veth_skb_is_eligible_for_gro) and still takes __netif_rx
    v0.set_gro(True)
    r = v1.inject(packets=n)
    assert r["devices"]["veth0"]["ethtool"]["rx_queue_0_xdp_packets"] == 0
    assert b.stack_stats()["netif_receive_skb"] - st0 == 2 * n
    b.check_pages()


def test_inject_into_a_veth_whose_peer_is_down_drops_on_both_ends(mode):
    b, obj, v0, v1 = _recipe(mode)
    v0.down()
    free0 = b.page_census()["free"]
    n = npk(mode, 100, 10)
    r = v1.inject(packets=n)
    # __dev_forward_skb: the peer is not up -> its core rx_dropped; veth_xmit: the sender's priv->dropped
    assert r["devices"]["veth0"]["netdev"]["rx_dropped"] == n
    assert r["devices"]["veth1"]["netdev"]["tx_dropped"] == n
    assert r["devices"]["veth1"]["netdev"]["tx_packets"] == 0 and r["ethtool"]["good_frames_sent"] == 0
    assert b.page_census()["free"] == free0
    b.check_pages()


def test_veth_xmit_into_a_full_ring_drops_as_the_kernel_counts():
    # the peer's NAPI does not run between these sends (they are veth_xmit calls without the softirq
    # that dev_queue_xmit's bh-enable would run): the 257th skb finds the ring full
    b, obj, v0, v1 = _recipe("python", trace=0)
    from xdplab.traffic import make_traffic
    arr, tmpl, frames, flen = make_traffic(260)
    b._set_wire(arr, tmpl, frames, flen)
    free0 = b.page_census()["free"]
    rets = [b._call("veth_inject_one", v1.row, k) for k in range(260)]
    assert rets == [0] * 256 + [1] * 4                  # NETDEV_TX_OK, then NET_XMIT_DROP
    assert v0.ring_count == 256
    assert v1.netdev_stats()["tx_dropped"] == 4         # veth_xdp_rx: dev_kfree_skb_any, priv->dropped
    b._call("veth_napi_run")                            # the softirq: veth0 drains its ring
    assert v0.ring_count == 0 and v0.ethtool()["rx_queue_0_xdp_redirect"] == 256
    # and a ring that holds skbs when the device goes down frees them (veth_ptr_free: kfree_skb)
    for k in range(3):
        b._call("veth_inject_one", v1.row, k)
    assert v0.ring_count == 3
    v0.down()
    assert v0.ring_count == 0
    b.run(packets=1)                                    # eth0's TX completion of the 256 redirected frames
    census = b.check_pages()
    assert census["tx_ring"] == 0 and census["skb"] == 0 and census["xdp_frame"] == 0


def test_inject_bad_input_names_the_fix():
    b, obj, v0, v1 = _recipe("python", trace=0)
    with pytest.raises(XdplabError, match=r"in network namespace 'remote'.*Board.dev\('veth1', netns='remote'\)"):
        b.dev("veth1").inject(packets=1)
    with pytest.raises(XdplabError, match="does not exist"):
        b.dev("veth7", "remote")
    v1.down()
    with pytest.raises(XdplabError, match=r"down.*ENETDOWN.*ip -n remote link set veth1 up"):
        v1.inject(packets=1)
    v1.up()
    with pytest.raises(XdplabError, match="eth0's traffic comes from the wire"):
        b.dev("eth0").inject(packets=1)
    with pytest.raises(XdplabError, match=r"MTU 1500.*EMSGSIZE"):
        v1.inject(packets=1, size=1600)
    v1.set_mtu(9000)
    with pytest.raises(XdplabError, match="frag pages"):
        v1.inject(packets=1, size=4000)


def test_the_reverse_recipe_eth0_veth0_veth1_passes_into_the_remote_stack(mode):
    b, obj, v0, v1 = _board(mode)                       # eth0's program redirects to veth0
    v1.attach("pass")
    n = npk(mode, 300, 30)
    st0 = b.stack_stats()["netif_receive_skb"]
    r = b.run(packets=n, rate=200_000)
    assert r["devices"]["veth1"]["ethtool"]["rx_queue_0_xdp_packets"] == n
    assert b.stack_stats()["netif_receive_skb"] - st0 == n
    b.check_pages()


def test_inject_both_speeds_give_identical_counters_and_clocks():
    out = []
    for mode in ("jit", "python"):
        b, obj, v0, v1 = _recipe(mode)
        r = v1.inject(packets=30)
        r2 = v1.inject(packets=20, rate=100_000)
        out.append((r["devices"], r2["devices"], r["sim_seconds"], r2["sim_seconds"], b.clock_fx(0),
                    b.page_census(), b.stack_stats(), len(b.tracepoints("xdp:xdp_redirect"))))
    assert out[0] == out[1]

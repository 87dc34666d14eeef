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

"""Multi-buffer XDP (5.18+): jumbo frames span descriptors; a frags-aware program sees all of them."""
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

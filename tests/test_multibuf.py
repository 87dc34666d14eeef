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

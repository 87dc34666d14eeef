"""net/core/filter.c XDP buffer helpers on the simulator's xdp_buff, jitted and python."""

import numpy as np
import pytest

from xdplab._twospeed import JIT, PythonKernel
from xdplab.bpf import create_test_xdp, frame_bytes
from xdplab.xdp_abi import TOUCH_N, TOUCH_SIZE, XB_DATA, XB_DATA_END, XB_DATA_META, XB_FLAGS, XB_FRAGS_SIZE, XB_NR_FRAGS

K = [JIT, PythonKernel()]
IDS = ["jit", "python"]


def T():
    """An empty touch table."""
    return np.zeros(TOUCH_SIZE, np.int64)


def lines(*ranges):
    """The line bit set of byte ranges [a, b)."""
    m = 0
    for a, b in ranges:
        for ln in range(a // 64, (b - 1) // 64 + 1):
            m |= 1 << ln
    return m


def touched(t):
    """The touch table as {page: (lines read, lines written)} (bit sets as Python ints)."""
    return {int(t[1 + 3 * i]): (int(t[2 + 3 * i]) & (2**64 - 1), int(t[3 + 3 * i]) & (2**64 - 1))
            for i in range(int(t[TOUCH_N]))}


@pytest.mark.parametrize("k", K, ids=IDS)
def test_adjust_head_bounds(k):
    mem, xdp = create_test_xdp(bytes(range(60)))
    assert k.bpf_xdp_adjust_head(mem, xdp, -256 + 40, T()) == 0          # down to hard_start + sizeof(xdp_frame)
    assert k.bpf_xdp_adjust_head(mem, xdp, -1, T()) == -22
    mem, xdp = create_test_xdp(bytes(range(60)))
    assert k.bpf_xdp_adjust_head(mem, xdp, 46, T()) == 0                 # 14 bytes left
    assert k.bpf_xdp_adjust_head(mem, xdp, 1, T()) == -22


@pytest.mark.parametrize("k", K, ids=IDS)
def test_adjust_meta_and_head_moves_meta(k):
    mem, xdp = create_test_xdp(bytes(range(60)))
    assert k.bpf_xdp_adjust_meta(mem, xdp, -8) == 0
    assert k.bpf_xdp_adjust_meta(mem, xdp, -3) == -13               # -EACCES: not a multiple of 4
    assert k.bpf_xdp_adjust_meta(mem, xdp, -28) == -13              # 36 > 32 (6.1)
    mem[0, xdp[XB_DATA_META]: xdp[XB_DATA]] = 7
    t = T()
    assert k.bpf_xdp_adjust_head(mem, xdp, 4, t) == 0
    assert bytes(mem[0, xdp[XB_DATA_META]: xdp[XB_DATA]]) == b"\x07" * 8
    # the memmove read the old metadata [248, 256) and wrote the new [252, 260): lines 3 and 4
    assert touched(t) == {0: (lines((248, 256)), lines((252, 260)))}
    t = T()
    assert k.bpf_xdp_adjust_head(mem, xdp, 40, t) == 0 and touched(t) == {0: (lines((252, 260)), lines((292, 300)))}
    t = T()
    assert k.bpf_xdp_adjust_meta(mem, xdp, 8) == 0                  # no metadata left: nothing moves
    assert k.bpf_xdp_adjust_head(mem, xdp, -4, t) == 0 and touched(t) == {}
    xdp[XB_DATA_META] = xdp[XB_DATA] + 1                             # mvneta: meta invalid
    assert k.bpf_xdp_adjust_meta(mem, xdp, -4) == -524              # -ENOTSUPP


@pytest.mark.parametrize("k", K, ids=IDS)
def test_adjust_tail_linear(k):
    mem, xdp = create_test_xdp(bytes(range(60)))
    mem[0, 316:400] = 0xEE
    t = T()
    assert k.bpf_xdp_adjust_tail(mem, xdp, 20, np.zeros(18, np.int64), t) == 0
    assert bytes(mem[0, 316:336]) == bytes(20)                       # grown bytes zeroed
    assert touched(t) == {0: (0, lines((316, 336)))}                  # ... by the CPU: lines 4 and 5
    t = T()
    assert k.bpf_xdp_adjust_tail(mem, xdp, -66, np.zeros(18, np.int64), t) == 0
    assert touched(t) == {}
    assert xdp[XB_DATA_END] - xdp[XB_DATA] == 14
    assert k.bpf_xdp_adjust_tail(mem, xdp, -1, np.zeros(18, np.int64), T()) == -22
    assert k.bpf_xdp_adjust_tail(mem, xdp, 3776 - 270 + 1, np.zeros(18, np.int64), T()) == -22   # past the hard end
    assert k.bpf_xdp_adjust_tail(mem, xdp, 3776 - 270, np.zeros(18, np.int64), T()) == 0


@pytest.mark.parametrize("k", K, ids=IDS)
def test_frags_load_store_shrink_grow(k):
    pkt = bytes((i * 13) & 0xFF for i in range(3520 + 4096 + 100))
    mem, xdp = create_test_xdp(pkt)
    assert k.bpf_xdp_get_buff_len(xdp) == len(pkt)
    buf = np.zeros(64, np.uint8)
    t = T()
    assert k.bpf_xdp_load_bytes(mem, xdp, 3500, buf, 0, 64, t) == 0    # across the linear/frag boundary
    assert bytes(buf) == pkt[3500:3564]
    # read: the head's bytes [256 + 3500, 256 + 3520) and frag 0's (page 1) [0, 44)
    assert touched(t) == {0: (lines((3756, 3776)), 0), 1: (lines((0, 44)), 0)}
    assert k.bpf_xdp_load_bytes(mem, xdp, len(pkt) - 10, buf, 0, 11, t) == -22
    assert k.bpf_xdp_load_bytes(mem, xdp, 0x10000, buf, 0, 1, t) == -14
    assert touched(t) == {0: (lines((3756, 3776)), 0), 1: (lines((0, 44)), 0)}   # failed copies touch nothing
    buf[:] = 0xAB
    assert k.bpf_xdp_store_bytes(mem, xdp, 7600, buf, 0, 64, t) == 0   # across frag 0 / frag 1
    assert frame_bytes(mem, xdp)[7600:7664] == b"\xab" * 64
    # rows merge by page: frag 0 was read, and now written at [4080, 4096); frag 1 written at [0, 48)
    assert touched(t) == {0: (lines((3756, 3776)), 0), 1: (lines((0, 44)), lines((4080, 4096))),
                          2: (0, lines((0, 48)))}
    ff = np.zeros(18, np.int64)
    t = T()
    assert k.bpf_xdp_adjust_tail(mem, xdp, 50, ff, t) == 0             # grow the last frag
    assert xdp[XB_FRAGS_SIZE] == 4096 + 150
    assert touched(t) == {2: (0, lines((100, 150)))}                   # its zeroed tail
    assert k.bpf_xdp_adjust_tail(mem, xdp, -200, ff, t) == 0           # frees frag 1 (150 bytes)
    assert ff[0] == 1 and xdp[XB_NR_FRAGS] == 1 and xdp[XB_FRAGS_SIZE] == 4046
    assert k.bpf_xdp_adjust_tail(mem, xdp, -4046, ff, t) == 0          # frees the last frag
    assert xdp[XB_FLAGS] & 1 == 0 and ff[0] == 2
    assert k.bpf_xdp_get_buff_len(xdp) == 3520

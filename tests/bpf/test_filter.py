"""net/core/filter.c XDP buffer helpers on the simulator's xdp_buff, jitted and python."""

import numpy as np
import pytest

from xdplab._twospeed import JIT, PythonKernel
from xdplab.bpf import create_test_xdp, frame_bytes
from xdplab.xdp_abi import XB_DATA, XB_DATA_END, XB_DATA_META, XB_FLAGS, XB_FRAGS_SIZE, XB_NR_FRAGS

K = [JIT, PythonKernel()]
IDS = ["jit", "python"]


@pytest.mark.parametrize("k", K, ids=IDS)
def test_adjust_head_bounds(k):
    mem, xdp = create_test_xdp(bytes(range(60)))
    assert k.bpf_xdp_adjust_head(mem, xdp, -256 + 40) == 0          # down to hard_start + sizeof(xdp_frame)
    assert k.bpf_xdp_adjust_head(mem, xdp, -1) == -22
    mem, xdp = create_test_xdp(bytes(range(60)))
    assert k.bpf_xdp_adjust_head(mem, xdp, 46) == 0                 # 14 bytes left
    assert k.bpf_xdp_adjust_head(mem, xdp, 1) == -22


@pytest.mark.parametrize("k", K, ids=IDS)
def test_adjust_meta_and_head_moves_meta(k):
    mem, xdp = create_test_xdp(bytes(range(60)))
    assert k.bpf_xdp_adjust_meta(mem, xdp, -8) == 0
    assert k.bpf_xdp_adjust_meta(mem, xdp, -3) == -13               # -EACCES: not a multiple of 4
    assert k.bpf_xdp_adjust_meta(mem, xdp, -28) == -13              # 36 > 32 (6.1)
    mem[0, xdp[XB_DATA_META]: xdp[XB_DATA]] = 7
    assert k.bpf_xdp_adjust_head(mem, xdp, 4) == 0
    assert bytes(mem[0, xdp[XB_DATA_META]: xdp[XB_DATA]]) == b"\x07" * 8
    xdp[XB_DATA_META] = xdp[XB_DATA] + 1                             # mvneta: meta invalid
    assert k.bpf_xdp_adjust_meta(mem, xdp, -4) == -524              # -ENOTSUPP


@pytest.mark.parametrize("k", K, ids=IDS)
def test_adjust_tail_linear(k):
    mem, xdp = create_test_xdp(bytes(range(60)))
    mem[0, 316:400] = 0xEE
    assert k.bpf_xdp_adjust_tail(mem, xdp, 20, np.zeros(18, np.int64)) == 0
    assert bytes(mem[0, 316:336]) == bytes(20)                       # grown bytes zeroed
    assert k.bpf_xdp_adjust_tail(mem, xdp, -66, np.zeros(18, np.int64)) == 0
    assert xdp[XB_DATA_END] - xdp[XB_DATA] == 14
    assert k.bpf_xdp_adjust_tail(mem, xdp, -1, np.zeros(18, np.int64)) == -22
    assert k.bpf_xdp_adjust_tail(mem, xdp, 3776 - 270 + 1, np.zeros(18, np.int64)) == -22   # past the hard end
    assert k.bpf_xdp_adjust_tail(mem, xdp, 3776 - 270, np.zeros(18, np.int64)) == 0


@pytest.mark.parametrize("k", K, ids=IDS)
def test_frags_load_store_shrink_grow(k):
    pkt = bytes((i * 13) & 0xFF for i in range(3520 + 4096 + 100))
    mem, xdp = create_test_xdp(pkt)
    assert k.bpf_xdp_get_buff_len(xdp) == len(pkt)
    buf = np.zeros(64, np.uint8)
    assert k.bpf_xdp_load_bytes(mem, xdp, 3500, buf, 0, 64) == 0    # across the linear/frag boundary
    assert bytes(buf) == pkt[3500:3564]
    assert k.bpf_xdp_load_bytes(mem, xdp, len(pkt) - 10, buf, 0, 11) == -22
    assert k.bpf_xdp_load_bytes(mem, xdp, 0x10000, buf, 0, 1) == -14
    buf[:] = 0xAB
    assert k.bpf_xdp_store_bytes(mem, xdp, 7600, buf, 0, 64) == 0   # across frag 0 / frag 1
    assert frame_bytes(mem, xdp)[7600:7664] == b"\xab" * 64
    ff = np.zeros(18, np.int64)
    assert k.bpf_xdp_adjust_tail(mem, xdp, 50, ff) == 0             # grow the last frag
    assert xdp[XB_FRAGS_SIZE] == 4096 + 150
    assert k.bpf_xdp_adjust_tail(mem, xdp, -200, ff) == 0           # frees frag 1 (150 bytes)
    assert ff[0] == 1 and xdp[XB_NR_FRAGS] == 1 and xdp[XB_FRAGS_SIZE] == 4046
    assert k.bpf_xdp_adjust_tail(mem, xdp, -4046, ff) == 0          # frees the last frag
    assert xdp[XB_FLAGS] & 1 == 0 and ff[0] == 2
    assert k.bpf_xdp_get_buff_len(xdp) == 3520

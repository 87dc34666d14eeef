"""bpf_check_mtu in an XDP program (bpf_xdp_check_mtu, 6.1): the device's MTU from obj.fib
(BPF_PROG_TEST_RUN's loopback: ifindex 1, MTU 65536), the length from the packet or *mtu_len,
len_diff, -EINVAL for flags, -ENODEV for an unknown device; each case against the host kernel."""

import shutil

import pytest

from xdplab.bpf import load_object, test_run
from xdplab.bpf.oracle import KernelObject, KernelRefused, bpf_available

pytestmark = pytest.mark.skipif(shutil.which("clang") is None, reason="clang not installed")

# retval = ret (low 16 bits, as a u16 plus 0x100 when negative) | the MTU written back << 16
SRC = r"""
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>
char _license[] SEC("license") = "GPL";
#define CASE(name, ifx, len, diff, flags) \
SEC("xdp") int name(struct xdp_md *ctx) \
{ \
    __u32 mtu = len; \
    long ret = bpf_check_mtu(ctx, ifx, &mtu, diff, flags); \
    return (ret < 0 ? 0x100 - ret : ret) | ((mtu & 0x7fff0) << 12); \
}
CASE(rx_dev, 0, 0, 0, 0)
CASE(lo_by_index, 1, 0, 0, 0)
CASE(l3_len_fits, 0, 65536, 0, 0)
CASE(l3_len_too_big, 0, 65537, 0, 0)
CASE(grow_too_much, 0, 0, 65536 - 40, 0)
CASE(shrink, 0, 65600, -100, 0)
CASE(no_such_dev, 0x7ffff0, 0, 0, 0)
CASE(flags_einval, 0, 0, 0, 1)
"""
NAMES = ["rx_dev", "lo_by_index", "l3_len_fits", "l3_len_too_big", "grow_too_much", "shrink", "no_such_dev",
         "flags_einval"]
PKT = bytes(64)
MTU = 65536 << 12 & 0x7FFF0000                          # the encoded MTU (mtu & 0x7fff0) << 12


@pytest.fixture(scope="module")
def obj(tmp_path_factory):
    from xdplab.bpf.progs import compile_c
    return load_object(compile_c(SRC, out=tmp_path_factory.mktemp("mtu") / "check_mtu.o"))


@pytest.mark.parametrize("name, want", [
    ("rx_dev", MTU), ("lo_by_index", MTU), ("l3_len_fits", MTU), ("l3_len_too_big", 1 | MTU),
    ("grow_too_much", 1 | MTU), ("shrink", MTU),
    ("no_such_dev", 0x100 + 19), ("flags_einval", 0x100 + 22),          # 6.1: *mtu_len untouched (0 here)
])
def test_check_mtu(obj, name, want):
    assert obj.load_errors == {}
    r = test_run(obj.programs[name], PKT)
    assert r.fault == "" and r.retval == want


def test_check_mtu_against_a_device_of_the_fib(obj):
    """A device added to obj.fib (ip link's MTU): the rx device when the packet comes in on it."""
    obj.fib.add_dev(7, "02:00:00:00:00:07", mtu=1500)
    r = test_run(obj.programs["rx_dev"], PKT, ingress_ifindex=7)
    assert r.retval == (1500 & 0x7FFF0) << 12
    r = test_run(obj.programs["grow_too_much"], PKT, ingress_ifindex=7)
    assert r.retval == 1 | (1500 & 0x7FFF0) << 12


@pytest.mark.kernel
@pytest.mark.parametrize("name", NAMES)
def test_host_kernel_agrees(obj, name):
    ok, why = bpf_available()
    if not ok:
        pytest.skip(f"kernel oracle unavailable: {why}")
    try:
        ko = KernelObject(obj, programs=[name])
    except KernelRefused as e:
        pytest.skip(f"host kernel refuses this comparison for its configuration: {e.reason}")
    with ko:
        kret = ko.test_run(name, PKT)[0]
    assert test_run(obj.programs[name], PKT).retval == kret

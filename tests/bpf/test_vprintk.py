"""bpf_trace_vprintk (libbpf's bpf_printk with more than 3 arguments) and bpf_get_numa_node_id:
the trace line, the return value (the message length, or -EINVAL for a format that wants more
arguments than data_len / 8 or a data_len not a multiple of 8) and the host kernel's return
value for the same program (BPF_PROG_TEST_RUN; skipped where bpf() is unavailable)."""

import shutil

import pytest

from xdplab.bpf import load_object, test_run
from xdplab.bpf.oracle import KernelObject, KernelRefused, bpf_available

pytestmark = pytest.mark.skipif(shutil.which("clang") is None, reason="clang not installed")

SRC = r"""
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>
char _license[] SEC("license") = "GPL";

SEC("xdp") int five(struct xdp_md *ctx)
{
    return bpf_printk("q=%u a=%d b=%x c=%c d=%llu", ctx->rx_queue_index, -7, 255, 'Z', 1ULL << 40);
}

SEC("xdp") int too_few(struct xdp_md *ctx)
{
    static const char fmt[] = "%d %d %d %d %d";
    __u64 args[4] = {1, 2, 3, 4};
    return bpf_trace_vprintk(fmt, sizeof(fmt), args, sizeof(args));
}

SEC("xdp") int odd_len(struct xdp_md *ctx)
{
    static const char fmt[] = "%d";
    __u64 args[2] = {1, 2};
    return bpf_trace_vprintk(fmt, sizeof(fmt), args, 12);
}

SEC("xdp") int numa(struct xdp_md *ctx)
{
    return bpf_get_numa_node_id() + 2;
}
"""
WANT = "q=0 a=-7 b=ff c=Z d=1099511627776"


@pytest.fixture(scope="module")
def obj(tmp_path_factory):
    from xdplab.bpf.progs import compile_c
    return load_object(compile_c(SRC, out=tmp_path_factory.mktemp("vprintk") / "vprintk.o"))


def test_vprintk_formats_five_arguments(obj):
    assert obj.load_errors == {}
    r = test_run(obj.programs["five"], bytes(64))
    assert r.fault == "" and r.retval == len(WANT)
    (line,) = obj.trace_pipe()
    assert line.endswith(f"bpf_trace_printk: {WANT}")


@pytest.mark.parametrize("name", ["too_few", "odd_len"])
def test_vprintk_einval(obj, name):
    r = test_run(obj.programs[name], bytes(64))
    assert r.fault == "" and r.retval == (-22) & 0xFFFFFFFF
    assert obj.trace_pipe() == []


def test_numa_node_is_zero(obj):
    assert test_run(obj.programs["numa"], bytes(64)).retval == 2


@pytest.mark.kernel
@pytest.mark.parametrize("name", ["five", "too_few", "odd_len", "numa"])
def test_host_kernel_returns_the_same(obj, name):
    ok, why = bpf_available()
    if not ok:
        pytest.skip(f"kernel oracle unavailable: {why}")
    try:
        ko = KernelObject(obj, programs=[name])
    except KernelRefused as e:
        pytest.skip(f"host kernel refuses this comparison for its configuration: {e.reason}")
    with ko:
        kret = ko.test_run(name, bytes(64))[0]
    assert test_run(obj.programs[name], bytes(64)).retval == kret

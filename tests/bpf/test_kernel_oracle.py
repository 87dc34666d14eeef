"""Differential tests: the VM against the running Linux kernel (BPF_PROG_TEST_RUN).

Every program is loaded into the kernel with our own bpf() syscall code (the
loader's relocated instructions), both run the same seeded packets, and retval,
output bytes and length, and all map contents must be identical.  Random
straight-line programs check ALU/JMP/memory semantics (cpu v4 included) bit for bit.
Skips (with the reason) where bpf() is not available, and skips one comparison (with the
kernel's own message) where the host kernel refuses a program for reasons of its configuration
(``KernelRefused``: a helper that build does not offer); every other rejection fails the test.
"""

import os
import random

import pytest
from conftest import LAB, PROGS, TEST, TPROGS, sample_packets

import asm
from randprog import random_program
from xdplab.bpf import load_insns, load_object, test_run
from xdplab.bpf.oracle import KernelError, KernelObject, KernelRefused, bpf_available, config_refusal, possible_cpus

pytestmark = pytest.mark.kernel
_OK, _WHY = bpf_available()
if not _OK:
    pytest.skip(f"kernel oracle unavailable: {_WHY}", allow_module_level=True)


def kernel_object(obj) -> KernelObject:
    """The object loaded into the host kernel, or this test skipped with the kernel's reason
    when its build refuses the program for its own configuration (not the program's fault)."""
    try:
        return KernelObject(obj)
    except KernelRefused as e:
        pytest.skip(f"host kernel refuses this comparison for its configuration: {e.reason}")


@pytest.fixture(scope="module", autouse=True)
def on_cpu0():
    """Pin to CPU 0 so per-CPU map values land where the VM (ENV_CPU=0) puts them."""
    old = os.sched_getaffinity(0)
    os.sched_setaffinity(0, {0})
    yield
    os.sched_setaffinity(0, old)


def _norm(v, nc):
    return v[:nc] if isinstance(v, list) else v


def compare_maps(obj, k):
    nc = min(2, possible_cpus())
    for name, m in obj.maps.items():
        if m.type == 3:          # prog array: fds vs programs
            continue
        vm = {kk: _norm(v, nc) for kk, v in m.items()}
        kern = {kk: _norm(v, nc) for kk, v in k.dump(name).items()}
        assert vm == kern, f"map {name} differs"


def run_both(obj, prog_name, packets, k):
    prog = obj.programs[prog_name]
    for i, pkt in enumerate(packets):
        kr = k.test_run(prog_name, pkt)
        vr = test_run(prog, pkt)
        assert vr.fault == "", f"packet {i}: VM fault\n{vr.fault}"
        assert (vr.retval, vr.data_out.hex()) == (kr[0], kr[1].hex()), f"packet {i} ({len(pkt)} bytes) {pkt[:40].hex()}"
        assert vr.data_size_out == len(kr[1])


@pytest.mark.parametrize("jit", [False, True], ids=["interp", "jit"])
@pytest.mark.parametrize("fname, prog", LAB + TEST)
def test_program_matches_kernel(fname, prog, jit):
    path = (PROGS if (PROGS / fname).exists() else TPROGS) / fname
    obj = load_object(path)
    if jit:
        obj.programs[prog].jit()          # translated to native code (or, said why, interpreted)
    if "tx_port" in obj.maps:
        obj.maps["tx_port"].update(0, 1)               # lo
    packets = sample_packets(seed=hash(fname) & 0xFFFF)
    if obj.programs[prog].frags:
        packets += [bytes(range(256)) * 20, b"\x01" * 3521, bytes(9000) + b"\xff" * 4, bytes(4096 * 3 + 7)]
    if fname == "hashmaps.o":
        rnd = random.Random(3)
        packets = [bytes([rnd.randrange(8), rnd.randrange(40), rnd.randrange(3), 0, 0, rnd.randrange(8),
                          rnd.randrange(256), rnd.randrange(256)]) + bytes(8) for _ in range(400)]
    with kernel_object(obj) as k:
        run_both(obj, prog, packets, k)
        compare_maps(obj, k)


def test_tail_calls_match_kernel():
    obj = load_object(TPROGS / "tailcall.o")
    obj.maps["jmp"].update(1, obj.programs["xdp_drop_it"])
    obj.maps["jmp"].update(2, obj.programs["xdp_tx_it"])
    with kernel_object(obj) as k:
        run_both(obj, "xdp_entry", [bytes([b]) + bytes(20) for b in range(8)], k)


def test_metalen_limit_is_6_1s():
    """Known version difference, on purpose: 6.1 allows 32 bytes of metadata
    (xdp_metalen_invalid), later kernels 255.  The VM models 6.1."""
    obj = load_object(TPROGS / "adjust.o")
    pkt = bytes([0, (-40) & 0xFF, 0]) + bytes(57)
    test_run(obj.programs["xdp_adjust"], pkt)
    assert obj.maps["rets"].lookup(0, as_int=True) == (-13) & 0xFFFFFFFFFFFFFFFF      # -EACCES
    with kernel_object(obj) as k:
        k.test_run("xdp_adjust", pkt)
        kret = int.from_bytes(k.lookup("rets", (0).to_bytes(4, "little")), "little", signed=True)
    assert kret in (0, -13), "kernel returned something neither 6.1 nor later kernels return"


def test_adjust_edges_match_kernel():
    """Every head/meta/tail delta the adjust program can express (meta within 6.1's 32 bytes)."""
    obj = load_object(TPROGS / "adjust.o")
    pk = []
    for dh in (-128, -60, -56, -55, -54, -53, -1, 0, 1, 10, 12, 13, 14, 15, 127):
        for dm in (-33, -32, -31, -28, -4, -3, 0, 4, 40):
            for dt in (-128, -4, -3, -1, 0, 1, 8, 127):
                for n in (17, 60, 1500, 3520):
                    pk.append(bytes([dh & 0xFF, dm & 0xFF, dt & 0xFF]) + bytes(n - 3))
    with kernel_object(obj) as k:
        for pkt in pk:
            kr = k.test_run("xdp_adjust", pkt)
            vr = test_run(obj.programs["xdp_adjust"], pkt)
            assert (vr.retval, vr.data_out) == (kr[0], kr[1]), pkt[:3].hex()
            assert obj.maps["rets"].dump() == k.dump("rets"), pkt[:3].hex()


# ---------------------------------------------------------------------------------- random programs

@pytest.mark.parametrize("seed", range(40))
def test_random_programs_match_kernel(seed):
    rnd = random.Random(seed)
    for _ in range(5):
        insns = random_program(rnd)
        obj = load_insns(insns, name="rnd")
        try:
            k = kernel_object(obj)
        except KernelError as e:
            pytest.fail(f"kernel rejected a generated program (generator bug): {e}")
        with k:
            for _ in range(3):
                pkt = bytes(rnd.getrandbits(8) for _ in range(rnd.choice([60, 100])))
                kr = k.test_run("rnd", pkt)
                vr = test_run(obj.programs["rnd"], pkt)
                assert vr.fault == ""
                assert (vr.retval, vr.data_out.hex()) == (kr[0], kr[1].hex()), obj.programs["rnd"].disasm()


def test_gotol_and_ja():
    insns = (asm.mov64(0, 1) + asm.ldx(4, 2, 1, 0) + asm.jmp("jeq", 2, 1, imm=0) + asm.gotol(1) + asm.mov64(0, 7)
             + asm.ja(0) + asm.exit_())
    obj = load_insns(insns, name="g")
    with kernel_object(obj) as k:
        assert k.test_run("g", bytes(20))[0] == test_run(obj.programs["g"], bytes(20)).retval == 1


# ---------------------------------------------------------------------------------- the skip rule

def test_only_configuration_refusals_skip():
    """The skip is limited to the kernel saying its build does not offer a helper: a program the
    verifier rejects for itself (here an off-by-one packet read) stays a failure."""
    assert config_refusal("18: (85) call bpf_xdp_adjust_meta#54\n"
                          "program of this type cannot use helper bpf_xdp_adjust_meta#54\nprocessed 19 insns") \
        == "program of this type cannot use helper bpf_xdp_adjust_meta#54"
    assert config_refusal("unknown func bpf_loop#181") == "unknown func bpf_loop#181"
    for own_fault in ("invalid access to packet, off=0 size=1, R1(id=0,off=0,r=0)",
                      "R2 pointer arithmetic on pkt_end prohibited", "R0 !read_ok",
                      "invalid mem access 'scalar'", "back-edge from insn 3 to 1",
                      "the program of this type cannot use helper, said nobody"):
        assert config_refusal(f"5: (71) r0 = *(u8 *)(r1 +0)\n{own_fault}\nprocessed 6 insns") == ""
    obj = load_object(TPROGS / "bad_oob.o", verify=False)
    with pytest.raises(KernelError) as ei:
        KernelObject(obj).close()
    assert not isinstance(ei.value, KernelRefused), ei.value
    assert "invalid access to packet" in str(ei.value)


def test_a_refused_helper_is_reported_with_the_kernels_line():
    """Where this kernel refuses a helper (adjust.o calls bpf_xdp_adjust_meta, which some builds do
    not offer to XDP), the error is a KernelRefused carrying the verifier's own line; where it
    accepts, the object loads."""
    obj = load_object(TPROGS / "adjust.o")
    try:
        KernelObject(obj).close()
    except KernelRefused as e:
        assert e.reason.startswith(("program of this type cannot use helper", "unknown func"))
        assert e.reason.split()[-1].startswith("bpf_xdp_adjust_")

"""xdplab.bpf: run real XDP programs.

``load_object("prog.o")`` reads a clang ``-target bpf`` object (pyelftools + BTF),
relocates it, decodes every program for the numba eBPF VM and lays out its maps;
``test_run(prog, packet)`` is BPF_PROG_TEST_RUN; the simulator's NAPI loop calls
``bpf_prog_run_xdp(prog.state, prog.index, mem, xdp, env)``.

    >>> obj = load_object(PROGS / "ssh_mirror.o")
    >>> r = test_run(obj.programs["ssh_mirror"], frame)
    >>> r.retval, r.data_out
"""

from .core import (BpfObject, BpfProgram, TestRunResult, create_env, create_test_xdp, frame_bytes, load_insns,
                   load_object, test_run)
from .faults import format_fault
from .loader import BpfLoadError
from .verifier import BpfVerifierError, verify_program
from .maps import BPF_ANY, BPF_EXIST, BPF_NOEXIST, Map, MapError
from .state import NR_CPUS, BpfState
from .vm import (DEFAULT_INSN_BUDGET, bpf_prog_run_xdp, bpf_prog_run_xdp_batch, bpf_test_run_xdp, bpf_vm_run)
from .progs import PROGS_DIR, compile_c, prog_path

__all__ = ["load_object", "load_insns", "frame_bytes", "BpfObject", "BpfProgram", "BpfState", "test_run", "TestRunResult", "format_fault",
           "bpf_prog_run_xdp", "bpf_prog_run_xdp_batch", "bpf_test_run_xdp", "bpf_vm_run", "BpfLoadError",
           "BpfVerifierError", "verify_program",
           "Map", "MapError", "BPF_ANY", "BPF_NOEXIST", "BPF_EXIST", "NR_CPUS", "DEFAULT_INSN_BUDGET",
           "create_env", "create_test_xdp", "PROGS_DIR", "prog_path", "compile_c"]

"""%%bpf_c compiles a cell with clang and loads it; without clang it says how to get clang."""

import shutil
import subprocess
import sys

import pytest

from conftest import ROOT

CELL = """
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>
SEC("xdp") int tiny(struct xdp_md *ctx) { return XDP_TX; }
char _license[] SEC("license") = "GPL";
"""


@pytest.fixture
def ip():
    pytest.importorskip("IPython")
    from IPython.core.interactiveshell import InteractiveShell
    shell = InteractiveShell.instance()
    shell.run_line_magic("load_ext", "xdplab.bpf.magic")
    return shell


@pytest.mark.skipif(shutil.which("clang") is None, reason="clang not installed")
def test_bpf_c_magic_compiles_and_loads(ip):
    ip.run_cell_magic("bpf_c", "myobj", CELL)
    obj = ip.user_ns["myobj"]
    from xdplab.bpf import test_run
    assert test_run(obj.programs["tiny"], bytes(20)).retval == 3


def test_bpf_c_magic_without_clang(ip, monkeypatch, capsys):
    import xdplab.bpf.progs as progs
    monkeypatch.setattr(progs.shutil, "which", lambda name: None)
    ip.run_cell_magic("bpf_c", "nope", CELL)
    out = capsys.readouterr().out
    assert "apt-get install clang libbpf-dev" in out and "binder/apt.txt" in out
    assert "nope" not in ip.user_ns


def test_compile_error_shown(ip, capsys):
    if shutil.which("clang") is None:
        pytest.skip("clang not installed")
    ip.run_cell_magic("bpf_c", "bad", "this is not C")
    assert "clang failed" in capsys.readouterr().out


def test_core_import_does_not_pull_ipython():
    code = "import sys, xdplab.bpf; assert 'IPython' not in sys.modules, 'IPython imported'"
    r = subprocess.run([sys.executable, "-c", code], cwd=str(ROOT), capture_output=True, text=True,
                       env={"PYTHONPATH": str(ROOT), "PATH": "/usr/bin:/bin"})
    assert r.returncode == 0, r.stderr

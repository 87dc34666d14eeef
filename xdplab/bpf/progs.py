"""The lab's XDP programs (xdplab/progs/*.c with prebuilt .o) and compiling C to BPF."""

from __future__ import annotations

import os
import platform
import shutil
import subprocess
import tempfile
from pathlib import Path

__all__ = ["PROGS_DIR", "prog_path", "compile_c", "ClangMissing", "CLANG_HINT", "clang_command"]

PROGS_DIR = Path(__file__).resolve().parent.parent / "progs"
CLANG_HINT = ("clang is not installed, so C cannot be compiled to BPF here. Install it with "
              "`apt-get install clang libbpf-dev` (on Binder it comes from binder/apt.txt), or use the "
              "prebuilt objects in xdplab/progs/*.o")


class ClangMissing(RuntimeError):
    pass


def prog_path(name: str) -> Path:
    """Path of a prebuilt lab program: prog_path('ssh_mirror') -> .../xdplab/progs/ssh_mirror.o"""
    p = PROGS_DIR / (name if name.endswith(".o") else name + ".o")
    if not p.exists():
        have = sorted(x.stem for x in PROGS_DIR.glob("*.o"))
        raise FileNotFoundError(f"no lab program {name!r}; available: {', '.join(have)}")
    return p


def clang_command(src, out, extra=()):
    arch = platform.machine()
    inc = f"/usr/include/{arch}-linux-gnu"
    cmd = ["clang", "-O2", "-g", "-target", "bpf"]
    if os.path.isdir(inc):
        cmd.append(f"-I{inc}")
    cmd += list(extra) + ["-c", str(src), "-o", str(out)]
    return cmd


def compile_c(source: str | os.PathLike, out: str | os.PathLike | None = None, extra=(), cwd=None) -> Path:
    """clang -O2 -g -target bpf -c: compile a .c file (a path) or C text to an object."""
    if shutil.which("clang") is None:
        raise ClangMissing(CLANG_HINT)
    tmp = None
    src = Path(source) if not isinstance(source, str) or (("\n" not in source) and source.endswith(".c")) else None
    if src is None:
        tmp = tempfile.mkdtemp(prefix="xdplab-bpf-")
        src = Path(tmp) / "prog.c"
        src.write_text(str(source))
    if out is None:
        out = (Path(tmp) if tmp else src.parent) / (src.stem + ".o")
    r = subprocess.run(clang_command(src.name if cwd is None else src, Path(out).resolve(), extra),
                       cwd=str(cwd or src.parent), capture_output=True, text=True)
    if r.returncode != 0:
        raise RuntimeError(f"clang failed (exit {r.returncode}):\n{r.stderr.strip()}")
    return Path(out)

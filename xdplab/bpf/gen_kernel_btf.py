"""Build linux61_xdp.btf, the kernel BTF xdplab resolves CO-RE relocations against.

    python -m xdplab.bpf.gen_kernel_btf          # needs clang; rewrites xdplab/bpf/linux61_xdp.btf

The types come from linux61_xdp.h (the layouts of Linux 6.1, arm64); clang -g -target bpf
turns them into BTF (a global that holds one of each type makes clang emit them), and
this script keeps the object's .BTF section, as `bpftool btf dump file` would read it.  The
result is committed; tests/bpf/test_core.py checks that it is what this script produces.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
HEADER = HERE / "linux61_xdp.h"
OUT = HERE / "linux61_xdp.btf"


def build_btf(header: Path = HEADER) -> bytes:
    """The .BTF section of the header compiled with clang -g -target bpf."""
    if shutil.which("clang") is None:
        raise RuntimeError("clang is needed to build the kernel BTF (apt-get install clang)")
    text = header.read_text()
    structs = sorted(set(re.findall(r"^struct (\w+) \{", text, re.M)))
    enums = sorted(set(re.findall(r"^enum (\w+) \{", text, re.M)))
    body = [f'#include "{header.name}"', "struct __xdplab_kernel_types {"]
    body += [f"\tstruct {s} {s};" for s in structs]
    body += [f"\tenum {e} {e};" for e in enums]
    body += ["};", "struct __xdplab_kernel_types __xdplab_kernel_types __attribute__((used));"]
    from elftools.elf.elffile import ELFFile
    with tempfile.TemporaryDirectory() as d:
        src = Path(d) / "types.c"
        src.write_text("\n".join(body) + "\n")
        shutil.copy(header, Path(d) / header.name)
        obj = Path(d) / "types.o"
        subprocess.run(["clang", "-g", "-O2", "-target", "bpf", "-c", str(src), "-o", str(obj)], check=True)
        with open(obj, "rb") as f:
            return ELFFile(f).get_section_by_name(".BTF").data()


def main() -> int:
    OUT.write_bytes(build_btf())
    print(f"wrote {OUT} ({OUT.stat().st_size} bytes)")
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""Jupyter cell magic: compile the C in a cell to BPF and load it.

    %load_ext xdplab.bpf.magic

    %%bpf_c ssh
    #include <linux/bpf.h>
    #include <bpf/bpf_helpers.h>
    SEC("xdp") int prog(struct xdp_md *ctx) { return XDP_PASS; }
    char _license[] SEC("license") = "GPL";

The loaded BpfObject is stored in the notebook variable named on the magic line
(default ``obj``).  Without clang the magic says how to get it.  IPython is
imported only here.
"""

from __future__ import annotations

from IPython.core.magic import Magics, cell_magic, magics_class
from IPython.core.magic_arguments import argument, magic_arguments, parse_argstring

from .progs import ClangMissing, compile_c


@magics_class
class BpfMagics(Magics):
    @magic_arguments()
    @argument("name", nargs="?", default="obj", help="variable to store the loaded BpfObject in")
    @argument("--cflags", default="", help="extra clang flags, e.g. '-mcpu=v3'")
    @cell_magic
    def bpf_c(self, line, cell):
        """%%bpf_c [name] [--cflags ...]: clang -O2 -g -target bpf the cell, load it as `name`."""
        from . import load_object
        args = parse_argstring(self.bpf_c, line)
        try:
            path = compile_c(cell, extra=args.cflags.split())
        except ClangMissing as e:
            print(f"Error: {e}")
            return None
        except RuntimeError as e:
            print(f"Error: {e}")
            return None
        obj = load_object(path)
        self.shell.user_ns[args.name] = obj
        print(f"{args.name} = {obj!r}")
        return None


def load_ipython_extension(ipython):
    ipython.register_magics(BpfMagics)

"""`xdplab bpf run`: the twin of `bpftool prog run` for the eBPF VM.

    xdplab bpf run OBJ.o [--section S] (--packet-hex HEX | --pcap FILE) [--repeat N] [--json]

Prints retval, data_out (hex), data_size_out and duration_ns (wall-clock ns per run
on this machine) for the packet, or for each packet of the pcap; --json adds insns (per run),
fault and jited (whether the program ran translated, as `bpftool prog show` says of a program).
"""

from __future__ import annotations

import argparse
import json
import os
import sys

__all__ = ["add_bpf_parser", "cmd_bpf_run", "main"]


def add_bpf_parser(subparsers) -> argparse.ArgumentParser:
    """Add the `bpf` command (with `run`) to an argparse subparsers object."""
    p = subparsers.add_parser("bpf", help="run eBPF objects in the VM (like bpftool prog run)",
                              description="eBPF objects in xdplab's VM")
    sub = p.add_subparsers(dest="bpf_cmd", metavar="{run}")
    sub.required = True
    r = sub.add_parser("run", help="BPF_PROG_TEST_RUN an XDP program on packets",
                       description="Run an XDP program of OBJ.o on a packet (BPF_PROG_TEST_RUN geometry) "
                                   "and print retval, data_out, data_size_out, duration_ns.")
    r.add_argument("obj", metavar="OBJ.o", help="object from clang -O2 -g -target bpf")
    r.add_argument("--section", "-s", help="program section or function name (default: the only program)")
    src = r.add_mutually_exclusive_group(required=True)
    src.add_argument("--packet-hex", help="the packet as hex (spaces and colons allowed)")
    src.add_argument("--pcap", help="a pcap file: run every packet")
    r.add_argument("--repeat", type=int, default=1, help="runs per packet (default 1)")
    r.add_argument("--json", action="store_true", help="JSON output (one object per packet)")
    r.add_argument("--jit", action=argparse.BooleanOptionalAction, default=None,
                   help="translate the program to native code first and wait for it (xdplab.bpf.jit; the same "
                        "results; well under a second for most programs the first time, then cached). Default: "
                        f"on for a timing run (--repeat >= {JIT_REPEAT}: the kernel's bpf_test_run times its "
                        "JIT's code), off for fewer runs (they start at once in the interpreter); "
                        "XDPLAB_BPF_JIT=1 / 0 turns it on / off for every run")
    r.set_defaults(func=cmd_bpf_run)
    return p


# from this many runs per packet, `xdplab bpf run` translates the program (unless told) and waits for
# it: a timing run then reports what the kernel would, the JIT's time (Debian's kernels run every
# program JIT-compiled).  A shorter run starts at once in the interpreter and translates nothing: the
# process ends before a translation would pay for itself
JIT_REPEAT = 1000


class CliError(Exception):
    pass


def _packets(args):
    if args.packet_hex is not None:
        h = "".join(ch for ch in args.packet_hex if ch not in " :\n\t-")
        try:
            return [bytes.fromhex(h)]
        except ValueError:
            raise CliError(f"--packet-hex: not valid hex ({args.packet_hex[:40]!r}); "
                           f"give bytes like 'aabbccddeeff112233445566 0800 ...'") from None
    if not os.path.exists(args.pcap):
        raise CliError(f"--pcap: {args.pcap}: no such file")
    import dpkt
    try:
        with open(args.pcap, "rb") as f:
            try:
                rd = dpkt.pcap.Reader(f)
            except ValueError:
                f.seek(0)
                rd = dpkt.pcapng.Reader(f)
            return [bytes(buf) for _ts, buf in rd]
    except (ValueError, dpkt.dpkt.Error) as e:
        raise CliError(f"--pcap: {args.pcap}: not a pcap/pcapng file ({e})") from None


def cmd_bpf_run(args) -> int:
    from . import load_object, test_run
    from ._jitabi import jit_wanted
    from .loader import BpfLoadError
    try:
        if not os.path.exists(args.obj):
            raise CliError(f"{args.obj}: no such file (compile with: clang -O2 -g -target bpf -c prog.c -o prog.o)")
        try:
            obj = load_object(args.obj)
        except BpfLoadError as e:
            raise CliError(str(e)) from None
        try:
            prog = obj.program(args.section)
        except KeyError as e:
            raise CliError(e.args[0]) from None
        if args.repeat < 1:
            raise CliError("--repeat must be >= 1")
        packets = _packets(args)
        if not packets:
            raise CliError("no packets to run")
        jit = args.jit if args.jit is not None else jit_wanted(args.repeat >= JIT_REPEAT)
        if jit and not prog.jit():
            print(f"note: {prog.jit_error}", file=sys.stderr)
    except CliError as e:
        print(f"Error: {e}", file=sys.stderr)
        return 2
    rc = 0
    for i, pkt in enumerate(packets):
        try:
            r = test_run(prog, pkt, repeat=args.repeat)
        except ValueError as e:        # e.g. shorter than ETH_HLEN: the kernel says -EINVAL
            print(f"Error: packet {i}: {e}", file=sys.stderr)
            rc = 1
            continue
        if args.json:
            print(json.dumps({"packet": i, "retval": r.retval, "data_out": r.data_out.hex(),
                              "data_size_out": r.data_size_out, "duration_ns": r.duration_ns,
                              "insns": r.insns, "fault": r.fault or None, "jited": prog.jited}))
        else:
            if len(packets) > 1:
                print(f"packet {i}:")
            print(f'"retval": {r.retval}')
            print(f'"data_size_out": {r.data_size_out}')
            print(f'"data_out": "{r.data_out.hex()}"')
            print(f'"duration_ns": {r.duration_ns}')
            if r.fault:
                print(r.fault, file=sys.stderr)
    return rc


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(prog="xdplab")
    sub = ap.add_subparsers(dest="cmd")
    sub.required = True
    add_bpf_parser(sub)
    args = ap.parse_args(argv)
    return args.func(args)


if __name__ == "__main__":
    sys.exit(main())

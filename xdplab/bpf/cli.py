"""`xdplab bpf run`: the twin of `bpftool prog run` for the eBPF VM.

    xdplab bpf run OBJ.o [--section S] (--packet-hex HEX | --pcap FILE) [--repeat N] [--json]
                   [--map NAME KEY=VALUE ...] [--maps-json FILE]

Prints retval, data_out (hex), data_size_out and duration_ns (wall-clock ns per run
on this machine) for the packet, or for each packet of the pcap; --json adds insns (per run),
fault and jited (whether the program ran translated, as `bpftool prog show` says of a program),
and, after each packet's run, ``maps`` (every map's entries, as `bpftool map dump` lists them),
``records`` (what the run wrote to perf event arrays and ring buffers) and ``trace`` (its
bpf_printk lines).  The text output ends with the same maps, records and trace.

Maps are filled before the run with ``--map NAME KEY=VALUE`` (repeatable) or ``--maps-json FILE``
(``{"NAME": {"KEY": VALUE, ...}}``).  A key or value is an integer (``17``, ``0x11``, ``-1``: little
endian, the map's size) or bytes in hex (``hex:0a000001``, or with colons ``0a:00:00:01``); a
map-in-map takes a map's name as value, a prog array a program's name.
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
    r.add_argument("--map", action="append", nargs=2, metavar=("NAME", "KEY=VALUE"), default=[],
                   help="set an entry of map NAME before the run (repeatable); KEY/VALUE: an integer "
                        "(17, 0x11) or hex bytes (hex:0a000001, 0a:00:00:01); a map-in-map takes a map name, "
                        "a prog array a program name")
    r.add_argument("--maps-json", metavar="FILE", help='entries to set before the run: {"NAME": {"KEY": VALUE}}')
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


def _parse_bytes(text, size, what):
    """An integer (little endian, ``size`` bytes) or hex bytes (``hex:...`` or with colons)."""
    if isinstance(text, int):
        v = text
    else:
        t = str(text).strip()
        if t.startswith("hex:") or ":" in t:
            h = t[4:] if t.startswith("hex:") else t
            try:
                b = bytes.fromhex(h.replace(":", "").replace(" ", ""))
            except ValueError:
                raise CliError(f"{what} {text!r}: not valid hex") from None
            if len(b) != size:
                raise CliError(f"{what} {text!r}: {len(b)} bytes, the map's are {size}")
            return b
        try:
            v = int(t, 0)
        except ValueError:
            raise CliError(f"{what} {text!r}: give an integer (17, 0x11) or hex bytes (hex:0a000001)") from None
    if not -(1 << (8 * size - 1)) <= v < (1 << (8 * size)):
        raise CliError(f"{what} {v} does not fit in {size} bytes")
    return (v & ((1 << (8 * size)) - 1)).to_bytes(size, "little")


def _set_entry(obj, name, key, value):
    from .maps import BPF_MAP_TYPE_ARRAY_OF_MAPS, BPF_MAP_TYPE_HASH_OF_MAPS, BPF_MAP_TYPE_PROG_ARRAY, MapError
    if name not in obj.maps:
        raise CliError(f"--map: no map {name!r} in {os.path.basename(obj.path)}; maps: {', '.join(obj.maps)}")
    m = obj.maps[name]
    k = _parse_bytes(key, m.key_size, f"map {name!r}: key")
    if m.type == BPF_MAP_TYPE_PROG_ARRAY:
        if str(value) not in obj.programs:
            raise CliError(f"map {name!r} holds programs: give a program name ({', '.join(obj.programs)})")
        v = obj.programs[str(value)]
    elif m.type in (BPF_MAP_TYPE_ARRAY_OF_MAPS, BPF_MAP_TYPE_HASH_OF_MAPS):
        if str(value) not in obj.maps:
            raise CliError(f"map {name!r} holds maps: give a map name ({', '.join(obj.maps)})")
        v = obj.maps[str(value)]
    else:
        v = _parse_bytes(value, m.value_size, f"map {name!r}: value")
    try:
        m.update(k, v)
    except (MapError, ValueError) as e:
        raise CliError(str(e)) from None


def _fill_maps(obj, args):
    for name, kv in args.map:
        if "=" not in kv:
            raise CliError(f"--map {name} {kv!r}: expected KEY=VALUE")
        key, value = kv.split("=", 1)
        _set_entry(obj, name, key, value)
    if args.maps_json:
        try:
            with open(args.maps_json) as f:
                spec = json.load(f)
        except OSError as e:
            raise CliError(f"--maps-json: {e}") from None
        except ValueError as e:
            raise CliError(f"--maps-json: {args.maps_json}: not JSON ({e})") from None
        if not isinstance(spec, dict) or not all(isinstance(v, dict) for v in spec.values()):
            raise CliError('--maps-json: expected {"MAP": {"KEY": VALUE, ...}, ...}')
        for name, entries in spec.items():
            for key, value in entries.items():
                _set_entry(obj, name, key, value)


def _dump_maps(obj) -> dict:
    """Every map's entries (not perf/ring buffers: their records are apart), as hex."""
    from .maps import BPF_MAP_TYPE_PERF_EVENT_ARRAY, BPF_MAP_TYPE_RINGBUF
    out = {}
    for name, m in obj.maps.items():
        if m.type in (BPF_MAP_TYPE_PERF_EVENT_ARRAY, BPF_MAP_TYPE_RINGBUF) or m.error:
            continue
        rows = []
        if m.type in (22, 23):                            # QUEUE / STACK: the values, in the order pop takes them
            out[name] = [{"value": v.hex()} for v in m.values()]
            continue
        for k, v in m.items():
            if m.percpu:
                rows.append({"key": k.hex(), "values": [{"cpu": c, "value": x.hex()} for c, x in enumerate(v)]})
            elif isinstance(v, (bytes, bytearray)):
                rows.append({"key": k.hex(), "value": v.hex()})
            else:                                         # a program (prog array) or a map (map-in-map)
                rows.append({"key": k.hex(), "value": getattr(v, "name", str(v))})
        out[name] = rows
    return out


def _take_records(obj) -> list:
    from .maps import BPF_MAP_TYPE_PERF_EVENT_ARRAY, BPF_MAP_TYPE_RINGBUF
    recs = []
    for name, m in obj.maps.items():
        if m.type in (BPF_MAP_TYPE_PERF_EVENT_ARRAY, BPF_MAP_TYPE_RINGBUF):
            for r in m.records():
                recs.append({"map": name, **({"cpu": r["cpu"]} if "cpu" in r else {}), "data": r["data"].hex()})
    return recs


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
        except BpfLoadError as e:          # the program asked for is one xdplab refused
            raise CliError(str(e)) from None
        _fill_maps(obj, args)
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
    records, traces = [], []
    for i, pkt in enumerate(packets):
        try:
            r = test_run(prog, pkt, repeat=args.repeat)
        except ValueError as e:        # e.g. shorter than ETH_HLEN: the kernel says -EINVAL
            print(f"Error: packet {i}: {e}", file=sys.stderr)
            rc = 1
            continue
        recs = _take_records(obj)
        trace = obj.trace_pipe()
        records += recs
        traces += trace
        if args.json:
            print(json.dumps({"packet": i, "retval": r.retval, "data_out": r.data_out.hex(),
                              "data_size_out": r.data_size_out, "duration_ns": r.duration_ns,
                              "insns": r.insns, "fault": r.fault or None, "jited": prog.jited,
                              "maps": _dump_maps(obj), "records": recs, "trace": trace}))
        else:
            if len(packets) > 1:
                print(f"packet {i}:")
            print(f'"retval": {r.retval}')
            print(f'"data_size_out": {r.data_size_out}')
            print(f'"data_out": "{r.data_out.hex()}"')
            print(f'"duration_ns": {r.duration_ns}')
            if r.fault:
                print(r.fault, file=sys.stderr)
    if not args.json:
        _print_after(obj, records, traces)
    return rc


def _print_after(obj, records, traces):
    """The text output's tail: maps as `bpftool map dump` prints them, records, trace lines."""
    from .maps import BPF_MAP_TYPE_PERF_EVENT_ARRAY, BPF_MAP_TYPE_RINGBUF
    for name, m in obj.maps.items():
        if m.type in (BPF_MAP_TYPE_PERF_EVENT_ARRAY, BPF_MAP_TYPE_RINGBUF) or m.error:
            continue
        print(f"map {name} ({m.type_name}):")
        for line in m.format().splitlines():
            print(f"  {line}")
    for rec in records:
        where = f"{rec['map']}" + (f" cpu {rec['cpu']}" if "cpu" in rec else "")
        print(f"record {where}: {rec['data']}")
    for line in traces:
        print(f"trace: {line}")


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(prog="xdplab")
    sub = ap.add_subparsers(dest="cmd")
    sub.required = True
    add_bpf_parser(sub)
    args = ap.parse_args(argv)
    return args.func(args)


if __name__ == "__main__":
    sys.exit(main())

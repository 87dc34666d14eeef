"""ELF loader for clang ``-target bpf`` objects (what libbpf's bpf_object__open does).

Reads the ELF with pyelftools; BTF with :mod:`xdplab.bpf.btf`.  Handles program
sections (``xdp``, ``xdp.frags``, ``xdp/devmap``, ``xdp.frags/cpumap``, custom
names), several programs per section, the license, BTF-defined maps in ``.maps``,
legacy ``maps`` definitions, global data (``.rodata*``, ``.data*``, ``.bss``: array
maps with one element, like libbpf's internal maps), map/data relocations and
BPF-to-BPF calls (subprograms from ``.text`` are appended to each program that
calls them).  Everything else is a :class:`BpfLoadError` that names the problem
and the fix.
"""

from __future__ import annotations

import io
import itertools
import os
from dataclasses import dataclass, field

import numpy as np

from .btf import Btf, BtfError, parse_btf_map, parse_core_relos, parse_line_info
from .helpers import HELPER_NAMES, SUPPORTED_HELPERS
from .insn import (BPF_ALU, BPF_ALU64, BPF_ATOMIC, BPF_CALL, BPF_CMPXCHG, BPF_DW, BPF_END, BPF_EXIT,
                   BPF_FETCH, BPF_JA, BPF_JMP, BPF_JMP32, BPF_LD, BPF_LDX, BPF_MEM, BPF_MEMSX, BPF_MOV,
                   BPF_PSEUDO_CALL, BPF_PSEUDO_FUNC, BPF_PSEUDO_KFUNC_CALL, BPF_PSEUDO_MAP_FD,
                   BPF_PSEUDO_MAP_VALUE, BPF_ST, BPF_STX, BPF_TO_BE, BPF_X, BPF_XCHG, OP_ATOMIC_DW,
                   OP_ATOMIC_W, OP_BSWAP, OP_CALL, OP_CALL_LOCAL, OP_EXIT, OP_JA, OP_LD_IMM64, OP_LDSX, OP_LDX,
                   OP_LE, OP_MOVSX, OP_MOVSX32, OP_SDIV, OP_SMOD, OP_ST, OP_STX, ALU64_K, ALU64_X, ALU32_K,
                   ALU32_X, JMP64_K, JMP64_X, JMP32_K, JMP32_X, SIZE_INDEX, disasm_one, pack, unpack)
from .maps import (BPF_MAP_TYPE_ARRAY_OF_MAPS, BPF_MAP_TYPE_HASH_OF_MAPS, PERF_RING_SIZE, BPF_MAP_TYPE_PERF_EVENT_ARRAY, BPF_MAP_TYPE_RINGBUF, BPF_F_NO_COMMON_LRU, BPF_F_RDONLY_PROG, BPF_MAP_TYPE_ARRAY, BPF_MAP_TYPE_LRU_HASH,
                   BPF_MAP_TYPE_LRU_PERCPU_HASH, BPF_MAP_TYPE_DEVMAP, BPF_MAP_TYPE_DEVMAP_HASH,
                   BPF_MAP_TYPE_NAMES, BPF_MAP_TYPE_PROG_ARRAY, BPF_MAP_TYPE_XSKMAP, SUPPORTED_MAP_TYPES,
                   is_hash_type, is_percpu_type)
from .relo_core import POISON_HELPER
from .state import K_FUNC, K_MAP, K_MAPVAL, NR_CPUS, PTR_SHIFT, _pow2_at_least

# the largest value of an array map: KMALLOC_MAX_SIZE, 1 << (MAX_ORDER + PAGE_SHIFT - 1) with 6.1's
# MAX_ORDER 11 and 4 KiB pages (array_map_alloc_check refuses more with -E2BIG)
KMALLOC_MAX_SIZE = 4 << 20
# all the maps of one object: the VM keeps them in one numpy array; 256 MiB is far above what the
# lab's programs use (a few KiB) and well inside this machine's and Binder's memory
MAP_MEMORY_LIMIT = 256 << 20

__all__ = ["BpfLoadError", "ElfObject", "MapDef", "ProgDef", "read_object", "decode_programs",
           "section_frags", "XDP_SECTION_PREFIXES"]

EM_BPF = 247
SHF_EXECINSTR = 0x4
SHN_UNDEF = 0
R_BPF_64_64 = 1
R_BPF_64_32 = 10

# libbpf section definitions for XDP (SEC_DEF in tools/lib/bpf/libbpf.c)
XDP_SECTION_PREFIXES = ("xdp.frags/devmap", "xdp.frags/cpumap", "xdp/devmap", "xdp/cpumap", "xdp.frags",
                        "xdp")

_map_ids = itertools.count(1)


class BpfLoadError(ValueError):
    """The object cannot be loaded; the message says why and how to fix it."""


@dataclass
class MapDef:
    name: str
    type: int
    key_size: int
    value_size: int
    max_entries: int
    map_flags: int = 0
    section: str = ".maps"
    initial: bytes | None = None
    id: int = 0
    ncopies: int = 1
    rdonly: bool = False
    internal: bool = False        # global data (.rodata/.data/.bss)
    variables: dict = field(default_factory=dict)   # global data: name -> (offset, size) from BTF
    error: str = ""               # why xdplab cannot create this map (the programs that use it are refused)
    inner: "MapDef | None" = None  # map-in-map: the template of the inner maps (from __array(values, ...))
    values_off: int = 0           # map-in-map: where values[] is in .maps
    static_values: dict = field(default_factory=dict)   # map-in-map: slot -> index of the inner map
    kattr: tuple | None = None    # (key_size, value_size, max_entries) as the kernel has them, where the
                                  # VM's storage differs (perf event array: a ring per slot; ringbuf)


@dataclass
class ProgDef:
    name: str
    section: str
    insns: np.ndarray             # uint64: relocated; map refs as src=PSEUDO_MAP_FD/VALUE with imm = map index
    frags: bool = False
    attach: str = "xdp"           # xdp, xdp/devmap, xdp/cpumap
    line_info: list = field(default_factory=list)   # (insn index, file, line, col, text)
    origin: list = field(default_factory=list)      # per insn: (section, insn index in section)
    error: str = ""               # why this program does not load (the object's other programs do)
    verifier_error: object = None  # the BpfVerifierError when the verifier refused it
    core_poison: dict = field(default_factory=dict)   # insn -> why its CO-RE relocation is poisoned


@dataclass
class ElfObject:
    path: str
    license: str
    maps: list
    progs: list
    kversion: int = 0
    core_relos: list = field(default_factory=list)  # xdplab.bpf.relo_core.CoreRelo, as applied


def section_frags(sec: str) -> tuple[bool, str]:
    """(frags, attach type) of an XDP program section, libbpf-style; custom names are plain xdp."""
    for p in XDP_SECTION_PREFIXES:
        if sec == p or sec.startswith(p + "/") or (p in ("xdp", "xdp.frags") and sec.startswith(p + "/")):
            frags = p.startswith("xdp.frags")
            attach = "xdp/devmap" if p.endswith("devmap") else "xdp/cpumap" if p.endswith("cpumap") else "xdp"
            return frags, attach
    return False, "xdp"


def _err(path, msg):
    return BpfLoadError(f"{os.path.basename(str(path))}: {msg}")


def read_object(src, name: str | None = None) -> ElfObject:
    """Parse and relocate a BPF ELF object (path or bytes)."""
    from elftools.common.exceptions import ELFError
    from elftools.elf.elffile import ELFFile
    from elftools.elf.relocation import RelocationSection
    from elftools.elf.sections import SymbolTableSection

    if isinstance(src, (bytes, bytearray, memoryview)):
        data = bytes(src)
        path = name or "<bytes>"
    else:
        path = str(src)
        if not os.path.exists(path):
            raise FileNotFoundError(f"{path}: no such file (compile it with: clang -O2 -g -target bpf "
                                    f"-c prog.c -o prog.o)")
        with open(path, "rb") as f:
            data = f.read()
    if data[:4] != b"\x7fELF":
        raise _err(path, "not an ELF file (expected an object from clang -O2 -g -target bpf -c prog.c)")
    try:
        elf = ELFFile(io.BytesIO(data))
        if elf["e_machine"] not in ("EM_BPF", EM_BPF):
            raise _err(path, f"ELF machine is {elf['e_machine']}, not BPF: compile with clang -target bpf")
        if elf.elfclass != 64 or not elf.little_endian:
            raise _err(path, "only 64-bit little-endian BPF objects are supported (clang -target bpf on "
                             "x86/arm64 gives those)")
        return _read(elf, path, RelocationSection, SymbolTableSection)
    except BpfLoadError:
        raise
    except (ELFError, BtfError, ValueError, KeyError, IndexError, AttributeError, TypeError, AssertionError,
            UnicodeDecodeError, OverflowError, MemoryError, RecursionError, Exception) as e:
        if isinstance(e, (KeyboardInterrupt, SystemExit)):
            raise
        raise _err(path, f"malformed ELF object ({type(e).__name__}: {e}); rebuild it with clang -O2 -g "
                         f"-target bpf") from e


def _read(elf, path, RelocationSection, SymbolTableSection):
    sections = list(elf.iter_sections())
    symtab = None
    for s in sections:
        if isinstance(s, SymbolTableSection) and s.name == ".symtab":
            symtab = s
    if symtab is None:
        raise _err(path, "no symbol table (.symtab): was the object stripped? rebuild without strip")
    syms = list(symtab.iter_symbols())

    # ---- license
    license_ = ""
    for s in sections:
        if s.name == "license":
            license_ = s.data().split(b"\0")[0].decode("latin-1")
    # ---- BTF
    btf = None
    btf_sec = elf.get_section_by_name(".BTF")
    if btf_sec is not None:
        btf = Btf(btf_sec.data())
    ext_sec = elf.get_section_by_name(".BTF.ext")
    line_info = parse_line_info(btf, ext_sec.data()) if ext_sec is not None and btf is not None else {}
    line_info.pop("__core_relo__", None)
    core = parse_core_relos(btf, ext_sec.data()) if ext_sec is not None and btf is not None else {}

    # ---- maps
    maps: list[MapDef] = []
    map_by_sym: dict[tuple[int, int], int] = {}     # (section index, offset) -> map index
    for idx, s in enumerate(sections):
        if s.name == ".maps":
            if btf is None:
                raise _err(path, "a .maps section needs BTF: compile with -g")
            ds = btf.find_datasec(".maps")
            if ds is None:
                raise _err(path, "no DATASEC .maps in BTF: compile with a clang that emits BTF (>= 10) and -g")
            # clang leaves DATASEC offsets for libbpf to fix up: take them from the symbols
            offs = {sy.name: int(sy["st_value"]) for sy in syms if sy["st_shndx"] == idx}
            for vtid, _voff, _vsz in btf.type(ds)[5]:
                vname = btf.type(vtid)[1]
                if vname not in offs:
                    raise _err(path, f"map '{vname}' has BTF but no symbol in .maps")
                voff = offs[vname]
                try:
                    d = parse_btf_map(btf, vtid, vname)
                except BtfError as e:
                    raise _err(path, str(e)) from None
                if "type" not in d:
                    raise _err(path, f"map '{vname}': no __uint(type, ...)")
                mt = d["type"]
                ks = d.get("key_size", 0)
                vs = d.get("value_size", 0)
                me = d.get("max_entries", 0)
                if mt in (BPF_MAP_TYPE_ARRAY_OF_MAPS, BPF_MAP_TYPE_HASH_OF_MAPS):
                    inner = d.get("inner")
                    if inner is None:
                        raise _err(path, f"map '{vname}': a map-in-map needs its inner map's definition: "
                                         f"__array(values, struct {{ ... }})")
                    vs = vs or 4
                    if vs != 4:
                        raise _err(path, f"map '{vname}': a map-in-map holds 4-byte values (map fds), not {vs}")
                    tmpl = _make_map(path, vname + ".inner", inner.get("type", 0), inner.get("key_size", 0),
                                     inner.get("value_size", 0), inner.get("max_entries", 0),
                                     inner.get("map_flags", 0), ".maps")
                    if tmpl.error:
                        raise _err(path, f"map '{vname}': inner {tmpl.error}")
                    if tmpl.type in (BPF_MAP_TYPE_ARRAY_OF_MAPS, BPF_MAP_TYPE_HASH_OF_MAPS, BPF_MAP_TYPE_PROG_ARRAY):
                        raise _err(path, f"map '{vname}': inner maps may not be map-in-maps or prog arrays "
                                         f"(bpf_map_meta_alloc says -EINVAL)")
                    md = _make_map(path, vname, mt, ks, 4, me, d.get("map_flags", 0), ".maps")
                    md.inner = tmpl
                    md.values_off = voff + d.get("values_bit_off", 0) // 8
                else:
                    md = _make_map(path, vname, mt, ks, vs, me, d.get("map_flags", 0), ".maps")
                    if d.get("values"):
                        raise _err(path, f"map '{vname}': static initialization of {BPF_MAP_TYPE_NAMES.get(mt)} "
                                         f"values (__array(values, ...)) is not supported; fill the map from "
                                         f"Python (obj.maps['{vname}'].update)")
                map_by_sym[(idx, voff)] = len(maps)
                maps.append(md)
            # static slots of map-in-maps: .rel.maps points values[i] at inner maps
            for rs in sections:
                if isinstance(rs, RelocationSection) and rs["sh_info"] == idx:
                    for r in rs.iter_relocations():
                        off = int(r["r_offset"])
                        sy = syms[r["r_info_sym"]]
                        outer = next((m for m in maps if m.inner is not None and m.values_off <= off
                                      < m.values_off + 8 * m.max_entries), None)
                        if outer is None:
                            raise _err(path, f".maps relocation at {off} against '{sy.name}' is not in a "
                                             f"map-in-map's values")
                        tgt = map_by_sym.get((idx, int(sy["st_value"])))
                        if tgt is None:
                            raise _err(path, f"map '{outer.name}': values[] refers to '{sy.name}', not a map")
                        outer.static_values[(off - outer.values_off) // 8] = tgt
        elif s.name == "maps":
            msyms = sorted((sy for sy in syms if sy["st_shndx"] == idx and sy["st_info"]["type"] == "STT_OBJECT"),
                           key=lambda sy: sy["st_value"])
            raw = s.data()
            for sy in msyms:
                off = sy["st_value"]
                if off + 20 > len(raw):
                    raise _err(path, f"legacy map '{sy.name}' is truncated (struct bpf_map_def is 20 bytes)")
                mt, ks, vs, me, fl = np.frombuffer(raw[off:off + 20], dtype="<u4")
                map_by_sym[(idx, off)] = len(maps)
                maps.append(_make_map(path, sy.name, int(mt), int(ks), int(vs), int(me), int(fl), "maps"))
    data_secs: dict[int, int] = {}
    for idx, s in enumerate(sections):
        n = s.name
        if n in (".rodata", ".data", ".bss") or n.startswith(".rodata.") or n.startswith(".data."):
            if s["sh_size"] == 0:
                continue
            if s["sh_flags"] & SHF_EXECINSTR:
                continue
            if s["sh_size"] > KMALLOC_MAX_SIZE:
                raise _err(path, f"section {n}: {s['sh_size']} bytes of global data; its map's one value "
                                 f"may hold at most {KMALLOC_MAX_SIZE} (KMALLOC_MAX_SIZE: the kernel's array "
                                 f"map says -E2BIG). Make the global variables smaller, or keep big data in a "
                                 f"map with max_entries")
            ro = n.startswith(".rodata")
            init = None if s["sh_type"] == "SHT_NOBITS" else s.data()
            md = MapDef(name=n, type=BPF_MAP_TYPE_ARRAY, key_size=4, value_size=int(s["sh_size"]), max_entries=1,
                        map_flags=BPF_F_RDONLY_PROG if ro else 0, section=n, initial=init, id=next(_map_ids),
                        rdonly=ro, internal=True)
            if btf is not None:
                ds = btf.find_datasec(n)
                if ds is not None:
                    offs = {sy.name: (int(sy["st_value"]), int(sy["st_size"])) for sy in syms
                            if sy["st_shndx"] == idx and sy["st_info"]["type"] == "STT_OBJECT"}
                    for vtid, voff, vsz in btf.type(ds)[5]:
                        vn = btf.type(vtid)[1]
                        md.variables[vn] = offs.get(vn, (int(voff), int(vsz)))
            data_secs[idx] = len(maps)
            maps.append(md)

    # ---- program sections and functions
    exec_secs = {idx for idx, s in enumerate(sections)
                 if s["sh_type"] == "SHT_PROGBITS" and s["sh_flags"] & SHF_EXECINSTR and s["sh_size"] > 0}
    text_idx = next((i for i, s in enumerate(sections) if s.name == ".text"), -1)
    code_of: dict[int, np.ndarray] = {}
    for idx in exec_secs:
        raw = sections[idx].data()
        if len(raw) % 8:
            raise _err(path, f"section {sections[idx].name}: size {len(raw)} is not a multiple of 8")
        code_of[idx] = np.frombuffer(raw, dtype="<u8").astype(np.uint64).copy()
    # ---- CO-RE relocations (libbpf's bpf_object__relocate_core), against Linux 6.1's layouts
    core_relos = []
    poison: dict[tuple[int, int], str] = {}
    if core:
        from .relo_core import CoreReloError, apply_core_relos
        by_name = {sections[i].name: code_of[i] for i in exec_secs}
        try:
            core_relos = apply_core_relos(btf, core, by_name)
        except (CoreReloError, BtfError) as e:
            raise _err(path, f"CO-RE: {e}") from None
        idx_of = {sections[i].name: i for i in exec_secs}
        for cr in core_relos:
            if cr.poisoned:
                poison[(idx_of[cr.section], cr.insn)] = cr.message
    funcs: dict[int, list[tuple[int, int, str, bool]]] = {i: [] for i in exec_secs}   # start, len, name, global
    for sy in syms:
        if sy["st_info"]["type"] == "STT_FUNC" and sy["st_shndx"] in exec_secs:
            st, sz = int(sy["st_value"]), int(sy["st_size"])
            if st % 8 or sz % 8:
                raise _err(path, f"function {sy.name} is not 8-byte aligned")
            funcs[sy["st_shndx"]].append((st // 8, sz // 8, sy.name, sy["st_info"]["bind"] != "STB_LOCAL"))
    for idx in exec_secs:
        funcs[idx].sort()
        if not funcs[idx] and idx != text_idx:
            n = len(code_of[idx])
            funcs[idx].append((0, n, sections[idx].name.replace("/", "_").replace(".", "_"), True))

    # ---- relocations of executable sections
    relocs: dict[int, dict[int, tuple]] = {i: {} for i in exec_secs}
    for s in sections:
        if not isinstance(s, RelocationSection):
            continue
        tgt = s["sh_info"]
        if tgt not in exec_secs:
            continue                                   # .rel.BTF, .rel.debug_*: not needed
        if s.is_RELA():
            raise _err(path, "RELA relocations in a program section: not a clang BPF object")
        for r in s.iter_relocations():
            off = r["r_offset"]
            if off % 8:
                raise _err(path, f"relocation at unaligned offset {off} in {sections[tgt].name}")
            sy = syms[r["r_info_sym"]]
            relocs[tgt][off // 8] = (sy, r["r_info_type"])

    progs: list[ProgDef] = []
    for idx in sorted(exec_secs):
        if idx == text_idx:
            continue
        sname = sections[idx].name
        frags, attach = section_frags(sname)
        for st, ln, fname, _glob in funcs[idx]:
            try:
                insns, origin = _link_program(path, sections, idx, st, ln, code_of, funcs, relocs, map_by_sym,
                                              data_secs, maps, text_idx, syms)
            except BpfLoadError as e:
                # this program does not load; the object's others still do (libbpf's autoload off)
                msg = str(e).split(": ", 1)[1] if str(e).startswith(os.path.basename(str(path)) + ": ") else str(e)
                progs.append(ProgDef(name=fname, section=sname, insns=np.zeros(0, dtype=np.uint64), frags=frags,
                                     attach=attach, error=f"program '{fname}' (section {sname}): {msg}"))
                continue
            li = []
            pos = {o: i for i, o in enumerate(origin)}
            for secidx in {o[0] for o in origin}:
                for rec in line_info.get(sections[secidx].name, []):
                    k = (secidx, rec[0] // 8)
                    if k in pos:
                        li.append((pos[k],) + rec[1:])
            li.sort()
            pz = {k: poison[o] for k, o in enumerate(origin) if o in poison}
            progs.append(ProgDef(name=fname, section=sname, insns=insns, frags=frags, attach=attach,
                                 line_info=li, origin=origin, core_poison=pz))
    if not progs:
        raise _err(path, "no programs found: put the function in a section, e.g. SEC(\"xdp\") int prog(struct "
                         "xdp_md *ctx) {...}")
    _check_map_memory(path, maps)
    return ElfObject(path=str(path), license=license_, maps=maps, progs=progs, core_relos=core_relos)


def _map_bytes(d) -> int:
    """What a map takes in the VM's memory (xdplab.bpf.state lays values out at a power-of-two
    stride, one copy per CPU for the per-CPU types, and keys apart for the hash types)."""
    stride = _pow2_at_least(max(8, d.value_size))
    return stride * d.max_entries * d.ncopies + (d.key_size * d.max_entries if is_hash_type(d.type) else 0)


def _check_map_memory(path, maps) -> None:
    """Every map of an object lives in one array: refuse, with the culprit named, an object
    whose maps would not fit in MAP_MEMORY_LIMIT (the kernel would charge it to the memcg and
    fail the map create with -ENOMEM long before)."""
    total = sum(_map_bytes(d) for d in maps)
    if total > MAP_MEMORY_LIMIT:
        big = max(maps, key=_map_bytes)
        raise _err(path, f"the maps need {total / 2**20:.0f} MiB in all, more than xdplab holds "
                         f"({MAP_MEMORY_LIMIT >> 20} MiB); map '{big.name}' alone takes "
                         f"{_map_bytes(big) / 2**20:.0f} MiB ({big.max_entries} entries of {big.value_size} "
                         f"bytes): lower its max_entries")


def _refused_map(name, mt, ks, vs, me, fl, section, why) -> MapDef:
    """A map xdplab cannot create: a one-slot placeholder, so that the object's programs that do
    not use it load (the ones that do are refused with ``why``)."""
    return MapDef(name=name, type=BPF_MAP_TYPE_ARRAY, key_size=4, value_size=8, max_entries=1, map_flags=0,
                  section=section, id=next(_map_ids), error=why)


def _make_map(path, name, mt, ks, vs, me, fl, section) -> MapDef:
    tn = BPF_MAP_TYPE_NAMES.get(mt, f"#{mt}")
    if mt not in SUPPORTED_MAP_TYPES:
        return _refused_map(name, mt, ks, vs, me, fl, section,
                            f"map '{name}': type BPF_MAP_TYPE_{tn.upper()} is not supported by xdplab (supported: "
                            + ", ".join("BPF_MAP_TYPE_" + BPF_MAP_TYPE_NAMES[t].upper() for t in SUPPORTED_MAP_TYPES)
                            + ")")
    if mt == BPF_MAP_TYPE_PERF_EVENT_ARRAY:
        ks, vs = ks or 4, vs or 4
        if (ks, vs) != (4, 4):
            raise _err(path, f"map '{name}': perf_event_array needs 4-byte keys and values (got {ks}/{vs})")
        if me == 0:
            me = NR_CPUS              # libbpf: max_entries 0 means one slot per possible CPU
        if me > 4096:
            raise _err(path, f"map '{name}': {me} perf event slots; xdplab allows 4096")
        return MapDef(name=name, type=mt, key_size=4, value_size=2 * PERF_RING_SIZE, max_entries=me, map_flags=fl,
                      section=section, id=next(_map_ids), kattr=(4, 4, me))
    if mt == BPF_MAP_TYPE_RINGBUF:
        if ks or vs:
            raise _err(path, f"map '{name}': a ringbuf has no key or value (ringbuf_map_alloc says -EINVAL for "
                             f"key {ks}/value {vs}): declare only type and max_entries")
        if me < 4096 or me & (me - 1):
            raise _err(path, f"map '{name}': ringbuf max_entries {me} must be a power of 2 and a multiple of "
                             f"the page size (4096), the size of the ring in bytes (-EINVAL)")
        if me > 16 << 20:
            raise _err(path, f"map '{name}': a {me >> 20} MiB ringbuf; xdplab holds at most 16 MiB")
        return MapDef(name=name, type=mt, key_size=4, value_size=2 * me, max_entries=1, map_flags=fl,
                      section=section, id=next(_map_ids), kattr=(0, 0, me))
    if mt in (22, 23):                                   # QUEUE / STACK (queue_stack_map_alloc_check)
        if me <= 0 or ks != 0 or vs <= 0:
            raise _err(path, f"map '{name}': a {tn} map has no key (key_size 0: declare only __type(value, ...) or "
                             f"__uint(value_size, N)), a value and max_entries > 0 (got key {ks}, value {vs}, "
                             f"max_entries {me}; the kernel says -EINVAL)")
        if me > 1 << 20 or vs > 65536:
            raise _err(path, f"map '{name}': {me} values of {vs}B is more than xdplab allows (1048576 of 64 KiB)")
        if fl & ~0x4:                                    # BPF_F_NUMA_NODE (one node: nothing to do)
            return _refused_map(name, mt, ks, vs, me, fl, section,
                                f"map '{name}': map_flags {fl:#x} on a {tn} map: xdplab supports none but "
                                f"BPF_F_NUMA_NODE there (6.1 also takes the BPF_F_RDONLY/WRONLY(_PROG) access flags)")
        return MapDef(name=name, type=mt, key_size=0, value_size=vs, max_entries=me + 1, map_flags=fl,
                      section=section, id=next(_map_ids), kattr=(0, vs, me))
    if me <= 0:
        raise _err(path, f"map '{name}': max_entries must be > 0 (add __uint(max_entries, N))")
    if me > 1 << 20:
        raise _err(path, f"map '{name}': max_entries {me} is more than xdplab allows (1048576)")
    fixed = {BPF_MAP_TYPE_PROG_ARRAY: (4, 4), BPF_MAP_TYPE_XSKMAP: (4, 4)}
    if mt in fixed:
        if ks == 0:
            ks = 4
        if vs == 0:
            vs = 4
        if (ks, vs) != fixed[mt]:
            raise _err(path, f"map '{name}': {tn} needs 4-byte keys and values (got {ks}/{vs})")
    if mt in (BPF_MAP_TYPE_DEVMAP, BPF_MAP_TYPE_DEVMAP_HASH, 16):
        if ks != 4 or vs not in (4, 8):
            raise _err(path, f"map '{name}': {tn} needs a 4-byte key and a 4- or 8-byte value (got {ks}/{vs})")
    if ks <= 0 or vs <= 0:
        raise _err(path, f"map '{name}': key and value sizes must be > 0 (use __type(key, ...) and "
                         f"__type(value, ...))")
    if not is_hash_type(mt) and ks != 4:
        raise _err(path, f"map '{name}': array maps need a 4-byte key (__u32), got {ks}")
    if ks > 512 or vs > 65536:
        raise _err(path, f"map '{name}': key {ks}B / value {vs}B too large (max 512 / 65536)")
    if fl & BPF_F_NO_COMMON_LRU:
        if mt not in (BPF_MAP_TYPE_LRU_HASH, BPF_MAP_TYPE_LRU_PERCPU_HASH):
            raise _err(path, f"map '{name}': map_flags BPF_F_NO_COMMON_LRU ({BPF_F_NO_COMMON_LRU:#x}) is for "
                             f"LRU hash maps only (htab_map_alloc_check says -EINVAL for a {tn} map)")
        # htab_map_alloc: with per-CPU LRU lists, max_entries is rounded up to a multiple of the
        # number of possible CPUs (each CPU's list gets an equal share)
        me = -(-me // NR_CPUS) * NR_CPUS
    known = 1 | BPF_F_NO_COMMON_LRU | 0x80 | 0x100 | 0x400
    if fl & ~known:
        names = {0x4: "BPF_F_NUMA_NODE", 0x8: "BPF_F_RDONLY", 0x10: "BPF_F_WRONLY", 0x20: "BPF_F_STACK_BUILD_ID",
                 0x40: "BPF_F_ZERO_SEED", 0x200: "BPF_F_CLONE", 0x800: "BPF_F_PRESERVE_ELEMS",
                 0x1000: "BPF_F_INNER_MAP"}
        bad = [names.get(1 << b, f"{1 << b:#x}") for b in range(32) if fl & ~known & (1 << b)]
        return _refused_map(name, mt, ks, vs, me, fl, section,
                            f"map '{name}': map_flags {fl:#x}: {', '.join(bad)} not supported by xdplab "
                            f"(BPF_F_NO_PREALLOC, BPF_F_NO_COMMON_LRU, BPF_F_RDONLY_PROG, BPF_F_WRONLY_PROG, "
                            f"BPF_F_MMAPABLE are)")
    ro = bool(fl & BPF_F_RDONLY_PROG) or mt in (BPF_MAP_TYPE_DEVMAP, BPF_MAP_TYPE_DEVMAP_HASH,
                                                BPF_MAP_TYPE_XSKMAP)
    return MapDef(name=name, type=mt, key_size=ks, value_size=vs, max_entries=me, map_flags=fl, section=section,
                  id=next(_map_ids), ncopies=NR_CPUS if is_percpu_type(mt) else 1, rdonly=ro)


def _link_program(path, sections, sec, start, length, code_of, funcs, relocs, map_by_sym, data_secs, maps,
                  text_idx, syms):
    """Lay out the program and the subprograms it calls (transitively), apply relocations."""
    units = [(sec, start, length)]
    placed = {(sec, start): 0}
    out: list[int] = []
    origin: list[tuple[int, int]] = []
    fixups = []                                        # (out index, target (sec, insn))
    u = 0
    while u < len(units):
        usec, ust, uln = units[u]
        base = len(out)
        code = code_of[usec]
        if ust + uln > len(code):
            raise _err(path, f"function at {sections[usec].name}+{ust * 8} runs past the section end")
        i = ust
        while i < ust + uln:
            v = int(code[i])
            c = v & 0xFF
            src = (v >> 12) & 0xF
            imm = (v >> 32) & 0xFFFFFFFF
            imm = imm - (1 << 32) if imm & 0x80000000 else imm
            rel = relocs[usec].get(i)
            if c == (BPF_LD | BPF_DW) :            # LD_IMM64: two slots
                if i + 1 >= ust + uln:
                    raise _err(path, f"{sections[usec].name}: ld_imm64 at insn {i} lacks its second half")
                v2 = int(code[i + 1])
                if rel is not None:
                    sy, _rt = rel
                    shn = sy["st_shndx"]
                    if shn == SHN_UNDEF or shn == "SHN_UNDEF":
                        raise _err(path, f"extern '{sy.name}' (a __kconfig/__ksym variable or a function "
                                         f"without a body) is not supported: define it in the object")
                    if (shn, int(sy["st_value"])) in map_by_sym and sy["st_info"]["type"] != "STT_SECTION":
                        mi = map_by_sym[(shn, int(sy["st_value"]))]
                        if maps[mi].error:
                            raise _err(path, f"uses {maps[mi].error}")
                        v = (v & ~(0xF << 12) & 0xFFFFFFFF) | (BPF_PSEUDO_MAP_FD << 12) | (mi << 32)
                    elif shn in data_secs:
                        mi = data_secs[shn]
                        off = imm + (int(sy["st_value"]) if sy["st_info"]["type"] != "STT_SECTION" else 0)
                        if not 0 <= off < maps[mi].value_size:
                            raise _err(path, f"reference to {sections[shn].name}+{off} outside the section")
                        v = (v & 0xFFFFFFFF & ~(0xF << 12)) | (BPF_PSEUDO_MAP_VALUE << 12) | (mi << 32)
                        v2 = (v2 & 0xFFFFFFFF) | ((off & 0xFFFFFFFF) << 32)
                    elif shn in code_of:
                        # a callback (bpf_loop): libbpf makes it a BPF_PSEUDO_FUNC ld_imm64 whose imm is
                        # the function's offset from the next insn, like a call's
                        tgt_i = (int(sy["st_value"]) + imm) // 8
                        fn = next(((s0, l0) for s0, l0, _n, _g in funcs[shn] if s0 == tgt_i), None)
                        if fn is None:
                            raise _err(path, f"address of '{sy.name}'+{imm} is not the start of a function")
                        if (shn, fn[0]) not in placed:
                            placed[(shn, fn[0])] = -1
                            units.append((shn, fn[0], fn[1]))
                        fixups.append((len(out), (shn, fn[0]), 0))
                        v = (v & 0xFFFFFFFF & ~(0xF << 12)) | (BPF_PSEUDO_FUNC << 12)
                        v2 = v2 & 0xFFFFFFFF
                    elif isinstance(shn, int) and sections[shn].name in (".maps", "maps"):
                        raise _err(path, f"reference into {sections[shn].name} that is not a map ('{sy.name}')")
                    else:
                        sn = sections[shn].name if isinstance(shn, int) else str(shn)
                        raise _err(path, f"relocation against '{sy.name}' in section {sn} is not supported "
                                         f"(only maps, .rodata/.data/.bss and functions are)")
                out.append(v)
                out.append(v2)
                origin.append((usec, i))
                origin.append((usec, i + 1))
                i += 2
                continue
            if c == (BPF_JMP | BPF_CALL) and src == BPF_PSEUDO_CALL:
                if rel is not None:
                    sy, _rt = rel
                    shn = sy["st_shndx"]
                    if shn not in code_of:
                        raise _err(path, f"call to '{sy.name}', which has no body in this object (extern "
                                         f"functions and kfuncs are not supported)")
                    tgt_i = int(sy["st_value"]) // 8 + imm + 1
                    tsec = shn
                else:
                    tsec, tgt_i = usec, i + imm + 1
                fn = next(((s0, l0) for s0, l0, _n, _g in funcs[tsec] if s0 <= tgt_i < s0 + l0), None)
                if fn is None:
                    raise _err(path, f"call at {sections[usec].name} insn {i} targets insn {tgt_i} of "
                                     f"{sections[tsec].name}, which is not inside a function")
                if (tsec, fn[0]) not in placed:
                    placed[(tsec, fn[0])] = -1
                    units.append((tsec, fn[0], fn[1]))
                fixups.append((len(out), (tsec, fn[0]), tgt_i - fn[0]))
                out.append(v)
                origin.append((usec, i))
                i += 1
                continue
            if c == (BPF_JMP | BPF_CALL) and src == BPF_PSEUDO_KFUNC_CALL:
                nm = rel[0].name if rel else f"#{imm}"
                raise _err(path, f"kfunc call '{nm}' is not supported by xdplab (only BPF helpers are)")
            if rel is not None:
                sy, _rt = rel
                raise _err(path, f"unexpected relocation against '{sy.name}' at {sections[usec].name} insn {i} "
                                 f"(opcode {c:#04x})")
            out.append(v)
            origin.append((usec, i))
            i += 1
        placed[(usec, ust)] = base
        u += 1
    for pos_, key, delta in fixups:
        tgt = placed[key] + delta
        v = out[pos_]
        rel_ = tgt - (pos_ + 1)
        out[pos_] = (v & 0xFFFFFFFF) | ((rel_ & 0xFFFFFFFF) << 32)
    return np.array(out, dtype=np.uint64), origin


# ------------------------------------------------------------------------------ decode
def _verr(prog_name, pc, raw, msg, fix=""):
    try:
        txt = disasm_one(raw, pc, lambda i: helper_label(i))
    except Exception:   # noqa: BLE001 - a disassembler failure must not hide the real error
        txt = "?"
    return BpfLoadError(f"program '{prog_name}': {msg}\n{pc}: ({int(raw[pc]) & 0xFF:02x}) {txt}"
                        + (f"\n{fix}" if fix else ""))


def helper_label(i: int) -> str:
    if 0 <= i < len(HELPER_NAMES):
        return f"bpf_{HELPER_NAMES[i]}#{i}"
    return f"unknown#{i}"


def decode_programs(progs: list[ProgDef], maps: list[MapDef], verify: bool = True):
    """Turn relocated programs into the VM's decoded rows, validating like the verifier's
    first pass (check_subprogs / resolve_pseudo_ldimm64 / check opcodes), then (``verify``)
    walking each one as the kernel's verifier does (:mod:`xdplab.bpf.verifier`).  Returns
    (code int64[N,4], starts, lens)."""
    rows = []
    starts, lens = [], []
    for p in progs:
        starts.append(len(rows))
        if not p.error:
            try:
                dec = _decode_one(p, maps, len(rows))
            except BpfLoadError as e:
                p.error = f"program '{p.name}' (section {p.section}): " + str(e).removeprefix(f"program '{p.name}': ")
        if p.error:
            # refused: one row that returns XDP_ABORTED (r0 = 0), never run (BpfProgram refuses it)
            dec = [(OP_EXIT, 0, 0, BPF_JMP | BPF_EXIT)]
        elif verify:
            from .verifier import BpfVerifierError, verify_program
            try:
                verify_program(p, maps)
            except BpfVerifierError as e:
                # refused like any program xdplab does not load: the object's others still load
                # (as xdp-loader / ip link ... sec load only the chosen program); attaching this
                # one, or an object whose every program is refused, raises this error
                p.error, p.verifier_error = str(e), e
                dec = [(OP_EXIT, 0, 0, BPF_JMP | BPF_EXIT)]
        lens.append(len(dec))
        rows.extend(dec)
    if not rows:
        rows = [(0, 0, 0, 0)]
    return np.array(rows, dtype=np.int64).reshape(-1, 4), starts, lens


def _decode_one(p: ProgDef, maps, base):
    raw = p.insns
    n = len(raw)
    if n == 0:
        raise BpfLoadError(f"program '{p.name}': empty program")
    if n > 1_000_000:
        raise BpfLoadError(f"program '{p.name}': {n} instructions; the kernel's limit is 1000000")
    code, dst, src, off, imm = unpack(raw)
    out = []
    ld2 = set()
    pc = 0
    while pc < n:                                   # second halves of LD_IMM64 are not jump targets
        if int(code[pc]) == (BPF_LD | BPF_DW):
            ld2.add(pc + 1)
            pc += 2
        else:
            pc += 1
    for pc in range(n):
        if pc in ld2:
            out.append((OP_LD_IMM64 | (0 << 8), base + pc + 1, 0, 0))   # second half: never executed
            continue
        c, d, s, o, im = int(code[pc]), int(dst[pc]), int(src[pc]), int(off[pc]), int(imm[pc])
        cls = c & 7

        def bad(msg, fix=""):
            return _verr(p.name, pc, raw, msg, fix)

        if d > 10 or s > 10:
            raise bad(f"R{max(d, s)} is invalid")

        def jump_target(delta):
            t = pc + 1 + delta
            if not 0 <= t < n or t in ld2:
                raise bad(f"jump out of range from insn {pc} to {t}")
            return base + t

        if cls in (BPF_ALU, BPF_ALU64):
            op = c & 0xF0
            k = 0 if c & BPF_X else 1
            wide = cls == BPF_ALU64
            if d == 10:
                raise bad("frame pointer is read only")
            if op == BPF_END:
                if im not in (16, 32, 64):
                    raise bad(f"BPF_END uses reserved fields (width {im})")
                if wide:
                    if c & BPF_X:
                        raise bad("BPF_END uses reserved fields")
                    iop = OP_BSWAP
                else:
                    iop = OP_BSWAP if c & BPF_TO_BE else OP_LE
                out.append((iop | (d << 8), 0, 0, im))
                continue
            if op > 0xC0:
                raise bad(f"unknown opcode {c:02x}", "this is not an instruction clang emits")
            aop = op >> 4
            if op == BPF_MOV and o != 0:
                if o not in ((8, 16, 32) if wide else (8, 16)) or not (c & BPF_X):
                    raise bad(f"BPF_MOV uses reserved fields (off {o})")
                out.append(((OP_MOVSX if wide else OP_MOVSX32) | (d << 8) | (s << 12), 0, 0, o))
                continue
            if op in (0x30, 0x90) and o == 1:
                aop = OP_SDIV if op == 0x30 else OP_SMOD
            elif o != 0:
                raise bad(f"BPF_ALU uses reserved fields (off {o})")
            if k and s != 0:
                raise bad("BPF_ALU uses reserved fields (src_reg with an immediate)")
            if op == 0x80 and (c & BPF_X or im != 0):
                raise bad("BPF_NEG uses reserved fields")
            if k and op in (0x30, 0x90) and im == 0:
                raise bad("division by zero")
            if k and op in (0x60, 0x70, 0xC0) and not 0 <= im < (64 if wide else 32):
                raise bad(f"invalid shift {im}")
            iop = ((ALU64_K if k else ALU64_X) if wide else (ALU32_K if k else ALU32_X)) + aop
            out.append((iop | (d << 8) | (s << 12) | (k << 16), 0, im, c))
            continue
        if cls in (BPF_JMP, BPF_JMP32):
            op = c & 0xF0
            if op == BPF_EXIT:
                if cls == BPF_JMP32 or c & BPF_X or d or s or o or im:
                    raise bad("BPF_EXIT uses reserved fields")
                out.append((OP_EXIT, 0, 0, c))
                continue
            if op == BPF_CALL:
                if cls == BPF_JMP32:
                    raise bad(f"unknown opcode {c:02x}")
                if s == BPF_PSEUDO_CALL:
                    out.append((OP_CALL_LOCAL, jump_target(im), 0, c))
                    continue
                if s != 0:
                    raise bad("kfunc calls are not supported by xdplab")
                if im == POISON_HELPER and pc in p.core_poison:
                    out.append((OP_CALL, 0, im, c))      # a CO-RE relocation that failed: faults if reached
                    continue
                if im not in SUPPORTED_HELPERS:
                    if 0 <= im < len(HELPER_NAMES):
                        raise bad(f"helper bpf_{HELPER_NAMES[im]}#{im} is not available in xdplab's VM "
                                  f"(XDP helpers it has: {', '.join('bpf_' + HELPER_NAMES[h] for h in sorted(SUPPORTED_HELPERS))})")
                    raise bad(f"invalid func unknown#{im}")
                out.append((OP_CALL, 0, im, c))
                continue
            if op == BPF_JA:
                if c & BPF_X or d or s:
                    raise bad("BPF_JA uses reserved fields")
                if cls == BPF_JMP32:                     # gotol: 32-bit offset in imm
                    out.append((OP_JA, jump_target(im), 0, c))
                else:
                    out.append((OP_JA, jump_target(o), 0, c))
                continue
            if op > 0xD0:
                raise bad(f"unknown opcode {c:02x}")
            k = 0 if c & BPF_X else 1
            if k and s:
                raise bad("BPF_JMP/JMP32 uses reserved fields")
            if cls == BPF_JMP:
                basej = JMP64_K if k else JMP64_X
            else:
                basej = JMP32_K if k else JMP32_X
            out.append(((basej + (op >> 4)) | (d << 8) | (s << 12) | (k << 16), jump_target(o), im, c))
            continue
        if cls == BPF_LD:
            if c != (BPF_LD | BPF_DW):
                raise bad(f"BPF_LD_[ABS|IND] (legacy packet access, opcode {c:02x}) is not allowed in XDP programs")
            if pc + 1 >= n:
                raise bad("invalid BPF_LD_IMM insn")
            c2, d2, s2, o2 = int(code[pc + 1]), int(dst[pc + 1]), int(src[pc + 1]), int(off[pc + 1])
            if c2 or d2 or s2 or o2 or o:
                raise bad("invalid BPF_LD_IMM insn")
            if d == 10:
                raise bad("frame pointer is read only")
            hi = int(imm[pc + 1]) & 0xFFFFFFFF
            lo = im & 0xFFFFFFFF
            if s == 0:
                v = (hi << 32) | lo
                v = v - (1 << 64) if v >= 1 << 63 else v
            elif s == BPF_PSEUDO_MAP_FD:
                if not 0 <= lo < len(maps):
                    raise bad(f"fd {lo} is not pointing to valid bpf_map")
                if maps[lo].error:
                    raise bad(f"uses {maps[lo].error}")
                v = (K_MAP << PTR_SHIFT) | lo
            elif s == BPF_PSEUDO_MAP_VALUE:
                if not 0 <= lo < len(maps):
                    raise bad(f"fd {lo} is not pointing to valid bpf_map")
                if maps[lo].max_entries != 1 or is_hash_type(maps[lo].type) or hi >= maps[lo].value_size:
                    raise bad(f"invalid access to map value pointer, value_size={maps[lo].value_size} off={hi}")
                v = (K_MAPVAL << PTR_SHIFT) | (lo << 32) | hi
            elif s == BPF_PSEUDO_FUNC:
                t = pc + 1 + im
                if not 0 <= t < n or t in ld2 or hi:
                    raise bad("invalid BPF_PSEUDO_FUNC: the callback is not inside the program")
                v = (K_FUNC << PTR_SHIFT) | (base + t)
            else:
                raise bad(f"unrecognized bpf_ld_imm64 insn (src {s})")
            out.append((OP_LD_IMM64 | (d << 8), base + pc + 2, v, c))
            continue
        mode = c & 0xE0
        size = c & 0x18
        if cls == BPF_LDX:
            if mode not in (BPF_MEM, BPF_MEMSX) or (mode == BPF_MEMSX and size == BPF_DW):
                raise bad(f"unknown opcode {c:02x}")
            if d == 10:
                raise bad("frame pointer is read only")
            if im:
                raise bad("BPF_LDX uses reserved fields")
            iop = (OP_LDX if mode == BPF_MEM else OP_LDSX) + SIZE_INDEX[size]
            out.append((iop | (d << 8) | (s << 12), o, 0, c))
            continue
        if cls == BPF_ST:
            if mode != BPF_MEM or s:
                raise bad(f"unknown opcode {c:02x}" if mode != BPF_MEM else "BPF_ST uses reserved fields")
            out.append(((OP_ST + SIZE_INDEX[size]) | (d << 8), o, im, c))
            continue
        if cls == BPF_STX:
            if mode == BPF_MEM:
                if im:
                    raise bad("BPF_STX uses reserved fields")
                out.append(((OP_STX + SIZE_INDEX[size]) | (d << 8) | (s << 12), o, 0, c))
                continue
            if mode == BPF_ATOMIC:
                if size not in (BPF_DW, 0):
                    raise bad("invalid atomic operand size")
                if im not in (0x00, 0x40, 0x50, 0xA0, 0x01, 0x41, 0x51, 0xA1, BPF_XCHG, BPF_CMPXCHG):
                    raise bad(f"BPF_ATOMIC uses invalid atomic opcode {im:02x}")
                out.append(((OP_ATOMIC_DW if size == BPF_DW else OP_ATOMIC_W) | (d << 8) | (s << 12), o, 0, im))
                continue
            raise bad(f"unknown opcode {c:02x}")
        raise bad(f"unknown opcode {c:02x}")
    last = int(code[n - 1])
    if (n - 1) in ld2 or (last & 7) not in (BPF_JMP, BPF_JMP32) or (last & 0xF0) not in (BPF_EXIT, BPF_JA):
        raise _verr(p.name, n - 1, raw, "last insn is not an exit or jmp", "every path must end in `return ...;`")
    return out


# keep flake quiet about names used only in messages
_ = (BPF_FETCH, BPF_XCHG, BPF_CMPXCHG, BPF_MOV, BPF_STX, pack, OP_ATOMIC_W, BPF_MAP_TYPE_PROG_ARRAY)

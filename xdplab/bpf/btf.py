"""Just enough BTF (Documentation/bpf/btf.rst) to read what libbpf reads from a
clang object: BTF-defined maps in ``.maps`` (``__uint``/``__type`` members) and
the source lines of ``.BTF.ext`` line_info (shown in fault messages, like the
verifier log does).  The ELF container itself is read with pyelftools.
"""

from __future__ import annotations

import struct

BTF_MAGIC = 0xEB9F
KIND_NAMES = {1: "INT", 2: "PTR", 3: "ARRAY", 4: "STRUCT", 5: "UNION", 6: "ENUM", 7: "FWD", 8: "TYPEDEF",
              9: "VOLATILE", 10: "CONST", 11: "RESTRICT", 12: "FUNC", 13: "FUNC_PROTO", 14: "VAR",
              15: "DATASEC", 16: "FLOAT", 17: "DECL_TAG", 18: "TYPE_TAG", 19: "ENUM64"}
INT, PTR, ARRAY, STRUCT, UNION, ENUM, FWD, TYPEDEF, VOLATILE, CONST, RESTRICT = range(1, 12)
FUNC, FUNC_PROTO, VAR, DATASEC, FLOAT, DECL_TAG, TYPE_TAG, ENUM64 = range(12, 20)


class BtfError(ValueError):
    pass


class Btf:
    """Parsed type section: ``types[id] = (kind, name, size_or_type, vlen, kflag, extra)``."""

    def __init__(self, data: bytes):
        if len(data) < 24:
            raise BtfError("BTF section too short")
        magic, version, flags, hdr_len = struct.unpack_from("<HBBI", data, 0)
        if magic != BTF_MAGIC:
            raise BtfError(f"bad BTF magic {magic:#x} (big-endian object? compile with -target bpf on a "
                           f"little-endian host, or -target bpfel)")
        type_off, type_len, str_off, str_len = struct.unpack_from("<IIII", data, 8)
        base = hdr_len
        if base + type_off + type_len > len(data) or base + str_off + str_len > len(data):
            raise BtfError("BTF header points outside the section")
        self.strings = data[base + str_off: base + str_off + str_len]
        self.types: list = [(0, "", 0, 0, 0, None)]       # id 0 = void
        p, end = base + type_off, base + type_off + type_len
        while p < end:
            if p + 12 > end:
                raise BtfError("truncated BTF type")
            name_off, info, size_or_type = struct.unpack_from("<III", data, p)
            p += 12
            kind = (info >> 24) & 0x1F
            vlen = info & 0xFFFF
            kflag = info >> 31
            extra = None
            if kind == INT:
                extra = struct.unpack_from("<I", data, p)[0]
                p += 4
            elif kind == ARRAY:
                extra = struct.unpack_from("<III", data, p)     # elem type, index type, nelems
                p += 12
            elif kind in (STRUCT, UNION):
                extra = [struct.unpack_from("<III", data, p + 12 * i) for i in range(vlen)]
                p += 12 * vlen
            elif kind == ENUM:
                extra = [struct.unpack_from("<Ii", data, p + 8 * i) for i in range(vlen)]   # name, value
                p += 8 * vlen
            elif kind == FUNC_PROTO:
                p += 8 * vlen
            elif kind == VAR:
                extra = struct.unpack_from("<I", data, p)[0]
                p += 4
            elif kind == DATASEC:
                extra = [struct.unpack_from("<III", data, p + 12 * i) for i in range(vlen)]
                p += 12 * vlen
            elif kind == DECL_TAG:
                p += 4
            elif kind == ENUM64:
                extra = [(no, lo | (hi << 32)) for no, lo, hi in
                         (struct.unpack_from("<III", data, p + 12 * i) for i in range(vlen))]
                p += 12 * vlen
            elif kind not in (PTR, FWD, TYPEDEF, VOLATILE, CONST, RESTRICT, FUNC, FLOAT, TYPE_TAG):
                raise BtfError(f"unknown BTF kind {kind}")
            if p > end:
                raise BtfError("truncated BTF type")
            self.types.append((kind, self.str(name_off), size_or_type, vlen, kflag, extra))

    def str(self, off: int) -> str:
        if off >= len(self.strings):
            return ""
        end = self.strings.find(b"\0", off)
        return self.strings[off: end if end >= 0 else None].decode("utf-8", "replace")

    def type(self, tid: int):
        if not 0 <= tid < len(self.types):
            raise BtfError(f"BTF type id {tid} out of range")
        return self.types[tid]

    def skip_mods(self, tid: int) -> int:
        """Follow typedef/const/volatile/restrict/type_tag."""
        for _ in range(64):
            k = self.type(tid)
            if k[0] in (TYPEDEF, VOLATILE, CONST, RESTRICT, TYPE_TAG):
                tid = k[2]
            else:
                return tid
        raise BtfError("BTF modifier loop")

    def sizeof(self, tid: int, depth: int = 0) -> int:
        if depth > 64:
            raise BtfError("BTF type loop")
        tid = self.skip_mods(tid)
        kind, _, size, _, _, extra = self.type(tid)
        if kind in (INT, STRUCT, UNION, ENUM, ENUM64, FLOAT, DATASEC):
            return size
        if kind == PTR:
            return 8
        if kind == ARRAY:
            return extra[2] * self.sizeof(extra[0], depth + 1)
        if kind == VAR:
            return self.sizeof(size, depth + 1)
        raise BtfError(f"cannot size BTF {KIND_NAMES.get(kind, kind)} type #{tid}")

    def skip_mods_typedefs(self, tid: int) -> int:
        """skip_mods_and_typedefs (libbpf): the same as skip_mods."""
        return self.skip_mods(tid)

    def member_bits(self, tid: int, i: int) -> tuple[int, int]:
        """(bit offset, bitfield size or 0) of member ``i`` of a struct/union."""
        kind, _, _, _, kflag, members = self.type(tid)
        off = members[i][2]
        if kflag:
            return off & 0xFFFFFF, off >> 24
        return off, 0

    def int_signed(self, tid: int) -> bool:
        t = self.type(tid)
        return t[0] == INT and bool((t[5] >> 24) & 1)

    def int_offset(self, tid: int) -> int:
        t = self.type(tid)
        return (t[5] >> 16) & 0xFF if t[0] == INT else 0

    def describe(self, tid: int) -> str:
        """'struct iphdr', 'enum xdp_action', 'int', ... for messages."""
        kind, name = self.type(tid)[:2]
        k = {STRUCT: "struct ", UNION: "union ", ENUM: "enum ", ENUM64: "enum ", FWD: "struct "}.get(kind, "")
        return f"{k}{name or '(anon)'}"

    def find_datasec(self, name: str):
        for tid, t in enumerate(self.types):
            if t[0] == DATASEC and t[1] == name:
                return tid
        return None


def parse_btf_map(btf: Btf, var_tid: int, map_name: str) -> dict:
    """Read one BTF-defined map (a VAR in DATASEC .maps) the way libbpf's
    parse_btf_map_def does: ``__uint(x, N)`` is ``int (*x)[N]``, ``__type(x, T)`` is ``T *x``."""
    kind, name, vtype, *_ = btf.type(var_tid)
    if kind == STRUCT:                      # an inner map's template (the type of __array(values, ...))
        vtype = var_tid
    elif kind != VAR:
        raise BtfError(f"map '{map_name}': .maps entry is not a variable")
    sid = btf.skip_mods(vtype)
    skind, _, _, _, _, members = btf.type(sid)
    if skind != STRUCT:
        raise BtfError(f"map '{map_name}': definition is a {KIND_NAMES.get(skind)}, expected a struct")
    d: dict = {}
    for name_off, mtype, _bit_off in members:
        mname = btf.str(name_off)
        mt = btf.skip_mods(mtype)
        mk, _, mref, _, _, mextra = btf.type(mt)
        if mname in ("type", "max_entries", "map_flags", "key_size", "value_size", "numa_node",
                     "pinning", "map_extra"):
            if mk != PTR:
                raise BtfError(f"map '{map_name}': member '{mname}' must be __uint({mname}, N)")
            at = btf.skip_mods(mref)
            ak, _, _, _, _, aextra = btf.type(at)
            if ak != ARRAY:
                raise BtfError(f"map '{map_name}': member '{mname}' must be __uint({mname}, N)")
            d[mname] = aextra[2]
        elif mname in ("key", "value"):
            if mk != PTR:
                raise BtfError(f"map '{map_name}': member '{mname}' must be __type({mname}, T)")
            d[mname + "_size"] = btf.sizeof(mref)
            d[mname + "_type_id"] = mref
        elif mname == "values":
            # __array(values, struct inner): an array (of 0 or N) of pointers to the inner map's
            # definition, the template of the maps it holds; its slots may be set statically
            d["values"] = True
            d["values_bit_off"] = _bit_off
            if mk == ARRAY:
                pt = btf.skip_mods(mextra[0])
                if btf.type(pt)[0] == PTR:
                    inner = btf.skip_mods(btf.type(pt)[2])
                    if btf.type(inner)[0] == STRUCT:
                        d["inner"] = parse_btf_map(btf, inner, map_name + ".inner")
        else:
            raise BtfError(f"map '{map_name}': unknown map attribute '{mname}' (libbpf would reject it too)")
    return d


def parse_core_relos(btf: Btf | None, ext: bytes) -> dict:
    """.BTF.ext core_relo -> {section name: [(insn byte offset, root type id, access string, kind)]}
    (struct bpf_core_relo, include/uapi/linux/bpf.h)."""
    out: dict = {}
    if btf is None or len(ext) < 32:
        return out
    magic, _version, _flags, hdr_len = struct.unpack_from("<HBBI", ext, 0)
    if magic != BTF_MAGIC or hdr_len < 32:
        return out
    cr_off, cr_len = struct.unpack_from("<II", ext, 24)
    p = hdr_len + cr_off
    end = p + cr_len
    if cr_len < 4 or end > len(ext):
        return out
    rec_size = struct.unpack_from("<I", ext, p)[0]
    p += 4
    if rec_size < 16:
        raise BtfError(f".BTF.ext core_relo record size {rec_size} < 16")
    while p + 8 <= end:
        sec_off, n = struct.unpack_from("<II", ext, p)
        p += 8
        recs = []
        for _ in range(n):
            if p + rec_size > end:
                raise BtfError(".BTF.ext core_relo: truncated record")
            insn_off, type_id, access_off, kind = struct.unpack_from("<IIII", ext, p)
            p += rec_size
            recs.append((insn_off, type_id, btf.str(access_off), kind))
        out[btf.str(sec_off)] = recs
    return out


def parse_line_info(btf: Btf | None, ext: bytes) -> dict:
    """.BTF.ext line_info -> {section name: [(insn byte offset, file, line, col, source text)]}.
    Also reports whether CO-RE relocations are present (``'__core_relo__'`` key)."""
    out: dict = {}
    if btf is None or len(ext) < 24:
        return out
    magic, _version, _flags, hdr_len = struct.unpack_from("<HBBI", ext, 0)
    if magic != BTF_MAGIC:
        return out
    _fi_off, _fi_len, li_off, li_len = struct.unpack_from("<IIII", ext, 8)
    if hdr_len >= 32:
        _cr_off, cr_len = struct.unpack_from("<II", ext, 24)
        if cr_len:
            out["__core_relo__"] = True
    p = hdr_len + li_off
    end = p + li_len
    if li_len < 4 or end > len(ext):
        return out
    rec_size = struct.unpack_from("<I", ext, p)[0]
    p += 4
    if rec_size < 16:
        return out
    while p + 8 <= end:
        sec_off, n = struct.unpack_from("<II", ext, p)
        p += 8
        recs = []
        for _ in range(n):
            if p + rec_size > end:
                break
            insn_off, file_off, line_off, line_col = struct.unpack_from("<IIII", ext, p)
            p += rec_size
            recs.append((insn_off, btf.str(file_off), line_col >> 10, line_col & 0x3FF, btf.str(line_off)))
        out[btf.str(sec_off)] = recs
    return out

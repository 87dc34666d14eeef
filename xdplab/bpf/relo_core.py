"""CO-RE: libbpf's BPF CO-RE relocations (tools/lib/bpf/relo_core.c), resolved against the
layouts of Linux 6.1 (``linux61_xdp.btf``, built by :mod:`xdplab.bpf.gen_kernel_btf` from
``linux61_xdp.h``), never against the host's ``/sys/kernel/btf/vmlinux``.

clang records, for every instruction that depends on a kernel type's layout, a
``struct bpf_core_relo`` in ``.BTF.ext``: the instruction, the local root type, an access
string (``0:4:1`` = element 0 of the root, member 4, member 1 of that) and a kind.
:func:`apply_core_relos` does what ``bpf_core_apply_relo_insn`` does for each one:

* parse the local access spec, find the target types of the same (essential) name and kind,
  match the spec member by member by *name* (through anonymous structs and unions, as
  ``bpf_core_match_member``), with compatible field types;
* compute the local (expected) and the target value: field byte offset, byte size, existence,
  signedness, the left/right shifts of a bitfield read, local/target type id, type existence
  and size, enum value existence and value;
* patch the instruction: an ALU immediate, a load/store offset (and its size, when the target
  field is narrower or wider and both are unsigned integers or pointers: a program that
  declares ``xdp_md.data`` as ``__u64`` gets 4-byte loads, as libbpf rewrites them), or an
  ``ld_imm64`` constant.

A relocation that matches nothing is what libbpf makes of it: the ``*_exists`` kinds give 0;
the others *poison* the instruction (a call of helper ``0xbad2310``), so that a program that
guards the access with ``bpf_core_field_exists()`` still loads and never reaches it.  A program
that does reach it stops with a message naming the type, the field and the kernel BTF
(``CoreRelo.message``, shown by the fault).  Inconsistent objects (an instruction that does not
hold the value the relocation expects, a size change of a signed field) are load errors, as in
libbpf.  A ``local_type_id``-only object needs no kernel BTF at all.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from .btf import ARRAY, ENUM, ENUM64, FWD, INT, PTR, STRUCT, UNION, Btf, BtfError, FLOAT

__all__ = ["apply_core_relos", "kernel_btf", "CoreRelo", "CoreReloError", "KERNEL_BTF_PATH", "POISON_HELPER",
           "RELO_KIND_NAMES"]

KERNEL_BTF_PATH = Path(__file__).resolve().parent / "linux61_xdp.btf"
KERNEL_BTF_NAME = "Linux 6.1 (xdplab/bpf/linux61_xdp.btf)"
POISON_HELPER = 0xBAD2310          # libbpf's poisoned call: "invalid func unknown#195896080"

(FIELD_BYTE_OFFSET, FIELD_BYTE_SIZE, FIELD_EXISTS, FIELD_SIGNED, FIELD_LSHIFT_U64, FIELD_RSHIFT_U64,
 TYPE_ID_LOCAL, TYPE_ID_TARGET, TYPE_EXISTS, TYPE_SIZE, ENUMVAL_EXISTS, ENUMVAL_VALUE, TYPE_MATCHES) = range(13)
RELO_KIND_NAMES = {0: "byte_off", 1: "byte_sz", 2: "field_exists", 3: "signed", 4: "lshift_u64", 5: "rshift_u64",
                   6: "local_type_id", 7: "target_type_id", 8: "type_exists", 9: "type_size",
                   10: "enumval_exists", 11: "enumval_value", 12: "type_matches"}
_FIELD_KINDS = range(0, 6)
_TYPE_KINDS = (TYPE_ID_LOCAL, TYPE_ID_TARGET, TYPE_EXISTS, TYPE_SIZE, TYPE_MATCHES)
_ENUM_KINDS = (ENUMVAL_EXISTS, ENUMVAL_VALUE)

BPF_LD, BPF_LDX, BPF_ST, BPF_STX, BPF_ALU, BPF_JMP, BPF_ALU64 = 0, 1, 2, 3, 4, 5, 7
_SIZE_BYTES = {0x00: 4, 0x08: 2, 0x10: 1, 0x18: 8}
_BYTES_SIZE = {v: k for k, v in _SIZE_BYTES.items()}


class CoreReloError(ValueError):
    """A CO-RE relocation libbpf would refuse at load (not merely an unmatched one: those poison)."""


_KBTF: list = []


def kernel_btf() -> Btf:
    """The target BTF: the Linux 6.1 layouts of the types XDP programs use."""
    if not _KBTF:
        _KBTF.append(Btf(KERNEL_BTF_PATH.read_bytes()))
    return _KBTF[0]


@dataclass
class CoreRelo:
    """One resolved relocation (what libbpf logs at debug level)."""
    section: str
    insn: int                 # index in the section
    kind: int
    type_desc: str            # 'struct iphdr'
    access: str               # the access string, '0:9'
    field: str                # 'iphdr.protocol' (spec in C syntax), '' for type/enum relos
    orig: int
    new: int
    poisoned: bool = False
    message: str = ""         # why it is poisoned

    @property
    def kind_name(self) -> str:
        return RELO_KIND_NAMES.get(self.kind, str(self.kind))

    def __str__(self):
        what = f"{self.type_desc}{'.' + self.field.split('.', 1)[1] if '.' in self.field else ''}"
        res = "poisoned" if self.poisoned else f"{self.orig} -> {self.new}"
        return f"{self.section}+{self.insn}: <{self.kind_name}> {what} ({self.access}): {res}"


def _essential(name: str) -> str:
    i = name.find("___")
    return name[:i] if i > 0 else name


def _is_composite(btf, tid):
    return btf.type(tid)[0] in (STRUCT, UNION)


# ------------------------------------------------------------------------------------ specs
@dataclass
class _Acc:
    type_id: int      # the type accessed (composite for a member, array for an element, root for acc 0)
    idx: int
    name: str | None  # member name; None for array elements


@dataclass
class _Spec:
    btf: Btf
    root_type_id: int
    access: list      # named accesses (and array elements)
    raw: list         # every index, anonymous members too
    bit_offset: int = 0


def _parse_spec(btf: Btf, type_id: int, access: str, kind: int) -> _Spec:
    try:
        ids = [int(x) for x in access.split(":")]
    except ValueError:
        raise CoreReloError(f"malformed CO-RE access string {access!r}") from None
    if not ids:
        raise CoreReloError("empty CO-RE access string")
    spec = _Spec(btf=btf, root_type_id=type_id, access=[], raw=list(ids))
    if kind in _TYPE_KINDS:
        if ids != [0]:
            raise CoreReloError(f"type-based CO-RE relocation with access {access!r} (expected '0')")
        return spec
    tid = btf.skip_mods(type_id)
    t = btf.type(tid)
    if kind in _ENUM_KINDS:
        if t[0] not in (ENUM, ENUM64) or len(ids) != 1 or not 0 <= ids[0] < len(t[5]):
            raise CoreReloError(f"enum CO-RE relocation on {btf.describe(tid)} with access {access!r}")
        spec.access.append(_Acc(tid, ids[0], btf.str(t[5][ids[0]][0])))
        return spec
    # field relocations: ids[0] indexes the root pointer like an array
    sz = btf.sizeof(tid)
    spec.bit_offset = ids[0] * sz * 8
    spec.access.append(_Acc(tid, ids[0], t[1] or None))
    for idx in ids[1:]:
        tid = btf.skip_mods(tid)
        t = btf.type(tid)
        if t[0] in (STRUCT, UNION):
            if not 0 <= idx < len(t[5]):
                raise CoreReloError(f"member #{idx} of {btf.describe(tid)} does not exist")
            boff, _bsz = btf.member_bits(tid, idx)
            spec.bit_offset += boff
            mname = btf.str(t[5][idx][0])
            if mname:
                spec.access.append(_Acc(tid, idx, mname))
            tid = t[5][idx][1]
        elif t[0] == ARRAY:
            elem = t[5][0]
            spec.bit_offset += idx * btf.sizeof(elem) * 8
            spec.access.append(_Acc(tid, idx, None))
            tid = elem
        else:
            raise CoreReloError(f"CO-RE access {access!r} indexes into a non-composite type")
    return spec


def _fields_compat(lb: Btf, lid: int, tb: Btf, tid: int) -> bool:
    """bpf_core_fields_are_compat"""
    lid = lb.skip_mods(lid)
    tid = tb.skip_mods(tid)
    for _ in range(32):
        lt, tt = lb.type(lid), tb.type(tid)
        if lt[0] in (STRUCT, UNION) and tt[0] in (STRUCT, UNION):
            return True
        if lt[0] in (ENUM, ENUM64) and tt[0] in (ENUM, ENUM64):
            return True
        if lt[0] != tt[0]:
            return False
        if lt[0] in (PTR, FLOAT):
            return True
        if lt[0] == FWD:
            return _essential(lt[1]) == _essential(tt[1])
        if lt[0] == INT:
            return lb.int_offset(lid) == 0 and tb.int_offset(tid) == 0
        if lt[0] == ARRAY:
            lid = lb.skip_mods(lt[5][0])
            tid = tb.skip_mods(tt[5][0])
            continue
        return False
    return False


def _match_member(lb, lacc: _Acc, local_mtype, tb, targ_id, spec: _Spec, depth=0):
    """bpf_core_match_member: find member ``lacc.name`` in composite ``targ_id``, through
    anonymous members; on success append to ``spec`` and return the member's type id."""
    if depth > 32:
        return None
    targ_id = tb.skip_mods(targ_id)
    t = tb.type(targ_id)
    if t[0] not in (STRUCT, UNION):
        return None
    for i, (noff, mtype, _off) in enumerate(t[5]):
        mname = tb.str(noff)
        boff, _ = tb.member_bits(targ_id, i)
        if not mname and _is_composite(tb, tb.skip_mods(mtype)):
            spec.raw.append(i)
            spec.bit_offset += boff
            got = _match_member(lb, lacc, local_mtype, tb, mtype, spec, depth + 1)
            if got is not None:
                return got
            spec.raw.pop()
            spec.bit_offset -= boff
        elif mname == lacc.name:
            if not _fields_compat(lb, local_mtype, tb, mtype):
                return None
            spec.raw.append(i)
            spec.bit_offset += boff
            spec.access.append(_Acc(targ_id, i, mname))
            return mtype
    return None


def _local_member_type(lb, acc: _Acc):
    return lb.type(acc.type_id)[5][acc.idx][1]


def _match_field_spec(local: _Spec, tb: Btf, cand_id: int):
    """bpf_core_spec_match for field relocations: the target spec, or None."""
    lb = local.btf
    spec = _Spec(btf=tb, root_type_id=cand_id, access=[], raw=[])
    targ_id = cand_id
    for i, acc in enumerate(local.access):
        if i == 0:
            spec.bit_offset = acc.idx * tb.sizeof(cand_id) * 8
            spec.access.append(_Acc(tb.skip_mods(cand_id), acc.idx, acc.name))
            spec.raw.append(acc.idx)
            targ_id = cand_id
            continue
        if acc.name is not None:
            got = _match_member(lb, acc, _local_member_type(lb, acc), tb, targ_id, spec)
            if got is None:
                return None
            targ_id = got
        else:
            tid = tb.skip_mods(targ_id)
            t = tb.type(tid)
            if t[0] != ARRAY:
                return None
            nelems = t[5][2]
            if nelems and acc.idx >= nelems:
                return None
            spec.raw.append(acc.idx)
            spec.access.append(_Acc(tid, acc.idx, None))
            targ_id = t[5][0]
            spec.bit_offset += acc.idx * tb.sizeof(targ_id) * 8
    return spec


def _spec_str(spec: _Spec) -> str:
    """'iphdr.protocol', 'ipv6hdr.saddr.in6_u.u6_addr32[3]'"""
    parts = []
    for i, a in enumerate(spec.access):
        if i == 0:
            parts.append(spec.btf.type(spec.btf.skip_mods(spec.root_type_id))[1] or "(anon)")
            if a.idx:
                parts[-1] += f"[{a.idx}]"
        elif a.name is None:
            parts[-1] += f"[{a.idx}]"
        else:
            parts.append(a.name)
    return ".".join(parts)


# ------------------------------------------------------------------------------------ values
def _calc_field(spec: _Spec, kind: int):
    """bpf_core_calc_field_relo: (value, field size, field type id, validate)."""
    btf = spec.btf
    acc = spec.access[-1]
    t = btf.type(acc.type_id)
    if len(spec.access) == 1 or acc.name is None:
        # the root itself or an array element
        if len(spec.access) == 1:
            et = spec.root_type_id
        else:
            et = t[5][0]
        esz = btf.sizeof(et)
        if kind == FIELD_BYTE_OFFSET:
            return spec.bit_offset // 8, esz, btf.skip_mods(et), True
        if kind == FIELD_BYTE_SIZE:
            return esz, 0, 0, True
        if kind == FIELD_EXISTS:
            return 1, 0, 0, True
        raise CoreReloError(f"can't calc <{RELO_KIND_NAMES[kind]}> for an array element or a whole type")
    mtype = t[5][acc.idx][1]
    _boff, bsz = btf.member_bits(acc.type_id, acc.idx)
    bit_off = spec.bit_offset
    mt = btf.skip_mods(mtype)
    if bsz:
        byte_sz = btf.type(mt)[2]
        byte_off = bit_off // 8 // byte_sz * byte_sz
        while bit_off + bsz - byte_off * 8 > byte_sz * 8:
            if byte_sz >= 8:
                raise CoreReloError("bitfield spans more than 8 bytes")
            byte_sz *= 2
            byte_off = bit_off // 8 // byte_sz * byte_sz
        bit_sz = bsz
    else:
        byte_sz = btf.sizeof(mtype)
        byte_off = bit_off // 8
        bit_sz = byte_sz * 8
    if kind == FIELD_BYTE_OFFSET:
        return byte_off, (0 if bsz else byte_sz), (0 if bsz else mt), not bsz
    if kind == FIELD_BYTE_SIZE:
        return byte_sz, 0, 0, not bsz
    if kind == FIELD_SIGNED:
        k = btf.type(mt)
        return int((k[0] in (ENUM, ENUM64) and bool(k[4])) or btf.int_signed(mt)), 0, 0, True
    if kind == FIELD_LSHIFT_U64:
        return 64 - (bit_off + bit_sz - byte_off * 8), 0, 0, True
    if kind == FIELD_RSHIFT_U64:
        return 64 - bit_sz, 0, 0, True
    return 1, 0, 0, True                                     # FIELD_EXISTS


def _candidates(lb: Btf, local_id: int, tb: Btf):
    lid = lb.skip_mods(local_id)
    lt = lb.type(lid)
    name = _essential(lt[1])
    if not name:
        return []
    kinds = {lt[0]}
    if lt[0] in (ENUM, ENUM64):
        kinds = {ENUM, ENUM64}
    if lt[0] == FWD:
        kinds = {STRUCT, UNION, FWD}
    return [tid for tid, t in enumerate(tb.types) if tid and t[0] in kinds and _essential(t[1]) == name]


# ------------------------------------------------------------------------------------ patching
def _poison(code, i):
    v = int(code[i])
    if (v & 0xFF) == 0x18 and i + 1 < len(code):
        code[i + 1] = (0x85 | (POISON_HELPER << 32))
    code[i] = (0x85 | (POISON_HELPER << 32))


def _patch(code, i, orig, new, validate, orig_sz, new_sz, memsz_ok, where):
    v = int(code[i])
    op = v & 0xFF
    cls = op & 7
    off = (v >> 16) & 0xFFFF
    off = off - 0x10000 if off & 0x8000 else off
    imm = (v >> 32) & 0xFFFFFFFF
    if cls in (BPF_ALU, BPF_ALU64):
        if op & 0x08:
            raise CoreReloError(f"{where}: CO-RE relocation on an ALU instruction with a register source")
        if validate and imm != orig & 0xFFFFFFFF:
            raise CoreReloError(f"{where}: unexpected insn value: got {imm}, expected {orig}")
        code[i] = (v & 0xFFFFFFFF) | ((new & 0xFFFFFFFF) << 32)
        return
    if cls in (BPF_LDX, BPF_ST, BPF_STX):
        if validate and off != orig:
            raise CoreReloError(f"{where}: unexpected insn offset: got {off}, expected {orig}")
        if new > 0x7FFF:
            raise CoreReloError(f"{where}: offset {new} does not fit an instruction's 16 bits")
        v = (v & ~(0xFFFF << 16)) | ((new & 0xFFFF) << 16)
        if new_sz and orig_sz and new_sz != orig_sz:
            have = _SIZE_BYTES[op & 0x18]
            if have != orig_sz:
                raise CoreReloError(f"{where}: unexpected memory size {have} (the field is {orig_sz} bytes)")
            if not memsz_ok:
                return "size"
            if new_sz not in _BYTES_SIZE:
                raise CoreReloError(f"{where}: invalid new memory size {new_sz}")
            v = (v & ~0x18) | _BYTES_SIZE[new_sz]
        code[i] = v & 0xFFFFFFFFFFFFFFFF
        return
    if op == 0x18:                                   # ld_imm64
        if i + 1 >= len(code):
            raise CoreReloError(f"{where}: ld_imm64 lacks its second half")
        hi = (int(code[i + 1]) >> 32) & 0xFFFFFFFF
        cur = imm | (hi << 32)
        if validate and cur != orig & 0xFFFFFFFFFFFFFFFF:
            raise CoreReloError(f"{where}: unexpected insn value: got {cur}, expected {orig}")
        code[i] = (v & 0xFFFFFFFF) | ((new & 0xFFFFFFFF) << 32)
        code[i + 1] = (int(code[i + 1]) & 0xFFFFFFFF) | (((new >> 32) & 0xFFFFFFFF) << 32)
        return
    raise CoreReloError(f"{where}: CO-RE relocation on an instruction it cannot patch (opcode {op:#04x})")


def apply_core_relos(lb: Btf, relos: dict, code_of_section: dict, target: Btf | None = None) -> list:
    """Apply every relocation of ``relos`` ({section name: records}, from parse_core_relos)
    to the instructions ``code_of_section[name]`` (uint64 arrays, patched in place).
    Returns the CoreRelo list (poisoned ones carry their message)."""
    tb = target or kernel_btf()
    done = []
    for sec, recs in relos.items():
        code = code_of_section.get(sec)
        if code is None:
            continue
        for n, (insn_off, type_id, access, kind) in enumerate(recs):
            if insn_off % 8 or insn_off // 8 >= len(code):
                raise CoreReloError(f"{sec}: CO-RE relocation #{n} at byte {insn_off}: outside the section")
            i = insn_off // 8
            where = f"{sec} insn {i} (CO-RE relocation #{n})"
            if kind not in RELO_KIND_NAMES:
                raise CoreReloError(f"{where}: unknown CO-RE relocation kind {kind}")
            if kind == TYPE_MATCHES:
                raise CoreReloError(f"{where}: <type_matches> (bpf_core_type_matches) is newer than "
                                    f"Linux 6.1's libbpf; xdplab does not resolve it")
            try:
                local = _parse_spec(lb, type_id, access, kind)
            except (BtfError, IndexError) as e:
                raise CoreReloError(f"{where}: {e}") from None
            tdesc = lb.describe(lb.skip_mods(type_id))
            field = _spec_str(local) if kind in _FIELD_KINDS else ""
            rel = CoreRelo(sec, i, kind, tdesc, access, field, 0, 0)
            if kind == TYPE_ID_LOCAL:
                rel.orig = rel.new = type_id
                _patch(code, i, type_id, type_id, True, 0, 0, True, where)
                done.append(rel)
                continue
            cands = _candidates(lb, type_id, tb)
            validate = True
            orig_sz = new_sz = 0
            memsz_ok = True
            targ_val = None
            why = ""
            if kind in _FIELD_KINDS:
                rel.orig, orig_sz, orig_tid, validate = _calc_field(local, kind)
                for c in cands:
                    ts = _match_field_spec(local, tb, c)
                    if ts is None:
                        continue
                    val, nsz, ntid, _v = _calc_field(ts, kind)
                    if targ_val is not None and val != targ_val:
                        raise CoreReloError(f"{where}: ambiguous CO-RE relocation: {field} is {targ_val} in one "
                                            f"candidate and {val} in another")
                    targ_val, new_sz = val, nsz
                    if orig_sz != new_sz:
                        lt, nt = lb.type(orig_tid), tb.type(ntid)
                        memsz_ok = (lt[0] == PTR and nt[0] == PTR) or (
                            lt[0] == INT and nt[0] == INT and not lb.int_signed(orig_tid)
                            and not tb.int_signed(ntid))
                if targ_val is None:
                    if kind == FIELD_EXISTS:
                        targ_val = 0
                    elif not cands:
                        why = f"{KERNEL_BTF_NAME} has no {tdesc.split(' ')[0]} named '{_essential(tdesc.split(' ')[-1])}'"
                    else:
                        why = f"{KERNEL_BTF_NAME} has no field {field} (or it has an incompatible type)"
            elif kind in _TYPE_KINDS:
                rel.orig = {TYPE_ID_TARGET: type_id, TYPE_EXISTS: 1, TYPE_SIZE: lb.sizeof(type_id)}[kind]
                validate = kind != TYPE_ID_TARGET
                c = cands[0] if cands else None
                if c is None:
                    targ_val = 0
                else:
                    targ_val = {TYPE_ID_TARGET: c, TYPE_EXISTS: 1, TYPE_SIZE: tb.sizeof(c)}[kind]
            else:
                acc = local.access[0]
                lt = lb.type(acc.type_id)
                rel.orig = 1 if kind == ENUMVAL_EXISTS else lt[5][acc.idx][1]
                rel.field = f"{lt[1]}::{acc.name}"
                for c in cands:
                    for noff, val in tb.type(c)[5]:
                        if _essential(tb.str(noff)) == _essential(acc.name):
                            targ_val = 1 if kind == ENUMVAL_EXISTS else val
                            break
                    if targ_val is not None:
                        break
                if targ_val is None:
                    if kind == ENUMVAL_EXISTS:
                        targ_val = 0
                    else:
                        why = f"{KERNEL_BTF_NAME} has no enumerator {acc.name} in {tdesc}"
            if why:
                rel.poisoned = True
                rel.message = (f"failed to resolve CO-RE relocation <{rel.kind_name}> "
                               f"{tdesc}{'.' + field.split('.', 1)[1] if '.' in field else ''} ({access}): {why}")
                _poison(code, i)
                done.append(rel)
                continue
            rel.new = targ_val
            r = _patch(code, i, rel.orig, targ_val, validate, orig_sz, new_sz, memsz_ok, where)
            if r == "size":
                rel.poisoned = True
                rel.message = (f"CO-RE relocation <{rel.kind_name}> {field}: the access is {orig_sz} bytes, the "
                               f"kernel's field {new_sz}, and a signed field cannot be resized (libbpf refuses too)")
                _poison(code, i)
            done.append(rel)
    return done

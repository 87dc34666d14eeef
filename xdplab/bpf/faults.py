"""Render a VM fault (env[ENV_ERR] != 0) the way the kernel verifier's log reads,
plus a plain-words hint and the fix.  The verifier proves these at load time; the
VM checks them at run time, so the message names the failing instruction and,
with ``-g`` objects, its source line (from .BTF.ext line_info)."""

from __future__ import annotations

from ..xdp_abi import ENV_ERR, ENV_ERR_A, ENV_ERR_B, ENV_ERR_C, ENV_ERR_PC
from .helpers import HELPER_NAMES
from .insn import disasm_one
from .maps import BPF_MAP_TYPE_NAMES
from .relo_core import POISON_HELPER
from .state import K_CTX, K_MAP, K_MAPVAL, K_PKT, K_STACK, MAP_VALUE_SIZE, MAP_VSHIFT, PTR_MASK, PTR_SHIFT
from .vm import (FAULT_HELPER_PKT, FAULT_ATOMIC, FAULT_BAD_HELPER, FAULT_BUDGET, FAULT_CALL_DEPTH, FAULT_CTX, FAULT_HELPER_MAP,
                 FAULT_HELPER_MEM, FAULT_MAP_PTR, FAULT_MAPVAL, FAULT_PKT, FAULT_RDONLY, FAULT_SCALAR,
                 FAULT_STACK)

__all__ = ["format_fault"]

_KIND = {K_CTX: "ctx", K_PKT: "pkt", K_STACK: "fp", K_MAPVAL: "map_value", K_MAP: "map_ptr"}


def _hname(i):
    return f"bpf_{HELPER_NAMES[i]}#{i}" if 0 <= i < len(HELPER_NAMES) else f"unknown#{i}"


def _locate(obj, pc):
    """(program, index within it) for an absolute row."""
    for p in obj.programs.values():
        st = int(obj.state.progs[p.index, 0])
        if st <= pc < st + int(obj.state.progs[p.index, 1]):
            return p, pc - st
    return None, pc


def _sext16(v):
    v &= 0xFFFF
    return v - 0x10000 if v & 0x8000 else v


def format_fault(prog, env) -> str:
    """The verifier-style message for the fault recorded in ``env`` (empty if none)."""
    err = int(env[ENV_ERR])
    if err == 0:
        return ""
    obj = prog.object
    a, b, c = int(env[ENV_ERR_A]), int(env[ENV_ERR_B]), int(env[ENV_ERR_C])
    p, i = _locate(obj, int(env[ENV_ERR_PC]))
    p = p or prog
    raw = p.insns
    head = []
    src_line = p.source_line(i)
    if src_line:
        head.append(src_line)
    if 0 <= i < len(raw):
        head.append(f"{i}: ({int(raw[i]) & 0xFF:02x}) {disasm_one(raw, i, _hname)}")
    size = b & 0xFF
    write = (b >> 8) & 1
    reg = (b >> 12) & 0xF
    ioff = _sext16(b >> 16)
    kind = a >> PTR_SHIFT if a >= 0 else 0
    poff = a & PTR_MASK
    acc = "write" if write else "read"
    if err == FAULT_SCALAR and a != 0:
        # a pointer whose offset ran below 0 / past 2**48 shows up as a 'scalar': name the region
        for kk, code in ((K_STACK, FAULT_STACK), (K_PKT, FAULT_PKT)):
            rel = a - (kk << PTR_SHIFT)
            if -(1 << 40) < rel < (1 << 40):
                err = code
                if code == FAULT_STACK:
                    c = c >> 48
                    poff = rel
                else:
                    c = c & ((1 << 48) - 1)
                    poff = rel
                break
    if err == FAULT_PKT:
        data, data_end, meta = c & 0xFFFF, (c >> 16) & 0xFFFF, (c >> 32) & 0xFFFF
        off = poff - data
        rng = data_end - data
        regoff = off - ioff
        msg = (f"invalid access to packet, off={off} size={size}, R{reg}(id=0,off={regoff},r={rng})\n"
               f"R{reg} offset is outside of the packet")
        if off < 0:
            hint = (f"the program tried to {acc} {size} bytes {-off} bytes *before* data"
                    + (" (no metadata in front of this packet)" if meta > data or meta == data else ""))
            fix = "only touch bytes between ctx->data_meta/ctx->data and ctx->data_end"
        else:
            hint = (f"the program tried to {acc} {size} bytes at offset {off} of a packet that is only "
                    f"{rng} bytes long (data..data_end)")
            fix = (f"compare against data_end before touching the bytes, e.g. "
                   f"`if (data + {off + size} > data_end) return XDP_PASS;` — the verifier would reject the "
                   f"program without such a check")
    elif err == FAULT_STACK:
        top = c
        off = poff - top
        msg = f"invalid {acc} {'to' if write else 'from'} stack R{reg} off={off} size={size}"
        hint = (f"the access reaches {off + size} bytes from the frame pointer; each function has 512 bytes "
                f"of stack below r10 (off -512..-1)")
        fix = "keep locals small (at most 512 bytes of stack per function) and never go above r10"
    elif err == FAULT_MAPVAL:
        m = c
        vs = int(obj.state.maps[m, MAP_VALUE_SIZE])
        sh = int(obj.state.maps[m, MAP_VSHIFT])
        off = (a & 0xFFFFFFFF) & ((1 << sh) - 1)
        name = obj.map_name(m)
        msg = (f"invalid access to map value, value_size={vs} off={off} size={size}\n"
               f"R{reg} min value is outside of the allowed memory range")
        hint = f"the program tried to {acc} bytes {off}..{off + size - 1} of a {vs}-byte value of map '{name}'"
        fix = "stay inside the value: check indexes against the value size before using them"
    elif err == FAULT_CTX:
        msg = f"invalid bpf_context access off={poff} size={size}"
        if write:
            hint = "XDP programs may not write to struct xdp_md"
            fix = "write to the packet (ctx->data ..) instead of to the context"
        else:
            hint = ("struct xdp_md fields are __u32: read them whole (data, data_end, data_meta, "
                    "ingress_ifindex, rx_queue_index, egress_ifindex at offsets 0..20)")
            fix = "read ctx fields as __u32, e.g. `void *data = (void *)(long)ctx->data;`"
    elif err in (FAULT_SCALAR, FAULT_MAP_PTR):
        what = "map_ptr" if err == FAULT_MAP_PTR else ("map_value_or_null" if a == 0 else "scalar")
        msg = f"R{reg} invalid mem access '{what}'"
        if a == 0:
            hint = "the pointer is NULL: a bpf_map_lookup_elem() that found nothing returns NULL"
            fix = "check the lookup result: `if (!value) return XDP_PASS;` before using it"
        elif err == FAULT_MAP_PTR:
            hint = "a map is not memory the program can read; its values are"
            fix = "use bpf_map_lookup_elem(&map, &key) to get a pointer to a value"
        else:
            hint = f"R{reg} holds the number {a:#x}, not a pointer the program may dereference"
            fix = "only dereference ctx->data.. packet pointers, the stack, and map values"
    elif err == FAULT_RDONLY:
        m = c
        name = obj.map_name(m)
        vs = int(obj.state.maps[m, MAP_VALUE_SIZE])
        msg = f"write into map forbidden, value_size={vs} off={(a & 0xFFFFFFFF)} size={size}"
        hint = f"map '{name}' is read-only for programs (.rodata / const globals, devmap and xskmap values)"
        fix = "drop the const, or change the value from user space (obj.maps[...].update)"
    elif err == FAULT_BUDGET:
        msg = f"the program did not exit within {a} instructions"
        hint = ("it is probably looping forever; the kernel verifier refuses loops it cannot prove to end "
                "('infinite loop detected' / 'BPF program is too large')")
        fix = "bound every loop by a constant (for (i = 0; i < 64 && ...; i++)), or raise env[ENV_INSN_BUDGET]"
    elif err == FAULT_CALL_DEPTH:
        msg = f"the call stack is too deep (frame {a})"
        hint = "BPF allows 8 nested function frames (MAX_CALL_FRAMES); recursion is not allowed at all"
        fix = "remove the recursion / flatten the calls (or mark helpers __always_inline)"
    elif err == FAULT_HELPER_MAP:
        if b == -1:
            msg = f"R{1 if a != 12 else 2} type=scalar expected=map_ptr"
            hint = f"{_hname(a)} needs a map (&my_map) as its map argument"
            fix = "pass the address of a map declared in SEC(\".maps\")"
        else:
            tn = BPF_MAP_TYPE_NAMES.get(b, str(b))
            msg = f"cannot pass map_type {b} into func {_hname(a)}"
            hint = f"map '{obj.map_name(c)}' is a {tn}; {_hname(a)} does not work on it"
            fix = {"cpumap": "a CPUMAP is only for bpf_redirect_map()",
                   "prog_array": "a PROG_ARRAY is only for bpf_tail_call()",
                   "devmap": "DEVMAP/XSKMAP take bpf_redirect_map() and lookups; fill them from user space"}.get(
                       tn, "use a map type the helper accepts")
    elif err == FAULT_ATOMIC:
        msg = f"BPF_ATOMIC stores into R{reg} {'pkt' if c == K_PKT else 'ctx'} is not allowed"
        hint = "atomic operations work on the stack and on map values only"
        fix = "count in a map value (e.g. a PERCPU_ARRAY) with __sync_fetch_and_add"
    elif err == FAULT_HELPER_MEM:
        argno = (b >> 12) & 0xF
        msg = (f"R{argno} invalid indirect {'write' if (b >> 8) & 1 else 'read'}: {_hname(c)} argument {argno} "
               f"needs {b & 0xFF if (b & 0xFF) else 'a valid'} bytes at {_KIND.get(kind, 'scalar')}"
               f"{'+' + str(poff) if kind in _KIND else ''}")
        hint = "the buffer passed to the helper is not fully inside the memory it points to"
        fix = "pass a buffer (stack / map value / checked packet range) at least as large as the size argument"
    elif err == FAULT_HELPER_PKT:
        msg = "helper access to the packet is not allowed"
        hint = ("only the helpers made for packets (map lookups/updates, csum_diff, xdp_load_bytes ...) may "
                "read packet memory; perf and ring buffer output may not (the kernel refuses the program)")
        fix = "copy the bytes to the stack first, or use the perf output's flags (size << 32) to append frame bytes"
    elif err == FAULT_BAD_HELPER and a == POISON_HELPER:
        why = p.core_poison.get(i, "a CO-RE relocation that could not be resolved")
        msg = f"invalid func unknown#{a}\nprog '{p.name}': {why}"
        hint = ("libbpf 'poisons' an instruction whose CO-RE relocation matches nothing in the kernel's BTF; "
                "the program reached it")
        fix = ("use a field Linux 6.1 has, or guard the access with bpf_core_field_exists() / "
               "bpf_core_type_exists()")
    elif err == FAULT_BAD_HELPER:
        msg = f"invalid func {_hname(a)}"
        hint = "the VM does not implement this helper"
        fix = "see xdplab.bpf.helpers.SUPPORTED_HELPERS"
    else:
        msg, hint, fix = f"VM fault {err}", "", ""
    where = f"program '{p.name}' (section {p.section}), insn {i}"
    out = [f"eBPF fault in {where}:"] + head + [msg]
    if hint:
        out.append(f"hint: {hint}")
    if fix:
        out.append(f"fix: {fix}")
    return "\n".join(out)

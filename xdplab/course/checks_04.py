"""Checkers of chapter 04 (CPUMAP: software RPS): ``cpu_ex1`` (``cpu_map_kthread_pass``, one pass of the
kthread's batch loop on the remote CPU) and ``cpu_ex2`` (``xdp_rps``, an XDP program in C that spreads the
flows over the two CPUs without reordering any).

``cpu_ex1`` plugs the learner's function into python-mode boards with ``overrides=`` (the kthread of
``cpu_map_kthread_run`` calls it for every pass) and runs the same CPUMAP setups with the 6.1 kthread:
besides the counters and the page census of chapters 00-03 it compares what only the CPUMAP shows — both
tracepoints summed (``xdp:xdp_cpumap_enqueue``, ``xdp:xdp_cpumap_kthread``, one record per pass), the
page_pool's recycling stats (alloc cache or ptr_ring), the skbs the stack received and their order per
flow, both CPUs' busy time, and the ring's slots.  ``cpu_ex2`` runs the learner's program on a board with
16 UDP flows and judges from what the stack received (``Board.flow_order``) and where the frames went
(``Board.cpumap_stats``).  A difference is explained in the kernel's terms.
"""

from __future__ import annotations

import functools
from pathlib import Path

from .. import _layout as L
from ..board import Board, XdplabError
from ..cost import OPS
from ..sanitizer import SanitizerError
from .checks import (_census_then_stop, _checked_reference, EXERCISES, Exercise, Snap, _compare, _describe_exc, _diff, _Fail, _raise_if_unfinished,
                     _snapshot, _Unfinished)

__all__ = ["CHECKERS_04", "RPS_RUN"]

_PROGS = Path(__file__).resolve().parents[1] / "progs"
_TRACE = 60_000


# ================================================================ cpu_ex1: cpu_map_kthread_pass

def _rps_obj(main, cpus, qsize, remote):
    """cpumap_rps.o with its CPUMAP filled like `xdp-bench redirect-cpu --cpu ... --qsize ...`."""
    from ..bpf import load_object
    obj = load_object(_PROGS / "cpumap_rps.o")
    for i, c in enumerate(cpus):
        obj.maps["cpus_available"].update(i, c)
    obj.maps["cpus_count"].update(0, len(cpus))
    for c in cpus:
        obj.maps["cpu_map"].update(c, {"qsize": qsize, "bpf_prog": obj[remote] if remote else None})
    return obj, obj[main]


# name -> (program, CPUs, qsize, remote program, run kwargs, skb heads the slab can give (None: all), label)
SCENARIOS = {
    "skb-line": ("redirect_cpu_fixed", (1,), 192, None, dict(packets=600, rate="line"), None,
                 "every frame to CPU 1 (no cpumap program: the kthread builds an skb for each), line rate"),
    "drop-slow": ("redirect_cpu_fixed", (1,), 192, "cpumap_drop", dict(packets=240, rate=50_000), None,
                  "every frame to CPU 1, whose cpumap_drop returns XDP_DROP, 50 kpps (the kthread sleeps "
                  "between frames)"),
    "pass-q16": ("redirect_cpu_fixed", (1,), 16, "cpumap_pass", dict(packets=500, rate="line"), None,
                 "every frame to CPU 1 with qsize 16, cpumap_pass returns XDP_PASS, line rate (the ring "
                 "overflows and wraps)"),
    "no-skb": ("redirect_cpu_fixed", (1,), 192, None, dict(packets=300, rate=400_000), 4,
               "every frame to CPU 1 at 400 kpps, the skb slab able to give 4 heads at a time "
               "(kmem_cache_alloc_bulk fails for a batch of more)"),
    "hash-2cpu": ("redirect_cpu_hash", (0, 1), 64, "cpumap_pass", dict(packets=500, rate=300_000, flows=8,
                                                                       stamp=True), None,
                  "8 UDP flows hashed over CPUs 0 and 1, cpumap_pass on each, 300 kpps (CPU 0's kthread "
                  "runs between its NAPI polls)"),
}


def _kthread_summary(b):
    """The xdp:xdp_cpumap_kthread records, (cpu, processed, drops, sched, xdp_pass|drop|redirect), in order."""
    from ..trace import trace_records
    return [(x["cpu"], x["b"], x["c"], x["d"], x["e"]) for x in trace_records(b.trace)
            if x["event"] == "xdp_cpumap_kthread"]


def _run(sc, overrides, fn=None):
    """One scenario with these overrides; never raises for the learner's mistakes (only unfinished)."""
    main, cpus, qsize, remote, run, skb_heads, label = SCENARIOS[sc]
    s = Snap(f"{label}: {run['packets']} frames")
    s.phase = "ip link set dev eth0 xdp obj cpumap_rps.o; the CPUMAP entries (bpftool map update)"
    try:
        obj, prog = _rps_obj(main, cpus, qsize, remote)
        b = Board(prog, mode="python", overrides=dict(overrides), trace=_TRACE)
        s.board = b
        if skb_heads is not None:
            b.state.r[L.R_SKB_NR_FREE] = skb_heads
        s.phase = "traffic"
        f0 = b.state.r[L.R_OP_COUNT:L.R_OP_COUNT + len(OPS)].copy()
        r = b.run(**run)
        _snapshot(s, b)
        s.run_ops = {name: int(b.state.r[L.R_OP_COUNT + i] - f0[i]) for i, (name, _) in enumerate(OPS)}
        from ..cpumap import CMF_RING, NR_CPUS
        s.extra = {
            "cpumap": {c: b.cpumap_stats(c) for c in range(NR_CPUS)},
            "page_pool": dict(r["page_pool"]),
            "flow_order": b.flow_order(),
            "busy": [round(x["busy_ns"]) for x in b.cpu_load()],
            "kthread": _kthread_summary(b),
            "ring": [b.state.cpumap[c, CMF_RING:CMF_RING + qsize].tolist() for c in cpus],
        }
        _census_then_stop(s, b, "ip link set dev eth0 down (the CPUMAP's kthreads drain their rings first)")
    except _Unfinished:
        raise
    except Exception as e:  # noqa: BLE001  (anything the learner's code raises is reported)
        _raise_if_unfinished(e)
        s.exc = e
    return s


@functools.lru_cache(maxsize=None)
def _reference(sc):
    return _checked_reference(_run(sc, {}), "the 6.1 kthread")


_CPUMAP_MEANING = {
    "enqueue_drops": "xdp:xdp_cpumap_enqueue drops: frames CPU 0 found no ring slot for",
    "kthread_processed": "xdp:xdp_cpumap_kthread processed: frames the kthread took off the ring",
    "kthread_drops": "xdp:xdp_cpumap_kthread drops: frames without an skb head",
    "kthread_sched": "xdp:xdp_cpumap_kthread sched: passes right after schedule()",
    "kthread_events": "xdp:xdp_cpumap_kthread events: one per pass",
    "skbs": "skbs handed to the stack",
    "pages_released": "page_pool pages released by xdp_release_frame",
    "ring_count": "frames left in the ring",
}


def _cpumap_diffs(s, ref):
    out = []
    a, r = s.extra.get("cpumap", {}), ref.extra["cpumap"]
    for c in r:
        for k, v in r[c].items():
            got = a.get(c, {}).get(k)
            if got != v:
                out.append((f"cpu{c} {k}", got, v))
    for k, v in ref.extra["page_pool"].items():
        got = s.extra.get("page_pool", {}).get(k)
        if got != v:
            out.append((f"page_pool {k}", got, v))
    for k, v in ref.extra["flow_order"].items():
        got = s.extra.get("flow_order", {}).get(k)
        if got != v:
            out.append((f"socket {k}", got, v))
    return out


def _per_pass(s):
    kt = s.extra.get("kthread", [])
    return max((x[1] for x in kt), default=0), len(kt)


def _explain_pass(s, ref, keys, exc):
    out = []
    a = s.extra.get("cpumap", {})
    r = ref.extra["cpumap"]
    pp, rpp = s.extra.get("page_pool", {}), ref.extra["page_pool"]
    big, npass = _per_pass(s)
    rbig, rnpass = _per_pass(ref)
    if isinstance(exc, SanitizerError) or (s.leak is not None and "twice" in str(s.leak)):
        out.append("    a frame was used after it was given back: a frame that became an skb belongs to the stack "
                   "(netif_receive_skb frees it), one the program dropped or redirected is no longer in the "
                   "batch — after cpu_map_bpf_prog_run_xdp only the first `stats & 0xFFFF` frames of the batch "
                   "are yours to build skbs from")
    if s.extra and big and big < rbig and npass > rnpass:
        out.append(f"    your kthread took at most {big} frame(s) per pass ({npass} passes, the 6.1 kthread {rnpass}): "
                   "__ptr_ring_consume_batched takes up to CPUMAP_BATCH (8) frames at once — one pass, one "
                   "tracepoint, one skb bulk allocation and one netif_receive_skb_list for 8 frames; that is the "
                   "kthread's amortisation, as the bulk queue of 8 is CPU 0's")
    if s.extra and big > 8:
        out.append(f"    a pass took {big} frames: never more than CPUMAP_BATCH (8) — frames[] and skbs[] are "
                   "arrays of 8 on the kthread's stack")
    ring_bad = s.extra.get("ring") is not None and s.extra["ring"] != ref.extra["ring"]
    if ring_bad:
        out.append("    the ring's slots differ after the run: a consumed slot is set to NULL (0) — ptr_ring's "
                   "producer finds a free slot by its NULL (__ptr_ring_produce checks r->queue[r->producer]), so "
                   "a slot the consumer leaves filled looks full to CPU 0; and the consumer index wraps at qsize")
    if pp.get("cached", 0) > rpp.get("cached", 0):
        out.append("    pages went into the pool's alloc cache from the kthread: that lockless cache belongs to the "
                   "NAPI that owns the pool (CPU 0's), and nothing else may touch it. 6.1's kthread frees with "
                   "xdp_return_frame (and sets xdp_set_return_frame_no_direct around the program), so each page "
                   "goes through the pool's ptr_ring (page_pool ring)")
    if s.census.get("xdp_frame", 0) > ref.census.get("xdp_frame", 0) or (
            s.pages_problem and "xdp_frame" in s.pages_problem):
        out.append("    frames stayed in the lab's xdp_frame state: every frame the kthread takes is either built "
                   "into an skb and given to the stack, or returned with xdp_return_frame — a frame without an "
                   "skb head (drops) too")
    ak = {c: a.get(c, {}) for c in r}
    if any(ak[c].get("kthread_drops") != r[c]["kthread_drops"] for c in r):
        out.append("    drops: kmem_cache_alloc_bulk gives all the skb heads of a batch or none; with fewer than "
                   "nframes free (b.r[R_SKB_NR_FREE] < nframes) every frame of the batch is dropped, counted in "
                   "the tracepoint's drops, and its pages returned with xdp_return_frame")
    if any(ak[c].get("kthread_sched") != r[c]["kthread_sched"] for c in r):
        out.append("    sched: the tracepoint's sched is 1 for the first pass after the kthread slept in schedule() "
                   "(cm[e, CMF_SCHED], set by cpu_map_kthread_run), and 0 after that — report it, then clear it")
    if any(ak[c].get("skbs") != r[c]["skbs"] or ak[c].get("pages_released") != r[c]["pages_released"] for c in r) \
            and not out:
        out.append("    every frame that passed becomes an skb around its own buffer (__xdp_build_skb_from_frame: "
                   "no copy, and in 6.1 xdp_release_frame takes the page out of its pool) and goes to the stack "
                   "(netif_receive_skb)")
    if any(ak[c].get("xdp_pass") != r[c]["xdp_pass"] or ak[c].get("xdp_drop") != r[c]["xdp_drop"] for c in r):
        out.append("    the entry's program runs only when it has one (cm[e, CMF_PROG_KIND] != PROG_NONE): "
                   "_cpu_map_bpf_prog_run_xdp(b, e, n) returns nframes | xdp_pass << 16 | xdp_drop << 32 | "
                   "xdp_redirect << 48")
    kt_bad = s.extra.get("kthread") is not None and s.extra["kthread"] != ref.extra["kthread"]
    if kt_bad and not out:
        out.append("    the xdp:xdp_cpumap_kthread records differ: one per pass, "
                   "_cm_trace(b, EV_XDP_CPUMAP_KTHREAD, e, n, drops, sched, stats >> 16) — processed n (frames "
                   "taken), drops, sched, and the program's xdp_pass/xdp_drop/xdp_redirect")
    if any(ak[c].get(k) != r[c].get(k) for c in r for k in ("kthread_processed", "kthread_events", "ring_count"))\
            and not out:
        out.append("    count what the pass did: kthread_processed += n (frames taken), kthread_events += 1 "
                   "(one pass), and take the n frames off the ring (cm[e, CMF_COUNT] -= n)")
    return out


def _check_scenario(sc, fn):
    ref = _reference(sc)
    s = _run(sc, {"cpu_map_kthread_pass": fn}, fn)
    if s.exc is not None:
        raise _Fail(*(_describe_exc(s.exc, fn, f"{s.label} ({s.phase})") + _explain_pass(s, ref, set(), s.exc)))
    cd = _cpumap_diffs(s, ref)
    lines = [f"    {k:<30} {a!s:>7}   (6.1 kthread: {v})" + (f"  — {_CPUMAP_MEANING[k.split(' ', 1)[1]]}"
                                                            if k.split(" ", 1)[1] in _CPUMAP_MEANING else "")
             for k, a, v in cd[:10]]
    if len(cd) > 10:
        lines.append(f"    ... and {len(cd) - 10} more differ")
    keys = {k for k, _, _ in _diff(s, ref)} | {k for k, _, _ in cd}
    try:
        _compare(s, ref, fn, None, ops_too=False)
    except _Fail as f:
        raise _Fail(*(f.lines + lines + _explain_pass(s, ref, keys, None)))
    other = (s.extra["kthread"] != ref.extra["kthread"] or s.extra["ring"] != ref.extra["ring"]
             or s.extra["busy"] != ref.extra["busy"])
    if cd or other:
        head = [f"✗ {s.label}: the CPUMAP does not end the way the 6.1 kthread leaves it"]
        if s.extra["kthread"] != ref.extra["kthread"]:
            head.append(f"    xdp:xdp_cpumap_kthread: {len(s.extra['kthread'])} records "
                        f"(6.1 kthread: {len(ref.extra['kthread'])}); the first that differs: "
                        f"{_first_diff(s.extra['kthread'], ref.extra['kthread'])}")
        if s.extra["busy"] != ref.extra["busy"] and not cd:
            head.append(f"    busy time per CPU (ns): {s.extra['busy']}   (6.1 kthread: {ref.extra['busy']})")
        raise _Fail(*(head + lines + _explain_pass(s, ref, keys, None)))
    _compare(s, ref, fn, None)          # the cycle model's operations last (keep the stub's charge lines)
    return s, ref


def _first_diff(a, r):
    fmt = lambda x: "none" if x is None else f"cpu={x[0]} processed={x[1]} drops={x[2]} sched={x[3]}"  # noqa: E731
    for i in range(max(len(a), len(r))):
        x = a[i] if i < len(a) else None
        y = r[i] if i < len(r) else None
        if x != y:
            return f"pass {i}: {fmt(x)} (6.1: {fmt(y)})"
    return "none"


def _check_kthread_pass(fn):
    lines = []
    s, ref = _check_scenario("skb-line", fn)
    st = ref.extra["cpumap"][1]
    lines.append(f"✓ CPU 1 without a cpumap program at line rate: {st['kthread_processed']} frames in "
                 f"{st['kthread_events']} passes of at most 8, {st['skbs']} skbs, each page released from the pool "
                 "(xdp_release_frame), the same tracepoints and CPU time as the 6.1 kthread")
    s, ref = _check_scenario("drop-slow", fn)
    st = ref.extra["cpumap"][1]
    lines.append(f"✓ cpumap_drop at 50 kpps: the kthread slept and woke {st['wakeups']} times (sched reported once "
                 f"per wake-up), {ref.extra['page_pool']['ring']} pages back through the pool's ptr_ring")
    s, ref = _check_scenario("pass-q16", fn)
    st = ref.extra["cpumap"][1]
    lines.append(f"✓ qsize 16 at line rate: the ring wrapped, CPU 0 dropped {st['enqueue_drops']} frames it had no "
                 "slot for, and every frame the kthread took passed and reached the stack")
    s, ref = _check_scenario("no-skb", fn)
    st = ref.extra["cpumap"][1]
    lines.append(f"✓ no skb heads for a batch of more than 4: {st['kthread_drops']} frames dropped whole batches at "
                 "a time (kmem_cache_alloc_bulk), returned with xdp_return_frame (not the alloc cache)")
    s, ref = _check_scenario("hash-2cpu", fn)
    lines.append("✓ two kthreads (CPU 0's between NAPI polls, CPU 1's concurrently): every flow delivered in order")
    return lines


# ================================================================ cpu_ex2: a CPU-selecting XDP program

RPS_RUN = dict(packets=2000, rate=300_000, flows=16, stamp=True)
_RPS_LABEL = ("16 UDP flows (pktgen-like: the same addresses, source ports 1000..1015), 2000 frames at 300 kpps, "
              "CPUMAP entries for CPUs 0 and 1 (qsize 192, no cpumap program: each kthread builds the skbs)")


def _as_program(obj):
    if hasattr(obj, "programs") and not hasattr(obj, "index"):
        progs = [p for p in obj.programs.values() if getattr(p, "section", "xdp") == "xdp"]
        if len(progs) != 1:
            raise _Fail(f"✗ the object holds {len(progs)} SEC(\"xdp\") programs "
                        f"({', '.join(p.name for p in progs)}): write one XDP program in the cell")
        return obj, progs[0]
    if hasattr(obj, "state") and hasattr(obj, "index"):
        return getattr(obj, "_obj", None), obj
    raise _Fail(f"✗ expected the object %%bpf_c loaded (a BpfObject), got {type(obj).__name__}")


def _rps_run(obj, prog):
    """Run the learner's program with both CPUMAP entries; never raises for the learner's mistakes."""
    from ..cpumap import BPF_MAP_TYPE_CPUMAP
    cmaps = [m for m in obj.maps.values() if m.type == BPF_MAP_TYPE_CPUMAP] if obj is not None else []
    if len(cmaps) != 1:
        raise _Fail(f"✗ the object has {len(cmaps)} BPF_MAP_TYPE_CPUMAP maps: keep the stub's cpu_map "
                    "(max_entries 2, one entry per CPU) and redirect with bpf_redirect_map(&cpu_map, cpu, 0)")
    cm = cmaps[0]
    for c in (0, 1):
        try:
            cm.update(c, {"qsize": 192})
        except Exception as e:  # noqa: BLE001
            raise _Fail(f"✗ bpftool map update cpu_map key {c} value qsize 192: {e}",
                        "    keep the stub's cpu_map: BPF_MAP_TYPE_CPUMAP, __u32 keys, struct bpf_cpumap_val "
                        "values, max_entries 2") from None
    try:
        b = Board(prog, mode="python")
        r = b.run(**RPS_RUN)
        out = {"verdicts": b.verdicts(), "cpu": [b.cpumap_stats(c) for c in (0, 1)], "order": b.flow_order(),
               "busy": [r["cpu0_busy"], r["cpu1_busy"]], "rx": r["rx_packets"], "census": None}
        out["census"] = b.check_pages()
        b.stop()
    except _Fail:
        raise
    except XdplabError as e:
        raise _Fail(f"✗ ip link set dev eth0 xdp obj ...: {e}") from None
    except Exception as e:  # noqa: BLE001
        _raise_if_unfinished(e)
        raise _Fail(*_describe_exc(e, None, "the program on the board")) from None
    return out


def _check_rps(obj):
    if callable(obj) and not hasattr(obj, "programs") and not hasattr(obj, "index"):
        try:
            obj = obj()
        except Exception as e:  # noqa: BLE001
            _raise_if_unfinished(e)
            raise _Fail(f"✗ {type(e).__name__}: {e}") from None
    obj, prog = _as_program(obj)
    got = _rps_run(obj, prog)
    v, n = got["verdicts"], got["rx"]
    lines = []
    if v["XDP_REDIRECT"] != n:
        other = {k: x for k, x in v.items() if x and k != "XDP_REDIRECT"}
        raise _Fail(f"✗ {_RPS_LABEL}: {v['XDP_REDIRECT']} of {n} frames redirected, the others {other}",
                    "    every frame goes to a CPU: return bpf_redirect_map(&cpu_map, cpu, 0) with cpu 0 or 1 — a "
                    "key with no entry makes the helper return its flags' action (0: XDP_ABORTED), and "
                    "XDP_PASS would build the skb on CPU 0, which is what CPUMAP is here to avoid")
    lines.append(f"✓ {_RPS_LABEL}: every frame redirected to a CPUMAP entry")
    share = [got["cpu"][c]["kthread_processed"] for c in (0, 1)]
    total = max(sum(share), 1)
    if min(share) < total * 0.15:
        idle = 0 if share[0] < share[1] else 1
        raise _Fail(f"✗ CPU 0's kthread took {share[0]} frames, CPU 1's {share[1]}: CPU {idle} did "
                    f"{share[idle] / total:.0%} of the stack's work (CPU busy {got['busy'][0]:.0%} / "
                    f"{got['busy'][1]:.0%})",
                    "    the 16 flows must spread over both CPUs. pktgen's flows share the addresses and the "
                    "protocol (192.168.200.10 -> 192.168.200.1, UDP): only the UDP source port differs "
                    "(1000 + flow), so a hash of the addresses alone, like a constant, sends every flow to one CPU. "
                    "Hash the 5-tuple — saddr, daddr, protocol, source and destination ports, as RPS's "
                    "skb_get_hash does — and take one bit of it (fold the high bits in first)")
    lines.append(f"✓ CPU 0's kthread took {share[0]} frames, CPU 1's {share[1]}")
    o = got["order"]
    if o["udp_reordered"]:
        raise _Fail(f"✗ the socket received {o['udp_reordered']} of {o['udp_delivered']} frames after a later frame "
                    "of their flow (Board.flow_order(): the generator's per-flow sequence numbers)",
                    "    a flow's frames went to both CPUs: each kthread delivers its own ring in order, but the two "
                    "run concurrently, so a frame queued for one CPU can reach the socket after a later frame of "
                    "the same flow queued for the other. Choose the CPU from fields that are the same for every "
                    "frame of a flow — the 5-tuple — never per frame (a counter, bpf_get_prandom_u32, the payload)")
    if o["udp_delivered"] != n:
        raise _Fail(f"✗ the stack delivered {o['udp_delivered']} of {n} UDP frames",
                    "    with qsize 192 on both CPUs nothing should be lost at 300 kpps: spread the flows over both "
                    "CPUs so that neither kthread falls behind")
    lines.append(f"✓ all {n} frames delivered, none after a later frame of its flow (every flow on one CPU)")
    return lines


CHECKERS_04 = {
    "cpu_ex1": Exercise("cpu_ex1", "cpu_map_kthread_pass", "04-cpumap", "ch04_cpumap.py", _check_kthread_pass,
                        "the kthread's pass: a batch of up to 8 frames off the ring, into skbs"),
    "cpu_ex2": Exercise("cpu_ex2", "xdp_rps", "04-cpumap", "ch04_xdp_rps.c", _check_rps,
                        "software RPS: spread the flows over both CPUs without reordering any", program=True),
}
EXERCISES.update(CHECKERS_04)

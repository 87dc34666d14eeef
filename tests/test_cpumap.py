"""CPUMAP on the board's two CPUs (kernel/bpf/cpumap.c, Linux 6.1): the enqueue side on CPU 0,
the kthread on CPU 1, the map's update errors, bad input, where the pages go, per-flow order."""
import os

import numpy as np
import pytest

from xdplab_testutil import npk
from xdplab import Board, XdplabError
from xdplab import _layout as L
from xdplab.bpf import load_object, load_insns
from xdplab.bpf.maps import MapError, BPF_EXIST, BPF_NOEXIST
from xdplab.cpumap import CPUMAP_STAT_NAMES
from xdplab.trace import trace_records

OBJ = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "xdplab", "progs", "cpumap_rps.o")


def rps(main="redirect_cpu_fixed", cpus=(1,), qsize=192, remote=None, entries=None):
    """cpumap_rps.o with its CPUMAP filled like `xdp-bench redirect-cpu --cpu ... --qsize ...`."""
    obj = load_object(OBJ)
    for i, c in enumerate(cpus):
        obj.maps["cpus_available"].update(i, c)
    obj.maps["cpus_count"].update(0, len(cpus))
    for c in (entries if entries is not None else cpus):
        obj.maps["cpu_map"].update(c, {"qsize": qsize, "bpf_prog": obj[remote] if remote else None})
    return obj, obj[main]


def snapshot(b, r):
    """Everything a run can tell, for comparing the two speeds."""
    return {"r": {k: v for k, v in r.items() if not k.startswith("wall")}, "cm": b.cpumap_stats(),
            "stack": b.stack_stats(), "order": b.flow_order(), "clocks": [b.clock_fx(0), b.clock_fx(1)],
            "idle": [int(b.s.r[L.R_IDLE]), int(b.s.r[L.R_IDLE + 1])], "census": b.page_census(),
            "dmesg": b.dmesg(), "pp": b.page_pool_stats()}


# ---------------------------------------------------------------- two CPUs
def test_without_cpumap_cpu1_never_runs(mode):
    b = Board("drop", mode=mode)
    r = b.run(packets=npk(mode, 5000, 300))
    assert r["cpu1_busy"] == 0.0 and b.clock_fx(1) == 0 and r["cpu0_busy"] > 0
    assert r["cpumap"]["enqueue_processed"] == 0


def test_cpu1_builds_the_skbs_and_the_two_cpus_run_concurrently(mode):
    n = npk(mode, 20000, 1200)
    obj, prog = rps()
    b = Board(prog, mode=mode)
    r = b.run(packets=n)                        # line rate: both CPUs saturated
    st = b.cpumap_stats()
    red = r["verdicts"]["XDP_REDIRECT"]
    assert red == r["rx_packets"] > 0 and r["ethtool"]["rx_xdp_redirect"] == red
    assert st["enqueue_processed"] == red == st["kthread_processed"] + st["enqueue_drops"]
    # every frame the kthread took became an skb that the stack (on CPU 1) delivered
    assert st["skbs"] == st["kthread_processed"] == b.stack_stats()["udp_delivered"]
    assert b.stack_stats()["gro_receive"] == 0  # 6.1's kthread: netif_receive_skb_list, no GRO
    # concurrency: the run took less simulated time than the two CPUs' busy time added up
    busy0, busy1 = r["cpu_busy_ns"]
    assert busy0 > 0 and busy1 > 0
    assert r["sim_seconds"] * 1e9 < 0.8 * (busy0 + busy1)
    assert r["cpu0_busy"] > 0.8 and r["cpu1_busy"] > 0.9     # CPU 1 (the stack) is the slower one
    # CPU 0 does not pay for the stack: per frame it is far cheaper than a plain XDP_PASS
    p = Board("pass", mode=mode)
    rp = p.run(packets=n)
    assert busy0 / red < 0.6 * rp["cpu_busy_ns"][0] / rp["rx_packets"]
    b.check_pages()
    b.stop()


def test_cpu1_idles_between_bursts_and_is_woken_by_the_flush(mode):
    obj, prog = rps()
    b = Board(prog, mode=mode, trace=100000)
    n = npk(mode, 2000, 300)
    r = b.run(packets=n, rate=20_000)           # one frame every 50 us: the kthread sleeps in between
    st = b.cpumap_stats()
    assert st["kthread_processed"] == n and st["enqueue_drops"] == 0
    assert st["wakeups"] > n // 4 and st["kthread_sched"] >= st["wakeups"]
    assert r["cpu1_busy"] < 0.5
    load = b.cpu_load()
    assert load[1]["idle_ns"] > load[1]["busy_ns"]
    recs = trace_records(b.trace)
    assert b.trace.lost[0] == 0
    kt = [x for x in recs if x["event"] == "xdp_cpumap_kthread"]
    enq = [x for x in recs if x["event"] == "xdp_cpumap_enqueue"]
    assert kt and enq and all(x["cpu"] == 1 for x in kt) and all(x["cpu"] == 0 for x in enq)
    assert sum(x["b"] for x in kt) == n and sum(x["b"] for x in enq) == n
    assert all(x["d"] == 1 for x in enq) and all(x["a"] == obj.maps["cpu_map"].id for x in kt + enq)
    # a pass after schedule() reports sched=1; the kthread never took a frame before it was queued
    assert sum(x["d"] for x in kt) == st["kthread_sched"]
    first_enq = min(x["t_ns"] for x in enq)
    assert min(x["t_ns"] for x in kt) >= first_enq
    b.check_pages()


# ---------------------------------------------------------------- the map
def test_update_errors_as_6_1_reports_them():
    obj = load_object(OBJ)
    cm = obj.maps["cpu_map"]
    with pytest.raises(MapError) as e:
        cm.update(1, {"qsize": 64}, flags=4)                   # flags > BPF_EXIST
    assert e.value.errno == 22
    with pytest.raises(MapError) as e:
        cm.update(2, {"qsize": 64})                            # key >= max_entries
    assert e.value.errno == 7
    with pytest.raises(MapError) as e:
        cm.update(1, {"qsize": 64}, flags=BPF_NOEXIST)         # entries always exist
    assert e.value.errno == 17
    with pytest.raises(MapError) as e:
        cm.update(1, {"qsize": 16385})
    assert e.value.errno == 75 and "16384" in str(e.value)
    cm.update(1, {"qsize": 16384}, flags=BPF_EXIST)            # the limit itself is fine
    with pytest.raises(MapError) as e:                         # an XDP program, not xdp/cpumap
        cm.update(1, {"qsize": 64, "bpf_prog": obj["redirect_cpu_fixed"]})
    assert e.value.errno == 12 and "BPF_XDP_CPUMAP" in str(e.value) and "xdp/cpumap" in str(e.value)
    with pytest.raises(MapError) as e:                         # an fd that is no program
        cm.update(1, {"qsize": 64, "bpf_prog": 99})
    assert e.value.errno == 12
    cm.update(1, {"qsize": 64, "bpf_prog": obj["cpumap_drop"]})
    v = cm.lookup(1)
    assert int.from_bytes(v[:4], "little") == 64 and int.from_bytes(v[4:], "little") == obj["cpumap_drop"].index + 1
    cm.update(1, 0)                                            # qsize 0: the entry goes
    assert cm.get(1) is None
    # a CPU the board does not have: -ENODEV (the map may be larger than the board, up to NR_CPUS)
    big = load_insns([0x00000000000000b7, 0x0000000000000095], name="p",
                     maps=[{"type": 16, "key_size": 4, "value_size": 8, "max_entries": 4}]).maps["map0"]
    with pytest.raises(MapError) as e:
        big.update(2, {"qsize": 64})
    assert e.value.errno == 19
    big.update(1, {"qsize": 64})


def test_entry_changes_between_runs_take_effect(mode):
    obj, prog = rps(qsize=8)
    b = Board(prog, mode=mode)
    r = b.run(packets=npk(mode, 3000, 300))
    assert r["cpumap"]["enqueue_drops"] > 0                     # qsize 8 at line rate
    obj.maps["cpu_map"].update(1, {"qsize": 4096})
    r = b.run(packets=npk(mode, 3000, 300))
    assert r["cpumap"]["enqueue_drops"] == 0 and r["cpumap"]["kthread_processed"] == r["rx_packets"]
    obj.maps["cpu_map"].delete(1)
    r = b.run(packets=npk(mode, 500, 100), rate=100_000)       # the slot is empty now
    assert r["verdicts"]["XDP_ABORTED"] == r["rx_packets"] and r["cpumap"]["enqueue_processed"] == 0
    b.check_pages()
    b.stop()


# ---------------------------------------------------------------- bad input
def test_redirect_to_an_empty_slot_is_aborted(mode):
    obj, prog = rps(cpus=(1,), entries=())      # cpus_available says 1, the CPUMAP has no entry 1
    b = Board(prog, mode=mode, trace=40000)
    n = npk(mode, 2000, 200)
    r = b.run(packets=n, rate=100_000)
    # bpf_redirect_map(&cpu_map, 1, 0) finds no entry and returns its flags' action: XDP_ABORTED
    assert r["verdicts"]["XDP_ABORTED"] == n and r["verdicts"]["XDP_REDIRECT"] == 0
    assert r["ethtool"]["rx_xdp_drop"] == n and r["ethtool"]["rx_xdp_redirect"] == 0
    assert b.trace.lost[0] == 0
    assert sum(1 for x in trace_records(b.trace) if x["event"] == "xdp_exception") == n
    assert r["cpumap"]["enqueue_processed"] == 0 and r["cpu1_busy"] == 0.0
    assert r["ethtool"]["rx_pp_recycle_cached"] == n
    b.check_pages()
    b.stop()


def test_ring_overflow_drops_on_cpu0_into_the_alloc_cache(mode):
    obj, prog = rps(qsize=16, remote="cpumap_pass")
    b = Board(prog, mode=mode, trace=150000)
    r = b.run(packets=npk(mode, 5000, 800))
    st = r["cpumap"]
    assert st["enqueue_drops"] > 0 and st["ring_high"] == 16
    assert st["enqueue_processed"] == r["verdicts"]["XDP_REDIRECT"]
    assert st["kthread_processed"] == st["enqueue_processed"] - st["enqueue_drops"] == st["xdp_pass"] == st["skbs"]
    # a frame the ring refused goes back from CPU 0's NAPI: xdp_return_frame_rx_napi, the alloc cache
    assert r["page_pool"]["cached"] == st["enqueue_drops"] and r["page_pool"]["ring"] == 0
    assert b.trace.lost[0] == 0
    enq = [x for x in trace_records(b.trace) if x["event"] == "xdp_cpumap_enqueue"]
    assert sum(x["c"] for x in enq) == st["enqueue_drops"] and max(x["e"] for x in enq) == 16
    assert all(x["b"] <= 8 for x in enq)                     # CPU_MAP_BULK_SIZE
    b.check_pages()
    b.stop()


def test_xdp_tx_and_aborted_on_cpu1_are_dropped_with_one_warning(mode):
    obj, prog = rps(remote="cpumap_tx")
    b = Board(prog, mode=mode)
    n = npk(mode, 3000, 300)
    r = b.run(packets=n, rate=100_000)
    st = r["cpumap"]
    assert st["xdp_drop"] == n and st["xdp_pass"] == 0 and st["skbs"] == 0
    warn = [m for m in b.dmesg() if "XDP return value" in m]
    assert len(warn) == 1 and "Driver unsupported XDP return value 3" in warn[0] and "dev N/A" in warn[0]
    # dropped on CPU 1 with return-frame-no-direct: the pool's ptr_ring, never its alloc cache
    assert r["page_pool"]["ring"] == n and r["page_pool"]["cached"] == 0
    b.check_pages()


def test_a_program_that_would_fault_on_cpu1_is_refused_at_load(mode):
    """cpumap_oob_read turns ctx->data + 4000 into a scalar (a cast through long: `<<= 32`): Linux's verifier
    refuses it at load (xdplab.bpf.verifier), so it never gets an fd to put in a CPUMAP entry.
    The object's other programs load; the CPUMAP update with it fails with the verifier's log."""
    from xdplab.bpf.verifier import BpfVerifierError
    obj = load_object(OBJ)
    bad = obj.programs["cpumap_oob_read"]
    assert bad.load_error and "R1 pointer arithmetic with <<= operator prohibited" in bad.load_error
    with pytest.raises(BpfVerifierError, match="pointer arithmetic with <<= operator prohibited"):
        obj.maps["cpu_map"].update(1, {"qsize": 64, "bpf_prog": bad})
    b = Board(obj.programs["redirect_cpu_fixed"], mode=mode)  # the object's other programs load and run
    b.run(packets=50, rate=100_000)
    b.check_pages()


# ---------------------------------------------------------------- where the pages go
def test_pages_recycled_from_cpu1_use_the_ptr_ring_and_skbs_leave_the_pool(mode):
    n = npk(mode, 4000, 400)
    obj, prog = rps(remote="cpumap_drop")
    b = Board(prog, mode=mode)
    r = b.run(packets=n, rate=100_000)
    assert r["page_pool"]["ring"] == n and r["page_pool"]["cached"] == 0
    assert r["cpumap"]["pages_state_release_cnt"] == 0
    obj2, prog2 = rps()                         # no cpumap program: every frame becomes an skb on CPU 1
    b2 = Board(prog2, mode=mode)
    r2 = b2.run(packets=n, rate=100_000)
    # __xdp_build_skb_from_frame -> xdp_release_frame: each page leaves its pool, the stack frees it,
    # and the refill allocates new ones (page_pool's slow path, in bulk)
    assert r2["cpumap"]["pages_state_release_cnt"] == n == r2["cpumap"]["pages_released"]
    assert r2["page_pool"]["ring"] == 0 and r2["page_pool"]["cached"] == 0
    assert r2["page_pool"]["slow"] >= n // 64
    b.check_pages()
    b2.check_pages()
    b2.stop()


# ---------------------------------------------------------------- flows
def test_hash_keeps_each_flow_in_order_round_robin_does_not(mode):
    n = npk(mode, 20000, 1500)
    obj, prog = rps(main="redirect_cpu_hash", cpus=(0, 1))
    b = Board(prog, mode=mode)
    r = b.run(packets=n, flows=16, stamp=True, rate=300_000)
    fo = b.flow_order()
    assert fo["udp_delivered"] == r["cpumap"]["skbs"] > 0 and fo["udp_reordered"] == 0
    assert b.cpumap_stats(0)["kthread_processed"] > 0 and b.cpumap_stats(1)["kthread_processed"] > 0
    obj2, prog2 = rps(main="redirect_cpu_round_robin", cpus=(0, 1))
    b2 = Board(prog2, mode=mode)
    b2.run(packets=n, flows=16, stamp=True, rate=300_000)
    assert b2.flow_order()["udp_reordered"] > 0
    b.check_pages()
    b2.check_pages()


def test_stamp_needs_udp_frames():
    b = Board("drop", mode="python")
    with pytest.raises(ValueError, match="stamp"):
        b.run(packets=10, kind="tcp", stamp=True)


# ---------------------------------------------------------------- both speeds
def test_kthread_program_redirects_back_out_of_eth0(mode):
    """eth0 -> CPUMAP -> CPU 1's program (cpumap_redirect: bpf_redirect(eth0)) -> the redirect core's
    device path -> eth0's bulk queue, sent by the kthread's xdp_do_flush through mvneta_xdp_xmit;
    TX completion returns each page to eth0's page_pool.  (Before: -EINVAL, every frame dropped.)"""
    n = npk(mode, 1000, 200)
    obj, prog = rps(remote="cpumap_redirect")
    b = Board(prog, mode=mode, trace=100_000)
    r = b.run(packets=n, rate=300_000)
    assert b.trace.lost[0] == 0
    st = b.cpumap_stats()
    assert r["verdicts"]["XDP_REDIRECT"] == n and st["enqueue_drops"] == 0
    assert st["kthread_processed"] == n and st["xdp_redirect"] == n and st["xdp_drop"] == 0 and st["skbs"] == 0
    e = r["ethtool"]
    assert e["tx_xdp_xmit"] == n and e["tx_xdp_xmit_errors"] == 0 and e["good_frames_sent"] == n
    assert int(b.s.r[L.R_WIRE_TX_N]) == n                   # all on the wire
    tp = b.tracepoints("xdp:xdp_redirect")
    on1 = [t for t in tp if t["cpu"] == 1]                  # the kthread's: bpf_redirect from eth0 to eth0
    assert len(on1) == n and all(t["ifindex"] == 2 and t["to_ifindex"] == 2 and t["err"] == 0
                                 and t["map_id"] == 0x7FFFFFFF for t in on1)
    assert not b.tracepoints("xdp:xdp_redirect_err")
    xm = [t for t in b.tracepoints("xdp:xdp_devmap_xmit") if t["cpu"] == 1]
    assert sum(t["sent"] for t in xm) == n and all(t["drops"] == 0 for t in xm)
    # home: TX completion unmapped each NDO buffer and put the page in its pool's ring
    assert r["page_pool"]["ring"] == n
    census = b.check_pages()
    assert census["xdp_frame"] == 0 and census["tx_ring"] == 0
    assert int(b.s.pg[:, -1].sum()) == 0                    # no streaming mapping left
    b.stop()


def map_ids_aside(recs, mid):
    """Map ids count loads (the two objects of one process differ in them only): every field the
    trace schema labels a map id, relative to the CPUMAP's (xdp_cpumap_* and, since the redirect
    core, xdp_redirect{,_err})."""
    from xdplab.trace import EVENTS
    cols = {e[0]: [k for k, lab in zip("abcde", e[1:]) if lab in ("map id", "map_id")] for e in EVENTS}
    assert cols["xdp_redirect"] == ["d"] and cols["xdp_cpumap_enqueue"] == ["a"]
    return [x | {k: x[k] - mid for k in cols[x["event"]] if 0 < x[k] < 0x7FFFFFFF} for x in recs]  # not bpf_redirect's INT_MAX


def test_both_speeds_give_identical_results():
    out = []
    for mode in ("jit", "python"):
        obj, prog = rps(main="redirect_cpu_hash", cpus=(0, 1), qsize=32, remote="cpumap_pass")
        b = Board(prog, mode=mode, trace=3000)
        r = b.run(packets=600, flows=8, stamp=True)
        s = snapshot(b, r)
        s["trace"] = map_ids_aside(trace_records(b.trace), obj.maps["cpu_map"].id)
        assert b.trace.lost[0] > 0              # the trace filled up: the same first 3000 events
        out.append(s)
    assert out[0] == out[1]


def test_no_two_kernels_call_each_other_in_a_cycle():
    """numba's cached copy of mutually recursive kernels segfaults in the next process (CONTRIBUTING):
    the kthread (run from CPU 0's enqueue) must not reach that enqueue again through its program's
    redirects.  The call graph of every registered kernel, by name, has no cycle."""
    import ast
    import inspect
    import textwrap
    from xdplab._twospeed import _REGISTRY
    names = set(_REGISTRY)
    graph = {}
    for name, (fn, _) in _REGISTRY.items():
        try:
            tree = ast.parse(textwrap.dedent(inspect.getsource(fn)))
        except (OSError, TypeError):
            continue
        graph[name] = {n.func.id for n in ast.walk(tree) if isinstance(n, ast.Call)
                       and isinstance(n.func, ast.Name) and n.func.id in names and n.func.id != name}
    state = {}

    def visit(n, path):
        state[n] = 1
        for m in graph.get(n, ()):
            if state.get(m) == 1:
                raise AssertionError("kernel call cycle: " + " -> ".join(path[path.index(m):] + [m]))
            if m not in state:
                visit(m, path + [m])
        state[n] = 2

    for n in sorted(graph):
        if n not in state:
            visit(n, [n])


def test_bench_redirect_cpu_remote_action_redirect():
    """`xdplab bench redirect-cpu --remote-action redirect`: CPU 1's cpumap_redirect sends every frame it
    takes back out of eth0 (before: refused with a ValueError)."""
    from xdplab.bench import run_bench
    r = run_bench("redirect-cpu", packets=3000, rate=300_000, remote_action="redirect", flows=8)
    kt = r["cpumap"]                            # this run's (r["kthread"] also counts the warm-up run)
    assert r["remote_action"] == "redirect" and kt["kthread_processed"] > 0
    assert kt["xdp_redirect"] == kt["kthread_processed"] and kt["skbs"] == 0
    assert r["ethtool"]["tx_xdp_xmit"] == kt["xdp_redirect"] and r["ethtool"]["tx_xdp_xmit_errors"] == 0


def test_bench_redirect_cpu_reports_both_cpus():
    from xdplab.bench import format_human, run_bench
    res = run_bench("redirect-cpu", packets=3000, cpus=[1], qsize=64, remote_action="drop", flows=4)
    assert res["cpus"] == [1] and res["qsize"] == 64 and res["remote_action"] == "drop"
    assert res["program_mode"] == "l4-hash" and res["flows"] == 4
    st = res["kthread"]["cpu1"]                 # since the entry was created: the warm-up run included
    assert st["xdp_drop"] == st["kthread_processed"] >= res["cpumap"]["kthread_processed"] > 0
    assert res["cpumap"]["xdp_drop"] == res["cpumap"]["kthread_processed"]
    assert res["cpu1_busy"] > 0 and res["cpu0_busy"] > 0 and res["cpumap_pps"] > 0
    text = format_human(res)
    assert "kthread cpu1" in text and "cpu load: cpu0" in text
    with pytest.raises(ValueError, match="CPUs 0 and 1"):
        run_bench("redirect-cpu", packets=100, cpus=[2])

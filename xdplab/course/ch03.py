"""Checkers of chapter 03 (XDP_TX and XDP_REDIRECT): the two ends of a redirect.

``redir_ex1``: ``mvneta_xdp_xmit``, mvneta as a redirect *target* (``ndo_xdp_xmit``).
``redir_ex2``: ``veth_xdp_xmit``, veth as a target, and the peer rule that makes every
frame redirected to a veth whose peer has neither an XDP program nor GRO a drop.

Like the checkers of chapters 00-02 (``xdplab.course.checks``), each plugs the learner's
function into a python-mode ``Board`` with ``overrides=``, runs the same redirect setup
with the 6.1 driver, and explains any difference in the kernel's terms.  Besides eth0's
``ethtool -S`` and ``ip -s link``, a redirect is compared by what only the redirect shows:
every veth's counters, the ``xdp:xdp_devmap_xmit`` tracepoints (sent, drops, err of each
bulk), the frames left in a veth ring, and where every page is.
"""

from __future__ import annotations

import functools
from pathlib import Path

from .. import _layout as L
from ..board import Board
from ..cost import OPS
from ..sanitizer import SanitizerError
from .checks import (_census_then_stop, _checked_reference, Exercise, Snap, _Fail, _Unfinished, _compare, _describe_exc, _diff, _raise_if_unfinished,
                     _snapshot)

__all__ = ["EXERCISES"]

_PROGS = Path(__file__).resolve().parents[1] / "progs"
_TRACE = 120_000


# ================================================================ the redirect setups

def _devmap_prog():
    from ..bpf import load_object
    return load_object(_PROGS / "redirect_devmap.o")


def _setup(name):
    """(program, its object, setup(b, obj) or None, teardown(b) or None, label) of a named redirect setup."""
    from ..bpf import load_object

    def veth(b, obj, peer=None, v0=None, v1_mtu=None):
        b.ip("netns add remote")
        b.ip("link add veth0 type veth peer name veth1 netns remote")
        b.ip("link set veth0 up")
        b.ip("-n remote link set veth1 up")
        d0, d1 = b.dev("veth0"), b.dev("veth1", "remote")
        if v1_mtu:
            d1.set_mtu(v1_mtu)
        obj.maps["tx_port"].update(0, d0.ifindex)
        if peer == "gro":
            d1.set_gro(True)
        elif peer:
            d1.attach(peer)
        if v0 == "gro":
            d0.set_gro(True)
        elif v0 == "redirect-eth0":
            d0.attach(obj.programs["xdp_redirect_eth0"])

    def down(b):
        for d in b.devices():
            if d.kind == "veth" and d.is_up:
                d.down()           # veth_close: frames left in a ring go back (ptr_ring_cleanup)

    if name == "eth0":
        obj = load_object(_PROGS / "xdp_redirect.o")
        obj.set_global("ifindex_out", 2)
        return (obj.programs["xdp_redirect_prog"], obj, None, None,
                "xdp_redirect eth0 eth0 (bpf_redirect(2, 0): out of the port it came in)")
    obj = _devmap_prog()
    prog = obj.programs["xdp_redirect_devmap"]
    what = {
        "veth-nopeer": (dict(), "DEVMAP to veth0, veth1 with neither XDP program nor GRO"),
        "veth-drop": (dict(peer="drop"), "DEVMAP to veth0, xdp drop on veth1"),
        "veth-gro": (dict(peer="gro"), "DEVMAP to veth0, GRO on veth1 (no XDP program: XDP_PASS up its stack)"),
        "veth-mtu": (dict(peer="drop", v1_mtu=500), "DEVMAP to veth0, xdp drop on veth1 whose MTU is 500"),
        "veth-full": (dict(peer="ssh-mirror", v0="gro"),
                      "DEVMAP to veth0, ssh-mirror (XDP_TX) on veth1 back into veth0, GRO on veth0 (its ring fills)"),
        "recipe": (dict(peer="ssh-mirror", v0="redirect-eth0"),
                   "the talk's recipe: ssh-mirror on veth1 sends into veth0, xdp_redirect veth0 -> eth0"),
    }[name]
    kw, label = what
    return prog, obj, (lambda b, o: veth(b, o, **kw)), down, label


# name -> (setup, run kwargs, board kwargs)
SCENARIOS = {
    "eth0-line": ("eth0", dict(packets=300, rate="line"), {}),
    "eth0-slow": ("eth0", dict(packets=120, rate=50_000), {}),
    "eth0-full": ("eth0", dict(packets=500, rate=100_000), dict(tx_ring=434, tx_gbps=0.005)),
    "recipe": ("recipe", dict(packets=200, rate=100_000, kind="ssh"), {}),
    "veth-nopeer": ("veth-nopeer", dict(packets=200, rate=200_000), {}),
    "veth-drop": ("veth-drop", dict(packets=300, rate="line"), {}),
    "veth-gro": ("veth-gro", dict(packets=150, rate=100_000), {}),
    "veth-mtu": ("veth-mtu", [dict(packets=60, rate=100_000, size=522), dict(packets=60, rate=100_000, size=523)],
                 {}),
    "veth-full": ("veth-full", dict(packets=300, rate=200_000, kind="ssh"), {}),
}


def _label(sc):
    setup, run, _ = SCENARIOS[sc]
    if isinstance(run, list):
        return f"{_setup(setup)[4]}: {run[0]['packets']} frames of {run[0]['size']} bytes (518 bytes without the FCS: " \
               f"veth1's MTU + 14 + 4, the most it takes), then {run[1]['packets']} of {run[1]['size']} bytes"
    r = run.get("rate")
    rate = "line rate" if r == "line" else f"{r / 1000:.0f} kpps"
    kind = {"ssh": "TCP port-22"}.get(run.get("kind"), "UDP")
    extra = ", the TX ring 434 descriptors and the MAC paused to 5 Mbit/s" if sc == "eth0-full" else ""
    return f"{_setup(setup)[4]}: {run['packets']} {run.get('size', 64)}-byte {kind} frames at {rate}{extra}"


def _dev_snapshot(b):
    devs = {}
    for d in b.devices():
        if d.kind == "veth":
            devs[d.name] = {"ethtool": d.ethtool(), "netdev": d.netdev_stats(), "ring": d.ring_count}
    return devs


def _run(sc, overrides, fn=None):
    """One scenario with these overrides; never raises for the learner's mistakes (only unfinished)."""
    setup, run, board_kw = SCENARIOS[sc]
    prog, obj, prep, teardown, _ = _setup(setup)
    s = Snap(_label(sc))
    board_kw = dict(board_kw)
    gbps = board_kw.pop("tx_gbps", None)
    s.phase = "ip link set dev eth0 up; ip link set dev eth0 xdp ...; the veth pair"
    try:
        b = Board(prog, mode="python", overrides=dict(overrides), trace=_TRACE, **board_kw)
        s.board = b
        if gbps is not None:
            b.state.f[L.F_GBPS] = gbps
        if prep is not None:
            prep(b, obj)
        s.phase = "traffic"
        f0 = b.state.r[L.R_OP_COUNT:L.R_OP_COUNT + len(OPS)].copy()
        for one in (run if isinstance(run, list) else [run]):
            b.run(**one)
        _snapshot(s, b)
        s.run_ops = {name: int(b.state.r[L.R_OP_COUNT + i] - f0[i]) for i, (name, _) in enumerate(OPS)}
        s.extra["devices"] = _dev_snapshot(b)
        s.extra["devmap_xmit"] = _xmit_summary(b)
        _census_then_stop(s, b, "ip link set dev veth0 down; ip link set dev eth0 down", teardown)
    except _Unfinished:
        raise
    except Exception as e:  # noqa: BLE001  (anything the learner's code raises is reported)
        _raise_if_unfinished(e)
        s.exc = e
    return s


def _xmit_summary(b):
    """xdp:xdp_devmap_xmit summed per (to_ifindex, err): [sent, drops, bulks]."""
    out = {}
    for t in b.tracepoints("xdp:xdp_devmap_xmit"):
        k = (t["to_ifindex"], t["err"])
        v = out.setdefault(k, [0, 0, 0])
        v[0] += t["sent"]
        v[1] += t["drops"]
        v[2] += 1
    return out


@functools.lru_cache(maxsize=None)
def _reference(sc):
    return _checked_reference(_run(sc, {}), "the reference driver")


# ================================================================ comparing

def _dev_diffs(s, ref):
    out = []
    a, r = s.extra.get("devices", {}), ref.extra["devices"]
    for dev in r:
        for sec in ("ethtool", "netdev"):
            for k, v in r[dev][sec].items():
                got = a.get(dev, {}).get(sec, {}).get(k)
                if got != v:
                    out.append((f"{dev} {'ethtool -S' if sec == 'ethtool' else 'ip -s link'} {k}", got, v))
        if a.get(dev, {}).get("ring") != r[dev]["ring"]:
            out.append((f"{dev}: frames waiting in its ptr_ring", a.get(dev, {}).get("ring"), r[dev]["ring"]))
    return out


def _xmit_lines(s, ref):
    a, r = s.extra.get("devmap_xmit", {}), ref.extra["devmap_xmit"]
    if a == r:
        return []
    fmt = lambda d: "; ".join(f"to_ifindex={k[0]} err={k[1]}: sent={v[0]} drops={v[1]} in {v[2]} bulks"  # noqa: E731
                              for k, v in sorted(d.items())) or "none"
    return [f"    xdp:xdp_devmap_xmit: {fmt(a)}", f"      (6.1 driver: {fmt(r)})"]


def _check(sc, name, fn, explain):
    """Run scenario ``sc`` with the learner's ``fn`` as kernel function ``name``; raise _Fail on a difference."""
    ref = _reference(sc)
    s = _run(sc, {name: fn}, fn)
    if s.exc is not None:
        raise _Fail(*(_describe_exc(s.exc, fn, f"{s.label} ({s.phase})") + explain(s, ref, set(), s.exc)))
    devd = _dev_diffs(s, ref)
    xm = _xmit_lines(s, ref)
    keys = {k for k, _, _ in _diff(s, ref)} | {k for k, _, _ in devd} | ({"devmap_xmit"} if xm else set())
    try:
        _compare(s, ref, fn, None, ops_too=False)
    except _Fail as f:
        raise _Fail(*(f.lines + _dev_lines(devd) + xm + explain(s, ref, keys, None)))
    if devd or xm:
        raise _Fail(f"✗ {s.label}: the devices do not end the way the 6.1 drivers leave them",
                    *(_dev_lines(devd) + xm + explain(s, ref, keys, None)))
    _compare(s, ref, fn, None)          # the cycle model's operations last (keep the stub's charge lines)
    return s, ref


def _dev_lines(devd, limit=8):
    lines = [f"    {k:<44} {a!s:>6}   (6.1 driver: {r})" for k, a, r in devd[:limit]]
    if len(devd) > limit:
        lines.append(f"    ... and {len(devd) - limit} more device counters differ")
    return lines


def _direct(name, fn, call, running=True):
    """Call the learner's function once on a fresh board (python copies of every kernel around it)."""
    b = Board(None, mode="python", overrides={name: fn})
    if not running:
        b.stop()
    try:
        return call(b, getattr(b.k, name))
    except _Unfinished:
        raise
    except Exception as e:  # noqa: BLE001
        _raise_if_unfinished(e)
        raise _Fail(*_describe_exc(e, fn, f"{name} called directly"))


# ================================================================ redir_ex1: mvneta_xdp_xmit

def _explain_xmit(s, ref, keys, exc):
    out = []
    e, re_ = s.ethtool, ref.ethtool
    if isinstance(exc, SanitizerError) or (s.leak is not None and "twice" in str(s.leak)):
        out.append("    a frame was returned twice: since 5.13 (\"bpf, devmap: Move drop error path to devmap\") "
                   "ndo_xdp_xmit does not free what it could not send — bq_xmit_all() frees frames[sent:] with "
                   "xdp_return_frame_rx_napi(). Stop at the first frame that does not fit and return how many "
                   "you took")
    full = "eth0-full" in s.label or "434" in s.label
    if s.census.get("xdp_frame") or (s.pages_problem and "xdp_frame" in s.pages_problem) or (
            full and s.census != ref.census and e.get("tx_xdp_xmit_errors", 0) < re_.get("tx_xdp_xmit_errors", 0)):
        out.append("    frames the TX ring could not take were neither sent nor freed: ndo_xdp_xmit returns the "
                   "number of frames it took from the front of the array (nxmit), and bq_xmit_all() frees the "
                   "rest — returning num_frame claims them all, and nobody returns their pages")
    if e.get("good_frames_sent", 0) < re_.get("good_frames_sent", 0) or (
            s.census.get("tx_ring", 0) > ref.census.get("tx_ring", 0)):
        out.append("    the descriptors were written but the MAC sent fewer frames: the NIC learns about new TX "
                   "descriptors only from the doorbell. With XDP_XMIT_FLUSH (the devmap's flush at the end of the "
                   "NAPI poll) call mvneta_txq_pend_desc_add(b, 0) once, for the whole bulk; without it (a full bulk "
                   "of 16 sent mid-poll) leave them in txq->pending for the next doorbell")
    elif s.ops.get("mmio_write", 0) > ref.ops.get("mmio_write", 0):
        out.append("    more register writes than the 6.1 driver: one doorbell per bulk, and only with "
                   "XDP_XMIT_FLUSH — that is what bulking buys (a frame-by-frame doorbell is XDP_TX's cost)")
    for k in ("tx_xdp_xmit", "tx_xdp_xmit_errors", "tx_packets", "tx_bytes"):
        if k in keys:
            out.append("    the stats of ndo_xdp_xmit, once per call: tx_bytes += the bytes submitted, tx_packets "
                       "and xdp_xmit (ethtool tx_xdp_xmit) += nxmit, xdp_xmit_err (tx_xdp_xmit_errors) += num_frame "
                       "- nxmit")
            break
    return out


def _check_mvneta_xdp_xmit(fn):
    name = "mvneta_xdp_xmit"
    lines = []
    from ..netdev import NDQ_BQ
    got = _direct(name, fn, lambda b, f: f(b.state, 0, NDQ_BQ, 0, 1), running=False)
    if got != -100:
        raise _Fail(f"✗ ndo_xdp_xmit on a port that is down returned {got}, the 6.1 driver -ENETDOWN (-100)",
                    "    test_bit(__MVNETA_DOWN, &pp->state) first: mvneta_stop sets it, and the TX queues are being "
                    "torn down (b.r[R_RUNNING] == 0 in the lab)")
    got = _direct(name, fn, lambda b, f: f(b.state, 0, NDQ_BQ, 0, 2))
    if got != -22:
        raise _Fail(f"✗ ndo_xdp_xmit with flags 0x2 returned {got}, the 6.1 driver -EINVAL (-22)",
                    "    flags & ~XDP_XMIT_FLAGS_MASK: a flag this kernel does not know is refused before anything "
                    "is queued")
    lines.append("✓ a port that is down (-ENETDOWN) and an unknown flag (-EINVAL) are refused first")
    for sc in ("eth0-line", "eth0-slow"):
        _check(sc, name, fn, _explain_xmit)
    lines.append("✓ xdp_redirect eth0 eth0 at line rate (full bulks of 16 sent mid-poll without XDP_XMIT_FLUSH) and "
                 "at 50 kpps (short bulks sent by xdp_do_flush): ethtool -S, ip -s link, xdp:xdp_devmap_xmit, the "
                 "doorbells and every page match the 6.1 driver")
    s, ref = _check("eth0-full", name, fn, _explain_xmit)
    lines.append(f"✓ the TX ring full: {ref.ethtool['tx_xdp_xmit_errors']} frames your driver did not take were "
                 "counted in tx_xdp_xmit_errors and freed by the devmap, none twice")
    _check("recipe", name, fn, _explain_xmit)
    lines.append("✓ the talk's recipe, veth0 -> eth0 (xdp_redirect veth0 eth0): frames from mvneta's page_pool that "
                 "travelled through the veth pair went out of eth0 and their pages came home")
    return lines


# ================================================================ redir_ex2: veth_xdp_xmit

def _explain_veth(s, ref, keys, exc):
    out = []
    devs, rdevs = s.extra.get("devices", {}), ref.extra.get("devices", {})
    v1, rv1 = devs.get("veth1", {}), rdevs.get("veth1", {})
    nopeer = "neither XDP program nor GRO" in s.label
    if isinstance(exc, SanitizerError) or (s.leak is not None and "twice" in str(s.leak)):
        out.append("    a frame was returned twice: when veth_xdp_xmit fails or stops early the devmap "
                   "(bq_xmit_all) or veth_xdp_flush_bq frees the frames it did not take — do not free them here")
    if nopeer and (v1.get("ethtool", {}).get("rx_queue_0_xdp_packets") or v1.get("ring")
                   or s.census.get("xdp_frame")):
        out.append("    veth1 has no NAPI: no XDP program and GRO off, so nobody will ever poll its ring. 6.1 "
                   "checks rcu_access_pointer(rq->napi) (b.nd[rcv, ND_NAPI]) and fails the whole bulk with "
                   "-ENXIO: the devmap frees the frames and veth0's tx_dropped counts them — the only counter that "
                   "moves. That is why every frame redirected to such a veth is dropped: attach a program to veth1 "
                   "or `ethtool -K veth1 gro on`")
    elif nopeer and "devmap_xmit" in keys:
        out.append("    the peer has no NAPI: return -ENXIO (an error, not 0) — veth_ndo_xdp_xmit counts the whole "
                   "bulk in the sender's priv->dropped (ip -s link tx_dropped) only for an error, and "
                   "xdp:xdp_devmap_xmit shows err=-6")
    if any("frames waiting" in k for k in keys) or (s.census.get("xdp_frame", 0) > ref.census.get("xdp_frame", 0)
                                                     and not nopeer):
        out.append("    frames sit in the peer's ring: after the bulk, with XDP_XMIT_FLUSH, __veth_xdp_flush(b, rcv) "
                   "schedules the peer's NAPI (veth_poll) — without it nobody takes them off the ring")
    if "MTU is 500" in s.label:
        out.append("    a frame longer than the peer's MTU + hard_header_len + VLAN_HLEN stops the bulk "
                   "(xdp_get_frame_len(b, frame) > max_len): the peer would not accept it")
    if "ring fills" in s.label:
        out.append("    the peer's ring holds VETH_RING_SIZE (256) frames: __ptr_ring_produce() returns -ENOSPC when "
                   "it is full and the bulk stops there")
    if any("peer_tq" in k or "tx_queue_0_xdp_xmit" in k or "rx_dropped" in k or "tx_packets" in k for k in keys) \
            and not nopeer:
        out.append("    only ndo_xdp_xmit calls (ndo_xmit true) count in the peer queue's peer_tq_xdp_xmit (+= nxmit) "
                   "and peer_tq_xdp_xmit_err (+= n - nxmit), which ethtool -S shows as veth0's "
                   "tx_queue_0_xdp_xmit[_errors]; XDP_TX of veth's own poll (ndo_xmit false) counts xdp_tx/xdp_tx_err "
                   "in veth_xdp_flush_bq instead")
    return out


def _unregistered_peer(b, f):
    """veth0 whose peer veth_dellink has just cleared (priv->peer = NULL), the board's other rows full of
    veth pairs, the last with NAPI (so that code reading row -1 finds a queue that looks alive)."""
    from ..netdev import ND_PEER, NDQ_BQ
    for k in range(3):
        b.ip(f"link add veth{2 * k} type veth peer name veth{2 * k + 1}")
    last = b.dev("veth4")
    b.ip("link set veth4 up")
    last.attach("drop")
    v0 = b.dev("veth0")
    b.state.nd[v0.row, ND_PEER] = -1
    return f(b.state, v0.row, v0.row, NDQ_BQ, 0, 1, True)


def _check_veth_xdp_xmit(fn):
    name = "veth_xdp_xmit"
    lines = []
    from ..netdev import NDQ_BQ
    got = _direct(name, fn, lambda b, f: (b.ip("link add veth0 type veth peer name veth1"),
                                          f(b.state, b.dev("veth0").row, b.dev("veth0").row, NDQ_BQ, 0, 2, True))[1])
    if got != -22:
        raise _Fail(f"✗ veth_xdp_xmit with flags 0x2 returned {got}, the 6.1 driver -EINVAL (-22)",
                    "    flags & ~XDP_XMIT_FLAGS_MASK first: a flag this kernel does not know is refused")
    got = _direct(name, fn, _unregistered_peer)
    if got != -6:
        raise _Fail(f"✗ veth_xdp_xmit while the peer is being unregistered (veth_dellink has cleared priv->peer) "
                    f"returned {got}, the 6.1 driver -ENXIO (-6)",
                    "    rcv = rcu_dereference(priv->peer) may be NULL (b.nd[dev, ND_PEER] < 0): return -ENXIO before "
                    "touching the peer's queue")
    lines.append("✓ unknown flags (-EINVAL) and a peer being unregistered (-ENXIO) are refused first")
    _check("veth-nopeer", name, fn, _explain_veth)
    ref = _reference("veth-nopeer")
    n = ref.extra["devices"]["veth0"]["netdev"]["tx_dropped"]
    lines.append(f"✓ veth1 with neither XDP program nor GRO: all {n} frames refused with -ENXIO "
                 "(xdp:xdp_devmap_xmit err=-6), counted in veth0's tx_dropped only, and freed by the devmap")
    for sc in ("veth-drop", "veth-gro"):
        _check(sc, name, fn, _explain_veth)
    lines.append("✓ an XDP program on veth1 (at line rate), then GRO only: the frames land in veth1's ring, its NAPI "
                 "runs, tx_queue_0_xdp_xmit / rx_queue_0_* and every page match 6.1")
    _check("veth-mtu", name, fn, _explain_veth)
    lines.append("✓ a frame of the peer's MTU + 14 + 4 bytes goes in, one byte more stops the bulk (peer_tq_xdp_xmit_err)")
    s, ref = _check("veth-full", name, fn, _explain_veth)
    lines.append(f"✓ XDP_TX from veth1 back into veth0's ring (ndo_xmit false): it holds 256, "
                 f"{ref.extra['devices']['veth1']['ethtool']['rx_queue_0_xdp_tx_errors']} more were refused and "
                 "freed by veth_xdp_flush_bq")
    _check("recipe", name, fn, _explain_veth)
    lines.append("✓ the talk's recipe (veth1 sends into veth0, xdp_redirect veth0 eth0): every frame out of eth0")
    return lines


EXERCISES = {
    "redir_ex1": Exercise("redir_ex1", "mvneta_xdp_xmit", "03-xdp-tx-and-redirect", "ch03_xdp_tx_and_redirect.py",
                          _check_mvneta_xdp_xmit, "mvneta as a redirect target: ndo_xdp_xmit"),
    "redir_ex2": Exercise("redir_ex2", "veth_xdp_xmit", "03-xdp-tx-and-redirect", "ch03_xdp_tx_and_redirect.py",
                          _check_veth_xdp_xmit, "veth as a redirect target, and the peer rule"),
}

"""DEVMAP and DEVMAP_HASH on the send side (kernel/bpf/devmap.c, Linux 6.1): bulk queues and flush.

Every device that can be a redirect target has, per CPU, a ``struct xdp_dev_bulk_queue``
of ``DEV_MAP_BULK_SIZE`` (16) frames: ``bq_enqueue`` appends a frame (sending the full
queue first with ``bq_xmit_all(bq, 0)``), and the first frame of a round puts the queue on
the CPU's flush list and records its ``dev_rx`` and the devmap entry's egress program.
``xdp_do_flush`` -> ``_dev_flush`` sends each listed queue with ``XDP_XMIT_FLUSH``.

``bq_xmit_all`` runs the devmap program (section ``xdp/devmap``, 5.13+) on the frames
first, then calls the target's ``ndo_xdp_xmit(dev, n, frames, flags)``, which returns how
many frames it took from the head of the array, or ``-errno`` for none; every frame it
did not take goes back through ``xdp_return_frame_rx_napi`` (5.13+: the devmap frees,
not the driver).  Then ``xdp:xdp_devmap_xmit`` (``from_ifindex``, ``to_ifindex``,
``sent``, ``drops``, ``err``).

``__xdp_enqueue`` (``dev_map_enqueue``, ``dev_xdp_enqueue`` for ``bpf_redirect``)
checks, in 6.1's order: the device has an ``ndo_xdp_xmit`` (``-EOPNOTSUPP``), is up
(``-ENETDOWN``) and the frame fits its MTU + 14 + 4 (``-EMSGSIZE``).

The lab's DEVMAP entries are the devices of the root namespace (where ``Map.update`` runs;
``dev_map_update_elem`` refuses an ifindex with no device there, ``-EINVAL``), and an egress
program is a program of the board's eBPF object whose section is ``xdp/devmap``: the entry's
``bpf_devmap_val.bpf_prog`` holds its id (the lab's id: its index in the object + 1).
Frames are per-CPU as in 6.1, but every redirect on the A3720 runs on CPU 0.
"""

from __future__ import annotations

import numpy as np

from ._layout import R_DEV_FLUSH, R_DEV_FLUSH_N, R_PROG_ID, R_PROG_KIND, R_WARNED_INVALID
from ._twospeed import kernel
from .bpf.maps import bpf_map_value_offset
from .bpf.state import EL_USED, MAP_EBASE, MAP_ID, MAP_MAX_ENTRIES, MAP_TYPE, MAP_VALUE_SIZE, MAP_VBASE, SCRATCH_OFF
from .errno import EINVAL, ENOMEM, EOPNOTSUPP
from .mm import PG_XDP_FRAME, PGF_WHERE
from .xdp import xdp_convert_frame_to_buff, xdp_get_frame_len, xdp_return_frame_rx_napi, xdp_update_frame_from_buff, xdpf_clone
from .xdp_abi import (PAGE_SIZE, XB_EGRESS_IFINDEX, XB_INGRESS_IFINDEX, XB_RX_QUEUE_INDEX, XDP_ABORTED, XDP_DROP,
                      XDP_PASS)

__all__ = ["bq_enqueue", "bq_xmit_all", "dev_map_enqueue", "dev_xdp_enqueue", "dev_map_enqueue_multi",
           "dev_map_bpf_prog_run", "ndo_xdp_xmit", "devmap_find_map", "devmap_entry_prog"]


@kernel
def devmap_find_map(b, map_id):
    """The board object's map with id ``map_id`` (its row in bpf.maps), or -1."""
    mp = b.bpf.maps
    for m in range(mp.shape[0]):
        if mp[m, MAP_ID] == map_id:
            return m
    return -1


@kernel
def _u32_at(um, o):
    return (np.int64(um[o]) | (np.int64(um[o + 1]) << 8) | (np.int64(um[o + 2]) << 16)
            | (np.int64(um[o + 3]) << 24))


@kernel
def devmap_entry_prog(b, m, e):
    """The egress program of devmap slot ``e`` (``bpf_devmap_val.bpf_prog.id`` - 1: a program index),
    or -1: none (a 4-byte value, or id 0)."""
    bs = b.bpf
    if bs.maps[m, MAP_VALUE_SIZE] < 8:
        return -1
    vo = bs.maps[m, MAP_VBASE] + bpf_map_value_offset(bs, m, e, 0) + 4
    return _u32_at(bs.umem, vo) - 1


@kernel
def _devmap_entry_ifindex(b, m, e):
    bs = b.bpf
    vo = bs.maps[m, MAP_VBASE] + bpf_map_value_offset(bs, m, e, 0)
    return _u32_at(bs.umem, vo)


@kernel
def _devmap_key_prog(b, map_id, key):
    """The egress program of the devmap entry at ``key`` (the entry bpf_redirect_map found)."""
    m = devmap_find_map(b, map_id)
    if m < 0:
        return -1
    bs = b.bpf
    for i in range(4):
        bs.umem[SCRATCH_OFF + i] = (key >> (8 * i)) & 0xFF
    e = bpf_map_lookup_slot(bs, m, bs.umem, SCRATCH_OFF, 0)
    if e < 0:
        return -1
    return devmap_entry_prog(b, m, e)


@kernel
def ndo_xdp_xmit(b, d, n, flags):
    """dev->netdev_ops->ndo_xdp_xmit(dev, n, bq->q, flags) of device row ``d``, its frames in
    ``b.ndq[d, NDQ_BQ:]``: the number of frames taken, or -errno."""
    k = b.nd[d, ND_KIND]
    if k == ND_KIND_MVNETA:
        return mvneta_xdp_xmit(b, d, NDQ_BQ, n, flags)
    if k == ND_KIND_VETH:
        return veth_ndo_xdp_xmit(b, d, d, NDQ_BQ, n, flags)
    return -EOPNOTSUPP


@kernel
def _run_prog_on(b, xdp, kind, pid):
    """bpf_prog_run_xdp with another device's program (the driver's run reads eth0's slot)."""
    k0 = b.r[R_PROG_KIND]
    p0 = b.r[R_PROG_ID]
    b.r[R_PROG_KIND] = kind
    b.r[R_PROG_ID] = pid
    act = bpf_prog_run_xdp(b, xdp)
    b.r[R_PROG_KIND] = k0
    b.r[R_PROG_ID] = p0
    return act


@kernel
def dev_map_bpf_prog_run(b, d, n, dev_rx, prog):
    """dev_map_bpf_prog_run: the devmap program on each frame; returns how many stay to be sent
    (PASS, compacted to the front), the others freed with xdp_return_frame_rx_napi."""
    xdp = b.xdpx[1]
    nframes = 0
    for i in range(n):
        frame = b.ndq[d, NDQ_BQ + i]
        xdp_convert_frame_to_buff(b, frame, xdp)
        xdp[XB_EGRESS_IFINDEX] = b.nd[d, ND_IFINDEX]       # xdp.txq = { .dev = tx_dev }
        xdp[XB_INGRESS_IFINDEX] = b.nd[dev_rx, ND_IFINDEX]  # xdp.rxq = { .dev = rx_dev }
        xdp[XB_RX_QUEUE_INDEX] = 0
        act = _run_prog_on(b, xdp, PROG_BPF, prog)
        if act == XDP_PASS:
            if xdp_update_frame_from_buff(b, xdp, frame) < 0:
                xdp_return_frame_rx_napi(b, frame)
            else:
                b.ndq[d, NDQ_BQ + nframes] = frame
                nframes += 1
            continue
        if act != XDP_ABORTED and act != XDP_DROP:
            # bpf_warn_invalid_xdp_action(NULL, prog, act): XDP_TX and XDP_REDIRECT are invalid here too
            if b.r[R_WARNED_INVALID] == 0:
                b.r[R_WARNED_INVALID] = 1
                printk(b, cpu_now(b), 3, act, prog, 0)
        if act != XDP_DROP:
            netdev_trace(b, EV_XDP_EXCEPTION, -1, frame // PAGE_SIZE, act, 0, 0)   # trace_xdp_exception(tx_dev)
        xdp_return_frame_rx_napi(b, frame)
    return nframes


@kernel
def bq_xmit_all(b, d, flags):
    """bq_xmit_all(bq, flags): egress program, ndo_xdp_xmit, free what was not sent, trace."""
    cnt = b.nd[d, ND_BQ_COUNT]
    if cnt == 0:
        return
    dev_rx = b.nd[d, ND_BQ_DEV_RX] - 1
    sent = 0
    err = 0
    to_send = cnt
    if b.nd[d, ND_BQ_PROG] > 0:
        to_send = dev_map_bpf_prog_run(b, d, cnt, dev_rx, b.nd[d, ND_BQ_PROG] - 1)
    if to_send > 0:
        sent = ndo_xdp_xmit(b, d, to_send, flags)
        if sent < 0:
            err = sent                         # no frame was transmitted
            sent = 0
        for i in range(sent, to_send):         # not sent: the devmap frees them (5.13+)
            xdp_return_frame_rx_napi(b, b.ndq[d, NDQ_BQ + i])
    b.nd[d, ND_BQ_COUNT] = 0
    netdev_trace(b, EV_XDP_DEVMAP_XMIT, b.nd[dev_rx, ND_IFINDEX] if dev_rx >= 0 else 0, b.nd[d, ND_IFINDEX], sent,
                 cnt - sent, err)


@kernel
def _dev_flush(b):
    """__dev_flush: bq_xmit_all(bq, XDP_XMIT_FLUSH) for every queue on the flush list, newest first."""
    n = b.r[R_DEV_FLUSH_N]
    for i in range(n - 1, -1, -1):             # list_add puts a queue at the head
        d = b.r[R_DEV_FLUSH + i]
        bq_xmit_all(b, d, XDP_XMIT_FLUSH)
        b.nd[d, ND_BQ_DEV_RX] = 0
        b.nd[d, ND_BQ_PROG] = 0
    b.r[R_DEV_FLUSH_N] = 0


@kernel
def bq_enqueue(b, d, frame, dev_rx, prog):
    """bq_enqueue(dev, xdpf, dev_rx, xdp_prog): append to the device's bulk queue; a full queue is
    sent first (without XDP_XMIT_FLUSH); the round's first frame lists the queue for flushing."""
    if b.nd[d, ND_BQ_COUNT] == DEV_MAP_BULK_SIZE:
        bq_xmit_all(b, d, 0)
    if b.nd[d, ND_BQ_DEV_RX] == 0:
        b.nd[d, ND_BQ_DEV_RX] = dev_rx + 1
        b.nd[d, ND_BQ_PROG] = prog + 1
        b.r[R_DEV_FLUSH + b.r[R_DEV_FLUSH_N]] = d
        b.r[R_DEV_FLUSH_N] += 1
    c = b.nd[d, ND_BQ_COUNT]
    b.ndq[d, NDQ_BQ + c] = frame
    b.nd[d, ND_BQ_COUNT] = c + 1
    b.pg[frame // PAGE_SIZE, PGF_WHERE] = PG_XDP_FRAME
    netdev_trace(b, EV_BQ_ENQUEUE, b.nd[d, ND_IFINDEX], frame // PAGE_SIZE, c + 1, b.nd[dev_rx, ND_IFINDEX], 0)


@kernel
def _xdp_enqueue(b, d, frame, dev_rx, prog):
    """__xdp_enqueue (6.1): the target needs an ndo_xdp_xmit, must be up, and the frame must fit."""
    if not netdev_has_ndo_xdp_xmit(b, d):
        return -EOPNOTSUPP
    err = xdp_ok_fwd_dev(b, d, xdp_frame_field(b, frame, XDPF_LEN))
    if err != 0:
        return err
    bq_enqueue(b, d, frame, dev_rx, prog)
    return 0


@kernel
def dev_xdp_enqueue(b, d, frame, dev_rx):
    """dev_xdp_enqueue(dev, xdpf, dev_rx): bpf_redirect's target, no egress program."""
    return _xdp_enqueue(b, d, frame, dev_rx, -1)


@kernel
def dev_map_enqueue(b, d, frame, dev_rx, map_id, key):
    """dev_map_enqueue(dst, xdpf, dev_rx): the entry's device, with the entry's egress program."""
    if d < 0:
        return -EINVAL                         # the entry's device is gone (cannot happen on the board)
    prog = -1
    if b.nd[d, ND_BQ_DEV_RX] == 0:             # only the round's first frame records the program
        prog = _devmap_key_prog(b, map_id, key)
    return _xdp_enqueue(b, d, frame, dev_rx, prog)


@kernel
def _is_valid_dst(b, d, frame):
    if d < 0 or not netdev_has_ndo_xdp_xmit(b, d):
        return False
    return xdp_ok_fwd_dev(b, d, xdp_frame_field(b, frame, XDPF_LEN)) == 0


@kernel
def dev_map_enqueue_multi(b, frame, dev_rx, map_id, exclude_ingress):
    """dev_map_enqueue_multi (BPF_F_BROADCAST): a clone (xdpf_clone) to every valid entry but the
    last, which gets the frame itself; an empty map frees it.  BPF_F_EXCLUDE_INGRESS skips the
    receiving device (it has no upper devices on the board).  DEVMAP_HASH entries are visited in
    slot order (6.1: bucket order)."""
    m = devmap_find_map(b, map_id)
    if m < 0:
        xdp_return_frame_rx_napi(b, frame)
        return 0
    bs = b.bpf
    base = bs.maps[m, MAP_EBASE]
    last = -1
    last_e = -1
    rx_ifindex = b.nd[dev_rx, ND_IFINDEX]
    rx_ns = b.nd[dev_rx, ND_NETNS]
    for e in range(base, base + bs.maps[m, MAP_MAX_ENTRIES]):
        if bs.elems[e, EL_USED] == 0:
            continue
        d = dev_get_by_index(b, 0, _devmap_entry_ifindex(b, m, e))
        if not _is_valid_dst(b, d, frame):
            continue
        if exclude_ingress and b.nd[d, ND_IFINDEX] == rx_ifindex and b.nd[d, ND_NETNS] == rx_ns:
            continue
        if last < 0:
            last = d
            last_e = e
            continue
        nf = xdpf_clone(b, frame)
        if nf < 0:
            return -ENOMEM
        bq_enqueue(b, last, nf, dev_rx, devmap_entry_prog(b, m, last_e) if b.nd[last, ND_BQ_DEV_RX] == 0 else -1)
        last = d
        last_e = e
    if last >= 0:
        bq_enqueue(b, last, frame, dev_rx, devmap_entry_prog(b, m, last_e) if b.nd[last, ND_BQ_DEV_RX] == 0 else -1)
    else:
        xdp_return_frame_rx_napi(b, frame)     # the map is empty
    return 0


# the cycle core -> devmap -> drivers -> core: imported after this module's kernels (see xdplab.redirect)
from .bpf.maps import bpf_map_lookup_slot  # noqa: E402
from .cost import cpu_now  # noqa: E402
from .netdev import (DEV_MAP_BULK_SIZE, ND_BQ_COUNT, ND_BQ_DEV_RX, ND_BQ_PROG, ND_IFINDEX, ND_KIND, ND_NETNS,  # noqa: E402
                     ND_KIND_MVNETA, ND_KIND_VETH, NDQ_BQ, dev_get_by_index, netdev_has_ndo_xdp_xmit, netdev_trace,
                     xdp_ok_fwd_dev)
from .nic.mvneta import mvneta_xdp_xmit  # noqa: E402
from .nic.veth import veth_ndo_xdp_xmit  # noqa: E402
from .printk import printk  # noqa: E402
from .progs import PROG_BPF, bpf_prog_run_xdp  # noqa: E402
from .redirect import XDP_XMIT_FLUSH  # noqa: E402
from .trace import EV_BQ_ENQUEUE, EV_XDP_DEVMAP_XMIT, EV_XDP_EXCEPTION  # noqa: E402
from .xdp import XDPF_LEN, xdp_frame_field  # noqa: E402

"""XDP_REDIRECT in the core (net/core/filter.c, Linux 6.1): ``xdp_do_redirect`` and ``xdp_do_flush``.

A program that returns ``XDP_REDIRECT`` has already said where to with a helper:
``bpf_redirect(ifindex, 0)`` or ``bpf_redirect_map(map, key, flags)`` wrote this CPU's
``struct bpf_redirect_info`` (the eBPF VM keeps it in ``b.env[ENV_RI_*]``: target index,
map id, map type, flags, the looked-up value).  The driver then calls
``xdp_do_redirect(dev, xdp, prog)``, which

1. refuses a multi-buffer frame unless the target is a CPUMAP (``-EOPNOTSUPP``, before
   anything else and without a tracepoint: 6.1 cannot ``ndo_xdp_xmit`` frags);
2. converts the buff into an ``xdp_frame`` in its own headroom (``-EOVERFLOW`` if it
   does not fit), clears the map id and type, and dispatches on the map type:
   DEVMAP / DEVMAP_HASH -> ``dev_map_enqueue`` (or ``dev_map_enqueue_multi`` with
   ``BPF_F_BROADCAST``), CPUMAP -> ``cpu_map_enqueue``, none with map id ``INT_MAX`` (a
   ``bpf_redirect``) -> the device with that ifindex in the receiving device's namespace
   (``-EINVAL`` if none) and ``dev_xdp_enqueue``; anything else ``-EBADRQC``;
3. traces ``xdp:xdp_redirect`` or ``xdp:xdp_redirect_err`` (fields ``ifindex``,
   ``to_ifindex``, ``err``, ``map_id``, ``map_index``) and returns 0 or the error.

On an error the *driver* still owns the buffer and must free it (mvneta recycles it).
On success the frame waits in a per-CPU bulk queue until the driver calls
``xdp_do_flush()`` at the end of its NAPI poll (``xdp_do_flush_map`` is 6.1's alias, the
name mvneta still uses), which sends every queue on the flush lists: ``_dev_flush``
(``xdplab.devmap``), ``__cpu_map_flush``, ``__xsk_map_flush``.

The other map types: CPUMAP is ``xdplab.cpumap`` (``cpu_map_enqueue``, ``__cpu_map_flush``);
``_xsk_map_redirect`` is AF_XDP's plug point (not modelled: a redirect into an XSKMAP fails
with ``-EOPNOTSUPP``).
"""

from __future__ import annotations

from ._layout import R_CPUMAP_ACTIVE, R_DEV_FLUSH_N, R_NAPI_DEV
from ._twospeed import kernel
from .cost import C_REDIRECT, C_XDP_FLUSH, charge
from .errno import EBADRQC, EINVAL, EOPNOTSUPP, EOVERFLOW
from .xdp import xdp_convert_buff_to_frame
from .xdp_abi import (ENV_RI_FLAGS, ENV_RI_MAP_ID, ENV_RI_MAP_TYPE, ENV_RI_TGT_INDEX, ENV_RI_TGT_VALUE, XB_FLAGS,
                      XDP_FLAGS_HAS_FRAGS)

__all__ = ["xdp_do_redirect", "xdp_do_flush", "xdp_do_flush_map", "BPF_MAP_TYPE_DEVMAP", "BPF_MAP_TYPE_DEVMAP_HASH",
           "BPF_MAP_TYPE_CPUMAP", "BPF_MAP_TYPE_XSKMAP", "BPF_F_BROADCAST", "BPF_F_EXCLUDE_INGRESS", "INT_MAX",
           "XDP_XMIT_FLUSH", "XDP_XMIT_FLAGS_MASK"]

BPF_MAP_TYPE_DEVMAP = 14
BPF_MAP_TYPE_CPUMAP = 16
BPF_MAP_TYPE_XSKMAP = 17
BPF_MAP_TYPE_DEVMAP_HASH = 25
BPF_F_BROADCAST = 1 << 3
BPF_F_EXCLUDE_INGRESS = 1 << 4
INT_MAX = 0x7FFFFFFF
XDP_XMIT_FLUSH = 1 << 0
XDP_XMIT_FLAGS_MASK = XDP_XMIT_FLUSH


@kernel
def _xsk_map_redirect(b, xdp):
    """__xdp_do_redirect_xsk: AF_XDP is not modelled; the redirect fails (-EOPNOTSUPP)."""
    return -EOPNOTSUPP


@kernel
def _trace_xdp_redirect(b, dev, to, err, map_type, map_id, index):
    """trace_xdp_redirect / trace_xdp_redirect_err (_trace_xdp_redirect_map{,_err}): to_ifindex is
    the device for a devmap (0 for a broadcast), the ifindex for bpf_redirect (map_index 0 then)."""
    to_ifindex = 0
    map_index = index
    if map_type == BPF_MAP_TYPE_DEVMAP or map_type == BPF_MAP_TYPE_DEVMAP_HASH:
        if to >= 0:
            to_ifindex = b.nd[to, ND_IFINDEX]
    elif map_type == 0 and map_id == INT_MAX:
        to_ifindex = index
        map_index = 0
    netdev_trace(b, EV_XDP_REDIRECT if err == 0 else EV_XDP_REDIRECT_ERR, b.nd[dev, ND_IFINDEX], to_ifindex, err,
                 map_id, map_index)


@kernel
def xdp_do_redirect(b, xdp):
    """xdp_do_redirect(dev, xdp, prog): queue the buff as a frame where the program's helper said.
    0, or -errno with the buffer still the driver's to free.  ``dev`` is the device whose NAPI
    poll is running (``R_NAPI_DEV``)."""
    charge(b, C_REDIRECT)
    env = b.env
    map_type = env[ENV_RI_MAP_TYPE]
    # 5.18-6.2: no ndo_xdp_xmit takes frags; only a CPUMAP (which builds an skb) may
    if (xdp[XB_FLAGS] & XDP_FLAGS_HAS_FRAGS) != 0 and map_type != BPF_MAP_TYPE_CPUMAP:
        return -EOPNOTSUPP
    if map_type == BPF_MAP_TYPE_XSKMAP:
        return _xsk_map_redirect(b, xdp)
    frame = xdp_convert_buff_to_frame(b, xdp)     # a CPUMAP's frame keeps its frags for the remote skb
    return _xdp_do_redirect_frame(b, frame)


@kernel
def _xdp_do_redirect_frame(b, frame):
    """__xdp_do_redirect_frame: read and clear the redirect info, enqueue by map type, trace.  A
    CPUMAP target here; every other target in ``_xdp_do_redirect_frame_dev``."""
    env = b.env
    map_type = env[ENV_RI_MAP_TYPE]
    dev = b.r[R_NAPI_DEV]
    if frame < 0 or map_type != BPF_MAP_TYPE_CPUMAP:
        return _xdp_do_redirect_frame_dev(b, frame, dev)
    map_id = env[ENV_RI_MAP_ID]
    index = env[ENV_RI_TGT_INDEX]
    fwd = env[ENV_RI_TGT_VALUE]
    env[ENV_RI_MAP_ID] = 0                     # valid map ids are [1, INT_MAX[
    env[ENV_RI_MAP_TYPE] = 0
    if fwd < 0 or fwd >= NR_CPUS or b.cpumap[fwd, CMF_QSIZE] == 0:
        err = -EINVAL                           # no entry (the helper's lookup normally caught it)
    else:
        err = cpu_map_enqueue(b, fwd, frame, dev)
    _trace_xdp_redirect(b, dev, -1, err, map_type, map_id, index)
    return err


@kernel
def _xdp_do_redirect_frame_dev(b, frame, dev):
    """__xdp_do_redirect_frame for every target but a CPUMAP (a frame < 0: -EOVERFLOW), ``dev`` the
    receiving device's row.  Also what a CPUMAP kthread's program reaches (``xdplab.cpumap``):
    nothing from here leads back to ``cpu_map_enqueue``, so the kthread, which that enqueue runs,
    calls no kernel that calls it (numba compiles no call cycle)."""
    env = b.env
    map_type = env[ENV_RI_MAP_TYPE]
    map_id = env[ENV_RI_MAP_ID]
    index = env[ENV_RI_TGT_INDEX]
    fwd = env[ENV_RI_TGT_VALUE]
    flags = env[ENV_RI_FLAGS]
    env[ENV_RI_MAP_ID] = 0                     # valid map ids are [1, INT_MAX[
    env[ENV_RI_MAP_TYPE] = 0
    to = -1
    if frame < 0:
        err = -EOVERFLOW
    elif map_type == BPF_MAP_TYPE_DEVMAP or map_type == BPF_MAP_TYPE_DEVMAP_HASH:
        if flags & BPF_F_BROADCAST:
            env[ENV_RI_FLAGS] = 0
            err = dev_map_enqueue_multi(b, frame, dev, map_id, (flags & BPF_F_EXCLUDE_INGRESS) != 0)
        else:
            # the entry holds the device it was given at update time (the map's netns: the root's)
            to = dev_get_by_index(b, 0, fwd)
            err = dev_map_enqueue(b, to, frame, dev, map_id, index)
    elif map_type == 0 and map_id == INT_MAX:
        to = dev_get_by_index(b, b.nd[dev, ND_NETNS], index)
        if to < 0:
            err = -EINVAL
        else:
            err = dev_xdp_enqueue(b, to, frame, dev)
    else:
        err = -EBADRQC
    _trace_xdp_redirect(b, dev, to, err, map_type, map_id, index)
    return err


@kernel
def xdp_do_flush(b):
    """xdp_do_flush: send what this poll's redirects queued (_dev_flush, __cpu_map_flush,
    __xsk_map_flush).  A driver must call it before its NAPI poll returns."""
    charge(b, C_XDP_FLUSH)
    if b.r[R_DEV_FLUSH_N] > 0:
        _dev_flush(b)
    if b.r[R_CPUMAP_ACTIVE] != 0:
        _cpu_map_flush(b)


@kernel
def xdp_do_flush_map(b):
    """xdp_do_flush_map: in 6.1 a define for xdp_do_flush (include/linux/filter.h), the name mvneta calls."""
    xdp_do_flush(b)


# the redirect core calls the devmap, the devmap the drivers' ndo_xdp_xmit, the drivers the core:
# each module of that cycle imports the others after defining its own kernels (numba and the python
# copies look names up when they compile or copy, after every import has finished)
from .devmap import _dev_flush, dev_map_enqueue, dev_map_enqueue_multi, dev_xdp_enqueue  # noqa: E402
from .netdev import ND_IFINDEX, ND_NETNS, dev_get_by_index, netdev_trace  # noqa: E402
from .trace import EV_XDP_REDIRECT, EV_XDP_REDIRECT_ERR  # noqa: E402
from .cpumap import CMF_QSIZE, NR_CPUS, _cpu_map_flush, cpu_map_enqueue  # noqa: E402

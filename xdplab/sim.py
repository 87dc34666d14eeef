"""The board's event loop: the NIC delivers frames as they arrive, interrupts start NAPI, CPU 0 polls.

RX interrupts go to CPU 0 only (the A3720 has no RSS and one NAPI per port).  CPU 1 works only
for a CPUMAP entry's kthread (``xdplab.cpumap``): after each poll it runs up to CPU 0's clock,
and once the wire is quiet it empties its ring.

Time is each CPU's own clock (``cpu_now(b)``: ``b.r[R_CLOCK + cpu]`` plus, for the CPU running,
the charges not yet settled into it, see ``xdplab.cost.cpu_clock``); the NIC catches up with
the CPU before every poll and the driver's work advances the CPU's clock by
the cycles it costs.  An idle CPU jumps to the next interrupt.
"""

from __future__ import annotations

import numpy as np

from ._layout import R_CPUMAP_ACTIVE, R_INJ_NEXT, R_IN_SOFTIRQ, R_NAPI_SCHED, R_PP_NDESTROYING, R_RUNNING
from ._twospeed import kernel
from .cost import cpu_clock, cpu_clock_settle, cpu_idle_until, cpu_now, cpu_switch
from .cpumap import cpu_map_run_kthreads
from .nic.mvneta import NAPI_POLL_WEIGHT, mvneta_isr, mvneta_poll
from .nic.mvneta_hw import mvneta_hw_next_irq, mvneta_hw_rx
from .nic.veth import veth_inject_one, veth_napi_run
from .netdev import ND_NAPI_SCHED
from .page_pool import PP_DESTROYING, PPF_STATE, page_pool_release_retry

__all__ = ["sim_run", "sim_inject"]


@kernel
def sim_run(b, max_polls):
    """Run until every frame on the wire is handled (or ``max_polls`` polls). Returns polls done."""
    cpu_switch(b, 0)
    polls = 0
    while polls < max_polls:
        if b.r[R_RUNNING] == 0:
            break
        now = cpu_now(b)
        mvneta_hw_rx(b, now)
        if b.r[R_NAPI_SCHED] == 0:
            t = mvneta_hw_next_irq(b, now)
            if t == np.inf:
                break
            cpu_idle_until(b, t)                 # idle until the interrupt
            mvneta_hw_rx(b, cpu_now(b))
            mvneta_isr(b)
        b.r[R_IN_SOFTIRQ] = 1                    # net_rx_action: NAPI polls in softirq context
        mvneta_poll(b, NAPI_POLL_WEIGHT)
        for d in range(b.nd.shape[0]):           # NAPIs eth0's poll scheduled (a veth its redirects reached)
            if b.nd[d, ND_NAPI_SCHED] != 0:
                veth_napi_run(b)
                break
        b.r[R_IN_SOFTIRQ] = 0
        polls += 1
        if b.r[R_CPUMAP_ACTIVE] != 0:            # CPUMAP kthreads: CPU 1's up to CPU 0's clock, CPU 0's now
            cpu_map_run_kthreads(b, cpu_clock(b, 0))
        if b.r[R_PP_NDESTROYING] > 0:            # the workqueue: deferred page_pool release
            for p in range(b.pp.shape[0]):
                if b.pp[p, PPF_STATE] == PP_DESTROYING:
                    page_pool_release_retry(b, p, cpu_now(b))
    if b.r[R_CPUMAP_ACTIVE] != 0:                # the wire is quiet: the kthreads empty their rings
        cpu_map_run_kthreads(b, np.int64(1) << 62)
    cpu_clock_settle(b)                      # R_CLOCK exact for whoever reads it next
    return polls


@kernel
def _softirq(b):
    """net_rx_action on CPU 0: the NAPIs scheduled (eth0's, the veths')."""
    b.r[R_IN_SOFTIRQ] = 1
    if b.r[R_NAPI_SCHED] != 0:
        mvneta_poll(b, NAPI_POLL_WEIGHT)
    for d in range(b.nd.shape[0]):
        if b.nd[d, ND_NAPI_SCHED] != 0:
            veth_napi_run(b)
            break
    b.r[R_IN_SOFTIRQ] = 0


@kernel
def sim_inject(b, dev, max_polls):
    """NetDev.inject: a sender on CPU 0 sends ``b.wire``'s frames into device row ``dev`` at their times
    (or as soon as the CPU is free), each through veth_xmit; the softirq that its dev_queue_xmit's
    rcu_read_unlock_bh runs polls the NAPIs the send scheduled (the peer's veth_poll).  eth0's
    interrupts (TX completion of frames redirected to it) are taken when they fire.  The MAC receives
    nothing (the caller set ``R_WIRE_NEXT`` past the end).  Returns the sends done (at most ``max_polls``)."""
    cpu_switch(b, 0)
    n = b.wire.shape[0]
    sends = 0
    for _ in range(1 << 40):
        if b.r[R_NAPI_SCHED] != 0:               # eth0's poll did not complete: it runs again
            _softirq(b)
            continue
        now = cpu_now(b)
        k = b.r[R_INJ_NEXT]
        t_send = np.inf
        if k < n and sends < max_polls:
            t_send = b.wire[k, 0]
            if t_send < now:
                t_send = now
        t_irq = np.inf
        if b.r[R_RUNNING] != 0 and b.r[R_NAPI_SCHED] == 0:
            t_irq = mvneta_hw_next_irq(b, now)
        if t_send == np.inf and t_irq == np.inf:
            break
        if t_irq <= t_send:
            cpu_idle_until(b, t_irq)
            mvneta_isr(b)
        else:
            cpu_idle_until(b, t_send)
            veth_inject_one(b, dev, k)
            b.r[R_INJ_NEXT] = k + 1
            sends += 1
        _softirq(b)
        if b.r[R_PP_NDESTROYING] > 0:            # the workqueue: deferred page_pool release
            for p in range(b.pp.shape[0]):
                if b.pp[p, PPF_STATE] == PP_DESTROYING:
                    page_pool_release_retry(b, p, cpu_now(b))
    cpu_clock_settle(b)
    return sends

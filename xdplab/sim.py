"""The board's event loop: the NIC delivers frames as they arrive, interrupts start NAPI, CPU 0 polls.

Time is each CPU's own clock (``Cpu.now_ns``); the NIC catches up with the
CPU before every poll and the driver's work advances the CPU's clock by the
cycles it costs.  An idle CPU jumps to the next interrupt.
"""

from __future__ import annotations

import numpy as np

from ._twospeed import kernel
from .nic.mvneta import NAPI_POLL_WEIGHT, mvneta_isr, mvneta_poll
from .nic.mvneta_hw import mvneta_hw_next_irq, mvneta_hw_rx
from .page_pool import PP_DESTROYING, page_pool_release_retry

__all__ = ["sim_run"]


@kernel
def sim_run(b, max_polls):
    """Run until every frame on the wire is handled (or ``max_polls`` polls). Returns polls done."""
    cpu = b.cpu
    cpu.cur[0] = 0
    port = b.port
    polls = 0
    while polls < max_polls:
        if port.running[0] == 0:
            break
        now = cpu.now_ns[0]
        mvneta_hw_rx(b, now)
        if port.napi_sched[0] == 0:
            t = mvneta_hw_next_irq(b, now)
            if t == np.inf:
                break
            if t > now:
                cpu.now_ns[0] = t                # idle until the interrupt
            mvneta_hw_rx(b, cpu.now_ns[0])
            mvneta_isr(b)
        mvneta_poll(b, NAPI_POLL_WEIGHT)
        polls += 1
        for p in range(b.pools.state.shape[0]):   # the workqueue: deferred page_pool release
            if b.pools.state[p] == PP_DESTROYING:
                page_pool_release_retry(b, p, cpu.now_ns[0])
    return polls

"""xdplab_widgets: ipywidgets + bqplot views of an xdplab trace (the core never imports this package).

    from xdplab import Board
    from xdplab_widgets import Lab
    b = Board(prog="drop", trace=20000)
    b.run(packets=2000)
    Lab(b, start="napi_poll")   # player + RX ring, code, xdp_buff, page_pool; ethtool -S below

Each view (``RxRingView``, ``CodeView``, ``XdpBuffView``, ``PagePoolView``,
``CountersView``; ``RedirectView`` and ``TxRingView`` for traces with XDP_REDIRECT or TX
descriptors; ``CpuView`` and ``CpumapView`` for a CPUMAP, ``cpuviews.py``) takes the replayed
:class:`Frames` and can be driven by a :class:`Player` on its own.  The player steps in the page (``stepper.py``:
every view's values for every frame sent once) when anywidget is installed,
through the kernel otherwise (``stepping=``).
"""

from .frames import DESC_STATE_NAMES, Frames, PoolLife, frames_from_board, frames_from_trace
from .lab import Lab, lab
from .player import Player
from .views import CodeView, CountersView, NapiLoopView, PagePoolView, RxRingView, TxRingView, XdpBuffView
from .cpuviews import CpumapView, CpuView, cpu_load_state, cpumap_state

__all__ = ["Frames", "PoolLife", "frames_from_trace", "frames_from_board", "DESC_STATE_NAMES", "Lab", "lab", "Player",
           "RxRingView", "CodeView", "NapiLoopView", "XdpBuffView", "PagePoolView", "CountersView", "TxRingView",
           "CpuView", "CpumapView", "cpu_load_state", "cpumap_state"]

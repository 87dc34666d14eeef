"""xdplab: learn to add XDP support to a NIC driver on a simulated ESPRESSObin (mvneta, Linux 6.1)."""

from .board import Board, BoardState, RunResult, XdplabError, create_board_state
from .sanitizer import SanitizerError
from .xdp_abi import (MEM_TYPE_PAGE_ORDER0, MEM_TYPE_PAGE_POOL, MEM_TYPE_PAGE_SHARED, MEM_TYPE_XSK_BUFF_POOL,
                      XDP_ABORTED, XDP_DROP, XDP_PASS, XDP_REDIRECT, XDP_TX)

__all__ = ["Board", "BoardState", "RunResult", "XdplabError", "SanitizerError", "create_board_state",
           "XDP_ABORTED", "XDP_DROP", "XDP_PASS", "XDP_TX", "XDP_REDIRECT", "MEM_TYPE_PAGE_SHARED",
           "MEM_TYPE_PAGE_ORDER0", "MEM_TYPE_PAGE_POOL", "MEM_TYPE_XSK_BUFF_POOL"]
__version__ = "0.1.0"

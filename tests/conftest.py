import os
import sys

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
if ROOT not in sys.path:
    sys.path.insert(0, ROOT)


@pytest.fixture(params=["jit", "python"])
def mode(request):
    """Run a test against both speeds of the same kernels."""
    return request.param


def npk(mode, jit_n, py_n):
    """Packet counts: python mode is ~1000x slower, so it gets a smaller (still meaningful) run."""
    return jit_n if mode == "jit" else py_n

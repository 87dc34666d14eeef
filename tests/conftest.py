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

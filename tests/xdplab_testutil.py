"""Helpers shared by the core tests (a unique module name: tests/bpf has its own conftest)."""
import os

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def npk(mode, jit_n, py_n):
    """Packet counts: python mode is ~1000x slower, so it gets a smaller (still meaningful) run."""
    return jit_n if mode == "jit" else py_n

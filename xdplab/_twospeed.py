"""One source, two speeds.

Every function that models a kernel function is written once, as plain Python
over numpy arrays, and registered with :func:`kernel`.  That gives two
callables for the same source:

* the **jit** version, ``numba.njit(cache=True)`` of the function: used by the
  simulator's fast path (millions of packets a second);
* the **python** version: a copy of the same function object whose globals
  resolve every *other* registered kernel to its python copy too.  (A bare
  ``f.py_func`` would run ``f`` in Python but still call jitted callees; the
  copy makes the whole call tree readable, steppable and overridable.)

A :class:`PythonKernel` namespace can replace any kernel by name, which is how
an exercise plugs the learner's ``mvneta_rx_refill`` into the real NAPI loop,
and how the sanitizer turns a recorded violation into an exception at the
exact line that caused it (see ``xdplab.sanitizer``).
"""

from __future__ import annotations

import hashlib
import os
import sys
import types

import numba
from numba.core.registry import CPUDispatcher


def _source_digest() -> str:
    """A digest of every xdplab source file.

    numba's on-disk cache checks only the timestamp of the file a function is
    defined in; a jitted caller in another module would keep calling a stale
    copy of an edited callee.  Keying the cache directory on all sources means a
    changed xdplab compiles afresh, and an unchanged one reuses its cache.
    """
    root = os.path.dirname(os.path.abspath(__file__))
    h = hashlib.sha1(numba.__version__.encode())
    for d, dirs, files in sorted(os.walk(root)):
        dirs[:] = sorted(x for x in dirs if x != "__pycache__")
        for f in sorted(files):
            if f.endswith(".py"):
                with open(os.path.join(d, f), "rb") as fh:
                    h.update(f.encode() + b"\0" + fh.read())
    return h.hexdigest()[:16]


def _set_cache_dir():
    base = os.environ.get("NUMBA_CACHE_DIR") or os.path.join(
        os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache"), "xdplab-numba")
    numba.config.CACHE_DIR = os.path.join(base, _source_digest())


_set_cache_dir()

__all__ = ["kernel", "JIT", "PythonKernel", "registered"]

# name -> (python function, jitted dispatcher)
_REGISTRY: dict[str, tuple[types.FunctionType, object]] = {}


class _KernelDispatcher(CPUDispatcher):
    """A kernel's dispatcher: a call from jitted code is typed with its arguments' plain types.

    numba types a constant argument (``charge(b, C_XDP_STATS)``) as ``Literal[int](26)`` and
    compiles the callee once per distinct constant: 48 copies of ``charge_n``, 39 of ``charge``,
    24 of ``board_trace``, ~200 of the 431 functions a cold compile of the board built (measured
    2026-12 with numba's compile events, ``xdplab warmup``).  LLVM inlines the hot ones into their
    callers anyway (``forceinline``), where the constant folds as it did in the copy."""

    def get_call_template(self, args, kws):
        args = tuple(numba.types.unliteral(a) for a in args)
        kws = {k: numba.types.unliteral(v) for k, v in kws.items()}
        return super().get_call_template(args, kws)


def kernel(fn=None, *, hot=False, jit_impl=None):
    """Register ``fn`` as a kernel function and return its jitted dispatcher.

    The name must be unique across xdplab: it is the kernel's own name
    (``page_pool_put_page``), and the python namespace resolves calls by it.

    ``hot=True`` marks a small function on the per-packet path: LLVM inlines
    it into its callers (``forceinline``), so a packet does not pay a call for
    every cycle charged or cache line checked.

    ``jit_impl`` is what the jitted copy runs instead of ``fn`` (same arguments, same result):
    ``fn`` stays the readable python copy.  Used where jitted code reaches a large part of
    the simulator through a pointer, so that compiling the board does not compile it too
    (``xdplab.progs._bpf_run_interp``).
    """
    if fn is None:
        return lambda f: kernel(f, hot=hot, jit_impl=jit_impl)
    name = fn.__name__
    if name in _REGISTRY and _REGISTRY[name][0].__module__ != fn.__module__:
        raise RuntimeError(f"kernel name {name!r} registered twice "
                           f"({_REGISTRY[name][0].__module__} and {fn.__module__})")
    jf = _KernelDispatcher(py_func=jit_impl or fn, locals={},
                           targetoptions={"nopython": True, "forceinline": hot})
    jf.enable_caching()
    _REGISTRY[name] = (fn, jf)
    return jf


def registered() -> list[str]:
    """Names of all registered kernels, sorted."""
    return sorted(_REGISTRY)


class _JitNamespace:
    """Attribute access to the jitted kernels: ``JIT.page_pool_put_page``."""

    def __getattr__(self, name):
        try:
            return _REGISTRY[name][1]
        except KeyError:
            raise AttributeError(f"no kernel function named {name!r}") from None

    def __dir__(self):
        return registered()


JIT = _JitNamespace()


class PythonKernel:
    """The python-speed copy of every kernel, with optional replacements.

    ``PythonKernel(overrides={"mvneta_rx_refill": my_refill})`` runs the real
    NAPI loop in plain Python, calling ``my_refill`` wherever the driver calls
    ``mvneta_rx_refill``.  Overrides are plain Python functions; they see the
    other kernels (``page_pool_alloc_pages`` ...) as python copies too: each
    override is itself copied with its globals layered under this namespace,
    so a learner's function that imported ``page_pool_alloc_pages`` from
    xdplab calls the python copy (and gets the sanitizer's exceptions).
    """

    def __init__(self, overrides: dict | None = None):
        overrides = dict(overrides or {})
        unknown = [n for n in overrides if n not in _REGISTRY]
        if unknown:
            raise KeyError(f"cannot override {unknown}: not kernel functions "
                           f"(known: see xdplab._twospeed.registered())")
        self._funcs: dict[str, object] = {}
        module_globals: dict[str, dict] = {}
        for name, (fn, _jf) in _REGISTRY.items():
            mod = fn.__module__
            if mod not in module_globals:
                g = dict(sys.modules[mod].__dict__)
                module_globals[mod] = g
            g = module_globals[mod]
            clone = types.FunctionType(fn.__code__, g, name, fn.__defaults__, fn.__closure__)
            clone.__doc__ = fn.__doc__
            clone.__module__ = mod
            clone.__qualname__ = fn.__qualname__
            self._funcs[name] = clone
        for name, fn in overrides.items():
            if not isinstance(fn, types.FunctionType):
                raise TypeError(f"override for {name!r} must be a plain Python function, "
                                f"got {type(fn).__name__}")
            g = dict(fn.__globals__)
            module_globals[f"<override {name}>"] = g
            self._funcs[name] = types.FunctionType(fn.__code__, g, fn.__name__,
                                                   fn.__defaults__, fn.__closure__)
        # Every copied globals dict sees the python copies (and overrides).
        for g in module_globals.values():
            g.update(self._funcs)
        self.overrides = overrides

    def __getattr__(self, name):
        try:
            return self.__dict__["_funcs"][name]
        except KeyError:
            raise AttributeError(f"no kernel function named {name!r}") from None

    def __dir__(self):
        return sorted(self._funcs)

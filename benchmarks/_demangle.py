"""numba's mangled symbol names, read back as the dotted Python names they came from."""

from __future__ import annotations

__all__ = ["short_name"]


def short_name(mangled: str, width: int = 80) -> str:
    """``_ZN6xdplab3nic6mvneta14mvneta_rx_swbmB4v212...`` -> ``xdplab.nic.mvneta.mvneta_rx_swbm``.

    numba mangles like C++ (length-prefixed parts after ``_ZN``, then the ABI tags); its wrappers
    prefix the name (``cfunc.``, ``cpython.``).  A name that is not mangled comes back as it is."""
    for wrapper in ("cfunc.", "cpython."):
        if mangled.startswith(wrapper):
            return wrapper + short_name(mangled[len(wrapper):], width)
    s = mangled[2:] if mangled.startswith("_Z") else mangled
    s = s[1:] if s.startswith("N") else s
    parts = []
    while s and s[0].isdigit():
        k = 0
        while s[k].isdigit():
            k += 1
        n = int(s[:k])
        parts.append(s[k:k + n])
        s = s[k + n:]
    name = ".".join(parts) if parts else mangled
    return name if len(name) <= width else name[:width - 3] + "..."

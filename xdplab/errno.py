"""Linux errno values (include/uapi/asm-generic/errno*.h), used as negative returns."""

__all__ = ["EPERM", "ENOENT", "EIO", "ENXIO", "E2BIG", "ENOMEM", "EFAULT", "EBUSY", "EEXIST", "ENODEV",
           "EINVAL", "ENOSPC", "ERANGE", "EMSGSIZE", "EOPNOTSUPP", "ENETDOWN", "EOVERFLOW",
           "EBADRQC", "ENOBUFS", "ENOTSUPP", "EACCES", "strerror"]

EPERM = 1
ENOENT = 2
EIO = 5
ENXIO = 6
E2BIG = 7
ENOMEM = 12
EACCES = 13
EFAULT = 14
EBUSY = 16
EEXIST = 17
ENODEV = 19
EINVAL = 22
ENOSPC = 28
ERANGE = 34
EBADRQC = 56
EOVERFLOW = 75
EMSGSIZE = 90
EOPNOTSUPP = 95
ENOBUFS = 105
ENETDOWN = 100
ENOTSUPP = 524   # kernel-internal, used by bpf_xdp_adjust_meta

_NAMES = {v: k for k, v in dict(globals()).items() if k.startswith("E") and isinstance(v, int)}


def strerror(err: int) -> str:
    """'-EINVAL' for -22 (the way the kernel's own messages name errors)."""
    name = _NAMES.get(abs(int(err)))
    return f"-{name}" if name else str(err)

"""BPF maps: types, the kernels behind bpf_map_{lookup,update,delete}_elem and
get_next_key (kernel/bpf/arraymap.c, hashtab.c, devmap.c, cpumap.c, xskmap.c),
and a bpftool-like user-space handle, :class:`Map`.

Storage lives in the object's :class:`~xdplab.bpf.state.BpfState`; a map is an
index ``m`` into its ``map_*`` arrays.  Elements are *slots* (global indices into
``elem_*``): for array-like maps slot = ``map_ebase[m] + index``; for hash maps
slots come from a preallocated free list (like a hash map without
BPF_F_NO_PREALLOC).  A value of slot ``e`` for CPU ``c`` lives at
``maps[m, MAP_VBASE] + (((e - ebase) * ncopies + c) << vshift)`` in ``umem``.
"""

from __future__ import annotations

import numpy as np

from .._twospeed import kernel
from .state import (CTL_EV_LOST, CTL_CLOCK, EL_LRU, EL_NEXT, EL_USED, MAP_BBASE, MAP_COUNT, MAP_EBASE, MAP_FREE,
                    MAP_KBASE, MAP_KEY_SIZE, MAP_MAX_ENTRIES, MAP_NBUCKETS, MAP_NCOPIES, MAP_TYPE, MAP_VBASE,
                    MAP_VSHIFT, NR_CPUS, SCRATCH_OFF)

__all__ = ["BPF_MAP_TYPE_NAMES", "BPF_ANY", "BPF_NOEXIST", "BPF_EXIST", "BPF_F_LOCK", "is_hash_type",
           "is_percpu_type", "SUPPORTED_MAP_TYPES", "Map", "MapError"]

BPF_MAP_TYPE_UNSPEC = 0
BPF_MAP_TYPE_HASH = 1
BPF_MAP_TYPE_ARRAY = 2
BPF_MAP_TYPE_PROG_ARRAY = 3
BPF_MAP_TYPE_PERF_EVENT_ARRAY = 4
BPF_MAP_TYPE_PERCPU_HASH = 5
BPF_MAP_TYPE_PERCPU_ARRAY = 6
BPF_MAP_TYPE_STACK_TRACE = 7
BPF_MAP_TYPE_CGROUP_ARRAY = 8
BPF_MAP_TYPE_LRU_HASH = 9
BPF_MAP_TYPE_LRU_PERCPU_HASH = 10
BPF_MAP_TYPE_LPM_TRIE = 11
BPF_MAP_TYPE_ARRAY_OF_MAPS = 12
BPF_MAP_TYPE_HASH_OF_MAPS = 13
BPF_MAP_TYPE_DEVMAP = 14
BPF_MAP_TYPE_SOCKMAP = 15
BPF_MAP_TYPE_CPUMAP = 16
BPF_MAP_TYPE_XSKMAP = 17
BPF_MAP_TYPE_SOCKHASH = 18
BPF_MAP_TYPE_DEVMAP_HASH = 25
BPF_MAP_TYPE_RINGBUF = 27

BPF_MAP_TYPE_NAMES = {
    0: "unspec", 1: "hash", 2: "array", 3: "prog_array", 4: "perf_event_array", 5: "percpu_hash",
    6: "percpu_array", 7: "stack_trace", 8: "cgroup_array", 9: "lru_hash", 10: "lru_percpu_hash",
    11: "lpm_trie", 12: "array_of_maps", 13: "hash_of_maps", 14: "devmap", 15: "sockmap", 16: "cpumap",
    17: "xskmap", 18: "sockhash", 19: "cgroup_storage", 20: "reuseport_sockarray",
    21: "percpu_cgroup_storage", 22: "queue", 23: "stack", 24: "sk_storage", 25: "devmap_hash",
    26: "struct_ops", 27: "ringbuf", 28: "inode_storage", 29: "task_storage", 30: "bloom_filter",
    31: "user_ringbuf", 32: "cgrp_storage", 33: "arena",
}
for _k, _v in BPF_MAP_TYPE_NAMES.items():
    globals()["BPF_MAP_TYPE_" + _v.upper()] = _k

# the ring behind each slot of a PERF_EVENT_ARRAY (the perf buffer a reader mmaps: libbpf's
# perf_buffer__new takes 8 pages per CPU by default; xdplab takes 16 KiB)
PERF_RING_SIZE = 16 << 10

SUPPORTED_MAP_TYPES = (BPF_MAP_TYPE_PERF_EVENT_ARRAY, BPF_MAP_TYPE_RINGBUF, BPF_MAP_TYPE_ARRAY_OF_MAPS,
                       BPF_MAP_TYPE_HASH_OF_MAPS, BPF_MAP_TYPE_ARRAY, BPF_MAP_TYPE_PERCPU_ARRAY, BPF_MAP_TYPE_HASH,
                       BPF_MAP_TYPE_PERCPU_HASH, BPF_MAP_TYPE_LRU_HASH, BPF_MAP_TYPE_LRU_PERCPU_HASH,
                       BPF_MAP_TYPE_PROG_ARRAY, 22, 23,          # QUEUE, STACK
                       BPF_MAP_TYPE_DEVMAP, BPF_MAP_TYPE_DEVMAP_HASH, BPF_MAP_TYPE_CPUMAP,
                       BPF_MAP_TYPE_XSKMAP)

BPF_ANY = 0
BPF_NOEXIST = 1
BPF_EXIST = 2
BPF_F_LOCK = 4
BPF_F_NO_PREALLOC = 1
BPF_F_NO_COMMON_LRU = 2
BPF_F_RDONLY_PROG = 1 << 7
BPF_F_WRONLY_PROG = 1 << 8
BPF_F_MMAPABLE = 1 << 10

EINVAL, ENOENT, EEXIST, E2BIG, ENODEV, EOVERFLOW, EPERM, ENOMEM = 22, 2, 17, 7, 19, 75, 1, 12
CPU_MAP_MAX_QSIZE = 16384  # cpu_map_update_elem: qsize > 16k -> -EOVERFLOW


def is_hash_type(t: int) -> bool:
    return t in (BPF_MAP_TYPE_HASH, BPF_MAP_TYPE_PERCPU_HASH, BPF_MAP_TYPE_LRU_HASH,
                 BPF_MAP_TYPE_LRU_PERCPU_HASH, BPF_MAP_TYPE_DEVMAP_HASH, BPF_MAP_TYPE_HASH_OF_MAPS)


def is_percpu_type(t: int) -> bool:
    return t in (BPF_MAP_TYPE_PERCPU_ARRAY, BPF_MAP_TYPE_PERCPU_HASH, BPF_MAP_TYPE_LRU_PERCPU_HASH)


# ------------------------------------------------------------------------------ kernels
# QUEUE / STACK (kernel/bpf/queue_stack_maps.c): a ring of max_entries + 1 value slots (the map's
# slots; maps[m, MAP_MAX_ENTRIES] holds that size), head = elems[ebase, 1] (the next slot pushed),
# tail = elems[ebase, 2] (a queue's oldest); empty when head == tail, full when head + 1 == tail.
@kernel
def bpf_queue_stack_push(bs, m, src, soff, flags):
    """queue_stack_map_push_elem: the value at src[soff:] becomes the newest; a full map
    refuses (-E2BIG) unless ``flags`` is BPF_EXIST, which drops the oldest (a queue's head of
    line; for a stack also the bottom one, as the kernel's shared ring does).  BPF_NOEXIST or
    an unknown flag: -EINVAL."""
    if (flags & 1) != 0 or flags < 0 or flags > 2:
        return np.int64(-22)
    eb = bs.maps[m, MAP_EBASE]
    size = bs.maps[m, MAP_MAX_ENTRIES]
    head = bs.elems[eb, 1]
    nh = head + 1
    if nh >= size:
        nh = 0
    if nh == bs.elems[eb, 2]:
        if (flags & 2) == 0:
            return np.int64(-7)
        t = bs.elems[eb, 2] + 1
        if t >= size:
            t = 0
        bs.elems[eb, 2] = t
    dst = bs.maps[m, MAP_VBASE] + (head << bs.maps[m, MAP_VSHIFT])
    for i in range(bs.maps[m, 2]):                       # MAP_VALUE_SIZE
        bs.umem[dst + i] = src[soff + i]
    bs.elems[eb, 1] = nh
    return np.int64(0)


@kernel
def bpf_queue_stack_get(bs, m, dst, doff, delete):
    """__queue_map_get / __stack_map_get: a queue's oldest or a stack's newest value to
    dst[doff:], removed if ``delete`` (pop) or left (peek); empty: the value zeroed, -ENOENT."""
    eb = bs.maps[m, MAP_EBASE]
    size = bs.maps[m, MAP_MAX_ENTRIES]
    vs = bs.maps[m, 2]                                   # MAP_VALUE_SIZE
    head = bs.elems[eb, 1]
    tail = bs.elems[eb, 2]
    if head == tail:
        for i in range(vs):
            dst[doff + i] = 0
        return np.int64(-2)
    if bs.maps[m, MAP_TYPE] == 22:
        idx = tail
    else:
        idx = head - 1
        if idx < 0:
            idx = size - 1
    src = bs.maps[m, MAP_VBASE] + (idx << bs.maps[m, MAP_VSHIFT])
    for i in range(vs):
        dst[doff + i] = bs.umem[src + i]
    if delete:
        if bs.maps[m, MAP_TYPE] == 22:
            tail += 1
            if tail >= size:
                tail = 0
            bs.elems[eb, 2] = tail
        else:
            bs.elems[eb, 1] = idx
    return np.int64(0)


@kernel
def _map_is_hash(t):
    return t == 1 or t == 5 or t == 9 or t == 10 or t == 13 or t == 25


@kernel
def _map_has_presence(t):
    """Array-like maps whose slots can be empty (fd/dev/cpu/xsk arrays)."""
    return t == 3 or t == 12 or t == 14 or t == 16 or t == 17


@kernel
def _key_u32(key, koff):
    return (np.int64(key[koff]) | (np.int64(key[koff + 1]) << 8) | (np.int64(key[koff + 2]) << 16)
            | (np.int64(key[koff + 3]) << 24))


@kernel
def _htab_hash(mp, m, key, koff):
    """FNV-1a over the key bytes (the kernel uses jhash with a random seed; any hash will do)."""
    h = np.int64(2166136261)
    for i in range(mp[m, MAP_KEY_SIZE]):
        h = ((h ^ np.int64(key[koff + i])) * np.int64(16777619)) & np.int64(0xFFFFFFFF)
    return h & (mp[m, MAP_NBUCKETS] - 1)


@kernel
def _htab_find(bs, m, key, koff):
    """lookup_elem_raw: walk the bucket chain; returns the slot or -1."""
    mp = bs.maps
    um = bs.umem
    ks = mp[m, MAP_KEY_SIZE]
    e = bs.buckets[mp[m, MAP_BBASE] + _htab_hash(mp, m, key, koff)]
    while e >= 0:
        kp = mp[m, MAP_KBASE] + (e - mp[m, MAP_EBASE]) * ks
        same = True
        for i in range(ks):
            if um[kp + i] != key[koff + i]:
                same = False
                break
        if same:
            return e
        e = bs.elems[e, EL_NEXT]
    return -1


@kernel
def bpf_map_value_offset(bs, m, e, cpu):
    """Byte offset (in the map's value area) of slot ``e``'s value for ``cpu``."""
    mp = bs.maps
    return ((e - mp[m, MAP_EBASE]) * mp[m, MAP_NCOPIES] + cpu) << mp[m, MAP_VSHIFT]


@kernel
def bpf_map_lookup_slot(bs, m, key, koff, touch):
    """map->ops->map_lookup_elem: the slot holding ``key`` (bytes at key[koff:]) or -1.

    ``touch`` marks an LRU element as recently used (bpf_lru_node_set_ref)."""
    mp = bs.maps
    t = mp[m, MAP_TYPE]
    if _map_is_hash(t):
        e = _htab_find(bs, m, key, koff)
        if e >= 0 and touch:
            bs.ctl[CTL_CLOCK] += 1
            bs.elems[e, EL_LRU] = bs.ctl[CTL_CLOCK]
        return e
    idx = _key_u32(key, koff)
    if idx >= mp[m, MAP_MAX_ENTRIES]:
        return -1
    e = mp[m, MAP_EBASE] + idx
    if _map_has_presence(t) and bs.elems[e, EL_USED] == 0:
        return -1
    return e


@kernel
def _htab_unlink(bs, m, e):
    mp = bs.maps
    b = mp[m, MAP_BBASE] + _htab_hash(mp, m, bs.umem, mp[m, MAP_KBASE] + (e - mp[m, MAP_EBASE]) * mp[m, MAP_KEY_SIZE])
    p = bs.buckets[b]
    if p == e:
        bs.buckets[b] = bs.elems[e, EL_NEXT]
    else:
        while p >= 0:
            if bs.elems[p, EL_NEXT] == e:
                bs.elems[p, EL_NEXT] = bs.elems[e, EL_NEXT]
                break
            p = bs.elems[p, EL_NEXT]
    bs.elems[e, EL_USED] = 0
    bs.elems[e, EL_NEXT] = mp[m, MAP_FREE]
    mp[m, MAP_FREE] = e
    mp[m, MAP_COUNT] -= 1


@kernel
def bpf_map_update_slot(bs, m, key, koff, flags):
    """The bookkeeping half of map_update_elem: check flags the kernel's way and find
    or allocate the slot for ``key``.  Returns the slot (the caller copies the value)
    or -errno.  Array maps: -EINVAL (bad flags), -E2BIG (index), -EEXIST (NOEXIST)."""
    mp = bs.maps
    t = mp[m, MAP_TYPE]
    if (flags & ~4) > 2 or flags < 0:
        return -EINVAL
    if flags & 4:
        # BPF_F_LOCK needs a struct bpf_spin_lock in the value; no xdplab map has one
        return -EINVAL
    if _map_is_hash(t):
        e = _htab_find(bs, m, key, koff)
        if e >= 0:
            if flags & 1:
                return -EEXIST
            if t == 9 or t == 10:
                bs.ctl[CTL_CLOCK] += 1
                bs.elems[e, EL_LRU] = bs.ctl[CTL_CLOCK]
            return e
        if flags & 2:
            return -ENOENT
        if mp[m, MAP_FREE] < 0:
            if t == 9 or t == 10:
                # LRU: evict the least recently used element (the kernel's LRU is approximate)
                best = -1
                bt = np.int64(0)
                for s in range(mp[m, MAP_EBASE], mp[m, MAP_EBASE] + mp[m, MAP_MAX_ENTRIES]):
                    if bs.elems[s, EL_USED] and (best < 0 or bs.elems[s, EL_LRU] < bt):
                        best = s
                        bt = bs.elems[s, EL_LRU]
                if best < 0:
                    return -E2BIG
                _htab_unlink(bs, m, best)
            else:
                return -E2BIG
        e = mp[m, MAP_FREE]
        mp[m, MAP_FREE] = bs.elems[e, EL_NEXT]
        ks = mp[m, MAP_KEY_SIZE]
        kp = mp[m, MAP_KBASE] + (e - mp[m, MAP_EBASE]) * ks
        for i in range(ks):
            bs.umem[kp + i] = key[koff + i]
        b = mp[m, MAP_BBASE] + _htab_hash(mp, m, key, koff)
        bs.elems[e, EL_NEXT] = bs.buckets[b]        # new elements go to the head of the bucket
        bs.buckets[b] = e
        bs.elems[e, EL_USED] = 1
        mp[m, MAP_COUNT] += 1
        bs.ctl[CTL_CLOCK] += 1
        bs.elems[e, EL_LRU] = bs.ctl[CTL_CLOCK]
        # a fresh element starts zeroed on every CPU (pcpu_init_value)
        st = mp[m, MAP_VBASE] + bpf_map_value_offset(bs, m, e, np.int64(0))
        for i in range(mp[m, MAP_NCOPIES] << mp[m, MAP_VSHIFT]):
            bs.umem[st + i] = 0
        return e
    idx = _key_u32(key, koff)
    if t == 3:                                # fd arrays: bpf_fd_array_map_update_elem
        if flags != 0:
            return -EINVAL
        if idx >= mp[m, MAP_MAX_ENTRIES]:
            return -E2BIG
        return mp[m, MAP_EBASE] + idx
    if idx >= mp[m, MAP_MAX_ENTRIES]:
        return -E2BIG
    e = mp[m, MAP_EBASE] + idx
    if _map_has_presence(t):
        if (flags & 1) and (t == 14 or t == 16 or bs.elems[e, EL_USED]):
            return -EEXIST
        if (flags & 2) and t == 17 and bs.elems[e, EL_USED] == 0:
            return -ENOENT
        return e
    if flags & 1:
        return -EEXIST
    return e


@kernel
def bpf_map_delete(bs, m, key, koff):
    """map_delete_elem: 0 or -errno (arrays: -EINVAL; missing key: -ENOENT)."""
    mp = bs.maps
    t = mp[m, MAP_TYPE]
    if _map_is_hash(t):
        e = _htab_find(bs, m, key, koff)
        if e < 0:
            return -ENOENT
        _htab_unlink(bs, m, e)
        return 0
    if t == 2 or t == 6:
        return -EINVAL
    idx = _key_u32(key, koff)
    if idx >= mp[m, MAP_MAX_ENTRIES]:
        return -E2BIG if t == 3 else -EINVAL
    e = mp[m, MAP_EBASE] + idx
    if t == 3 and bs.elems[e, EL_USED] == 0:
        return -ENOENT
    bs.elems[e, EL_USED] = 0
    return 0


@kernel
def bpf_map_get_next_key(bs, m, key, koff, has_key, out, ooff):
    """map_get_next_key: write the key after ``key`` (or the first) to out[ooff:]; 0 or -ENOENT."""
    mp = bs.maps
    t = mp[m, MAP_TYPE]
    if _map_is_hash(t):
        nb = mp[m, MAP_NBUCKETS]
        ks = mp[m, MAP_KEY_SIZE]
        start_b = 0
        e = -1
        if has_key:
            cur = _htab_find(bs, m, key, koff)
            if cur >= 0:
                start_b = _htab_hash(mp, m, key, koff)
                e = bs.elems[cur, EL_NEXT]
                if e < 0:
                    start_b += 1
        while e < 0 and start_b < nb:
            e = bs.buckets[mp[m, MAP_BBASE] + start_b]
            if e < 0:
                start_b += 1
        if e < 0:
            return -ENOENT
        kp = mp[m, MAP_KBASE] + (e - mp[m, MAP_EBASE]) * ks
        for i in range(ks):
            out[ooff + i] = bs.umem[kp + i]
        return 0
    nxt = 0
    if has_key:
        idx = _key_u32(key, koff)
        if idx < mp[m, MAP_MAX_ENTRIES]:
            if idx == mp[m, MAP_MAX_ENTRIES] - 1:
                return -ENOENT
            nxt = idx + 1
    if nxt >= mp[m, MAP_MAX_ENTRIES]:
        return -ENOENT
    for i in range(4):
        out[ooff + i] = (nxt >> (8 * i)) & 0xFF
    return 0


# ------------------------------------------------------------------------------ user space
class MapError(OSError):
    """A map operation failed; ``errno`` is the kernel's."""


def _errname(err):
    from ..errno import strerror
    return strerror(err)


class Map:
    """A loaded map, driven like ``bpftool map``: lookup / update / delete / dump.

    Keys and values are ``bytes`` or ``int`` (little endian, sized to key_size / value_size).
    Per-CPU maps take and return one value per CPU (a list of NR_CPUS values); an update
    with a single value writes it to every CPU.
    """

    def __init__(self, obj, index: int, name: str, d):
        self._obj = obj
        self.index = index
        self.name = name
        self.type = d.type
        self.type_name = BPF_MAP_TYPE_NAMES.get(d.type, str(d.type))
        self.key_size = d.key_size
        self.value_size = d.value_size
        self.max_entries = d.max_entries
        self.map_flags = d.map_flags
        self.id = d.id
        self.percpu = is_percpu_type(d.type)
        self.section = d.section
        self.error = getattr(d, "error", "")   # a map xdplab could not create: every operation refuses
        if getattr(d, "kattr", None):
            self.key_size, self.value_size, self.max_entries = d.kattr

    def __repr__(self):
        return (f"<Map {self.name!r} id {self.id} {self.type_name} key {self.key_size}B value "
                f"{self.value_size}B max_entries {self.max_entries}>")

    @property
    def _bs(self):
        return self._obj.state

    # ---------------------------------------------------------------- encoding
    def _bytes(self, v, size, what):
        if isinstance(v, (bytes, bytearray, memoryview)):
            b = bytes(v)
            if len(b) != size:
                raise ValueError(f"map {self.name!r}: {what} must be {size} bytes, got {len(b)}")
            return b
        if isinstance(v, (int, np.integer)):
            v = int(v)
            if not -(1 << (8 * size - 1)) <= v < (1 << (8 * size)):
                raise ValueError(f"map {self.name!r}: {what} {v} does not fit in {size} bytes")
            return (v & ((1 << (8 * size)) - 1)).to_bytes(size, "little")
        raise TypeError(f"map {self.name!r}: {what} must be bytes or int, got {type(v).__name__}")

    # ---------------------------------------------------------------- perf / ring buffers
    def records(self, consume: bool = True) -> list:
        """The records a PERF_EVENT_ARRAY or RINGBUF holds, oldest first, as a reader gets them
        (perf_buffer__poll / ring_buffer__poll): perf: ``{'cpu': slot, 'data': bytes}`` (data =
        the helper's data then the frame bytes it asked for; the kernel pads a raw sample to 8
        bytes, this gives the exact length), ringbuf: ``{'data': bytes}`` (submitted records;
        discarded ones are skipped, the reader stops at one still reserved).  ``consume``
        frees their space, as the reader's consumer position does."""
        if self.type not in (BPF_MAP_TYPE_PERF_EVENT_ARRAY, BPF_MAP_TYPE_RINGBUF):
            raise TypeError(f"map {self.name!r} ({self.type_name}) holds no records; perf_event_array and "
                            f"ringbuf maps do")
        bs = self._bs
        m = self.index
        um = bs.umem
        vbase = int(bs.maps[m, MAP_VBASE])
        vshift = int(bs.maps[m, MAP_VSHIFT])
        ring = int(bs.maps[m, 2]) >> 1                      # MAP_VALUE_SIZE: two rings
        ebase = int(bs.maps[m, MAP_EBASE])
        out = []
        nslots = int(bs.maps[m, MAP_MAX_ENTRIES])
        for slot in range(nslots):
            e = ebase + slot
            prod, cons = int(bs.elems[e, 1]), int(bs.elems[e, 2])
            base = vbase + (slot << vshift)
            while cons < prod:
                at = base + (cons & (ring - 1))
                hdr = int.from_bytes(bytes(um[at: at + 4]), "little")
                ln = hdr & 0x3FFFFFFF
                if hdr & (1 << 31):
                    break                                   # BPF_RINGBUF_BUSY_BIT: not submitted yet
                if not hdr & (1 << 30):                     # BPF_RINGBUF_DISCARD_BIT
                    rec = {"data": bytes(um[at + 8: at + 8 + ln])}
                    if self.type == BPF_MAP_TYPE_PERF_EVENT_ARRAY:
                        rec = {"cpu": slot, **rec}
                    out.append(rec)
                cons += (ln + 15) & ~7
            if consume:
                bs.elems[e, 2] = cons
        return out

    @property
    def lost(self) -> int:
        """Perf records lost because a slot's ring was full (the helper returned -ENOSPC), all
        perf event arrays of the object together (PERF_RECORD_LOST)."""
        return int(self._bs.ctl[CTL_EV_LOST])

    # ---------------------------------------------------------------- queue / stack
    def _qs(self, op):
        if self.type not in (22, 23):
            raise TypeError(f"map {self.name!r} ({self.type_name}): {op} is for queue and stack maps")
        if self.error:
            raise MapError(95, f"{self.error} (the programs that use it did not load)")

    def push(self, value, flags: int = BPF_ANY):
        """bpf_map_update_elem(fd, NULL, value, flags) on a QUEUE/STACK, as bpf_map_push_elem:
        the value becomes the newest.  Full: MapError(E2BIG), unless ``flags`` is BPF_EXIST,
        which drops the oldest to make room; BPF_NOEXIST or other flags: MapError(EINVAL)."""
        self._qs("push")
        vb = np.frombuffer(self._bytes(value, self.value_size, "value"), dtype=np.uint8).copy()
        err = int(self._k("bpf_queue_stack_push")(self._bs, self.index, vb, 0, int(flags)))
        if err < 0:
            extra = {-E2BIG: "the map is full: BPF_EXIST drops the oldest value to make room",
                     -EINVAL: "flags must be BPF_ANY or BPF_EXIST"}[err]
            raise MapError(-err, f"bpf_map_push_elem on map {self.name!r} ({self.type_name}): "
                                 f"{_errname(-err)} ({extra})")

    def _get(self, delete, as_int):
        out = np.zeros(self.value_size, dtype=np.uint8)
        err = int(self._k("bpf_queue_stack_get")(self._bs, self.index, out, 0, int(delete)))
        if err < 0:
            raise MapError(-err, f"bpf_map_{'pop' if delete else 'peek'}_elem on map {self.name!r} "
                                 f"({self.type_name}): {_errname(-err)} (the map is empty)")
        return self._decode(bytes(out), as_int)

    def pop(self, as_int: bool = False):
        """BPF_MAP_LOOKUP_AND_DELETE_ELEM (bpf_map_pop_elem): take a queue's oldest / a
        stack's newest value.  Empty: MapError(ENOENT)."""
        self._qs("pop")
        return self._get(True, as_int)

    def peek(self, as_int: bool = False):
        """BPF_MAP_LOOKUP_ELEM with no key (bpf_map_peek_elem): the value pop would take,
        left in place.  Empty: MapError(ENOENT)."""
        self._qs("peek")
        return self._get(False, as_int)

    def values(self, as_int: bool = False) -> list:
        """A QUEUE/STACK's values in the order pop takes them, left in place (no syscall does
        this: the lab reads its ring)."""
        self._qs("values")
        bs = self._bs
        m = self.index
        eb = int(bs.maps[m, MAP_EBASE])
        size = int(bs.maps[m, MAP_MAX_ENTRIES])
        head, tail = int(bs.elems[eb, 1]), int(bs.elems[eb, 2])
        idxs = []
        i = tail
        while i != head:
            idxs.append(i)
            i = (i + 1) % size
        if self.type == 23:
            idxs.reverse()
        vb, sh = int(bs.maps[m, MAP_VBASE]), int(bs.maps[m, MAP_VSHIFT])
        return [self._decode(bytes(bs.umem[vb + (j << sh): vb + (j << sh) + self.value_size]), as_int)
                for j in idxs]

    def _key_in(self, key):
        if self.type in (22, 23):
            raise MapError(EINVAL, f"map {self.name!r} ({self.type_name}): no keys; use .push(value), .pop(), "
                                   f".peek() (bpf_map_push/pop/peek_elem), .values() to look")
        if self.type in (BPF_MAP_TYPE_PERF_EVENT_ARRAY, BPF_MAP_TYPE_RINGBUF):
            raise MapError(EINVAL, f"map {self.name!r} ({self.type_name}): no element access from user space; "
                                   f"read its records with .records()")
        if self.error:
            raise MapError(95, f"{self.error} (the programs that use it did not load)")
        kb = self._bytes(key, self.key_size, "key")
        um = self._bs.umem
        um[SCRATCH_OFF: SCRATCH_OFF + self.key_size] = np.frombuffer(kb, dtype=np.uint8)
        return um

    def _k(self, name):
        from .._twospeed import JIT
        return getattr(JIT, name)

    def _value_at(self, e, cpu):
        bs = self._bs
        off = int(bs.maps[self.index, MAP_VBASE]) + int(self._k("bpf_map_value_offset")(bs, self.index, e, cpu))
        return bytes(bs.umem[off: off + self.value_size])

    def _decode(self, b: bytes, as_int):
        return int.from_bytes(b, "little") if as_int else b

    # ---------------------------------------------------------------- operations
    def lookup(self, key, as_int: bool = False):
        """bpf_map_lookup_elem(fd, key): the value (per-CPU maps: list per CPU); KeyError if absent."""
        sc = self._key_in(key)
        e = int(self._k("bpf_map_lookup_slot")(self._bs, self.index, sc, SCRATCH_OFF, 0))
        if e < 0:
            raise KeyError(key)
        if self.type == BPF_MAP_TYPE_PROG_ARRAY:
            return self._obj._prog_by_index(int.from_bytes(self._value_at(e, 0)[:4], "little"))
        if self.type in (BPF_MAP_TYPE_ARRAY_OF_MAPS, BPF_MAP_TYPE_HASH_OF_MAPS):
            return self._obj._map_by_index(int.from_bytes(self._value_at(e, 0)[:4], "little") - 1)
        if self.percpu:
            return [self._decode(self._value_at(e, c), as_int) for c in range(NR_CPUS)]
        return self._decode(self._value_at(e, 0), as_int)

    def get(self, key, default=None, as_int=False):
        try:
            return self.lookup(key, as_int=as_int)
        except KeyError:
            return default

    def __getitem__(self, key):
        return self.lookup(key)

    def __setitem__(self, key, value):
        self.update(key, value)

    def __delitem__(self, key):
        self.delete(key)

    def __contains__(self, key):
        return self.get(key) is not None

    def update(self, key, value, flags: int = BPF_ANY):
        """bpf_map_update_elem(fd, key, value, flags) with BPF_ANY / BPF_NOEXIST / BPF_EXIST.

        PROG_ARRAY values are programs of the same object (BpfProgram or index);
        DEVMAP values an ifindex (or 8-byte struct bpf_devmap_val), CPUMAP a queue size
        (or struct bpf_cpumap_val), XSKMAP a socket handle.  Raises MapError(errno)."""
        t = self.type
        vals = None
        if t == BPF_MAP_TYPE_CPUMAP:
            value = self._cpumap_value(value)
        if t in (BPF_MAP_TYPE_DEVMAP, BPF_MAP_TYPE_DEVMAP_HASH) and isinstance(value, (tuple, list)):
            value = self._devmap_val(value)
        if t in (BPF_MAP_TYPE_DEVMAP, BPF_MAP_TYPE_DEVMAP_HASH) and not isinstance(value, (tuple, list)):
            self._devmap_check(value)
        if t in (BPF_MAP_TYPE_ARRAY_OF_MAPS, BPF_MAP_TYPE_HASH_OF_MAPS):
            inner = self._obj.maps.get(value) if isinstance(value, str) else value
            if not isinstance(inner, Map) or inner._obj is not self._obj:
                raise MapError(EINVAL, f"map {self.name!r}: a {self.type_name} holds maps of the same object "
                                       f"(a Map or its name), got {value!r}")
            why = self._obj._inner_mismatch(self.index, inner.index)
            if why:
                raise MapError(EINVAL, f"map {self.name!r}: {inner.name!r} does not match the inner map template "
                                       f"({why}; bpf_map_meta_equal says -EINVAL)")
            vals = [self._bytes(inner.index + 1, self.value_size, "value")]
        elif t == BPF_MAP_TYPE_PROG_ARRAY:
            idx = value if isinstance(value, (int, np.integer)) else getattr(value, "index", None)
            if idx is None or getattr(value, "object", self._obj) is not self._obj:
                raise MapError(EINVAL, f"map {self.name!r}: a PROG_ARRAY holds programs of the same "
                                       f"object (xdplab supports tail calls within one object)")
            vals = [self._bytes(int(idx), self.value_size, "value")]
        elif self.percpu and isinstance(value, (list, tuple)):
            if len(value) != NR_CPUS:
                raise ValueError(f"map {self.name!r}: per-CPU value needs {NR_CPUS} entries (one per CPU)")
            vals = [self._bytes(v, self.value_size, "value") for v in value]
        else:
            vals = [self._bytes(value, self.value_size, "value")] * (NR_CPUS if self.percpu else 1)
        v0 = int.from_bytes(vals[0][:4], "little")
        if t == BPF_MAP_TYPE_CPUMAP:
            if flags > BPF_EXIST:
                raise MapError(EINVAL, self._msg("update", -EINVAL))
            kk = int.from_bytes(self._bytes(key, self.key_size, "key"), "little")
            if kk >= self.max_entries:
                raise MapError(E2BIG, self._msg("update", -E2BIG))
            if flags == BPF_NOEXIST:
                raise MapError(EEXIST, self._msg("update", -EEXIST))
            if v0 > CPU_MAP_MAX_QSIZE:
                raise MapError(EOVERFLOW, self._msg("update", -EOVERFLOW, "qsize > 16384"))
            if kk >= NR_CPUS:
                raise MapError(ENODEV, self._msg("update", -ENODEV, f"the board has {NR_CPUS} CPUs"))
            if v0 == 0:                                   # qsize 0: same as deleting
                self._k("bpf_map_delete")(self._bs, self.index, self._key_in(key), SCRATCH_OFF)
                return
            fd = int.from_bytes(vals[0][4:8], "little", signed=True) if self.value_size >= 8 else 0
            if fd > 0:
                # __cpu_map_load_bpf_program: the program must be BPF_XDP_CPUMAP (section "xdp/cpumap").
                # Its -EINVAL does not reach the caller in 6.1: __cpu_map_entry_alloc returns NULL and
                # cpu_map_update_elem reports -ENOMEM (later kernels pass the -EINVAL on)
                prog = self._obj._prog_by_index(fd - 1)
                why = None
                if not hasattr(prog, "attach"):
                    why = f"no program with fd {fd} in this object (the lab's fd of a program is its index + 1)"
                elif prog.attach != "xdp/cpumap":
                    why = (f"program {prog.name!r} (section {prog.section!r}) is not of expected attach type "
                           f"BPF_XDP_CPUMAP: put it in SEC(\"xdp/cpumap\")")
                if why is not None:
                    raise MapError(ENOMEM, self._msg("update", -ENOMEM, why + "; __cpu_map_load_bpf_program's "
                                                     "-EINVAL comes back as -ENOMEM in 6.1"))
        if t == BPF_MAP_TYPE_DEVMAP and v0 == 0:
            if flags > BPF_EXIST:
                raise MapError(EINVAL, self._msg("update", -EINVAL))
            kk = int.from_bytes(self._bytes(key, self.key_size, "key"), "little")
            if kk >= self.max_entries:
                raise MapError(E2BIG, self._msg("update", -E2BIG))
            if flags == BPF_NOEXIST:
                raise MapError(EEXIST, self._msg("update", -EEXIST))
            self._k("bpf_map_delete")(self._bs, self.index, self._key_in(key), SCRATCH_OFF)
            return
        if t == BPF_MAP_TYPE_DEVMAP_HASH and v0 == 0:
            raise MapError(EINVAL, self._msg("update", -EINVAL, "ifindex 0"))
        sc = self._key_in(key)
        e = int(self._k("bpf_map_update_slot")(self._bs, self.index, sc, SCRATCH_OFF, flags))
        if e < 0:
            raise MapError(-e, self._msg("update", e))
        bs = self._bs
        for c, vb in enumerate(vals):
            off = int(bs.maps[self.index, MAP_VBASE]) + int(self._k("bpf_map_value_offset")(bs, self.index, e, c))
            bs.umem[off: off + self.value_size] = np.frombuffer(vb, dtype=np.uint8)
        bs.elems[e, EL_USED] = 1

    def _cpumap_value(self, value):
        """A CPUMAP value: a qsize (int), raw bytes, or struct bpf_cpumap_val as a dict
        ``{"qsize": n, "bpf_prog": prog}`` / a tuple ``(qsize, prog)``; ``prog`` is None, a program
        of this object (section ``xdp/cpumap``) or its fd (the lab's fd of a program: index + 1)."""
        if isinstance(value, dict):
            unknown = set(value) - {"qsize", "bpf_prog"}
            if unknown:
                raise ValueError(f"map {self.name!r}: struct bpf_cpumap_val has qsize and bpf_prog, not {unknown}")
            value = (value.get("qsize", 0), value.get("bpf_prog"))
        if not isinstance(value, tuple):
            return value
        if len(value) != 2:
            raise ValueError(f"map {self.name!r}: a CPUMAP value is (qsize, bpf_prog)")
        qsize, prog = value
        if prog is None:
            fd = 0
        elif isinstance(prog, (int, np.integer)):
            fd = int(prog)
        elif hasattr(prog, "index") and hasattr(prog, "attach"):
            if hasattr(prog, "check_loaded"):
                prog.check_loaded()         # a refused program has no fd to give (its verifier log)
            if getattr(prog, "object", self._obj) is not self._obj:
                raise MapError(EINVAL, f"map {self.name!r}: the CPUMAP entry's program must come from the same "
                                       f"object as the map (the lab runs one object per board)")
            fd = int(prog.index) + 1
        else:
            raise TypeError(f"map {self.name!r}: bpf_prog must be None, a program or an fd, got {type(prog).__name__}")
        if self.value_size < 8:
            if fd:
                raise ValueError(f"map {self.name!r}: value_size {self.value_size} holds only a qsize; a program "
                                 f"needs __type(value, struct bpf_cpumap_val) (8 bytes)")
            return int(qsize)
        return (int(qsize) & 0xFFFFFFFF).to_bytes(4, "little") + int(fd).to_bytes(4, "little", signed=True) \
            + bytes(self.value_size - 8)
    def _devmap_val(self, value):
        """A DEVMAP value given as (ifindex, program): struct bpf_devmap_val { u32 ifindex; u32 bpf_prog; }.
        The program must be one of this object's, section ``xdp/devmap`` (expected_attach_type
        BPF_XDP_DEVMAP): the lab stores its id as its index + 1 (the kernel: the fd given, the id kept)."""
        if len(value) != 2:
            raise ValueError(f"map {self.name!r}: a devmap value is an ifindex or (ifindex, program)")
        ifindex, prog = value
        if self.value_size < 8:
            raise MapError(EINVAL, self._msg("update", -EINVAL, "a 4-byte devmap value has no program: "
                                                                "declare the value as struct bpf_devmap_val"))
        pid = 0
        if prog is not None:
            if hasattr(prog, "check_loaded"):
                prog.check_loaded()         # a refused program has no fd to give (its verifier log)
            if getattr(prog, "object", None) is not self._obj or getattr(prog, "attach", "") != "xdp/devmap":
                raise MapError(EINVAL, self._msg("update", -EINVAL, "the devmap program must be a program of "
                                                                    "this object in section xdp/devmap"))
            pid = int(prog.index) + 1
            if int(ifindex) == 0:
                raise MapError(EINVAL, self._msg("update", -EINVAL, "a program needs an ifindex"))
        return int(ifindex).to_bytes(4, "little") + pid.to_bytes(4, "little") + bytes(self.value_size - 8)

    def _devmap_check(self, value):
        """dev_map_update_elem -> __dev_map_alloc_node: dev_get_by_index(net, ifindex) in the namespace
        of the caller (the board's root namespace): -EINVAL if there is no such device.  A map whose
        object is not on a board yet has no namespace to check against."""
        ifindex = int.from_bytes(self._bytes(value, self.value_size, "value")[:4], "little")
        ref = getattr(self._obj, "_xdplab_board", None)
        board = ref() if ref is not None else None
        if ifindex and board is not None and ifindex not in board.netdev_ifindexes(0):
            raise MapError(EINVAL, f"bpf_map_update_elem on map {self.name!r} ({self.type_name}): -EINVAL: no device "
                                   f"with ifindex {ifindex} in the root namespace (dev_map_update_elem: "
                                   f"dev_get_by_index failed; the board has {sorted(board.netdev_ifindexes(0))})")

    def delete(self, key):
        """bpf_map_delete_elem(fd, key); raises MapError (-EINVAL for arrays, -ENOENT if absent)."""
        sc = self._key_in(key)
        err = int(self._k("bpf_map_delete")(self._bs, self.index, sc, SCRATCH_OFF))
        if err < 0:
            raise MapError(-err, self._msg("delete", err))

    def keys(self, as_int: bool = False):
        """Iterate keys with bpf_map_get_next_key, like `bpftool map dump`."""
        bs = self._bs
        if self.error or self.type in (BPF_MAP_TYPE_PERF_EVENT_ARRAY, BPF_MAP_TYPE_RINGBUF, 22, 23):
            return                                        # (queue/stack: get_next_key says -EINVAL)
        out = np.zeros(max(self.key_size, 4), dtype=np.uint8)
        kbuf = np.zeros(max(self.key_size, 4), dtype=np.uint8)
        fn = self._k("bpf_map_get_next_key")
        has = False
        seen = 0
        while True:
            err = int(fn(bs, self.index, kbuf, 0, int(has), out, 0))
            if err < 0:
                return
            k = bytes(out[:self.key_size])
            yield int.from_bytes(k, "little") if as_int else k
            kbuf[:] = out
            has = True
            seen += 1
            if seen > self.max_entries:       # defensive: never loop forever
                return

    def items(self, as_int: bool = False):
        for k in self.keys():
            v = self.get(k, as_int=as_int)
            if v is not None:
                yield (int.from_bytes(k, "little") if as_int else k), v

    def dump(self, as_int: bool = False) -> dict:
        """All entries: {key: value} (per-CPU: {key: [value per CPU]})."""
        return dict(self.items(as_int=as_int))

    def clear(self):
        """Zero every value (arrays) / delete every element (hash, fd maps)."""
        for k in list(self.keys()):
            try:
                self.delete(k)
            except MapError:
                if self.percpu:
                    self.update(k, [bytes(self.value_size)] * NR_CPUS)
                else:
                    self.update(k, bytes(self.value_size))

    def _msg(self, op, err, extra=""):
        return (f"bpf_map_{op}_elem on map {self.name!r} ({self.type_name}): {_errname(err)}"
                + (f" ({extra})" if extra else "") + _HINTS.get((op, -err), ""))

    def format(self) -> str:
        """Text like `bpftool map dump` (hex bytes; per-CPU values per CPU; a queue's or stack's
        values in the order pop takes them)."""
        lines = []
        if self.type in (22, 23):
            vals = self.values()
            lines += ["value: " + " ".join(f"{b:02x}" for b in v) for v in vals]
            lines.append(f"Found {len(vals)} elements")
            return "\n".join(lines)
        for k in self.keys():
            v = self.get(k)
            if v is None:
                continue
            kh = " ".join(f"{b:02x}" for b in k)
            if self.percpu:
                lines.append(f"key: {kh}")
                for c, vv in enumerate(v):
                    lines.append(f"    value (CPU {c:02d}): " + " ".join(f"{b:02x}" for b in vv))
            elif self.type == BPF_MAP_TYPE_PROG_ARRAY:
                lines.append(f"key: {kh}  value: program {v.name!r}")
            elif self.type in (BPF_MAP_TYPE_ARRAY_OF_MAPS, BPF_MAP_TYPE_HASH_OF_MAPS):
                lines.append(f"key: {kh}  value: map {getattr(v, 'name', v)!r} (id {getattr(v, 'id', '?')})")
            else:
                lines.append(f"key: {kh}  value: " + " ".join(f"{b:02x}" for b in v))
        lines.append(f"Found {sum(1 for _ in self.items())} elements")
        return "\n".join(lines)


_HINTS = {
    ("update", EEXIST): ": BPF_NOEXIST and the key exists (array maps: every index always exists)",
    ("update", ENOENT): ": BPF_EXIST and the key does not exist",
    ("update", E2BIG): ": the map is full or the index is >= max_entries",
    ("update", EINVAL): ": bad flags (use BPF_ANY, BPF_NOEXIST or BPF_EXIST)",
    ("delete", EINVAL): ": elements of array maps cannot be deleted (update them to zero instead)",
    ("delete", ENOENT): ": no such key",
}

import os
import random
import struct
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(Path(__file__).resolve().parent))
PROGS = ROOT / "xdplab" / "progs"
TPROGS = Path(__file__).resolve().parent / "progs"

# (object, program) pairs the differential tests run: the lab's programs and the test programs
LAB = [("xdp_drop.o", "xdp_drop"), ("xdp_pass.o", "xdp_pass"), ("xdp_abort.o", "xdp_abort"),
       ("ssh_mirror.o", "ssh_mirror"), ("xdp2.o", "xdp_prog1"), ("redirect_map.o", "xdp_redirect_map"),
       ("redirect_cpu.o", "xdp_redirect_cpu"), ("xsk_redirect.o", "xdp_sock_prog"),
       ("xdp_frags.o", "xdp_frags_count")]
TEST = [("loop_csum.o", "xdp_loop_csum"), ("globals.o", "xdp_globals"), ("globals.o", "xdp_second"),
        ("adjust.o", "xdp_adjust"), ("hashmaps.o", "xdp_hashmaps"), ("atomics.o", "xdp_atomics"),
        ("legacy_maps.o", "count_ifindex")]


def eth(dst=b"\xaa\xbb\xcc\xdd\xee\xff", src=b"\x11\x22\x33\x44\x55\x66", proto=0x0800):
    return dst + src + struct.pack("!H", proto)


def ipv4(proto=6, src=(10, 0, 0, 1), dst=(10, 0, 0, 2), ihl=5, total=40):
    return bytes([0x40 | ihl, 0]) + struct.pack("!HHHBBH", total, 0, 0, 64, proto, 0) + bytes(src) + bytes(dst) \
        + bytes(4 * (ihl - 5))


def tcp(sport=22, dport=1234):
    return struct.pack("!HHIIHHHH", sport, dport, 1, 0, 0x5010, 512, 0, 0)


def udp(sport=53, dport=5353, ln=8):
    return struct.pack("!HHHH", sport, dport, ln, 0)


def sample_packets(seed=1, n_random=60):
    """Edge sizes, truncated and malformed headers, VLAN, IPv6, random bytes."""
    rnd = random.Random(seed)
    pk = []
    ssh = eth() + ipv4() + tcp(22, 40000) + b"payload!"
    pk += [ssh, eth() + ipv4() + tcp(40000, 22), eth() + ipv4() + tcp(80, 8080)]
    pk += [ssh[:n] for n in (14, 15, 20, 33, 34, 35, 47, 53, 54, 55)]
    pk += [eth() + ipv4(ihl=6, total=44) + tcp(22, 1), eth() + ipv4(proto=17) + udp(), eth(proto=0x86dd) +
           bytes([0x60, 0, 0, 0, 0, 8, 17, 64]) + bytes(32) + udp()]
    pk += [eth(proto=0x8100) + b"\x00\x05\x08\x00" + ipv4(proto=17) + udp(),
           eth(proto=0x88a8) + b"\x00\x05\x81\x00\x00\x06\x08\x00" + ipv4(proto=1) + bytes(8),
           eth(proto=0x8100) + b"\x00\x05"]
    pk += [bytes(60), b"\xff" * 64, bytes(1500), bytes([i & 0xFF for i in range(3520)])]
    for _ in range(n_random):
        n = rnd.choice([14, 15, 16, 20, 33, 34, 54, 60, 64, 100, 128, 511, 1024, 1514, 3520])
        pk.append(bytes(rnd.getrandbits(8) for _ in range(n)))
    for _ in range(n_random // 3):
        base = bytearray(eth() + ipv4(proto=rnd.choice([6, 17, 1])) + tcp(rnd.choice([22, 80]), rnd.choice([22, 443])))
        for _ in range(rnd.randint(1, 4)):
            base[rnd.randrange(len(base))] = rnd.getrandbits(8)
        pk.append(bytes(base[:rnd.randint(14, len(base))]))
    return pk


@pytest.fixture(scope="session")
def progs_dir():
    return PROGS


@pytest.fixture(scope="session")
def tprogs_dir():
    return TPROGS

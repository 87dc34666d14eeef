"""Run by test_real.py::test_fib_lookup_matches_kernel inside a fresh network namespace
(`unshare -n`): give the kernel routes and neighbours, give xdplab's obj.fib the same, run
fib_router.o in both on the same frames, print both results as JSON."""

import json
import re
import subprocess
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from conftest import TPROGS, eth, ipv4, tcp  # noqa: E402

from xdplab.bpf import load_object, test_run  # noqa: E402
from xdplab.bpf.oracle import KernelObject  # noqa: E402

SETUP = """
ip link set lo up
ip link add v0 type veth peer name v1
ip link set v0 up
ip link set v1 up
ip addr add 192.168.1.1/24 dev v0
ip -6 addr add 2001:db8:1::1/64 dev v0 nodad
ip route add 10.1.0.0/16 via 192.168.1.254 dev v0
ip route add 10.2.0.0/16 via 192.168.1.253 dev v0
ip route add blackhole 10.9.0.0/16
ip route add prohibit 10.8.0.0/16
ip route add unreachable 10.7.0.0/16
ip neigh add 192.168.1.254 lladdr 02:00:00:00:00:fe dev v0
ip neigh add 192.168.1.7 lladdr 02:00:00:00:00:07 dev v0
ip -6 route add 2001:db8:99::/48 via 2001:db8:1::fe dev v0 metric 1024
ip -6 neigh add 2001:db8:1::fe lladdr 02:00:00:00:06:fe dev v0
sysctl -qw net.ipv4.conf.all.forwarding=1
sysctl -qw net.ipv4.conf.lo.forwarding=1
sysctl -qw net.ipv6.conf.all.forwarding=1
"""


def sh(cmd):
    return subprocess.run(cmd, shell=True, check=True, capture_output=True, text=True).stdout


def main():
    for line in SETUP.strip().splitlines():
        sh(line)
    links = sh("ip -o link")
    v0 = re.search(r"^(\d+): v0@\S+ .*?link/ether (\S+)", links, re.M)
    ifi, mac = int(v0.group(1)), v0.group(2)
    mtu6 = int(sh("cat /proc/sys/net/ipv6/conf/v0/mtu").strip())
    obj = load_object(TPROGS / "fib_router.o")
    fib = obj.fib
    fib.add_dev(ifi, mac, mtu=1500)
    fib.add_route("192.168.1.0/24", dev=ifi)
    fib.add_route("10.1.0.0/16", dev=ifi, gw="192.168.1.254")
    fib.add_route("10.2.0.0/16", dev=ifi, gw="192.168.1.253")
    fib.add_route("10.9.0.0/16", type="blackhole")
    fib.add_route("10.8.0.0/16", type="prohibit")
    fib.add_route("10.7.0.0/16", type="unreachable")
    for local in ("192.168.1.1/32", "127.0.0.0/8"):            # the kernel's local table
        fib.add_route(local, type="local")
    fib.add_neigh("192.168.1.254", dev=ifi, mac="02:00:00:00:00:fe")
    fib.add_neigh("192.168.1.7", dev=ifi, mac="02:00:00:00:00:07")
    fib.add_route("2001:db8:1::/64", dev=ifi, metric=256)
    fib.add_route("2001:db8:99::/48", dev=ifi, gw="2001:db8:1::fe", metric=1024)
    fib.add_route("2001:db8:1::1/128", type="local")
    fib.add_neigh("2001:db8:1::fe", dev=ifi, mac="02:00:00:00:06:fe")
    frames = []
    for dst in [(10, 1, 2, 3), (10, 2, 0, 1), (192, 168, 1, 7), (192, 168, 1, 77), (8, 8, 8, 8), (10, 9, 1, 1),
                (10, 8, 1, 1), (10, 7, 1, 1), (192, 168, 1, 1), (127, 0, 0, 1)]:
        frames.append(eth() + ipv4(dst=dst, total=40) + tcp())
    frames.append(eth() + ipv4(dst=(10, 1, 2, 3), total=1501) + tcp())
    frames.append(eth() + ipv4(dst=(10, 1, 2, 3), total=1500) + tcp())
    for d6, plen in [("20010db8009900000000000000000001", 20), ("20010db8000100000000000000000009", 20),
                     ("20010db8009900000000000000000001", mtu6 - 40 + 1), ("20010db8777700000000000000000001", 20)]:
        frames.append(eth(proto=0x86DD) + bytes([0x60, 0, 0, 0]) + plen.to_bytes(2, "big") + bytes([6, 64])
                      + bytes.fromhex("20010db8000100000000000000000001") + bytes.fromhex(d6) + tcp())
    out = []
    with KernelObject(obj, programs=["xdp_router"]) as k:
        for f in frames:
            kr = k.test_run("xdp_router", f)
            kl = {int.from_bytes(a, "little"): int.from_bytes(b, "little", signed=True) for a, b in k.dump("last").items()}
            vr = test_run(obj.programs["xdp_router"], f, ingress_ifindex=1)
            vl = {int.from_bytes(a, "little"): int.from_bytes(b, "little", signed=True) for a, b in obj.maps["last"].items()}
            out.append({"frame": f.hex(), "kernel": [kr[0], kr[1].hex(), kl], "vm": [vr.retval, vr.data_out.hex(), vl],
                        "fault": vr.fault})
    print(json.dumps(out))


if __name__ == "__main__":
    main()

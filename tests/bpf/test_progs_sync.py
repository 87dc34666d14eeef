"""The prebuilt .o files stay in step with their C sources.

MANIFEST.sha256 (next to the sources) records the source each object was built from.
A changed source without a rebuilt object fails here.  Where clang exists, every
source is recompiled and the fresh object must behave like the committed one on the
same packets (retval, output bytes, maps).  `python tests/bpf/test_progs_sync.py
--update` rewrites the manifests after a rebuild.
"""

import hashlib
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import PROGS, TPROGS, sample_packets

from xdplab.bpf import load_object, test_run
from xdplab.bpf.progs import clang_command

DIRS = [PROGS, TPROGS]
EXTRA = {"atomics.c": ["-mcpu=v3"]}


def _manifest(d):
    out = {}
    for line in (d / "MANIFEST.sha256").read_text().splitlines():
        h, name = line.split()
        out[name] = h
    return out


@pytest.mark.parametrize("d", DIRS, ids=["xdplab-progs", "test-progs"])
def test_sources_match_manifest(d):
    man = _manifest(d)
    srcs = sorted(p.name for p in d.glob("*.c"))
    assert sorted(man) == srcs, "a source was added or removed: rebuild and run test_progs_sync.py --update"
    for name in srcs:
        assert (d / name).with_suffix(".o").exists(), f"{name}: no prebuilt object"
        h = hashlib.sha256((d / name).read_bytes()).hexdigest()
        assert h == man[name], (f"{name} changed since its .o was built: run `make -C {d}` (clang -O2 -g "
                                f"-target bpf) and `python tests/bpf/test_progs_sync.py --update`")


def _behaviour(path):
    obj = load_object(path, verify=False)          # bad_oob.o: the verifier refuses it on purpose
    res = []
    for name, prog in sorted(obj.programs.items()):
        if prog.load_error:                  # refused alone (e.g. a helper xdplab lacks): the same refusal
            res.append((name, prog.load_error))
            continue
        for pkt in sample_packets(seed=5, n_random=10):
            r = test_run(prog, pkt)
            res.append((name, r.retval, r.data_out, r.fault))
    maps = {n: ({k: v.name for k, v in m.items()} if m.type in (12, 13) else
                m.records() if m.type in (4, 27) else m.dump())
            for n, m in obj.maps.items() if m.type != 3}
    return res, maps


@pytest.mark.skipif(shutil.which("clang") is None, reason="clang not installed (apt-get install clang libbpf-dev)")
@pytest.mark.parametrize("src", sorted(PROGS.glob("*.c")) + sorted(TPROGS.glob("*.c")), ids=lambda p: p.name)
def test_fresh_build_behaves_like_prebuilt(src, tmp_path):
    out = tmp_path / src.with_suffix(".o").name
    r = subprocess.run(clang_command(src.name, out, EXTRA.get(src.name, [])), cwd=src.parent,
                       capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    assert _behaviour(out) == _behaviour(src.with_suffix(".o"))


if __name__ == "__main__" and "--update" in sys.argv:
    for d in DIRS:
        lines = [f"{hashlib.sha256(p.read_bytes()).hexdigest()}  {p.name}" for p in sorted(d.glob("*.c"))]
        (d / "MANIFEST.sha256").write_text("\n".join(lines) + "\n")
        print(f"updated {d / 'MANIFEST.sha256'}")

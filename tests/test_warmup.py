"""`xdplab warmup` (make lab, Binder's postBuild): it covers every board a chapter builds with the JIT, and
a cache built the way Binder's postBuild builds it serves a new process, as the running session is, without
compiling anything (numba's own compile events say so)."""

from __future__ import annotations

import ast
import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from xdplab.warmup import BENCHES, BOARDS, STEPS

ROOT = Path(__file__).resolve().parents[1]


def _literal(node):
    try:
        return ast.literal_eval(node)
    except ValueError:
        return ast.unparse(node)


def chapter_jit_boards():
    """(program, options) of every Board(...) call in a chapter's code cells that runs with the JIT."""
    found = []
    for nb in sorted((ROOT / "course").glob("*.ipynb")):
        for cell in json.loads(nb.read_text())["cells"]:
            if cell["cell_type"] != "code":
                continue
            src = "".join(cell["source"])
            if src.startswith("%%"):               # a cell magic (%%bpf_c): the cell is not Python
                continue
            src = "\n".join(ln for ln in src.splitlines() if not ln.lstrip().startswith(("%", "!")))
            for node in ast.walk(ast.parse(src)):
                if isinstance(node, ast.Call) and getattr(node.func, "id", None) == "Board":
                    kw = {k.arg: _literal(k.value) for k in node.keywords}
                    if kw.pop("mode", "jit") != "jit":
                        continue
                    prog = _literal(node.args[0]) if node.args else kw.pop("prog", None)
                    found.append((nb.name, prog, kw))
    return found


def test_every_jit_board_of_the_chapters_is_warmed():
    boards = chapter_jit_boards()
    assert len(boards) >= 4, boards          # ch00's Board("drop"), ch02's three
    warmed = [(p, o) for p, o, _ in BOARDS]
    for nb, prog, opts in boards:
        assert (prog, opts) in warmed, f"{nb}: Board({prog!r}, {opts}) runs with the JIT but xdplab warmup " \
                                       "does not compile it: add it to xdplab.warmup.BOARDS"
    assert len(STEPS) == len(BOARDS) + len(BENCHES)


def _binder_env(tmp_path):
    start = (ROOT / "binder" / "start").read_text()
    assert start.rstrip().endswith('exec "$@"'), "repo2docker's start script must end with exec \"$@\""
    env = dict(os.environ, NUMBA_CACHE_DIR=str(tmp_path / "numba"))
    exports = dict(re.findall(r"^export (\w+)=(\S+)$", start, re.M))
    assert exports.get("NUMBA_CPU_NAME") == "generic", "binder/start must make the session compile for the " \
                                                       "generic CPU, as postBuild does"
    env.update(exports)
    post = (ROOT / "binder" / "postBuild").read_text()
    assert "export NUMBA_CPU_NAME=generic" in post and re.search(r"^python -m xdplab warmup --all$", post, re.M)
    return env


# numba's compile events name every dispatcher it compiles; a cfunc (the interpreter's entry) fires
# none, so it is named when it was not a cache hit
_COUNT = """
import json, sys
from numba.core.event import install_recorder
from xdplab.warmup import warmup
from xdplab.bpf import vm
with install_recorder("numba:compile") as rec:
    warmup(progress=False, everything=True)
names = {ev.data["dispatcher"].py_func.__qualname__ for _, ev in rec.buffer if ev.is_start and "dispatcher" in ev.data}
if vm._INTERP_ADDR and vm._INTERP_ADDR[0].cache_hits == 0:
    names.add("cfunc " + vm._INTERP_ADDR[0].__name__)
print(json.dumps(sorted(names)))
"""


@pytest.mark.slow
@pytest.mark.skipif(os.environ.get("NUMBA_BOUNDSCHECK") == "1",
                    reason="a cache test: the bounds-checked run compiles other machine code, and its own cache")
def test_a_cache_built_as_postbuild_does_serves_a_new_session_without_compiling(tmp_path):
    env = _binder_env(tmp_path)
    # the image build: postBuild's warm-up, in its own process, on an empty cache
    build = subprocess.run([sys.executable, "-c", _COUNT], env=env, capture_output=True, text=True,
                           timeout=1800, cwd=ROOT)
    assert build.returncode == 0, build.stderr[-3000:]
    compiled_at_build = json.loads(build.stdout.splitlines()[-1])
    assert compiled_at_build, "the warm-up on an empty cache compiled nothing: the recorder sees no compiles"
    # the learner's session: a new process (as a kernel Binder starts), same environment
    run = subprocess.run([sys.executable, "-c", _COUNT], env=env, capture_output=True, text=True,
                         timeout=600, cwd=ROOT)
    assert run.returncode == 0, run.stderr[-3000:]
    assert json.loads(run.stdout.splitlines()[-1]) == [], "functions compiled again in the session"

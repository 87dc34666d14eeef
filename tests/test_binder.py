"""The Binder image: repo2docker must read binder/ and build Python 3.11, clang + libbpf, the package with
its lab extras, and run postBuild (numba cache warm-up).  Dry run only (``--no-build``): no Docker needed.

Needs ``jupyter-repo2docker`` (a test dependency: ``pip install jupyter-repo2docker``).
"""

from __future__ import annotations

import importlib.util
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
BINDER = ROOT / "binder"


@pytest.fixture(scope="module")
def dockerfile():
    if importlib.util.find_spec("repo2docker") is None:
        pytest.skip("jupyter-repo2docker is not installed (pip install jupyter-repo2docker): "
                    "cannot dry-run the Binder build")
    out = subprocess.run([sys.executable, "-m", "repo2docker", "--no-build", "--debug", str(ROOT)],
                         capture_output=True, text=True, timeout=300, cwd=ROOT)
    assert out.returncode == 0, out.stderr[-3000:]
    return out.stdout + out.stderr


def test_binder_files_are_the_ones_repo2docker_reads():
    assert (BINDER / "runtime.txt").read_text().strip() == "python-3.11"
    assert not (BINDER / "environment.yml").exists(), "environment.yml would override requirements.txt/runtime.txt"
    reqs = [ln.strip() for ln in (BINDER / "requirements.txt").read_text().splitlines()
            if ln.strip() and not ln.lstrip().startswith("#")]
    assert reqs == [".[lab]"], "binder/ hides the root pyproject: requirements.txt must install it (.[lab])"
    apt = [ln.strip() for ln in (BINDER / "apt.txt").read_text().splitlines()
           if ln.strip() and not ln.lstrip().startswith("#")]
    assert apt == ["clang", "libbpf-dev"]
    post = (BINDER / "postBuild").read_text()
    assert post.startswith("#!/bin/bash") and re.search(r"^set -e", post, re.M)
    assert re.search(r"^python -m xdplab warmup --all$", post, re.M)
    assert (BINDER / "start").read_text().rstrip().endswith('exec "$@"')


def test_postbuild_is_executable_in_git():
    out = subprocess.run(["git", "ls-files", "-s", "binder/postBuild"], capture_output=True, text=True, cwd=ROOT)
    if out.returncode != 0 or not out.stdout:
        pytest.skip("binder/postBuild is not committed yet (or not a git checkout)")
    assert out.stdout.split()[0] == "100755", "postBuild must be committed with mode 755"


def test_repo2docker_dockerfile(dockerfile):
    d = dockerfile
    assert re.search(r"python[=-]3\.11", d), "repo2docker did not pick Python 3.11 from runtime.txt"
    assert re.search(r"apt-get install .*\bclang\b.*\blibbpf-dev\b", d), "apt.txt packages are not installed"
    assert 'pip install --no-cache-dir -r "binder/requirements.txt"' in d
    # the local package is installed after the repository is copied in (not in the pre-assemble step)
    assert d.index("COPY --chown=0:0 src/ ${REPO_DIR}/") < d.index('-r "binder/requirements.txt"\n')
    assert "RUN ./binder/postBuild" in d
    assert d.index('-r "binder/requirements.txt"\n') < d.index("RUN ./binder/postBuild")


def test_the_session_runs_binder_start(dockerfile):
    """repo2docker makes binder/start the entry point of every session: that is where the session gets the
    generic-CPU setting that lets it use postBuild's numba cache."""
    assert 'ENV R2D_ENTRYPOINT="${REPO_DIR}/binder/start"' in dockerfile

"""`xdplab lab` / `make lab`: the JupyterLab command line (root, headless, the course index) and the save hook
that keeps the course notebooks as committed except for the learner's own edits (a real server, REST API)."""

from __future__ import annotations

import copy
import json
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from xdplab.course import jupyter as J

ROOT = Path(__file__).resolve().parents[1]
NB = "00-the-lab.ipynb"


def test_lab_command_as_root_without_a_display(monkeypatch):
    monkeypatch.setattr(J.os, "geteuid", lambda: 0)
    monkeypatch.delenv("DISPLAY", raising=False)
    monkeypatch.delenv("WAYLAND_DISPLAY", raising=False)
    monkeypatch.setattr(J.sys, "platform", "linux")
    cmd = J.lab_command(ROOT / "course", port=8890)
    assert "--allow-root" in cmd and "--no-browser" in cmd and "--port=8890" in cmd
    assert f"--ServerApp.root_dir={ROOT / 'course'}" in cmd
    assert "--LabApp.default_url=/lab/tree/index.ipynb" in cmd
    assert "--FileContentsManager.pre_save_hook=xdplab.course.jupyter.pre_save_hook" in cmd


def test_lab_command_for_a_user_with_a_display(monkeypatch):
    monkeypatch.setattr(J.os, "geteuid", lambda: 1000)
    monkeypatch.setenv("DISPLAY", ":0")
    cmd = J.lab_command(ROOT / "course")
    assert "--allow-root" not in cmd and "--no-browser" not in cmd


def test_xdplab_lab_refuses_a_folder_without_the_course(tmp_path):
    out = subprocess.run([sys.executable, "-m", "xdplab", "lab", "--course", str(tmp_path), "--no-warmup"],
                         capture_output=True, text=True, timeout=60)
    assert out.returncode == 2 and "index.ipynb missing" in out.stderr


def _free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def lab(tmp_path_factory):
    if shutil.which("git") is None:
        pytest.skip("git is not installed")
    top = tmp_path_factory.mktemp("clone")
    shutil.copytree(ROOT / "course", top / "course", ignore=shutil.ignore_patterns(".ipynb_checkpoints"))
    for args in (["init", "-q"], ["add", "."], ["-c", "user.name=t", "-c", "user.email=t@t", "commit", "-qm", "c"]):
        subprocess.run(["git", *args], cwd=top, check=True, capture_output=True)
    port = _free_port()
    cmd = J.lab_command(top / "course", port=port, browser=False,
                        extra=["--ServerApp.ip=127.0.0.1", "--IdentityProvider.token=", "--ServerApp.password=", "--ServerApp.disable_check_xsrf=True",
                               f"--LabApp.workspaces_dir={top / 'ws'}"])
    log = open(top / "lab.log", "w")
    proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, cwd=top)
    base = f"http://127.0.0.1:{port}"
    for _ in range(300):
        try:
            urllib.request.urlopen(f"{base}/api/status", timeout=2)
            break
        except OSError:
            if proc.poll() is not None:
                break
            time.sleep(0.2)
    else:
        proc.kill()
        pytest.fail("jupyter-lab did not start: " + (top / "lab.log").read_text()[-2000:])
    if proc.poll() is not None:
        pytest.fail("jupyter-lab exited: " + (top / "lab.log").read_text()[-2000:])
    yield base, top / "course", top / "lab.log"
    proc.terminate()
    proc.wait(timeout=20)
    log.close()


def _get(base, name):
    with urllib.request.urlopen(f"{base}/api/contents/{name}?content=1", timeout=30) as r:
        return json.load(r)["content"]


def _put(base, name, content):
    body = json.dumps({"type": "notebook", "format": "json", "content": content}).encode()
    req = urllib.request.Request(f"{base}/api/contents/{name}", data=body, method="PUT",
                                 headers={"Content-Type": "application/json"})
    urllib.request.urlopen(req, timeout=30).read()


def test_the_server_prints_the_course_index_url(lab):
    base, _, log = lab
    assert "/lab/tree/index.ipynb" in log.read_text()


def test_opening_and_running_a_notebook_changes_nothing_on_disk(lab):
    """What a kernel and a run add (the machine's language_info, widget state, execution timings, new
    outputs and counts of unchanged cells) is not written: the file stays byte for byte as committed."""
    base, course, _ = lab
    before = (course / NB).read_bytes()
    nb = _get(base, NB)
    nb["metadata"]["language_info"] = {"name": "python", "version": "3.99.1", "mimetype": "text/x-python",
                                       "codemirror_mode": {"name": "ipython", "version": 3}}
    nb["metadata"]["widgets"] = {"application/vnd.jupyter.widget-state+json": {"state": {}}}
    for c in nb["cells"]:
        if c["cell_type"] == "code":
            c["execution_count"] = 99
            c["outputs"] = [{"output_type": "stream", "name": "stdout", "text": "0.123 s on this machine\n"}]
            c["metadata"]["execution"] = {"iopub.status.busy": "2026-12-06T17:00:00Z"}
    _put(base, NB, nb)
    assert (course / NB).read_bytes() == before


def test_a_learners_own_cells_are_saved_as_written(lab):
    base, course, _ = lab
    orig = json.loads((course / NB).read_text())
    nb = _get(base, NB)
    code = [i for i, c in enumerate(nb["cells"]) if c["cell_type"] == "code"]
    edited = code[0]
    nb["cells"][edited]["source"] = "print('my change')"
    nb["cells"][edited]["outputs"] = [{"output_type": "stream", "name": "stdout", "text": "my change\n"}]
    mine = copy.deepcopy(nb["cells"][edited])
    mine.update(id="my-own-cell", source="x = 1")
    nb["cells"].append(mine)
    nb["metadata"]["language_info"]["version"] = "3.99.1"
    _put(base, NB, nb)
    saved = json.loads((course / NB).read_text())
    assert saved["metadata"] == orig["metadata"]
    assert J._source(saved["cells"][edited]) == "print('my change')"
    assert "".join(saved["cells"][edited]["outputs"][0]["text"]) == "my change\n"
    assert saved["cells"][-1]["id"] == "my-own-cell" and J._source(saved["cells"][-1]) == "x = 1"
    for i, c in enumerate(orig["cells"]):
        if i != edited:
            assert saved["cells"][i] == c, f"cell {c['id']} changed"


def test_outside_git_only_machine_fields_are_dropped():
    nb = {"metadata": {"language_info": {"name": "python", "version": "3.12.1"}, "widgets": {"x": 1}},
          "cells": [{"cell_type": "code", "id": "a", "metadata": {"execution": {"t": 1}}, "source": "1",
                     "outputs": [], "execution_count": 3}]}
    J.restore_unchanged(nb, None)
    assert nb["metadata"] == {"language_info": {"name": "python"}}
    assert nb["cells"][0]["metadata"] == {} and nb["cells"][0]["execution_count"] == 3

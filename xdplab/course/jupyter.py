"""The lab's JupyterLab: how ``xdplab lab`` (``make lab``) starts it, and the save hook that keeps the
course notebooks clean.

Opening a notebook is not an edit.  When a kernel starts, JupyterLab fills in the notebook's
``language_info`` (the Python version of *this* machine) and marks the document dirty; autosave then
writes it, and running a cell writes new outputs, execution counts and widget state.  Every learner's
clone would differ from the repository after a first look, and ``git pull`` would conflict.
:func:`pre_save_hook` runs before JupyterLab writes a notebook: every cell whose id and source are the
repository's keeps the repository's outputs, execution count and metadata, and the notebook keeps the
repository's metadata.  Only the cells the learner wrote or changed are saved as they are.  The
repository's version is ``git show HEAD:<path>``; outside a git checkout the hook only drops the
machine-specific fields (``language_info`` beyond its name, ``widgets`` state, ``execution`` timings).
"""

from __future__ import annotations

import copy
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

__all__ = ["pre_save_hook", "restore_unchanged", "pristine_notebook", "lab_command", "COURSE_INDEX"]

COURSE_INDEX = "index.ipynb"


def _source(cell) -> str:
    s = cell.get("source", "")
    return "".join(s) if isinstance(s, list) else s


def _strip_machine_fields(nb: dict) -> None:
    md = nb.setdefault("metadata", {})
    li = md.get("language_info")
    if isinstance(li, dict):
        md["language_info"] = {"name": li.get("name", "python")}
    md.pop("widgets", None)
    for c in nb.get("cells", []):
        c.get("metadata", {}).pop("execution", None)


def restore_unchanged(nb: dict, pristine: dict | None) -> dict:
    """``nb`` as it should be saved: cells unchanged from ``pristine`` (same id, same source) take
    the pristine cell whole, and the notebook takes the pristine metadata.  Changes ``nb`` in place
    and returns it."""
    if pristine is None:
        _strip_machine_fields(nb)
        return nb
    orig = {c.get("id"): c for c in pristine.get("cells", []) if c.get("id")}
    for i, c in enumerate(nb.get("cells", [])):
        o = orig.get(c.get("id"))
        if o is not None and o.get("cell_type") == c.get("cell_type") and _source(o) == _source(c):
            nb["cells"][i] = copy.deepcopy(o)
        else:
            c.get("metadata", {}).pop("execution", None)
    nb["metadata"] = copy.deepcopy(pristine.get("metadata", {}))
    for k in ("nbformat", "nbformat_minor"):
        if k in pristine:
            nb[k] = pristine[k]
    return nb


def pristine_notebook(path: str | os.PathLike) -> dict | None:
    """The committed version of ``path`` (``git show HEAD:...``), or None where there is none."""
    p = Path(path).resolve()
    try:
        top = subprocess.run(["git", "rev-parse", "--show-toplevel"], cwd=p.parent, capture_output=True,
                             text=True, timeout=10)
        if top.returncode != 0:
            return None
        rel = p.relative_to(Path(top.stdout.strip()).resolve()).as_posix()
        out = subprocess.run(["git", "show", f"HEAD:{rel}"], cwd=p.parent, capture_output=True, timeout=10)
    except (OSError, ValueError, subprocess.SubprocessError):
        return None
    if out.returncode != 0:
        return None
    try:
        return json.loads(out.stdout)
    except ValueError:
        return None


def pre_save_hook(model, path, contents_manager=None, **kwargs):
    """``FileContentsManager.pre_save_hook``: see the module docstring."""
    if model.get("type") != "notebook" or not isinstance(model.get("content"), dict):
        return
    root = getattr(contents_manager, "root_dir", None) or os.getcwd()
    restore_unchanged(model["content"], pristine_notebook(os.path.join(root, path.lstrip("/"))))


def lab_command(course_dir: str | os.PathLike, port: int | None = None, browser: bool | None = None,
                extra: list[str] | None = None) -> list[str]:
    """The ``jupyter-lab`` command line ``xdplab lab`` runs: rooted at the course, opening its index,
    with the save hook; ``--allow-root`` for root (containers, Binder-like boxes) and ``--no-browser``
    where there is no display (headless)."""
    exe = shutil.which("jupyter-lab", path=os.path.dirname(sys.executable)) or shutil.which("jupyter-lab")
    if exe is None:
        raise FileNotFoundError("jupyter-lab is not installed in this environment: pip install 'xdplab[lab]' "
                                "(make lab does it)")
    if browser is None:
        browser = sys.platform in ("darwin", "win32") or bool(os.environ.get("DISPLAY")
                                                                or os.environ.get("WAYLAND_DISPLAY"))
    cmd = [exe, f"--ServerApp.root_dir={Path(course_dir).resolve()}",
           f"--LabApp.default_url=/lab/tree/{COURSE_INDEX}",
           "--FileContentsManager.pre_save_hook=xdplab.course.jupyter.pre_save_hook"]
    if hasattr(os, "geteuid") and os.geteuid() == 0:
        cmd.append("--allow-root")
    if not browser:
        cmd.append("--no-browser")
    if port:
        cmd.append(f"--port={port}")
    return cmd + list(extra or [])

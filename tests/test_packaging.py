"""The package list in pyproject.toml covers every Python package in the tree."""
import os
import tomllib

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def test_every_package_is_listed():
    cfg = tomllib.load(open(os.path.join(ROOT, "pyproject.toml"), "rb"))["tool"]["setuptools"]
    listed = set(cfg["packages"])
    found = set()
    for top, name in (("xdplab", "xdplab"), ("widgets", "xdplab_widgets")):
        for d, _, files in os.walk(os.path.join(ROOT, top)):
            if "__init__.py" in files and "__pycache__" not in d:
                rel = os.path.relpath(d, os.path.join(ROOT, top))
                found.add(name if rel == "." else name + "." + rel.replace(os.sep, "."))
    data = {"xdplab.progs"}            # data folders listed on purpose (see pyproject.toml)
    assert found | data == listed, f"add to / remove from [tool.setuptools] packages: {(found | data) ^ listed}"

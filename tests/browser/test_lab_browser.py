"""Every course notebook, run in a real browser: JupyterLab + Debian's Chromium driven by Playwright.

For each ``course/*.ipynb`` (a copy, so nothing is saved back): open it, wait
until its kernel is connected and idle, run all cells, wait for them to finish,
then check that bqplot figures rendered with a size where the notebook uses
the views, that no widget failed to display and that no output shows a Python
traceback.  A screenshot per notebook goes to ``artifacts/screenshots/``.

``test_player_on_a_laptop_screen`` opens the player alone on a 1366x768 page,
once stepping in the page (the lab's default) and once through the kernel: the
RX ring, the code, the xdp_buff and the page_pool together on screen, no code
line or label cut, no console error; then it measures what a learner waits for
(step-to-screen, frames per second while playing) and prints it with the
machine's load: speed is reported, never asserted (benchmarks/ measure it).
Then a cell prints what the kernel's player holds, and the page must show the
same frame and views (event line, captions, code, each descriptor's colour),
after the learner's steps and play and after a seek from Python.

Run: ``pytest -m browser tests/browser`` (about a minute for one notebook);
``-k player -s`` for the player alone, with its figures.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

pytestmark = pytest.mark.browser

ROOT = Path(__file__).resolve().parents[2]
CHROMIUM = Path("/usr/bin/chromium")
NOTEBOOKS = sorted((ROOT / "course").glob("*.ipynb"))
SHOTS = ROOT / "artifacts" / "screenshots"
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run"]
RUN_TIMEOUT_S = 150
VIEWPORT = {"width": 1500, "height": 2600}       # tall enough for the whole lab in one screenshot
LAPTOP = {"width": 1366, "height": 768}          # the learner's screen the player must fit
STEP_TARGET_MS, PLAY_TARGET_FPS = 50, 20         # issue 21's targets: printed beside the load, never asserted
# the player notebook, once per way of stepping (the lab's default, the page; and the kernel's round trip, for
# comparison)
PLAYER_STEPPINGS = ("browser", "kernel")
PLAYER_NBS = {st: f"player-1366x768-{st}.ipynb" for st in PLAYER_STEPPINGS}


def _player_cells(stepping):
    return ["from xdplab import Board\n"
            "board = Board(\"drop\", mode=\"python\", trace=20000)\n"
            "board.run(packets=300, size=64, rate=100_000)",
            "from xdplab_widgets import Lab\n"
            f"lab = Lab(board, start=\"napi_poll\", stepping=\"{stepping}\")\n"
            "lab"]

# click "step ▶" and time until the player's event line has changed on screen: the kernel round trip, every
# view's messages (the event line is the last of a step's burst) and the next painted frame
STEP_LATENCY_JS = """async () => {
  const btn = document.querySelector('.xdplab-step');
  const lbl = document.querySelector('.xdplab-event');
  if (!btn || !lbl) return null;
  const before = lbl.textContent;
  const t0 = performance.now();
  return await new Promise(resolve => {
    const obs = new MutationObserver(() => {
      if (lbl.textContent !== before) {
        obs.disconnect();
        requestAnimationFrame(() => resolve(performance.now() - t0));
      }
    });
    obs.observe(lbl, {subtree: true, childList: true, characterData: true});
    btn.click();
    setTimeout(() => { obs.disconnect(); resolve(-1); }, 10000);
  });
}"""

# press play, count the painted frames whose event line differs from the one before, press pause; then
# check that the position holds and that the slider shows the event line's number
PLAY_JS = """async (ms) => {
  const play = document.querySelector('.xdplab-play');
  const lbl = document.querySelector('.xdplab-event');
  const handle = document.querySelector('.xdplab-slider .noUi-handle');      // the slider's position
  const num = () => parseInt((lbl.textContent.match(/event (\\d+)/) || [0, -1])[1]);
  let shown = 0, last = lbl.textContent, running = true;
  const v0 = num();
  const onFrame = () => {
    if (!running) return;
    if (lbl.textContent !== last) { shown++; last = lbl.textContent; }
    requestAnimationFrame(onFrame);
  };
  play.click();
  const t0 = performance.now();
  requestAnimationFrame(onFrame);
  await new Promise(r => setTimeout(r, ms));
  play.click();
  const secs = (performance.now() - t0) / 1000;
  running = false;
  const v1 = num();
  await new Promise(r => setTimeout(r, 1500));
  const settled = num();
  await new Promise(r => setTimeout(r, 1000));
  return {shown, secs, v0, v1, settled, later: num(), readout: parseInt(handle.getAttribute('aria-valuenow')),
          playLabel: play.textContent.trim()};
}"""

# everything of the player that must be on screen and whole: its four panels' boxes, the notebook's
# visible area, the code block's and the labels' overflow
LAYOUT_JS = """() => {
  const r = e => { const b = e.getBoundingClientRect(); return [b.left, b.top, b.right, b.bottom]; };
  const q = s => document.querySelector(s);
  const panes = ['ring', 'napi', 'xdp_buff', 'page_pool'].map(k => [k, r(q('.xdplab-panel-' + k))]);
  const view = q('.jp-NotebookPanel:not(.lm-mod-hidden) .jp-WindowedPanel-outer') ||
               q('.jp-NotebookPanel:not(.lm-mod-hidden) .jp-Notebook');
  const code = q('.xdplab-code pre');
  const cut = [];
  for (const e of q('.xdplab-lab').querySelectorAll('button, .widget-label, .widget-readout, .widget-html-content')) {
    if (e.offsetParent !== null && e.scrollWidth > e.clientWidth + 1) cut.push(e.textContent.trim().slice(0, 40));
  }
  for (const e of q('.xdplab-lab').querySelectorAll('.widget-box, .widget-gridbox')) {
    if (e.offsetParent !== null && e.scrollWidth > e.clientWidth + 1) {
      const panel = e.closest('[class*="xdplab-panel-"]');
      const where = panel ? [...panel.classList].find(c => c.startsWith('xdplab-panel-')) : 'lab';
      const kids = [...e.children].map(c => [...c.classList].filter(k => k.startsWith('widget-') ||
                                                                       k.startsWith('bqplot')).join('.'));
      cut.push(`box in ${where}: ${e.scrollWidth} > ${e.clientWidth} px, holding ${kids.join(', ')}`);
    }
  }
  return {panes, view: r(view), lab: r(q('.xdplab-lab')), player: r(q('.xdplab-player')), cut,
          code: {sw: code.scrollWidth, cw: code.clientWidth, sh: code.scrollHeight, ch: code.clientHeight}};
}"""

# what the page shows of the player's frame: the event line's number, the captions, the code panel, the ring's
# descriptor colours (bqplot's dots, in data order), each text with its whitespace collapsed
SCREEN_JS = """() => {
  const t = s => { const e = document.querySelector(s); return e ? e.textContent.replace(/\\s+/g, ' ').trim() : null; };
  const ev = t('.xdplab-event');
  const marks = [...document.querySelectorAll('.xdplab-panel-ring .bqplot.figure svg.svg-figure g[clip-path]')];
  const colors = marks.slice(0, -1).flatMap(g => [...g.querySelectorAll('path.dot')].map(d => d.style.fill));
  return {value: parseInt((ev.match(/event (\\d+)/) || [0, -1])[1]), event: ev, ring: t('.xdplab-ring-caption'),
          code: t('.xdplab-code'), xdp_buff: t('.xdplab-xdp-caption'), page_pool: t('.xdplab-pp-caption'), colors};
}"""

# the same, as the kernel holds it (printed by a cell run after the steps): the kernel follows the page
KERNEL_STATE_CELL = (
    "import json as _j, html as _h, re as _re\n"
    "from xdplab_widgets.views import DESC_COLORS as _C\n"
    "def _t(s): return _re.sub(r'\\s+', ' ', _h.unescape(_re.sub(r'<[^>]+>', '', s))).strip()\n"
    "_v = lab.views\n"
    "print('XDPLAB-STATE ' + _j.dumps({'value': lab.player.value, 'event': _t(lab.player.event.value),"
    " 'ring': _t(_v['ring'].caption.value), 'code': _t(_v['napi'].code.value),"
    " 'xdp_buff': _t(_v['xdp_buff'].caption.value), 'page_pool': _t(_v['page_pool'].caption.value),"
    " 'colors': [_C[int(x)] for x in _v['ring'].shown_colors], 'stepping': lab.player.stepping,"
    " 'ready': bool(lab.player.stepper is not None and lab.player.stepper.ready)}))")

if not CHROMIUM.exists():
    pytest.skip("no /usr/bin/chromium (apt-get install -y chromium)", allow_module_level=True)
try:
    from playwright.sync_api import sync_playwright
except ImportError:
    pytest.skip("the playwright python package is not installed (pip install playwright; never "
                "`playwright install`: it uses /usr/bin/chromium)", allow_module_level=True)
if not NOTEBOOKS:
    pytest.skip("no notebooks under course/", allow_module_level=True)

# settings a first start would otherwise show or do: the news pop-up, autosave, virtualised cells
USER_SETTINGS = {
    "@jupyterlab/apputils-extension/notification.jupyterlab-settings": {"checkForUpdates": False,
                                                                       "fetchNews": "false"},
    "@jupyterlab/docmanager-extension/plugin.jupyterlab-settings": {"autosave": False},
    "@jupyterlab/notebook-extension/tracker.jupyterlab-settings": {"windowingMode": "none"},
}


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _get(url: str, timeout: float = 5.0):
    with urllib.request.urlopen(url, timeout=timeout) as r:
        return json.loads(r.read().decode())


def _delete(url: str):
    req = urllib.request.Request(url, method="DELETE")
    with urllib.request.urlopen(req, timeout=10):
        pass


def _kernel_python_path(tmp: Path) -> str:
    """PYTHONPATH for the server and its kernels; maps ``xdplab_widgets`` to ``widgets/`` if not installed."""
    parts = [p for p in os.environ.get("PYTHONPATH", "").split(os.pathsep) if p]
    probe = subprocess.run([sys.executable, "-c", "import xdplab_widgets"], capture_output=True,
                           env={**os.environ, "PYTHONPATH": os.pathsep.join(parts)}, cwd=tmp)
    if probe.returncode != 0:
        shim = tmp / "shim"
        shim.mkdir()
        (shim / "xdplab_widgets").symlink_to(ROOT / "widgets")
        parts.append(str(shim))
    return os.pathsep.join(parts)


@pytest.fixture(scope="module")
def lab_server(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("lab")
    root = tmp / "root"
    (root / "course").mkdir(parents=True)
    for nb in NOTEBOOKS:
        shutil.copy2(nb, root / "course" / nb.name)
    for stepping, name in PLAYER_NBS.items():
        (root / name).write_text(json.dumps({
            "cells": [{"cell_type": "code", "execution_count": None, "id": f"p{k}", "metadata": {}, "outputs": [],
                       "source": src} for k, src in enumerate(_player_cells(stepping))],
            "metadata": {"kernelspec": {"display_name": "Python 3", "language": "python", "name": "python3"}},
            "nbformat": 4, "nbformat_minor": 5}))
    settings = tmp / "settings"
    for rel, value in USER_SETTINGS.items():
        p = settings / rel
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_text(json.dumps(value))
    for d in ("workspaces", "config", "runtime", "data"):
        (tmp / d).mkdir()
    port = _free_port()
    env = {**os.environ, "PYTHONPATH": _kernel_python_path(tmp), "JUPYTER_CONFIG_DIR": str(tmp / "config"),
           "JUPYTER_RUNTIME_DIR": str(tmp / "runtime"), "JUPYTER_DATA_DIR": str(tmp / "data"),
           "JUPYTER_PLATFORM_DIRS": "1"}
    exe = Path(sys.executable).parent / "jupyter-lab"
    log = open(tmp / "jupyter-lab.log", "w")
    proc = subprocess.Popen(
        [str(exe), "--no-browser", "--allow-root", f"--port={port}", "--IdentityProvider.token=",
         "--ServerApp.ip=127.0.0.1", "--ServerApp.password=", "--ServerApp.open_browser=False",
         f"--ServerApp.root_dir={root}", f"--LabApp.workspaces_dir={tmp / 'workspaces'}",
         f"--LabApp.user_settings_dir={settings}", "--LabApp.expose_app_in_browser=True"],
        stdout=log, stderr=subprocess.STDOUT, env=env, cwd=root)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            if proc.poll() is not None:
                raise RuntimeError(f"jupyter-lab exited ({proc.returncode}): "
                                   f"{(tmp / 'jupyter-lab.log').read_text()[-2000:]}")
            try:
                _get(f"{base}/api/status")
                break
            except OSError:
                if time.monotonic() > deadline:
                    raise RuntimeError("jupyter-lab did not answer /api/status within 60 s")
                time.sleep(0.3)
        yield base
    finally:
        try:
            for k in _get(f"{base}/api/kernels"):
                _delete(f"{base}/api/kernels/{k['id']}")
        except OSError:
            pass
        proc.terminate()
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=10)
        log.close()


@pytest.fixture(scope="module")
def browser():
    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS, headless=True)
        try:
            yield b
        finally:
            b.close()


def _wait_kernel_ready(base: str, timeout: float = 90.0) -> str:
    """The toolbar says idle before the kernel is connected: poll the REST API instead."""
    deadline = time.monotonic() + timeout
    ks = []
    while time.monotonic() < deadline:
        try:
            ks = _get(f"{base}/api/kernels")
        except urllib.error.HTTPError as e:
            # jupyter_server answers 500 while a kernel it lists is still starting
            # ("'last_activity' trait ... not the NoneType None"): ask again
            if e.code != 500:
                raise
            time.sleep(0.25)
            continue
        ready = [k for k in ks if k.get("connections", 0) >= 1 and k.get("execution_state") == "idle"]
        if ready:
            return ready[0]["id"]
        time.sleep(0.25)
    raise AssertionError(f"no kernel connected and idle within {timeout:.0f} s: {ks}")


def _uses_views(nb_path: Path) -> bool:
    nb = json.loads(nb_path.read_text())
    return any("xdplab_widgets" in "".join(c.get("source", "")) for c in nb["cells"] if c["cell_type"] == "code")


def _wait_page_steps(page):
    """A player stepping in the page: wait until the page holds its tracks (the kernel builds them after
    the cell has run; until then the kernel steps)."""
    if page.locator(".xdplab-stepper").count():
        page.wait_for_selector(".xdplab-stepper.xdplab-stepper-ready", state="attached", timeout=90_000)


def _check_player(page, stem):
    """The first player on the page answers: a step reaches the screen, play moves, pause holds."""
    if page.locator(".xdplab-player").count() == 0:
        return
    _wait_page_steps(page)
    page.locator(".xdplab-player").first.scroll_into_view_if_needed()
    steps = [page.evaluate(STEP_LATENCY_JS) for _ in range(5)]
    assert all(ms is not None and ms >= 0 for ms in steps), f"step did not update the player's event line: {steps}"
    play = page.evaluate(PLAY_JS, 1500)
    (SHOTS / f"{stem}.timings.json").write_text(json.dumps(
        {"step_to_screen_ms": steps, "play": play, "loadavg": os.getloadavg()}, indent=1))
    print(f"{stem}: step -> screen {sorted(steps)[2]:.0f} ms (median of 5), play {play['shown'] / play['secs']:.1f} "
          f"frames/s; load {os.getloadavg()[0]:.2f}")
    assert play["v1"] > play["v0"], f"play did not move: {play}"
    assert play["settled"] == play["later"] == play["readout"], f"pause did not hold the position: {play}"


def _run_cell(page, code: str):
    """Append a code cell to the open notebook and run it (the notebook is a copy; nothing is saved)."""
    page.evaluate("""async (code) => {
      const app = window.jupyterapp, nb = app.shell.currentWidget, model = nb.content.model;
      model.sharedModel.insertCell(model.cells.length, {cell_type: 'code', source: code});
      nb.content.activeCellIndex = model.cells.length - 1;
      await app.commands.execute('notebook:run-cell');
    }""", code)


def _kernel_state(page, base, kernel, marker="XDPLAB-STATE "):
    """Run KERNEL_STATE_CELL and read what it printed."""
    n0 = page.locator(f".jp-OutputArea-output:has-text('{marker.strip()}')").count()
    _run_cell(page, KERNEL_STATE_CELL)
    page.wait_for_function(f"""() => [...document.querySelectorAll('.jp-OutputArea-output')]
                               .filter(e => e.textContent.includes('{marker.strip()}')).length > {n0}""",
                           timeout=60_000)
    out = page.locator(f".jp-OutputArea-output:has-text('{marker.strip()}')").last.inner_text()
    return json.loads(out.split(marker, 1)[1].strip().splitlines()[0])


def _rgb(hexcolor: str) -> str:
    h = hexcolor.lstrip("#")
    return "rgb(" + ", ".join(str(int(h[k:k + 2], 16)) for k in (0, 2, 4)) + ")"


def _assert_screen_is_kernels(page, base, kernel, what):
    """The page's player shows the frame the kernel's player is at, every view as the kernel holds it."""
    deadline = time.monotonic() + 30
    while _get(f"{base}/api/kernels/{kernel}")["execution_state"] != "idle":
        assert time.monotonic() < deadline, "kernel still busy"
        time.sleep(0.2)
    page.wait_for_timeout(1000)
    k = _kernel_state(page, base, kernel)
    scr = page.evaluate(SCREEN_JS)
    colors = [_rgb(c) for c in k.pop("colors")]
    shown = scr.pop("colors")
    for key in ("value", "event", "ring", "code", "xdp_buff", "page_pool"):
        assert scr[key] == k[key], f"{what}: the page shows {key} {scr[key]!r}, the kernel holds {k[key]!r}"
    assert len(shown) == len(colors) and shown == colors, \
        f"{what}: ring colours differ at {[i for i, (a, b) in enumerate(zip(shown, colors)) if a != b][:10]}"
    return k


def _load() -> str:
    try:
        up = subprocess.run(["uptime"], capture_output=True, text=True, timeout=10).stdout.strip()
    except OSError:
        up = ""
    la = os.getloadavg()
    return f"loadavg {la[0]:.2f} {la[1]:.2f} {la[2]:.2f} on {os.cpu_count()} CPUs ({up})"


def _wait_notebook_ready(page, base):
    """The opened notebook's cells are drawn, its kernel is connected and idle, and Run All exists;
    returns the kernel (as _wait_kernel_ready)."""
    page.wait_for_selector(".jp-Notebook .jp-Cell", timeout=60_000)
    kernel = _wait_kernel_ready(base)
    page.wait_for_function("() => window.jupyterapp && window.jupyterapp.commands"
                           " && window.jupyterapp.commands.hasCommand('notebook:run-all-cells')",
                           timeout=30_000)
    return kernel


@pytest.mark.parametrize("stepping", PLAYER_STEPPINGS)
def test_player_on_a_laptop_screen(lab_server, browser, stepping):
    """The player at 1366x768: the RX ring, the code, the xdp_buff and the page_pool on screen together,
    no code line or label cut, no console error (bqplot drew 72 negative widths); then step-to-screen
    and frames per second while playing, printed beside the machine's load (not asserted)."""
    base = lab_server
    SHOTS.mkdir(parents=True, exist_ok=True)
    page = browser.new_page(viewport=LAPTOP)
    console, errors = [], []
    page.on("console", lambda m: console.append(m.text) if m.type == "error" else None)
    page.on("pageerror", lambda e: errors.append(str(e)))
    kernel = None
    try:
        page.goto(f"{base}/lab/tree/{PLAYER_NBS[stepping]}?reset", wait_until="domcontentloaded")
        kernel = _wait_notebook_ready(page, base)
        # the learner's screen: file browser closed, the notebook as wide as the window
        page.evaluate("() => { const s = window.jupyterapp.shell; if (s.leftCollapsed === false)"
                      " window.jupyterapp.commands.execute('application:toggle-left-area'); }")
        page.evaluate("() => { window.jupyterapp.commands.execute('notebook:run-all-cells'); }")
        page.wait_for_selector(".xdplab-grid .bqplot.figure svg", timeout=RUN_TIMEOUT_S * 1000)
        deadline = time.monotonic() + 60
        while _get(f"{base}/api/kernels/{kernel}")["execution_state"] != "idle":
            assert time.monotonic() < deadline, "kernel still busy after the player appeared"
            time.sleep(0.2)
        if stepping == "browser":
            _wait_page_steps(page)
            assert page.locator(".xdplab-stepper.xdplab-stepper-ready").count() == 1
        page.wait_for_timeout(1000)
        # the lab's top at the top of the notebook's visible area, as a learner scrolls to it
        page.evaluate("() => document.querySelector('.xdplab-lab').scrollIntoView({block: 'start'})")
        page.wait_for_timeout(500)
        lay = page.evaluate(LAYOUT_JS)
        page.screenshot(path=str(SHOTS / f"player-1366x768-{stepping}.png"))
        vl, vt, vr, vb = lay["view"]
        for name, (l, t, r, b) in lay["panes"]:
            assert vl - 1 <= l and r <= vr + 1 and vt - 1 <= t and b <= vb + 1, \
                f"{name} panel {lay['panes']} is not inside the notebook's visible area {lay['view']}"
        assert lay["player"][1] >= vt - 1, f"the player's controls are above the visible area: {lay}"
        assert lay["code"]["sw"] <= lay["code"]["cw"] + 1 and lay["code"]["sh"] <= lay["code"]["ch"] + 1, \
            f"the code panel clips its lines: {lay['code']}"
        assert not lay["cut"], f"labels or boxes cut: {lay['cut']}"
        # speed: printed with the load, never asserted
        steps = [page.evaluate(STEP_LATENCY_JS) for _ in range(15)]
        assert all(ms is not None and ms >= 0 for ms in steps), f"step did not reach the screen: {steps}"
        play = page.evaluate(PLAY_JS, 4000)
        fps = play["shown"] / play["secs"]
        med = sorted(steps)[len(steps) // 2]
        load = _load()
        (SHOTS / f"player-1366x768-{stepping}.timings.json").write_text(json.dumps(
            {"stepping": stepping, "step_to_screen_ms": steps, "step_median_ms": med, "play": play,
             "play_frames_per_s": fps, "load": load}, indent=1))
        met = "met" if med <= STEP_TARGET_MS and fps >= PLAY_TARGET_FPS else "missed"
        print(f"\nplayer at 1366x768, stepping in the {stepping}: step -> screen median {med:.0f} ms (15 steps, "
              f"min {min(steps):.0f}, max {max(steps):.0f}); play {fps:.1f} frames/s ({play['shown']} frames in "
              f"{play['secs']:.1f} s, events {play['v0']} -> {play['v1']}); target <= {STEP_TARGET_MS} ms and "
              f">= {PLAY_TARGET_FPS} frames/s {met} (reported, not asserted); {load}")
        assert play["v1"] > play["v0"], f"play did not move: {play}"
        assert play["settled"] == play["later"], f"pause did not hold the position: {play}"
        assert play["readout"] == play["settled"], f"the slider and the event line disagree: {play}"
        assert play["playLabel"] == "play", play
        # the page and the kernel agree: after the learner's steps and play, and after a seek from Python
        k = _assert_screen_is_kernels(page, base, kernel, "after steps and play")
        assert k["stepping"] == stepping and k["ready"] == (stepping == "browser"), k
        _run_cell(page, "lab.player.seek(lab.frames.next_frame(lab.player.value + 40, 'xdp_verdict'))")
        k2 = _assert_screen_is_kernels(page, base, kernel, "after a seek from Python")
        assert k2["value"] > k["value"]
        # the code panel's other listing, chosen in the page (the page switches it by itself)
        page.locator(".xdplab-panel-napi button", has_text="talk's loop").first.click()
        k3 = _assert_screen_is_kernels(page, base, kernel, "after choosing the talk's loop")
        assert k3["code"] != k2["code"] and "case XDP_DROP" in k3["code"], k3["code"]     # the verdict, lit
        # the counters open below, drawn once visible
        page.locator(".xdplab-lab button", has_text="ethtool -S").first.click()   # the ToggleButton
        page.wait_for_timeout(1500)
        assert page.locator(".xdplab-lab .bqplot.figure").count() == 5
        assert not errors, f"JavaScript errors in the page: {errors}"
        assert not console, f"console errors: {console[:10]} ({len(console)} in all)"
    finally:
        if kernel is not None:
            try:
                _delete(f"{base}/api/kernels/{kernel}")
            except OSError:
                pass
        page.close()


@pytest.mark.parametrize("nb_path", NOTEBOOKS, ids=[p.stem for p in NOTEBOOKS])
def test_notebook_runs_and_renders(lab_server, browser, nb_path):
    base = lab_server
    SHOTS.mkdir(parents=True, exist_ok=True)
    page = browser.new_page(viewport=VIEWPORT)
    errors = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    kernel = None
    try:
        # ?reset: a fresh workspace, so the notebooks of earlier tests are not restored in hidden tabs
        # (whose cells and figures would match the selectors below first)
        page.goto(f"{base}/lab/tree/course/{nb_path.name}?reset", wait_until="domcontentloaded")
        kernel = _wait_notebook_ready(page, base)
        # fire and forget: the command's promise settles only when every cell has run, and a page-side
        # wait has no timeout; the wait below has one and fails with a screenshot
        page.evaluate("() => { window.jupyterapp.commands.execute('notebook:run-all-cells'); }")
        # finished: every code cell has an execution count, none is queued or running, kernel idle
        try:
            page.wait_for_function(
                """() => {
                     const ps = [...document.querySelectorAll('.jp-Notebook .jp-CodeCell .jp-InputPrompt')];
                     return ps.length > 0 && ps.every(p => /\\[\\d+\\]/.test(p.textContent));
                   }""", timeout=RUN_TIMEOUT_S * 1000, polling=250)
        except Exception:
            page.screenshot(path=str(SHOTS / f"{nb_path.stem}.timeout.png"))
            raise
        deadline = time.monotonic() + 30
        while _get(f"{base}/api/kernels/{kernel}")["execution_state"] != "idle":
            assert time.monotonic() < deadline, "kernel still busy after every cell got its execution count"
            time.sleep(0.2)

        if _uses_views(nb_path):
            page.wait_for_selector(".bqplot.figure svg", timeout=30_000)
            page.wait_for_timeout(500)
            sizes = page.eval_on_selector_all(
                ".bqplot.figure svg", "els => els.map(e => { const r = e.getBoundingClientRect();"
                                      " return [r.width, r.height]; })")
            assert sizes and all(w > 0 and h > 0 for w, h in sizes), f"bqplot figures without a size: {sizes}"
            _check_player(page, nb_path.stem)
            page.locator(".bqplot.figure").first.scroll_into_view_if_needed()
        page.screenshot(path=str(SHOTS / f"{nb_path.stem}.png"))

        body = page.inner_text(".jp-Notebook")
        assert "Error displaying widget" not in body, "a widget failed to display"
        tracebacks = page.eval_on_selector_all(
            '.jp-OutputArea-output[data-mime-type="application/vnd.jupyter.stderr"]',
            "els => els.map(e => e.textContent).filter(t => t.includes('Traceback') || /\\w+Error\\b/.test(t))")
        assert not tracebacks, "output shows a Python error:\n" + "\n---\n".join(t[-1500:] for t in tracebacks)
        assert not errors, f"JavaScript errors in the page: {errors}"
    finally:
        if kernel is not None:
            try:
                _delete(f"{base}/api/kernels/{kernel}")
            except OSError:
                pass
        page.close()

"""Notebooks 01 and 04 run in a real JupyterLab, driven through its UI in headless Chromium.

Executing a notebook with nbclient (test_notebooks.py) proves that its code runs; this test
checks what a user sees: cells that finish without errors, the tqdm bar rendered as a widget
(not the "IProgress not found" warning), the live training preview replaced in place while
training runs, the figures present, and no JavaScript errors. It needs Debian's ``chromium``
(``.ci/run`` installs it) and the ``playwright`` package (the ``dev`` extra), which drives that
browser and downloads none of its own; without them it is skipped with the reason.

Screenshots go to ``runs/browser/`` (git-ignored): each notebook when finished, and notebook 04
during training (the README's ``docs/notebook04_in_jupyterlab.png`` is a copy of one).
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

nbformat = pytest.importorskip("nbformat", reason="needs the notebooks extra: pip install -e '.[notebooks]'")
pytest.importorskip("jupyterlab", reason="needs the notebooks extra: pip install -e '.[notebooks]'")
from test_notebooks import with_fast_parameters  # after the skips above: it needs nbformat

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
playwright_api = pytest.importorskip(
    "playwright.sync_api", reason="needs playwright: pip install -e '.[dev]'"
)
pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(CHROMIUM is None, reason="needs Debian's chromium (apt-get install chromium)"),
]

REPOSITORY = Path(__file__).resolve().parent.parent
SCREENSHOTS = REPOSITORY / "runs" / "browser"
TOKEN = "dqnlib-browser-test"
NOTEBOOK_TIMEOUT_S = 300  # for all cells of one notebook
STALLED_S = 15  # no cell running and no prompt changing for this long: run-all stopped early
# Chromium as root in a container, with no network beyond loopback: no sandbox, no GPU, and
# none of the background connections that this machine's closed network would refuse.
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
# JupyterLab settings for the test's own settings folder: render every cell (a windowed
# notebook detaches the cells out of view) and no pop-up asking about Jupyter news.
LAB_SETTINGS = {
    "@jupyterlab/notebook-extension/tracker.jupyterlab-settings": {"windowingMode": "none"},
    "@jupyterlab/apputils-extension/notification.jupyterlab-settings": {
        "fetchNews": "false",
        "checkForUpdates": False,
    },
}
# Records, in the page, every image that the output of the cell running LivePreview shows,
# and whether the cell was still running (prompt "[*]") when it appeared.
WATCH_PREVIEW_JS = """cell => {
    window.previewImages = [];
    const record = () => {
        const prompt = cell.querySelector('.jp-InputPrompt').textContent.trim();
        for (const img of cell.querySelectorAll('.jp-OutputArea-output img')) {
            const src = img.getAttribute('src');
            if (src && !window.previewImages.some(seen => seen.src === src)) {
                window.previewImages.push({src: src, running: prompt === '[*]:'});
            }
        }
    };
    new MutationObserver(record).observe(cell, {
        subtree: true, childList: true, attributes: true, attributeFilter: ['src'],
    });
}"""


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def port_is_free(port: int) -> bool:
    with socket.socket() as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # ignore TIME_WAIT leftovers
        try:
            probe.bind(("127.0.0.1", port))
        except OSError:
            return False
        return True


def fast_copy(name: str, folder: Path) -> nbformat.NotebookNode:
    """Copy ``notebooks/<name>`` into ``folder`` in FAST mode, outputs cleared; return the
    committed notebook (with its outputs) for comparison."""
    committed = nbformat.read(REPOSITORY / "notebooks" / name, as_version=4)
    fast = with_fast_parameters(nbformat.read(REPOSITORY / "notebooks" / name, as_version=4))
    for cell in fast.cells:
        if cell.cell_type == "code":
            cell.outputs, cell.execution_count = [], None
    nbformat.write(fast, folder / name)
    return committed


@pytest.fixture(scope="module")
def lab(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, Path]]:
    """JupyterLab from this interpreter's environment on a free loopback port, serving a
    temporary root with a ``notebooks/`` folder (notebooks find the repository as
    ``Path.cwd().parent``, so their runs land in the temporary root; its ``checkpoints/`` is a
    link to the repository's, whose shipped agent notebook 04 draws). Yields (base URL, root);
    afterwards the server and its kernels are stopped and the port is free again."""
    root = tmp_path_factory.mktemp("lab")
    (root / "notebooks").mkdir()
    (root / "checkpoints").symlink_to(REPOSITORY / "checkpoints")  # the shipped agent, read only
    settings = root / "settings"
    for relative, values in LAB_SETTINGS.items():
        (settings / relative).parent.mkdir(parents=True, exist_ok=True)
        (settings / relative).write_text(json.dumps(values))
    port = free_port()
    command = [
        sys.executable, "-m", "jupyterlab", "--no-browser", "--allow-root", "--ip=127.0.0.1",
        f"--port={port}", "--ServerApp.port_retries=0", f"--IdentityProvider.token={TOKEN}",
        f"--ServerApp.root_dir={root}", f"--LabApp.user_settings_dir={settings}",
        f"--LabApp.workspaces_dir={root / 'workspaces'}",
    ]  # fmt: skip
    environment = {**os.environ, "JUPYTER_RUNTIME_DIR": str(root / "runtime")}
    log = (root / "lab.log").open("w")
    server = subprocess.Popen(
        command, stdout=log, stderr=subprocess.STDOUT, env=environment, start_new_session=True
    )
    base_url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 120
        while True:
            try:
                with urllib.request.urlopen(f"{base_url}/api/status?token={TOKEN}", timeout=5):
                    break
            except OSError:
                if server.poll() is not None or time.monotonic() > deadline:
                    pytest.fail(f"JupyterLab did not start: see {root / 'lab.log'}")
                time.sleep(0.5)
        yield base_url, root
    finally:
        if server.poll() is None:
            os.killpg(server.pid, signal.SIGTERM)  # the server shuts its kernels down on SIGTERM
            try:
                server.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(server.pid, signal.SIGKILL)
                server.wait()
        log.close()
    assert port_is_free(port), f"port {port} still in use after JupyterLab stopped"


@pytest.fixture(scope="module")
def browser() -> Iterator[object]:
    with playwright_api.sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield chromium
        chromium.close()


def run_in_lab(browser: object, base_url: str, name: str, during_run=None) -> dict:
    """Open ``notebooks/<name>`` in JupyterLab, run all cells from the Run menu, wait until
    every code cell has an execution count, save it from the UI. ``during_run(page)`` is
    called about twice a second while cells run. Returns what the page showed."""
    page = browser.new_page(viewport={"width": 1400, "height": 1000})
    page_errors: list[str] = []
    page.on("pageerror", lambda error: page_errors.append(str(error)))

    def record_console_error(message: object) -> None:
        if message.type == "error":
            page_errors.append(message.text)

    page.on("console", record_console_error)
    page.goto(f"{base_url}/lab/tree/notebooks/{name}?reset&token={TOKEN}")  # reset: no other tabs
    notebook = page.get_by_role("tabpanel", name=name)  # other notebooks of the workspace may be open
    notebook.locator(".jp-CodeCell").first.wait_for(timeout=120_000)
    page.wait_for_function(  # the status bar reads "Python 3 (ipykernel) | Idle" once the kernel is up
        "() => document.querySelector('.jp-StatusBar-Widget')?.innerText.includes('| Idle')", timeout=120_000
    )
    cells = notebook.locator(".jp-CodeCell")
    if during_run is not None:
        preview_cell = notebook.locator(".jp-CodeCell", has_text="LivePreview()")
        preview_cell.evaluate(WATCH_PREVIEW_JS)
    page.get_by_role("menuitem", name="Run", exact=True).click()
    page.click("li[data-command='runmenu:run-all']")
    deadline = time.monotonic() + NOTEBOOK_TIMEOUT_S
    prompts, changed = [], time.monotonic()
    while True:
        latest = [prompt.strip() for prompt in cells.locator(".jp-InputPrompt").all_text_contents()]
        if latest != prompts:
            prompts, changed = latest, time.monotonic()
        if all(prompt not in ("[ ]:", "[*]:", ":", "") for prompt in prompts):
            break
        if "[*]:" not in prompts and time.monotonic() - changed > STALLED_S:
            break  # an error stopped run-all; the checks below say which cells did not run
        assert time.monotonic() < deadline, (
            f"{name}: cells still running after {NOTEBOOK_TIMEOUT_S} s: {prompts}"
        )
        if during_run is not None:
            during_run(page)
        time.sleep(0.5)
    page.keyboard.press("Control+s")
    page.wait_for_function(
        "() => !document.querySelector('.lm-TabBar-tab.jp-mod-dirty')", timeout=60_000
    )  # the tab loses its dirty mark once the file is written
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=SCREENSHOTS / f"{Path(name).stem}_finished.png")
    shown = {
        "prompts": prompts,
        "page_errors": page_errors,
        "text": notebook.inner_text(),
        "images_per_cell": [cell.locator(".jp-OutputArea-output img").count() for cell in cells.all()],
        "progress_widgets": notebook.locator(".jp-OutputArea-output .widget-hprogress").count(),
        "preview_images": page.evaluate("window.previewImages || []"),
    }
    page.close()
    return shown


def check_finished(name: str, shown: dict, root: Path, committed: nbformat.NotebookNode) -> None:
    """Every cell ran once in order without errors, and every code cell that shows a figure
    in the committed notebook shows one in the browser too."""
    saved = nbformat.read(root / "notebooks" / name, as_version=4)
    code_cells = [cell for cell in saved.cells if cell.cell_type == "code"]
    errors = [
        f"{output.ename}: {output.evalue}"
        for cell in code_cells
        for output in cell.outputs
        if output.output_type == "error"
    ]
    assert not errors, f"{name}: error outputs {errors}"
    assert [cell.execution_count for cell in code_cells] == list(range(1, len(code_cells) + 1))
    assert shown["prompts"] == [f"[{count}]:" for count in range(1, len(code_cells) + 1)]
    assert not shown["page_errors"], f"{name}: JavaScript errors {shown['page_errors']}"
    assert "IProgress not found" not in shown["text"]
    committed_cells = [cell for cell in committed.cells if cell.cell_type == "code"]
    with_figures = [
        index
        for index, cell in enumerate(committed_cells)
        if any("image/png" in output.get("data", {}) for output in cell.outputs)
    ]
    assert with_figures, f"{name}: the committed notebook has no figures to compare with"
    missing = [index for index in with_figures if shown["images_per_cell"][index] == 0]
    assert not missing, f"{name}: no figure shown in code cells {missing}"


def test_action_sets_notebook_in_jupyterlab(lab: tuple[str, Path], browser: object) -> None:
    base_url, root = lab
    name = "01_ale_action_sets.ipynb"
    committed = fast_copy(name, root / "notebooks")
    check_finished(name, run_in_lab(browser, base_url, name), root, committed)


def test_training_notebook_in_jupyterlab(lab: tuple[str, Path], browser: object) -> None:
    base_url, root = lab
    name = "04_training.ipynb"
    committed = fast_copy(name, root / "notebooks")
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)

    taken = []

    def screenshot_while_training(page: object) -> None:
        """Once the preview has changed while its cell runs, take one screenshot of it."""
        cell = page.get_by_role("tabpanel", name=name).locator(".jp-CodeCell", has_text="LivePreview()")
        running = cell.locator(".jp-InputPrompt").inner_text().strip() == "[*]:"
        shown = page.evaluate("(window.previewImages || []).filter(image => image.running).length")
        if running and shown >= 2 and not taken:
            cell.scroll_into_view_if_needed()
            page.screenshot(path=SCREENSHOTS / "04_training_during_training.png")
            taken.append(True)

    shown = run_in_lab(browser, base_url, name, during_run=screenshot_while_training)
    check_finished(name, shown, root, committed)
    assert shown["progress_widgets"] >= 1, "tqdm's bar did not render as a widget"
    images_while_running = [image for image in shown["preview_images"] if image["running"]]
    assert len(images_while_running) >= 2, (
        f"the live preview showed {len(images_while_running)} distinct images while training ran"
    )

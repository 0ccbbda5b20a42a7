"""The notebook in Debian's headless Chromium: click-to-output latency of a trivial block, and
the load time of a 200-block pipeline. Timed inside the page with performance.now()."""

from __future__ import annotations

import socket
import statistics
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

CHROMIUM = "/usr/bin/chromium"
FLAGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking",
         "--disable-component-update", "--disable-sync", "--no-first-run"]

# Resolves with the milliseconds from the click on "Run" to the first painted frame that
# shows a new output of the block.
CLICK_TO_OUTPUT = """
async (block) => {
  const output = () => document.querySelector(`[data-testid="outputs-${block}"]`);
  const before = output() ? output().textContent : null;
  const start = performance.now();
  document.querySelector(`[data-testid="run-${block}"]`).click();
  await new Promise((resolve) => {
    const changed = () => output() && output().textContent !== before;
    if (changed()) return resolve();
    const watcher = new MutationObserver(() => {
      if (changed()) { watcher.disconnect(); resolve(); }
    });
    watcher.observe(document.body, {subtree: true, childList: true, characterData: true});
  });
  await new Promise((resolve) => requestAnimationFrame(() => resolve()));
  return performance.now() - start;
}
"""


def make_projects(work: Path, blocks: int) -> tuple[Path, Path]:
    """A project with one trivial block, and one with `blocks` blocks in chains of ten."""
    trivial = work / "trivial"
    (trivial / "pipelines" / "p").mkdir(parents=True)
    (trivial / "cairn.yaml").write_text("name: trivial\n")
    # time_ns changes on every run, so each run shows a new output.
    (trivial / "pipelines" / "p" / "tick.py").write_text("import time\ntick = time.time_ns()\n")
    big = work / "big"
    (big / "pipelines" / "p").mkdir(parents=True)
    (big / "cairn.yaml").write_text("name: big\n")
    for index in range(blocks):
        source = (f"v{index} = v{index - 1} + 1\n" if index % 10 else f"v{index} = {index}\n")
        (big / "pipelines" / "p" / f"b{index:03d}.py").write_text(source)
    return trivial, big


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@contextmanager
def serving(project: Path) -> Iterator[str]:
    import httpx

    port = _free_port()
    process = subprocess.Popen([sys.executable, "-m", "cairn", "serve", "--port", str(port),
                                "--project", str(project)],
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    base = f"http://127.0.0.1:{port}"
    try:
        for _ in range(300):
            try:
                httpx.get(base + "/openapi.json", timeout=1)
                break
            except httpx.TransportError:
                time.sleep(0.1)
        yield base
    finally:
        process.terminate()
        process.wait(timeout=10)


def measure(work: Path, repeat: int, blocks: int = 200) -> dict[str, float]:
    """Median click-to-output (ms) over `repeat` clicks, and the median load of the big
    pipeline (ms, until every block card is on the page) over a few loads."""
    from playwright.sync_api import sync_playwright

    trivial, big = make_projects(work, blocks)
    results: dict[str, float] = {}
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=FLAGS)
        page = browser.new_page(viewport={"width": 1400, "height": 1000})
        with serving(trivial) as base:
            page.goto(f"{base}/#/p/p")
            page.get_by_test_id("run-tick").wait_for(timeout=30_000)
            page.evaluate(CLICK_TO_OUTPUT, "tick")  # warm-up: starts the worker
            clicks = []
            for _ in range(repeat):
                time.sleep(0.2)  # let the run's final state arrive before the next click
                clicks.append(page.evaluate(CLICK_TO_OUTPUT, "tick"))
            results["click_ms"] = statistics.median(clicks)
        with serving(big) as base:
            loads = []
            for _ in range(3):
                page.goto("about:blank")
                started = time.perf_counter()
                page.goto(f"{base}/#/p/p")
                page.wait_for_function(
                    f"document.querySelectorAll('[data-testid^=\"block-card-\"]').length"
                    f" === {blocks}", timeout=60_000)
                loads.append((time.perf_counter() - started) * 1000)
            results["load_ms"] = statistics.median(loads)
        browser.close()
    return results


if __name__ == "__main__":
    import json
    import tempfile

    with tempfile.TemporaryDirectory() as folder:
        print(json.dumps(measure(Path(folder), repeat=int(sys.argv[1]))))

"""Shared helpers of the browser tests: a Streamlit server in a subprocess, and Chromium.

The server is ``python -m streamlit run app.py`` on a free port, with the
environment a test gives (always ``KPCAL_DEMO_DIR`` and ``KPCAL_STATE_DIR``
pointing at temporary folders). The browser is Debian's Chromium driven by
Playwright (Playwright's own browser download is not used).
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from kpcal_app.click import IFRAME_TITLE

REPO = Path(__file__).resolve().parents[1]
APP = REPO / "app.py"
# The click view's iframe (kpcal_app.click).
IMAGE_IFRAME = f'iframe[title="{IFRAME_TITLE}"]'
# The click view once it is live (loaded, sized to the window, listening to clicks).
LIVE_IMAGE_JS = """
() => {
  const frames = document.querySelectorAll('%s');
  if (frames.length !== 1) return null;
  const img = frames[0].contentDocument && frames[0].contentDocument.getElementById('image');
  if (!img || !img.complete || !img.naturalWidth || typeof img.onclick !== 'function') return null;
  if (img.style.width !== img.width + 'px') return null;
  const frame = frames[0].getBoundingClientRect();
  if (Math.abs(frame.height - img.height) > 0.5) return null;  // the frame holds the image
  const live = {width: img.width, height: img.height, natural: img.naturalWidth,
                column: frame.width, top: frame.top, bottom: frame.bottom, src: frames[0].src};
  // Settled: the same for 10 animation frames in a row.
  const same = JSON.stringify(live) === window.kpcalLastLive;
  window.kpcalLastLive = JSON.stringify(live);
  window.kpcalSameLive = same ? (window.kpcalSameLive || 0) + 1 : 0;
  return window.kpcalSameLive >= 10 ? live : null;
}
""" % IMAGE_IFRAME.replace("'", "\\'")
CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


def free_port() -> int:
    """A TCP port nobody listens on right now (on 127.0.0.1)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class StreamlitServer:
    """A running ``streamlit run`` subprocess."""

    process: subprocess.Popen
    port: int
    log_path: Path

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def log(self) -> str:
        try:
            return self.log_path.read_text(errors="replace")
        except OSError:
            return ""


def start_streamlit(
    env: Mapping[str, str],
    log_path: str | os.PathLike,
    *,
    app_args: Sequence[str] = (),
    timeout: float = 60.0,
    script: Path = APP,
) -> StreamlitServer:
    """Start the app on a free port and wait until ``/_stcore/health`` answers ``ok``.

    Parameters
    ----------
    env
        Variables added to this process's environment for the server.
    log_path
        File receiving the server's stdout and stderr.
    app_args
        Arguments after ``--`` (e.g. ``["--project", DIR]``).
    timeout
        Seconds to wait for the server.
    script
        The app to run (default: kpcal's ``app.py``).
    """
    port = free_port()
    full_env = {**os.environ, **env, "PYTHONUNBUFFERED": "1"}
    command = [
        sys.executable,
        "-m",
        "streamlit",
        "run",
        str(script),
        "--server.headless=true",
        f"--server.port={port}",
        "--server.address=127.0.0.1",
        "--browser.gatherUsageStats=false",
        "--server.fileWatcherType=none",
        "--server.runOnSave=false",
    ]
    if app_args:
        command += ["--", *app_args]
    log_path = Path(log_path)
    log = open(log_path, "wb")  # noqa: SIM115 - closed by the child's exit
    process = subprocess.Popen(
        command,
        cwd=REPO,
        env=full_env,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    log.close()
    server = StreamlitServer(process, port, log_path)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(
                f"streamlit exited with code {process.returncode}:\n{server.log()[-4000:]}"
            )
        try:
            with urllib.request.urlopen(f"{server.url}/_stcore/health", timeout=2) as answer:
                if answer.status == 200 and answer.read().strip() == b"ok":
                    return server
        except (urllib.error.URLError, ConnectionError, TimeoutError, OSError):
            pass
        time.sleep(0.2)  # polling the health endpoint: nothing to wait on instead
    stop_streamlit(server)
    raise RuntimeError(f"streamlit did not answer within {timeout:.0f} s:\n{server.log()[-4000:]}")


def stop_streamlit(server: StreamlitServer, timeout: float = 10.0) -> None:
    """Stop the server started by :func:`start_streamlit` (its own process group only)."""
    process = server.process
    if process.poll() is not None:
        return
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGTERM)
    try:
        process.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)
        process.wait(timeout=timeout)


@contextlib.contextmanager
def streamlit_server(
    env: Mapping[str, str],
    log_path: str | os.PathLike,
    *,
    app_args: Sequence[str] = (),
    timeout: float = 60.0,
    script: Path = APP,
) -> Iterator[StreamlitServer]:
    """:func:`start_streamlit` as a context manager that always stops the server."""
    server = start_streamlit(env, log_path, app_args=app_args, timeout=timeout, script=script)
    try:
        yield server
    finally:
        stop_streamlit(server)


@contextlib.contextmanager
def chromium(headless: bool = True):
    """A Playwright ``Browser`` on Debian's Chromium (``/usr/bin/chromium``)."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=str(CHROMIUM), headless=headless, args=CHROMIUM_ARGS
        )
        try:
            yield browser
        finally:
            browser.close()


def prepared_demo_project(
    folder: Path, *, seed: int, num_samples: int, n_frames: int = 80
) -> list[tuple[str, int, str]]:
    """A demo project with samples drawn and their frames decoded (as the setup page does).

    Returns the sample keys, in order.
    """
    from kpcal_core import workflows
    from kpcal_core.demo import make_demo_project
    from kpcal_core.project import load_project_data

    make_demo_project(folder, n_frames=n_frames, seed=seed)
    data = load_project_data(folder)
    draw = workflows.draw_samples(data, num_bins=10, num_samples=num_samples, seed=seed)
    workflows.fill_frame_cache(data)
    return list(draw.sample_keys)

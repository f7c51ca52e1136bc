"""Shared helpers of the browser tests: a Streamlit server in a subprocess, and Chromium.

The server is ``python -m streamlit run app.py`` on a free port, with the
environment a test gives (always ``KPCAL_STATE_DIR``, and ``KPCAL_DEMO_DIR``
or ``KPCAL_DATA_ROOT``, pointing at temporary folders). The browser is
Debian's Chromium driven by Playwright (Playwright's own browser download is
not used).

Also here: :class:`AnnotatePage`, the annotate page read and clicked at the
demo's truth with Playwright's sync API; the deployment of ``deploy/`` (Debian's
nginx serving the shipped site, the unit's ``streamlit run`` options, ``oidc-provider-mock`` and the
sign-in form), and the machinery of several sessions annotating at once
(Playwright's async API: :class:`Plan`, :func:`run_all`, and the checks
:func:`check_own_project` and :func:`check_team_project`).
"""

from __future__ import annotations

import asyncio
import contextlib
import math
import os
import re
import signal
import socket
import statistics
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Awaitable, Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from http.server import ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import numpy as np

from kpcal_app.click import IFRAME_TITLE
from kpcal_core.annotations import now_utc
from kpcal_core.demo import load_ground_truth, make_demo_project
from kpcal_core.project import load_project_data
from kpcal_core.views import crop_for_sample

REPO = Path(__file__).resolve().parents[1]
APP = REPO / "app.py"
# The click view's iframe (kpcal_app.click).
IMAGE_IFRAME = f'iframe[title="{IFRAME_TITLE}"]'
# The click view once it is live (loaded, sized to the window, drawn at the size it is
# shown at, listening to clicks), with its frame holding the whole view (the sample's
# lines, the image, the legend). ``top`` and ``bottom``: the image's, in the window.
LIVE_IMAGE_JS = """
() => {
  const frames = document.querySelectorAll('%s');
  if (frames.length !== 1) return null;
  const doc = frames[0].contentDocument;
  const img = doc && doc.getElementById('image');
  if (!img || !img.complete || !img.naturalWidth || typeof img.onclick !== 'function') return null;
  if (img.style.width !== img.width + 'px' || img.naturalWidth !== img.width) return null;
  const frame = frames[0].getBoundingClientRect();
  const body = doc.body.getBoundingClientRect();
  if (Math.abs(frame.height - Math.ceil(body.height)) > 0.5) return null;  // the frame holds it
  const image = img.getBoundingClientRect();
  const live = {width: img.width, height: img.height, natural: img.naturalWidth,
                column: frame.width, top: frame.top + image.top, bottom: frame.top + image.bottom,
                src: frames[0].src};
  // Settled: the same for 10 animation frames in a row.
  const same = JSON.stringify(live) === window.kpcalLastLive;
  window.kpcalLastLive = JSON.stringify(live);
  window.kpcalSameLive = same ? (window.kpcalSameLive || 0) + 1 : 0;
  return window.kpcalSameLive >= 10 ? live : null;
}
""" % IMAGE_IFRAME.replace("'", "\\'")
# The lines the click view shows with its image (kpcal_app.click.SampleLines), as shown:
# ``{title, caption}``, or null when the view is not there.
SAMPLE_LINES_JS = """
() => {
  const frames = document.querySelectorAll('%s');
  const doc = frames.length === 1 && frames[0].contentDocument;
  const box = doc && doc.getElementById('sample');
  if (!box || box.hidden) return null;
  return { title: doc.getElementById('sample-title').textContent,
           caption: doc.getElementById('sample-caption').textContent };
}
""" % IMAGE_IFRAME.replace("'", "\\'")
# The click view shows sample ``i`` (1-based) in its lines.
SAMPLE_SHOWN_JS = """
(i) => { const lines = (%s)();
  return !!lines && lines.caption.startsWith(i === null ? "Sample " : `Sample ${i} of `); }
""" % SAMPLE_LINES_JS.strip()
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
    """A running ``streamlit run`` subprocess (``base_path``: its ``--server.baseUrlPath``)."""

    process: subprocess.Popen
    port: int
    log_path: Path
    base_path: str = ""

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}" + (f"/{self.base_path}" if self.base_path else "")

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
    options: Sequence[str] = (),
    app: str | os.PathLike = APP,
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
    options
        More ``streamlit run`` options (e.g. :func:`service_options`); a
        ``--server.baseUrlPath`` among them is used for the health check.
    app
        The ``app.py`` to run; the server's working directory is its folder.
    """
    port = free_port()
    base_path = ""
    for option, value in zip(options, [*options[1:], ""]):
        if option.startswith("--server.baseUrlPath"):
            base_path = (option.partition("=")[2] or value).strip("/")
    full_env = {**os.environ, **env, "PYTHONUNBUFFERED": "1"}
    command = [
        sys.executable,
        "-m",
        "streamlit",
        "run",
        str(app),
        "--server.headless=true",
        f"--server.port={port}",
        "--server.address=127.0.0.1",
        "--browser.gatherUsageStats=false",
        "--server.fileWatcherType=none",
        "--server.runOnSave=false",
        *options,
    ]
    if app_args:
        command += ["--", *app_args]
    log_path = Path(log_path)
    log = open(log_path, "wb")  # noqa: SIM115 - closed by the child's exit
    process = subprocess.Popen(
        command,
        cwd=Path(app).parent,
        env=full_env,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    log.close()
    server = StreamlitServer(process, port, log_path, base_path)
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
    stop_process(server.process, timeout)


def stop_process(process: subprocess.Popen, timeout: float = 10.0) -> None:
    """Stop a process started here with ``start_new_session=True`` (its own group only)."""
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
    options: Sequence[str] = (),
    app: str | os.PathLike = APP,
) -> Iterator[StreamlitServer]:
    """:func:`start_streamlit` as a context manager that always stops the server."""
    server = start_streamlit(
        env, log_path, app_args=app_args, timeout=timeout, options=options, app=app
    )
    try:
        yield server
    finally:
        stop_streamlit(server)


@contextlib.contextmanager
def http_server(handler: type) -> Iterator[str]:
    """Serve ``handler`` (a ``BaseHTTPRequestHandler`` class) on 127.0.0.1; yield its base URL."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/"
    finally:
        server.shutdown()
        server.server_close()


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
    folder: Path,
    *,
    seed: int,
    num_samples: int,
    n_frames: int = 80,
    noise_sd: float = 0.05,
    order: str = "planned",
    sample_seed: int | None = None,
) -> list[tuple[str, int, str]]:
    """A demo project with samples drawn and their frames decoded (as the setup page does).

    ``seed`` makes the demo's data (and draws the samples unless ``sample_seed`` is
    given); ``order`` is :func:`kpcal_core.workflows.draw_samples`' order. Returns the
    sample keys, in order.
    """
    from kpcal_core import workflows
    from kpcal_core.project import load_project_data

    make_demo_project(folder, n_frames=n_frames, seed=seed, noise_sd=noise_sd)
    data = load_project_data(folder)
    draw = workflows.draw_samples(
        data,
        num_bins=10,
        num_samples=num_samples,
        seed=seed if sample_seed is None else sample_seed,
        order=order,
    )
    workflows.fill_frame_cache(data)
    return list(draw.sample_keys)


def prepared_flies_project(
    folder: Path, shared_data: Path, *, num_samples: int = 30, seed: int = 0
) -> list[tuple[str, int, str]]:
    """A project on ``shared_data``'s ``sleap_flies_clip`` (two flies, head and thorax, a
    1024×1024 video), its files copied into ``folder/data`` (so a data root may hold
    them), with samples drawn and their frames decoded. Returns the sample keys."""
    import shutil

    from kpcal_core import workflows
    from kpcal_core.project import load_project_data

    data_folder = folder / "data"
    data_folder.mkdir(parents=True, exist_ok=True)
    for name in ("clip.predictions.slp", "clip.mp4"):
        shutil.copyfile(shared_data / "sleap_flies_clip" / name, data_folder / name)
    workflows.choose_sources(
        folder, workflows.Sources(str(data_folder / "clip.predictions.slp")), create=True
    )
    data = load_project_data(folder)
    draw = workflows.draw_samples(data, num_samples=num_samples, seed=seed)
    workflows.fill_frame_cache(data)
    return list(draw.sample_keys)


# ---------------------------------------------------------------- the deployment (deploy/)

DEPLOY = REPO / "deploy"
NGINX_SITE = DEPLOY / "nginx-kpcal.conf"
SERVICE_UNIT = DEPLOY / "kpcal.service"
NGINX = Path("/usr/sbin/nginx")
SHIPPED_SECRETS = "/etc/kpcal/secrets.toml"


def wait_for_http(url: str, process: subprocess.Popen, timeout: float, log: Path) -> None:
    """Wait until ``url`` answers 200 (raise with ``log``'s end if ``process`` exits first)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            text = log.read_text(errors="replace") if log.exists() else ""
            raise RuntimeError(f"{process.args[0]} exited with {process.returncode}:\n{text}")
        try:
            with urllib.request.urlopen(url, timeout=2) as answer:
                if answer.status == 200:
                    return
        except (urllib.error.URLError, ConnectionError, TimeoutError, OSError):
            pass
        time.sleep(0.1)  # polling a port that opens soon: nothing to wait on instead
    raise RuntimeError(f"{url} did not answer within {timeout:.0f} s")


def service_options(secrets_file: str | os.PathLike | None) -> list[str]:
    """The ``streamlit run app.py`` options of ``deploy/kpcal.service``'s ExecStart.

    Port, address and headless are left out (:func:`start_streamlit` gives a
    free port on 127.0.0.1); the shipped secrets path is replaced by
    ``secrets_file``, or the option left out when ``None``.
    """
    unit = SERVICE_UNIT.read_text()
    lines = [line for line in unit.splitlines() if line.startswith("ExecStart=")]
    assert len(lines) == 1, lines
    words = lines[0].split()
    assert words[1:3] == ["run", "app.py"], words
    options, rest = [], words[3:]
    assert len(rest) % 2 == 0, rest
    pairs = dict(zip(rest[::2], rest[1::2]))
    assert pairs["--server.address"] == "127.0.0.1" and pairs["--secrets.files"] == SHIPPED_SECRETS
    for option, value in pairs.items():
        if option in ("--server.port", "--server.address", "--server.headless"):
            continue
        if option == "--secrets.files":
            if secrets_file is None:
                continue
            value = str(secrets_file)
        options += [option, value]
    return options


def render_nginx_site(listen_port: int, upstream_port: int) -> str:
    """``deploy/nginx-kpcal.conf`` with its ``listen`` line and upstream address made local."""
    site = NGINX_SITE.read_text()
    for old, new in (
        ("    listen 80;", f"    listen 127.0.0.1:{listen_port};"),
        ("    server 127.0.0.1:8501;", f"    server 127.0.0.1:{upstream_port};"),
    ):
        assert site.count(old) == 1, f"{NGINX_SITE} must hold {old.strip()!r} once"
        site = site.replace(old, new)
    return site


@dataclass
class NginxProxy:
    """A running nginx serving ``deploy/nginx-kpcal.conf`` on 127.0.0.1."""

    process: subprocess.Popen
    port: int
    folder: Path
    kept: dict = field(default_factory=dict)  # the logs, kept when nginx stops

    @property
    def url(self) -> str:
        """The app's address through the proxy (no trailing slash)."""
        return f"http://127.0.0.1:{self.port}/kpcal"

    def _log(self, name: str) -> str:
        if name in self.kept:
            return self.kept[name]
        path = self.folder / name
        return path.read_text(errors="replace") if path.exists() else ""

    def error_log(self) -> str:
        return self._log("error.log")

    def access_log(self) -> str:
        return self._log("access.log")


@contextlib.contextmanager
def nginx_proxy(
    upstream_port: int, port: int | None = None, timeout: float = 20.0
) -> Iterator[NginxProxy]:
    """Debian's nginx in the foreground, unprivileged, serving the shipped site on a free port.

    Its configuration, pid file, logs and temporary folders are in a fresh
    temporary folder (removed afterwards). ``port``: where it listens (default:
    a free port). Run as root, nginx is started as
    ``nobody`` (it never needs privileges here). Always stopped on exit.
    """
    import pwd
    import shutil
    import tempfile

    folder = Path(tempfile.mkdtemp(prefix="kpcal-nginx-"))
    port = port or free_port()
    user = {}
    if os.geteuid() == 0:
        nobody = pwd.getpwnam("nobody")
        user = {"user": nobody.pw_uid, "group": nobody.pw_gid, "extra_groups": []}
    try:
        (folder / "kpcal.conf").write_text(render_nginx_site(port, upstream_port))
        (folder / "nginx.conf").write_text(
            f"""worker_processes 1;
pid {folder}/nginx.pid;
error_log {folder}/error.log info;
events {{ worker_connections 256; }}
http {{
    access_log {folder}/access.log;
    client_body_temp_path {folder}/body;
    proxy_temp_path {folder}/proxy;
    fastcgi_temp_path {folder}/fastcgi;
    uwsgi_temp_path {folder}/uwsgi;
    scgi_temp_path {folder}/scgi;
    include {folder}/kpcal.conf;
}}
"""
        )
        if user:
            os.chown(folder, user["user"], user["group"])
        log = folder / "stderr.log"
        with open(log, "wb") as out:
            process = subprocess.Popen(
                [
                    str(NGINX),
                    "-p",
                    str(folder),
                    "-c",
                    str(folder / "nginx.conf"),
                    "-e",
                    str(folder / "error.log"),
                    "-g",
                    "daemon off;",
                ],
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,
                **user,
            )
        proxy = NginxProxy(process, port, folder)
        try:
            wait_for_http(f"{proxy.url}/_stcore/health", process, timeout, log)
            yield proxy
        finally:
            stop_process(process)
            proxy.kept = {name: proxy._log(name) for name in ("access.log", "error.log")}
    finally:
        shutil.rmtree(folder, ignore_errors=True)


@contextlib.contextmanager
def oidc_provider(log_path: str | os.PathLike, timeout: float = 30.0) -> Iterator[str]:
    """``oidc-provider-mock`` on a free port of 127.0.0.1; yields its address. Always stopped.

    Any client id and secret are accepted; its sign-in form takes the user's
    ``sub``, which becomes the ``email`` claim (see :func:`sign_in`).
    """
    port = free_port()
    log_path = Path(log_path)
    with open(log_path, "wb") as out:
        process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "oidc_provider_mock",
                "--host",
                "127.0.0.1",
                "--port",
                str(port),
            ],
            stdout=out,
            stderr=subprocess.STDOUT,
            env={**os.environ, "NO_COLOR": "1"},
            start_new_session=True,
        )
    url = f"http://127.0.0.1:{port}"
    try:
        wait_for_http(f"{url}/.well-known/openid-configuration", process, timeout, log_path)
        yield url
    finally:
        stop_process(process)


def write_secrets(path: str | os.PathLike, app_url: str, provider_url: str) -> Path:
    """A ``secrets.toml`` with the ``[auth]`` section for the mock provider.

    ``redirect_uri`` is the app's address as the browser sees it (through the
    proxy, with the path) plus ``/oauth2callback``.
    """
    import secrets

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(
        "[auth]\n"
        f'redirect_uri = "{app_url}/oauth2callback"\n'
        f'cookie_secret = "{secrets.token_hex(32)}"\n'
        'client_id = "kpcal-test"\n'
        'client_secret = "kpcal-test-secret"\n'
        f'server_metadata_url = "{provider_url}/.well-known/openid-configuration"\n'
    )
    return path


SIGN_IN_TEXT = "please sign in"


def sign_in(
    page, app_url: str, email: str, timeout: float = 60_000, *, address: str | None = None
) -> None:
    """Sign ``email`` in through the app's "Sign in" button and the mock's form (sync API).

    ``address``: the address opened first (default: the app's root), e.g. a link to a
    sample.
    """
    page.goto(address or app_url)
    press_sign_in(page, email, timeout)


def press_sign_in(page, email: str, timeout: float = 60_000) -> None:
    """On the sign-in page shown: "Sign in", the mock's form for ``email``, back signed in."""
    page.get_by_role("button", name="Sign in").click(timeout=timeout)
    page.locator('input[name="sub"]').fill(email, timeout=timeout)
    page.get_by_role("button", name="Authorize").click()
    page.get_by_text(f"Annotator: {email}").wait_for(timeout=timeout)


async def sign_in_async(page, app_url: str, email: str, timeout: float = 120_000) -> None:
    """:func:`sign_in` for Playwright's async API."""
    await page.goto(app_url)
    await page.get_by_role("button", name="Sign in").click(timeout=timeout)
    await page.locator('input[name="sub"]').fill(email, timeout=timeout)
    await page.get_by_role("button", name="Authorize").click()
    await page.get_by_text(f"Annotator: {email}").wait_for(timeout=timeout)


def sign_out(page, timeout: float = 60_000) -> None:
    """Press the sidebar's "Sign out", confirm on the mock's end-session form, back at sign-in."""
    page.get_by_role("button", name="Sign out").click(timeout=timeout)
    page.get_by_role("button", name="End session").click(timeout=timeout)
    page.get_by_role("button", name="Sign in").wait_for(timeout=timeout)


# ---------------------------------------------------------------- sessions annotating at once
# Used by tests/test_browser_load.py (five sessions) and tests/test_deploy.py (ten, signed
# in, through the proxy). Playwright's async API: one coroutine per browser session.

DEMO_FRAME_SHAPE = (360, 480)  # the demo videos' height, width
LOAD_TIMEOUT_MS = 60_000

ERROR_SELECTOR = '[data-testid="stException"], [data-testid="stAlertContentError"]'
CAPTION = re.compile(r"^Sample (\d+) of (\d+) · recording (.+) · keypoint frame (\d+) ")
TARGET = re.compile(r"^Target bodypart = (.+) \| confidence = [\d.]+$")
COMPLETED = re.compile(r"Completed annotations = (\d+)")
NEXT = re.compile(r"^Next(?! unannotated)")  # the button's name also holds its shortcut
NEXT_UNANNOTATED = re.compile(r"^Next unannotated")


def _js(text: str) -> str:
    return text.replace("IMAGE_IFRAME", IMAGE_IFRAME.replace("'", "\\'")).replace(
        "ERROR_SELECTOR", ERROR_SELECTOR.replace("'", "\\'")
    )


# In every document (the page and the component's iframes): each Streamlit exception or
# error box ever shown, even for a moment, and each JavaScript error, go to the page's
# kpcalErrors; the component messages each document receives go to its kpcalMessages.
WATCH_JS = _js("""
(() => {
  const top = window.top;
  if (window === top) window.kpcalErrors = [];
  const report = (text) => { try { top.kpcalErrors.push(text); } catch (e) {} };
  window.addEventListener('error', (e) =>
    report(`JavaScript error in ${location.pathname}: ${e.message} (${e.filename}:${e.lineno})`));
  window.kpcalMessages = [];
  window.addEventListener('message', (e) => {
    if (!e.data || !e.data.type) return;
    window.kpcalMessages.push([Date.now() % 1000000, e.data.type]);
    if (window.kpcalMessages.length > 40) window.kpcalMessages.shift();
  });
  if (window !== top) return;
  const look = () => document.querySelectorAll('ERROR_SELECTOR').forEach((e) => {
    if (!e.dataset.kpcalSeen) { e.dataset.kpcalSeen = '1'; report(e.innerText); }
  });
  new MutationObserver(look).observe(document, { childList: true, subtree: true });
})();
""")
# The live image (loaded, sized to the window and drawn at that size, listening to clicks),
# else null. ``view``: the view token of the picture shown (sample, zoom and size;
# kpcal_app.click).
IMAGE_JS = _js("""
() => {
  const frames = document.querySelectorAll('IMAGE_IFRAME');
  if (frames.length !== 1) return null;
  const frame = frames[0];
  const img = frame.contentDocument && frame.contentDocument.getElementById('image');
  if (!img || !img.complete || !img.naturalWidth || img.style.width !== img.width + 'px') return null;
  if (img.naturalWidth !== img.width) return null;
  if (typeof img.onclick !== 'function' || !img.dataset.view) return null;
  return { frame, src: img.src, view: img.dataset.view, width: img.width, height: img.height };
}
""").strip()
# Sample ``i`` shown with its image in another view than the last one seen (a new sample).
NEW_SAMPLE_JS = """
(i) => {
  const shown = (%s)(i);
  const live = (%s)();
  if (!shown || !live || live.view === window.kpcalView) return null;
  window.kpcalView = live.view;
  return live.src;
}
""" % (SAMPLE_SHOWN_JS.strip(), IMAGE_JS)
# The same view's image redrawn (a new mark) with at least / exactly ``n`` completed.
REDRAWN_JS = (
    """
([previousSrc, n, exact]) => {
  const live = (%s)();
  if (!live || live.view !== window.kpcalView || live.src === previousSrc) return null;
  const count = [...document.querySelectorAll('[data-testid="stCaptionContainer"]')]
    .map((e) => /Completed annotations = (\\d+)/.exec(e.innerText)).find((m) => m);
  if (!count || (exact ? Number(count[1]) !== n : Number(count[1]) < n)) return null;
  return live.src;
}
"""
    % IMAGE_JS
)
CURRENT_IMAGE_JS = (
    """
() => { const live = (%s)(); if (live) window.kpcalView = live.view; return live; }
"""
    % IMAGE_JS
)
COMPLETED_JS = """
(n) => [...document.querySelectorAll('[data-testid="stCaptionContainer"]')].some(
  (e) => { const m = /Completed annotations = (\\d+)/.exec(e.innerText); return m && m[1] === String(n); })
"""
IDLE_JS = """() => {
  const app = document.querySelector('[data-testid="stApp"]');
  return app && app.dataset.testScriptState === 'notRunning';
}"""
# For a failure report: the component iframes and the messages around them.
DIAGNOSE_JS = """() => ({ errors: window.kpcalErrors, page: window.kpcalMessages,
  frames: [...document.querySelectorAll('iframe')].map((f) => {
    const img = f.contentDocument && f.contentDocument.getElementById('image');
    return { title: f.title, height: f.height, newest: f === window.kpcalFrame,
      messages: f.contentWindow && f.contentWindow.kpcalMessages,
      image: img && { complete: img.complete, width: img.width, src: img.src.length,
                      onclick: typeof img.onclick } };
  }) })"""


# ---------------------------------------------------------------- one session, synchronous
# The annotate page read and clicked with Playwright's sync API (the end-to-end test and the
# stop-rule test).

# The image in the component's iframe once it is live (loaded, sized to the window and
# drawn at that size, listening to clicks) and new: another view than the last one seen (a
# new sample), or another picture of the same view (a mark). Returns its source.
FRESH_IMAGE_JS = """
([newView, previousSrc]) => {
  const frames = document.querySelectorAll('%s');
  if (frames.length !== 1) return null;
  const frame = frames[0];
  const img = frame.contentDocument && frame.contentDocument.getElementById('image');
  if (!img || !img.complete || !img.naturalWidth || img.naturalWidth !== img.width) return null;
  if (img.style.width !== img.width + 'px') return null;
  if (typeof img.onclick !== 'function' || !img.dataset.view) return null;
  if (newView ? img.dataset.view === window.kpcalTestView : img.src === previousSrc) return null;
  window.kpcalTestView = img.dataset.view;
  return img.src;
}
""" % IMAGE_IFRAME.replace("'", "\\'")

# The annotate page's stop status (kpcal_core.sentences.stop_status_line) once it is that of
# ``n`` annotations, else null.
STOP_STATUS_JS = r"""
(n) => {
  const status = /(Settled: the line is trusted.*|About \d+ more annotations? needed.*|Not settled \(.*)/;
  const where = '[data-testid="stMarkdownContainer"], [data-testid="stCaptionContainer"]';
  for (const e of document.querySelectorAll(where)) {
    const m = status.exec(e.innerText);
    if (!m) continue;
    const count = /\((\d+) annotations?\)/.exec(m[1]) || /\((\d+) so far/.exec(m[1]);
    return count && Number(count[1]) === n ? m[1].trim() : null;
  }
  return null;
}
"""


class AnnotatePage:
    """The annotate page as a person sees it, read from the DOM."""

    def __init__(self, page, project: Path):
        self.page = page
        self.project = project
        self.data = load_project_data(project)
        self.truth = load_ground_truth(project)["true_coordinates"]
        self.image = page.frame_locator(IMAGE_IFRAME).locator("#image")
        self.counts = counts_locator(page)
        self.src: str | None = None

    def wait_for_image(self, new_sample: bool) -> None:
        """Wait until the image is live and new: a new sample's, or the same redrawn (a mark)."""
        handle = self.page.wait_for_function(
            FRESH_IMAGE_JS, arg=[new_sample, self.src], timeout=30_000
        )
        self.src = handle.json_value()

    def wait_for_sample(self, index: int) -> None:
        self.page.wait_for_function(SAMPLE_SHOWN_JS, arg=index, timeout=30_000)
        self.wait_for_image(new_sample=True)

    def wait_for_completed(self, n: int) -> float:
        """Wait for "Completed annotations = n"; return when it appeared (monotonic seconds)."""
        self.page.wait_for_function(COMPLETED_JS, arg=n, polling="raf", timeout=30_000)
        return time.monotonic()

    def wait_for_stop_status(self, n: int) -> str:
        """Wait for the stop status below the image to be that of ``n`` annotations; its text."""
        handle = self.page.wait_for_function(STOP_STATUS_JS, arg=n, polling="raf", timeout=30_000)
        return handle.json_value()

    def shown(self) -> dict:
        """Sample number, count, key and completed count, as the page shows them."""
        return read_shown(self.page.evaluate(SAMPLE_LINES_JS), self.counts.first.inner_text())

    def true_position(self, key) -> tuple[np.ndarray, tuple[float, float]]:
        """The true position of ``key`` in video pixels, and where the image shows it."""
        recording, frame, bodypart = key
        k = self.data.bodyparts.index(bodypart)
        keypoints = self.data.coordinates[recording][frame]
        view = crop_for_sample(DEMO_FRAME_SHAPE, keypoints[k], keypoints)
        true_xy = self.truth[recording][frame, k]
        return true_xy, view.to_display(*true_xy)

    def click_true_position(self, key) -> None:
        """Click where the image, as shown (sized to the window), shows the true position."""
        _, (u, v) = self.true_position(key)
        assert 0 <= u < 560 and 0 <= v < 560, (key, u, v)
        factor = self.image.evaluate("(img) => img.width") / 560  # as shown now
        self.image.click(position={"x": u * factor, "y": v * factor})


@dataclass
class Click:
    index: int  # 1-based sample number shown
    key: tuple[str, int, str]
    display_xy: tuple[int, int]  # in the pixels of the image as shown
    shown_width: int  # the width the image was shown at
    started: str  # UTC ISO, just before the click
    answered: str  # UTC ISO, once the mark was drawn
    round_trip: float  # seconds


@dataclass
class Plan:
    """What one browser session does, and what it saw."""

    name: str  # annotator name, typed in the sidebar (or the e-mail signed in)
    project: Path
    start: int  # first sample (1-based)
    navigation: str  # "next", "unannotated" or "alternate"
    offset: tuple[int, int]  # where this session clicks: display pixels from the centre
    shared: bool = False
    n_clicks: int = 20
    signed_in: bool = False  # sign in as ``name`` (an e-mail) instead of typing it
    #: one of a team (issue 23): start where the page puts it and take the sample the page
    #: gives with "Next unannotated" (``start`` and ``navigation`` are not used)
    team: bool = False
    reloaded_count: int | None = None  # a team's: "Completed annotations" after the reload
    clicks: list[Click] = field(default_factory=list)
    navigation_times: list[float] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)


def clicked_position(project_data, click: Click) -> tuple[float, float]:
    """Video position of ``click`` in the image of its sample."""
    recording, frame, bodypart = click.key
    keypoints = np.asarray(project_data.coordinates[recording][frame], dtype=float)
    k = project_data.bodyparts.index(bodypart)
    view = crop_for_sample(DEMO_FRAME_SHAPE, keypoints[k], keypoints)
    return view.to_frame(*click.display_xy, click.shown_width)


def saved_at_click(xy, project_data, click: Click) -> bool:
    """True when ``xy`` (video pixels) is where ``click`` was made in its sample's image.

    Where the layout puts the image decides two things the position asked for does not
    say: a mouse click whose screen position falls on whole pixels is taken at that
    pixel's centre, half a pixel further (``kpcal_app.click``; a device pixel ratio of 1
    here), and an image placed between whole pixels is placed to Chromium's layout unit
    (1/64 CSS px). Both are allowed.
    """
    recording, frame, bodypart = click.key
    keypoints = np.asarray(project_data.coordinates[recording][frame], dtype=float)
    k = project_data.bodyparts.index(bodypart)
    view = crop_for_sample(DEMO_FRAME_SHAPE, keypoints[k], keypoints)
    layout_unit = view.scale * view.display_width / click.shown_width / 64  # video px
    x, y = click.display_xy
    return any(
        np.all(
            np.abs(np.subtract(xy, view.to_frame(x + half, y + half, click.shown_width)))
            <= layout_unit + 1e-9
        )
        for half in (0.0, 0.5)
    )


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, math.ceil(q * len(ordered)) - 1)]


@contextlib.asynccontextmanager
async def async_chromium():
    """:func:`browser.chromium` for Playwright's async API."""
    from playwright.async_api import async_playwright

    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(
            executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGS
        )
        try:
            yield browser
        finally:
            await browser.close()


def read_shown(lines: dict | None, counts: str) -> dict:
    """Sample number, count, key and completed count from the click view's lines
    (:data:`SAMPLE_LINES_JS`) and the count line above it."""
    assert lines, "the click view shows no sample"
    c, t = CAPTION.search(lines["caption"]), TARGET.search(lines["title"])
    done = COMPLETED.search(counts)
    assert c and t and done, (lines, counts)
    return {
        "index": int(c[1]),
        "n": int(c[2]),
        "key": (c[3], int(c[4]), t[1]),
        "completed": int(done[1]),
    }


def counts_locator(page):
    """The line above the click view: "Completed annotations = n · …"."""
    return page.locator('[data-testid="stCaptionContainer"]').filter(
        has_text="Completed annotations ="
    )


async def shown(page) -> dict:
    """The sample number, key and completed count the page shows."""
    lines = await page.evaluate(SAMPLE_LINES_JS)
    return read_shown(lines, await counts_locator(page).first.inner_text())


async def collect_errors(page, plan: Plan) -> None:
    """Move what the page's watcher saw to ``plan.errors`` (plus any error shown now)."""
    seen = await page.evaluate("() => window.kpcalErrors.splice(0)")
    now = await page.locator(ERROR_SELECTOR).all_inner_texts()
    plan.errors += list(seen) + [e for e in now if e not in seen]


@contextlib.asynccontextmanager
async def reported(page, plan: Plan, folder: Path, step: str):
    """On a failure inside, save the page's screenshot and component state to ``folder``."""
    try:
        yield
    except BaseException:
        with contextlib.suppress(Exception):
            await page.screenshot(path=str(folder / f"{plan.name}.png"))
            state = await page.evaluate(DIAGNOSE_JS)
            (folder / f"{plan.name}.txt").write_text(f"failed while {step}\n{state}\n")
        raise


async def annotate(context, base_url: str, plan: Plan, samples: list, folder: Path):
    """Open the annotate page of ``plan.project`` and make ``plan.n_clicks`` annotations.

    Signs in as ``plan.name`` first when ``plan.signed_in``, else types the
    name in the sidebar's "Annotator" box.
    """
    page = await context.new_page()
    page.on("pageerror", lambda error: plan.errors.append(f"pageerror: {error}"))
    query = {"project": str(plan.project)}
    if plan.start != 1 and not plan.team:
        query["sample"] = str(plan.start)
    first = None if plan.team else plan.start
    async with reported(page, plan, folder, "opening the page"):
        if plan.signed_in:
            await sign_in_async(page, base_url, plan.name)
            await page.wait_for_function(IDLE_JS)
        await page.goto(f"{base_url}/annotate?{urlencode(query)}")
        await page.wait_for_function(NEW_SAMPLE_JS, arg=first, timeout=120_000)

        if not plan.signed_in:
            # The annotator's name: committed with Enter (a full rerun), saved with every click.
            box = page.locator('input[aria-label="Annotator"]')
            await box.fill(plan.name)
            await box.press("Enter")
            with contextlib.suppress(Exception):  # the rerun may be over before we look
                await page.wait_for_function(f"() => !({IDLE_JS})()", timeout=2_000, polling=20)
            await page.wait_for_function(IDLE_JS)
        live = await (await page.wait_for_function(CURRENT_IMAGE_JS)).json_value()
        src = live["src"]
        assert live["height"] == live["width"], live  # a square view centred on the keypoint

    image = page.frame_locator(IMAGE_IFRAME).locator("#image")
    for n in range(plan.n_clicks):
        async with reported(page, plan, folder, f"clicking annotation {n + 1}"):
            if plan.team:  # the page may move a team member on once (a sample just taken)
                await page.wait_for_function(IDLE_JS)
                live = await (await page.wait_for_function(CURRENT_IMAGE_JS)).json_value()
                src = live["src"]
            view = await shown(page)
            assert plan.team or view["index"] == plan.start + n, (plan.name, view)
            assert view["n"] == len(samples), (plan.name, view)
            assert view["key"] == samples[view["index"] - 1], (plan.name, view)
            if not plan.shared:
                assert view["completed"] == n, (plan.name, view)
            size = await image.evaluate("(img) => img.width")  # as shown now
            x, y = size // 2 + plan.offset[0], size // 2 + plan.offset[1]
            started, t0 = now_utc(), time.monotonic()
            await image.click(position={"x": x, "y": y})
            # A separate project counts exactly; the shared one at least this session's.
            handle = await page.wait_for_function(
                REDRAWN_JS, arg=[src, n + 1, not plan.shared], polling="raf"
            )
            t1, answered = time.monotonic(), now_utc()
            src = await handle.json_value()
            plan.clicks.append(
                Click(view["index"], view["key"], (x, y), size, started, answered, t1 - t0)
            )
            await collect_errors(page, plan)
        if n + 1 == plan.n_clicks:
            break
        unannotated = (
            plan.team
            or plan.navigation == "unannotated"
            or (plan.navigation == "alternate" and n % 2 == 0)
        )
        async with reported(page, plan, folder, f"going on from sample {view['index']}"):
            t0 = time.monotonic()
            await page.get_by_role("button", name=NEXT_UNANNOTATED if unannotated else NEXT).click()
            handle = await page.wait_for_function(
                NEW_SAMPLE_JS, arg=None if plan.team else view["index"] + 1, polling="raf"
            )
            plan.navigation_times.append(time.monotonic() - t0)
            src = await handle.json_value()
    return page


async def reload_and_count(page, plan: Plan, expected: int, folder: Path) -> None:
    """Reload: the page opens on the last sample with the project's full count."""
    async with reported(page, plan, folder, "reloading"):
        await page.reload()
        await page.wait_for_function(NEW_SAMPLE_JS, arg=plan.clicks[-1].index)
        if expected is None:  # a team: the count depends on the second looks made
            await page.wait_for_function(IDLE_JS)
            plan.reloaded_count = (await shown(page))["completed"]
        else:
            await page.wait_for_function(COMPLETED_JS, arg=expected)
            assert (await shown(page))["completed"] == expected, plan.name
        await collect_errors(page, plan)


async def run_all(
    base_url: str,
    plans: list[Plan],
    samples: dict,
    expected: dict,
    folder: Path,
    also: Sequence[Callable[[Any], Awaitable[None]]] = (),
) -> None:
    """Every plan in its own browser context at once (plus ``also(browser)`` coroutines).

    Then each page is reloaded and must show ``expected[plan.project]`` completed
    (``None``: the count is kept in ``plan.reloaded_count``).
    """
    async with async_chromium() as browser:
        contexts = []
        for _ in plans:
            context = await browser.new_context(viewport={"width": 1400, "height": 1200})
            context.set_default_timeout(LOAD_TIMEOUT_MS)
            await context.add_init_script(WATCH_JS)
            contexts.append(context)
        *pages, _ = await asyncio.gather(
            *(
                annotate(context, base_url, plan, samples[plan.project], folder)
                for context, plan in zip(contexts, plans)
            ),
            asyncio.gather(*(task(browser) for task in also)),
        )
        await asyncio.gather(
            *(
                reload_and_count(page, plan, expected[plan.project], folder)
                for page, plan in zip(pages, plans)
            )
        )
        for context in contexts:
            await context.close()


def check_own_project(plan: Plan) -> None:
    """A project one session annotated alone holds exactly its clicks.

    Each in the working copy (``calibration/annotations_draft.csv``) at the
    clicked position, with the session's annotator and a time within the
    click's round trip; and in ``error_annotations.csv`` when there are enough
    for it (:data:`kpcal_core.project.AUTOSAVE_MIN_ANNOTATIONS`), else that
    file is not written.
    """
    from kpcal_core.project import load_working_annotations

    data = load_project_data(plan.project)
    saved = exported_annotations(plan.project, plan.n_clicks)
    records = load_working_annotations(plan.project)
    clicked = {c.key: c for c in plan.clicks}
    assert [c.index for c in plan.clicks] == list(range(plan.start, plan.start + plan.n_clicks))
    assert len(records) == plan.n_clicks and set(records) == set(clicked), plan.name
    for key, click in clicked.items():
        assert records[key].annotator == plan.name, (plan.name, records[key])
        assert click.started <= records[key].annotated_at <= click.answered, (key, records[key])
        assert saved_at_click(records[key].xy, data, click), key
        assert saved is None or np.allclose(saved[key], records[key].xy), key


def exported_annotations(project: Path, n: int) -> dict | None:
    """``error_annotations.csv`` of ``project``, which must hold ``n`` annotations when
    ``n`` reaches the autosave minimum; ``None`` (and no file) below it."""
    from kpcal_core import load_annotations
    from kpcal_core.project import AUTOSAVE_MIN_ANNOTATIONS

    if n < AUTOSAVE_MIN_ANNOTATIONS:
        assert not (project / "error_annotations.csv").exists(), project
        return None
    saved = load_annotations(project)
    assert len(saved) == n, (project, len(saved), n)
    return saved


def check_team_project(project: Path, plans: Sequence[Plan]) -> dict:
    """A project a team annotated at once (issue 23) keeps every click, and shares the work.

    Every click of every plan is on disk as its annotator's own row (the working
    copy, and ``error_annotations.csv`` from the autosave minimum on) at the
    clicked position, with a time within its round trip: nothing replaced. No
    sample was clicked by two plans unless it is in the second-look share, and
    no plan clicked a sample twice. The count each page showed after the reload
    is the project's samples done.

    Returns
    -------
    dict
        ``rows`` (clicks on disk), ``samples`` (samples done), ``twice`` (samples
        done by two), ``second_look`` (the share's size).
    """
    from kpcal_core.annotations import load_annotation_rows
    from kpcal_core.project import load_working_annotations, load_working_rows
    from kpcal_core.workflows import second_look

    data = load_project_data(project)
    rows = load_working_rows(project)
    exported = load_annotation_rows(project)
    looks = second_look(data)
    clicks = [(plan.name, c) for plan in plans for c in plan.clicks]
    assert len(rows) == len(clicks), (len(rows), len(clicks))
    if len(clicks) >= 20:
        assert set(exported) == set(rows)
    by_sample: dict = {}
    for name, click in clicks:
        row = rows[(click.key, name)]
        assert row.annotator == name and row.has_position and not row.corrects, row
        assert click.started <= row.annotated_at <= click.answered, (click, row)
        assert saved_at_click(row.xy, data, click), (name, click, row)
        if click.key in exported:
            assert exported[(click.key, name)].xy == row.xy
        by_sample.setdefault(click.key, []).append(name)
    twice = [k for k, names in by_sample.items() if len(names) > 1]
    assert all(len(set(names)) == len(names) for names in by_sample.values()), by_sample
    assert all(k in looks for k in twice), (twice, looks)
    samples = len(load_working_annotations(project))
    assert samples == len(by_sample)
    for plan in plans:
        assert plan.reloaded_count in (None, samples), (plan.name, plan.reloaded_count, samples)
    return {"rows": len(rows), "samples": samples, "twice": len(twice), "second_look": len(looks)}


def round_trip_summary(plans: Sequence[Plan]) -> str:
    """Click -> mark round trip median, p95 and max over every click of ``plans``."""
    round_trips = [c.round_trip for plan in plans for c in plan.clicks]
    return (
        f"click -> mark round trip median {1000 * statistics.median(round_trips):.0f} ms, "
        f"p95 {1000 * percentile(round_trips, 0.95):.0f} ms, "
        f"max {1000 * max(round_trips):.0f} ms over {len(round_trips)} clicks"
    )


# ---------------------------------------------------------------- a slow server -> browser link


class SlowLink:
    """The app's WebSocket, with what the server sends slowed as a slow network would.

    Route a page's Streamlit socket through it (Playwright's async API)::

        link = SlowLink(bytes_per_second=200_000, latency=0.02)
        await page.route_web_socket(STREAM_URL, link.route)

    What the page sends goes to the server at once. What the server sends is
    queued and handed to the page in order, each message after the ones before it
    have passed a link of ``bytes_per_second`` and then ``latency`` seconds: a
    60 KB image arrives about 0.3 s after it was sent, a caption's few hundred
    bytes in a couple of milliseconds (so, in a page that shows a caption and an
    image as separate messages, the caption comes well before the image).
    """

    def __init__(self, bytes_per_second: float, latency: float = 0.0):
        self.bytes_per_second = bytes_per_second
        self.latency = latency
        self.pending = 0  # messages from the server not yet handed to the page
        self.last_activity = time.monotonic()
        self.tasks: list[asyncio.Task] = []

    def route(self, ws) -> None:
        """The ``route_web_socket`` handler."""
        server = ws.connect_to_server()
        ws.on_message(server.send)
        queue: asyncio.Queue = asyncio.Queue()

        def received(message) -> None:
            self.pending += 1
            self.last_activity = time.monotonic()
            queue.put_nowait((time.monotonic(), message))

        server.on_message(received)
        self.tasks.append(asyncio.get_running_loop().create_task(self._pump(ws, queue)))

    async def _pump(self, ws, queue: asyncio.Queue) -> None:
        link_free = 0.0
        while True:
            received, message = await queue.get()
            link_free = max(link_free, received) + len(message) / self.bytes_per_second
            wait = link_free + self.latency - time.monotonic()
            if wait > 0:
                await asyncio.sleep(wait)
            with contextlib.suppress(Exception):  # the page went away
                ws.send(message)
            self.pending -= 1
            self.last_activity = time.monotonic()

    async def quiet(self, seconds: float = 0.4, timeout: float = 60.0) -> None:
        """Wait until nothing was received or handed on for ``seconds`` (all delivered)."""
        deadline = time.monotonic() + timeout
        while self.pending or time.monotonic() - self.last_activity < seconds:
            if time.monotonic() > deadline:
                raise TimeoutError(f"the link was never quiet ({self.pending} pending)")
            await asyncio.sleep(0.05)

    def close(self) -> None:
        for task in self.tasks:
            task.cancel()


# Streamlit's WebSocket (what SlowLink routes).
STREAM_URL = re.compile(r"/_stcore/stream$")

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

REPO = Path(__file__).resolve().parents[1]
APP = REPO / "app.py"
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

    @property
    def url(self) -> str:
        """The app's address through the proxy (no trailing slash)."""
        return f"http://127.0.0.1:{self.port}/kpcal"

    def error_log(self) -> str:
        return (self.folder / "error.log").read_text(errors="replace")

    def access_log(self) -> str:
        return (self.folder / "access.log").read_text(errors="replace")


@contextlib.contextmanager
def nginx_proxy(upstream_port: int, timeout: float = 20.0) -> Iterator[NginxProxy]:
    """Debian's nginx in the foreground, unprivileged, serving the shipped site on a free port.

    Its configuration, pid file, logs and temporary folders are in a fresh
    temporary folder (removed afterwards). Run as root, nginx is started as
    ``nobody`` (it never needs privileges here). Always stopped on exit.
    """
    import pwd
    import shutil
    import tempfile

    folder = Path(tempfile.mkdtemp(prefix="kpcal-nginx-"))
    port = free_port()
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


def sign_in(page, app_url: str, email: str, timeout: float = 60_000) -> None:
    """Sign ``email`` in through the app's "Sign in" button and the mock's form (sync API)."""
    page.goto(app_url)
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

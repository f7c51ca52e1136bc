"""kpcal installed as a package, not run from a checkout (issue 22, item 5).

The checkout is copied (as a fresh clone has it) and built into a wheel with ``pip wheel``;
the wheel goes into a fresh venv made with ``--system-site-packages`` and installed with
``--no-deps`` (the dependencies are this Python's, no internet needed). From an empty
folder, with no ``PYTHONPATH``: ``kpcal --help`` works, and ``kpcal app PROJECT`` serves
the three pages, read in Debian's Chromium (AppTest cannot run an installed package's
script, and the pages' titles are drawn by the browser, not in the served HTML).

On the code before issue 22 the wheel had no ``kpcal_core/formats``, ``app.py`` nor
``pages/``: ``kpcal --help`` failed with ``ModuleNotFoundError``.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest
from browser_support import (
    CHROMIUM,
    chromium,
    free_port,
    prepared_demo_project,
    stop_process,
    wait_for_http,
)

REPO = Path(__file__).resolve().parents[2]
PAGES = {"setup": "Set up & sample", "annotate": "Annotate", "fit": "Fit & save"}
# What a fresh clone does not have (caches, builds, a local secrets file).
NOT_IN_A_CLONE = shutil.ignore_patterns(
    ".git",
    "build",
    "dist",
    "*.egg-info",
    "__pycache__",
    ".pytest_cache",
    ".ruff_cache",
    ".mypy_cache",
    ".hypothesis",
    "tmp",
    "secrets.toml",
)

pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(not CHROMIUM.exists(), reason=f"{CHROMIUM} is not installed"),
]


def run(command: list, cwd: Path, env: dict, timeout: float = 300) -> subprocess.CompletedProcess:
    done = subprocess.run(
        [str(c) for c in command], cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout
    )
    assert done.returncode == 0, f"{command}\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}"
    return done


@pytest.fixture(scope="module")
def built(tmp_path_factory) -> tuple[Path, dict]:
    """kpcal's wheel built from a copy of the checkout, and the environment to run it in."""
    folder = tmp_path_factory.mktemp("installed")
    source = folder / "source"
    shutil.copytree(REPO, source, ignore=NOT_IN_A_CLONE)
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "KPCAL_PROJECT")}
    env.update(
        KPCAL_STATE_DIR=str(folder / "state"),
        KPCAL_DEMO_DIR=str(folder / "demo"),
        PYTHONUNBUFFERED="1",
    )
    run([sys.executable, "-m", "pip", "wheel", "--no-deps", "-w", "wheels", source], folder, env)
    (wheel,) = (folder / "wheels").glob("kpcal-*.whl")
    return wheel, env


@pytest.fixture(scope="module")
def installed(built, tmp_path_factory) -> tuple[Path, dict]:
    """A fresh venv with kpcal's wheel installed, and the environment to run it in."""
    wheel, env = built
    folder = tmp_path_factory.mktemp("venv")
    venv = folder / "venv"
    run([sys.executable, "-m", "venv", "--system-site-packages", venv], folder, env)
    run([venv / "bin" / "python", "-m", "pip", "install", "--no-deps", wheel], folder, env)
    return venv, env


def test_the_wheel_holds_every_module_and_the_apps_files_only(built):
    wheel, _ = built
    with zipfile.ZipFile(wheel) as archive:
        names = {n for n in archive.namelist() if ".dist-info/" not in n}
    modules = {
        p.relative_to(REPO).as_posix()
        for package in ("kpcal_core", "kpcal_app")
        for p in (REPO / package).rglob("*.py")
    }
    app_files = {"app.py", ".streamlit/config.toml"} | {
        f"pages/{p.name}" for p in (REPO / "pages").glob("*.py")
    }
    assert names == modules | {f"kpcal_app/entry/{name}" for name in app_files}


def test_kpcal_help_works_from_the_installed_package(installed, tmp_path):
    venv, env = installed
    where = run(
        [venv / "bin" / "python", "-c", "import kpcal_core, kpcal_app; print(kpcal_app.__file__)"],
        tmp_path,
        env,
    )
    assert where.stdout.startswith(str(venv)), where.stdout  # the wheel's, not the checkout's
    done = run([venv / "bin" / "kpcal", "--help"], tmp_path, env)
    assert "app" in done.stdout and "check" in done.stdout, done.stdout


def test_kpcal_app_serves_the_three_pages_from_the_installed_package(installed, tmp_path):
    venv, env = installed
    project = tmp_path / "project"
    prepared_demo_project(project, seed=1, num_samples=12, n_frames=40)
    empty = tmp_path / "empty"
    empty.mkdir()
    port = free_port()
    log_path = tmp_path / "kpcal-app.log"
    with open(log_path, "wb") as log:
        process = subprocess.Popen(
            [
                venv / "bin" / "kpcal",
                "app",
                project,
                "--",
                "--server.port",
                str(port),
                "--server.headless",
                "true",
                "--server.address",
                "127.0.0.1",
            ],
            cwd=empty,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    url = f"http://127.0.0.1:{port}"
    try:
        wait_for_http(f"{url}/_stcore/health", process, 120, log_path)
        # kpcal became the server (same process): it runs the wheel's app.py.
        command = Path(f"/proc/{process.pid}/cmdline").read_bytes().split(b"\0")
        site = venv / "lib" / f"python{sys.version_info.major}.{sys.version_info.minor}"
        script = site / "site-packages" / "kpcal_app" / "entry" / "app.py"
        assert str(script).encode() in command, command
        assert b"--client.showErrorDetails=none" in command  # the app's .streamlit settings
        with chromium() as browser:
            page = browser.new_page(viewport={"width": 1400, "height": 1000})
            page.set_default_timeout(60_000)
            errors: list[str] = []
            page.on("pageerror", lambda error: errors.append(str(error)))
            for path, title in PAGES.items():
                page.goto(f"{url}/{path}")
                page.locator("h1").filter(has_text=re.compile(f"^{re.escape(title)}$")).wait_for()
                page.get_by_text(f"Project: {project}").wait_for()  # the one given to kpcal app
            assert not errors, errors
    finally:
        stop_process(process)
    text = log_path.read_text(errors="replace")
    assert "Traceback" not in text, text[-4000:]

#!/usr/bin/env bash
# Install what the tests need on a fresh Debian machine (chromium, ffmpeg, nginx), then run
# the whole suite, then the page tests (tests/app) on the lowest supported streamlit. Fails if
# either run fails.
# Usage: bash tests/install_and_run.sh [extra pytest arguments]
set -euo pipefail
cd "$(dirname "$0")/.."

need_apt=()
command -v chromium >/dev/null 2>&1 || [ -x /usr/bin/chromium ] || need_apt+=(chromium)
command -v ffmpeg >/dev/null 2>&1 || need_apt+=(ffmpeg)
# The deployment tests (tests/test_deploy.py) run the app behind Debian's nginx.
[ -x /usr/sbin/nginx ] || command -v nginx >/dev/null 2>&1 || need_apt+=(nginx)
if [ ${#need_apt[@]} -gt 0 ]; then
  SUDO=""
  [ "$(id -u)" -eq 0 ] || SUDO="sudo"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${need_apt[@]}" >/dev/null
fi

python -m pip install -q --disable-pip-version-check -r requirements-dev.txt
status=0
python -m pytest -q -p no:cacheprovider "$@" || status=$?

# The page tests again on the lowest supported versions (tests/constraints-lowest.txt: the floor
# of streamlit in pyproject.toml), in a separate venv. It sees the packages installed above and
# installs only what the constraints change, which keeps this run to a couple of minutes.
# KPCAL_SKIP_LOWEST=1 skips it.
if [ "${KPCAL_SKIP_LOWEST:-0}" != 1 ]; then
  lowest="${TMPDIR:-/tmp}/kpcal-lowest-venv"
  rm -rf "$lowest"
  python -m venv --system-site-packages "$lowest"
  "$lowest/bin/python" -m pip install -q --disable-pip-version-check \
    -c tests/constraints-lowest.txt -e .
  "$lowest/bin/python" -c 'import streamlit; print("Page tests on the lowest supported streamlit", streamlit.__version__)'
  "$lowest/bin/python" -m pytest -q -p no:cacheprovider tests/app || status=$?
fi
exit "$status"

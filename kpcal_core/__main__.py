"""``python -m kpcal_core``: the headless command line (see :mod:`kpcal_core.cli`)."""

from .cli import main

if __name__ == "__main__":
    raise SystemExit(main())

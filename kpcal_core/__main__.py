"""``python -m kpcal_core``: the headless command line (see :mod:`kpcal_core.cli`).

``--state-dir DIR`` before the command sets the state folder (see
:mod:`kpcal_core.statedir`) for this run and everything it starts.
"""

import argparse
import sys

from .cli import main
from .statedir import set_state_dir


def run(argv: list[str] | None = None) -> int:
    """Run :func:`kpcal_core.cli.main` after taking ``--state-dir DIR`` off ``argv``.

    ``argv`` defaults to ``sys.argv[1:]``.
    """
    argv = sys.argv[1:] if argv is None else argv
    parser = argparse.ArgumentParser(add_help=False, allow_abbrev=False)
    parser.add_argument("--state-dir")
    known, rest = parser.parse_known_args(argv)
    if known.state_dir:
        set_state_dir(known.state_dir)
    return main(rest)


if __name__ == "__main__":
    raise SystemExit(run())

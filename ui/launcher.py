"""The `novamind` entry point.

With a subcommand (or --help / --version) it runs the headless CLI (app.cli) without importing
Qt, so IT scripts and `doctor` stay fast and work without a display. Bare `novamind` (optionally
with GUI flags such as --exit-after-paint or --theme) opens the desktop window.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence

GUI_FLAGS = ("--exit-after-paint", "--theme")


def wants_gui(args: Sequence[str]) -> bool:
    """True for no arguments or only GUI flags; anything else is a CLI call."""
    return all(a.startswith(GUI_FLAGS) or a in ("system", "light", "dark") for a in args)


def main(argv: Sequence[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    if wants_gui(args):
        from ui.app import run

        return run(args)
    from app import cli

    return cli.main(args)


if __name__ == "__main__":
    sys.exit(main())

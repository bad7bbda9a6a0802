"""The `novamind` entry point.

With a subcommand (or --help / --version) it runs the headless CLI (app.cli) without importing
Qt, so IT scripts and `doctor` stay fast and work without a display. Bare `novamind` (optionally
with GUI flags such as --exit-after-paint or --theme) opens the desktop window. The hidden
`--smoke-test REPORT.json` mode (ui/smoke.py) is the installed bundle's end-to-end self-test.

In the packaged (PyInstaller) app the LLM's `spawn`ed child process re-runs this executable:
`multiprocessing.freeze_support()` must run first, before any argument parsing or import.
"""

from __future__ import annotations

import multiprocessing
import sys
from collections.abc import Sequence

GUI_FLAGS = ("--exit-after-paint", "--theme")


def wants_gui(args: Sequence[str]) -> bool:
    """True for no arguments or only GUI flags; anything else is a CLI call."""
    return all(a.startswith(GUI_FLAGS) or a in ("system", "light", "dark") for a in args)


def main(argv: Sequence[str] | None = None) -> int:
    multiprocessing.freeze_support()  # frozen app: become the spawned child and never return
    args = list(sys.argv[1:] if argv is None else argv)
    if args[:1] == ["--smoke-test"] or (args and args[0].startswith("--smoke-test=")):
        from ui.smoke import run as smoke

        return smoke(args)
    if wants_gui(args):
        from ui.app import run

        return run(args)
    from app import cli

    return cli.main(args)


if __name__ == "__main__":
    multiprocessing.freeze_support()
    sys.exit(main())

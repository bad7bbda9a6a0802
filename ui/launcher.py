"""The `novamind` entry point.

With a subcommand it runs the headless CLI (app.cli) without importing Qt, so IT scripts and
`doctor` stay fast and work without a display. The desktop window arrives with the shell
(issue #3); until then a bare `novamind` prints the CLI help.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence


def main(argv: Sequence[str] | None = None) -> int:
    from app import cli

    args = list(sys.argv[1:] if argv is None else argv)
    return cli.main(args)


if __name__ == "__main__":
    sys.exit(main())

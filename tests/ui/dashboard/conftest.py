"""Dashboard pages use the panels' `show` fixture (shown now, closed and deleted at teardown)."""

from tests.ui.panels.conftest import show

__all__ = ["show"]

"""The 3D digital twin view (Twin tab): scene, timeline, region panel, compare, what-if, report."""

from ui.twin.view import TwinView

__all__ = ["TwinView"]

"""The patient workspace (a header and one tab per part of the record) and the PatientPanel
base class that its tabs and the feature panels of ui.panels share."""

from ui.workspace.panel import ALL_RECORDS, Panel, PatientPanel
from ui.workspace.view import PatientWorkspace

__all__ = ["ALL_RECORDS", "Panel", "PatientPanel", "PatientWorkspace"]

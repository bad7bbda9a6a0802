"""The Clinical history tab (intake history, medications, admissions) of the patient
workspace."""

from ui.workspace.history.tab import HistoryTab

__all__ = ["HistoryTab"]

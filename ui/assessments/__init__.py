"""Assessment UI: administer instruments (self-report / clinician entry), trends, alert inbox.

Self-contained widgets taking plain inputs (AppContext, Principal, patient id, an optional
ui.tasks.TaskManager); the shell mounts them in its Assessments and Alerts tabs.
"""

from ui.assessments.administer import AdministerWidget, SelfReportWindow
from ui.assessments.form import InstrumentForm
from ui.assessments.inbox import AlertInbox, ReasonDialog
from ui.assessments.trend import TrendChart

__all__ = [
    "AdministerWidget",
    "AlertInbox",
    "InstrumentForm",
    "ReasonDialog",
    "SelfReportWindow",
    "TrendChart",
]

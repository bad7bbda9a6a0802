# ruff: noqa: E501 — style sheet rules read best on one line each
"""Style sheet for the assessment widgets, built on palette() colours so that it follows the
light and dark themes (and works without the shell's own style sheet)."""

from __future__ import annotations

QSS = """
QLabel#formMessage {
  background: #fdecea; color: #8a1c12; border: 1px solid #e4a199; border-radius: 6px;
  padding: 8px 12px; font-weight: 600;
}
QFrame#itemCompact { border: 1px solid transparent; border-radius: 6px; }
QFrame#itemCompact:focus { border: 1px solid palette(highlight); background: palette(alternate-base); }
QFrame#itemCompact[invalid="true"], QFrame#itemLarge[invalid="true"] { border: 2px solid #c0392b; }
QLabel#questionCompact { font-weight: 600; }
QPushButton#optionCompact {
  padding: 3px 10px; border: 1px solid palette(mid); border-radius: 5px;
  background: palette(button); text-align: left;
}
QPushButton#optionCompact:checked {
  background: palette(highlight); color: palette(highlighted-text); border-color: palette(highlight);
}
QFrame#itemLarge { border: none; }
QLabel#questionLarge { font-size: 20pt; font-weight: 500; padding-bottom: 8px; }
QPushButton#optionLarge {
  font-size: 15pt; padding: 14px 22px; border: 2px solid palette(mid); border-radius: 12px;
  background: palette(base); text-align: left; min-height: 34px;
}
QPushButton#optionLarge:hover { border-color: palette(highlight); }
QPushButton#optionLarge:checked {
  background: palette(highlight); color: palette(highlighted-text); border-color: palette(highlight);
}
QWidget#selfReport QLabel#calmIntro { font-size: 14pt; color: palette(placeholder-text); }
QWidget#selfReport QLabel#calmProgress { font-size: 12pt; color: palette(placeholder-text); }
QWidget#selfReport QLabel#calmHelp { font-size: 11pt; color: palette(placeholder-text); }
QWidget#selfReport QLabel#thanksTitle { font-size: 26pt; font-weight: 600; }
QWidget#selfReport QLabel#thanksText { font-size: 15pt; }
QWidget#selfReport QPushButton#navButton { font-size: 13pt; padding: 10px 26px; border-radius: 10px; }
QProgressBar#calmBar { border: none; background: palette(alternate-base); border-radius: 3px; max-height: 6px; }
QProgressBar#calmBar::chunk { background: palette(highlight); border-radius: 3px; }
QFrame#resultPanel { background: palette(base); border: 1px solid palette(mid); border-radius: 10px; }
QLabel#resultTitle { font-size: 16pt; font-weight: 600; }
QLabel#resultTotal { font-size: 22pt; font-weight: 700; padding-right: 10px; }
QLabel#ruleText { color: palette(text); }
QLabel#detailText, QLabel#provenance { color: palette(placeholder-text); }
QLabel#provenance { font-size: 8pt; }
QLabel#alertLine { color: #c0392b; font-weight: 600; }
QFrame#criticalBox { background: #c0392b; border-radius: 8px; }
QFrame#criticalBox QLabel { color: white; }
QFrame#warningBox { background: #e07b24; border-radius: 8px; }
QFrame#warningBox QLabel { color: white; }
QLabel#criticalHead { font-size: 14pt; font-weight: 700; }
QLabel#criticalText { font-size: 11pt; font-weight: 600; }
QLabel#criticalRule { font-size: 9pt; }
QLabel#instrumentInfo, QLabel#licence { color: palette(placeholder-text); }
QLabel#licence { font-size: 8pt; }
QLabel#h2 { font-size: 13pt; font-weight: 600; }
QLabel#inboxSummary { font-size: 11pt; font-weight: 600; }
QLabel#inboxSummary[critical="true"] { color: #c0392b; }
QLabel#emptyNote { color: palette(placeholder-text); font-size: 11pt; padding: 24px; }
"""

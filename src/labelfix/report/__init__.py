"""The self-contained HTML report: summary, plots and image grids of flagged images."""

from labelfix.report.html import write_report

__all__ = ["write_report"]

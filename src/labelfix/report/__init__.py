"""What a scan writes for people to read: the self-contained report.html (summary, plots, image grids), and the
plain issues.csv and corrected_labels.jsonl (`files`)."""

from labelfix.report.html import write_report

__all__ = ["write_report"]

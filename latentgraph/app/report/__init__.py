"""Figures and one-page reports for run folders (matplotlib; no model code)."""

from latentgraph.app.report.curves import draw_training_curves
from latentgraph.app.report.markdown import markdown_table, write_report

__all__ = ["draw_training_curves", "markdown_table", "write_report"]

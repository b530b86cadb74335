"""Plain Markdown for reports: tables and the one-page ``report.md`` of a run folder."""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from pathlib import Path

from latentgraph.app.runs import write_text


def _format(value) -> str:
    if isinstance(value, float):
        if value != value:  # NaN
            return "n/a"
        return f"{value:.4g}" if abs(value) < 1e4 else f"{value:.0f}"
    return str(value)


def markdown_table(
    rows: Sequence[Mapping[str, object]], columns: Sequence[str] | None = None
) -> str:
    """A GitHub-flavoured Markdown table of ``rows`` (missing cells are blank)."""
    if not rows:
        return ""
    columns = list(columns or dict.fromkeys(k for r in rows for k in r))
    lines = ["| " + " | ".join(columns) + " |", "|" + "---|" * len(columns)]
    for row in rows:
        lines.append("| " + " | ".join(_format(row.get(c, "")) for c in columns) + " |")
    return "\n".join(lines) + "\n"


def write_report(
    path: str | os.PathLike,
    *,
    title: str,
    summary: str,
    tables: Sequence[tuple[str, str]] = (),
    figures: Sequence[tuple[str, str]] = (),
    notes: Sequence[str] = (),
) -> Path:
    """Write a one-page ``report.md``: a title, a summary line, tables, figures and notes.

    ``tables`` and ``figures`` are ``(heading, markdown_table)`` / ``(caption, relative_path)``.
    """
    parts = [f"# {title}\n", summary.strip() + "\n"]
    for heading, table in tables:
        parts.append(f"## {heading}\n\n{table}")
    for caption, rel in figures:
        parts.append(f"## {caption}\n\n![{caption}]({rel})\n")
    if notes:
        parts.append("## Notes\n\n" + "\n".join(f"- {n}" for n in notes) + "\n")
    return write_text(path, "\n".join(parts))

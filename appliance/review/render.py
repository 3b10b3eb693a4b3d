"""A Report as HTML (standalone page, inline SVG), CSV (a header row, one row per event) or JSON."""
from __future__ import annotations

import csv
import io
import json
from pathlib import Path
from typing import Any

from jinja2 import Environment, FileSystemLoader, select_autoescape

from appliance.review.charts import bar_chart
from appliance.review.report_model import Report
from audit.log_check import LogCheck

FORMATS = ("html", "csv", "json")
MEDIA_TYPES = {"html": "text/html; charset=utf-8", "csv": "text/csv; charset=utf-8", "json": "application/json"}
HTML_MAX_ROWS = 2000
TEMPLATES = Environment(loader=FileSystemLoader(Path(__file__).parent / "templates"),
                        autoescape=select_autoescape(["html"]), trim_blocks=True, lstrip_blocks=True)
TEMPLATES.globals["bar_chart"] = bar_chart


def basis(check: LogCheck) -> dict[str, Any]:
    """The log check a report rests on, as plain data."""
    checkpoint = check.checkpoint
    return {
        "log_verified": check.verified, "problem": check.problem, "records": check.size, "checked_at": check.checked_at,
        "checkpoint": None if checkpoint is None else {"size": checkpoint.size, "root": checkpoint.root,
                                                       "signed_at": checkpoint.ts, "note": checkpoint.note},
        "key_fingerprints": [key.fingerprint for key in check.keys],
    }


def render(reports: list[Report], fmt: str, heading: str = "") -> bytes:
    """`reports` in `fmt`; CSV and JSON take exactly one report."""
    if fmt == "html":
        return render_html(reports, heading or reports[0].title)
    if len(reports) != 1:
        raise ValueError(f"{fmt} holds one report")
    return render_csv(reports[0]) if fmt == "csv" else render_json(reports[0])


def render_html(reports: list[Report], heading: str) -> bytes:
    return TEMPLATES.get_template("report_doc.html").render(heading=heading, reports=reports,
                                                            max_rows=HTML_MAX_ROWS).encode()


def render_csv(report: Report) -> bytes:
    """One row per event with a header row; the last two columns state the log check on every row."""
    stated = basis(report.check)
    verdict = "yes" if report.check.verified else f"NO: {report.check.problem}"
    checkpoint = stated["checkpoint"]
    where = f"{checkpoint['size']}:{checkpoint['root']}" if checkpoint else "none"
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow([*report.events.columns, "log_verified", "checkpoint"])
    for row in report.events.rows:
        writer.writerow(["" if value is None else value for value in row] + [verdict, where])
    return out.getvalue().encode()


def render_json(report: Report) -> bytes:
    document = {
        "report": report.kind, "title": report.title, "scope": report.scope,
        "since": report.since or None, "until": report.until or None, "basis": basis(report.check),
        "summary": [{"title": t.title, "columns": t.columns, "rows": t.as_dicts()} for t in report.summary],
        "events": {"title": report.events.title, "columns": report.events.columns, "rows": report.events.as_dicts()},
    }
    return json.dumps(document, indent=1).encode() + b"\n"

"""What a report is: summary tables, one row per event, charts, and the log check it rests on."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from audit.log_check import LogCheck


@dataclass
class Table:
    title: str
    columns: list[str]
    rows: list[list[Any]]

    def as_dicts(self) -> list[dict[str, Any]]:
        return [dict(zip(self.columns, row)) for row in self.rows]


@dataclass
class Report:
    kind: str
    title: str
    scope: str  # what the report answers, with its legal basis
    since: str
    until: str
    check: LogCheck
    summary: list[Table] = field(default_factory=list)
    events: Table = field(default_factory=lambda: Table("Events", [], []))
    charts: list[tuple[str, list[tuple[str, float]]]] = field(default_factory=list)

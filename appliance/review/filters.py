"""Record filters shared by the console's timeline and the reports: parsing and the SQL they become."""
from __future__ import annotations

from dataclasses import dataclass, fields
from datetime import datetime, timezone
from typing import Any, Mapping

from audit.format import format_timestamp

EQUALITY = ("kind", "actor", "role", "purpose", "model", "backend", "zone", "decision")


class FilterError(ValueError):
    """A filter value cannot be used; the message names the field."""


@dataclass(frozen=True)
class Filters:
    """What the reviewer narrowed the log to; empty fields do not filter."""

    since: str = ""
    until: str = ""
    kind: str = ""
    actor: str = ""
    role: str = ""
    purpose: str = ""
    model: str = ""
    backend: str = ""
    zone: str = ""
    decision: str = ""
    rule: str = ""
    finding: str = ""
    status: str = ""

    @classmethod
    def parse(cls, values: Mapping[str, Any]) -> Filters:
        """Filters from query or form fields; FilterError for a bad time or status."""
        chosen = {f.name: str(values.get(f.name) or "").strip() for f in fields(cls)}
        filters = cls(**chosen)
        filters.bounds()
        if filters.status and not filters.status.isdigit():
            raise FilterError(f"status: {filters.status!r} is not an HTTP status number")
        return filters

    def active(self) -> dict[str, str]:
        return {name: value for name, value in vars(self).items() if value}

    def bounds(self) -> tuple[str | None, str | None]:
        """since/until in the stored timestamp format (UTC), or None."""
        return _stored_ts(self.since, "since"), _stored_ts(self.until, "until")

    def where(self, alias: str = "e", ts_index: bool = True) -> tuple[str, list[Any]]:
        """A SQL condition on the index's events table (aliased `alias`) and its parameters. With
        ts_index=False the time bounds are checked on the rows (`+ts`) rather than looked up in the ts
        index: paging newest-first then walks the seq order and stops after one page."""
        clauses, params = ["1 = 1"], []
        for name in EQUALITY:
            value = getattr(self, name)
            if value:
                clauses.append(f"{alias}.{name} = ?")
                params.append(value)
        since, until = self.bounds()
        ts = f"{alias}.ts" if ts_index else f"+{alias}.ts"
        if since:
            clauses.append(f"{ts} >= ?")
            params.append(since)
        if until:
            clauses.append(f"{ts} < ?")
            params.append(until)
        if self.status:
            clauses.append(f"{alias}.status = ?")
            params.append(int(self.status))
        if self.rule:
            clauses.append(f"{alias}.seq IN (SELECT seq FROM rules WHERE rule = ?)")
            params.append(self.rule)
        if self.finding:
            clauses.append(f"{alias}.seq IN (SELECT seq FROM findings WHERE type = ?)")
            params.append(self.finding)
        return " AND ".join(clauses), params


def parse_moment(value: str, name: str) -> datetime | None:
    """An ISO 8601 date or time (naive = UTC) as an aware datetime; None for an empty value."""
    if not value:
        return None
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        raise FilterError(f"{name}: {value!r} is not an ISO 8601 date or time (e.g. 2026-11-25 or 2026-11-25T08:00)") from None
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=timezone.utc)


def _stored_ts(value: str, name: str) -> str | None:
    """A bound in the stored timestamp format, so string order is time order."""
    moment = parse_moment(value, name)
    return None if moment is None else format_timestamp(moment)

"""The review reports, built from the review index for a time range and stated against a log check.

One function per report kind turns the index into a `Report`: summary tables and one row per event
(the CSV). `build_report` is the one entry point used by the console, `appliance report` and the
assessor pack in exports; `appliance.review.render` writes a Report as HTML, CSV or JSON.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable

from appliance.review.cost import CostInputs, cost_tables
from appliance.review.filters import Filters
from appliance.review.index import ReviewIndex
from appliance.review.report_model import Report, Table
from audit.log_check import LogCheck

CALL_KINDS = ("request", "policy_block")
FAILURE_KINDS = ("auth_failure", "policy_block", "route_refused", "egress_block")


class ReportError(ValueError):
    """The report cannot be built as asked; the message says why."""


@dataclass(frozen=True)
class ReportRequest:
    kind: str
    since: str = ""
    until: str = ""
    subject_digest: str = ""  # the keyed digest of the identifier the officer typed (subject report)
    cost: CostInputs = field(default_factory=CostInputs)


def build_report(index: ReviewIndex, check: LogCheck, request: ReportRequest) -> Report:
    """The report of `request.kind` over [since, until), stated against `check`."""
    builder = BUILDERS.get(request.kind)
    if builder is None:
        raise ReportError(f"unknown report {request.kind!r}; choose one of {', '.join(BUILDERS)}")
    period = Filters.parse({"since": request.since, "until": request.until})
    title, scope = TITLES[request.kind]
    report = Report(request.kind, title, scope, request.since, request.until, check)
    index.sync()
    builder(_Reader(index, period), request, report)
    return report


class _Reader:
    """Index queries limited to the report's period."""

    def __init__(self, index: ReviewIndex, period: Filters) -> None:
        self.index = index
        self.where, self.params = period.where()

    def rows(self, select: str, condition: str = "1 = 1", params: tuple[Any, ...] = (), tail: str = "") -> list[list[Any]]:
        sql = f"SELECT {select} FROM events e WHERE {self.where} AND {condition} {tail}"
        return [list(row) for row in self.index.query(sql, [*self.params, *params])]


def _in(kinds: tuple[str, ...]) -> str:
    return "e.kind IN (" + ", ".join(f"'{kind}'" for kind in kinds) + ")"


_CATEGORIES = ("(SELECT group_concat(f.type || ':' || f.count, '; ') FROM findings f WHERE f.seq = e.seq "
               "AND f.direction = 'prompt')")
_RULES = "(SELECT group_concat(r.rule, '; ') FROM rules r WHERE r.seq = e.seq)"


def _hipaa_access(reader: _Reader, _: ReportRequest, report: Report) -> None:
    phi = f"{_in(CALL_KINDS)} AND e.phi = 1"
    report.events = Table("PHI-bearing calls", ["seq", "time", "actor", "actor_name", "role", "purpose", "model",
                                               "backend", "zone", "decision", "phi_categories"],
                          reader.rows(f"e.seq, e.ts, e.actor, e.actor_name, e.role, e.purpose, e.model, e.backend, "
                                      f"e.zone, e.decision, {_CATEGORIES}", phi, tail="ORDER BY e.seq"))
    report.summary = [
        Table("PHI-bearing calls per actor", ["actor", "actor_name", "role", "calls"],
              reader.rows("e.actor, e.actor_name, e.role, COUNT(*)", phi, tail="GROUP BY e.actor ORDER BY e.actor")),
        Table("PHI categories sent (prompt findings)", ["category", "findings", "calls"], _findings_rows(reader, phi)),
        Table("PHI-bearing calls per model and zone", ["model", "zone", "decision", "calls"],
              reader.rows("e.model, e.zone, e.decision, COUNT(*)", phi,
                          tail="GROUP BY e.model, e.zone, e.decision ORDER BY e.model, e.zone, e.decision")),
    ]


def _findings_rows(reader: _Reader, condition: str) -> list[list[Any]]:
    sql = (f"SELECT f.type, SUM(f.count), COUNT(DISTINCT e.seq) FROM findings f JOIN events e ON e.seq = f.seq "
           f"WHERE {reader.where} AND {condition} AND f.direction = 'prompt' GROUP BY f.type ORDER BY f.type")
    return [list(row) for row in reader.index.query(sql, reader.params)]


_OUTCOME = (f"CASE WHEN {_in(FAILURE_KINDS)} OR e.status >= 400 OR e.decision = 'block' THEN 'failure' "
            "ELSE 'success' END")


def _pci_events(reader: _Reader, _: ReportRequest, report: Report) -> None:
    report.events = Table("Events (PCI DSS 10.2.2)", ["seq", "time", "user", "role", "event_type", "outcome",
                                                      "origin", "resource", "detail"],
                          reader.rows(f"e.seq, e.ts, COALESCE(e.actor, 'system'), e.role, e.kind, {_OUTCOME}, "
                                      "e.client, e.resource, e.detail", tail="ORDER BY e.seq"))
    report.summary = [
        Table("Events per type and outcome", ["event_type", "outcome", "events"],
              reader.rows(f"e.kind, {_OUTCOME} AS outcome, COUNT(*)", tail="GROUP BY e.kind, outcome ORDER BY e.kind, outcome")),
        Table("Access to the audit log (10.2.1.3)", ["user", "events"],
              reader.rows("e.actor, COUNT(*)", "e.kind IN ('audit_access', 'export')", tail="GROUP BY e.actor ORDER BY e.actor")),
        Table("Authentication failures (10.2.1.4)", ["reason", "events"],
              reader.rows("e.detail, COUNT(*)", "e.kind = 'auth_failure'", tail="GROUP BY e.detail ORDER BY e.detail")),
    ]


def _gdpr_art30(reader: _Reader, _: ReportRequest, report: Report) -> None:
    calls = _in(CALL_KINDS)
    report.events = Table("Processing operations", ["seq", "time", "purpose", "data_categories", "recipient_zone",
                                                    "recipient_backend", "decision"],
                          reader.rows(f"e.seq, e.ts, e.purpose, {_CATEGORIES}, e.zone, e.backend, e.decision", calls,
                                      tail="ORDER BY e.seq"))
    span = reader.rows("MIN(e.ts), MAX(e.ts), COUNT(*)")
    report.summary = [
        Table("Purposes of processing (Art. 30(1)(b))", ["purpose", "calls"],
              reader.rows("e.purpose, COUNT(*)", calls, tail="GROUP BY e.purpose ORDER BY e.purpose")),
        Table("Categories of personal data (Art. 30(1)(c))", ["category", "findings", "calls"], _findings_rows(reader, calls)),
        Table("Recipients by zone (Art. 30(1)(d))", ["zone", "backend", "calls"],
              reader.rows("e.zone, e.backend, COUNT(*)", calls, tail="GROUP BY e.zone, e.backend ORDER BY e.zone, e.backend")),
        Table("Transfers outside the facility (Art. 30(1)(e))", ["backend", "decision", "calls"],
              reader.rows("e.backend, e.decision, COUNT(*)", calls + " AND e.zone = 'external'",
                          tail="GROUP BY e.backend, e.decision ORDER BY e.backend")),
        Table("Retention (Art. 30(1)(f)): the audit log keeps every record; no text unless capture is on",
              ["first_record", "last_record", "records"], span),
        Table("Erasures performed (Art. 17)", ["seq", "time", "subject_digest", "captures_destroyed"],
              reader.rows("e.seq, e.ts, e.subject, e.detail", "e.kind = 'erasure'", tail="ORDER BY e.seq")),
    ]


def _egress(reader: _Reader, _: ReportRequest, report: Report) -> None:
    refused = _in(("route_refused", "egress_block", "policy_block"))
    report.events = Table("Refused egress and blocked calls", ["seq", "time", "event_type", "actor", "zone",
                                                                "backend", "rules", "detail"],
                          reader.rows(f"e.seq, e.ts, e.kind, e.actor, e.zone, e.backend, {_RULES}, e.detail", refused,
                                      tail="ORDER BY e.seq"))
    blocks = ("SELECT r.rule, COUNT(DISTINCT e.seq) FROM rules r JOIN events e ON e.seq = r.seq WHERE "
              f"{reader.where} AND (e.kind = 'policy_block' OR e.decision = 'block') GROUP BY r.rule ORDER BY r.rule")
    report.summary = [
        Table("Refusals per type", ["event_type", "events"],
              reader.rows("e.kind, COUNT(*)", refused, tail="GROUP BY e.kind ORDER BY e.kind")),
        Table("Blocks per rule (rules that fired on blocked calls)", ["rule", "blocks"],
              [list(row) for row in reader.index.query(blocks, reader.params)]),
        Table("Egress attempts refused by the guard", ["target", "events"],
              reader.rows("e.detail, COUNT(*)", "e.kind = 'egress_block'", tail="GROUP BY e.detail ORDER BY e.detail")),
    ]
    report.charts = [("Blocks per rule", [(row[0], row[1]) for row in report.summary[1].rows])]


def _subject(reader: _Reader, request: ReportRequest, report: Report) -> None:
    if not request.subject_digest:
        raise ReportError("the subject report needs the data subject's identifier")
    digest = (request.subject_digest,)
    report.events = Table("The data subject's calls", ["seq", "time", "actor", "purpose", "model", "zone", "decision",
                                                       "data_categories"],
                          reader.rows(f"e.seq, e.ts, e.actor, e.purpose, e.model, e.zone, e.decision, {_CATEGORIES}",
                                      f"{_in(CALL_KINDS)} AND e.subject = ?", digest, tail="ORDER BY e.seq"))
    erasures = reader.index.query("SELECT seq, ts, detail FROM events WHERE kind = 'erasure' AND subject = ? ORDER BY seq", digest)
    status = [[row[0], row[1], row[2]] for row in erasures] or [["", "", "not erased"]]
    report.summary = [Table("Erasure status (captured text)", ["seq", "time", "status"], status)]


def _cost(reader: _Reader, request: ReportRequest, report: Report) -> None:
    usage = reader.rows("substr(e.ts, 1, 7) AS month, e.model, SUM(e.prompt_tokens), SUM(e.completion_tokens)",
                        "e.kind = 'outcome'", tail="GROUP BY month, e.model ORDER BY month, e.model")
    report.events = Table("Tokens per month and model", ["month", "model", "prompt_tokens", "completion_tokens"], usage)
    report.summary, chart = cost_tables(usage, request.cost)
    report.charts = [("Monthly cost at the observed volume (USD)", chart)]


BUILDERS: dict[str, Callable[[_Reader, ReportRequest, Report], None]] = {
    "hipaa-access": _hipaa_access,
    "pci-events": _pci_events,
    "gdpr-art30": _gdpr_art30,
    "egress": _egress,
    "subject": _subject,
    "cost": _cost,
}
TITLES = {
    "hipaa-access": ("HIPAA access report", "Who sent which PHI categories to which model and zone, for which purpose, "
                     "when: 45 CFR 164.312(b) audit controls, 164.308(a)(1)(ii)(D) information system activity review."),
    "pci-events": ("PCI DSS event report", "PCI DSS 10.2.2: user, event type, time, outcome, origin and affected "
                   "resource of every logged event, access to the audit log and authentication failures included."),
    "gdpr-art30": ("GDPR Article 30 record of processing", "Purposes, categories of data, recipients by zone, "
                   "transfers, retention and erasures (GDPR Art. 30(1), Art. 17)."),
    "egress": ("Egress and blocks report", "Routes refused, blocks per policy rule and egress attempts the guard refused."),
    "subject": ("Data subject report", "The calls of one data subject, found by the keyed digest of an identifier, "
                "with erasure status (GDPR Art. 15, Art. 17)."),
    "cost": ("Cost and break-even view", "Monthly token volume per model against API prices and the local hardware's "
             "monthly cost; break-even volume."),
}

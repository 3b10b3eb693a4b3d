"""`appliance report KIND`: a review report from the audit log, as HTML, CSV or JSON."""
from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated, Optional

import typer

from appliance.cli.common import DataDirOption, fail, one_line_errors
from appliance.review.cost import DEFAULT_PRICES, CostInputs

KINDS = "hipaa-access, pci-events, gdpr-art30, egress, subject, cost"


def parse_prices(values: list[str]) -> dict[str, tuple[float, float]]:
    """`NAME=INPUT:OUTPUT` ($ per million tokens) options; none given: the default table."""
    prices = {}
    for value in values:
        name, _, pair = value.rpartition("=")
        price_in, _, price_out = pair.partition(":")
        try:
            prices[name.strip()] = (float(price_in), float(price_out))
        except ValueError:
            fail(f"--price: {value!r} is not NAME=INPUT:OUTPUT (dollars per million tokens, e.g. 'Claude=3:15')")
        if not name.strip():
            fail(f"--price: {value!r} names no API")
    return prices or dict(DEFAULT_PRICES)


def report_command(
    kind: Annotated[str, typer.Argument(help=f"One of: {KINDS}.")],
    out: Annotated[Path, typer.Option("--out", help="File to write.")],
    data_dir: DataDirOption = Path("data"),
    fmt: Annotated[str, typer.Option("--format", help="html, csv or json.")] = "html",
    since: Annotated[str, typer.Option(help="Records at or after this time (ISO 8601, UTC if no zone).")] = "",
    until: Annotated[str, typer.Option(help="Records before this time (ISO 8601).")] = "",
    subject: Annotated[Optional[str], typer.Option(
        help="subject report: the data subject's identifier, or '-' to read it from standard input.")] = None,
    price: Annotated[list[str], typer.Option(help="cost report: NAME=INPUT:OUTPUT in $ per million tokens (repeat).")] = [],
    purchase: Annotated[float, typer.Option(help="cost report: hardware purchase price, $.")] = 80_000.0,
    amortise_months: Annotated[int, typer.Option(help="cost report: months to amortise the hardware over.")] = 36,
    power_watts: Annotated[float, typer.Option(help="cost report: continuous power draw, W.")] = 1_600.0,
    kwh_price: Annotated[float, typer.Option(help="cost report: electricity, $ per kWh.")] = 0.10,
    maintenance: Annotated[float, typer.Option(help="cost report: engineering maintenance, $ per month.")] = 3_000.0,
) -> None:
    """Write a review report (stating the signed checkpoint it rests on and whether the log verified)."""
    from appliance.auditing import LOCAL_CLI_ACTOR, open_audit
    from appliance.config import load_settings
    from appliance.review.render import FORMATS, render
    from appliance.review.reports import BUILDERS, ReportRequest
    from appliance.review.service import Review

    if kind not in BUILDERS:
        fail(f"unknown report {kind!r}; choose one of {KINDS}")
    if fmt not in FORMATS:
        fail(f"--format: {fmt!r} is not one of html, csv, json")
    if kind == "subject" and not subject:
        fail("the subject report needs --subject IDENTIFIER (or --subject - to read it from standard input)")
    identifier = sys.stdin.readline().strip() if subject == "-" else (subject or "")
    with one_line_errors():
        cost = CostInputs(parse_prices(price), purchase, amortise_months, power_watts, kwh_price, maintenance)
        settings = load_settings(data_dir=data_dir)
        store = open_audit(settings)
        review = Review(store, settings.data_dir)
        try:
            store.append("audit_access", {**LOCAL_CLI_ACTOR, "access": f"report:{kind}"})
            digest = review.subject_digest(identifier) if identifier else ""
            report = review.report(ReportRequest(kind, since, until, digest, cost))
            out.write_bytes(render([report], fmt))
        finally:
            review.close()
            store.close()
    typer.echo(f"wrote the {kind} report ({len(report.events.rows)} events) to {out}")
    if not report.check.verified:
        typer.echo(f"WARNING: the audit log FAILED verification: {report.check.problem}", err=True)

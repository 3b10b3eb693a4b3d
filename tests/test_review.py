"""The compliance officers' review: reports from `appliance report` and the console, driven in a real
headless chromium, against records this module creates on a real appliance (model, detector, SQLite log).

The tamper test runs last: it edits a stored record, checks every report and console page says so, and
puts the record back.
"""
from __future__ import annotations

import csv
import io
import json
import sqlite3
import time
from collections import Counter
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Iterator

import httpx
import pytest

from tests.appliance_server import ApplianceServer, init_data_dir, routed_config, run_cli

pytestmark = pytest.mark.slow

SESSION_SECONDS = 60
ARTIFACTS = Path(__file__).parent / "artifacts" / "console"
SUBJECT = "patient-4711"
PAN = "4111 1111 1111 1111"
CALLS = [  # (key name, data subject (capture is on: every call names one), model, prompt)
    ("dr-a", SUBJECT, "smollm2-135m-instruct", "Patient John Smith, MRN 48213377, seen 2026-03-02; summarise."),
    ("dr-b", "patient-0815", "smollm2-135m-instruct", "Patient Mary Jones (SSN 219-09-9999) asks about her refill."),
    ("dr-a", "patient-0816", "smollm2-135m-instruct", "Summarise: stable, discharged home."),
    ("dr-b", "patient-0817", "smollm2-135m-instruct", f"Charge card {PAN} with CVV 737 for the co-pay."),
    ("dr-a", "patient-0818", "cloud-model", "Explain the benefits of hand washing."),
]
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run"]


def _now() -> str:
    return datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%f+00:00")


def _key(data_dir: Path, name: str, purpose: str) -> str:
    out = run_cli("keys", "create", "--role", "clinical", "--name", name, "--purpose", purpose, data_dir=data_dir)
    return out.stdout.strip().splitlines()[-1].split()[-1]


@pytest.fixture(scope="module")
def review(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    """A served appliance with a known set of calls, refusals and an erasure in [since, until)."""
    data_dir = tmp_path_factory.mktemp("review") / "data"
    config = routed_config("air-gapped", {"cloud": ("external", "http://127.0.0.2:9", "big")})
    tokens = init_data_dir(data_dir, config + f"[audit]\ncapture = true\n[console]\nsession_seconds = {SESSION_SECONDS}\n")
    keys = {"dr-a": _key(data_dir, "dr-a", "treatment"), "dr-b": _key(data_dir, "dr-b", "billing")}
    with ApplianceServer(data_dir, tokens) as server:
        since = _now()
        statuses = []
        for name, subject, model, prompt in CALLS:
            headers = {"Authorization": f"Bearer {keys[name]}", "X-Data-Subject": subject}
            reply = httpx.post(server.base_url + "/chat/completions", headers=headers, timeout=120, json={
                "model": model, "max_tokens": 8, "messages": [{"role": "user", "content": prompt}]})
            statuses.append((reply.status_code, reply.text[:300]))
        assert httpx.get(server.base_url + "/models", headers={"Authorization": "Bearer apl_nope_nope"}).status_code == 401
        assert httpx.get(server.base_url + "/audit/records", headers={"Authorization": f"Bearer {keys['dr-a']}"}).status_code == 403
        assert httpx.get(server.base_url + "/audit/checkpoint", headers=server.headers("auditor")).status_code == 200
        run_cli("audit", "erase", "--subject", SUBJECT, data_dir=data_dir)
        time.sleep(0.01)
        until = _now()
        records = _records(server, since, until)
        yield {"server": server, "data_dir": data_dir, "since": since, "until": until, "records": records,
               "statuses": statuses, "keys": keys}


def _records(server: ApplianceServer, since: str, until: str) -> list[dict[str, Any]]:
    reply = httpx.get(server.base_url + "/audit/records", headers=server.headers("auditor"),
                      params={"since": since, "until": until, "limit": 1000})
    assert reply.status_code == 200, reply.text
    return reply.json()["data"]


def _report(review: dict[str, Any], kind: str, fmt: str, *extra: str, stdin: str | None = None) -> bytes:
    out = review["data_dir"].parent / f"{kind}-{len(extra)}.{fmt}"
    run_cli("report", kind, "--format", fmt, "--out", str(out), "--since", review["since"], "--until", review["until"],
            *extra, data_dir=review["data_dir"], stdin=stdin)
    return out.read_bytes()


def _summary(document: dict[str, Any], title_start: str) -> list[dict[str, Any]]:
    [table] = [t for t in document["summary"] if t["title"].startswith(title_start)]
    return table["rows"]


# ---- the data the reports must reproduce --------------------------------------------------------------

def test_the_calls_left_the_expected_records(review: dict[str, Any]) -> None:
    assert [status for status, _ in review["statuses"]] == [200, 200, 200, 400, 403], review["statuses"]
    kinds = Counter(r["kind"] for r in review["records"])
    assert kinds["request"] == 3 and kinds["outcome"] == 3 and kinds["policy_block"] == 1
    assert kinds["route_refused"] == 1 and kinds["auth_failure"] == 2 and kinds["erasure"] == 1


def test_hipaa_access_report_counts_match_the_records(review: dict[str, Any]) -> None:
    calls = [r for r in review["records"] if r["kind"] in ("request", "policy_block") and any(r["findings"].values())]
    assert len(calls) >= 2  # the MRN, SSN and card calls carry identifiers
    document = json.loads(_report(review, "hipaa-access", "json"))
    assert document["basis"]["log_verified"] is True and document["basis"]["checkpoint"]["size"] > 0
    assert [row["seq"] for row in document["events"]["rows"]] == [r["seq"] for r in calls]
    per_actor = Counter(r["actor"] for r in calls)
    assert {row["actor"]: row["calls"] for row in _summary(document, "PHI-bearing calls per actor")} == per_actor
    findings: Counter[str] = Counter()
    for r in calls:
        findings.update(r["findings"])
    assert {row["category"]: row["findings"] for row in _summary(document, "PHI categories")} == +findings
    first = document["events"]["rows"][0]
    assert (first["purpose"], first["model"], first["zone"]) == ("treatment", "smollm2-135m-instruct", "local")

    rows = list(csv.DictReader(io.StringIO(_report(review, "hipaa-access", "csv").decode())))
    assert [int(row["seq"]) for row in rows] == [r["seq"] for r in calls]
    assert {row["log_verified"] for row in rows} == {"yes"}


def test_pci_events_report_lists_every_event_with_its_outcome(review: dict[str, Any]) -> None:
    rows = list(csv.DictReader(io.StringIO(_report(review, "pci-events", "csv").decode())))
    assert [int(row["seq"]) for row in rows] == [r["seq"] for r in review["records"]]
    assert Counter(row["event_type"] for row in rows) == Counter(r["kind"] for r in review["records"])
    failures = Counter(row["event_type"] for row in rows if row["outcome"] == "failure")
    assert failures["auth_failure"] == 2 and failures["policy_block"] == 1 and failures["route_refused"] == 1
    assert {row["detail"] for row in rows if row["event_type"] == "auth_failure"} == {
        "reason: invalid_key", "reason: role_lacks_audit"}
    document = json.loads(_report(review, "pci-events", "json"))
    access = {row["user"]: row["events"] for row in _summary(document, "Access to the audit log")}
    assert access == {review["server"].tokens["auditor"].split("_")[1]: 1}


def test_gdpr_egress_and_subject_reports(review: dict[str, Any]) -> None:
    records = review["records"]
    calls = [r for r in records if r["kind"] in ("request", "policy_block")]
    gdpr = json.loads(_report(review, "gdpr-art30", "json"))
    assert {row["purpose"]: row["calls"] for row in _summary(gdpr, "Purposes")} == Counter(r["purpose"] for r in calls)
    [erasure] = _summary(gdpr, "Erasures")
    assert erasure["subject_digest"] == next(r["subject_digest"] for r in records if r["kind"] == "erasure")

    egress = json.loads(_report(review, "egress", "json"))
    blocked = [r for r in records if r["kind"] == "policy_block"]
    expected = Counter(rule for r in blocked for rule in r["rules"])
    assert {row["rule"]: row["blocks"] for row in _summary(egress, "Blocks per rule")} == expected
    assert {row["event_type"]: row["events"] for row in _summary(egress, "Refusals per type")} == {
        "policy_block": 1, "route_refused": 1}

    subject = json.loads(_report(review, "subject", "json", "--subject", "-", stdin=SUBJECT + "\n"))
    [erased] = [r for r in records if r["kind"] == "erasure"]
    [call] = subject["events"]["rows"]
    assert [call["seq"]] == [r["seq"] for r in calls if r.get("subject_digest") == erased["subject_digest"]]
    assert erased["captures"] == 2  # the prompt and the answer
    assert _summary(subject, "Erasure status")[0]["status"] == "captures: 2"
    other = json.loads(_report(review, "subject", "json", "--subject", "-", stdin="someone-else\n"))
    assert other["events"]["rows"] == [] and _summary(other, "Erasure status")[0]["status"] == "not erased"
    assert SUBJECT not in json.dumps(subject)


def test_cost_report_sums_tokens_and_does_the_arithmetic(review: dict[str, Any]) -> None:
    by_seq = {r["seq"]: r for r in review["records"]}
    outcomes = [r for r in review["records"] if r["kind"] == "outcome"]
    prompt = sum(r["prompt_tokens"] for r in outcomes)
    completion = sum(r["completion_tokens"] for r in outcomes)
    assert prompt > 0 and completion > 0
    months = len({r["ts"][:7] for r in outcomes})
    document = json.loads(_report(review, "cost", "json", "--price", "Test API=2:10", "--purchase", "36000",
                                  "--amortise-months", "12", "--power-watts", "500", "--kwh-price", "0.2",
                                  "--maintenance", "100"))
    usage = document["events"]["rows"]
    assert {(row["model"]) for row in usage} == {by_seq[r["request_seq"]]["model"] for r in outcomes}
    assert sum(row["prompt_tokens"] for row in usage) == prompt
    assert sum(row["completion_tokens"] for row in usage) == completion
    local = 36000 / 12 + 500 / 1000 * 720 * 0.2 + 100  # 3000 + 72 + 100
    [comparison] = _summary(document, "API cost at the observed volume")
    assert local == 3172 and comparison["local_usd_per_month"] == pytest.approx(local)
    assert comparison["api_usd_per_month"] == pytest.approx(round((prompt * 2 + completion * 10) / months / 1e6, 4))
    blended = (prompt * 2 + completion * 10) / (prompt + completion)
    assert comparison["break_even_m_tokens_per_month"] == pytest.approx(round(local / blended, 3))
    assert comparison["cheaper"] == "API"  # a few hundred tokens cost far less than the hardware
    html = _report(review, "cost", "html").decode()
    assert "<svg" in html and "Claude Sonnet 4.6" in html and "Log verified: <strong>yes" in html


def test_report_cli_refuses_bad_input(review: dict[str, Any]) -> None:
    out = str(review["data_dir"].parent / "x")
    for args, message in [(("nonsense",), "unknown report 'nonsense'"), (("pci-events", "--format", "pdf"), "--format"),
                          (("subject",), "needs --subject"), (("cost", "--price", "bad"), "--price"),
                          (("pci-events", "--since", "yesterday"), "since: 'yesterday'")]:
        result = run_cli("report", *args, "--out", out, data_dir=review["data_dir"], check=False)
        assert result.returncode == 1 and message in result.stderr, result.stderr
        assert len(result.stderr.strip().splitlines()) == 1


def test_export_carries_the_assessor_pack_and_verify_prints_a_summary(review: dict[str, Any]) -> None:
    out = review["data_dir"].parent / "export"
    run_cli("audit", "export", "--out", str(out), data_dir=review["data_dir"])
    pack = (out / "report.html").read_text()
    for title in ("HIPAA access report", "PCI DSS event report", "GDPR Article 30", "Egress and blocks", "Cost and break-even"):
        assert title in pack
    assert "python -m audit.verify " + str(out) in (out / "VERIFY.txt").read_text()
    verified = run_cli("audit", "verify", str(out)).stdout
    assert "OK:" in verified and "record kinds:" in verified and "policy_block 1" in verified
    assert "verdict:         the export verifies" in verified
    (out / "report.html").write_text(pack.replace("HIPAA", "HIPPA"))
    failed = run_cli("audit", "verify", str(out), check=False)
    assert failed.returncode == 1 and "report.html does not match" in failed.stderr


# ---- the console, in a real browser ----------------------------------------------------------------------

@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    from playwright.sync_api import sync_playwright  # installed by the dev extras; the browser is Debian's chromium

    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path="/usr/bin/chromium", args=CHROMIUM_ARGS)
        yield launched
        launched.close()


@pytest.fixture
def page(browser: Any, review: dict[str, Any]) -> Iterator[Any]:
    context = browser.new_context(base_url=review["server"].url, accept_downloads=True)
    yield context.new_page()
    context.close()


def _sign_in(page: Any, key: str) -> Any:
    page.goto("/console/login")
    page.fill("input[name=key]", key)
    with page.expect_navigation():
        page.click("button[type=submit]")
    return page


def _shot(page: Any, name: str) -> None:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / f"{name}.png"), full_page=True)


def _auth_failures(review: dict[str, Any]) -> list[str]:
    reply = httpx.get(review["server"].base_url + "/audit/records", headers=review["server"].headers("auditor"),
                      params={"kind": "auth_failure", "limit": 1000})
    return [r["reason"] for r in reply.json()["data"]]


def test_console_refuses_no_key_and_clinical_keys_and_audits_it(page: Any, review: dict[str, Any]) -> None:
    page.goto("/console/")
    assert page.url.endswith("/console/login")
    _shot(page, "login")
    before = Counter(_auth_failures(review))
    _sign_in(page, "")
    assert page.url.endswith("/console/login") and "Enter your auditor key" in page.content()
    _sign_in(page, review["keys"]["dr-a"])
    assert page.url.endswith("/console/login") and "Only auditor keys may sign in" in page.content()
    _sign_in(page, "apl_0000_forged")
    assert "Enter a valid auditor key" in page.content()
    after = Counter(_auth_failures(review)) - before
    assert after == Counter({"console_missing_key": 1, "console_role_lacks_audit": 1, "console_invalid_key": 1})
    page.goto("/console/")
    assert page.url.endswith("/console/login")


def test_auditor_filters_the_timeline_and_opens_a_record_with_a_verified_proof(page: Any, review: dict[str, Any]) -> None:
    _sign_in(page, review["server"].tokens["auditor"])
    assert page.url.endswith("/console/")
    [cookie] = [c for c in page.context.cookies() if c["name"] == "apl_console"]
    assert cookie["httpOnly"] and cookie["sameSite"] == "Strict" and cookie["expires"] > time.time()
    assert page.locator("#verified-banner").is_visible()
    _shot(page, "timeline")
    requests = [r for r in review["records"] if r["kind"] == "request"]
    page.fill("input[name=kind]", "request")
    page.fill("input[name=since]", review["since"][:26])
    page.fill("input[name=until]", review["until"][:26])
    with page.expect_navigation():
        page.click("#filters button[type=submit]")
    assert page.locator("#total").inner_text() == str(len(requests))
    page.fill("input[name=actor]", review["keys"]["dr-b"].split("_")[1])
    with page.expect_navigation():
        page.click("#filters button[type=submit]")
    assert page.locator("#total").inner_text() == str(sum(r["actor"] == review["keys"]["dr-b"].split("_")[1] for r in requests))
    _shot(page, "timeline-filtered")
    page.goto(f"/console/?kind=policy_block&rule=pci:sad-never&since={review['since'][:26]}")
    assert page.locator("#total").inner_text() == "1"

    request = requests[0]
    page.goto(f"/console/records/{request['seq']}")
    assert "Proof verified" in page.locator("#proof-status").inner_text()
    assert request["request_id"] in page.locator("#fields").inner_text()
    with page.expect_navigation():
        page.click("#linked a")
    assert "(outcome)" in page.locator("h1").inner_text()
    _shot(page, "record")


def test_overview_verification_and_reports_pages(page: Any, review: dict[str, Any]) -> None:
    _sign_in(page, review["server"].tokens["auditor"])
    page.goto("/console/overview")
    assert page.locator("svg.chart").count() >= 4
    assert "Calls and PHI-bearing calls per day" in page.content()
    _shot(page, "overview")
    page.goto("/console/verify")
    assert page.locator("#verdict").inner_text() == "verified"
    assert page.locator("#keys td code").count() == 1
    _shot(page, "verify")
    with page.expect_navigation():
        page.click("#export")
    assert "report.html and VERIFY.txt" in page.locator("#export-done").inner_text()
    page.goto("/console/reports")
    _shot(page, "reports")
    for kind in ("hipaa-access", "pci-events", "gdpr-art30", "egress", "subject", "cost"):
        for fmt in ("html", "csv", "json"):
            form = page.locator(f"#report-{kind} form")
            form.locator("input[name=since]").fill(review["since"][:26])
            form.locator("input[name=until]").fill(review["until"][:26])
            form.locator("select[name=format]").select_option(fmt)
            if kind == "subject":
                form.locator("input[name=identifier]").fill(SUBJECT)
            with page.expect_download() as download:
                form.locator("button[type=submit]").click()
            body = Path(download.value.path()).read_bytes()
            if fmt == "json":
                document = json.loads(body)
                assert document["report"] == kind and document["basis"]["log_verified"] is True
                if kind == "subject":
                    assert len(document["events"]["rows"]) == 1
            elif fmt == "csv":
                rows = list(csv.reader(io.StringIO(body.decode())))
                assert rows[0][-2:] == ["log_verified", "checkpoint"] and all(row[-2] == "yes" for row in rows[1:])
            else:
                assert b"Log verified: <strong>yes" in body


def test_forged_expired_and_tokenless_requests_are_refused(browser: Any, page: Any, review: dict[str, Any]) -> None:
    server = review["server"]
    page.context.add_cookies([{"name": "apl_console", "value": "forged-session", "url": server.url + "/console/"}])
    page.goto("/console/overview")
    assert page.url.endswith("/console/login")
    assert "console_session_unknown" in _auth_failures(review)
    page.context.clear_cookies()

    _sign_in(page, server.tokens["auditor"])
    refused = page.request.post(server.url + "/console/reports/pci-events", form={"format": "csv"})
    assert refused.status == 403 and "security token" in refused.text()
    logout = page.request.post(server.url + "/console/logout", form={"csrf": "wrong"})
    assert logout.status == 403
    no_csrf_login = page.request.post(server.url + "/console/login", form={"key": server.tokens["auditor"]})
    assert no_csrf_login.status == 403
    assert "console_csrf_mismatch" in _auth_failures(review)

    [cookie] = [c for c in page.context.cookies() if c["name"] == "apl_console"]
    time.sleep(max(0.0, cookie["expires"] - time.time()) + 1)
    other = browser.new_context(base_url=server.url)  # the browser would drop it: replay it as a stolen cookie would be
    other.add_cookies([{"name": "apl_console", "value": cookie["value"], "url": server.url + "/console/"}])
    stale = other.new_page()
    stale.goto("/console/")
    assert stale.url.endswith("/console/login")
    other.close()
    assert "console_session_expired" in _auth_failures(review)


def test_sign_out_ends_the_session(page: Any, review: dict[str, Any]) -> None:
    _sign_in(page, review["server"].tokens["auditor"])
    [cookie] = [c for c in page.context.cookies() if c["name"] == "apl_console"]
    with page.expect_navigation():
        page.click("header button[type=submit]")
    assert page.url.endswith("/console/login")
    page.context.add_cookies([{"name": "apl_console", "value": cookie["value"], "url": review["server"].url + "/console/"}])
    page.goto("/console/")
    assert page.url.endswith("/console/login")


def test_page_views_are_audit_access_records(review: dict[str, Any]) -> None:
    reply = httpx.get(review["server"].base_url + "/audit/records", headers=review["server"].headers("auditor"),
                      params={"kind": "audit_access", "since": review["until"], "limit": 1000})
    accesses = Counter(r["access"] for r in reply.json()["data"])
    for page_name in ("console:sign_in", "console:timeline", "console:record", "console:overview", "console:verify",
                      "console:export", "console:reports", "console:report:cost", "console:sign_out"):
        assert accesses[page_name] >= 1, page_name
    assert accesses["console:report:pci-events"] == 3


# ---- tampering (last: it edits the log, then puts it back) ------------------------------------------------

def test_a_tampered_log_is_reported_everywhere(page: Any, review: dict[str, Any]) -> None:
    database = review["data_dir"] / "audit.db"
    request = next(r for r in review["records"] if r["kind"] == "request")
    with sqlite3.connect(database) as db:
        [original] = db.execute("SELECT body FROM audit_records WHERE seq = ?", (request["seq"],)).fetchone()
        db.execute("UPDATE audit_records SET body = ? WHERE seq = ?", (original.replace('"allow"', '"block"').replace(
            '"redact"', '"block"'), request["seq"]))
    try:
        for fmt in ("json", "csv", "html"):
            body = _report(review, "hipaa-access", fmt).decode()
            assert f"record {request['seq']} was altered" in body
        _sign_in(page, review["server"].tokens["auditor"])
        page.goto("/console/verify")
        with page.expect_navigation():
            page.click("#verify-now")
        assert page.locator("#verdict").inner_text().startswith("FAILED")
        for path in ("/console/", "/console/overview", "/console/reports", f"/console/records/{request['seq']}"):
            page.goto(path)
            banner = page.locator("#tamper-banner")
            assert banner.is_visible() and "AUDIT LOG FAILED VERIFICATION" in banner.inner_text(), path
        assert "does NOT verify" in page.locator("#proof-status").inner_text()
        _shot(page, "tampered-record")
        page.goto("/console/")
        _shot(page, "tampered-timeline")
    finally:
        with sqlite3.connect(database) as db:
            db.execute("UPDATE audit_records SET body = ? WHERE seq = ?", (original, request["seq"]))
    assert json.loads(_report(review, "egress", "json"))["basis"]["log_verified"] is True

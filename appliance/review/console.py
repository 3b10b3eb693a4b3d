"""The compliance officers' console at /console/: server-rendered pages for the auditor role.

Sign-in takes an auditor key (form field `key`) and sets an HttpOnly, SameSite=Strict session cookie
with an expiry; every POST form carries the session's CSRF token (the login form a double-submit
token). Refusals are `auth_failure` records and every page view an `audit_access` record, written
before the page is answered. Pages send a Content-Security-Policy that allows nothing from elsewhere.
"""
from __future__ import annotations

import urllib.parse
from typing import Any

from fastapi import APIRouter, FastAPI, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from starlette.concurrency import run_in_threadpool

from appliance.api.deps import (
    ConsoleSessionsDep,
    ServicesDep,
    app_console_sessions,
    app_pipeline,
    app_review,
    audit_refusal,
    request_fields,
)
from appliance.review import views
from appliance.review.cost import DEFAULT_PRICES, CostInputs
from appliance.review.filters import FilterError, Filters, parse_moment
from appliance.review.render import FORMATS, MEDIA_TYPES, TEMPLATES, render
from appliance.review.reports import TITLES, ReportError, ReportRequest
from appliance.review.service import Review
from appliance.review.sessions import COOKIE_PATH, LOGIN_COOKIE, SESSION_COOKIE, Session, SessionStore, new_login_token, same_token
from appliance.services import Services

router = APIRouter(prefix="/console", include_in_schema=False)  # HTML pages, not part of the OpenAI-style API
SECURITY_HEADERS = {
    "Content-Security-Policy": "default-src 'none'; style-src 'unsafe-inline'; img-src 'self' data:; "
                               "form-action 'self'; frame-ancestors 'none'; base-uri 'none'",
    "Cache-Control": "no-store",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
}


class SignInRequired(Exception):
    """No valid session: answered with a redirect to the sign-in page."""


class FormRefused(Exception):
    """A POST without its CSRF token (or not a form): answered 403."""


def install_console(app: FastAPI, services: Services) -> Review:
    """Mount the console on `app`: its review service (started, returned for the app to close), sessions
    and routes."""
    review = Review(services.audit, services.data.root, services.settings.console.verify_seconds)
    review.watch.start()
    app.state.review = review
    app.state.console_sessions = SessionStore(services.settings.console.session_seconds)
    app.include_router(router)

    @app.exception_handler(SignInRequired)
    async def _sign_in(_: Request, __: SignInRequired) -> Response:
        response = RedirectResponse("/console/login", status_code=303)
        response.delete_cookie(SESSION_COOKIE, path=COOKIE_PATH)
        return response

    @app.exception_handler(FormRefused)
    async def _refused(_: Request, exc: FormRefused) -> Response:
        return _page("login.html", {"message": str(exc), "csrf": ""}, status=403)

    return review


def _page(template: str, context: dict[str, Any], status: int = 200) -> HTMLResponse:
    html = TEMPLATES.get_template(template).render(**context)
    return HTMLResponse(html, status_code=status, headers=SECURITY_HEADERS)


async def _form(request: Request) -> dict[str, str]:
    """The URL-encoded form body (first value per field)."""
    if not request.headers.get("content-type", "").startswith("application/x-www-form-urlencoded"):
        raise FormRefused("This page only accepts its own form.")
    fields = urllib.parse.parse_qs((await request.body()).decode(errors="replace"), keep_blank_values=True)
    return {name: values[0] for name, values in fields.items()}


async def _session(request: Request) -> tuple[str, Session]:
    """The caller's live session; a forged, ended or expired cookie is refused (and audited)."""
    token = request.cookies.get(SESSION_COOKIE, "")
    if not token:
        raise SignInRequired()
    session, why = app_console_sessions(request).lookup(token)
    if session is None:
        await audit_refusal(request, f"console_session_{why}", None)
        raise SignInRequired()
    return token, session


async def _checked_form(request: Request) -> tuple[str, Session, dict[str, str]]:
    """Session and form of a POST whose CSRF token matches the session's."""
    token, session = await _session(request)
    form = await _form(request)
    if not same_token(session.csrf, form.get("csrf", "")):
        await audit_refusal(request, "console_csrf_mismatch", session.principal)
        raise FormRefused("The form was refused: its security token is missing or wrong. Reload the page and try again.")
    return token, session, form


async def _viewed(request: Request, session: Session, page: str, **details: Any) -> None:
    """Every page view is an audit_access record (PCI DSS 10.2.1.3), written before the page is answered."""
    await app_pipeline(request).audit("audit_access", {
        **request_fields(request, session.principal), "access": f"console:{page}",
        **{name: value for name, value in details.items() if value not in (None, "", {})},
    })


def _context(request: Request, session: Session, title: str, **values: Any) -> dict[str, Any]:
    return {"title": title, "principal": session.principal, "csrf": session.csrf, "live": True,
            "check": app_review(request).watch.latest(), **values}


# ---- sign in and out -------------------------------------------------------------------------------

@router.get("/login")
async def login_page(request: Request) -> Response:
    token = new_login_token()
    response = _page("login.html", {"csrf": token, "message": ""})
    response.set_cookie(LOGIN_COOKIE, token, httponly=True, samesite="strict", path=COOKIE_PATH, max_age=3600)
    return response


@router.post("/login")
async def login(request: Request, services: ServicesDep, store: ConsoleSessionsDep) -> Response:
    form = await _form(request)
    if not same_token(request.cookies.get(LOGIN_COOKIE, ""), form.get("csrf", "")):
        await audit_refusal(request, "console_csrf_mismatch", None)
        raise FormRefused("The sign-in form was refused: its security token is missing or wrong. Reload the page.")
    key = form.get("key", "").strip()
    principal = services.keys.authenticate(key) if key else None
    if principal is None or not principal.may("audit"):
        reason = "missing_key" if not key else "invalid_key" if principal is None else "role_lacks_audit"
        await audit_refusal(request, f"console_{reason}", principal)
        message = ("Only auditor keys may sign in to the console." if principal is not None
                   else "Enter a valid auditor key." if key else "Enter your auditor key.")
        token = new_login_token()
        response = _page("login.html", {"csrf": token, "message": message}, status=403 if principal else 401)
        response.set_cookie(LOGIN_COOKIE, token, httponly=True, samesite="strict", path=COOKIE_PATH, max_age=3600)
        return response
    token, session = store.create(principal)
    await _viewed(request, session, "sign_in")
    response = RedirectResponse("/console/", status_code=303)
    response.set_cookie(SESSION_COOKIE, token, httponly=True, samesite="strict", path=COOKIE_PATH,
                        max_age=store.lifetime, secure=request.url.scheme == "https")
    response.delete_cookie(LOGIN_COOKIE, path=COOKIE_PATH)
    return response


@router.post("/logout")
async def logout(request: Request, store: ConsoleSessionsDep) -> Response:
    token, session, _ = await _checked_form(request)
    store.end(token)
    await _viewed(request, session, "sign_out")
    response = RedirectResponse("/console/login", status_code=303)
    response.delete_cookie(SESSION_COOKIE, path=COOKIE_PATH)
    return response


# ---- pages ----------------------------------------------------------------------------------------

@router.get("/")
async def timeline_page(request: Request) -> Response:
    _, session = await _session(request)
    params = dict(request.query_params)
    try:
        filters = Filters.parse(params)
        error = ""
    except FilterError as exc:
        filters, error = Filters(), str(exc)
    await _viewed(request, session, "timeline", filters=filters.active())
    page = int(params["page"]) if params.get("page", "").isdigit() else 1
    data = await run_in_threadpool(views.timeline, app_review(request).index, filters, page)
    query = urllib.parse.urlencode(filters.active())
    return _page("timeline.html", _context(request, session, "Timeline", filters=filters, error=error, query=query, **data))


@router.get("/records/{seq}")
async def record_page(seq: int, request: Request) -> Response:
    _, session = await _session(request)
    await _viewed(request, session, "record", record_seq=seq)
    review = app_review(request)
    if not 0 <= seq < await run_in_threadpool(review.store.reader.size):
        return _page("base.html", _context(request, session, f"No record {seq}"), status=404)
    proof, fields, linked = await run_in_threadpool(views.record, review.index, seq)
    return _page("record.html", _context(request, session, f"Record {seq} ({proof.record.get('kind')})",
                                         record=proof.record, proof=proof, fields=fields, linked=linked))


@router.get("/overview")
async def overview_page(request: Request) -> Response:
    _, session = await _session(request)
    try:
        filters, error = Filters.parse(dict(request.query_params)), ""
    except FilterError as exc:
        filters, error = Filters(), str(exc)
    await _viewed(request, session, "overview", since=filters.since, until=filters.until)
    charts = await run_in_threadpool(views.overview, app_review(request).index, filters)
    return _page("overview.html", _context(request, session, "Overview", filters=filters, error=error, charts=charts))


async def _verify_page(request: Request, session: Session, exported: Any = None, error: str = "",
                       status: int = 200) -> Response:
    reader = app_review(request).store.reader
    state = {"size": await run_in_threadpool(reader.size),
             "checkpoint": await run_in_threadpool(reader.latest_checkpoint_info),
             "signing_keys": await run_in_threadpool(reader.signing_keys)}
    return _page("verify.html", _context(request, session, "Verification", state=state, exported=exported,
                                         error=error), status=status)


@router.get("/verify")
async def verify_page(request: Request) -> Response:
    _, session = await _session(request)
    await _viewed(request, session, "verify")
    return await _verify_page(request, session)


@router.post("/verify")
async def verify_now(request: Request) -> Response:
    _, session, _ = await _checked_form(request)
    await _viewed(request, session, "verify_now")
    await run_in_threadpool(app_review(request).watch.check_now)
    return await _verify_page(request, session)


@router.post("/export")
async def export(request: Request, services: ServicesDep) -> Response:
    _, session, form = await _checked_form(request)
    try:
        since, until = (parse_moment(form.get(name, "").strip(), name) for name in ("since", "until"))
    except FilterError as exc:
        return await _verify_page(request, session, error=str(exc), status=400)
    await _viewed(request, session, "export", since=form.get("since"), until=form.get("until"))
    out = services.data.root / "exports" / request.state.request_id
    summary = await run_in_threadpool(app_review(request).export, out, since, until, session.principal.key_id)
    return await _verify_page(request, session, exported=summary)


@router.get("/reports")
async def reports_page(request: Request) -> Response:
    _, session = await _session(request)
    await _viewed(request, session, "reports")
    return _page("reports.html", _context(request, session, "Reports", titles=TITLES, prices=DEFAULT_PRICES,
                                          cost=CostInputs()))


@router.post("/reports/{kind}")
async def download_report(kind: str, request: Request) -> Response:
    _, session, form = await _checked_form(request)
    fmt = form.get("format", "html")
    try:
        if kind not in TITLES or fmt not in FORMATS:
            raise ReportError(f"unknown report {kind!r} or format {fmt!r}")
        report_request = _report_request(request, kind, form)
    except (ReportError, ValueError) as exc:
        return _page("reports.html", _context(request, session, "Reports", titles=TITLES, prices=DEFAULT_PRICES,
                                              cost=CostInputs(), error=str(exc)), status=400)
    await _viewed(request, session, f"report:{kind}", since=form.get("since"), until=form.get("until"), format=fmt)
    report = await run_in_threadpool(app_review(request).report, report_request)
    body = await run_in_threadpool(render, [report], fmt)
    headers = {**SECURITY_HEADERS, "Content-Disposition": f'attachment; filename="{kind}.{fmt}"',
               "X-Log-Verified": "yes" if report.check.verified else "no"}
    return Response(body, media_type=MEDIA_TYPES[fmt], headers=headers)


def _report_request(request: Request, kind: str, form: dict[str, str]) -> ReportRequest:
    """A report request from the console's form (bad numbers or times raise ValueError)."""
    since, until = form.get("since", ""), form.get("until", "")
    Filters.parse({"since": since, "until": until})
    digest = ""
    if kind == "subject":
        identifier = form.get("identifier", "").strip()
        if not identifier:
            raise ReportError("the subject report needs the data subject's identifier")
        digest = app_review(request).subject_digest(identifier)
    cost = CostInputs()
    if kind == "cost":
        prices = {name: (float(form.get(f"price_in_{i}", pin)), float(form.get(f"price_out_{i}", pout)))
                  for i, (name, (pin, pout)) in enumerate(DEFAULT_PRICES.items())}
        cost = CostInputs(prices, float(form.get("purchase", cost.purchase)), int(form.get("amortise_months", cost.amortise_months)),
                          float(form.get("power_watts", cost.power_watts)), float(form.get("kwh_price", cost.kwh_price)),
                          float(form.get("maintenance", cost.maintenance)))
    return ReportRequest(kind, since, until, digest, cost)

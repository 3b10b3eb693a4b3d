"""What the console, `appliance report` and exports share: the review index, the log check, reports, packs."""
from __future__ import annotations

import logging
import threading
from datetime import datetime
from pathlib import Path

from appliance.review.index import ReviewIndex
from appliance.review.render import render_html
from appliance.review.report_model import Report
from appliance.review.reports import BUILDERS, ReportRequest, build_report
from audit.export import ExportSummary, export_audit
from audit.log_check import LogCheck, check_stored_log
from audit.log import AuditLog

logger = logging.getLogger(__name__)
INDEX_FILE = "review.db"
PACK_KINDS = tuple(kind for kind in BUILDERS if kind != "subject")  # the subject report needs an identifier
VERIFY_TEXT = """How to verify this export offline
===================================

This directory is a signed slice of the appliance's audit log: records.jsonl (canonical JSON, one
record per line), heads.jsonl (Ed25519 signatures), checkpoint (a C2SP signed note), public_key.pem,
proofs.json and manifest.json (SHA-256 of every file, signed in manifest.sig; report.html and this
file are listed too).

1. Compare the first signing key's fingerprint with the one you were given out of band:
       {fingerprint}
2. Run, on any machine with Python 3.11+ and the `cryptography` package:
       python -m audit.verify {directory} --trusted-fingerprint {fingerprint}
   (the module is audit/verify.py from the appliance, standard library + cryptography), or on the appliance:
       appliance audit verify {directory}
3. To check that this export extends one you received before, add
       --trusted-checkpoint OLD_EXPORT/checkpoint
A result starting with "OK" means nothing was edited, inserted, deleted, reordered or cut off.
report.html summarises the records for the period ({since} to {until}); the records are the evidence.
"""


class LogWatch:
    """The latest full check of the log: re-run in the background every `interval` seconds, or on demand.
    Each background round first brings the review index up to date, so pages only index what is new."""

    def __init__(self, store: AuditLog, interval: float, index: ReviewIndex | None = None) -> None:
        self.store = store
        self.index = index
        self.interval = interval
        self._latest: LogCheck | None = None
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="review-log-check", daemon=True)
        self._thread.start()

    def latest(self) -> LogCheck | None:
        return self._latest

    def check_now(self) -> LogCheck:
        with self._lock:
            self._latest = check_stored_log(self.store.reader)
            return self._latest

    def close(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=30)

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                if self.index is not None:
                    self.index.sync()
                self.check_now()
            except Exception as exc:  # the store may be briefly unavailable; say so and try again later
                logger.warning("audit log check postponed: %s", exc)
            self._stop.wait(self.interval)


class Review:
    """The review index and log check over one audit store."""

    def __init__(self, store: AuditLog, data_dir: Path, verify_seconds: float = 300.0) -> None:
        self.store = store
        self.index = ReviewIndex(Path(data_dir) / INDEX_FILE, store)
        self.watch = LogWatch(store, verify_seconds, self.index)

    def close(self) -> None:
        self.watch.close()
        self.index.close()

    def report(self, request: ReportRequest) -> Report:
        """A report against a fresh full check of the log."""
        return build_report(self.index, self.watch.check_now(), request)

    def subject_digest(self, identifier: str) -> str:
        """The keyed digest records hold for a data subject's identifier (never the identifier itself)."""
        return self.store.digest(identifier.strip())

    def pack(self, since: str = "", until: str = "") -> bytes:
        """report.html for an assessor: every report but the subject report, for [since, until)."""
        check = self.watch.check_now()
        reports = [build_report(self.index, check, ReportRequest(kind, since, until)) for kind in PACK_KINDS]
        return render_html(reports, "Assessor pack: audit reports")

    def export(self, out: Path, since: datetime | None, until: datetime | None, actor: str | None) -> ExportSummary:
        """An export with the assessor pack: report.html and VERIFY.txt, listed in the signed manifest."""
        bounds = (since.isoformat() if since else "", until.isoformat() if until else "")
        keys = self.store.reader.signing_keys()
        fingerprint = keys[0].fingerprint if keys else "(no key yet)"
        verify_text = VERIFY_TEXT.format(fingerprint=fingerprint, directory=out, since=bounds[0] or "the start",
                                         until=bounds[1] or "the export")
        extra = {"report.html": self.pack(*bounds), "VERIFY.txt": verify_text.encode()}
        return export_audit(self.store, out, since=since, until=until, actor=actor, extra_files=extra)

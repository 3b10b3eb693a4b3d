"""Certificate renewal on SIGHUP and the expiry watch, both recorded in the audit log.

SIGHUP: the chain and key files are read again into the live SSL context; connections already open
(and their in-flight requests) are untouched. A file that fails the checks is refused and the old
certificate stays in service. Within `expiry_warning_days` of the end, a `tls_expiry_warning` record
is written at start, after a renewal that did not help, and once a day while serving."""
from __future__ import annotations

import asyncio
import signal
import sys
from contextlib import asynccontextmanager
from datetime import date
from typing import AsyncIterator

from starlette.concurrency import run_in_threadpool

from appliance.tls.context import TlsError
from appliance.tls.serving import ServingTls
from audit.errors import AuditUnavailable
from audit.log import AuditLog

EXPIRY_CHECK_SECONDS = 3600.0


class RenewalWatch:
    """Reacts to SIGHUP and watches the expiry date of one process's certificate."""

    def __init__(self, tls: ServingTls, audit: AuditLog) -> None:
        self.tls = tls
        self.audit = audit
        self._warned: tuple[str, date] | None = None

    async def _record(self, kind: str, fields: dict[str, object]) -> None:
        try:
            await self.audit.append_async(kind, fields)
        except AuditUnavailable as exc:
            print(f"appliance: cannot record {kind}: {exc}", file=sys.stderr, flush=True)

    async def renew(self) -> None:
        """Reload the certificate files (SIGHUP)."""
        try:
            cert = await run_in_threadpool(self.tls.reload)
        except TlsError as exc:
            print(f"appliance: TLS renewal refused, still serving {self.tls.cert.sha256}: {exc}", file=sys.stderr,
                  flush=True)
            await self._record("tls_reload", {"status": "refused", "error": str(exc),
                                              "cert_sha256": self.tls.cert.sha256})
            return
        await self._record("tls_reload", {"status": "ok", **cert.fields()})
        await self.warn_if_expiring()

    async def warn_if_expiring(self) -> None:
        """One warning record per certificate per day inside the warning window."""
        cert = self.tls.cert
        if not self.tls.expiry_due or self._warned == (cert.sha256, date.today()):
            return
        self._warned = (cert.sha256, date.today())
        await self._record("tls_expiry_warning", {**cert.fields(),
                                                  "warning_days": self.tls.config.expiry_warning_days})

    async def _watch_expiry(self) -> None:
        while True:
            await self.warn_if_expiring()
            await asyncio.sleep(EXPIRY_CHECK_SECONDS)

    @asynccontextmanager
    async def running(self) -> AsyncIterator[None]:
        """While serving: SIGHUP renews, and the expiry watch runs."""
        loop = asyncio.get_running_loop()
        pending: set[asyncio.Task[None]] = set()

        def on_sighup() -> None:
            task = loop.create_task(self.renew())
            pending.add(task)
            task.add_done_callback(pending.discard)

        loop.add_signal_handler(signal.SIGHUP, on_sighup)
        watch = loop.create_task(self._watch_expiry())
        try:
            yield
        finally:
            loop.remove_signal_handler(signal.SIGHUP)
            watch.cancel()
            await asyncio.gather(watch, *pending, return_exceptions=True)

"""Console sessions: random tokens in an HttpOnly, SameSite=Strict cookie, kept (hashed) in memory, with expiry.

A session also holds its CSRF token, which every form must send back. Before sign-in, the login form
is protected by a double-submit token: a random value in its own cookie and in the form.
"""
from __future__ import annotations

import hashlib
import hmac
import secrets
import threading
import time
from dataclasses import dataclass

from appliance.auth import Principal

SESSION_COOKIE = "apl_console"
LOGIN_COOKIE = "apl_console_login"
COOKIE_PATH = "/console"


@dataclass(frozen=True)
class Session:
    principal: Principal
    csrf: str
    expires: float  # time.time()


class SessionStore:
    """Live console sessions of this process, by SHA-256 of their cookie value."""

    def __init__(self, lifetime_seconds: int) -> None:
        self.lifetime = lifetime_seconds
        self._sessions: dict[str, Session] = {}
        self._lock = threading.Lock()

    def create(self, principal: Principal) -> tuple[str, Session]:
        """A new session; returns the cookie value (shown only to the browser) and the session."""
        token = secrets.token_urlsafe(32)
        session = Session(principal, secrets.token_urlsafe(32), time.time() + self.lifetime)
        with self._lock:
            self._drop_expired()
            self._sessions[_digest(token)] = session
        return token, session

    def lookup(self, token: str) -> tuple[Session | None, str]:
        """The live session for a cookie value, or (None, why: "unknown" or "expired")."""
        with self._lock:
            session = self._sessions.get(_digest(token))
            if session is None:
                return None, "unknown"
            if session.expires <= time.time():
                del self._sessions[_digest(token)]
                return None, "expired"
            return session, ""

    def end(self, token: str) -> None:
        with self._lock:
            self._sessions.pop(_digest(token), None)

    def _drop_expired(self) -> None:
        now = time.time()
        for key in [key for key, session in self._sessions.items() if session.expires <= now]:
            del self._sessions[key]


def same_token(expected: str, given: str) -> bool:
    """Constant-time comparison of CSRF tokens; an empty token never matches."""
    return bool(expected) and bool(given) and hmac.compare_digest(expected.encode(), given.encode())


def new_login_token() -> str:
    return secrets.token_urlsafe(32)


def _digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()

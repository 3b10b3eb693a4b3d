"""What the audit store raises when it cannot do its job: callers refuse the request (fail closed)."""
from __future__ import annotations


class AuditUnavailable(RuntimeError):
    """The audit store cannot durably write (or read) right now; callers must refuse the request.

    The message is one line naming the reason (never SQL, parameters or record contents)."""

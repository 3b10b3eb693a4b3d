"""The process-wide egress guard: a `sys.addaudithook` hook on socket events that refuses every
connect, send and name resolution the EgressPolicy does not allow.

Audit hooks cannot be removed, so the guard is installed once per process and its policy is
replaceable (`configure`). Blocked attempts raise EgressBlocked, are counted, and are handed to the
audit sink; until the sink is attached they wait in a bounded buffer.
"""
from __future__ import annotations

import os
import socket
import sys
import sysconfig
import threading
from collections import deque
from collections.abc import Callable
from datetime import UTC, datetime
from types import FrameType
from typing import Any

from appliance.egress.offline import apply_offline_environment
from appliance.egress.policy import EgressPolicy, is_loopback, is_resolver, normalize_host, parse_ip

KINDS: tuple[str, ...] = ("connect", "send", "resolve", "reverse-resolve", "socket", "spawn")
# Audit events that start another program (CPython's audit events table); refused once the process
# serves (`refuse_spawning`): a child process would run outside this guard.
SPAWN_EVENTS: frozenset[str] = frozenset({
    "subprocess.Popen", "os.system", "os.exec", "os.posix_spawn", "os.spawn", "os.fork", "os.forkpty", "pty.spawn",
})
INET_FAMILIES = frozenset({socket.AF_INET, socket.AF_INET6})
ALLOWED_FAMILIES = INET_FAMILIES | {socket.AF_UNIX}
BUFFER_LIMIT = 1000
RECENT_LIMIT = 10

EventSink = Callable[[dict[str, Any]], Any]


class EgressBlocked(PermissionError):
    """A connection, send or name resolution the egress policy does not allow."""

    def __init__(self, kind: str, target: str, module: str, reason: str) -> None:
        self.kind = kind
        self.target = target
        self.module = module
        self.reason = reason
        super().__init__(f"egress blocked: {kind} {target} from module {module} ({reason})")


class EgressGuard:
    """Decides every socket audit event against the current policy; see `report()` for its state."""

    def __init__(self, policy: EgressPolicy, offline_env: dict[str, str]) -> None:
        self._policy = policy
        self._offline_env = offline_env
        self._lock = threading.RLock()
        self._local = threading.local()
        self._delivering = False
        self._pinned: set[tuple[str, int | None]] = set()
        self._allowed = dict.fromkeys(KINDS, 0)
        self._blocked = dict.fromkeys(KINDS, 0)
        self._pending: deque[dict[str, Any]] = deque()
        self._recent: deque[dict[str, Any]] = deque(maxlen=RECENT_LIMIT)
        self._dropped = 0
        self._sink: EventSink | None = None
        self._sink_errors = 0
        self._last_sink_error: str | None = None
        self._spawning_refused = False
        # audit event -> (kind it is counted as, handler); see the CPython audit events table
        self._handlers: dict[str, tuple[str, Callable[[tuple[Any, ...]], None]]] = {
            "socket.__new__": ("socket", self._on_new),
            "socket.connect": ("connect", self._on_connect),
            "socket.sendto": ("send", self._on_send),
            "socket.sendmsg": ("send", self._on_send),
            "socket.getaddrinfo": ("resolve", self._on_resolve),
            "socket.gethostbyname": ("resolve", self._on_resolve),
            "socket.gethostbyaddr": ("reverse-resolve", self._on_reverse),
            "socket.getnameinfo": ("reverse-resolve", self._on_reverse),
        }

    # -- public API ---------------------------------------------------------------------------

    @property
    def policy(self) -> EgressPolicy:
        return self._policy

    def configure(self, policy: EgressPolicy) -> None:
        """Replace the policy (addresses pinned from earlier name resolutions are forgotten)."""
        with self._lock:
            self._policy = policy
            self._pinned.clear()

    def refuse_spawning(self) -> None:
        """From now on, refuse every attempt to start a program or fork (one way: never turned off)."""
        self._spawning_refused = True

    def attach_sink(self, sink: EventSink) -> None:
        """Hand block events to `sink(event: dict)` from now on, starting with the buffered ones."""
        with self._lock:
            self._sink = sink
        self._deliver()

    def report(self) -> dict[str, Any]:
        """Mode, allow-list, counters and the latest blocks, for `appliance doctor`."""
        with self._lock:
            return {
                **self._policy.describe(),
                "installed": True,
                "spawning_refused": self._spawning_refused,
                "counters": {"allowed": dict(self._allowed), "blocked": dict(self._blocked)},
                "recent_blocks": list(self._recent),
                "sink_attached": self._sink is not None,
                "pending_events": len(self._pending),
                "dropped_events": self._dropped,
                "sink_errors": self._sink_errors,
                "last_sink_error": self._last_sink_error,
                "offline_env": dict(self._offline_env),
            }

    # -- judging socket events ---------------------------------------------------------------

    def judge(self, event: str, args: tuple[Any, ...]) -> None:
        """Decide one `socket.*` audit event; raises EgressBlocked when the policy refuses it."""
        entry = self._handlers.get(event)
        if entry is None or getattr(self._local, "pinning", False):
            return
        kind, handler = entry
        try:
            handler(args)
        except EgressBlocked:
            raise
        except Exception as exc:  # an event the guard cannot judge is refused, never waved through
            self._block(kind, event, f"the guard could not judge it ({type(exc).__name__})")

    def judge_spawn(self, event: str, args: tuple[Any, ...]) -> None:
        """Refuse a program start or fork once `refuse_spawning` was called; name the program only
        (its arguments may carry data)."""
        if self._spawning_refused:
            self._block("spawn", _program_of(event, args), "the serving process may not start programs")

    def _on_new(self, args: tuple[Any, ...]) -> None:
        family = args[1]
        if family in ALLOWED_FAMILIES:
            self._count_allowed("socket")
        else:
            self._block("socket", f"family {family}", "only IP and Unix sockets may be created")

    def _on_connect(self, args: tuple[Any, ...]) -> None:
        self._check_endpoint("connect", args[0], args[1])

    def _on_send(self, args: tuple[Any, ...]) -> None:
        if args[1] is None:  # sendmsg on a connected socket: its connect was checked
            self._count_allowed("send")
        else:
            self._check_endpoint("send", args[0], args[1])

    def _on_resolve(self, args: tuple[Any, ...]) -> None:
        host = args[0]
        port = args[1] if len(args) > 1 else None
        if isinstance(host, bytes):
            host = host.decode("ascii", "replace")
        if host is None or host == "" or parse_ip(host) is not None:
            self._count_allowed("resolve")  # a literal or passive lookup sends no query
            return
        if not self._policy.permits_name(host):
            self._block("resolve", normalize_host(host), "name is not on the allow-list; it was not resolved")
        self._count_allowed("resolve")
        self._pin(host, port)

    def _on_reverse(self, args: tuple[Any, ...]) -> None:
        address = args[0]
        host, port = (address[0], address[1]) if isinstance(address, tuple) else (address, None)
        if not isinstance(host, str) or not self._permits(normalize_host(host), port):
            self._block("reverse-resolve", _describe(address), "address is not on the allow-list")
        self._count_allowed("reverse-resolve")

    # -- decisions ----------------------------------------------------------------------------

    def _check_endpoint(self, kind: str, sock: socket.socket, address: Any) -> None:
        family = getattr(sock, "family", None)
        if family == socket.AF_UNIX:
            self._count_allowed(kind)
            return
        if family not in INET_FAMILIES or not isinstance(address, tuple) or len(address) < 2:
            self._block(kind, _describe(address), "not an IP endpoint")
        host, port = address[0], address[1]
        if isinstance(host, bytes):
            host = host.decode("ascii", "replace")
        if not isinstance(host, str) or not isinstance(port, int):
            self._block(kind, _describe(address), "not an IP endpoint")
        host = normalize_host(host)
        if parse_ip(host) is None and not self._policy.permits_name(host):
            self._block(kind, _describe(address), "name is not on the allow-list; it was not resolved")
        if not self._permits(host, port):
            self._block(kind, _describe(address), _refusal(self._policy, host, port))
        self._count_allowed(kind)

    def _permits(self, host: str, port: int | None) -> bool:
        if self._policy.permits_endpoint(host, port):
            return True
        with self._lock:
            return (host, port) in self._pinned or (host, None) in self._pinned

    def _pin(self, name: str, port: Any) -> None:
        """Resolve an allow-listed name once more from inside the hook and remember its addresses,
        so the connect that follows (to an IP) is recognised as going to that name."""
        entries = [e for e in self._policy.allow if e.host == normalize_host(name)]
        if not entries:
            return  # `localhost`: its addresses are loopback and judged as such
        self._local.pinning = True
        try:
            infos = socket.getaddrinfo(name, port if isinstance(port, (int, str)) else None)
        except OSError:
            return  # the caller's own resolution will fail the same way
        finally:
            self._local.pinning = False
        with self._lock:
            for entry in entries:
                for info in infos:
                    self._pinned.add((normalize_host(str(info[4][0])), entry.port))

    def _count_allowed(self, kind: str) -> None:
        with self._lock:
            self._allowed[kind] += 1

    def _block(self, kind: str, target: str, reason: str) -> None:
        module = calling_module()
        with self._lock:
            self._blocked[kind] += 1
            event = {
                "type": "egress.blocked",
                "at": datetime.now(UTC).isoformat(),
                "kind": kind,
                "target": target,
                "module": module,
                "reason": reason,
                "mode": self._policy.mode,
                "loopback": self._policy.loopback,
            }
            self._recent.append(event)
            if len(self._pending) >= BUFFER_LIMIT:
                self._pending.popleft()
                self._dropped += 1
            self._pending.append(event)
        self._deliver()
        raise EgressBlocked(kind, target, module, reason)

    def _deliver(self) -> None:
        """Hand pending events to the sink, in order, with no lock held while it runs. One delivery
        runs at a time; events raised meanwhile (on any thread, or by the sink itself) join the queue
        it is draining. A failing sink keeps the event pending and is counted."""
        with self._lock:
            if self._delivering:
                return
            self._delivering = True
        event = None
        try:
            while True:
                with self._lock:
                    if self._sink is None or not self._pending:
                        self._delivering = False
                        return
                    sink, event = self._sink, self._pending.popleft()
                sink(event)
                event = None
        except BaseException as exc:  # the sink's failure must not turn a block into a crash
            with self._lock:
                if event is not None:
                    self._pending.appendleft(event)
                self._sink_errors += 1
                self._last_sink_error = f"{type(exc).__name__}: {exc}"[:300]
                self._delivering = False
            if not isinstance(exc, Exception):
                raise


_STDLIB_DIRS = tuple({sysconfig.get_paths()["stdlib"], sysconfig.get_paths()["platstdlib"]})
_GUARD_PACKAGE = __name__.rsplit(".", 1)[0]


def calling_module() -> str:
    """The module that asked for the network: the first frame outside the guard and the standard
    library (e.g. `anyio._backends._asyncio`), else the first outside the guard and `socket` (e.g.
    `concurrent.futures.thread` for a lookup asyncio runs in its thread pool)."""
    frame: FrameType | None = sys._getframe(1)
    fallback = None
    while frame is not None:
        name = frame.f_globals.get("__name__", "?")
        if not name.startswith(_GUARD_PACKAGE):
            if not _is_stdlib(frame.f_code.co_filename):
                return name
            if fallback is None and name != "socket":
                fallback = name
        frame = frame.f_back
    return fallback or "socket"


def _is_stdlib(filename: str) -> bool:
    if filename.startswith("<frozen"):
        return True
    if "site-packages" in filename or "dist-packages" in filename:
        return False
    return filename.startswith(_STDLIB_DIRS)


def _refusal(policy: EgressPolicy, host: str, port: int | None) -> str:
    if is_loopback(host) and is_resolver(host, port):
        return "loopback name resolver: it would forward queries off the machine"
    if is_loopback(host):
        return "loopback address not on the allow-list (loopback scope 'listed')"
    if policy.mode == "air-gapped":
        return "air-gapped mode allows loopback only"
    return "not on the allow-list"


def _program_of(event: str, args: tuple[Any, ...]) -> str:
    """The program an audit event starts, as its base name (never its arguments), else the event."""
    if event == "subprocess.Popen":  # (executable, args, cwd, env); executable None: args[0] is it
        program = args[0] if args[0] is not None else args[1]
        if isinstance(program, (list, tuple)):
            program = program[0] if program else None
    elif event == "os.spawn":  # (mode, path, args, env)
        program = args[1]
    else:
        program = args[0] if args else None
    if not isinstance(program, (str, bytes, os.PathLike)):
        return event
    words = os.fsdecode(program).split()
    return os.path.basename(words[0]) if words else event


def _describe(address: Any) -> str:
    if isinstance(address, tuple) and len(address) >= 2:
        host = str(address[0])
        return f"[{host}]:{address[1]}" if ":" in host else f"{host}:{address[1]}"
    return address if isinstance(address, str) else repr(address)


def _audit_hook(guard: EgressGuard) -> Callable[[str, tuple[Any, ...]], None]:
    """The hook CPython calls for every audit event (imports, opens, ...): a plain function (cheaper
    to call than a bound method) that passes only `socket.*` events on to the guard."""
    judge, judge_spawn = guard.judge, guard.judge_spawn

    def hook(event: str, args: tuple[Any, ...]) -> None:
        if event.startswith("socket."):
            judge(event, args)
        elif event in SPAWN_EVENTS:
            judge_spawn(event, args)

    return hook


_guard: EgressGuard | None = None
_install_lock = threading.Lock()


def install_egress_guard(policy: EgressPolicy | None = None) -> EgressGuard:
    """Install the process-wide guard (first call) or reconfigure it (later calls). Call it at
    process start, before any dependency is imported. Also forces the offline environment."""
    global _guard
    with _install_lock:
        if _guard is None:
            _guard = EgressGuard(policy or EgressPolicy(), apply_offline_environment())
            sys.addaudithook(_audit_hook(_guard))
        elif policy is not None:
            _guard.configure(policy)
        return _guard


def current_guard() -> EgressGuard | None:
    """The installed guard, or None when this process runs without one."""
    return _guard

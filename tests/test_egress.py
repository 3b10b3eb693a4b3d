"""The egress guard. Its audit hook is process-wide and cannot be removed, so every guarded check runs
in a fresh interpreter; the policy's pure decisions are tested in-process (no hook installed).

Only loopback is ever targeted: stand-ins listen on 127.0.0.2 / 127.0.0.3, and everything that
resolves names runs in a private network namespace (loopback only) whose only resolver is a stand-in
DNS server on 127.0.0.2, so even a broken guard could not send a query off the machine.
"""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from appliance.egress import EgressPolicy, Endpoint

REPO = Path(__file__).resolve().parents[1]

PRELUDE = """
import asyncio, json, os, socket, sys
from appliance.egress import EgressBlocked, EgressPolicy, Endpoint, install_egress_guard
"""

# Shared by the guarded scripts: a chat request through a real backend, reporting text or error.
ASK = """
def ask(url):
    from appliance.routing.base import BackendError, ChatMessage, GenerationRequest
    from appliance.routing.upstream import UpstreamBackend
    request = GenerationRequest(model="m", messages=[ChatMessage("user", "ping")])
    try:
        return {"text": asyncio.run(UpstreamBackend("fleet", url).generate(request)).text}
    except BackendError as exc:
        return {"error": str(exc)}
"""


def run_python(script: str, wrapper: tuple[str, ...] = ()) -> dict:
    """Run `script` (after PRELUDE and ASK) in a fresh interpreter; return the JSON it prints last."""
    code = PRELUDE + ASK + textwrap.dedent(script)
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    proc = subprocess.run([*wrapper, sys.executable, "-c", code], cwd=REPO, env=env,
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout.strip().splitlines()[-1])


def test_loopback_address_not_on_allow_list_is_blocked_counted_and_audited() -> None:
    out = run_python("""
        guard = install_egress_guard(EgressPolicy("connected", (Endpoint("127.0.0.3"),), loopback="listed"))
        from tests.standin import StandIn
        out = {}
        with StandIn("127.0.0.2") as off_list, StandIn("127.0.0.3") as listed:
            raw = socket.socket()
            try:
                raw.connect(("127.0.0.2", off_list.port))
            except EgressBlocked as exc:
                out["raw"] = {"kind": exc.kind, "target": exc.target, "module": exc.module, "message": str(exc),
                              "is_permission_error": isinstance(exc, PermissionError)}
            raw.close()
            udp = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
            try:
                udp.sendto(b"x", ("127.0.0.2", off_list.port))
            except EgressBlocked as exc:
                out["send"] = exc.kind
            udp.close()
            out["via_backend"] = ask(off_list.url)
            out["listed"] = ask(listed.url)
            out["report_before_sink"] = guard.report()
            events = []
            guard.attach_sink(events.append)
            out["events"] = events
            # Open loopback up again: a later request reaches 127.0.0.2, and it is the only one there.
            guard.configure(EgressPolicy())
            out["after_reconfigure"] = ask(off_list.url)
            out["off_list_requests"] = len(off_list.requests)
            out["off_list_connections"] = off_list.connections
            out["port"] = off_list.port
            out["report"] = guard.report()
        print(json.dumps(out))
    """)
    target = f"127.0.0.2:{out['port']}"
    assert out["raw"]["kind"] == "connect"
    assert out["raw"]["target"] == target
    assert out["raw"]["module"] == "__main__"
    assert out["raw"]["is_permission_error"]
    assert target in out["raw"]["message"] and "loopback" in out["raw"]["message"]
    assert out["send"] == "send"
    assert "egress guard blocked the connection" in out["via_backend"]["error"]
    assert out["listed"] == {"text": "Stand-in heard: ping"}

    before = out["report_before_sink"]
    assert before["counters"]["blocked"]["connect"] == 2
    assert before["counters"]["blocked"]["send"] == 1
    assert before["pending_events"] == 3 and not before["sink_attached"]

    events = out["events"]
    assert [(e["kind"], e["target"]) for e in events] == [("connect", target), ("send", target), ("connect", target)]
    assert events[0]["module"] == "__main__"
    backend_module = events[2]["module"].split(".")[0]
    assert backend_module not in sys.stdlib_module_names and backend_module != "appliance"
    assert all(e["type"] == "egress.blocked" and e["mode"] == "connected" for e in events)

    assert out["after_reconfigure"] == {"text": "Stand-in heard: ping"}
    assert out["off_list_requests"] == 1 and out["off_list_connections"] == 1
    report = out["report"]
    assert report["mode"] == "air-gapped" and report["loopback"] == "any" and report["allow"] == []
    assert report["pending_events"] == 0 and report["sink_attached"]


def test_air_gapped_default_allows_loopback_and_unix_sockets_and_sets_offline_env(tmp_path: Path) -> None:
    out = run_python(f"""
        guard = install_egress_guard()
        from tests.standin import StandIn
        out = {{}}
        with StandIn("127.0.0.2") as standin:
            out["loopback"] = ask(standin.url)
        server = socket.socket(socket.AF_UNIX)
        server.bind({str(tmp_path / "sock")!r})
        server.listen()
        client = socket.socket(socket.AF_UNIX)
        client.connect({str(tmp_path / "sock")!r})
        out["unix"] = client.fileno() >= 0
        try:
            socket.socket(socket.AF_NETLINK, socket.SOCK_RAW)
        except EgressBlocked as exc:
            out["netlink"] = exc.kind
        out["env"] = {{k: os.environ.get(k) for k in ("HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE", "DO_NOT_TRACK")}}
        out["report"] = guard.report()
        print(json.dumps(out))
    """)
    assert out["loopback"] == {"text": "Stand-in heard: ping"}
    assert out["unix"]
    assert out["netlink"] == "socket"
    assert out["env"] == {"HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1", "DO_NOT_TRACK": "1"}
    assert out["report"]["mode"] == "air-gapped"
    assert out["report"]["counters"]["blocked"] == {"connect": 0, "send": 0, "resolve": 0,
                                                     "reverse-resolve": 0, "socket": 1, "spawn": 0}
    assert out["report"]["counters"]["allowed"]["connect"] >= 2


def test_sink_failure_keeps_the_event_until_a_working_sink_takes_it() -> None:
    out = run_python("""
        guard = install_egress_guard(EgressPolicy(loopback="listed"))
        def broken(event):
            raise OSError("audit store unavailable")
        guard.attach_sink(broken)
        try:
            socket.socket().connect(("127.0.0.2", 9))
        except EgressBlocked:
            pass
        out = {"after_failure": guard.report()}
        events = []
        guard.attach_sink(events.append)
        out["events"] = events
        print(json.dumps(out))
    """)
    failed = out["after_failure"]
    assert failed["pending_events"] == 1 and failed["sink_errors"] == 1
    assert failed["last_sink_error"] == "OSError: audit store unavailable"
    assert [e["target"] for e in out["events"]] == ["127.0.0.2:9"]


def _namespaces_available() -> str | None:
    if os.geteuid() != 0 or not shutil.which("unshare") or not shutil.which("ip"):
        return "needs root, unshare and ip"
    probe = subprocess.run(["unshare", "--net", "--mount", "true"], capture_output=True)
    return None if probe.returncode == 0 else "unshare --net --mount is not permitted here"


needs_namespaces = pytest.mark.skipif(_namespaces_available() is not None, reason=str(_namespaces_available()))


@needs_namespaces
def test_blocked_name_sends_no_dns_query_and_allowed_name_is_pinned(tmp_path: Path) -> None:
    """In a private network namespace (loopback only) whose resolver is a stand-in DNS server, an
    unguarded lookup reaches that server; guarded lookups of names off the allow-list never do."""
    resolv = tmp_path / "resolv.conf"
    resolv.write_text("nameserver 127.0.0.2\noptions timeout:1 attempts:1\n")
    hosts = tmp_path / "hosts"
    hosts.write_text("127.0.0.1 localhost\n127.0.0.3 fleet.internal\n127.0.0.2 decoy.internal\n")
    wrapper = ("unshare", "--net", "--mount", "sh", "-c",
               'ip link set lo up && mount --bind "$0" /etc/resolv.conf && mount --bind "$1" /etc/hosts && shift && exec "$@"',
               str(resolv), str(hosts))
    out = run_python("""
        guard = install_egress_guard(EgressPolicy("air-gapped", loopback="listed"))
        import subprocess
        from tests.standin import StandIn, StandInDNS
        out = {}
        with StandInDNS("127.0.0.2") as dns, StandIn("127.0.0.3") as fleet:
            unguarded = "import socket\\ntry: socket.getaddrinfo('control-probe.test', 80)\\nexcept OSError: pass"
            subprocess.run([sys.executable, "-c", unguarded], check=True)
            out["control_queries"] = sorted(set(dns.queries))
            seen = len(dns.queries)
            for name, call in [("getaddrinfo", lambda: socket.getaddrinfo("egress-probe.test", 443)),
                               ("gethostbyname", lambda: socket.gethostbyname("egress-probe.test")),
                               ("create_connection", lambda: socket.create_connection(("egress-probe.test", 443))),
                               ("decoy", lambda: socket.getaddrinfo("decoy.internal", 80)),
                               ("gethostbyaddr", lambda: socket.gethostbyaddr("127.0.0.2"))]:
                try:
                    call()
                    out[name] = "not blocked"
                except EgressBlocked as exc:
                    out[name] = [exc.kind, exc.target]
                except OSError as exc:
                    out[name] = f"not blocked ({type(exc).__name__})"
            out["backend_off_list"] = ask("http://egress-probe.test:80")
            out["fleet_before_allowed"] = ask(f"http://fleet.internal:{fleet.port}")
            guard.configure(EgressPolicy("connected", (Endpoint("fleet.internal", fleet.port),), loopback="listed"))
            out["fleet_allowed"] = ask(f"http://fleet.internal:{fleet.port}")
            out["queries_after_guard"] = dns.queries[seen:]
            out["fleet_requests"] = len(fleet.requests)
        print(json.dumps(out))
    """, wrapper)
    assert out["control_queries"] == ["control-probe.test"]
    assert out["getaddrinfo"] == ["resolve", "egress-probe.test"]
    assert out["gethostbyname"] == ["resolve", "egress-probe.test"]
    assert out["create_connection"] == ["resolve", "egress-probe.test"]
    assert out["decoy"] == ["resolve", "decoy.internal"]
    assert out["gethostbyaddr"] == ["reverse-resolve", "127.0.0.2"]
    assert "not resolved" in out["backend_off_list"]["error"]
    assert "egress guard blocked" in out["fleet_before_allowed"]["error"]
    assert out["fleet_allowed"] == {"text": "Stand-in heard: ping"}
    assert out["queries_after_guard"] == []
    assert out["fleet_requests"] == 1


@needs_namespaces
def test_guard_runs_in_a_process_with_no_network_at_all() -> None:
    out = run_python("""
        guard = install_egress_guard(EgressPolicy(loopback="listed"))
        out = {"interfaces": [name for _, name in socket.if_nameindex()]}
        out["allowed_but_unreachable"] = ask("http://127.0.0.1:9")
        out["off_list"] = ask("http://127.0.0.2:9")
        out["report"] = guard.report()
        print(json.dumps(out))
    """, ("unshare", "--net"))
    assert out["interfaces"] == ["lo"]
    assert "cannot connect" in out["allowed_but_unreachable"]["error"]
    assert "egress guard blocked" in out["off_list"]["error"]
    assert out["report"]["counters"]["blocked"]["connect"] == 1


# -- the policy's decisions (pure; no hook installed in this process) ---------------------------


def test_air_gapped_policy_refuses_non_loopback_allow_entries() -> None:
    with pytest.raises(ValueError, match="air-gapped mode allows loopback only.*192.0.2.10:443.*connected"):
        EgressPolicy("air-gapped", (Endpoint("192.0.2.10", 443),))
    with pytest.raises(ValueError, match="egress mode 'open'"):
        EgressPolicy("open")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="loopback scope"):
        EgressPolicy(loopback="some")  # type: ignore[arg-type]


def test_loopback_scope_and_allow_list_decisions() -> None:
    any_loopback = EgressPolicy()
    assert any_loopback.permits_endpoint("127.0.0.2", 80)
    assert any_loopback.permits_endpoint("::ffff:127.0.0.9", 80)
    assert not any_loopback.permits_endpoint("192.0.2.10", 443)
    assert not any_loopback.permits_endpoint("0.0.0.0", 80)

    listed = EgressPolicy("connected", (Endpoint("127.0.0.3", 8000), Endpoint("api.example.test", 443)), "listed")
    assert listed.permits_endpoint("127.0.0.1", 5432)
    assert listed.permits_endpoint("::1", 5432)
    assert listed.permits_endpoint("127.0.0.3", 8000)
    assert not listed.permits_endpoint("127.0.0.3", 8001)
    assert not listed.permits_endpoint("127.0.0.2", 8000)
    assert listed.permits_name("API.Example.Test.")
    assert not listed.permits_name("other.example.test")
    assert listed.permits_name("localhost")


def test_endpoints_from_backend_urls() -> None:
    assert Endpoint.from_url("https://api.example.test/v1") == Endpoint("api.example.test", 443)
    assert Endpoint.from_url("http://[::1]:8000") == Endpoint("::1", 8000)
    assert str(Endpoint("::1", 8000)) == "[::1]:8000"
    policy = EgressPolicy.for_backend_urls("connected", ["http://127.0.0.3:8000/v1"], loopback="listed")
    assert policy.allow == (Endpoint("127.0.0.3", 8000),)
    with pytest.raises(ValueError, match="not an http"):
        Endpoint.from_url("ftp://files.example.test")
    with pytest.raises(ValueError, match="bad port"):
        Endpoint.from_url("http://127.0.0.3:99999")


def test_no_loopback_scope_admits_a_name_resolver() -> None:
    for scope in ("any", "listed"):
        policy = EgressPolicy(loopback=scope)
        for host, port in [("127.0.0.53", 53), ("127.0.0.53", 5353), ("127.0.0.54", 53), ("127.0.0.1", 53),
                           ("::1", 53), ("127.0.0.1", 853)]:
            assert not policy.permits_endpoint(host, port), (scope, host, port)
        assert policy.permits_endpoint("127.0.0.1", 8080)
    listed_resolver = EgressPolicy("connected", (Endpoint("127.0.0.2", 53),))
    assert listed_resolver.permits_endpoint("127.0.0.2", 53)  # only when configured on purpose


@needs_namespaces
def test_a_dns_query_to_the_loopback_stub_is_blocked_and_never_arrives() -> None:
    """In a private namespace, a stand-in plays systemd-resolved's stub on 127.0.0.53:53."""
    out = run_python("""
        guard = install_egress_guard(EgressPolicy())  # air-gapped, loopback "any"
        from tests.standin import StandInDNS
        out = {}
        with StandInDNS("127.0.0.53") as stub:
            query = bytes.fromhex("abcd01000001000000000000") + b"\\x05probe\\x04test\\x00\\x00\\x01\\x00\\x01"
            for name, call in [("udp", lambda s: s.sendto(query, ("127.0.0.53", 53))),
                               ("tcp", lambda s: s.connect(("127.0.0.53", 53)))]:
                kind = socket.SOCK_DGRAM if name == "udp" else socket.SOCK_STREAM
                with socket.socket(socket.AF_INET, kind) as sock:
                    try:
                        call(sock)
                        out[name] = "not blocked"
                    except EgressBlocked as exc:
                        out[name] = [exc.kind, exc.target, exc.reason]
            out["queries"] = list(stub.queries)
        print(json.dumps(out))
    """, ("unshare", "--net", "sh", "-c", 'ip link set lo up && exec "$@"', "sh"))
    assert out["udp"][:2] == ["send", "127.0.0.53:53"] and "name resolver" in out["udp"][2]
    assert out["tcp"][:2] == ["connect", "127.0.0.53:53"]
    assert out["queries"] == []


SPAWN_SCENARIO = """
    import subprocess
    from appliance.cli.main import GUARD
    events = []
    GUARD.attach_sink(events.append)
    subprocess.run(["true"], check=True)          # before: the CLI may run programs
    GUARD.refuse_spawning()                       # what `appliance serve` does first
    out = {}
    attempts = {
        "subprocess": lambda: subprocess.run(["/bin/echo", "MRN 48213377"]),
        "shell": lambda: subprocess.run("echo secret", shell=True),
        "os.system": lambda: os.system("echo secret"),
        "os.execv": lambda: os.execv("/bin/echo", ["echo", "secret"]),
        "posix_spawn": lambda: os.posix_spawn("/bin/echo", ["echo"], {}),
        "fork": lambda: os.fork(),
    }
    for name, attempt in attempts.items():
        try:
            attempt()
            out[name] = "not blocked"
        except EgressBlocked as exc:
            out[name] = [exc.kind, exc.target]
    out["events"] = [[e["kind"], e["target"]] for e in events]
    out["report"] = GUARD.report()["spawning_refused"]
    print(json.dumps(out))
"""


def test_the_serving_process_refuses_to_start_programs_and_records_each_attempt() -> None:
    out = run_python(SPAWN_SCENARIO)
    assert out["subprocess"] == ["spawn", "echo"]
    assert out["shell"] == ["spawn", "sh"]
    assert out["os.system"] == ["spawn", "echo"]
    assert out["os.execv"] == ["spawn", "echo"]
    assert out["posix_spawn"] == ["spawn", "echo"]
    assert out["fork"] == ["spawn", "os.fork"]
    assert len(out["events"]) == 6 and all(kind == "spawn" for kind, _ in out["events"])
    assert "48213377" not in json.dumps(out["events"])  # the program's name, never its arguments
    assert out["report"] is True

"""What the operating system must add to the in-process guard, for `appliance doctor`.

The guard sees only what Python does: C code (libpq, llama.cpp, libc's resolver) and programs started
outside Python's audit events pass it unseen. The installer's systemd unit is where these lines land.
"""
from __future__ import annotations

from appliance.egress.policy import EgressPolicy


def os_layer_requirements(policy: EgressPolicy, database_hosts: list[str], data_dir: str) -> list[str]:
    """One line per control the OS layer must enforce for this configuration."""
    network_hosts = sorted({e.host for e in policy.allow} | {h for h in database_hosts if not h.startswith("/")})
    allowed = " ".join(["localhost", *network_hosts])
    return [
        f"IPAddressDeny=any with IPAddressAllow={allowed} (or a network namespace): libpq and llama.cpp "
        "connect from C code, which the guard does not see",
        "no route to a DNS resolver: refuse 127.0.0.53/127.0.0.54 and port 53/853 (resolv.conf pointing "
        "nowhere): libc resolves names for C code without the guard",
        "NoExecPaths=/ with ExecPaths= only the interpreter and its library directories, NoNewPrivileges=yes: "
        "the guard refuses programs started from Python only, not from C code",
        f"a dedicated user, ProtectSystem=strict, ReadWritePaths={data_dir}, PrivateTmp=yes: the data "
        "directory holds the signing keys and the log",
        "RestrictAddressFamilies=AF_INET AF_INET6 AF_UNIX: the guard refuses other socket families "
        "from Python only",
    ]

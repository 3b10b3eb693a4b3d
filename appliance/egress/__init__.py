"""Egress guard: the process may reach loopback and allow-listed backends only (DESIGN section 4).

Install it first thing at process start, before dependencies are imported:

    from appliance.egress import EgressPolicy, install_egress_guard
    guard = install_egress_guard(EgressPolicy())          # air-gapped, loopback only
    ...
    guard.configure(EgressPolicy.for_backend_urls("connected", urls))   # once config is read
    guard.attach_sink(write_audit_event)                   # once the audit store is open

This package imports only the standard library, so importing it loads nothing else.
"""
from appliance.egress.guard import EgressBlocked, EgressGuard, current_guard, install_egress_guard
from appliance.egress.policy import EgressPolicy, Endpoint

__all__ = [
    "EgressBlocked",
    "EgressGuard",
    "EgressPolicy",
    "Endpoint",
    "current_guard",
    "install_egress_guard",
]

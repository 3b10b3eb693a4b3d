"""Environment that keeps dependencies from reaching for the network: no model hub, no telemetry,
no proxies picked up from the environment."""
from __future__ import annotations

import os

OFFLINE_ENVIRONMENT: dict[str, str] = {
    "HF_HUB_OFFLINE": "1",
    "TRANSFORMERS_OFFLINE": "1",
    "HF_DATASETS_OFFLINE": "1",
    "HF_HUB_DISABLE_TELEMETRY": "1",
    "HF_HUB_DISABLE_IMPLICIT_TOKEN": "1",
    "DO_NOT_TRACK": "1",
    "DISABLE_TELEMETRY": "1",
    "ANONYMIZED_TELEMETRY": "False",
    "SCARF_NO_ANALYTICS": "true",
    "PIP_NO_INDEX": "1",
}

PROXY_VARIABLES: tuple[str, ...] = (
    "HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "http_proxy", "https_proxy", "all_proxy",
)


def apply_offline_environment() -> dict[str, str]:
    """Force the offline switches (an operator's `HF_HUB_OFFLINE=0` would only produce blocked
    connections) and drop proxy variables, so no library sends traffic through a proxy host.
    Returns what was set, for the guard's report."""
    for key, value in OFFLINE_ENVIRONMENT.items():
        os.environ[key] = value
    for key in PROXY_VARIABLES:
        os.environ.pop(key, None)
    return dict(OFFLINE_ENVIRONMENT)

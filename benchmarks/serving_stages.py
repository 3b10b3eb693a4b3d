"""Where the appliance says a run's time to first text went: its `appliance_stage_seconds` histograms
(prompt check, write-ahead record, first token, first text; appliance/metrics.py) read from /metrics
before and after the run, as mean milliseconds per call, beside its own time to first text."""
from __future__ import annotations

import httpx
from prometheus_client.parser import text_string_to_metric_families

from appliance.metrics import STAGES
from benchmarks.serving_load import Target

Totals = dict[str, tuple[float, float]]  # histogram series -> (sum of seconds, count)
TO_FIRST_TEXT = "time to first text"


def read_totals(target: Target) -> Totals:
    """The stage histograms' and the time-to-first-text histogram's sums and counts, now."""
    root = target.base_url.removesuffix("/v1")
    text = httpx.get(f"{root}/metrics", headers=target.headers, timeout=30).raise_for_status().text
    sums: dict[str, float] = {}
    counts: dict[str, float] = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            series = sample.labels.get("stage") if family.name == "appliance_stage_seconds" else (
                TO_FIRST_TEXT if family.name == "appliance_time_to_first_token_seconds" else None)
            if series is None:
                continue
            if sample.name.endswith("_sum"):
                sums[series] = sums.get(series, 0.0) + sample.value
            elif sample.name.endswith("_count"):
                counts[series] = counts.get(series, 0.0) + sample.value
    return {series: (sums.get(series, 0.0), counts.get(series, 0.0)) for series in (*STAGES, TO_FIRST_TEXT)}


def stage_line(before: Totals, after: Totals) -> str:
    """Mean milliseconds per call of each step over the run between two readings."""
    parts = []
    for series in (*STAGES, TO_FIRST_TEXT):
        seconds = after[series][0] - before[series][0]
        calls = after[series][1] - before[series][1]
        parts.append(f"{series} {seconds / calls * 1000:.0f}" if calls else f"{series} -")
    return f"{'':7s}  appliance steps, mean ms per call (server side): " + ", ".join(parts)

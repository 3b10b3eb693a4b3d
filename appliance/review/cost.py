"""The cost and break-even view: token volume from the log against API prices and local monthly cost.

Defaults come from the project's cost comparison (docs: COSTS.md figures); the officer edits them.
API cost per month = prompt tokens/month x input price + completion tokens/month x output price (per
million tokens). Local cost per month = purchase / amortisation months + power (W / 1000 x 720 h x
price per kWh) + maintenance. Break-even volume = local cost per month / the blended price at the
log's own input:output mix (3:1 when the log has no tokens yet).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from appliance.review.report_model import Table

HOURS_PER_MONTH = 720
DEFAULT_PRICES: dict[str, tuple[float, float]] = {
    "Claude Sonnet 4.6": (3.00, 15.00),
    "GPT-5 (standard)": (5.00, 20.00),
    "GPT-4o mini": (0.15, 0.60),
    "Gemini 1.5 Flash": (0.075, 0.30),
}


@dataclass(frozen=True)
class CostInputs:
    """The officer's figures: API prices ($ per million input/output tokens) and the local hardware."""

    prices: dict[str, tuple[float, float]] = field(default_factory=lambda: dict(DEFAULT_PRICES))
    purchase: float = 80_000.0
    amortise_months: int = 36
    power_watts: float = 1_600.0
    kwh_price: float = 0.10
    maintenance: float = 3_000.0

    def __post_init__(self) -> None:
        if self.amortise_months < 1:
            raise ValueError("amortise_months must be at least 1")
        numbers = [self.purchase, self.power_watts, self.kwh_price, self.maintenance]
        numbers += [price for pair in self.prices.values() for price in pair]
        if any(number < 0 for number in numbers):
            raise ValueError("prices and costs cannot be negative")
        if not self.prices:
            raise ValueError("give at least one API price")

    def local_monthly(self) -> list[tuple[str, float]]:
        return [
            ("hardware amortisation", round(self.purchase / self.amortise_months, 4)),
            ("power", round(self.power_watts / 1000 * HOURS_PER_MONTH * self.kwh_price, 4)),
            ("engineering maintenance", round(self.maintenance, 4)),
        ]


def cost_tables(usage: list[list[Any]], inputs: CostInputs) -> tuple[list[Table], list[tuple[str, float]]]:
    """Summary tables and chart bars from usage rows [month, model, prompt_tokens, completion_tokens]."""
    months = max(1, len({row[0] for row in usage}))
    per_model: dict[str, list[int]] = {}
    for _, model, prompt, completion in usage:
        totals = per_model.setdefault(str(model), [0, 0])
        totals[0] += int(prompt or 0)
        totals[1] += int(completion or 0)
    prompt_total = sum(t[0] for t in per_model.values())
    completion_total = sum(t[1] for t in per_model.values())
    local = inputs.local_monthly()
    local_total = round(sum(cost for _, cost in local), 4)
    volume = Table(f"Monthly token volume per model (average over {months} month(s))",
                   ["model", "prompt_tokens_per_month", "completion_tokens_per_month"],
                   [[model, t[0] / months, t[1] / months] for model, t in sorted(per_model.items())])
    fixed = Table("Local monthly cost (USD)", ["item", "usd_per_month"], [[name, cost] for name, cost in local]
                  + [["total", local_total]])
    rows: list[list[Any]] = []
    chart: list[tuple[str, float]] = []
    mix = prompt_total + completion_total
    for name, (price_in, price_out) in inputs.prices.items():
        api = round((prompt_total / months * price_in + completion_total / months * price_out) / 1e6, 4)
        blended = (prompt_total * price_in + completion_total * price_out) / mix if mix else (3 * price_in + price_out) / 4
        break_even = round(local_total / blended, 3) if blended else None
        rows.append([name, price_in, price_out, round(blended, 4), api, local_total, break_even,
                     "API" if api < local_total else "local"])
        chart.append((name, api))
    chart.append(("Local (fixed)", local_total))
    comparison = Table("API cost at the observed volume vs local", [
        "api", "input_usd_per_m", "output_usd_per_m", "blended_usd_per_m", "api_usd_per_month", "local_usd_per_month",
        "break_even_m_tokens_per_month", "cheaper"], rows)
    observed = Table("Observed volume", ["months", "prompt_tokens", "completion_tokens", "m_tokens_per_month"],
                     [[months, prompt_total, completion_total, round((prompt_total + completion_total) / months / 1e6, 6)]])
    return [observed, volume, fixed, comparison], chart

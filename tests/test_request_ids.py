"""Request ids: unique, and ordered by the time they were issued (the audit index grows at its end)."""
from __future__ import annotations

import re
import time

from appliance.api.framing import new_request_id


def test_request_ids_are_unique_and_well_formed() -> None:
    ids = [new_request_id() for _ in range(20_000)]
    assert len(set(ids)) == len(ids)
    assert all(re.fullmatch(r"req_[0-9a-f]{28}", request_id) for request_id in ids)


def test_request_ids_sort_in_the_order_they_were_issued() -> None:
    issued = []
    for _ in range(5):
        issued.append(new_request_id())
        time.sleep(0.002)  # the next id falls in a later millisecond
    assert sorted(issued) == issued
    stamp_ms = int(issued[0][4:16], 16)
    assert abs(stamp_ms - time.time_ns() // 1_000_000) < 60_000

"""How long plan_taper and the renderers take on typical plans (prints figures; asserts none)."""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import UTC, datetime
from functools import partial
from typing import Any

from benzosafe.clinical.taper import TaperPlan, parse_taper_request, plan_taper
from benzosafe.exports.taper_chart import plan_chart
from benzosafe.exports.taper_ics import plan_to_ics
from benzosafe.exports.taper_pdf import plan_to_pdf
from benzosafe.knowledge import Knowledge, load

CASES = {
    "clonazepam 2 mg, tablets + ODT": {"forms": "tablet:0.5 odt:0.125"},
    "clonazepam 2 mg, liquid 0.01 mg steps": {"liquid": "0.1 mg/mL step 0.1 mL"},
    "clonazepam 2 mg via diazepam": {"via": "diazepam", "via_forms": "tablet:2s,5s,10s"},
}


def timed(fn: Callable[[], object], repeat: int) -> float:
    start = time.perf_counter()
    for _ in range(repeat):
        fn()
    return (time.perf_counter() - start) / repeat * 1000


def plan_from(kb: Knowledge, args: dict[str, Any]) -> TaperPlan:
    return plan_taper(parse_taper_request(kb, **args), kb)


def main() -> None:
    kb = load()
    for name, extra in CASES.items():
        args: dict[str, Any] = {
            "drug": "clonazepam",
            "dose": "2 mg/day",
            "split": "1 mg bid",
            "start": "2026-12-01",
            **extra,
        }
        plan = plan_from(kb, args)
        ms = timed(partial(plan_from, kb, args), 20)
        print(f"{name}: {len(plan.steps)} steps, {plan.total_days} days; plan {ms:.1f} ms")
        print(f"  pdf {timed(partial(plan_to_pdf, plan, kb), 3):.0f} ms, "
              f"ics {timed(partial(plan_to_ics, plan, datetime.now(UTC)), 5):.1f} ms, "
              f"png {timed(partial(plan_chart, plan), 3):.0f} ms")  # fmt: skip


if __name__ == "__main__":
    main()

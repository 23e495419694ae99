"""A chart of a taper plan: the daily dose over time as steps, holds shaded (PNG or SVG)."""

from __future__ import annotations

import io
from datetime import date
from typing import Literal

import matplotlib

matplotlib.use("Agg")

import matplotlib.dates as mdates
import matplotlib.pyplot as plt

from benzosafe.clinical.taper import TaperPlan


def _x(day: date) -> float:
    return float(mdates.date2num(day))  # type: ignore[no-untyped-call]


def plan_chart(plan: TaperPlan, fmt: Literal["png", "svg"] = "png") -> bytes:
    """Daily dose (mg of the drug, or diazepam-equivalent mg when the plan switches drug)."""
    mixed = plan.via is not None
    xs: list[float] = []
    ys: list[float] = []
    for s in plan.steps:
        xs.append(_x(s.start))
        ys.append(float(s.diazepam_equivalent_mg if mixed else s.daily_dose_mg))
    last = plan.steps[-1]
    xs.append(_x(last.end))
    ys.append(ys[-1])
    with plt.rc_context({"svg.hashsalt": "benzosafe", "font.size": 11}):
        fig, ax = plt.subplots(figsize=(9, 4.5), dpi=100)
        ax.step(xs, ys, where="post", color="#1f4e79", linewidth=2.2, label="daily dose")
        held = False
        switched = False
        for s in plan.steps:
            if s.kind == "hold":
                ax.axvspan(
                    _x(s.start),
                    _x(s.end),
                    color="#f4b942",
                    alpha=0.35,
                    label=None if held else "hold",
                )
                held = True
            if s.kind == "switch":
                label = None if switched else f"switch to {plan.via}"
                ax.axvspan(_x(s.start), _x(s.end), color="#9dc3e6", alpha=0.4, label=label)
                switched = True
        if mixed:
            unit = f"diazepam-equivalent mg/day ({plan.equivalence_table} table)"
            title = f"{plan.drug.capitalize()} taper via {plan.via}"
        else:
            unit = f"{plan.drug} mg/day"
            title = f"{plan.drug.capitalize()} taper"
        ax.set_ylabel(unit)
        ax.set_title(f"{title}: {plan.start.isoformat()} to {last.start.isoformat()}")
        ax.set_ylim(bottom=0)
        ax.grid(True, alpha=0.3)
        ax.xaxis.set_major_formatter(mdates.DateFormatter("%d %b %Y"))  # type: ignore[no-untyped-call]
        fig.autofmt_xdate()
        ax.legend(loc="upper right")
        buffer = io.BytesIO()
        metadata = {"Date": None} if fmt == "svg" else {}
        fig.savefig(buffer, format=fmt, metadata=metadata, bbox_inches="tight")
        plt.close(fig)
    return buffer.getvalue()

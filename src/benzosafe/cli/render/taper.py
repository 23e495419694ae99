"""A taper plan as a readable table for a person at a terminal (Rich).

One row per step: dates, days, what kind of step, the daily dose, what to take at each time of
day the plan uses, notes; under it the strategy, the stop date and the knowledge version. The
CSV and JSON of the plan are the exports' (:mod:`benzosafe.exports.taper_data`).
"""

from __future__ import annotations

from rich.console import Console
from rich.table import Table
from rich.text import Text

from benzosafe.cli.render import JUDGEMENT, knowledge_line
from benzosafe.clinical.taper import TIMES_OF_DAY, TaperPlan
from benzosafe.exports.taper_data import number


def render_taper(plan: TaperPlan, console: Console) -> None:
    """The plan's steps as a table (what to take when), then each step's notes and the basis."""
    times = [t for t in TIMES_OF_DAY if any(a.time == t for s in plan.steps
                                            for a in s.administrations)]  # fmt: skip
    via = f" via {plan.via}" if plan.via else ""
    console.print(Text(f"Taper of {plan.drug}{via}: {plan.strategy.text}", style="bold"))
    table = Table()
    for name in ("step", "from", "days", "mg/day", *times):
        table.add_column(name, no_wrap=name != "step" and name not in times)
    notes: list[str] = []
    for s in plan.steps:
        per_time = {a.time: f"{a.drug} {a.take_text}" if plan.via else a.take_text
                    for a in s.administrations}  # fmt: skip
        table.add_row(
            f"{s.index} {s.kind}",
            s.start.isoformat(),
            str(s.days) if s.administrations else "",
            f"{number(s.daily_dose_mg)}",
            *(per_time.get(t, "") for t in times),
        )
        notes += [f"step {s.index}: {note}" for note in s.notes]
    console.print(table)
    for note in notes:
        console.print(note, highlight=False)
    console.print(
        f"No medicine from {plan.steps[-1].start.isoformat()} ({plan.total_days} days). "
        f"{knowledge_line(plan.knowledge_version, plan.protocol)}.",
        highlight=False,
    )
    console.print(Text(JUDGEMENT, style="dim"))

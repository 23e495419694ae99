"""Rich rendering of a population screen for people at a terminal: the spinner while the input
is read, the progress of the screen's steps (both on stderr, gone when done), and the
summary table of rates and malformed rows (on stdout).

:class:`ConsoleScreenDisplay` is the :class:`~benzosafe.population.run.ScreenDisplay` the
``benzosafe screen`` command hands to :func:`~benzosafe.population.run.run_screen`.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager

from rich.console import Console
from rich.progress import Progress, SpinnerColumn, TextColumn, TimeElapsedColumn
from rich.table import Table

from benzosafe.cli.render import knowledge_line
from benzosafe.knowledge import Knowledge
from benzosafe.population.report import percent
from benzosafe.population.screen import ScreenResult
from benzosafe.population.sql import NOT_EVALUATED


class ConsoleScreenDisplay:
    """Draws a screen on the terminal; the rates' rules and sources come from ``kb``."""

    def __init__(self, kb: Knowledge) -> None:
        self._kb = kb
        self._err = Console(stderr=True)

    def reading(self, what: str) -> AbstractContextManager[object]:
        return self._err.status(what)

    @contextmanager
    def steps(self, total: int) -> Iterator[Callable[[str], None]]:
        with Progress(
            SpinnerColumn(),
            TextColumn("{task.description}"),
            TimeElapsedColumn(),
            console=self._err,
            transient=True,
        ) as progress:
            task = progress.add_task("screening", total=total)

            def step(text: str) -> None:
                progress.update(task, description=text, advance=1)

            yield step

    def done(self, result: ScreenResult) -> None:
        print_summary(result, self._kb, Console())


def print_summary(result: ScreenResult, kb: Knowledge, console: Console) -> None:
    """The terminal table: one line per rate, then the malformed rows by reason."""
    measures = kb.screening.by_id()
    table = Table(
        title=f"Screening {result.period_start} to {result.period_end}: "
        f"{result.rows_screened} fills, {result.patients} patients ({result.engine})"
    )
    table.add_column("rule", no_wrap=True)
    table.add_column("measure")
    for col in ("flagged", "of", "rate"):
        table.add_column(col, justify="right", no_wrap=True)
    table.add_column("status", no_wrap=True)
    table.add_column("sources")
    for rate in result.rates:
        m = measures[rate.rule]
        table.add_row(
            f"{m.id} v{m.version}",
            rate.label,
            str(rate.numerator),
            str(rate.denominator),
            percent(rate.rate),
            m.status,
            ", ".join(dict.fromkeys(c.ref for c in m.sources)),
        )
    console.print(table)
    left_out = [
        (rate.rule, reason, n)
        for rate in result.rates
        for reason, n in rate.not_evaluated_by_reason.items()
        if n
    ]
    if left_out:
        # a rule's levels share one denominator: its patients are listed once
        title = "Patients not evaluated (left out of the rate: a fact is missing)"
        table = Table(title=title)
        table.add_column("rule", no_wrap=True)
        table.add_column("patients", justify="right", no_wrap=True)
        table.add_column("missing")
        for rule, reason, n in dict.fromkeys(left_out):
            table.add_row(rule, str(n), NOT_EVALUATED.get(reason, reason))
        console.print(table)
    if result.malformed:
        title = f"Malformed rows: {sum(result.malformed.values())} (left out)"
        bad = Table(title=title, min_width=len(title) + 4)  # the title on one line
        bad.add_column("reason")
        bad.add_column("rows", justify="right")
        for reason, n in sorted(result.malformed.items()):
            bad.add_row(reason, str(n))
        console.print(bad)
    console.print(knowledge_line(result.knowledge_version, result.protocol))

"""``benzosafe check``, ``drug``, ``docs`` and ``demo``: the prescriber's and pharmacist's commands.

``check`` checks a benzodiazepine order for a patient and exits 1 at the ``--fail-on``
severity; ``drug`` prints the cited monograph; ``docs`` writes the rule catalogue; ``demo``
shows a monograph and a check on the clonazepam example. ``check --json`` imports only the
check core and the knowledge: Rich and the renderers are imported when a person is to read
the output.
"""

from __future__ import annotations

import json
from datetime import date
from typing import TYPE_CHECKING, Any

import click

from benzosafe.cli.params import PATH, Command, argument, flag, option
from benzosafe.cli.root import fail, read_json

if TYPE_CHECKING:
    from pathlib import Path

#: ``check --fail-on``: the severity from which the check exits 1 (never: always 0).
FAIL_ON = ("warning", "critical", "never")


@click.command("drug", cls=Command)
@argument("name", help="Generic or brand name, or RxNorm code.")
@flag("--json", "as_json", help="Print JSON for machines.")
def drug_command(name: str, as_json: bool) -> None:
    """Print a benzodiazepine's cited monograph. By generic or brand name (clonazepam,
    Klonopin) or RxNorm code."""
    from benzosafe.cli.root import knowledge
    from benzosafe.clinical.medications import find_benzodiazepine
    from benzosafe.knowledge.monograph import monograph

    kb = knowledge()
    entry = find_benzodiazepine(kb, name)
    if entry is None:
        fail(
            f"drug: {name!r} is not in the knowledge base (known: {', '.join(kb.benzodiazepines)})"
        )
    data = monograph(kb, entry)
    if as_json:
        click.echo(json.dumps(data, indent=2))
        return
    from rich.console import Console

    from benzosafe.cli.render.check import render_monograph

    render_monograph(data, Console())


@click.command("check", cls=Command)
@option("--drug", help="Benzodiazepine, generic or brand.")
@option("--dose", help="Dose per administration, e.g. '0.5 mg'.")
@option("--frequency", help="qd, bid, tid, qid, qhs, q8h, ...")
@option("--indication", help="e.g. seizure-disorder, panic-disorder.")
@option("--age", kind=float, help="Age in years.")
@option("--weight", help="Body weight with unit, e.g. '60 kg'.")
@option("--prior-dose", help="Prior daily dose, e.g. '1 mg/day'.")
@option("--prior-start", help="Start date of the prior dose.")
@option("--start", help="Start date of this order (default today).")
@option("--issued", help="Date written (default: the start).")
@option("--duration-days", kind=int, help="Planned duration in days.")
@option("--days-supply", kind=int, help="Days' supply of each fill.")
@option("--refills", kind=int, help="Number of refills (default 0).")
@option("--condition", multiple=True, help="A condition; repeat.")
@option("--also-taking", multiple=True, help="A current medication, e.g. 'oxycodone 10 mg qid'.")
@option("--input", "input_file", kind=PATH, help="JSON file {order, patient} (README).")
@flag("--json", "as_json", help="Print the report as JSON.")
@option("--fail-on", kind=FAIL_ON, default="warning", help="Exit 1 at this severity or above.")
def check_command(
    drug: str | None,
    dose: str | None,
    frequency: str | None,
    indication: str | None,
    age: float | None,
    weight: str | None,
    prior_dose: str | None,
    prior_start: str | None,
    start: str | None,
    issued: str | None,
    duration_days: int | None,
    days_supply: int | None,
    refills: int | None,
    condition: tuple[str, ...],
    also_taking: tuple[str, ...],
    input_file: Path | None,
    as_json: bool,
    fail_on: str,
) -> None:
    """Check a benzodiazepine order for a patient. Every finding with its rule and source;
    exit 1 at the --fail-on severity."""
    from benzosafe.cli.root import check_knowledge
    from benzosafe.clinical.check import check_raw
    from benzosafe.clinical.findings import SEVERITY_RANK

    kb = check_knowledge()
    given = {
        "drug": drug,
        "dose": dose,
        "frequency": frequency,
        "indication": indication,
        "start": start,
        "issued": issued,
        "duration_days": duration_days,
        "days_supply": days_supply,
        "refills": refills,
        "prior_dose": prior_dose,
        "prior_start": prior_start,
    }
    order_data: dict[str, Any]
    patient_data: dict[str, Any]
    if input_file is not None:
        flags = [k for k, v in given.items() if v is not None]
        flags += [k for k, v in (("age", age), ("weight", weight)) if v is not None]
        flags += [k for k, v in (("condition", condition), ("also_taking", also_taking)) if v]
        if flags:
            fail(f"--input: give the order in the file or as options, not both ({flags[0]})")
        data = read_json(input_file)
        if not isinstance(data, dict) or set(data) != {"order", "patient"}:
            fail("--input: expected a JSON object with exactly the keys 'order' and 'patient'")
        if not isinstance(data["order"], dict) or not isinstance(data["patient"], dict):
            fail("--input: 'order' and 'patient' must be JSON objects")
        order_data, patient_data = dict(data["order"]), dict(data["patient"])
    else:
        order_data = {k: v for k, v in given.items() if v is not None}
        patient_data = {"conditions": list(condition), "also_taking": list(also_taking)}
        if age is not None:
            patient_data["age"] = int(age) if age == int(age) else age
        if weight is not None:
            patient_data["weight"] = weight
    order_data.setdefault("start", date.today().isoformat())
    report = check_raw(order_data, patient_data, kb)
    if as_json:
        click.echo(json.dumps(report.to_dict(), indent=2))
    else:
        from rich.console import Console

        from benzosafe.cli.render.check import render_check

        render_check(report, Console())
    worst = report.worst()
    at_level = worst is not None and SEVERITY_RANK[worst] >= SEVERITY_RANK.get(fail_on, 99)
    if fail_on != "never" and at_level:
        raise click.exceptions.Exit(1)


@click.command("docs", cls=Command)
@option("--out", kind=PATH, default="docs/rules.md", help="Where to write the rule catalogue.")
def docs_command(out: Path) -> None:
    """Write the rule catalogue. Markdown (docs/rules.md) from the knowledge data."""
    from benzosafe.exports.rule_catalogue import rules_markdown
    from benzosafe.knowledge import load

    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(rules_markdown(load()), encoding="utf-8")
    click.echo(f"wrote {out}")


@click.command("demo", cls=Command)
def demo_command() -> None:
    """Show what benzosafe does. The clonazepam monograph and an example check."""
    from rich.console import Console

    from benzosafe.cli.render.check import render_check, render_monograph
    from benzosafe.cli.root import knowledge
    from benzosafe.clinical.check import check_raw
    from benzosafe.knowledge.monograph import monograph

    kb = knowledge()
    console = Console()
    render_monograph(monograph(kb, kb.benzodiazepines["clonazepam"]), console)
    example = (
        {
            "drug": "clonazepam",
            "dose": "1 mg",
            "frequency": "tid",
            "indication": "seizure-disorder",
            "start": date.today().isoformat(),
            "duration_days": 120,
        },
        {
            "age": 70,
            "weight": "60 kg",
            "conditions": ["sleep-apnoea"],
            "also_taking": ["oxycodone 10 mg qid"],
        },
    )
    console.rule("Example check: clonazepam 1 mg tid for a 70-year-old taking oxycodone")
    render_check(check_raw(example[0], example[1], kb), console)
